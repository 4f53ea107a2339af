//! Preflight: parses and validates the execution input, checks the source and its surroundings
//! without changing anything, and returns the normalised state document with the plan of every
//! resource a real run creates or modifies. A `dryRun: true` execution runs this step only.
//!
//! Checks, in order, each with its own error name and a message that says how to fix it:
//! the spec parses strictly and validates (`InvalidInput`); the source exists (`SourceNotFound`),
//! is `aurora-mysql` version 2 or 3 (`InvalidInput`) and `available` (`SourceNotAvailable`); it is
//! not encrypted (`SourceAlreadyEncrypted`) unless the spec names a different KMS key (a re-key);
//! the key exists, is enabled, symmetric and in the source's region (`KmsKeyUnusable`); backtrack
//! is off (`BacktrackEnabled`); `binlog_format` is `ROW` in the cluster parameter group and applied
//! on every member (`BinlogFormatNotRow`); enhanced binlog is off (`EnhancedBinlogEnabled`: its
//! files are not in backups, so a restored cluster starts a binlog sequence of its own and the
//! crash-recovery position is missing or in the wrong sequence); with a `read-only` fence, that group is not a `default.`
//! group and no other cluster uses it (`SharedParameterGroup`); the source keeps its binlogs long
//! enough (`BinlogRetentionTooShort`; a warning when no SQL reader is wired); the target cluster
//! id and instance ids are free or ours from an earlier attempt (`TargetClusterTaken`); the DNS
//! record exists and is a CNAME to the source's writer endpoint (`DnsRecordNotOnSource`); when
//! verification or the native engine will speak SQL over TLS, the functions have a readable RDS
//! CA bundle (`RdsCaBundleMissing`), so that nothing fails for want of it while writes are fenced;
//! the users that `read_only` does not stop (`CONNECTION_ADMIN`, `SUPER`, MariaDB's `READ_ONLY
//! ADMIN`) are listed in the plan, and a fence without the `security-group` method is refused
//! while one of them is connected (`FenceCannotStopWriters`): its sessions would be ended, but it
//! would reconnect and write through `read_only`.
//! Last, with every check passed, it takes the source's lock for this execution
//! ([`source_lock::acquire`]; `SourceBusy` names the execution that holds it); a dry run only
//! reports the lock (`preflight.lock`).
//!
//! **Re-keying.** An encrypted source is refused unless `kmsKeyId` is given and resolves to a key
//! other than the source's: then the run copies it under the new key (`preflight.encryption.rekey`).
//!
//! Input: `{"spec": <execution input>, "execution": {"name", "id"}}`. Output: the spec with every default
//! filled in (`targetClusterId`, `kmsKeyId` resolved to the key's ARN so the restore always
//! encrypts with the key checked here, complete `switchover`/`verify`/`cleanup`), plus
//! `execution`, plus `preflight`: [`PreflightPlan`], plus `lock`: [`HeldLock`] (not on a dry
//! run). The state machine stores it at `$`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::error_names;
use crate::errors::{impl_diagnostic, InvalidInput, NamedError, PortError};
use crate::naming;
use crate::ports::{
    BinlogRetention, Clock, Cluster, ClusterParameters, Clusters, DatabaseEndpoint, Dns, FenceSql,
    KmsKey, KmsKeys, ReadOnlyBypassUser, SourceLock,
};
use crate::spec::{FenceMethod, MigrationSpec, ReplicationSpec, VerifyMode};
use crate::state::ExecutionRef;
use crate::steps::source_lock::{self, HeldLock, LockError, LockReport};

pub const IAM_ACTIONS: &[&str] = &[
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
    "rds:DescribeDBClusterParameters",
    "kms:DescribeKey",
    "route53:ListResourceRecordSets",
    "secretsmanager:GetSecretValue",
    "kms:Decrypt",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "states:DescribeExecution",
];

/// The key RDS uses when the spec names none.
pub const DEFAULT_KMS_KEY: &str = "alias/aws/rds";
/// Binlog retention below this fails preflight: the snapshot, the restore and the catch-up must
/// all fit in it. Large clusters need more; the Lambda takes `MIN_BINLOG_RETENTION_HOURS`.
pub const DEFAULT_MIN_BINLOG_RETENTION_HOURS: u32 = 24;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreflightInput {
    /// The raw execution input, parsed strictly here.
    pub spec: Value,
    pub execution: ExecutionRef,
}

/// Every port preflight reads through. `retention` is optional: without it the binlog retention
/// check becomes a warning in the plan.
pub struct PreflightPorts<'a> {
    pub clusters: &'a dyn Clusters,
    pub parameters: &'a dyn ClusterParameters,
    pub kms: &'a dyn KmsKeys,
    pub dns: &'a dyn Dns,
    pub retention: Option<&'a dyn BinlogRetention>,
    /// `None`: the users that bypass `read_only` are not listed (a warning in the plan).
    pub fence_sql: Option<&'a dyn FenceSql>,
    pub clock: &'a dyn Clock,
    pub lock: &'a dyn SourceLock,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightSettings {
    pub min_binlog_retention_hours: u32,
    /// Whether the functions that speak SQL to the clusters can verify their TLS certificates.
    pub sql_tls: SqlTls,
}

impl Default for PreflightSettings {
    fn default() -> Self {
        Self {
            min_binlog_retention_hours: DEFAULT_MIN_BINLOG_RETENTION_HOURS,
            sql_tls: SqlTls::Ready,
        }
    }
}

/// The TLS set-up of the functions that speak SQL (Verify, and the replication steps with the
/// native engine). The template gives them all the same RDS CA bundle, so Preflight's own copy
/// stands for theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlTls {
    /// A readable CA bundle, or no TLS at all (the loopback sandbox).
    Ready,
    /// No usable bundle; the text says which file and what is wrong with it.
    Missing(String),
}

