//! The checks, one function each: they only read, and each refuses with its own error.

use crate::errors::InvalidInput;
use crate::naming;
use crate::ports::{
    BinlogRetention, Cluster, ClusterParameters, Clusters, DatabaseEndpoint, Dns, FenceSql, KmsKey,
    KmsKeys, ReadOnlyBypassUser,
};
use crate::spec::{FenceMethod, MigrationSpec, ReplicationSpec, VerifyMode};

use super::{
    EncryptionPlan, PlannedAction, PreflightError, PreflightSettings, SqlTls, DEFAULT_KMS_KEY,
};

/// The source exists, runs Aurora MySQL 2 or 3 and is `available`; with its major version.
pub(super) async fn check_source(
    source_id: &str,
    clusters: &dyn Clusters,
) -> Result<(Cluster, u8), PreflightError> {
    let source = clusters
        .describe_cluster(source_id)
        .await?
        .ok_or_else(|| PreflightError::SourceNotFound(source_id.to_string()))?;
    if source.engine != "aurora-mysql" {
        return Err(PreflightError::WrongEngine {
            cluster: source_id.to_string(),
            engine: source.engine,
        });
    }
    let major = engine_major_version(&source.engine_version).ok_or_else(|| {
        PreflightError::UnsupportedVersion {
            cluster: source_id.to_string(),
            version: source.engine_version.clone(),
        }
    })?;
    if source.status != "available" {
        return Err(PreflightError::SourceNotAvailable {
            cluster: source_id.to_string(),
            status: source.status,
        });
    }
    Ok((source, major))
}

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

pub(super) async fn check_encryption(
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

/// Binlog replication from a restored copy needs backtrack off.
pub(super) fn check_backtrack(source_id: &str, source: &Cluster) -> Result<(), PreflightError> {
    if source.backtrack_window > 0 {
        return Err(PreflightError::BacktrackEnabled {
            cluster: source_id.to_string(),
            seconds: source.backtrack_window,
        });
    }
    Ok(())
}

/// The restore carries Serverless v2 scaling, storage type, network type, the instances' CA
/// certificate and Performance Insights. Associated IAM roles, a Kerberos domain and enhanced
/// monitoring each need `iam:PassRole` on a role of the account's own that the deployment does
/// not know, so they are refused here, by name, before anything is created.
pub(super) async fn check_carried_features(
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

pub(super) async fn check_parameter_group(
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
    let read_only_fence = spec.switchover.fence.contains(&FenceMethod::ReadOnly);
    let disables_binlog = spec.cleanup.disable_source_binlog && !spec.cleanup.retire_source;
    if read_only_fence || disables_binlog {
        if let Some(reason) = shared_group(&group, source, parameters).await? {
            return Err(if read_only_fence {
                PreflightError::SharedParameterGroup { group, reason }
            } else {
                PreflightError::SourceBinlogGroupShared { group, reason }
            });
        }
    }
    Ok(group)
}

/// Why changing `group` would change more than the source, if it would.
async fn shared_group(
    group: &str,
    source: &Cluster,
    parameters: &dyn ClusterParameters,
) -> Result<Option<String>, PreflightError> {
    if group.starts_with("default.") {
        return Ok(Some("it is an AWS default group, which cannot be modified and is shared by every cluster that uses it".into()));
    }
    let others: Vec<String> = parameters
        .clusters_using(group)
        .await?
        .into_iter()
        .filter(|c| *c != source.id)
        .collect();
    Ok((!others.is_empty()).then(|| format!("clusters {others:?} use it too")))
}

/// The fence security group already on the source: the fence keeps it and removes the others.
pub(super) fn fence_group_warning(spec: &MigrationSpec, source: &Cluster) -> Option<String> {
    if !spec.switchover.fence.contains(&FenceMethod::SecurityGroup) {
        return None;
    }
    let fence_group = spec.switchover.fence_security_group_id.as_ref()?;
    source.vpc_security_group_ids.contains(fence_group).then(|| {
        format!(
            "the fence security group `{fence_group}` is already attached to the source: the fence will remove the others"
        )
    })
}

/// Verification and the native engine log in to the clusters over TLS from other functions,
/// the first of them after the snapshot and Verify while writes are fenced: a bundle they lack
/// is refused here, before anything is created.
pub(super) fn check_sql_tls(spec: &MigrationSpec, tls: &SqlTls) -> Result<(), PreflightError> {
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

/// The state machine's role may invoke only the functions the stack names: another would fail
/// after the restore, with an AccessDenied that takes minutes of retries to surface.
pub(super) fn check_smoke_function(
    spec: &MigrationSpec,
    allowed: Option<&[String]>,
) -> Result<(), PreflightError> {
    let (Some(function), Some(allowed)) = (
        spec.smoke.as_ref().and_then(|s| s.function_arn.as_ref()),
        allowed,
    ) else {
        return Ok(());
    };
    if allowed.iter().any(|a| a == function) {
        return Ok(());
    }
    Err(InvalidInput::new(
        "smoke.functionArn",
        format!(
            "is not a function this deployment may invoke: add `{function}` (as written, with its version or alias) to the stack's SmokeFunctionArns parameter"
        ),
    )
    .into())
}

pub(super) async fn check_retention(
    spec: &MigrationSpec,
    endpoint: Option<&DatabaseEndpoint>,
    retention: Option<&dyn BinlogRetention>,
    settings: &PreflightSettings,
    warnings: &mut Vec<String>,
) -> Result<Option<u32>, PreflightError> {
    let required = settings.min_binlog_retention_hours;
    let secret = spec.binlog_retention_secret_arn();
    let (Some(retention), Some(endpoint)) = (retention, endpoint) else {
        if spec.binlog_retention.set {
            return Err(PreflightError::BinlogRetentionNotSettable(
                "preflight has no SQL access to the source".into(),
            ));
        }
        warnings.push(format!(
            "binlog retention was not checked (no SQL access from preflight); make sure it is at least {required} hours: CALL mysql.rds_set_configuration('binlog retention hours', {required})"
        ));
        return Ok(None);
    };
    let hours = retention.retention_hours(endpoint, secret).await?;
    match hours {
        Some(h) if h >= required => Ok(Some(h)),
        // Raised after the lock is taken (`set_retention`), put back at the end.
        found if spec.binlog_retention.set => Ok(found),
        found => Err(PreflightError::BinlogRetentionTooShort {
            found: found.map_or_else(|| "not set".into(), |h| format!("{h} hours")),
            required,
        }),
    }
}

/// Users `read_only` does not stop. Aurora's own `rdsadmin` is left out: the fence never ends
/// its sessions and it writes no application data.
pub(super) async fn check_bypass_users(
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
pub(super) async fn check_target(
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

pub(super) async fn check_dns(
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

fn same_dns_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}
