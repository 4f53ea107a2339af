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
//!
//! Layout: `input` parses the execution input, `checks` holds one function per check, `plan` the
//! plan of resources, `error` the error names; `run` puts them in order.

mod checks;
mod error;
mod input;
mod plan;
#[cfg(test)]
mod tests;

pub use checks::engine_major_version;
pub use error::PreflightError;
pub use plan::{EncryptionPlan, PlannedAction, PlannedResource, PreflightPlan};

use serde::Deserialize;
use serde_json::Value;

use crate::errors::PortError;
use crate::ports::{
    BinlogRetention, Clock, ClusterParameters, Clusters, DatabaseEndpoint, Dns, FenceSql, KmsKeys,
    RetentionChange, SourceLock,
};
use crate::spec::MigrationSpec;
use crate::state::ExecutionRef;
use crate::steps::source_lock::{self, HeldLock};

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

/// Everything preflight runs over: the ports it reads through, the lock it takes, its settings.
/// `retention` is optional: without it the binlog retention check becomes a warning in the plan.
pub struct Deps<'a> {
    pub clusters: &'a dyn Clusters,
    pub parameters: &'a dyn ClusterParameters,
    pub kms: &'a dyn KmsKeys,
    pub dns: &'a dyn Dns,
    pub retention: Option<&'a dyn BinlogRetention>,
    /// `None`: the users that bypass `read_only` are not listed (a warning in the plan).
    pub fence_sql: Option<&'a dyn FenceSql>,
    pub clock: &'a dyn Clock,
    pub lock: &'a dyn SourceLock,
    pub settings: PreflightSettings,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightSettings {
    pub min_binlog_retention_hours: u32,
    /// Whether the functions that speak SQL to the clusters can verify their TLS certificates.
    pub sql_tls: SqlTls,
    /// The Lambda functions the state machine may invoke for `smoke.functionArn` (the stack's
    /// `SmokeFunctionArns`); `None` where any may be named (the local engine answers one it does
    /// not run as Lambda answers a missing function).
    pub smoke_functions: Option<Vec<String>>,
}