/// What preflight found and what a real run will do: stored at `$.preflight`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreflightPlan {
    pub dry_run: bool,
    pub source_cluster_arn: String,
    pub engine_version: String,
    /// Aurora MySQL 2 (MySQL 5.7) or 3 (MySQL 8.0): decides `rds_set_external_master` vs
    /// `rds_set_external_source` for native replication.
    pub engine_major_version: u8,
    pub source_writer_endpoint: Option<DatabaseEndpoint>,
    pub encryption: EncryptionPlan,
    pub cluster_parameter_group: String,
    /// `None` when it could not be read (see `warnings`) or is not set.
    pub binlog_retention_hours: Option<u32>,
    pub required_binlog_retention_hours: u32,
    /// Every resource the run creates, modifies or deletes, in order.
    pub resources: Vec<PlannedResource>,
    /// Users on the source that `read_only` does not stop, with their sessions at preflight
    /// (`None` when they could not be read; see `warnings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_bypass_users: Option<Vec<ReadOnlyBypassUser>>,
    pub warnings: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    /// The application record's TTL as preflight found it: LowerDnsTtl lowers it to
    /// `dns.ttlSeconds` and the run puts this value back at the end (`None` without `dns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_ttl_seconds: Option<i64>,
    /// The source's lock as a dry run found it (a real run takes it: `$.lock`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<LockReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionPlan {
    pub source_encrypted: bool,
    pub source_kms_key_id: Option<String>,
    /// The key as the spec named it (or the default alias).
    pub requested_kms_key_id: String,
    /// The key it resolved to; the normalised spec's `kmsKeyId`.
    pub kms_key_arn: String,
    /// `AWS` or `CUSTOMER`.
    pub kms_key_manager: String,
    /// The source is encrypted and is copied under a different key.
    pub rekey: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlannedAction {
    Create,
    /// Exists from an earlier attempt of this run and will be picked up.
    Reuse,
    Modify,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedResource {
    pub action: PlannedAction,
    /// `db-cluster-snapshot`, `db-cluster`, `db-instance`, `dms-data-migration`, …
    pub kind: String,
    pub name: String,
    /// Which step does it.
    pub step: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("source cluster `{0}` not found: check sourceClusterId and that the state machine runs in the cluster's account and region")]
    SourceNotFound(String),
    #[error("source cluster `{cluster}` runs engine `{engine}`; only `aurora-mysql` (Aurora MySQL 2 or 3) is supported")]
    WrongEngine { cluster: String, engine: String },
    #[error("source cluster `{cluster}` runs engine version `{version}`; expected Aurora MySQL 2 (`5.7.mysql_aurora.2.*`) or 3 (`8.0.mysql_aurora.3.*`)")]
    UnsupportedVersion { cluster: String, version: String },
    #[error(
        "source cluster `{cluster}` is `{status}`; wait until it is `available` and start again"
    )]
    SourceNotAvailable { cluster: String, status: String },
    #[error("source cluster `{cluster}` is already encrypted{key}; {fix}")]
    AlreadyEncrypted {
        cluster: String,
        key: String,
        fix: &'static str,
    },
    #[error("KMS key `{key}` cannot encrypt the target: {reason}")]
    KmsKeyUnusable { key: String, reason: String },
    #[error("source cluster `{cluster}` has backtrack enabled (window {seconds} s); binlog replication from a restored copy needs it off: modify the cluster with --backtrack-window 0")]
    BacktrackEnabled { cluster: String, seconds: i64 },
    #[error("binlog_format is `{value}` in cluster parameter group `{group}`; set binlog_format=ROW in a custom cluster parameter group attached to the source and reboot its writer")]
    BinlogFormatNotRow { group: String, value: String },
    #[error("`{resource}` uses {feature}, which the encrypted copy cannot carry over: {fix}")]
    FeatureNotCarried {
        resource: String,
        feature: String,
        fix: String,
    },
    #[error("aurora_enhanced_binlog is `{value}` in cluster parameter group `{group}`: enhanced binlog files are not in snapshots, so the restored target's binlog position cannot continue the source's; set aurora_enhanced_binlog=0, binlog_backup=1 and binlog_replication_globaldb=1 in that group and reboot the writer")]
    EnhancedBinlogEnabled { group: String, value: String },
    #[error("cluster parameter group `{group}` is not applied on {members:?} yet (pending reboot), so binlog_format=ROW may not be in effect; reboot them and start again")]
    BinlogFormatNotApplied { group: String, members: Vec<String> },
    #[error("the `read-only` fence sets read_only in cluster parameter group `{group}`, but {reason}; attach a copy used by this cluster alone, or fence with `security-group` only")]
    SharedParameterGroup { group: String, reason: String },
    #[error("source binlog retention is {found}; it must be at least {required} hours to cover the snapshot, restore and catch-up: CALL mysql.rds_set_configuration('binlog retention hours', {required})")]
    BinlogRetentionTooShort { found: String, required: u32 },
    #[error("`{id}` already exists and was not created by aurora-encrypt for source `{source_cluster}`; choose another targetClusterId or delete it")]
    TargetTaken { id: String, source_cluster: String },
    #[error("`{id}` was restored by an earlier run ({execution}), which either switched over to it or rolled back and kept it for inspection; its data and binlog position belong to that run's snapshot, so a new run cannot reuse it: choose another targetClusterId, or delete it if nothing uses it (after a rollback, cleanup.deleteTargetOnRollback does that)")]
    TargetLeftByEarlierRun { id: String, execution: String },
    #[error("DNS record `{record}` {found}; expected a CNAME to the source writer endpoint `{expected}`: fix dns.recordName or the record")]
    DnsRecordNotOnSource {
        record: String,
        found: String,
        expected: String,
    },
    #[error("{needs} connects to the clusters over TLS, but {reason}")]
    RdsCaBundleMissing { needs: String, reason: String },
    #[error("the fence {methods:?} cannot stop {users}: they bypass read_only and are connected, and without the `security-group` method they would reconnect after their sessions are ended; add `security-group` to switchover.fence (with fenceSecurityGroupId), or move these applications to a user without CONNECTION_ADMIN/SUPER")]
    FenceCannotStopWriters { methods: Vec<String>, users: String },
    #[error(transparent)]
    Port(#[from] PortError),
    #[error(transparent)]
    Lock(#[from] LockError),
}

impl NamedError for PreflightError {
    fn error_name(&self) -> &'static str {
        use PreflightError::*;
        match self {
            Invalid(_) | WrongEngine { .. } | UnsupportedVersion { .. } => {
                error_names::INVALID_INPUT
            }
            SourceNotFound(_) => error_names::SOURCE_NOT_FOUND,
            SourceNotAvailable { .. } => error_names::SOURCE_NOT_AVAILABLE,
            AlreadyEncrypted { .. } => error_names::SOURCE_ALREADY_ENCRYPTED,
            KmsKeyUnusable { .. } => error_names::KMS_KEY_UNUSABLE,
            BacktrackEnabled { .. } => error_names::BACKTRACK_ENABLED,
            BinlogFormatNotRow { .. } | BinlogFormatNotApplied { .. } => {
                error_names::BINLOG_FORMAT_NOT_ROW
            }
            SharedParameterGroup { .. } => error_names::SHARED_PARAMETER_GROUP,
            EnhancedBinlogEnabled { .. } => error_names::ENHANCED_BINLOG_ENABLED,
            FeatureNotCarried { .. } => error_names::SOURCE_FEATURE_NOT_CARRIED,
            BinlogRetentionTooShort { .. } => error_names::BINLOG_RETENTION_TOO_SHORT,
            TargetTaken { .. } | TargetLeftByEarlierRun { .. } => error_names::TARGET_CLUSTER_TAKEN,
            DnsRecordNotOnSource { .. } => error_names::DNS_RECORD_NOT_ON_SOURCE,
            RdsCaBundleMissing { .. } => error_names::RDS_CA_BUNDLE_MISSING,
            FenceCannotStopWriters { .. } => error_names::FENCE_CANNOT_STOP_WRITERS,
            Port(e) => e.default_name(),
            Lock(e) => e.error_name(),
        }
    }
}

impl_diagnostic!(PreflightError);

/// The Aurora MySQL major version from an engine version: `5.7.mysql_aurora.2.11.2` → 2,
/// `8.0.mysql_aurora.3.05.2` → 3.
pub fn engine_major_version(engine_version: &str) -> Option<u8> {
    let (_, aurora) = engine_version.split_once(".mysql_aurora.")?;
    match aurora.split('.').next()? {
        "2" => Some(2),
        "3" => Some(3),
        _ => None,
    }
}

fn same_dns_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

