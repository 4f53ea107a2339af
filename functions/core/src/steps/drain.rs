//! Drain: after the fence, waits until the target has applied everything the source wrote.
//!
//! Lag alone reads 0 while the target is still behind, so when the engine reports binlog
//! positions (native replication) the target's applied position must equal the source's current
//! one, with a lag of 0. Without positions (DMS) the engine's CDC latency must read 0 on
//! [`DrainSettings::consecutive_zero_reads`] consecutive reads.
//!
//! One invocation polls sub-second (the fence is down-time: every second counts) for at most
//! [`DrainSettings::budget`] or until the drain deadline (`fence.fencedAt +
//! switchover.drainTimeoutSeconds`), whichever is first; if not drained by then it returns
//! `drained: false` with `nextPollSeconds` and the state machine invokes it again, until the
//! deadline passes.
//!
//! Input: the state document (`switchover`, `migration`, `fence`). Output: [`DrainOutput`] at
//! `$.drain`. Errors: `LagNotConverging` (deadline passed), `MigrationFailed` (the replication
//! failed or stopped), `InvalidInput` (the source is not fenced), `Transient`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::binlog::BinlogPosition;
use crate::error_names;
use crate::errors::{impl_diagnostic, NamedError, PortError};
use crate::ports::{Clock, Replication, ReplicationState, Sleeper};
use crate::spec::SwitchoverSpec;
use crate::state::MigrationOutput;
use crate::steps::fence_writes::FenceOutput;

