//! CreateMigration: creates (or finds) the change-data-capture replication from the source to the
//! target, starting at the restore's binlog position, and starts it.
//!
//! With DMS this is a homogeneous data migration of type `cdc` whose
//! `SourceDataSettings[].CDCStartPosition` is `<file>:<position>`; all its resources are named after
//! the target cluster, so a re-run finds them instead of creating duplicates.
//!
//! Input: the spec, `execution`, `restore` (endpoints), `binlog`. Output: [`MigrationOutput`].
//! Errors: `NotReady` (still being created, or in a status this project does not know: retried,
//! never guessed to be started), `MigrationFailed`, `InvalidInput`, `Transient`.

use serde::Deserialize;

use crate::error_names;
use crate::errors::{impl_diagnostic, NamedError, PortError};
use crate::naming;
use crate::ports::{CdcRequest, Replication, ReplicationState};
use crate::spec::MigrationSpec;
use crate::state::{BinlogOutput, ExecutionRef, MigrationOutput, RestoreOutput};

/// `dms:*` and `iam:PassRole` for the DMS engine; `secretsmanager:GetSecretValue` for the native engine's credentials.
pub const IAM_ACTIONS: &[&str] = &[
    "dms:CreateDataProvider",
    "dms:ListDataProviders",
    "dms:CreateInstanceProfile",
    "dms:ListInstanceProfiles",
    "dms:CreateMigrationProject",
    "dms:ListMigrationProjects",
    "dms:CreateDataMigration",
    "dms:DescribeDataMigrations",
    "dms:StartDataMigration",
    "dms:AddTagsToResource",
    "iam:PassRole",
    "secretsmanager:GetSecretValue",
    "kms:Decrypt",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateMigrationInput {
    #[serde(flatten)]
    pub spec: MigrationSpec,
    pub execution: ExecutionRef,
    pub restore: RestoreOutput,
    pub binlog: BinlogOutput,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateMigrationError {
    #[error("restore output lacks the {0} endpoint")]
    MissingEndpoint(&'static str),
    #[error("migration `{name}` is still being created")]
    NotReady { name: String },
    #[error("migration `{name}` failed: {reason}")]
    Failed { name: String, reason: String },
    #[error("migration `{name}` reports status `{status}`, which aurora-encrypt does not know; not starting it until it reads as ready")]
    UnknownStatus { name: String, status: String },
    #[error(transparent)]
    Port(#[from] PortError),
}

impl NamedError for CreateMigrationError {
    fn error_name(&self) -> &'static str {
        match self {
            CreateMigrationError::MissingEndpoint(_) => error_names::INVALID_INPUT,
            CreateMigrationError::NotReady { .. } | CreateMigrationError::UnknownStatus { .. } => {
                error_names::NOT_READY
            }
            CreateMigrationError::Failed { .. } => error_names::MIGRATION_FAILED,
            CreateMigrationError::Port(e) => e.default_name(),
        }
    }
}

impl_diagnostic!(CreateMigrationError);

/// What CreateMigration runs over.
pub struct Deps<'a> {
    pub replication: &'a dyn Replication,
}

pub async fn run(
    input: &CreateMigrationInput,
    deps: &Deps<'_>,
) -> Result<MigrationOutput, CreateMigrationError> {
    let replication = deps.replication;
    let source = input
        .restore
        .source_endpoint
        .clone()
        .ok_or(CreateMigrationError::MissingEndpoint("source"))?;
    let target = input
        .restore
        .target_endpoint
        .clone()
        .ok_or(CreateMigrationError::MissingEndpoint("target"))?;
    let start = input.binlog.position.clone();
    let request = CdcRequest {
        name: naming::migration_name(&input.restore.target_cluster_id),
        source,
        target,
        start: start.clone(),
        settings: input.spec.replication.clone(),
        tags: super::ownership_tags(&input.spec.source_cluster_id, &input.execution.name),
    };
    let handle = replication.ensure_cdc(&request).await?;
    let status = match replication.status(&handle).await {
        Ok(status) => status,
        // Created moments ago and not visible to a describe yet: eventual consistency.
        Err(e) if e.is_not_found(crate::errors::Resource::Migration) => {
            return Err(CreateMigrationError::NotReady { name: handle.name })
        }
        Err(e) => return Err(e.into()),
    };
    let state = match status.state {
        ReplicationState::Ready => {
            replication.start(&handle).await?;
            ReplicationState::Starting
        }
        ReplicationState::Creating => {
            return Err(CreateMigrationError::NotReady { name: handle.name })
        }
        ReplicationState::Unknown => {
            return Err(CreateMigrationError::UnknownStatus {
                name: handle.name,
                status: status.status_text,
            })
        }
        ReplicationState::Failed
        | ReplicationState::Stopped
        | ReplicationState::Stopping
        | ReplicationState::Deleting => {
            // A stopped migration would resume from where it stopped, not from `start`: that is
            // for a person to decide, not for a retry.
            return Err(CreateMigrationError::Failed {
                reason: status
                    .last_failure
                    .unwrap_or_else(|| format!("status {}", status.status_text)),
                name: handle.name,
            });
        }
        running @ (ReplicationState::Starting | ReplicationState::Running) => running,
    };
    Ok(MigrationOutput {
        handle,
        status: state,
        start_position: start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{self, FakeReplication};
    use crate::ports::DatabaseEndpoint;

    /// CreateMigration over the fake.
    async fn run(
        input: &CreateMigrationInput,
        replication: &FakeReplication,
    ) -> Result<MigrationOutput, CreateMigrationError> {
        super::run(input, &Deps { replication }).await
    }

    fn input() -> CreateMigrationInput {
        let mut doc = fakes::state_document("orders", "exec-1");
        let endpoint = |id: &str| DatabaseEndpoint {
            cluster_id: id.into(),
            host: format!("{id}.cluster-abc"),
            port: 3306,
        };
        doc["restore"] = serde_json::json!({
            "targetClusterId": "orders-encrypted", "targetClusterArn": null, "status": "available", "encrypted": true,
            "kmsKeyId": null, "restoreStartedAt": "2026-11-27T12:00:00Z", "readyAt": "2026-11-27T12:20:00Z",
            "writerInstanceId": "orders-encrypted-writer", "instances": [],
            "sourceEndpoint": endpoint("orders"), "targetEndpoint": endpoint("orders-encrypted"),
            "ready": true, "nextPollSeconds": 0
        });
        doc["binlog"] = serde_json::json!({
            "file": "mysql-bin-changelog.000005", "position": 940, "startPosition": "mysql-bin-changelog.000005:940",
            "instanceId": "orders-encrypted-writer", "eventTime": "2026-11-27T12:21:00Z"
        });
        serde_json::from_value(doc).unwrap()
    }

    #[tokio::test]
    async fn creates_cdc_from_the_binlog_position_and_starts_it() {
        let dms = FakeReplication::default();
        let out = run(&input(), &dms).await.unwrap();
        assert_eq!(out.status, ReplicationState::Starting);
        assert_eq!(
            dms.mutations(),
            vec![
                "ensure_cdc aurora-encrypt-orders-encrypted from mysql-bin-changelog.000005:940",
                "start aurora-encrypt-orders-encrypted"
            ]
        );
        let request = dms.request("aurora-encrypt-orders-encrypted").unwrap();
        assert_eq!(request.source.host, "orders.cluster-abc");
        assert_eq!(request.target.host, "orders-encrypted.cluster-abc");
        assert!(matches!(
            request.settings,
            crate::spec::ReplicationSpec::Dms(_)
        ));
    }

    #[tokio::test]
    async fn rerun_neither_creates_nor_starts_again() {
        let dms = FakeReplication::default();
        run(&input(), &dms).await.unwrap();
        dms.set_status(
            "aurora-encrypt-orders-encrypted",
            ReplicationState::Running,
            Some(30),
            None,
        );
        let out = run(&input(), &dms).await.unwrap();
        assert_eq!(out.status, ReplicationState::Running);
        assert_eq!(dms.mutations().len(), 2);
    }

    #[tokio::test]
    async fn still_creating_is_not_ready() {
        let dms = FakeReplication::default();
        *dms.initial_state.lock().unwrap() = Some(ReplicationState::Creating);
        let err = run(&input(), &dms).await.unwrap_err();
        assert_eq!(err.error_name(), "NotReady");
    }

    #[tokio::test]
    async fn an_unknown_status_is_not_ready_and_never_taken_for_started() {
        let dms = FakeReplication::default();
        *dms.initial_state.lock().unwrap() = Some(ReplicationState::Unknown);
        let err = run(&input(), &dms).await.unwrap_err();
        assert_eq!(err.error_name(), "NotReady");
        assert!(err.to_string().contains("does not know"), "{err}");
        assert!(!dms.mutations().iter().any(|m| m.starts_with("start ")));
    }

    #[tokio::test]
    async fn a_migration_not_yet_visible_after_its_creation_is_not_ready() {
        let dms = FakeReplication::default();
        dms.fail_next(
            "status",
            PortError::NotFound {
                resource: crate::errors::Resource::Migration,
                message: "aurora-encrypt-orders-encrypted".into(),
            },
        );
        let err = run(&input(), &dms).await.unwrap_err();
        assert_eq!(err.error_name(), "NotReady");
    }

    #[tokio::test]
    async fn failed_migration_reports_the_engine_message() {
        let dms = FakeReplication::default();
        run(&input(), &dms).await.unwrap();
        dms.set_status(
            "aurora-encrypt-orders-encrypted",
            ReplicationState::Failed,
            None,
            Some("Access denied for user 'repl'"),
        );
        let err = run(&input(), &dms).await.unwrap_err();
        assert_eq!(err.error_name(), "MigrationFailed");
        assert!(err.to_string().contains("Access denied for user 'repl'"));
    }

    #[tokio::test]
    async fn missing_endpoint_is_invalid_input_and_creates_nothing() {
        let dms = FakeReplication::default();
        let mut inp = input();
        inp.restore.target_endpoint = None;
        let err = run(&inp, &dms).await.unwrap_err();
        assert_eq!(err.error_name(), "InvalidInput");
        assert!(dms.mutations().is_empty());
    }
}