pub async fn run(
    input: &PreflightInput,
    ports: &PreflightPorts<'_>,
    settings: PreflightSettings,
) -> Result<Value, PreflightError> {
    let now = ports.clock.now();
    let mut spec = MigrationSpec::from_value(&input.spec)?;
    spec.validate(now)?;
    if input.execution.name.trim().is_empty() {
        return Err(InvalidInput::new("execution.name", "must not be empty").into());
    }
    check_sql_tls(&spec, &settings.sql_tls)?;
    let execution_id = input
        .execution
        .id
        .clone()
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| {
            InvalidInput::new(
                "execution.id",
                "must be the execution ARN ($$.Execution.Id): it holds the source's lock",
            )
        })?;
    let mut warnings = Vec::new();

    if let Some(resource_id) = spec.source_cluster_resource_id.clone() {
        resolve_resource_id(&mut spec, &resource_id, ports.clusters).await?;
        spec.validate(now)?;
    }
    let source_id = spec.source_cluster_id.clone();
    let source = ports
        .clusters
        .describe_cluster(&source_id)
        .await?
        .ok_or_else(|| PreflightError::SourceNotFound(source_id.clone()))?;
    if source.engine != "aurora-mysql" {
        return Err(PreflightError::WrongEngine {
            cluster: source_id,
            engine: source.engine,
        });
    }
    let major = engine_major_version(&source.engine_version).ok_or_else(|| {
        PreflightError::UnsupportedVersion {
            cluster: source_id.clone(),
            version: source.engine_version.clone(),
        }
    })?;
    if source.status != "available" {
        return Err(PreflightError::SourceNotAvailable {
            cluster: source_id,
            status: source.status,
        });
    }

    let encryption = check_encryption(&spec, &source, ports.kms).await?;
    if source.backtrack_window > 0 {
        return Err(PreflightError::BacktrackEnabled {
            cluster: source_id,
            seconds: source.backtrack_window,
        });
    }
    check_carried_features(&spec, &source, ports.clusters).await?;
    let group = check_parameter_group(&spec, &source, ports.parameters).await?;
    if spec.switchover.fence.contains(&FenceMethod::SecurityGroup) {
        if let Some(fence_group) = &spec.switchover.fence_security_group_id {
            if source.vpc_security_group_ids.contains(fence_group) {
                warnings.push(format!(
                    "the fence security group `{fence_group}` is already attached to the source: the fence will remove the others"
                ));
            }
        }
    }

    let writer_endpoint = source.endpoint.as_ref().map(|host| DatabaseEndpoint {
        cluster_id: source.id.clone(),
        host: host.clone(),
        port: source.port.unwrap_or(3306),
    });
    let retention = check_retention(
        &spec,
        writer_endpoint.as_ref(),
        ports.retention,
        &settings,
        &mut warnings,
    )
    .await?;

    let bypass = check_bypass_users(&spec, ports.fence_sql, &mut warnings).await?;

    let target_id = spec.target_cluster_id();
    let target_action = check_target(&source, &target_id, ports.clusters).await?;
    let instances = plan_instances(&spec, &source, &target_id, ports.clusters).await?;

    let dns_ttl_seconds = match &spec.dns {
        Some(dns) => check_dns(dns, &source, ports.dns).await?,
        None => None,
    };

    spec.target_cluster_id = Some(target_id.clone());
    spec.kms_key_id = Some(encryption.kms_key_arn.clone());
    let resources = plan_resources(
        &spec,
        &source,
        &input.execution.name,
        target_action,
        instances,
    );
    let mut plan = PreflightPlan {
        dry_run: spec.dry_run,
        source_cluster_arn: source.arn.clone(),
        engine_version: source.engine_version.clone(),
        engine_major_version: major,
        source_writer_endpoint: writer_endpoint,
        encryption,
        cluster_parameter_group: group,
        binlog_retention_hours: retention,
        required_binlog_retention_hours: settings.min_binlog_retention_hours,
        resources,
        read_only_bypass_users: bypass,
        warnings,
        checked_at: now,
        dns_ttl_seconds,
        lock: None,
    };
    // Last: a run refused here has created nothing, and a lock is never held by a run that
    // failed its checks.
    let held: Option<HeldLock> = if spec.dry_run {
        plan.lock = Some(
            source_lock::inspect(ports.lock, &source.arn, &execution_id, ports.clock.now()).await?,
        );
        None
    } else {
        Some(source_lock::acquire(ports.lock, &source.arn, &execution_id, ports.clock.now()).await?)
    };

    let mut document = serde_json::to_value(&spec)
        .map_err(|e| PortError::Other(format!("serializing the spec: {e}")))?;
    if let Value::Object(map) = &mut document {
        map.insert(
            "execution".into(),
            serde_json::json!({ "name": input.execution.name }),
        );
        map.insert(
            "preflight".into(),
            serde_json::to_value(&plan)
                .map_err(|e| PortError::Other(format!("serializing the plan: {e}")))?,
        );
        if let Some(held) = held {
            map.insert(
                "lock".into(),
                serde_json::to_value(&held)
                    .map_err(|e| PortError::Other(format!("serializing the lock: {e}")))?,
            );
        }
    }
    Ok(document)
}

async fn check_encryption(
    spec: &MigrationSpec,
    source: &Cluster,
    kms: &dyn KmsKeys,
) -> Result<EncryptionPlan, PreflightError> {
    let already = |key: &Option<String>, fix| PreflightError::AlreadyEncrypted {
        cluster: source.id.clone(),
        key: key
            .as_ref()
            .map(|k| format!(" with `{k}`"))
            .unwrap_or_default(),
        fix,
    };
    if source.storage_encrypted && spec.kms_key_id.is_none() {
        return Err(already(
            &source.kms_key_id,
            "to re-key it, set kmsKeyId to a different key",
        ));
    }
    let requested = spec
        .kms_key_id
        .clone()
        .unwrap_or_else(|| DEFAULT_KMS_KEY.to_string());
    let unusable = |reason: String| PreflightError::KmsKeyUnusable {
        key: requested.clone(),
        reason,
    };
    let key: KmsKey = kms.describe_key(&requested).await?.ok_or_else(|| {
        unusable("no such key or alias in this account and region: check kmsKeyId".into())
    })?;
    key.usable_by_rds()
        .map_err(|reason| unusable(format!("{reason}: enable it or choose another key")))?;
    let source_region = source.arn.split(':').nth(3).filter(|r| !r.is_empty());
    if let (Some(source_region), Some(key_region)) = (source_region, key.region()) {
        if source_region != key_region {
            return Err(unusable(format!(
                "it is in region `{key_region}` but the source is in `{source_region}`: use a key (or multi-Region replica) in `{source_region}`"
            )));
        }
    }
    let rekey = source.storage_encrypted;
    if rekey && source.kms_key_id.as_deref() == Some(key.arn.as_str()) {
        return Err(already(
            &source.kms_key_id,
            "kmsKeyId names the same key, so there is nothing to do; to re-key, name a different key",
        ));
    }
    Ok(EncryptionPlan {
        source_encrypted: source.storage_encrypted,
        source_kms_key_id: source.kms_key_id.clone(),
        requested_kms_key_id: requested,
        kms_key_arn: key.arn,
        kms_key_manager: key.manager,
        rekey,
    })
}

/// The restore carries Serverless v2 scaling, storage type, network type, the instances' CA
/// certificate and Performance Insights. Associated IAM roles, a Kerberos domain and enhanced
/// monitoring each need `iam:PassRole` on a role of the account's own that the deployment does
/// not know, so they are refused here, by name, before anything is created.
async fn check_carried_features(
    spec: &MigrationSpec,
    source: &Cluster,
    clusters: &dyn Clusters,
) -> Result<(), PreflightError> {
    let refuse = |resource: &str, feature: String, fix: &str| PreflightError::FeatureNotCarried {
        resource: resource.to_string(),
        feature,
        fix: fix.to_string(),
    };
    if !source.extras.associated_roles.is_empty() {
        return Err(refuse(
            &source.id,
            format!("associated IAM roles {:?}", source.extras.associated_roles),
            "remove them from the source for the migration (aws rds remove-role-from-db-cluster) and add them to the target after the switchover",
        ));
    }
    if !source.extras.domains.is_empty() {
        return Err(refuse(
            &source.id,
            format!("Kerberos authentication in directory {:?}", source.extras.domains),
            "join the target to the directory after the switchover (aws rds modify-db-cluster --domain), or leave the directory for the migration",
        ));
    }
    let serverless = spec.instance_class.as_deref() == Some("db.serverless");
    if serverless && source.extras.serverless_v2_scaling.is_none() {
        return Err(refuse(
            &source.id,
            "instanceClass db.serverless without a Serverless v2 scaling configuration".into(),
            "set one on the source (aws rds modify-db-cluster --serverless-v2-scaling-configuration) or choose a provisioned instanceClass",
        ));
    }
    for member in &source.members {
        let Some(instance) = clusters.describe_instance(&member.instance_id).await? else {
            continue;
        };
        if instance.extras.monitoring_interval > 0 {
            return Err(refuse(
                &instance.id,
                format!(
                    "enhanced monitoring (every {} s)",
                    instance.extras.monitoring_interval
                ),
                "turn it off on the source's instances for the migration (aws rds modify-db-instance --monitoring-interval 0) and on again on the target's after the switchover",
            ));
        }
    }
    Ok(())
}

