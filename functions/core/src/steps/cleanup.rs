//! Cleanup: removes what the run created and no longer needs, and nothing else.
//!
//! - The replication (DMS data migration, project, instance profile, data providers; or the
//!   native replication on the target) is stopped and removed when
//!   `cleanup.deleteMigrationResources` is set, and always on rollback. Only a replication named
//!   after this target ([`naming::migration_name`]) is removed.
//! - The source is never deleted unless `cleanup.retireSource` is set, the switchover happened
//!   (`fence.fenced`), and a final snapshot ([`naming::final_snapshot_id`]) this step took is
//!   `available`. Then its instances and the cluster are deleted.
//! - On rollback (`rollback: true`, set by the state machine's rollback path) with
//!   `cleanup.deleteTargetOnRollback`, the target is deleted, but only if it carries our owner
//!   tag for this source. Otherwise the target is kept for inspection.
//!
//! - The fence's schema (`aurora_encrypt`: the drain's marker rows, the write probe) and its probe
//!   user are dropped on both sides, whenever the run got as far as fencing.
//!
//! Each invocation does what it can and fails with `NotReady` while something it waits for is
//! in progress (a stop, a snapshot, instance deletions); the state machine retries it.
//! The target's copy of the parameter group is left in place (it costs nothing and the target
//! uses it).
//! - With `cleanup.disableSourceBinlog`, after a switchover that keeps the source,
//!   `binlog_format=OFF` is set in the source's own cluster parameter group (Preflight refused a
//!   shared one), applied at its next reboot.
//! - With `binlogRetention.set`, the source's binlog retention is put back to the original
//!   Preflight recorded on it, whenever the source is kept (after a switchover without
//!   `retireSource`, and on rollback).
//!
//! - With a failback window (`failback.windowHours`), the replication back to the old cluster
//!   (`reverse.migration`) is removed like the forward one, through the engine `reverse`
//!   describes. The source is retired only once the window is over (`window`, how it ended) and
//!   never after a failback: it is the primary again.
//!
//! As wired ([`run_holding_lock`]), the source's lock (`lock`) bounds the run: after a
//! switchover, cleanup (and retiring the source) acts only while this execution holds it; once
//! cleanup or the rollback's cleanup is done, the lock is released (`lock` in the output). A
//! rollback's cleanup touches only this run's own resources, so it goes ahead whoever holds the
//! lock, and releases it only if it is still this execution's.
//!
//! Input: the state document (`sourceClusterId`, `targetClusterId`, `execution`, `cleanup`,
//! `migration`?, `fence`?, `unfence`?, `rollback`?, `lock`?). Output: [`CleanupOutput`] at `$.cleanedUp`
//! (`$.cleanup` holds the spec's cleanup settings).
//! Errors: `NotReady`, `SnapshotFailed`, `InvalidInput`, `TargetClusterTaken`, `Transient`,
//! `SourceBusy`.

use serde::{Deserialize, Serialize};

use crate::error_names;
use crate::errors::{impl_diagnostic, NamedError, PortError, Resource};
use crate::naming;
use crate::ports::{
    BinlogRetention, Clock, ClusterParameters, ClusterRetirement, Clusters, CreateSnapshotRequest,
    DatabaseEndpoint, FenceSql, Replication, ReplicationState, RetentionChange, SourceLock,
};
use crate::spec::{BinlogRetentionSpec, CleanupSpec, FailbackSpec, ReplicationSpec};
use crate::state::{ExecutionRef, MigrationOutput};
use crate::steps::fence_writes::FenceOutput;
use crate::steps::source_lock::{self, HeldLock, LockError, ReleaseOutcome};

/// `dms:*` removes a DMS migration and `secretsmanager:GetSecretValue` a native one; `rds:*`
/// retires clusters when asked.
pub const IAM_ACTIONS: &[&str] = &[
    "dms:DescribeDataMigrations",
    "dms:StopDataMigration",
    "dms:DeleteDataMigration",
    "dms:DeleteMigrationProject",
    "dms:DeleteInstanceProfile",
    "dms:DeleteDataProvider",
    "rds:DescribeDBClusters",
    "rds:DescribeDBClusterSnapshots",
    "rds:CreateDBClusterSnapshot",
    "rds:AddTagsToResource",
    "rds:ModifyDBCluster",
    "rds:DeleteDBInstance",
    "rds:DeleteDBCluster",
    "rds:ModifyDBClusterParameterGroup",
    "secretsmanager:GetSecretValue",
    "kms:Decrypt",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanupInput {
    pub source_cluster_id: String,
    #[serde(default)]
    pub target_cluster_id: Option<String>,
    pub execution: ExecutionRef,
    #[serde(default)]
    pub cleanup: CleanupSpec,
    #[serde(default)]
    pub migration: Option<MigrationOutput>,
    #[serde(default)]
    pub fence: Option<FenceOutput>,
    /// Present when the rollback lifted a fence (possibly one that failed half-way, leaving no
    /// `fence`): the fence's schema may exist.
    #[serde(default)]
    pub unfence: Option<FenceOutput>,
    /// Set by the rollback path: remove the replication, delete the target if asked, and
    /// leave the source as it was before the run (its binlog retention put back).
    #[serde(default)]
    pub rollback: bool,
    /// The source's lock this execution took in Preflight (`$.lock`).
    #[serde(default)]
    pub lock: Option<HeldLock>,
    /// With `binlogRetention.set`, the source's retention is put back.
    #[serde(default)]
    pub binlog_retention: BinlogRetentionSpec,
    /// The spec's replication: the source's secret, to put the retention back.
    #[serde(default)]
    pub replication: Option<ReplicationSpec>,
    /// Preflight's plan (`$.preflight`): the source's writer endpoint.
    #[serde(default)]
    pub preflight: Option<PreflightView>,
    /// A `rename` switchover's record (`$.rename`): after it the clusters have each other's
    /// names, and the source's writer endpoint leads to the target.
    #[serde(default)]
    pub rename: Option<crate::steps::rename::RenameOutput>,
    #[serde(default)]
    pub failback: FailbackSpec,
    /// The failback window's view (`$.reverse`): its replication back to the old cluster.
    #[serde(default)]
    pub reverse: Option<ReverseMigration>,
    /// How the failback window ended (`$.window`, the error its branch ended it with).
    #[serde(default)]
    pub window: Option<WindowOutcome>,
    /// Set when a failback failed and was undone (`$.failbackError`).
    #[serde(default)]
    pub failback_error: Option<serde_json::Value>,
}

/// What Cleanup reads of `$.reverse`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReverseMigration {
    #[serde(default)]
    pub migration: Option<MigrationOutput>,
}

