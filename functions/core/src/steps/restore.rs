//! Restore: restores the snapshot as the target cluster, encrypted with the spec's KMS key and
//! with the source's configuration, then recreates every source instance on it. Reports progress
//! until the cluster and all instances are available; a target that is not encrypted is an error.
//!
//! Each invocation moves one stage forward and returns (the state machine polls):
//! 1. copy the source's custom cluster parameter group (so fencing the source with `read_only`
//!    never touches the target), wait until it has settled (AWS asks for about 5 minutes between
//!    creating a cluster parameter group and a cluster using it; the time is kept in
//!    `parameterGroupUsableAt`), and restore the cluster;
//! 2. once the cluster is available, create the writer's counterpart first (the first instance
//!    of an Aurora cluster becomes its writer);
//! 3. once that is available, create every reader with its class, promotion tier and parameter
//!    group.
//!
//! Input: the spec, `execution`, `snapshot`. Output: [`RestoreOutput`].
//! Errors: `SourceNotFound`, `TargetClusterTaken` (the id belongs to a cluster or instance we did
//! not create), `RestoreFailed`, `TargetNotEncrypted`, `NotReady` (snapshot not available yet),
//! `Transient`.

use serde::Deserialize;
use time::OffsetDateTime;

use crate::error_names;
use crate::errors::{impl_diagnostic, NamedError, PortError};
use crate::naming;
use crate::poll;
use crate::ports::{
    Clock, Cluster, ClusterWindows, Clusters, CopyParameterGroupRequest, CreateInstanceRequest,
    DatabaseEndpoint, Instance, RestoreClusterRequest, Tag,
};
use crate::spec::MigrationSpec;
use crate::state::{ExecutionRef, RestoreOutput, SnapshotOutput, TargetInstance};

pub const IAM_ACTIONS: &[&str] = &[
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
    "rds:CopyDBClusterParameterGroup",
    "rds:RestoreDBClusterFromSnapshot",
    "rds:CreateDBInstance",
    "rds:ModifyDBCluster",
    "rds:AddTagsToResource",
    "kms:CreateGrant",
    "kms:DescribeKey",
];

/// Statuses from which a cluster or instance will not become available by itself.
const FAILED_STATUSES: &[&str] = &[
    "failed",
    "inaccessible-encryption-credentials",
    "inaccessible-encryption-credentials-recoverable",
    "incompatible-parameters",
    "incompatible-restore",
    "incompatible-network",
    "storage-full",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreInput {
    #[serde(flatten)]
    pub spec: MigrationSpec,
    pub execution: ExecutionRef,
    pub snapshot: SnapshotOutput,
    /// This step's previous output, while the state machine polls it.
    #[serde(default)]
    pub restore: Option<PriorRestore>,
}

/// What the step reads back from its previous output.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriorRestore {
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub parameter_group_usable_at: Option<OffsetDateTime>,
}

/// How long a new cluster parameter group settles before a cluster uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreSettings {
    pub parameter_group_settle: time::Duration,
}