/// AWS Config names a cluster by its resource id (`cluster-…`); every later step needs the
/// identifier. A spec that names both must name the same cluster.
async fn resolve_resource_id(
    spec: &mut MigrationSpec,
    resource_id: &str,
    clusters: &dyn Clusters,
) -> Result<(), PreflightError> {
    let found = clusters
        .cluster_id_by_resource_id(resource_id)
        .await?
        .ok_or_else(|| PreflightError::SourceNotFound(resource_id.to_string()))?;
    if !spec.source_cluster_id.is_empty() && !spec.source_cluster_id.eq_ignore_ascii_case(&found) {
        return Err(InvalidInput::new(
            "sourceClusterResourceId",
            format!(
                "`{resource_id}` is cluster `{found}`, not sourceClusterId `{}`",
                spec.source_cluster_id
            ),
        )
        .into());
    }
    spec.source_cluster_id = found;
    Ok(())
}

async fn check_parameter_group(
    spec: &MigrationSpec,
    source: &Cluster,
    parameters: &dyn ClusterParameters,
) -> Result<String, PreflightError> {
    let Some(group) = source.cluster_parameter_group.clone() else {
        return Err(PreflightError::BinlogFormatNotRow {
            group: "(none reported)".into(),
            value: "unknown".into(),
        });
    };
    let value = parameters
        .parameter(&group, "binlog_format")
        .await?
        .and_then(|p| p.value)
        .unwrap_or_else(|| "OFF".into());
    if !value.eq_ignore_ascii_case("ROW") {
        return Err(PreflightError::BinlogFormatNotRow { group, value });
    }
    // Unset means the engine default, which is off.
    if let Some(value) = parameters
        .parameter(&group, "aurora_enhanced_binlog")
        .await?
        .and_then(|p| p.value)
        .filter(|v| !matches!(v.trim().to_ascii_uppercase().as_str(), "0" | "OFF" | ""))
    {
        return Err(PreflightError::EnhancedBinlogEnabled { group, value });
    }
    let pending = parameters.members_pending_reboot(&source.id).await?;
    if !pending.is_empty() {
        return Err(PreflightError::BinlogFormatNotApplied {
            group,
            members: pending,
        });
    }
    if spec.switchover.fence.contains(&FenceMethod::ReadOnly) {
        if group.starts_with("default.") {
            return Err(PreflightError::SharedParameterGroup {
                reason: "it is an AWS default group, which cannot be modified and is shared by every cluster that uses it".into(),
                group,
            });
        }
        let others: Vec<String> = parameters
            .clusters_using(&group)
            .await?
            .into_iter()
            .filter(|c| *c != source.id)
            .collect();
        if !others.is_empty() {
            return Err(PreflightError::SharedParameterGroup {
                reason: format!("clusters {others:?} use it too and would become read-only"),
                group,
            });
        }
    }
    Ok(group)
}

/// Verification and the native engine log in to the clusters over TLS from other functions,
/// the first of them after the snapshot and Verify while writes are fenced: a bundle they lack
/// is refused here, before anything is created.
fn check_sql_tls(spec: &MigrationSpec, tls: &SqlTls) -> Result<(), PreflightError> {
    let SqlTls::Missing(reason) = tls else {
        return Ok(());
    };
    let mut needs = Vec::new();
    if matches!(spec.replication, ReplicationSpec::Native(_)) {
        needs.push("replication.engine `native`".to_string());
    }
    if spec.verify.mode != VerifyMode::Off {
        let mode = serde_json::to_value(spec.verify.mode)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        needs.push(format!("verify.mode `{mode}`"));
    }
    if needs.is_empty() {
        return Ok(());
    }
    Err(PreflightError::RdsCaBundleMissing {
        needs: needs.join(" and "),
        reason: reason.clone(),
    })
}

async fn check_retention(
    spec: &MigrationSpec,
    endpoint: Option<&DatabaseEndpoint>,
    retention: Option<&dyn BinlogRetention>,
    settings: &PreflightSettings,
    warnings: &mut Vec<String>,
) -> Result<Option<u32>, PreflightError> {
    let required = settings.min_binlog_retention_hours;
    let secret = match &spec.replication {
        ReplicationSpec::Dms(dms) => &dms.source_secret_arn,
        ReplicationSpec::Native(native) => &native.source_secret_arn,
    };
    let (Some(retention), Some(endpoint)) = (retention, endpoint) else {
        warnings.push(format!(
            "binlog retention was not checked (no SQL access from preflight); make sure it is at least {required} hours: CALL mysql.rds_set_configuration('binlog retention hours', {required})"
        ));
        return Ok(None);
    };
    let hours = retention.retention_hours(endpoint, secret).await?;
    match hours {
        Some(h) if h >= required => Ok(Some(h)),
        found => Err(PreflightError::BinlogRetentionTooShort {
            found: found.map_or_else(|| "not set".into(), |h| format!("{h} hours")),
            required,
        }),
    }
}

/// Users `read_only` does not stop. Aurora's own `rdsadmin` is left out: the fence never ends
/// its sessions and it writes no application data.
async fn check_bypass_users(
    spec: &MigrationSpec,
    fence_sql: Option<&dyn FenceSql>,
    warnings: &mut Vec<String>,
) -> Result<Option<Vec<ReadOnlyBypassUser>>, PreflightError> {
    let Some(fence_sql) = fence_sql else {
        warnings.push("the users that bypass read_only were not listed (no SQL access from preflight): with a `read-only` fence alone, make sure no application connects as the master user or a user with CONNECTION_ADMIN or SUPER".into());
        return Ok(None);
    };
    let users: Vec<ReadOnlyBypassUser> = fence_sql
        .read_only_bypass_users(&spec.source_cluster_id)
        .await?
        .into_iter()
        .filter(|u| !u.grantee.starts_with("'rdsadmin'@"))
        .collect();
    let connected: Vec<String> = users
        .iter()
        .filter(|u| u.sessions > 0)
        .map(|u| {
            format!(
                "{} ({} session(s), {})",
                u.grantee,
                u.sessions,
                u.privileges.join(", ")
            )
        })
        .collect();
    let fence = &spec.switchover.fence;
    if !connected.is_empty() && !fence.contains(&FenceMethod::SecurityGroup) {
        return Err(PreflightError::FenceCannotStopWriters {
            methods: fence
                .iter()
                .map(|m| {
                    serde_json::to_value(m)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default()
                })
                .collect(),
            users: connected.join("; "),
        });
    }
    Ok(Some(users))
}

/// The target id must be free. Preflight runs before this execution creates anything, so a
/// target carrying our owner tag was left by an earlier run (kept after a rollback, or already
/// migrated): reusing it would replicate from a new snapshot's position into the old data.
async fn check_target(
    source: &Cluster,
    target_id: &str,
    clusters: &dyn Clusters,
) -> Result<PlannedAction, PreflightError> {
    match clusters.describe_cluster(target_id).await? {
        None => Ok(PlannedAction::Create),
        Some(target) if target.tag(naming::OWNER_TAG) == Some(source.id.as_str()) => {
            Err(PreflightError::TargetLeftByEarlierRun {
                id: target_id.into(),
                execution: target
                    .tag(naming::EXECUTION_TAG)
                    .unwrap_or("unknown execution")
                    .into(),
            })
        }
        Some(_) => Err(PreflightError::TargetTaken {
            id: target_id.into(),
            source_cluster: source.id.clone(),
        }),
    }
}