impl Default for PreflightSettings {
    fn default() -> Self {
        Self {
            min_binlog_retention_hours: DEFAULT_MIN_BINLOG_RETENTION_HOURS,
            sql_tls: SqlTls::Ready,
            smoke_functions: None,
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

pub async fn run(input: &PreflightInput, deps: &Deps<'_>) -> Result<Value, PreflightError> {
    let settings = &deps.settings;
    let now = deps.clock.now();
    let mut spec = input::parse_spec(input, now)?;
    checks::check_sql_tls(&spec, &settings.sql_tls)?;
    checks::check_smoke_function(&spec, settings.smoke_functions.as_deref())?;
    let execution_id = input::execution_id(input)?;
    input::resolve_resource_id(&mut spec, deps.clusters, now).await?;
    let mut warnings = Vec::new();

    let (source, major) = checks::check_source(&spec.source_cluster_id, deps.clusters).await?;
    let encryption = checks::check_encryption(&spec, &source, deps.kms).await?;
    checks::check_backtrack(&spec.source_cluster_id, &source)?;
    checks::check_carried_features(&spec, &source, deps.clusters).await?;
    let group = checks::check_parameter_group(&spec, &source, deps.parameters).await?;
    warnings.extend(checks::fence_group_warning(&spec, &source));
    if spec.failback.enabled() {
        warnings.push(format!(
            "failback.windowHours {h}: for {h} h after the switchover the source `{}`, which is not encrypted, receives every write again through the replication back (and keeps it in its storage and backups); the source is not retired before the window ends",
            spec.source_cluster_id,
            h = spec.failback.window_hours
        ));
    }

    let writer_endpoint = source.endpoint.as_ref().map(|host| DatabaseEndpoint {
        cluster_id: source.id.clone(),
        host: host.clone(),
        port: source.port.unwrap_or(3306),
    });
    let retention = checks::check_retention(
        &spec,
        writer_endpoint.as_ref(),
        deps.retention,
        settings,
        &mut warnings,
    )
    .await?;

    let bypass = checks::check_bypass_users(&spec, deps.fence_sql, &mut warnings).await?;

    let target_id = spec.target_cluster_id();
    let target_action = checks::check_target(&source, &target_id, deps.clusters).await?;
    let instances = plan::plan_instances(&spec, &source, &target_id, deps.clusters).await?;

    let dns_ttl_seconds = match &spec.dns {
        Some(dns) => checks::check_dns(dns, &source, deps.dns).await?,
        None => None,
    };

    spec.target_cluster_id = Some(target_id.clone());
    // The state machine chooses the swap by it.
    spec.switchover.method = spec.switchover_method();
    spec.kms_key_id = Some(encryption.kms_key_arn.clone());
    let required = settings.min_binlog_retention_hours;
    let retention_change = (spec.binlog_retention.set
        && retention.is_none_or(|hours| hours < required))
    .then_some(RetentionChange {
        original_hours: retention,
        set_hours: required,
    });
    let resources = plan::plan_resources(
        &spec,
        &source,
        &input.execution.name,
        target_action,
        instances,
        retention_change.as_ref(),
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
        required_binlog_retention_hours: required,
        binlog_retention_change: retention_change,
        resources,
        read_only_bypass_users: bypass,
        warnings,
        checked_at: now,
        dns_ttl_seconds,
        verification: plan::verification_cost(&spec.verify),
        before_switchover: plan::before_switchover(&spec),
        lock: None,
    };
    // Last: a run refused here has created nothing, and a lock is never held by a run that
    // failed its checks.
    let held: Option<HeldLock> = if spec.dry_run {
        plan.lock = Some(
            source_lock::inspect(deps.lock, &source.arn, &execution_id, deps.clock.now()).await?,
        );
        None
    } else {
        Some(source_lock::acquire(deps.lock, &source.arn, &execution_id, deps.clock.now()).await?)
    };
    if let (true, false, Some(endpoint), Some(port)) = (
        spec.binlog_retention.set,
        spec.dry_run,
        &plan.source_writer_endpoint,
        deps.retention,
    ) {
        // After the lock: only the execution that holds the source changes it. The original
        // comes back from the record on the source, so a retried Preflight reports the first
        // change, not a retention it raised itself.
        let raised = port
            .raise_retention(
                endpoint,
                spec.binlog_retention_secret_arn(),
                required,
                &input.execution.name,
            )
            .await;
        match raised {
            Ok(change) => {
                plan.resources.retain(|r| r.kind != plan::RETENTION_KIND);
                let row = plan::retention_resource(&source, change.as_ref());
                plan.resources.splice(0..0, row);
                plan.binlog_retention_change = change;
            }
            // Refused: this run never starts, so it does not keep the source locked.
            Err(error) => {
                if let Some(held) = &held {
                    source_lock::release(deps.lock, held).await?;
                }
                return Err(PreflightError::BinlogRetentionNotSettable(format!(
                    "raising it failed: {error}"
                )));
            }
        }
    }

    document(&spec, &input.execution.name, &plan, held)
}

/// The state document: the normalised spec, the execution's name, the plan and the lock held.
fn document(
    spec: &MigrationSpec,
    execution_name: &str,
    plan: &PreflightPlan,
    held: Option<HeldLock>,
) -> Result<Value, PreflightError> {
    let mut document = serde_json::to_value(spec)
        .map_err(|e| PortError::Other(format!("serializing the spec: {e}")))?;
    if let Value::Object(map) = &mut document {
        map.insert(
            "execution".into(),
            serde_json::json!({ "name": execution_name }),
        );
        map.insert(
            "preflight".into(),
            serde_json::to_value(plan)
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