/// `$.window`: the failback window's Catch result.
#[derive(Debug, Clone, Deserialize)]
pub struct WindowOutcome {
    #[serde(rename = "Error")]
    pub error: String,
}

impl CleanupInput {
    /// A failback was asked for. Whether it completed (the source is the primary again) or
    /// failed and was undone (a person decides what next), the source is kept.
    fn failback_requested(&self) -> bool {
        self.window
            .as_ref()
            .is_some_and(|w| w.error == error_names::FAILBACK_REQUESTED)
    }
}

impl CleanupInput {
    /// The source's writer endpoint now: after a `rename` switchover, the one it has under its
    /// new name (the name it had leads to the target).
    fn source_writer_endpoint(&self) -> Option<&DatabaseEndpoint> {
        let renamed = self
            .rename
            .as_ref()
            .filter(|r| r.ready && !r.revert)
            .and_then(|r| r.renamed.as_ref())
            .and_then(|r| r.restore.source_endpoint.as_ref());
        renamed.or_else(|| {
            self.preflight
                .as_ref()
                .and_then(|p| p.source_writer_endpoint.as_ref())
        })
    }

    /// The target's id when the replication was created (before a `rename` switchover).
    fn target_id_at_creation(&self, target_id: &str) -> String {
        self.rename
            .as_ref()
            .and_then(|r| {
                r.plan.iter().find(|step| {
                    step.kind == crate::steps::rename::RenameKind::Cluster && step.to == target_id
                })
            })
            .map_or_else(|| target_id.to_string(), |step| step.from.clone())
    }
}

/// What Cleanup reads of Preflight's plan.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreflightView {
    #[serde(default)]
    pub source_writer_endpoint: Option<DatabaseEndpoint>,
    /// The source's own cluster parameter group (`cleanup.disableSourceBinlog`).
    #[serde(default)]
    pub cluster_parameter_group: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanupOutput {
    pub rollback: bool,
    pub replication_removed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_snapshot_id: Option<String>,
    /// Clusters and instances deleted (or being deleted).
    pub deleted: Vec<String>,
    /// What was deliberately left in place.
    pub kept: Vec<String>,
    /// Clusters the fence's schema was dropped from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marker_schema_removed: Vec<String>,
    /// The source's lock, released once cleanup is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<ReleaseOutcome>,
    /// The binlog retention this run had raised and has now put back on the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog_retention_restored: Option<RetentionChange>,
    /// The source's cluster parameter group `binlog_format=OFF` was set in
    /// (`cleanup.disableSourceBinlog`), applied at the source's next reboot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_binlog_disabled_in: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error("waiting: {0}")]
    Waiting(String),
    #[error("replication `{name}` is not the one this run creates (`{expected}`); refusing to remove it")]
    NotOurReplication { name: String, expected: String },
    #[error(
        "`{0}` does not carry aurora-encrypt's owner tag for this source; refusing to delete it"
    )]
    NotOurs(String),
    #[error("retireSource is set but the source was never fenced for a switchover; refusing to delete it")]
    SourceNotSwitchedOver,
    #[error("retireSource is set but the failback window is not over (no `window` outcome): the source is the way back; refusing to delete it")]
    FailbackWindowOpen,
    #[error("final snapshot `{id}` of the source ended in status `{status}`; the source is kept")]
    FinalSnapshotFailed { id: String, status: String },
    #[error(transparent)]
    Port(#[from] PortError),
    #[error(transparent)]
    Lock(#[from] LockError),
}

impl NamedError for CleanupError {
    fn error_name(&self) -> &'static str {
        match self {
            CleanupError::Waiting(_) => error_names::NOT_READY,
            CleanupError::NotOurReplication { .. }
            | CleanupError::SourceNotSwitchedOver
            | CleanupError::FailbackWindowOpen => error_names::INVALID_INPUT,
            CleanupError::NotOurs(_) => error_names::TARGET_CLUSTER_TAKEN,
            CleanupError::FinalSnapshotFailed { .. } => error_names::SNAPSHOT_FAILED,
            CleanupError::Port(e) => e.default_name(),
            CleanupError::Lock(e) => e.error_name(),
        }
    }
}

