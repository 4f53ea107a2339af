//! Snapshot: starts a cluster snapshot of the source, named after the execution, and reports its
//! progress until it is available.
//!
//! Input: the spec and `execution`. Output: [`SnapshotOutput`] with `ready` and a growing
//! `nextPollSeconds`. A re-run finds the snapshot by name instead of starting another.
//! Errors: `SourceNotFound`, `SnapshotFailed`, `InvalidInput` (the name belongs to another
//! cluster's snapshot), `Transient`, `NotReady` (the source is busy, e.g. backing up).

use serde::Deserialize;

use crate::error_names;
use crate::errors::{impl_diagnostic, NamedError, PortError, Resource};
use crate::naming;
use crate::poll;
use crate::ports::{Clock, ClusterSnapshot, Clusters, CreateSnapshotRequest};
use crate::spec::MigrationSpec;
use crate::state::{ExecutionRef, SnapshotOutput};

/// The IAM actions this step's adapter calls.
pub const IAM_ACTIONS: &[&str] = &[
    "rds:DescribeDBClusters",
    "rds:DescribeDBClusterSnapshots",
    "rds:CreateDBClusterSnapshot",
    "rds:AddTagsToResource",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotInput {
    #[serde(flatten)]
    pub spec: MigrationSpec,
    pub execution: ExecutionRef,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("source cluster `{0}` not found")]
    SourceNotFound(String),
    #[error(
        "snapshot `{snapshot}` exists but belongs to cluster `{owner}`, not `{source_cluster}`"
    )]
    NameTaken {
        snapshot: String,
        owner: String,
        source_cluster: String,
    },
    #[error("snapshot `{snapshot}` ended in status `{status}`")]
    Failed { snapshot: String, status: String },
    #[error(transparent)]
    Port(#[from] PortError),
}

impl NamedError for SnapshotError {
    fn error_name(&self) -> &'static str {
        match self {
            SnapshotError::SourceNotFound(_) => error_names::SOURCE_NOT_FOUND,
            SnapshotError::NameTaken { .. } => error_names::INVALID_INPUT,
            SnapshotError::Failed { .. } => error_names::SNAPSHOT_FAILED,
            SnapshotError::Port(e) => e.default_name(),
        }
    }
}

impl_diagnostic!(SnapshotError);

/// What Snapshot runs over.
pub struct Deps<'a> {
    pub clusters: &'a dyn Clusters,
    pub clock: &'a dyn Clock,
}