/// `dms:*` for the DMS engine; `secretsmanager:GetSecretValue` for the native engine's credentials.
pub const IAM_ACTIONS: &[&str] = &[
    "dms:DescribeDataMigrations",
    "secretsmanager:GetSecretValue",
    "kms:Decrypt",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainSettings {
    /// Longest wait inside one invocation (keep it well under the Lambda timeout).
    pub budget: Duration,
    /// Pause between two reads.
    pub interval: Duration,
    /// Reads of CDC latency 0 in a row that count as drained when there are no positions.
    pub consecutive_zero_reads: u32,
}

impl Default for DrainSettings {
    fn default() -> Self {
        Self {
            budget: Duration::from_secs(60),
            interval: Duration::from_millis(500),
            consecutive_zero_reads: 3,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrainInput {
    #[serde(default)]
    pub switchover: SwitchoverSpec,
    pub migration: MigrationOutput,
    pub fence: FenceOutput,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrainPositions {
    pub source: BinlogPosition,
    pub applied: BinlogPosition,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrainOutput {
    pub drained: bool,
    /// The last lag read.
    pub lag_seconds: Option<u64>,
    /// The last positions read (native replication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positions: Option<DrainPositions>,
    /// Time spent waiting in this invocation.
    pub waited_ms: u64,
    pub reads: u32,
    /// `fence.fencedAt + switchover.drainTimeoutSeconds`.
    #[serde(with = "time::serde::rfc3339")]
    pub deadline: OffsetDateTime,
    /// 0 when drained.
    pub next_poll_seconds: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error("source `{0}` is not fenced: a drain would chase live writes; fence it first")]
    NotFenced(String),
    #[error("not drained {timeout} s after the fence (lag {lag}, positions {positions}); the switchover is abandoned")]
    NotConverging {
        timeout: u32,
        lag: String,
        positions: String,
    },
    #[error("migration `{name}` failed during the drain: {reason}")]
    Failed { name: String, reason: String },
    #[error(transparent)]
    Port(#[from] PortError),
}

impl NamedError for DrainError {
    fn error_name(&self) -> &'static str {
        match self {
            DrainError::NotFenced(_) => error_names::INVALID_INPUT,
            DrainError::NotConverging { .. } => error_names::LAG_NOT_CONVERGING,
            DrainError::Failed { .. } => error_names::MIGRATION_FAILED,
            DrainError::Port(e) => e.default_name(),
        }
    }
}

impl_diagnostic!(DrainError);

pub async fn run(
    input: &DrainInput,
    replication: &dyn Replication,
    clock: &dyn Clock,
    sleeper: &dyn Sleeper,
    settings: DrainSettings,
) -> Result<DrainOutput, DrainError> {
    if !input.fence.fenced {
        return Err(DrainError::NotFenced(input.fence.record.cluster_id.clone()));
    }
    let handle = &input.migration.handle;
    let timeout = input.switchover.drain_timeout_seconds;
    let deadline = input.fence.record.fenced_at + time::Duration::seconds(i64::from(timeout));
    let started = clock.now();
    let stop_at = deadline.min(started + settings.budget);
    let mut zero_reads = 0;
    let mut reads = 0;
    loop {
        let status = replication.status(handle).await?;
        reads += 1;
        if matches!(
            status.state,
            ReplicationState::Failed
                | ReplicationState::Stopping
                | ReplicationState::Stopped
                | ReplicationState::Deleting
        ) {
            return Err(DrainError::Failed {
                name: handle.name.clone(),
                reason: status
                    .last_failure
                    .unwrap_or_else(|| format!("status {}", status.status_text)),
            });
        }
        let lag = status.cdc_latency_seconds;
        let positions = status.positions.map(|p| DrainPositions {
            source: p.source,
            applied: p.applied,
        });
        let running = status.state == ReplicationState::Running;
        zero_reads = if running && lag == Some(0) {
            zero_reads + 1
        } else {
            0
        };
        let drained = match &positions {
            Some(p) => running && lag == Some(0) && p.applied == p.source,
            None => zero_reads >= settings.consecutive_zero_reads.max(1),
        };
        let now = clock.now();
        let output = |drained: bool, next_poll_seconds| DrainOutput {
            drained,
            lag_seconds: lag,
            positions: positions.clone(),
            waited_ms: u64::try_from((now - started).whole_milliseconds()).unwrap_or(0),
            reads,
            deadline,
            next_poll_seconds,
        };
        if drained {
            return Ok(output(true, 0));
        }
        if now >= deadline {
            return Err(DrainError::NotConverging {
                timeout,
                lag: lag.map_or_else(|| "unknown".into(), |l| format!("{l} s")),
                positions: positions.as_ref().map_or_else(
                    || "not reported".into(),
                    |p| {
                        format!(
                            "source {} applied {}",
                            p.source.start_position(),
                            p.applied.start_position()
                        )
                    },
                ),
            });
        }
        if now >= stop_at {
            return Ok(output(false, 1));
        }
        let left = Duration::try_from(stop_at - now).unwrap_or_default();
        sleeper.sleep(settings.interval.min(left)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{FakeClock, FakeReplication, EPOCH};
    use crate::ports::{ReplicationPositions, ReplicationStatus};
    use serde_json::json;

    fn input(handle: &crate::ports::ReplicationHandle, timeout: u32) -> DrainInput {
        serde_json::from_value(json!({
            "switchover": {"drainTimeoutSeconds": timeout},
            "migration": {
                "handle": handle,
                "status": "running",
                "startPosition": {"file": "mysql-bin-changelog.000001", "position": 4}
            },
            "fence": {
                "clusterId": "orders", "methods": ["read-only"], "fencedAt": "2026-11-27T12:00:00Z",
                "fenced": true
            }
        }))
        .unwrap()
    }

    fn status(lag: Option<u64>, positions: Option<(u64, u64)>) -> ReplicationStatus {
        ReplicationStatus {
            state: ReplicationState::Running,
            status_text: "RUNNING".into(),
            cdc_latency_seconds: lag,
            last_failure: None,
            positions: positions.map(|(source, applied)| ReplicationPositions {
                source: BinlogPosition::new("mysql-bin-changelog.000009", source),
                applied: BinlogPosition::new("mysql-bin-changelog.000009", applied),
            }),
        }
    }

    #[tokio::test]
    async fn native_drain_waits_for_equal_positions_not_just_zero_lag() {
        let replication = FakeReplication::default();
        let handle = replication.add_existing("m", ReplicationState::Running);
        replication.queue_statuses(
            "m",
            vec![
                status(Some(0), Some((900, 400))),
                status(Some(0), Some((900, 700))),
                status(Some(0), Some((900, 900))),
            ],
        );
        let clock = FakeClock::default();
        let out = run(
            &input(&handle, 300),
            &replication,
            &clock,
            &clock,
            DrainSettings::default(),
        )
        .await
        .unwrap();
        assert!(out.drained);
        assert_eq!(out.reads, 3);
        assert_eq!(out.waited_ms, 1000, "two sub-second sleeps");
        assert_eq!(out.positions.unwrap().applied.position, 900);
        assert_eq!(out.next_poll_seconds, 0);
    }

    #[tokio::test]
    async fn dms_drain_needs_consecutive_zero_latency_reads() {
        let replication = FakeReplication::default();
        let handle = replication.add_existing("m", ReplicationState::Running);
        replication.queue_statuses(
            "m",
            vec![
                status(Some(0), None),
                status(Some(2), None),
                status(Some(0), None),
                status(Some(0), None),
                status(Some(0), None),
            ],
        );
        let clock = FakeClock::default();
        let out = run(
            &input(&handle, 300),
            &replication,
            &clock,
            &clock,
            DrainSettings::default(),
        )
        .await
        .unwrap();
        assert!(out.drained);
        assert_eq!(out.reads, 5, "the read of 2 s resets the count");
        assert_eq!(out.positions, None);
    }

    #[tokio::test]
    async fn budget_spent_before_the_deadline_asks_to_be_called_again() {
        let replication = FakeReplication::default();
        let handle = replication.add_existing("m", ReplicationState::Running);
        replication.queue_statuses("m", vec![status(Some(4), Some((900, 100)))]);
        let clock = FakeClock::default();
        let out = run(
            &input(&handle, 300),
            &replication,
            &clock,
            &clock,
            DrainSettings::default(),
        )
        .await
        .unwrap();
        assert!(!out.drained);
        assert_eq!(out.next_poll_seconds, 1);
        assert_eq!(out.waited_ms, 60_000);
        assert_eq!(clock.now(), EPOCH + time::Duration::seconds(60));
        assert_eq!(out.deadline, EPOCH + time::Duration::seconds(300));
    }

    #[tokio::test]
    async fn lag_not_converging_once_the_drain_timeout_has_passed() {
        let replication = FakeReplication::default();
        let handle = replication.add_existing("m", ReplicationState::Running);
        replication.queue_statuses("m", vec![status(Some(4), Some((900, 100)))]);
        let clock = FakeClock::default();
        clock.advance(290);
        let error = run(
            &input(&handle, 300),
            &replication,
            &clock,
            &clock,
            DrainSettings::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(error.error_name(), "LagNotConverging");
        assert_eq!(clock.now(), EPOCH + time::Duration::seconds(300));
        assert!(error
            .to_string()
            .contains("applied mysql-bin-changelog.000009:100"));
    }

    #[tokio::test]
    async fn a_failed_replication_is_migration_failed() {
        let replication = FakeReplication::default();
        let handle = replication.add_existing("m", ReplicationState::Running);
        replication.set_status("m", ReplicationState::Failed, None, Some("disk full"));
        let clock = FakeClock::default();
        let error = run(
            &input(&handle, 300),
            &replication,
            &clock,
            &clock,
            DrainSettings::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(error.error_name(), "MigrationFailed");
        assert!(error.to_string().contains("disk full"));
    }

    #[tokio::test]
    async fn an_unfenced_source_is_refused() {
        let replication = FakeReplication::default();
        let handle = replication.add_existing("m", ReplicationState::Running);
        let mut input = input(&handle, 300);
        input.fence.fenced = false;
        let clock = FakeClock::default();
        let error = run(
            &input,
            &replication,
            &clock,
            &clock,
            DrainSettings::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(error.error_name(), "InvalidInput");
    }
}