impl_diagnostic!(CleanupError);

/// What Cleanup runs over.
pub struct Deps<'a> {
    pub replication: &'a dyn Replication,
    /// The engine of the replication back to the old cluster (`reverse`); `None`: `replication`
    /// serves both directions (the sandbox's and the fakes' do).
    pub reverse_replication: Option<&'a dyn Replication>,
    pub clusters: &'a dyn Clusters,
    pub retirement: &'a dyn ClusterRetirement,
    /// Drops the fence's schema.
    pub fence_sql: &'a dyn FenceSql,
    /// Turns the kept source's binlog off (`cleanup.disableSourceBinlog`).
    pub parameters: &'a dyn ClusterParameters,
    /// Puts back the source's binlog retention (`binlogRetention.set`); `None` without SQL
    /// access, which fails a run that needs it.
    pub retention: Option<&'a dyn BinlogRetention>,
    pub clock: &'a dyn Clock,
    /// Checked and released by [`run_holding_lock`].
    pub lock: &'a dyn SourceLock,
}

pub async fn run(input: &CleanupInput, deps: &Deps<'_>) -> Result<CleanupOutput, CleanupError> {
    let (replication, clusters, retirement, fence_sql) = (
        deps.replication,
        deps.clusters,
        deps.retirement,
        deps.fence_sql,
    );
    let target_id = input
        .target_cluster_id
        .clone()
        .unwrap_or_else(|| format!("{}-encrypted", input.source_cluster_id));
    let mut output = CleanupOutput {
        rollback: input.rollback,
        replication_removed: false,
        final_snapshot_id: None,
        deleted: Vec::new(),
        kept: Vec::new(),
        marker_schema_removed: Vec::new(),
        lock: None,
        binlog_retention_restored: None,
        source_binlog_disabled_in: None,
    };

    let reverse = input.reverse.as_ref().and_then(|r| r.migration.as_ref());
    match reverse {
        Some(migration) if input.cleanup.delete_migration_resources => {
            let engine = deps.reverse_replication.unwrap_or(replication);
            remove_replication(migration, &input.source_cluster_id, engine).await?;
            output.replication_removed = true;
        }
        Some(migration) => output
            .kept
            .push(format!("replication `{}`", migration.handle.name)),
        None => {}
    }

    match &input.migration {
        Some(migration) if input.rollback || input.cleanup.delete_migration_resources => {
            remove_replication(
                migration,
                &input.target_id_at_creation(&target_id),
                replication,
            )
            .await?;
            output.replication_removed = true;
        }
        Some(migration) => output
            .kept
            .push(format!("replication `{}`", migration.handle.name)),
        None => {}
    }

    // Before the fence's schema is dropped: the original is recorded there. A retired source
    // is deleted, so only a kept one gets it back.
    let source_kept = input.rollback || input.failback_requested() || !input.cleanup.retire_source;
    if input.binlog_retention.set && source_kept {
        output.binlog_retention_restored = put_back_retention(input, deps.retention).await?;
    }

    if input.fence.is_some() || input.unfence.is_some() {
        for cluster in [input.source_cluster_id.as_str(), target_id.as_str()] {
            match fence_sql.remove_marker_schema(cluster).await {
                Ok(()) => output.marker_schema_removed.push(cluster.to_string()),
                // A target deleted by an earlier attempt has no schema left to drop.
                Err(e) if e.is_not_found(Resource::Cluster) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    if input.rollback {
        if input.cleanup.delete_target_on_rollback {
            let owner = input.source_cluster_id.as_str();
            output.deleted = delete_cluster(&target_id, Some(owner), clusters, retirement).await?;
        } else {
            output.kept.push(format!("target cluster `{target_id}`"));
        }
        output
            .kept
            .push(format!("source cluster `{}`", input.source_cluster_id));
        return Ok(output);
    }

    if input.failback_requested() {
        let why = if input.failback_error.is_some() {
            "a failback was attempted and undone"
        } else {
            "the primary again after the failback"
        };
        output.kept.push(format!(
            "source cluster `{}` ({why})",
            input.source_cluster_id
        ));
        output.kept.push(format!("target cluster `{target_id}`"));
        return Ok(output);
    }

    if input.cleanup.retire_source {
        if !input.fence.as_ref().is_some_and(|f| f.fenced) {
            return Err(CleanupError::SourceNotSwitchedOver);
        }
        if input.failback.enabled() && input.window.is_none() {
            return Err(CleanupError::FailbackWindowOpen);
        }
        let snapshot = final_snapshot(input, clusters).await?;
        output.final_snapshot_id = Some(snapshot);
        output.deleted =
            delete_cluster(&input.source_cluster_id, None, clusters, retirement).await?;
    } else {
        output
            .kept
            .push(format!("source cluster `{}`", input.source_cluster_id));
        if input.cleanup.disable_source_binlog {
            let group = input
                .preflight
                .as_ref()
                .and_then(|p| p.cluster_parameter_group.clone())
                .ok_or_else(|| {
                    PortError::InvalidRequest(
                        "cleanup.disableSourceBinlog is on, but the state document names no source cluster parameter group (preflight.clusterParameterGroup)".into(),
                    )
                })?;
            deps.parameters
                .set_at_reboot(&group, "binlog_format", "OFF")
                .await?;
            output.source_binlog_disabled_in = Some(group);
        }
    }
    Ok(output)
}

/// [`run`] within the source's lock: after a switchover only while this execution holds it;
/// then (and when a rollback's cleanup ends, however it ends) the lock is released if it is
/// still this execution's. While cleanup waits (`NotReady`) the lock stays held.
pub async fn run_holding_lock(
    input: &CleanupInput,
    deps: &Deps<'_>,
) -> Result<CleanupOutput, CleanupError> {
    let lock = deps.lock;
    if !input.rollback {
        source_lock::ensure_held(lock, input.lock.as_ref(), deps.clock.now()).await?;
    }
    let result = run(input, deps).await;
    let Some(held) = &input.lock else {
        return result;
    };
    match result {
        Ok(mut output) => {
            output.lock = Some(source_lock::release(lock, held).await?);
            Ok(output)
        }
        // The state machine calls again while cleanup waits: the run is not over.
        Err(waiting @ CleanupError::Waiting(_)) => Err(waiting),
        // A rollback ends here even when its cleanup fails (it reports what is left); after a
        // switchover the lock stays with the execution until it ends.
        Err(error) => {
            if input.rollback {
                source_lock::release(lock, held).await?;
            }
            Err(error)
        }
    }
}

async fn put_back_retention(
    input: &CleanupInput,
    retention: Option<&dyn BinlogRetention>,
) -> Result<Option<RetentionChange>, CleanupError> {
    let endpoint = input.source_writer_endpoint();
    let (Some(retention), Some(endpoint), Some(replication)) =
        (retention, endpoint, &input.replication)
    else {
        return Err(CleanupError::Port(PortError::InvalidRequest(
            "binlogRetention.set is on, but cleanup has no SQL access to the source, or the state document no source writer endpoint (preflight.sourceWriterEndpoint) or replication secret, to put its binlog retention back with".into(),
        )));
    };
    let secret = input
        .binlog_retention
        .secret_arn
        .as_deref()
        .unwrap_or_else(|| replication.source_secret_arn());
    Ok(retention.put_back_retention(endpoint, secret).await?)
}

async fn remove_replication(
    migration: &MigrationOutput,
    target_id: &str,
    replication: &dyn Replication,
) -> Result<(), CleanupError> {
    let handle = &migration.handle;
    let expected = naming::migration_name(target_id);
    if handle.name != expected {
        return Err(CleanupError::NotOurReplication {
            name: handle.name.clone(),
            expected,
        });
    }
    let state = match replication.status(handle).await {
        Ok(status) => status.state,
        Err(e) if e.is_not_found(Resource::Migration) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    match state {
        ReplicationState::Starting | ReplicationState::Running => {
            replication.stop(handle).await?;
            let after = replication.status(handle).await?;
            if after.state != ReplicationState::Stopped {
                return Err(CleanupError::Waiting(format!(
                    "replication `{}` is stopping",
                    handle.name
                )));
            }
        }
        ReplicationState::Stopping
        | ReplicationState::Creating
        | ReplicationState::Deleting
        | ReplicationState::Unknown => {
            return Err(CleanupError::Waiting(format!(
                "replication `{}` is {state:?}",
                handle.name
            )))
        }
        ReplicationState::Ready | ReplicationState::Stopped | ReplicationState::Failed => {}
    }
    replication.remove(handle).await?;
    Ok(())
}

/// Takes the source's final snapshot, and returns its id once it is available.
async fn final_snapshot(
    input: &CleanupInput,
    clusters: &dyn Clusters,
) -> Result<String, CleanupError> {
    let source = &input.source_cluster_id;
    let id = naming::final_snapshot_id(source, &input.execution.name);
    let snapshot = match clusters.describe_cluster_snapshot(&id).await? {
        Some(snapshot) => snapshot,
        None => {
            if clusters.describe_cluster(source).await?.is_none() {
                return Err(CleanupError::FinalSnapshotFailed {
                    id,
                    status: "never taken: the source no longer exists".into(),
                });
            }
            let request = CreateSnapshotRequest {
                cluster_id: source.clone(),
                snapshot_id: id.clone(),
                tags: super::ownership_tags(source, &input.execution.name),
            };
            match clusters.create_cluster_snapshot(&request).await {
                Ok(_) | Err(PortError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            return Err(CleanupError::Waiting(format!(
                "final snapshot `{id}` started"
            )));
        }
    };
    if snapshot.cluster_id != *source {
        return Err(CleanupError::FinalSnapshotFailed {
            id,
            status: format!("taken of `{}`, not of the source", snapshot.cluster_id),
        });
    }
    match snapshot.status.as_str() {
        "available" => Ok(id),
        "creating" | "copying" | "backing-up" => Err(CleanupError::Waiting(format!(
            "final snapshot `{id}` is {}% done",
            snapshot.percent_progress
        ))),
        status => Err(CleanupError::FinalSnapshotFailed {
            id,
            status: status.into(),
        }),
    }
}

/// Deletes a cluster's instances, then the cluster; `owner`, when given, must be the value of
/// the cluster's owner tag. Returns what it asked to delete; `Waiting` while instances go.
async fn delete_cluster(
    cluster_id: &str,
    owner: Option<&str>,
    clusters: &dyn Clusters,
    retirement: &dyn ClusterRetirement,
) -> Result<Vec<String>, CleanupError> {
    let Some(cluster) = clusters.describe_cluster(cluster_id).await? else {
        return Ok(vec![cluster_id.to_string()]);
    };
    if let Some(owner) = owner {
        if cluster.tag(naming::OWNER_TAG) != Some(owner) {
            return Err(CleanupError::NotOurs(cluster_id.into()));
        }
    }
    if cluster.status == "deleting" {
        return Ok(vec![cluster_id.to_string()]);
    }
    if cluster.deletion_protection {
        retirement.disable_deletion_protection(cluster_id).await?;
    }
    if !cluster.members.is_empty() {
        for member in &cluster.members {
            retirement.delete_instance(&member.instance_id).await?;
        }
        return Err(CleanupError::Waiting(format!(
            "instances of `{cluster_id}` are being deleted: {:?}",
            cluster
                .members
                .iter()
                .map(|m| m.instance_id.as_str())
                .collect::<Vec<_>>()
        )));
    }
    retirement.delete_cluster(cluster_id).await?;
    Ok(vec![cluster_id.to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{
        self, FakeClock, FakeClusters, FakeFenceSql, FakeParameters, FakeReplication,
        FakeRetention, FakeRetirement, FakeSourceLock,
    };
    use crate::ports::Tag;
    use serde_json::json;

    const MIGRATION: &str = "aurora-encrypt-orders-encrypted";

    struct World {
        replication: FakeReplication,
        clusters: FakeClusters,
        retirement: FakeRetirement,
        fence_sql: FakeFenceSql,
        retention: FakeRetention,
        parameters: FakeParameters,
    }

    impl World {
        fn new(state: ReplicationState) -> Self {
            let replication = FakeReplication::default();
            replication.add_existing(MIGRATION, state);
            Self {
                replication,
                clusters: FakeClusters::with_source("orders"),
                retirement: FakeRetirement::default(),
                fence_sql: FakeFenceSql::default(),
                retention: FakeRetention::default(),
                parameters: FakeParameters::for_source("orders"),
            }
        }

        fn deps<'a>(&'a self, lock: &'a FakeSourceLock, clock: &'a FakeClock) -> Deps<'a> {
            Deps {
                reverse_replication: None,
                replication: &self.replication,
                clusters: &self.clusters,
                retirement: &self.retirement,
                fence_sql: &self.fence_sql,
                retention: Some(&self.retention),
                parameters: &self.parameters,
                clock,
                lock,
            }
        }

        /// Cleanup without the lock.
        async fn run(&self, input: &CleanupInput) -> Result<CleanupOutput, CleanupError> {
            let (lock, clock) = (FakeSourceLock::default(), FakeClock::default());
            run(input, &self.deps(&lock, &clock)).await
        }
    }

    fn input(extra: serde_json::Value) -> CleanupInput {
        let mut doc = fakes::state_document("orders", "exec-1");
        doc["migration"] = json!({
            "handle": {"engine": "fake", "id": "arn:aws:dms:eu-west-1:123456789012:data-migration:x", "name": MIGRATION},
            "status": "running",
            "startPosition": {"file": "mysql-bin-changelog.000001", "position": 4}
        });
        doc["fence"] = json!({
            "clusterId": "orders", "methods": ["read-only"], "fencedAt": "2026-11-27T12:00:00Z", "fenced": true
        });
        for (k, v) in extra.as_object().unwrap() {
            doc[k] = v.clone();
        }
        serde_json::from_value(doc).unwrap()
    }

    #[tokio::test]
    async fn after_a_switchover_removes_the_replication_and_keeps_the_source() {
        let world = World::new(ReplicationState::Stopped);
        let out = world.run(&input(json!({}))).await.unwrap();
        assert!(out.replication_removed);
        assert_eq!(
            world.replication.mutations(),
            vec![format!("remove {MIGRATION}")]
        );
        assert!(world.retirement.mutations().is_empty());
        assert!(world.clusters.mutations().is_empty());
        assert_eq!(out.kept, vec!["source cluster `orders`"]);
    }

    #[tokio::test]
    async fn a_running_replication_is_stopped_before_removal() {
        let world = World::new(ReplicationState::Running);
        let out = world.run(&input(json!({}))).await.unwrap();
        assert!(out.replication_removed);
        assert_eq!(
            world.replication.mutations(),
            vec![format!("stop {MIGRATION}"), format!("remove {MIGRATION}")]
        );
        // Re-run: nothing left to do.
        world.run(&input(json!({}))).await.unwrap();
        assert_eq!(world.replication.mutations().len(), 2);
    }

    #[tokio::test]
    async fn a_replication_not_named_after_the_target_is_never_removed() {
        let world = World::new(ReplicationState::Stopped);
        let error = world
            .run(&input(json!({"targetClusterId": "elsewhere"})))
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), "InvalidInput");
        assert!(world.replication.mutations().is_empty());
    }

    #[tokio::test]
    async fn keeping_migration_resources_when_asked() {
        let world = World::new(ReplicationState::Stopped);
        let out = world
            .run(&input(
                json!({"cleanup": {"deleteMigrationResources": false}}),
            ))
            .await
            .unwrap();
        assert!(!out.replication_removed);
        assert!(world.replication.mutations().is_empty());
    }

    #[tokio::test]
    async fn retiring_the_source_waits_for_the_final_snapshot_before_deleting() {
        let world = World::new(ReplicationState::Stopped);
        let input = input(json!({"cleanup": {"retireSource": true}}));

        let error = world.run(&input).await.unwrap_err();
        assert_eq!(error.error_name(), "NotReady");
        assert_eq!(
            world.clusters.mutations(),
            vec![format!(
                "create_cluster_snapshot {}",
                naming::final_snapshot_id("orders", "exec-1")
            )]
        );
        assert!(
            world.retirement.mutations().is_empty(),
            "nothing deleted before the snapshot"
        );

        let error = world.run(&input).await.unwrap_err();
        assert_eq!(error.error_name(), "NotReady", "snapshot still creating");
        assert!(world.retirement.mutations().is_empty());

        world.clusters.finish_snapshots();
        let error = world.run(&input).await.unwrap_err();
        assert_eq!(
            error.error_name(),
            "NotReady",
            "instances are being deleted"
        );
        assert_eq!(
            world.retirement.mutations(),
            vec![
                "disable_deletion_protection orders",
                "delete_instance orders-writer",
                "delete_instance orders-reader-1",
                "delete_instance orders-reader-2",
            ]
        );

        world.clusters.update_cluster("orders", |c| {
            c.members.clear();
            c.deletion_protection = false;
        });
        let out = world.run(&input).await.unwrap();
        assert_eq!(
            out.final_snapshot_id.as_deref(),
            Some(naming::final_snapshot_id("orders", "exec-1").as_str())
        );
        assert_eq!(out.deleted, vec!["orders"]);
        assert_eq!(
            world.retirement.mutations().last().unwrap(),
            "delete_cluster orders"
        );
    }

    #[tokio::test]
    async fn a_failed_final_snapshot_keeps_the_source() {
        let world = World::new(ReplicationState::Stopped);
        world.clusters.add_snapshot(
            &naming::final_snapshot_id("orders", "exec-1"),
            "orders",
            "failed",
        );
        let error = world
            .run(&input(json!({"cleanup": {"retireSource": true}})))
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), "SnapshotFailed");
        assert!(world.retirement.mutations().is_empty());
    }

    #[tokio::test]
    async fn the_source_is_never_retired_without_a_switchover() {
        let world = World::new(ReplicationState::Stopped);
        let mut input = input(json!({"cleanup": {"retireSource": true}}));
        input.fence = None;
        let error = world.run(&input).await.unwrap_err();
        assert_eq!(error.error_name(), "InvalidInput");
        assert!(world.clusters.mutations().is_empty());
        assert!(world.retirement.mutations().is_empty());
    }

    /// The failback window's replication back, named after the old cluster.
    fn reverse(world: &World) -> serde_json::Value {
        let name = naming::migration_name("orders");
        world
            .replication
            .add_existing(&name, ReplicationState::Stopped);
        json!({"migration": {
            "handle": {"engine": "fake", "id": "orders", "name": name},
            "status": "running",
            "startPosition": {"file": "mysql-bin-changelog.000002", "position": 4}
        }})
    }

    #[tokio::test]
    async fn the_source_is_not_retired_while_the_failback_window_is_open() {
        let world = World::new(ReplicationState::Stopped);
        let input = input(json!({
            "cleanup": {"retireSource": true}, "failback": {"windowHours": 24}
        }));
        let error = world.run(&input).await.unwrap_err();
        assert_eq!(error.error_name(), "InvalidInput");
        assert!(error.to_string().contains("failback window"), "{error}");
        assert!(world.clusters.mutations().is_empty());
        assert!(world.retirement.mutations().is_empty());
    }

    #[tokio::test]
    async fn after_a_failback_both_replications_go_and_both_clusters_stay() {
        let world = World::new(ReplicationState::Stopped);
        let input = input(json!({
            "cleanup": {"retireSource": true}, "failback": {"windowHours": 24},
            "reverse": reverse(&world),
            "window": {"Error": "FailbackRequested", "Cause": "An operator asked to fail back."}
        }));
        let out = world.run(&input).await.unwrap();
        assert_eq!(
            world.replication.mutations(),
            vec![
                format!("remove {}", naming::migration_name("orders")),
                format!("remove {MIGRATION}")
            ]
        );
        assert!(world.clusters.mutations().is_empty(), "no final snapshot");
        assert!(world.retirement.mutations().is_empty());
        assert_eq!(out.deleted, Vec::<String>::new());
        assert!(
            out.kept.iter().any(|k| k.contains("`orders`")),
            "{:?}",
            out.kept
        );
    }

    #[tokio::test]
    async fn after_a_failback_that_was_undone_the_source_is_kept_too() {
        let world = World::new(ReplicationState::Stopped);
        let input = input(json!({
            "cleanup": {"retireSource": true}, "failback": {"windowHours": 24},
            "reverse": reverse(&world),
            "window": {"Error": "FailbackRequested", "Cause": "An operator asked to fail back."},
            "failbackError": {"Error": "FenceNotConfirmed", "Cause": "a session would not end"}
        }));
        let out = world.run(&input).await.unwrap();
        assert!(world.retirement.mutations().is_empty());
        assert!(
            out.kept.iter().any(|k| k.contains("attempted and undone")),
            "{:?}",
            out.kept
        );
    }

    #[tokio::test]
    async fn once_the_window_has_ended_the_source_may_be_retired() {
        let world = World::new(ReplicationState::Stopped);
        let input = input(json!({
            "cleanup": {"retireSource": true}, "failback": {"windowHours": 24},
            "reverse": reverse(&world),
            "window": {"Error": "FailbackWindowEnded", "Cause": "time is up"}
        }));
        let error = world.run(&input).await.unwrap_err();
        assert_eq!(
            error.error_name(),
            "NotReady",
            "the final snapshot is taken"
        );
        assert_eq!(
            world.clusters.mutations(),
            vec![format!(
                "create_cluster_snapshot {}",
                naming::final_snapshot_id("orders", "exec-1")
            )]
        );
    }

    #[tokio::test]
    async fn rollback_removes_the_replication_and_keeps_both_clusters_by_default() {
        let world = World::new(ReplicationState::Running);
        let out = world
            .run(&input(json!({"rollback": true, "cleanup": {"deleteMigrationResources": false, "retireSource": true}})))
            .await
            .unwrap();
        assert!(out.replication_removed, "always removed on rollback");
        assert!(out
            .kept
            .contains(&"target cluster `orders-encrypted`".to_string()));
        assert!(
            world.retirement.mutations().is_empty(),
            "never the source on rollback"
        );
        assert!(world.clusters.mutations().is_empty());
    }

    #[tokio::test]
    async fn rollback_deletes_only_our_target_when_asked() {
        let world = World::new(ReplicationState::Stopped);
        world.clusters.add_foreign_cluster("orders-encrypted");
        let input = input(json!({"rollback": true, "cleanup": {"deleteTargetOnRollback": true}}));
        let error = world.run(&input).await.unwrap_err();
        assert_eq!(error.error_name(), "TargetClusterTaken");
        assert!(world.retirement.mutations().is_empty());

        world.clusters.update_cluster("orders-encrypted", |c| {
            c.tags.push(Tag::new(naming::OWNER_TAG, "orders"))
        });
        let out = world.run(&input).await.unwrap();
        assert_eq!(out.deleted, vec!["orders-encrypted"]);
        assert_eq!(
            world.retirement.mutations(),
            vec!["delete_cluster orders-encrypted"]
        );
    }

    #[tokio::test]
    async fn the_fence_schema_is_dropped_on_both_sides_once_the_run_fenced() {
        let world = World::new(ReplicationState::Stopped);
        let out = world.run(&input(json!({}))).await.unwrap();
        assert_eq!(out.marker_schema_removed, ["orders", "orders-encrypted"]);
        assert_eq!(world.fence_sql.removed(), ["orders", "orders-encrypted"]);

        // A rollback after a fence that failed half-way: only `unfence` is there.
        let world = World::new(ReplicationState::Stopped);
        let mut rollback = input(json!({"rollback": true}));
        rollback.unfence = rollback.fence.take();
        world.run(&rollback).await.unwrap();
        assert_eq!(world.fence_sql.removed(), ["orders", "orders-encrypted"]);

        // Never fenced: no SQL at all (there may be no endpoint to speak it to).
        let world = World::new(ReplicationState::Stopped);
        let mut early = input(json!({"rollback": true}));
        early.fence = None;
        world.run(&early).await.unwrap();
        assert!(world.fence_sql.removed().is_empty());
    }

    mod lock {
        use super::*;
        use crate::steps::source_lock;

        const SOURCE: &str = "arn:aws:rds:eu-west-1:123456789012:cluster:orders";
        const ME: &str = "arn:aws:states:eu-west-1:123456789012:execution:encrypt:exec-1";
        const OTHER: &str = "arn:aws:states:eu-west-1:123456789012:execution:encrypt:exec-2";

        async fn held(lock: &FakeSourceLock, holder: &str) -> serde_json::Value {
            let held = source_lock::acquire(lock, SOURCE, holder, fakes::EPOCH)
                .await
                .unwrap();
            serde_json::to_value(held).unwrap()
        }

        async fn run_locked(
            world: &World,
            lock: &FakeSourceLock,
            input: &CleanupInput,
        ) -> Result<CleanupOutput, CleanupError> {
            let clock = FakeClock::default();
            run_holding_lock(input, &world.deps(lock, &clock)).await
        }

        #[tokio::test]
        async fn cleanup_releases_the_lock_once_done() {
            let world = World::new(ReplicationState::Stopped);
            let lock = FakeSourceLock::default();
            let input = input(json!({ "lock": held(&lock, ME).await }));
            let out = run_locked(&world, &lock, &input).await.unwrap();
            assert!(out.lock.unwrap().released);
            assert!(lock.record(SOURCE).unwrap().released);
        }

        #[tokio::test]
        async fn after_a_switchover_cleanup_refuses_a_source_another_execution_holds() {
            let world = World::new(ReplicationState::Stopped);
            let lock = FakeSourceLock::default();
            let mine = held(&lock, ME).await;
            lock.set_status(ME, crate::ports::HolderStatus::Ended);
            held(&lock, OTHER).await;
            let input = input(json!({ "lock": mine, "cleanup": {"retireSource": true} }));
            let error = run_locked(&world, &lock, &input).await.unwrap_err();
            assert_eq!(error.error_name(), "SourceBusy");
            assert!(world.replication.mutations().is_empty());
            assert!(world.clusters.mutations().is_empty());
            assert!(world.retirement.mutations().is_empty());
            assert_eq!(lock.record(SOURCE).unwrap().holder, OTHER);
        }

        #[tokio::test]
        async fn a_rollbacks_cleanup_keeps_the_lock_while_waiting_and_releases_it_when_it_ends() {
            let world = World::new(ReplicationState::Stopping);
            let lock = FakeSourceLock::default();
            let input = input(json!({ "lock": held(&lock, ME).await, "rollback": true }));
            let error = run_locked(&world, &lock, &input).await.unwrap_err();
            assert_eq!(error.error_name(), "NotReady");
            assert!(!lock.record(SOURCE).unwrap().released);

            world
                .replication
                .set_status(MIGRATION, ReplicationState::Stopped, None, None);
            world.replication.fail_next(
                "remove",
                PortError::AccessDenied("dms:DeleteDataMigration".into()),
            );
            let error = run_locked(&world, &lock, &input).await.unwrap_err();
            assert_eq!(error.error_name(), "AccessDenied");
            assert!(
                lock.record(SOURCE).unwrap().released,
                "the rollback is over"
            );
        }
    }

    /// The source's retention as Preflight left it: raised from 1 to 24 hours, recorded.
    fn raised(world: &World) {
        *world.retention.hours.lock().unwrap() = Some(1);
        *world.retention.recorded.lock().unwrap() = Some(RetentionChange {
            original_hours: Some(1),
            set_hours: 24,
        });
        *world.retention.hours.lock().unwrap() = Some(24);
    }

    fn with_retention_set(extra: serde_json::Value) -> CleanupInput {
        let mut doc = json!({
            "binlogRetention": {"set": true},
            "preflight": {"sourceWriterEndpoint": {"clusterId": "orders", "host": "orders.cluster-x.eu-west-1.rds.amazonaws.com", "port": 3306}}
        });
        for (k, v) in extra.as_object().unwrap() {
            doc[k] = v.clone();
        }
        input(doc)
    }

    #[tokio::test]
    async fn a_raised_binlog_retention_is_put_back_when_the_source_is_kept() {
        let world = World::new(ReplicationState::Stopped);
        raised(&world);
        let out = world.run(&with_retention_set(json!({}))).await.unwrap();
        assert_eq!(
            out.binlog_retention_restored,
            Some(RetentionChange {
                original_hours: Some(1),
                set_hours: 24
            })
        );
        assert_eq!(*world.retention.hours.lock().unwrap(), Some(1));
        // Before the fence's schema (which holds the record) is dropped.
        assert_eq!(
            out.marker_schema_removed,
            vec!["orders", "orders-encrypted"]
        );
        // Again: nothing recorded any more, nothing changes.
        let again = world.run(&with_retention_set(json!({}))).await.unwrap();
        assert_eq!(again.binlog_retention_restored, None);
        assert_eq!(*world.retention.hours.lock().unwrap(), Some(1));
    }

    #[tokio::test]
    async fn a_rollback_puts_the_binlog_retention_back() {
        let world = World::new(ReplicationState::Running);
        raised(&world);
        let out = world
            .run(&with_retention_set(
                json!({"rollback": true, "fence": null}),
            ))
            .await
            .unwrap();
        assert_eq!(*world.retention.hours.lock().unwrap(), Some(1));
        assert!(out.binlog_retention_restored.is_some());
        assert!(out.kept.contains(&"source cluster `orders`".to_string()));
    }

    #[tokio::test]
    async fn a_retired_source_is_not_given_its_retention_back() {
        let world = World::new(ReplicationState::Stopped);
        raised(&world);
        let _ = world
            .run(&with_retention_set(
                json!({"cleanup": {"retireSource": true, "deleteMigrationResources": true, "deleteTargetOnRollback": false}}),
            ))
            .await;
        assert!(world.retention.changes.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn without_binlog_retention_set_the_source_is_not_touched() {
        let world = World::new(ReplicationState::Stopped);
        let out = world.run(&input(json!({}))).await.unwrap();
        assert_eq!(out.binlog_retention_restored, None);
        assert!(world.retention.changes.lock().unwrap().is_empty());
        assert!(world.retention.asked.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn putting_the_retention_back_without_sql_access_fails_by_name() {
        let world = World::new(ReplicationState::Stopped);
        raised(&world);
        let (lock, clock) = (FakeSourceLock::default(), FakeClock::default());
        let mut deps = world.deps(&lock, &clock);
        deps.retention = None;
        let error = run(&with_retention_set(json!({})), &deps)
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), "InvalidInput");
        assert!(error.to_string().contains("binlogRetention.set"));
        assert_eq!(*world.retention.hours.lock().unwrap(), Some(24));
    }

    #[tokio::test]
    async fn disable_source_binlog_sets_binlog_format_off_in_the_kept_sources_group() {
        let world = World::new(ReplicationState::Stopped);
        let asked = json!({
            "cleanup": {"disableSourceBinlog": true},
            "preflight": {"clusterParameterGroup": "orders-params"}
        });
        let out = world.run(&input(asked.clone())).await.unwrap();
        assert_eq!(
            out.source_binlog_disabled_in.as_deref(),
            Some("orders-params")
        );
        assert_eq!(
            world.parameters.mutations(),
            vec!["orders-params: binlog_format=OFF"]
        );
        // Never on rollback.
        let rollback = World::new(ReplicationState::Stopped);
        let mut on_rollback = asked;
        on_rollback["rollback"] = json!(true);
        let out = rollback.run(&input(on_rollback)).await.unwrap();
        assert_eq!(out.source_binlog_disabled_in, None);
        assert!(rollback.parameters.mutations().is_empty());
    }
}
