//! The plan: every resource a real run creates, modifies or deletes, in the order the steps
//! touch them, stored with what preflight found at `$.preflight`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::naming;
use crate::ports::{Cluster, Clusters, DatabaseEndpoint, ReadOnlyBypassUser, RetentionChange};
use crate::spec::{FenceMethod, MigrationSpec, ReplicationSpec};
use crate::steps::source_lock::LockReport;

use super::{PreflightError, DEFAULT_KMS_KEY};

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
    /// With `binlogRetention.set`, the raise a real run made (a dry run: the one it would make)
    /// and the original cleanup or rollback puts back; `None` when nothing is to change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog_retention_change: Option<RetentionChange>,
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
    /// What verification compares, and what it costs while writes are fenced.
    #[serde(default)]
    pub verification: String,
    /// What runs on the target once in sync, before the switchover gate: the parity check,
    /// the smoke tests and the pre-warm, one line each. They read only; a failing check or
    /// smoke test rolls back before the fence.
    #[serde(default)]
    pub before_switchover: Vec<String>,
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

/// The target instances, writer first, with their class; an id held by an instance outside the
/// target cluster is taken.
pub(super) async fn plan_instances(
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

/// Every resource of the run, in the order the steps touch them.
pub(super) fn plan_resources(
    spec: &MigrationSpec,
    source: &Cluster,
    execution: &str,
    target_action: PlannedAction,
    instances: Vec<PlannedResource>,
    retention_change: Option<&RetentionChange>,
) -> Vec<PlannedResource> {
    let target_id = spec.target_cluster_id();
    let migration = naming::migration_name(&target_id);
    let mut plan = retention_resource(source, retention_change);
    plan.push(PlannedResource::new(
        PlannedAction::Create,
        "db-cluster-snapshot",
        naming::snapshot_id(&source.id, execution),
        "Snapshot",
        None,
    ));
    plan.extend(target_cluster_resources(
        spec,
        source,
        &target_id,
        target_action,
    ));
    plan.extend(instances);
    plan.extend(replication_resources(spec, source, &target_id, &migration));
    plan.extend(failback_resources(spec, source, &target_id));
    plan.extend(fence_resources(spec, source));
    plan.extend(dns_resource(spec));
    plan.extend(cleanup_resources(
        spec, source, execution, &target_id, migration,
    ));
    plan
}

/// The plan's `kind` of the source's binlog retention.
pub(super) const RETENTION_KIND: &str = "binlog-retention";

/// The source's binlog retention, raised by Preflight before the snapshot and put back by
/// Cleanup (or the rollback's cleanup).
pub(super) fn retention_resource(
    source: &Cluster,
    change: Option<&RetentionChange>,
) -> Vec<PlannedResource> {
    let Some(change) = change else {
        return Vec::new();
    };
    let original = change
        .original_hours
        .map_or_else(|| "not set".to_string(), |h| format!("{h} h"));
    vec![PlannedResource::new(
        PlannedAction::Modify,
        RETENTION_KIND,
        source.id.clone(),
        "Preflight",
        Some(format!(
            "binlog retention hours {original} -> {} h; Cleanup (or the rollback) puts {original} back",
            change.set_hours
        )),
    )]
}

impl PlannedResource {
    fn new(
        action: PlannedAction,
        kind: &str,
        name: String,
        step: &str,
        detail: Option<String>,
    ) -> Self {
        Self {
            action,
            kind: kind.into(),
            name,
            step: step.into(),
            detail,
        }
    }
}

/// The restored cluster and, unless the source uses an AWS default group (which cannot be
/// copied), its own copy of the source's cluster parameter group.
fn target_cluster_resources(
    spec: &MigrationSpec,
    source: &Cluster,
    target_id: &str,
    target_action: PlannedAction,
) -> Vec<PlannedResource> {
    let mut plan = Vec::new();
    if let Some(group) = source
        .cluster_parameter_group
        .as_ref()
        .filter(|g| !g.starts_with("default."))
    {
        plan.push(PlannedResource::new(
            target_action.clone(),
            "db-cluster-parameter-group",
            naming::target_parameter_group(target_id),
            "Restore",
            Some(format!("copy of `{group}`")),
        ));
    }
    plan.push(PlannedResource::new(
        target_action,
        "db-cluster",
        target_id.to_string(),
        "Restore",
        Some(format!(
            "encrypted with `{}`",
            spec.kms_key_id.as_deref().unwrap_or(DEFAULT_KMS_KEY)
        )),
    ));
    plan
}

/// DMS creates several resources per migration; native replication is one channel on the target.
fn replication_resources(
    spec: &MigrationSpec,
    source: &Cluster,
    target_id: &str,
    migration: &str,
) -> Vec<PlannedResource> {
    match &spec.replication {
        ReplicationSpec::Dms(_) => naming::dms_resource_names(migration)
            .into_iter()
            .map(|(kind, name)| {
                PlannedResource::new(PlannedAction::Create, kind, name, "CreateMigration", None)
            })
            .collect(),
        ReplicationSpec::Native(_) => vec![PlannedResource::new(
            PlannedAction::Create,
            "binlog-replication",
            migration.to_string(),
            "CreateMigration",
            Some(format!("on `{target_id}`, from `{}`", source.id)),
        )],
    }
}

/// With a failback window, the replication back from the target to the source
/// (StartReverseReplication, named after the source), removed by Cleanup when the window ends.
fn failback_resources(
    spec: &MigrationSpec,
    source: &Cluster,
    target_id: &str,
) -> Vec<PlannedResource> {
    if !spec.failback.enabled() {
        return Vec::new();
    }
    let migration = naming::migration_name(&source.id);
    let detail = format!(
        "failback window of {} h: from `{target_id}` back to `{}`, which stays fenced; Cleanup removes it",
        spec.failback.window_hours, source.id
    );
    let names: Vec<(&str, String)> = match &spec.replication {
        ReplicationSpec::Dms(_) => naming::dms_resource_names(&migration).into(),
        ReplicationSpec::Native(_) => vec![("binlog-replication", migration)],
    };
    names
        .into_iter()
        .map(|(kind, name)| {
            PlannedResource::new(
                PlannedAction::Create,
                kind,
                name,
                "StartReverseReplication",
                Some(detail.clone()),
            )
        })
        .collect()
}

/// What each fence method changes on the source, then the tag that records the fence.
fn fence_resources(spec: &MigrationSpec, source: &Cluster) -> Vec<PlannedResource> {
    let mut plan: Vec<PlannedResource> = spec
        .switchover
        .fence
        .iter()
        .map(|method| {
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
            PlannedResource::new(
                PlannedAction::Modify,
                kind,
                name,
                "FenceWrites",
                Some(detail),
            )
        })
        .collect();
    plan.push(PlannedResource::new(
        PlannedAction::Modify,
        "db-cluster-tag",
        source.id.clone(),
        "FenceWrites",
        Some("the fence record, removed when the fence is lifted".into()),
    ));
    plan
}

fn dns_resource(spec: &MigrationSpec) -> Option<PlannedResource> {
    spec.dns.as_ref().map(|dns| {
        PlannedResource::new(
            PlannedAction::Modify,
            "route53-record",
            dns.record_name.clone(),
            "SwapDns",
            Some(format!(
                "TTL lowered to {} s early in the run, CNAME to the target writer endpoint at the switchover, TTL put back after cleanup or rollback",
                dns.ttl_seconds
            )),
        )
    })
}

/// What `cleanup` asks for: the replication's resources, the source (after a final snapshot),
/// and the target if the run rolls back.
fn cleanup_resources(
    spec: &MigrationSpec,
    source: &Cluster,
    execution: &str,
    target_id: &str,
    migration: String,
) -> Vec<PlannedResource> {
    let mut plan = Vec::new();
    if spec.cleanup.delete_migration_resources {
        plan.push(PlannedResource::new(
            PlannedAction::Delete,
            "replication",
            migration,
            "Cleanup",
            Some("every replication resource above, after the switchover".into()),
        ));
    }
    if spec.cleanup.retire_source {
        plan.push(PlannedResource::new(
            PlannedAction::Create,
            "db-cluster-snapshot",
            naming::final_snapshot_id(&source.id, execution),
            "Cleanup",
            Some("final snapshot of the source".into()),
        ));
        plan.push(PlannedResource::new(
            PlannedAction::Delete,
            "db-cluster",
            source.id.clone(),
            "Cleanup",
            Some("the source and its instances, after the final snapshot".into()),
        ));
    }
    if spec.cleanup.disable_source_binlog && !spec.cleanup.retire_source {
        if let Some(group) = &source.cluster_parameter_group {
            plan.push(PlannedResource::new(
                PlannedAction::Modify,
                "db-cluster-parameter-group",
                group.clone(),
                "Cleanup",
                Some(format!(
                    "binlog_format=OFF after the switchover, applied at `{}`'s next reboot (never on rollback)",
                    source.id
                )),
            ));
        }
    }
    if spec.cleanup.delete_target_on_rollback {
        plan.push(PlannedResource::new(
            PlannedAction::Delete,
            "db-cluster",
            target_id.to_string(),
            "Cleanup",
            Some("only on rollback".into()),
        ));
    }
    plan
}

/// What `verify` compares, and what that costs while writes are fenced, in a sentence.
/// [`PreflightPlan::before_switchover`]: the states between catch-up and the gate, as the spec
/// sets them up.
pub(crate) fn before_switchover(spec: &crate::spec::MigrationSpec) -> Vec<String> {
    let mut lines = Vec::new();
    let allowed = match spec.parity.ignore.len() {
        0 => "no difference allowed".to_string(),
        n => format!("differences allowed by {n} parity.ignore pattern(s)"),
    };
    lines.push(if spec.parity.enabled {
        format!("CheckParity: global variables, events, triggers, routines, views, time zone tables and accounts (SQL), and the cluster's and instances' settings (RDS), source against target; {allowed}")
    } else {
        "CheckParity: settings not compared (parity.enabled false); accounts still compared while fenced".into()
    });
    if let Some(smoke) = &spec.smoke {
        if !smoke.queries.is_empty() {
            lines.push(format!(
                "CheckParity: {} smoke quer{} on the target's writer, read-only, each within {} s",
                smoke.queries.len(),
                if smoke.queries.len() == 1 { "y" } else { "ies" },
                smoke.timeout_seconds
            ));
        }
        if let Some(function) = &smoke.function_arn {
            lines.push(format!(
                "SmokeFunction: invokes {function} with the target's endpoints; an error it raises rolls back"
            ));
        }
    }
    if let Some(prewarm) = &spec.prewarm {
        let tables = if prewarm.tables.is_empty() {
            String::new()
        } else {
            format!(", then the primary keys of {}", prewarm.tables.join(", "))
        };
        lines.push(format!(
            "Prewarm: the source's top {} statements by total time, SELECTs only, replayed on the target's writer and readers{tables}, within {} s",
            prewarm.top_statements, prewarm.time_budget_seconds
        ));
    }
    lines
}

pub(crate) fn verification_cost(verify: &crate::spec::VerifySpec) -> String {
    use crate::spec::VerifyMode;
    match verify.mode {
        VerifyMode::Online => format!(
            "online: every table in chunks of {} rows before the switchover gate; while fenced, only the rows the binlog shows written since (every table whole above {} rows)",
            verify.chunk_rows, verify.max_touched_rows
        ),
        VerifyMode::FullFenced => "full-fenced: counts and CHECKSUM TABLE of every table while fenced: the write pause grows with the data".into(),
        VerifyMode::Counts => "counts: COUNT(*) of every table while fenced: the write pause grows with the data".into(),
        VerifyMode::Off => "off: source and target are not compared".into(),
    }
}