/// The target instances, writer first, with their class; an id held by an instance outside the
/// target cluster is taken.
async fn plan_instances(
    spec: &MigrationSpec,
    source: &Cluster,
    target_id: &str,
    clusters: &dyn Clusters,
) -> Result<Vec<PlannedResource>, PreflightError> {
    let mut members = source.members.clone();
    members.sort_by_key(|m| !m.is_writer);
    let mut planned = Vec::with_capacity(members.len());
    for member in members {
        let id = naming::target_instance_id(&source.id, target_id, &member.instance_id);
        let action = match clusters.describe_instance(&id).await? {
            None => PlannedAction::Create,
            Some(existing) if existing.cluster_id.as_deref() == Some(target_id) => {
                PlannedAction::Reuse
            }
            Some(_) => {
                return Err(PreflightError::TargetTaken {
                    id,
                    source_cluster: source.id.clone(),
                })
            }
        };
        let class = match &spec.instance_class {
            Some(class) => Some(class.clone()),
            None => clusters
                .describe_instance(&member.instance_id)
                .await?
                .map(|i| i.class),
        };
        planned.push(PlannedResource {
            action,
            kind: "db-instance".into(),
            name: id,
            step: "Restore".into(),
            detail: Some(format!(
                "{} of `{}`{}",
                if member.is_writer { "writer" } else { "reader" },
                member.instance_id,
                class.map(|c| format!(", {c}")).unwrap_or_default()
            )),
        });
    }
    Ok(planned)
}

async fn check_dns(
    dns: &crate::spec::DnsSpec,
    source: &Cluster,
    port: &dyn Dns,
) -> Result<Option<i64>, PreflightError> {
    let expected = source.endpoint.clone().unwrap_or_default();
    let not_on_source = |found: String| PreflightError::DnsRecordNotOnSource {
        record: dns.record_name.clone(),
        found,
        expected: expected.clone(),
    };
    match port.resolve(&dns.hosted_zone_id, &dns.record_name).await? {
        None => Err(not_on_source(format!(
            "does not exist in hosted zone `{}`",
            dns.hosted_zone_id
        ))),
        Some(r) if r.record_type != "CNAME" => Err(not_on_source(format!(
            "is a {} record{}",
            r.record_type,
            if r.value.is_none() { " (alias)" } else { "" }
        ))),
        Some(r) => match r.value {
            Some(value) if same_dns_name(&value, &expected) => Ok(r.ttl),
            value => Err(not_on_source(format!(
                "points at `{}`",
                value.unwrap_or_default()
            ))),
        },
    }
}

