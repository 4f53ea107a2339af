//! StopMigration: stops the change data capture once the target has everything (after the
//! swap), or on rollback. Stopped, failed, never started or already removed all count as
//! stopped; a stop still in progress is reported with a poll hint.
//!
//! Input: the state document (`migration`). Output: [`StopMigrationOutput`] at `$.stop`.
//! Errors: `Transient`, `AccessDenied`.

use serde::{Deserialize, Serialize};

use crate::errors::{impl_diagnostic, NamedError, PortError, Resource};
use crate::ports::{Replication, ReplicationState};
use crate::state::MigrationOutput;

/// `dms:*` for the DMS engine; `secretsmanager:GetSecretValue` for the native engine's credentials.
pub const IAM_ACTIONS: &[&str] = &[
    "dms:DescribeDataMigrations",
    "dms:StopDataMigration",
    "secretsmanager:GetSecretValue",
    "kms:Decrypt",
];

/// DMS takes a minute or two to stop a data migration.
const STOP_POLL_SECONDS: u32 = 15;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopMigrationInput {
    pub migration: MigrationOutput,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopMigrationOutput {
    pub stopped: bool,
    /// `None` when the replication no longer exists.
    pub status: Option<ReplicationState>,
    /// Whether this invocation asked the engine to stop.
    pub stop_requested: bool,
    pub next_poll_seconds: u32,
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct StopMigrationError(#[from] PortError);

impl NamedError for StopMigrationError {
    fn error_name(&self) -> &'static str {
        self.0.default_name()
    }
}

impl_diagnostic!(StopMigrationError);

/// What StopMigration runs over.
pub struct Deps<'a> {
    pub replication: &'a dyn Replication,
}

pub async fn run(
    input: &StopMigrationInput,
    deps: &Deps<'_>,
) -> Result<StopMigrationOutput, StopMigrationError> {
    let replication = deps.replication;
    let handle = &input.migration.handle;
    let gone = || StopMigrationOutput {
        stopped: true,
        status: None,
        stop_requested: false,
        next_poll_seconds: 0,
    };
    let status = match replication.status(handle).await {
        Ok(status) => status,
        Err(e) if e.is_not_found(Resource::Migration) => return Ok(gone()),
        Err(e) => return Err(e.into()),
    };
    let report = |state: ReplicationState, stop_requested: bool| {
        let stopped = !matches!(
            state,
            ReplicationState::Starting
                | ReplicationState::Running
                | ReplicationState::Stopping
                | ReplicationState::Unknown
        );
        StopMigrationOutput {
            stopped,
            status: Some(state),
            stop_requested,
            next_poll_seconds: if stopped { 0 } else { STOP_POLL_SECONDS },
        }
    };
    match status.state {
        // An unknown status may be a running one: ask for the stop rather than assume.
        ReplicationState::Starting | ReplicationState::Running | ReplicationState::Unknown => {
            match replication.stop(handle).await {
                Ok(()) => {}
                Err(e) if e.is_not_found(Resource::Migration) => return Ok(gone()),
                Err(e) => return Err(e.into()),
            }
            let after = replication.status(handle).await?;
            Ok(report(after.state, true))
        }
        state => Ok(report(state, false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::FakeReplication;
    use crate::ports::ReplicationHandle;

    /// StopMigration over the fake.
    async fn run(
        input: &StopMigrationInput,
        replication: &FakeReplication,
    ) -> Result<StopMigrationOutput, StopMigrationError> {
        super::run(input, &Deps { replication }).await
    }

    fn input(handle: &ReplicationHandle) -> StopMigrationInput {
        serde_json::from_value(serde_json::json!({
            "migration": {
                "handle": handle, "status": "running",
                "startPosition": {"file": "mysql-bin-changelog.000001", "position": 4}
            }
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn stops_a_running_replication_once() {
        let replication = FakeReplication::default();
        let handle = replication.add_existing("m", ReplicationState::Running);
        let out = run(&input(&handle), &replication).await.unwrap();
        assert!(out.stopped);
        assert!(out.stop_requested);
        assert_eq!(replication.mutations(), vec!["stop m"]);

        let again = run(&input(&handle), &replication).await.unwrap();
        assert!(again.stopped);
        assert!(!again.stop_requested);
        assert_eq!(replication.mutations().len(), 1, "stopped already is fine");
    }

    #[tokio::test]
    async fn a_stop_in_progress_asks_to_poll() {
        let replication = FakeReplication::default();
        let handle = replication.add_existing("m", ReplicationState::Stopping);
        let out = run(&input(&handle), &replication).await.unwrap();
        assert!(!out.stopped);
        assert_eq!(out.next_poll_seconds, 15);
        assert!(replication.mutations().is_empty());
    }

    #[tokio::test]
    async fn a_removed_or_failed_replication_counts_as_stopped() {
        let replication = FakeReplication::default();
        let handle = replication.add_existing("m", ReplicationState::Failed);
        assert!(run(&input(&handle), &replication).await.unwrap().stopped);
        let gone = ReplicationHandle {
            name: "other".into(),
            ..handle
        };
        let out = run(&input(&gone), &replication).await.unwrap();
        assert!(out.stopped);
        assert_eq!(out.status, None);
        assert!(replication.mutations().is_empty());
    }

    #[tokio::test]
    async fn throttling_is_transient() {
        let replication = FakeReplication::default();
        let handle = replication.add_existing("m", ReplicationState::Running);
        replication.fail_next("stop", PortError::Transient("Throttling".into()));
        let error = run(&input(&handle), &replication).await.unwrap_err();
        assert_eq!(error.error_name(), "Transient");
    }
}