pub async fn run(input: &SnapshotInput, deps: &Deps<'_>) -> Result<SnapshotOutput, SnapshotError> {
    let (clusters, clock) = (deps.clusters, deps.clock);
    let source = &input.spec.source_cluster_id;
    let snapshot_id = naming::snapshot_id(source, &input.execution.name);

    let snapshot = match clusters.describe_cluster_snapshot(&snapshot_id).await? {
        Some(existing) => existing,
        None => {
            if clusters.describe_cluster(source).await?.is_none() {
                return Err(SnapshotError::SourceNotFound(source.clone()));
            }
            let request = CreateSnapshotRequest {
                cluster_id: source.clone(),
                snapshot_id: snapshot_id.clone(),
                tags: super::ownership_tags(source, &input.execution.name),
            };
            match clusters.create_cluster_snapshot(&request).await {
                Ok(created) => created,
                // A concurrent attempt won the race: use what it created.
                Err(PortError::AlreadyExists { .. }) => clusters
                    .describe_cluster_snapshot(&snapshot_id)
                    .await?
                    .ok_or_else(|| {
                        PortError::Transient(format!(
                            "snapshot {snapshot_id} vanished after creation"
                        ))
                    })?,
                Err(e) if e.is_not_found(Resource::Cluster) => {
                    return Err(SnapshotError::SourceNotFound(source.clone()))
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    if snapshot.cluster_id != *source {
        return Err(SnapshotError::NameTaken {
            snapshot: snapshot_id,
            owner: snapshot.cluster_id,
            source_cluster: source.clone(),
        });
    }
    report(snapshot, clock)
}

fn report(snapshot: ClusterSnapshot, clock: &dyn Clock) -> Result<SnapshotOutput, SnapshotError> {
    let ready = match snapshot.status.as_str() {
        "available" => true,
        "creating" | "copying" | "backing-up" => false,
        _ => {
            return Err(SnapshotError::Failed {
                snapshot: snapshot.id,
                status: snapshot.status,
            })
        }
    };
    let elapsed = snapshot
        .created_at
        .map_or(0, |created| (clock.now() - created).whole_seconds());
    Ok(SnapshotOutput {
        next_poll_seconds: if ready {
            0
        } else {
            poll::PROVISIONING.from_elapsed(elapsed)
        },
        snapshot_id: snapshot.id,
        snapshot_arn: snapshot.arn,
        source_cluster_id: snapshot.cluster_id,
        status: snapshot.status,
        percent_progress: snapshot.percent_progress,
        ready,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{self, FakeClock, FakeClusters};

    /// Snapshot over the fakes.
    async fn run(
        input: &SnapshotInput,
        clusters: &FakeClusters,
        clock: &FakeClock,
    ) -> Result<SnapshotOutput, SnapshotError> {
        super::run(input, &Deps { clusters, clock }).await
    }

    fn input() -> SnapshotInput {
        serde_json::from_value(fakes::state_document("orders", "exec-1")).unwrap()
    }

    #[tokio::test]
    async fn starts_a_tagged_snapshot_named_after_the_execution() {
        let rds = FakeClusters::with_source("orders");
        let clock = FakeClock::default();
        let out = run(&input(), &rds, &clock).await.unwrap();
        let id = naming::snapshot_id("orders", "exec-1");
        assert_eq!(out.snapshot_id, id);
        assert!(!out.ready);
        assert_eq!(out.next_poll_seconds, 15);
        assert_eq!(
            rds.mutations(),
            vec![format!("create_cluster_snapshot {id}")]
        );
        let tags = rds.snapshot_tags(&id);
        assert!(tags
            .iter()
            .any(|t| t.key == naming::OWNER_TAG && t.value == "orders"));
    }

    #[tokio::test]
    async fn rerun_reuses_the_snapshot_and_hint_grows_until_available() {
        let rds = FakeClusters::with_source("orders");
        let clock = FakeClock::default();
        run(&input(), &rds, &clock).await.unwrap();
        clock.advance(20 * 60);
        let out = run(&input(), &rds, &clock).await.unwrap();
        assert_eq!(out.next_poll_seconds, 300);
        assert_eq!(rds.mutations().len(), 1, "no second snapshot");
        rds.finish_snapshots();
        let out = run(&input(), &rds, &clock).await.unwrap();
        assert!(out.ready);
        assert_eq!(out.next_poll_seconds, 0);
        assert_eq!(rds.mutations().len(), 1);
    }

    #[tokio::test]
    async fn missing_source_is_source_not_found_and_creates_nothing() {
        let rds = FakeClusters::default();
        let err = run(&input(), &rds, &FakeClock::default())
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "SourceNotFound");
        assert!(rds.mutations().is_empty());
    }

    #[tokio::test]
    async fn failed_snapshot_is_snapshot_failed() {
        let rds = FakeClusters::with_source("orders");
        run(&input(), &rds, &FakeClock::default()).await.unwrap();
        rds.set_snapshot_status(&naming::snapshot_id("orders", "exec-1"), "failed");
        let err = run(&input(), &rds, &FakeClock::default())
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "SnapshotFailed");
    }

    #[tokio::test]
    async fn snapshot_name_of_another_cluster_is_refused() {
        let rds = FakeClusters::with_source("orders");
        rds.add_snapshot(
            &naming::snapshot_id("orders", "exec-1"),
            "payments",
            "available",
        );
        let err = run(&input(), &rds, &FakeClock::default())
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "InvalidInput");
    }

    #[tokio::test]
    async fn throttling_is_transient() {
        let rds = FakeClusters::with_source("orders");
        rds.fail_next(
            "create_cluster_snapshot",
            PortError::Transient("Throttling".into()),
        );
        let err = run(&input(), &rds, &FakeClock::default())
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "Transient");
        #[cfg(feature = "lambda")]
        {
            let d: lambda_runtime::Diagnostic = err.into();
            assert_eq!(d.error_type, "Transient");
        }
    }
}