fn plan_resources(
    spec: &MigrationSpec,
    source: &Cluster,
    execution: &str,
    target_action: PlannedAction,
    instances: Vec<PlannedResource>,
) -> Vec<PlannedResource> {
    let resource =
        |action, kind: &str, name: String, step: &str, detail: Option<String>| PlannedResource {
            action,
            kind: kind.into(),
            name,
            step: step.into(),
            detail,
        };
    let target_id = spec.target_cluster_id();
    let mut plan = vec![resource(
        PlannedAction::Create,
        "db-cluster-snapshot",
        naming::snapshot_id(&source.id, execution),
        "Snapshot",
        None,
    )];
    if let Some(group) = source
        .cluster_parameter_group
        .as_ref()
        .filter(|g| !g.starts_with("default."))
    {
        plan.push(resource(
            target_action.clone(),
            "db-cluster-parameter-group",
            naming::target_parameter_group(&target_id),
            "Restore",
            Some(format!("copy of `{group}`")),
        ));
    }
    plan.push(resource(
        target_action,
        "db-cluster",
        target_id.clone(),
        "Restore",
        Some(format!(
            "encrypted with `{}`",
            spec.kms_key_id.as_deref().unwrap_or(DEFAULT_KMS_KEY)
        )),
    ));
    plan.extend(instances);
    let migration = naming::migration_name(&target_id);
    match &spec.replication {
        ReplicationSpec::Dms(_) => {
            for (kind, name) in naming::dms_resource_names(&migration) {
                plan.push(resource(
                    PlannedAction::Create,
                    kind,
                    name,
                    "CreateMigration",
                    None,
                ));
            }
        }
        ReplicationSpec::Native(_) => plan.push(resource(
            PlannedAction::Create,
            "binlog-replication",
            migration.clone(),
            "CreateMigration",
            Some(format!("on `{target_id}`, from `{}`", source.id)),
        )),
    }
    for method in &spec.switchover.fence {
        let (kind, name, detail) = match method {
            FenceMethod::SecurityGroup => (
                "db-cluster-security-groups",
                source.id.clone(),
                format!(
                    "moved onto `{}` during the switchover, restored on rollback",
                    spec.switchover
                        .fence_security_group_id
                        .as_deref()
                        .unwrap_or_default()
                ),
            ),
            FenceMethod::ReadOnly => (
                "db-cluster-parameter",
                source.cluster_parameter_group.clone().unwrap_or_default(),
                "read_only=1 during the switchover, restored on rollback".into(),
            ),
        };
        plan.push(resource(
            PlannedAction::Modify,
            kind,
            name,
            "FenceWrites",
            Some(detail),
        ));
    }
    plan.push(resource(
        PlannedAction::Modify,
        "db-cluster-tag",
        source.id.clone(),
        "FenceWrites",
        Some("the fence record, removed when the fence is lifted".into()),
    ));
    if let Some(dns) = &spec.dns {
        plan.push(resource(
            PlannedAction::Modify,
            "route53-record",
            dns.record_name.clone(),
            "SwapDns",
            Some(format!(
                "TTL lowered to {} s early in the run, CNAME to the target writer endpoint at the switchover, TTL put back after cleanup or rollback",
                dns.ttl_seconds
            )),
        ));
    }
    if spec.cleanup.delete_migration_resources {
        plan.push(resource(
            PlannedAction::Delete,
            "replication",
            migration,
            "Cleanup",
            Some("every replication resource above, after the switchover".into()),
        ));
    }
    if spec.cleanup.retire_source {
        plan.push(resource(
            PlannedAction::Create,
            "db-cluster-snapshot",
            naming::final_snapshot_id(&source.id, execution),
            "Cleanup",
            Some("final snapshot of the source".into()),
        ));
        plan.push(resource(
            PlannedAction::Delete,
            "db-cluster",
            source.id.clone(),
            "Cleanup",
            Some("the source and its instances, after the final snapshot".into()),
        ));
    }
    if spec.cleanup.delete_target_on_rollback {
        plan.push(resource(
            PlannedAction::Delete,
            "db-cluster",
            target_id,
            "Cleanup",
            Some("only on rollback".into()),
        ));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{
        self, FakeClock, FakeClusters, FakeDns, FakeFenceSql, FakeKms, FakeParameters,
        FakeRetention, FakeSourceLock,
    };
    use crate::ports::{ReadOnlyBypassUser, Tag};
    use serde_json::json;

    const WRITER: &str = "orders.cluster-abc.eu-west-1.rds.amazonaws.com";
    const EXECUTION_ARN: &str = "arn:aws:states:eu-west-1:123456789012:execution:encrypt:exec-1";

    /// Every port, in a state where preflight passes.
    struct World {
        clusters: FakeClusters,
        parameters: FakeParameters,
        kms: FakeKms,
        dns: FakeDns,
        retention: FakeRetention,
        fence_sql: FakeFenceSql,
        clock: FakeClock,
        lock: FakeSourceLock,
        with_retention: bool,
        sql_tls: SqlTls,
    }

    impl World {
        fn new() -> Self {
            Self {
                clusters: FakeClusters::with_source("orders"),
                parameters: FakeParameters::for_source("orders"),
                kms: FakeKms::with_key("alias/aurora-orders"),
                dns: FakeDns::with_record("db.example.com", "CNAME", Some(WRITER)),
                retention: FakeRetention::hours(Some(48)),
                fence_sql: FakeFenceSql::default(),
                clock: FakeClock::default(),
                lock: FakeSourceLock::default(),
                with_retention: true,
                sql_tls: SqlTls::Ready,
            }
        }

        async fn run(&self, spec: Value) -> Result<Value, PreflightError> {
            let input = PreflightInput {
                spec,
                execution: ExecutionRef {
                    name: "exec-1".into(),
                    id: Some(EXECUTION_ARN.into()),
                },
            };
            let ports = PreflightPorts {
                clusters: &self.clusters,
                parameters: &self.parameters,
                kms: &self.kms,
                dns: &self.dns,
                retention: self
                    .with_retention
                    .then_some(&self.retention as &dyn BinlogRetention),
                fence_sql: Some(&self.fence_sql),
                clock: &self.clock,
                lock: &self.lock,
            };
            let settings = PreflightSettings {
                sql_tls: self.sql_tls.clone(),
                ..PreflightSettings::default()
            };
            run(&input, &ports, settings).await
        }

        /// Preflight only reads: the fakes' logs of calls that create or change something.
        fn assert_nothing_changed(&self, case: &str) {
            assert!(
                self.clusters.mutations().is_empty(),
                "{case}: {:?}",
                self.clusters.mutations()
            );
            assert!(
                self.dns.mutations().is_empty(),
                "{case}: {:?}",
                self.dns.mutations()
            );
        }
    }

    fn spec() -> Value {
        let mut doc = fakes::state_document("orders", "exec-1");
        doc.as_object_mut().unwrap().remove("execution");
        doc["kmsKeyId"] = json!("alias/aurora-orders");
        doc
    }

    fn with(mut value: Value, pointer: &str, new: Value) -> Value {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = value.pointer_mut(parent).unwrap();
        match new {
            Value::Null => {
                target.as_object_mut().unwrap().remove(key);
            }
            new => target[key] = new,
        }
        value
    }

    fn plan(document: &Value) -> PreflightPlan {
        serde_json::from_value(document["preflight"].clone()).unwrap()
    }

    #[tokio::test]
    async fn returns_the_normalised_document_with_defaults_and_plan() {
        let world = World::new();
        let doc = world.run(spec()).await.unwrap();

        assert_eq!(doc["targetClusterId"], "orders-encrypted");
        assert_eq!(doc["kmsKeyId"], fakes::key_arn("alias/aurora-orders"));
        assert_eq!(doc["execution"], json!({"name": "exec-1"}));
        assert_eq!(doc["switchover"]["drainTimeoutSeconds"], 300);
        assert_eq!(doc["switchover"]["fence"], json!(["read-only"]));
        assert_eq!(doc["verify"]["mode"], "checksums");
        assert_eq!(doc["verify"]["timeoutSeconds"], 600);
        assert_eq!(doc["cleanup"]["deleteMigrationResources"], true);
        assert_eq!(doc["dryRun"], false);

        let plan = plan(&doc);
        assert_eq!(plan.engine_major_version, 3);
        assert_eq!(plan.binlog_retention_hours, Some(48));
        assert!(!plan.encryption.rekey);
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
        let names: Vec<(&str, &str)> = plan
            .resources
            .iter()
            .map(|r| (r.kind.as_str(), r.name.as_str()))
            .collect();
        let snapshot = naming::snapshot_id("orders", "exec-1");
        for expected in [
            ("db-cluster-snapshot", snapshot.as_str()),
            (
                "db-cluster-parameter-group",
                "orders-encrypted-aurora-encrypt",
            ),
            ("db-cluster", "orders-encrypted"),
            ("db-instance", "orders-encrypted-writer"),
            ("db-instance", "orders-encrypted-reader-1"),
            ("db-instance", "orders-encrypted-reader-2"),
            ("dms-data-migration", "aurora-encrypt-orders-encrypted"),
            (
                "dms-instance-profile",
                "aurora-encrypt-orders-encrypted-profile",
            ),
            ("db-cluster-parameter", "orders-params"),
            ("route53-record", "db.example.com"),
        ] {
            assert!(names.contains(&expected), "{expected:?} not in {names:?}");
        }
        assert_eq!(
            plan.resources
                .iter()
                .find(|r| r.kind == "db-instance")
                .map(|r| r.name.as_str()),
            Some("orders-encrypted-writer"),
            "the writer comes first"
        );
        world.assert_nothing_changed("happy path");
        assert_eq!(
            *world.retention.asked.lock().unwrap(),
            vec![(
                WRITER.to_string(),
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:source-AbCdEf".to_string()
            )]
        );
    }

    #[tokio::test]
    async fn takes_the_sources_lock_for_this_execution_last() {
        let world = World::new();
        let doc = world.run(spec()).await.unwrap();
        let source_arn = plan(&doc).source_cluster_arn;
        assert_eq!(doc["lock"]["resource"], source_arn.as_str());
        assert_eq!(doc["lock"]["holder"], EXECUTION_ARN);
        assert!(doc["lock"].get("takenOver").is_none());
        assert_eq!(
            world.lock.record(&source_arn).unwrap().holder,
            EXECUTION_ARN
        );

        // A failed check takes nothing.
        let world = World::new();
        world
            .run(with(spec(), "/sourceClusterId", json!("nope")))
            .await
            .unwrap_err();
        assert!(world.lock.writes().is_empty());
    }

    #[tokio::test]
    async fn a_source_another_execution_holds_is_refused_by_name_before_anything_is_created() {
        let world = World::new();
        let source_arn = world.clusters.cluster("orders").unwrap().arn;
        let other = "arn:aws:states:eu-west-1:123456789012:execution:encrypt:exec-0";
        world.lock.put(crate::ports::LockRecord {
            resource: source_arn,
            holder: other.into(),
            lease_expires_at: fakes::EPOCH,
            released: false,
            version: 4,
        });
        let error = world.run(spec()).await.unwrap_err();
        assert_eq!(error.error_name(), "SourceBusy");
        assert!(error.to_string().contains(other), "{error}");
        assert!(world.lock.writes().is_empty());
        world.assert_nothing_changed("busy source");
    }

    #[tokio::test]
    async fn a_dry_run_reports_the_lock_without_taking_it() {
        let world = World::new();
        let source_arn = world.clusters.cluster("orders").unwrap().arn;
        let other = "arn:aws:states:eu-west-1:123456789012:execution:encrypt:exec-0";
        world.lock.put(crate::ports::LockRecord {
            resource: source_arn.clone(),
            holder: other.into(),
            lease_expires_at: fakes::EPOCH,
            released: false,
            version: 1,
        });
        let doc = world
            .run(with(spec(), "/dryRun", json!(true)))
            .await
            .unwrap();
        let report = plan(&doc).lock.unwrap();
        assert_eq!(report.resource, source_arn);
        assert!(!report.free);
        assert_eq!(report.holder.as_deref(), Some(other));
        assert!(doc.get("lock").is_none());
        assert!(world.lock.writes().is_empty());
    }

    #[tokio::test]
    async fn a_real_run_needs_the_execution_arn() {
        let world = World::new();
        let input = PreflightInput {
            spec: spec(),
            execution: ExecutionRef {
                name: "exec-1".into(),
                id: None,
            },
        };
        let ports = PreflightPorts {
            clusters: &world.clusters,
            parameters: &world.parameters,
            kms: &world.kms,
            dns: &world.dns,
            retention: None,
            fence_sql: None,
            clock: &world.clock,
            lock: &world.lock,
        };
        let error = run(&input, &ports, PreflightSettings::default())
            .await
            .unwrap_err();
        assert!(error.to_string().contains("execution.id"), "{error}");
    }

    #[tokio::test]
    async fn the_normalised_spec_parses_strictly_again() {
        let world = World::new();
        let mut doc = world.run(spec()).await.unwrap();
        let map = doc.as_object_mut().unwrap();
        map.remove("execution");
        map.remove("preflight");
        map.remove("lock");
        let spec = MigrationSpec::from_value(&doc).unwrap();
        spec.validate(fakes::EPOCH).unwrap();
        assert_eq!(spec.target_cluster_id.as_deref(), Some("orders-encrypted"));
    }

    #[tokio::test]
    async fn default_key_is_resolved_to_the_aws_managed_rds_key() {
        let world = World::new();
        let doc = world
            .run(with(spec(), "/kmsKeyId", Value::Null))
            .await
            .unwrap();
        assert_eq!(doc["kmsKeyId"], fakes::key_arn("alias/aws/rds"));
        assert_eq!(plan(&doc).encryption.requested_kms_key_id, "alias/aws/rds");
    }

    fn bypass_user(grantee: &str, sessions: u32) -> ReadOnlyBypassUser {
        ReadOnlyBypassUser {
            grantee: grantee.into(),
            privileges: vec!["CONNECTION_ADMIN".into()],
            sessions,
        }
    }

    #[tokio::test]
    async fn a_read_only_fence_alone_is_refused_while_a_user_that_bypasses_it_is_connected() {
        let world = World::new();
        world.fence_sql.set_bypass_users(
            "orders",
            vec![
                bypass_user("'admin'@'%'", 3),
                bypass_user("'rdsadmin'@'localhost'", 2),
            ],
        );
        let error = world.run(spec()).await.unwrap_err();
        assert_eq!(error.error_name(), "FenceCannotStopWriters");
        let text = error.to_string();
        assert!(text.contains("'admin'@'%' (3 session(s)"), "{text}");
        assert!(!text.contains("rdsadmin"), "{text}");
        world.assert_nothing_changed("refused fence");

        // With the security group, new connections are refused: the fence can stop them.
        let guarded = with(
            with(
                spec(),
                "/switchover/fence",
                json!(["security-group", "read-only"]),
            ),
            "/switchover/fenceSecurityGroupId",
            json!("sg-0fe0ce0000000000f"),
        );
        let doc = world.run(guarded).await.unwrap();
        let users = plan(&doc).read_only_bypass_users.unwrap();
        assert_eq!(users, vec![bypass_user("'admin'@'%'", 3)]);
    }

    #[tokio::test]
    async fn bypass_users_without_sessions_are_listed_not_refused() {
        let world = World::new();
        world
            .fence_sql
            .set_bypass_users("orders", vec![bypass_user("'admin'@'%'", 0)]);
        let doc = world.run(spec()).await.unwrap();
        assert_eq!(
            plan(&doc).read_only_bypass_users.unwrap(),
            vec![bypass_user("'admin'@'%'", 0)]
        );
    }

    #[tokio::test]
    async fn aurora_mysql_2_is_detected() {
        let world = World::new();
        world.clusters.update_cluster("orders", |c| {
            c.engine_version = "5.7.mysql_aurora.2.11.2".into()
        });
        let doc = world.run(spec()).await.unwrap();
        assert_eq!(doc["preflight"]["engineMajorVersion"], 2);
    }

    #[tokio::test]
    async fn encrypted_source_with_a_different_key_is_a_rekey() {
        let world = World::new();
        world.clusters.update_cluster("orders", |c| {
            c.storage_encrypted = true;
            c.kms_key_id = Some(fakes::key_arn("alias/old"));
        });
        let doc = world.run(spec()).await.unwrap();
        let plan = plan(&doc);
        assert!(plan.encryption.rekey);
        assert_eq!(
            plan.encryption.source_kms_key_id,
            Some(fakes::key_arn("alias/old"))
        );
    }

    #[tokio::test]
    async fn without_a_retention_reader_the_check_is_a_warning() {
        let mut world = World::new();
        world.with_retention = false;
        let doc = world.run(spec()).await.unwrap();
        let plan = plan(&doc);
        assert_eq!(plan.binlog_retention_hours, None);
        assert!(plan.warnings[0].contains("binlog retention was not checked"));
    }

    #[tokio::test]
    async fn a_target_left_by_an_earlier_run_is_refused() {
        let world = World::new();
        world.clusters.add_foreign_cluster("orders-encrypted");
        world.clusters.update_cluster("orders-encrypted", |c| {
            c.tags.push(Tag::new(naming::OWNER_TAG, "orders"));
            c.tags.push(Tag::new(naming::EXECUTION_TAG, "run-1"));
        });
        let err = world.run(spec()).await.unwrap_err();
        assert_eq!(err.error_name(), "TargetClusterTaken");
        assert!(err.to_string().contains("run-1"), "{err}");
        assert!(world.clusters.mutations().is_empty());
    }

    #[tokio::test]
    async fn a_shared_group_is_fine_when_the_fence_is_security_group_only() {
        let world = World::new();
        world.parameters.use_group("payments", "orders-params");
        let spec = with(spec(), "/switchover/fence", json!(["security-group"]));
        let spec = with(
            spec,
            "/switchover/fenceSecurityGroupId",
            json!("sg-0fe0ce0000000000f"),
        );
        world.run(spec).await.unwrap();
    }

    #[tokio::test]
    async fn retire_source_plans_the_final_snapshot_and_the_deletion() {
        let world = World::new();
        let doc = world
            .run(with(spec(), "/cleanup", json!({"retireSource": true})))
            .await
            .unwrap();
        let plan = plan(&doc);
        assert!(plan
            .resources
            .iter()
            .any(|r| r.name == naming::final_snapshot_id("orders", "exec-1")));
        assert!(plan
            .resources
            .iter()
            .any(|r| r.action == PlannedAction::Delete && r.name == "orders"));
    }

    const NO_BUNDLE: &str = "RDS CA bundle `/opt/rds-ca/global-bundle.pem` cannot be read";

    #[tokio::test]
    async fn the_native_engine_without_a_ca_bundle_is_refused_by_name() {
        let mut world = World::new();
        world.sql_tls = SqlTls::Missing(NO_BUNDLE.into());
        let native = with(
            with(spec(), "/verify", json!({"mode": "off"})),
            "/replication",
            json!({
                "engine": "native",
                "sourceSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:source-AbCdEf",
                "targetSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:target-AbCdEf"
            }),
        );
        let err = world.run(native).await.unwrap_err();
        assert_eq!(err.error_name(), "RdsCaBundleMissing");
        let text = err.to_string();
        assert!(text.contains("replication.engine `native`"), "{text}");
        assert!(!text.contains("verify.mode"), "{text}");
        assert!(text.contains("/opt/rds-ca/global-bundle.pem"), "{text}");
        world.assert_nothing_changed("native without a bundle");
    }

    #[tokio::test]
    async fn verification_without_a_ca_bundle_names_the_mode() {
        let mut world = World::new();
        world.sql_tls = SqlTls::Missing(NO_BUNDLE.into());
        let err = world
            .run(with(spec(), "/verify", json!({"mode": "counts"})))
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "RdsCaBundleMissing");
        assert!(err.to_string().contains("verify.mode `counts`"), "{err}");
    }

    #[tokio::test]
    async fn dms_without_verification_needs_no_ca_bundle() {
        let mut world = World::new();
        world.sql_tls = SqlTls::Missing(NO_BUNDLE.into());
        world
            .run(with(spec(), "/verify", json!({"mode": "off"})))
            .await
            .unwrap();
    }

    #[test]
    fn major_version_comes_from_the_aurora_version() {
        assert_eq!(engine_major_version("5.7.mysql_aurora.2.11.2"), Some(2));
        assert_eq!(engine_major_version("8.0.mysql_aurora.3.05.2"), Some(3));
        assert_eq!(engine_major_version("5.6.10a"), None);
        assert_eq!(engine_major_version("8.0.mysql_aurora.4.0.0"), None);
    }

    type Setup = Box<dyn Fn(&mut World)>;

    fn env(f: impl Fn(&mut World) + 'static) -> Setup {
        Box::new(f)
    }

    /// Bad specs and bad environments: each fails with its own name and nothing is created or
    /// modified.
    #[tokio::test]
    async fn bad_input_fails_with_its_name_and_changes_nothing() {
        let none = || env(|_| {});
        let cases: Vec<(&str, Value, Setup, &str)> = vec![
            (
                "malformed JSON",
                json!("{\"sourceClusterId\": "),
                none(),
                "InvalidInput",
            ),
            ("spec not an object", json!([1, 2]), none(), "InvalidInput"),
            (
                "unknown field",
                with(spec(), "/sourceClusterID", json!("x")),
                none(),
                "InvalidInput",
            ),
            (
                "unknown replication engine",
                with(spec(), "/replication/engine", json!("binlogger")),
                none(),
                "InvalidInput",
            ),
            (
                "missing secret ARN",
                with(spec(), "/replication/targetSecretArn", Value::Null),
                none(),
                "InvalidInput",
            ),
            (
                "malformed secret ARN",
                with(
                    spec(),
                    "/replication/sourceSecretArn",
                    json!("arn:aws:s3:::b"),
                ),
                none(),
                "InvalidInput",
            ),
            (
                "window in the past",
                with(
                    spec(),
                    "/switchover",
                    json!({"mode": "window", "windowStart": "2026-01-01T00:00:00Z"}),
                ),
                none(),
                "InvalidInput",
            ),
            (
                "negative TTL",
                with(spec(), "/dns/ttlSeconds", json!(-5)),
                none(),
                "InvalidInput",
            ),
            (
                "security-group fence without a group",
                with(spec(), "/switchover/fence", json!(["security-group"])),
                none(),
                "InvalidInput",
            ),
            (
                "checksums without an RDS CA bundle",
                spec(),
                env(|w| w.sql_tls = SqlTls::Missing(NO_BUNDLE.into())),
                "RdsCaBundleMissing",
            ),
            (
                "unknown cluster",
                with(spec(), "/sourceClusterId", json!("inventory")),
                none(),
                "SourceNotFound",
            ),
            (
                "wrong engine",
                spec(),
                env(|w| {
                    w.clusters
                        .update_cluster("orders", |c| c.engine = "aurora-postgresql".into())
                }),
                "InvalidInput",
            ),
            (
                "Aurora MySQL 1",
                spec(),
                env(|w| {
                    w.clusters
                        .update_cluster("orders", |c| c.engine_version = "5.6.10a".into())
                }),
                "InvalidInput",
            ),
            (
                "source not available",
                spec(),
                env(|w| w.clusters.set_cluster_status("orders", "modifying")),
                "SourceNotAvailable",
            ),
            (
                "already encrypted, no key named",
                with(spec(), "/kmsKeyId", Value::Null),
                env(|w| w.clusters.set_cluster_encrypted("orders", true)),
                "SourceAlreadyEncrypted",
            ),
            (
                "already encrypted with the named key",
                spec(),
                env(|w| {
                    w.clusters.update_cluster("orders", |c| {
                        c.storage_encrypted = true;
                        c.kms_key_id = Some(fakes::key_arn("alias/aurora-orders"));
                    })
                }),
                "SourceAlreadyEncrypted",
            ),
            (
                "disabled KMS key",
                spec(),
                env(|w| {
                    w.kms
                        .update("alias/aurora-orders", |k| k.state = "Disabled".into())
                }),
                "KmsKeyUnusable",
            ),
            (
                "asymmetric KMS key",
                spec(),
                env(|w| {
                    w.kms
                        .update("alias/aurora-orders", |k| k.spec = "RSA_2048".into())
                }),
                "KmsKeyUnusable",
            ),
            (
                "unknown KMS alias",
                with(spec(), "/kmsKeyId", json!("alias/nope")),
                none(),
                "KmsKeyUnusable",
            ),
            (
                "KMS key in another region",
                spec(),
                env(|w| {
                    w.kms.update("alias/aurora-orders", |k| {
                        k.arn = k.arn.replace("eu-west-1", "us-east-1")
                    })
                }),
                "KmsKeyUnusable",
            ),
            (
                "backtrack on",
                spec(),
                env(|w| {
                    w.clusters
                        .update_cluster("orders", |c| c.backtrack_window = 3600)
                }),
                "BacktrackEnabled",
            ),
            (
                "binlog MIXED",
                spec(),
                env(|w| {
                    w.parameters
                        .set("orders-params", "binlog_format", Some("MIXED"))
                }),
                "BinlogFormatNotRow",
            ),
            (
                "binlog off in the default group",
                spec(),
                env(|w| {
                    w.clusters.update_cluster("orders", |c| {
                        c.cluster_parameter_group = Some("default.aurora-mysql8.0".into())
                    })
                }),
                "BinlogFormatNotRow",
            ),
            (
                "associated IAM role",
                spec(),
                env(|w| {
                    w.clusters.update_cluster("orders", |c| {
                        c.extras.associated_roles =
                            vec!["arn:aws:iam::123456789012:role/s3 (s3Import)".into()]
                    })
                }),
                "SourceFeatureNotCarried",
            ),
            (
                "Kerberos domain",
                spec(),
                env(|w| {
                    w.clusters.update_cluster("orders", |c| {
                        c.extras.domains = vec!["d-1234567890".into()]
                    })
                }),
                "SourceFeatureNotCarried",
            ),
            (
                "enhanced monitoring on a reader",
                spec(),
                env(|w| {
                    w.clusters
                        .update_instance("orders-reader-2", |i| i.extras.monitoring_interval = 60)
                }),
                "SourceFeatureNotCarried",
            ),
            (
                "enhanced binlog on",
                spec(),
                env(|w| {
                    w.parameters
                        .set("orders-params", "aurora_enhanced_binlog", Some("1"))
                }),
                "EnhancedBinlogEnabled",
            ),
            (
                "ROW not applied yet",
                spec(),
                env(|w| {
                    w.parameters
                        .set_pending_reboot("orders", &["orders-writer"])
                }),
                "BinlogFormatNotRow",
            ),
            (
                "default group with a read-only fence",
                spec(),
                env(|w| {
                    w.parameters
                        .set("default.aurora-mysql8.0", "binlog_format", Some("ROW"));
                    w.clusters.update_cluster("orders", |c| {
                        c.cluster_parameter_group = Some("default.aurora-mysql8.0".into())
                    })
                }),
                "SharedParameterGroup",
            ),
            (
                "shared group with a read-only fence",
                spec(),
                env(|w| w.parameters.use_group("payments", "orders-params")),
                "SharedParameterGroup",
            ),
            (
                "retention too short",
                spec(),
                env(|w| *w.retention.hours.lock().unwrap() = Some(6)),
                "BinlogRetentionTooShort",
            ),
            (
                "retention not set",
                spec(),
                env(|w| *w.retention.hours.lock().unwrap() = None),
                "BinlogRetentionTooShort",
            ),
            (
                "target id taken by a foreign cluster",
                spec(),
                env(|w| w.clusters.add_foreign_cluster("orders-encrypted")),
                "TargetClusterTaken",
            ),
            (
                "target instance id taken",
                spec(),
                env(|w| {
                    w.clusters
                        .add_instance("orders-encrypted-reader-1", Some("other"))
                }),
                "TargetClusterTaken",
            ),
            (
                "record pointing elsewhere",
                spec(),
                env(|w| {
                    w.dns = FakeDns::with_record("db.example.com", "CNAME", Some("x.example.org"))
                }),
                "DnsRecordNotOnSource",
            ),
            (
                "record missing",
                spec(),
                env(|w| w.dns = FakeDns::default()),
                "DnsRecordNotOnSource",
            ),
            (
                "alias record",
                spec(),
                env(|w| w.dns = FakeDns::with_record("db.example.com", "A", None)),
                "DnsRecordNotOnSource",
            ),
            (
                "throttled describe",
                spec(),
                env(|w| {
                    w.clusters.fail_next(
                        "describe_cluster",
                        PortError::Transient("Throttling".into()),
                    )
                }),
                "Transient",
            ),
        ];
        assert!(cases.len() >= 20);
        for (case, spec, setup, name) in cases {
            let mut world = World::new();
            setup(&mut world);
            let error = world.run(spec).await.expect_err(case);
            assert_eq!(error.error_name(), name, "{case}: {error}");
            #[cfg(feature = "lambda")]
            {
                let diagnostic: lambda_runtime::Diagnostic = error.into();
                assert_eq!(diagnostic.error_type, name, "{case}");
            }
            world.assert_nothing_changed(case);
        }
    }
}