impl Default for RestoreSettings {
    /// "Wait at least 5 minutes before creating your first DB cluster that uses the DB cluster
    /// parameter group" (CreateDBClusterParameterGroup, RDS API reference).
    fn default() -> Self {
        Self {
            parameter_group_settle: time::Duration::minutes(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("source cluster `{0}` not found")]
    SourceNotFound(String),
    #[error("`{0}` already exists and was not created by this execution for this source")]
    TargetTaken(String),
    #[error("snapshot `{0}` is not available yet")]
    SnapshotNotReady(String),
    #[error("`{resource}` is in status `{status}` and will not become available")]
    Failed { resource: String, status: String },
    #[error("target cluster `{0}` is available but not encrypted at rest")]
    NotEncrypted(String),
    #[error(transparent)]
    Port(#[from] PortError),
}

impl NamedError for RestoreError {
    fn error_name(&self) -> &'static str {
        match self {
            RestoreError::SourceNotFound(_) => error_names::SOURCE_NOT_FOUND,
            RestoreError::TargetTaken(_) => error_names::TARGET_CLUSTER_TAKEN,
            RestoreError::SnapshotNotReady(_) => error_names::NOT_READY,
            RestoreError::Failed { .. } => error_names::RESTORE_FAILED,
            RestoreError::NotEncrypted(_) => error_names::TARGET_NOT_ENCRYPTED,
            RestoreError::Port(e) => e.default_name(),
        }
    }
}

impl_diagnostic!(RestoreError);

/// A source instance and the target instance that mirrors it.
struct Pair {
    source: Instance,
    target_id: String,
    writer: bool,
}

/// What Restore runs over.
pub struct Deps<'a> {
    pub clusters: &'a dyn Clusters,
    pub clock: &'a dyn Clock,
    /// AWS's by default; the sandbox scales the settling time.
    pub settings: RestoreSettings,
}

pub async fn run(input: &RestoreInput, deps: &Deps<'_>) -> Result<RestoreOutput, RestoreError> {
    let (clusters, clock, settings) = (deps.clusters, deps.clock, deps.settings);
    let spec = &input.spec;
    let target_id = spec.target_cluster_id();
    let source = clusters
        .describe_cluster(&spec.source_cluster_id)
        .await?
        .ok_or_else(|| RestoreError::SourceNotFound(spec.source_cluster_id.clone()))?;

    let Some(target) = clusters.describe_cluster(&target_id).await? else {
        let started = clock.now();
        let settling =
            restore_cluster(input, &source, &target_id, clusters, started, settings).await?;
        let mut out = progress(&source, &target_id, None, Vec::new(), started, clock);
        if let Some(usable_at) = settling {
            out.status = "parameter-group-settling".into();
            out.parameter_group_usable_at = Some(usable_at);
            out.next_poll_seconds =
                u32::try_from((usable_at - started).whole_seconds().max(1)).unwrap_or(u32::MAX);
        }
        return Ok(out);
    };
    // Only this execution's own restore may be resumed: a target an earlier run left behind
    // holds that run's data, which a new snapshot's binlog position does not match.
    if target.tag(naming::OWNER_TAG) != Some(source.id.as_str())
        || target.tag(naming::EXECUTION_TAG)
            != Some(naming::execution_tag_value(&input.execution.name).as_str())
    {
        return Err(RestoreError::TargetTaken(target_id));
    }
    let started = target.created_at.unwrap_or_else(|| clock.now());
    check_not_failed(&target.id, &target.status)?;
    if target.status != "available" {
        return Ok(progress(
            &source,
            &target_id,
            Some(&target),
            Vec::new(),
            started,
            clock,
        ));
    }
    if !target.storage_encrypted {
        return Err(RestoreError::NotEncrypted(target_id));
    }
    // RestoreDBClusterFromSnapshot takes no maintenance window (RDS picks one at random), and a
    // backup window passed to it could overlap that one: both are set together, once the
    // cluster is available and before any instance is created. The next poll goes on once
    // the cluster is available again.
    let windows = ClusterWindows {
        backup: source.extras.backup_window.clone(),
        maintenance: source.extras.maintenance_window.clone(),
    };
    let differs = |wanted: &Option<String>, has: &Option<String>| wanted.is_some() && wanted != has;
    if differs(&windows.backup, &target.extras.backup_window)
        || differs(&windows.maintenance, &target.extras.maintenance_window)
    {
        clusters.set_windows(&target_id, &windows).await?;
        let mut out = progress(
            &source,
            &target_id,
            Some(&target),
            Vec::new(),
            started,
            clock,
        );
        out.status = "setting-windows".into();
        return Ok(out);
    }

    let pairs = pair_instances(&source, &target_id, clusters).await?;
    let mut instances = Vec::with_capacity(pairs.len());
    for pair in &pairs {
        // Readers wait for the writer: the first instance created becomes the cluster's writer.
        let writer_ready = instances
            .iter()
            .any(|i: &TargetInstance| i.writer && i.status == "available");
        let existing = clusters.describe_instance(&pair.target_id).await?;
        let endpoint = existing.as_ref().and_then(|i| i.endpoint.clone());
        let status = match existing {
            Some(instance) if instance.cluster_id.as_deref() == Some(target_id.as_str()) => {
                check_not_failed(&instance.id, &instance.status)?;
                instance.status
            }
            Some(_) => return Err(RestoreError::TargetTaken(pair.target_id.clone())),
            None if pair.writer || writer_ready => {
                create_instance(input, &source, &target_id, pair, clusters).await?;
                "creating".to_string()
            }
            None => "pending".to_string(),
        };
        instances.push(TargetInstance {
            instance_id: pair.target_id.clone(),
            source_instance_id: pair.source.id.clone(),
            class: spec
                .instance_class
                .clone()
                .unwrap_or_else(|| pair.source.class.clone()),
            status,
            writer: pair.writer,
            endpoint,
        });
    }
    Ok(progress(
        &source,
        &target_id,
        Some(&target),
        instances,
        started,
        clock,
    ))
}

/// Restores the target cluster, or returns when its parameter group copy may be used if that
/// is still to come (nothing restored yet).
async fn restore_cluster(
    input: &RestoreInput,
    source: &Cluster,
    target_id: &str,
    clusters: &dyn Clusters,
    now: OffsetDateTime,
    settings: RestoreSettings,
) -> Result<Option<OffsetDateTime>, RestoreError> {
    if !input.snapshot.ready {
        return Err(RestoreError::SnapshotNotReady(
            input.snapshot.snapshot_id.clone(),
        ));
    }
    let tags = carried_tags(source, &input.execution.name);
    let parameter_group = match &source.cluster_parameter_group {
        Some(group) if !group.starts_with("default.") => {
            let copy = naming::target_parameter_group(target_id);
            let request = CopyParameterGroupRequest {
                source_group: group.clone(),
                target_group: copy.clone(),
                description: format!("Copy of {group} for {target_id} (aurora-encrypt)"),
                tags: tags.clone(),
            };
            let created_now = match clusters.copy_cluster_parameter_group(&request).await {
                Ok(()) => true,
                Err(PortError::AlreadyExists { .. }) => false,
                Err(e) => return Err(e.into()),
            };
            let recorded = input
                .restore
                .as_ref()
                .and_then(|r| r.parameter_group_usable_at);
            let usable_at = match (created_now, recorded) {
                (false, Some(at)) => at,
                // Created just now, or by an attempt that never reported when: wait from now.
                _ => now + settings.parameter_group_settle,
            };
            if now < usable_at {
                return Ok(Some(usable_at));
            }
            Some(copy)
        }
        other => other.clone(),
    };
    let request = RestoreClusterRequest {
        cluster_id: target_id.to_string(),
        snapshot_id: input.snapshot.snapshot_id.clone(),
        engine: source.engine.clone(),
        engine_version: source.engine_version.clone(),
        kms_key_id: input.spec.kms_key_id.clone(),
        port: source.port,
        db_subnet_group: source.db_subnet_group.clone(),
        vpc_security_group_ids: source.vpc_security_group_ids.clone(),
        cluster_parameter_group: parameter_group,
        iam_database_authentication: source.iam_database_authentication,
        enabled_cloudwatch_logs_exports: source.enabled_cloudwatch_logs_exports.clone(),
        deletion_protection: source.deletion_protection,
        copy_tags_to_snapshot: source.copy_tags_to_snapshot,
        tags,
        // Serverless v2 needs its capacity range before any db.serverless instance is added.
        serverless_v2_scaling: source.extras.serverless_v2_scaling,
        storage_type: source.extras.storage_type.clone(),
        network_type: source.extras.network_type.clone(),
        // Without it the target keeps one day of backups. The windows are set once it exists.
        backup_retention_days: source.extras.backup_retention_days,
    };
    match clusters.restore_cluster(&request).await {
        // A concurrent attempt started it; the next poll checks that it is ours.
        Ok(()) | Err(PortError::AlreadyExists { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The source's writer first, then readers by promotion tier, each with its target id.
async fn pair_instances(
    source: &Cluster,
    target_id: &str,
    clusters: &dyn Clusters,
) -> Result<Vec<Pair>, RestoreError> {
    let mut members = source.members.clone();
    members.sort_by_key(|m| {
        (
            !m.is_writer,
            m.promotion_tier.unwrap_or(1),
            m.instance_id.clone(),
        )
    });
    let mut pairs = Vec::with_capacity(members.len());
    for member in members {
        let instance = clusters
            .describe_instance(&member.instance_id)
            .await?
            .ok_or_else(|| {
                PortError::Transient(format!(
                    "source instance {} disappeared",
                    member.instance_id
                ))
            })?;
        pairs.push(Pair {
            target_id: naming::target_instance_id(&source.id, target_id, &member.instance_id),
            writer: member.is_writer,
            source: instance,
        });
    }
    Ok(pairs)
}

async fn create_instance(
    input: &RestoreInput,
    source: &Cluster,
    target_id: &str,
    pair: &Pair,
    clusters: &dyn Clusters,
) -> Result<(), RestoreError> {
    let request = CreateInstanceRequest {
        instance_id: pair.target_id.clone(),
        cluster_id: target_id.to_string(),
        class: input
            .spec
            .instance_class
            .clone()
            .unwrap_or_else(|| pair.source.class.clone()),
        engine: source.engine.clone(),
        promotion_tier: pair.source.promotion_tier,
        parameter_group: pair.source.parameter_group.clone(),
        availability_zone: pair.source.availability_zone.clone(),
        publicly_accessible: pair.source.publicly_accessible,
        tags: carried_tags(source, &input.execution.name),
        ca_certificate: pair.source.extras.ca_certificate.clone(),
        performance_insights: pair.source.extras.performance_insights.clone(),
        maintenance_window: pair.source.extras.maintenance_window.clone(),
    };
    match clusters.create_instance(&request).await {
        Ok(()) | Err(PortError::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The source's tags (AWS-reserved `aws:` keys cannot be set) plus our ownership tags.
fn carried_tags(source: &Cluster, execution_name: &str) -> Vec<Tag> {
    let ours = super::ownership_tags(&source.id, execution_name);
    let mut tags: Vec<Tag> = source
        .tags
        .iter()
        .filter(|t| !t.key.starts_with("aws:") && !ours.iter().any(|o| o.key == t.key))
        .cloned()
        .collect();
    tags.extend(ours);
    tags
}

fn check_not_failed(resource: &str, status: &str) -> Result<(), RestoreError> {
    if FAILED_STATUSES.contains(&status) {
        return Err(RestoreError::Failed {
            resource: resource.to_string(),
            status: status.to_string(),
        });
    }
    Ok(())
}

fn endpoint(cluster: &Cluster) -> Option<DatabaseEndpoint> {
    Some(DatabaseEndpoint {
        cluster_id: cluster.id.clone(),
        host: cluster.endpoint.clone()?,
        port: cluster.port.unwrap_or(3306),
    })
}

fn progress(
    source: &Cluster,
    target_id: &str,
    target: Option<&Cluster>,
    instances: Vec<TargetInstance>,
    started: OffsetDateTime,
    clock: &dyn Clock,
) -> RestoreOutput {
    let ready = target.is_some_and(|t| t.status == "available" && t.storage_encrypted)
        && !instances.is_empty()
        && instances.len() == source.members.len()
        && instances.iter().all(|i| i.status == "available");
    let now = clock.now();
    RestoreOutput {
        target_cluster_id: target_id.to_string(),
        target_cluster_arn: target.map(|t| t.arn.clone()),
        status: target.map_or_else(|| "creating".to_string(), |t| t.status.clone()),
        encrypted: target.is_some_and(|t| t.storage_encrypted),
        kms_key_id: target.and_then(|t| t.kms_key_id.clone()),
        restore_started_at: started,
        ready_at: ready.then_some(now),
        writer_instance_id: target
            .and_then(|t| t.writer())
            .map(|w| w.instance_id.clone()),
        instances,
        source_endpoint: endpoint(source),
        target_endpoint: target.and_then(endpoint),
        ready,
        parameter_group_usable_at: None,
        next_poll_seconds: if ready {
            0
        } else {
            poll::PROVISIONING.from_elapsed((now - started).whole_seconds())
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{self, FakeClock, FakeClusters};

    fn input() -> RestoreInput {
        let mut doc = fakes::state_document("orders", "exec-1");
        doc["kmsKeyId"] = "alias/orders".into();
        doc["snapshot"] = serde_json::json!({
            "snapshotId": "snap-1", "snapshotArn": "arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:snap-1",
            "sourceClusterId": "orders", "status": "available", "percentProgress": 100, "ready": true, "nextPollSeconds": 0
        });
        serde_json::from_value(doc).unwrap()
    }

    /// Restore over the fakes.
    async fn run_with(
        input: &RestoreInput,
        clusters: &FakeClusters,
        clock: &FakeClock,
        settings: RestoreSettings,
    ) -> Result<RestoreOutput, RestoreError> {
        let deps = Deps {
            clusters,
            clock,
            settings,
        };
        super::run(input, &deps).await
    }

    /// The step without the parameter group's settling time, which
    /// `a_new_parameter_group_settles_before_the_cluster_uses_it` covers.
    async fn run(
        input: &RestoreInput,
        clusters: &FakeClusters,
        clock: &FakeClock,
    ) -> Result<RestoreOutput, RestoreError> {
        let settings = RestoreSettings {
            parameter_group_settle: time::Duration::ZERO,
        };
        run_with(input, clusters, clock, settings).await
    }

    #[tokio::test]
    async fn a_new_parameter_group_settles_before_the_cluster_uses_it() {
        let rds = FakeClusters::with_source("orders");
        let clock = FakeClock::default();
        let first = run_with(&input(), &rds, &clock, RestoreSettings::default())
            .await
            .unwrap();
        assert_eq!(first.status, "parameter-group-settling");
        assert_eq!(first.next_poll_seconds, 300);
        let usable_at = first.parameter_group_usable_at.unwrap();
        assert_eq!(usable_at, clock.now() + time::Duration::minutes(5));
        assert_eq!(
            rds.mutations(),
            vec!["copy_cluster_parameter_group orders-params -> orders-encrypted-aurora-encrypt"]
        );

        // The state machine passes the previous output back in at `$.restore`.
        let mut polled = input();
        polled.restore = Some(PriorRestore {
            parameter_group_usable_at: Some(usable_at),
        });
        clock.advance(120);
        let early = run_with(&polled, &rds, &clock, RestoreSettings::default())
            .await
            .unwrap();
        assert_eq!(early.status, "parameter-group-settling");
        assert_eq!(early.next_poll_seconds, 180);
        assert!(!rds
            .mutations()
            .iter()
            .any(|m| m.starts_with("restore_cluster")));

        clock.advance(180);
        run_with(&polled, &rds, &clock, RestoreSettings::default())
            .await
            .unwrap();
        assert!(rds
            .mutations()
            .contains(&"restore_cluster orders-encrypted".to_string()));
    }

    #[tokio::test]
    async fn a_copy_found_without_a_recorded_time_waits_the_whole_settling_time() {
        let rds = FakeClusters::with_source("orders");
        let clock = FakeClock::default();
        run_with(&input(), &rds, &clock, RestoreSettings::default())
            .await
            .unwrap();
        clock.advance(600);
        // The previous output was lost (a retried invocation): wait again, from now.
        let out = run_with(&input(), &rds, &clock, RestoreSettings::default())
            .await
            .unwrap();
        assert_eq!(out.status, "parameter-group-settling");
        assert_eq!(out.next_poll_seconds, 300);
    }

    /// Invokes the step until it reports ready, finishing the fake's pending work between polls.
    async fn run_to_ready(rds: &FakeClusters, clock: &FakeClock) -> RestoreOutput {
        for _ in 0..10 {
            let out = run(&input(), rds, clock).await.unwrap();
            if out.ready {
                return out;
            }
            rds.finish_restores();
            clock.advance(60);
        }
        panic!("restore never became ready");
    }

    #[tokio::test]
    async fn restore_carries_over_configuration_and_uses_the_kms_key() {
        let rds = FakeClusters::with_source("orders");
        let out = run(&input(), &rds, &FakeClock::default()).await.unwrap();
        assert!(!out.ready);
        let request = rds.restore_request("orders-encrypted");
        assert_eq!(request.snapshot_id, "snap-1");
        assert_eq!(request.kms_key_id.as_deref(), Some("alias/orders"));
        assert_eq!(request.engine_version, "8.0.mysql_aurora.3.05.2");
        assert_eq!(request.port, Some(3306));
        assert_eq!(request.db_subnet_group.as_deref(), Some("private"));
        assert_eq!(request.vpc_security_group_ids, vec!["sg-0123456789abcdef0"]);
        assert_eq!(
            request.cluster_parameter_group.as_deref(),
            Some("orders-encrypted-aurora-encrypt")
        );
        assert!(request.iam_database_authentication);
        assert_eq!(
            request.enabled_cloudwatch_logs_exports,
            vec!["audit", "error"]
        );
        assert!(request.deletion_protection);
        assert!(request.copy_tags_to_snapshot);
        assert!(request.tags.contains(&Tag::new("team", "payments")));
        assert!(request
            .tags
            .contains(&Tag::new(naming::OWNER_TAG, "orders")));
        assert!(!request.tags.iter().any(|t| t.key.starts_with("aws:")));
        assert_eq!(
            rds.mutations(),
            vec![
                "copy_cluster_parameter_group orders-params -> orders-encrypted-aurora-encrypt",
                "restore_cluster orders-encrypted"
            ]
        );
    }

    #[tokio::test]
    async fn restore_carries_serverless_storage_network_ca_and_performance_insights() {
        use crate::ports::{PerformanceInsights, ServerlessV2Scaling};
        let rds = FakeClusters::with_source("orders");
        let scaling = ServerlessV2Scaling {
            min_capacity: 0.5,
            max_capacity: 32.0,
            seconds_until_auto_pause: None,
        };
        rds.update_cluster("orders", |c| {
            c.extras.serverless_v2_scaling = Some(scaling);
            c.extras.storage_type = Some("aurora-iopt1".into());
            c.extras.network_type = Some("DUAL".into());
        });
        let insights = PerformanceInsights {
            kms_key_id: Some("arn:aws:kms:eu-west-1:123456789012:key/pi".into()),
            retention_days: Some(31),
        };
        rds.update_instance("orders-writer", |i| {
            i.extras.ca_certificate = Some("rds-ca-ecc384-g1".into());
            i.extras.performance_insights = Some(insights.clone());
        });
        let clock = FakeClock::default();
        run_to_ready(&rds, &clock).await;
        let request = rds.restore_request("orders-encrypted");
        assert_eq!(request.serverless_v2_scaling, Some(scaling));
        assert_eq!(request.storage_type.as_deref(), Some("aurora-iopt1"));
        assert_eq!(request.network_type.as_deref(), Some("DUAL"));
        let writer = rds.instance_request("orders-encrypted-writer");
        assert_eq!(writer.ca_certificate.as_deref(), Some("rds-ca-ecc384-g1"));
        assert_eq!(writer.performance_insights, Some(insights));
    }

    #[tokio::test]
    async fn restore_carries_backups_and_sets_the_maintenance_windows_rds_would_pick() {
        let rds = FakeClusters::with_source("orders");
        let clock = FakeClock::default();
        run_to_ready(&rds, &clock).await;
        let request = rds.restore_request("orders-encrypted");
        assert_eq!(request.backup_retention_days, Some(14));
        let target = rds.cluster("orders-encrypted").unwrap();
        assert_eq!(target.extras.backup_window.as_deref(), Some("02:00-02:30"));
        assert_eq!(
            target.extras.maintenance_window.as_deref(),
            Some("sun:03:00-sun:03:30")
        );
        let reader = rds.instance_request("orders-encrypted-reader-1");
        assert_eq!(
            reader.maintenance_window.as_deref(),
            Some("sun:05:00-sun:05:30")
        );
        // Set once: a poll after the window is right changes nothing.
        let before = rds.mutations();
        run(&input(), &rds, &clock).await.unwrap();
        assert_eq!(rds.mutations(), before);
        assert_eq!(
            before
                .iter()
                .filter(|m| m.starts_with("set_windows"))
                .count(),
            1
        );
    }

    #[tokio::test]
    async fn restore_copies_every_instance_writer_first() {
        let rds = FakeClusters::with_source("orders");
        let clock = FakeClock::default();
        let out = run_to_ready(&rds, &clock).await;
        let creates: Vec<String> = rds
            .mutations()
            .into_iter()
            .filter(|m| m.starts_with("create_instance"))
            .collect();
        assert_eq!(
            creates,
            vec![
                "create_instance orders-encrypted-writer",
                "create_instance orders-encrypted-reader-1",
                "create_instance orders-encrypted-reader-2",
            ]
        );
        let reader = rds.instance_request("orders-encrypted-reader-2");
        assert_eq!(reader.class, "db.r6g.large");
        assert_eq!(reader.promotion_tier, Some(2));
        assert_eq!(
            reader.parameter_group.as_deref(),
            Some("orders-instance-params")
        );
        assert_eq!(
            rds.instance_request("orders-encrypted-writer").class,
            "db.r6g.xlarge"
        );
        assert_eq!(
            out.writer_instance_id.as_deref(),
            Some("orders-encrypted-writer")
        );
        assert_eq!(out.instances.len(), 3);
        assert!(out.encrypted);
        assert!(out.ready_at.is_some());
        assert_eq!(
            out.target_endpoint.unwrap().host,
            "orders-encrypted.cluster-abc.eu-west-1.rds.amazonaws.com"
        );
        assert_eq!(
            out.source_endpoint.unwrap().host,
            "orders.cluster-abc.eu-west-1.rds.amazonaws.com"
        );
    }

    #[tokio::test]
    async fn rerun_after_ready_creates_nothing_new() {
        let rds = FakeClusters::with_source("orders");
        let clock = FakeClock::default();
        run_to_ready(&rds, &clock).await;
        let before = rds.mutations();
        let again = run(&input(), &rds, &clock).await.unwrap();
        assert!(again.ready);
        assert_eq!(rds.mutations(), before);
    }

    #[tokio::test]
    async fn instance_class_override_applies_to_every_instance() {
        let rds = FakeClusters::with_source("orders");
        let clock = FakeClock::default();
        let mut doc = serde_json::to_value(input().spec).unwrap();
        doc["instanceClass"] = "db.r7g.large".into();
        let mut inp = input();
        inp.spec = serde_json::from_value(doc).unwrap();
        for _ in 0..6 {
            run(&inp, &rds, &clock).await.unwrap();
            rds.finish_restores();
        }
        assert_eq!(
            rds.instance_request("orders-encrypted-writer").class,
            "db.r7g.large"
        );
        assert_eq!(
            rds.instance_request("orders-encrypted-reader-1").class,
            "db.r7g.large"
        );
    }

    #[tokio::test]
    async fn unencrypted_target_is_an_error_not_a_success() {
        let rds = FakeClusters::with_source("orders");
        run(&input(), &rds, &FakeClock::default()).await.unwrap();
        rds.finish_restores();
        rds.set_cluster_encrypted("orders-encrypted", false);
        let err = run(&input(), &rds, &FakeClock::default())
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "TargetNotEncrypted");
    }

    #[tokio::test]
    async fn target_left_by_an_earlier_execution_is_not_resumed() {
        let rds = FakeClusters::with_source("orders");
        rds.add_foreign_cluster("orders-encrypted");
        rds.update_cluster("orders-encrypted", |c| {
            c.tags.push(Tag::new(naming::OWNER_TAG, "orders"));
            c.tags.push(Tag::new(naming::EXECUTION_TAG, "exec-0"));
        });
        let err = run(&input(), &rds, &FakeClock::default())
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "TargetClusterTaken");
        assert!(rds.mutations().is_empty());
    }

    #[tokio::test]
    async fn foreign_target_cluster_is_refused_and_nothing_is_created() {
        let rds = FakeClusters::with_source("orders");
        rds.add_foreign_cluster("orders-encrypted");
        let err = run(&input(), &rds, &FakeClock::default())
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "TargetClusterTaken");
        assert!(rds.mutations().is_empty());
    }

    #[tokio::test]
    async fn snapshot_not_ready_is_not_ready() {
        let rds = FakeClusters::with_source("orders");
        let mut inp = input();
        inp.snapshot.ready = false;
        let err = run(&inp, &rds, &FakeClock::default()).await.unwrap_err();
        assert_eq!(err.error_name(), "NotReady");
        assert!(rds.mutations().is_empty());
    }

    #[tokio::test]
    async fn failed_restore_is_restore_failed() {
        let rds = FakeClusters::with_source("orders");
        run(&input(), &rds, &FakeClock::default()).await.unwrap();
        rds.set_cluster_status("orders-encrypted", "inaccessible-encryption-credentials");
        let err = run(&input(), &rds, &FakeClock::default())
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "RestoreFailed");
    }

    #[tokio::test]
    async fn missing_source_is_source_not_found() {
        let rds = FakeClusters::default();
        let err = run(&input(), &rds, &FakeClock::default())
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "SourceNotFound");
        assert!(rds.mutations().is_empty());
    }
}
