//! Drain: after the fence, waits until the target has applied everything the source wrote.
//!
//! Drained means the marker row the fence wrote through its own session (after every other
//! writer was stopped) is visible on the target, read over SQL; when the engine reports binlog
//! positions (native replication), the target's applied position must also have reached the
//! writer's position recorded at the fence. CDC latency is progress information only: it reads
//! 0 while the target is behind, and DMS's `CDCLatency` is optional and refreshes at an
//! undocumented rate, so a missing value stays "unknown" (`null`) and never ends the drain.
//!
//! One invocation polls sub-second (the fence is down-time: every second counts) for at most
//! [`DrainSettings::budget`] or until the drain deadline (`fence.fencedAt +
//! switchover.drainTimeoutSeconds`), whichever is first; if not drained by then it returns
//! `drained: false` with `nextPollSeconds` and the state machine invokes it again, until the
//! deadline passes.
//!
//! With a failback window (`failback.windowHours`), the drained target's own binlog position is
//! read too (`targetPosition`): the new writer's position when it took over, where replication
//! back to the old cluster starts. Nothing writes to the target between the drain and the swap.
//!
//! Input: the state document (`targetClusterId`, `switchover`, `migration`, `fence`, `failback`). Output:
//! [`DrainOutput`] at `$.drain`. Errors: `LagNotConverging` (deadline passed), `MigrationFailed`
//! (the replication failed or stopped), `InvalidInput` (the source is not fenced, or the fence
//! carries no confirmation), `Transient`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::binlog::BinlogPosition;
use crate::error_names;
use crate::errors::{impl_diagnostic, NamedError, PortError};
use crate::ports::{Clock, FenceSql, Replication, ReplicationState, Sleeper};
use crate::spec::{FailbackSpec, SwitchoverSpec};
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
}

impl Default for DrainSettings {
    fn default() -> Self {
        Self {
            budget: Duration::from_secs(60),
            interval: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrainInput {
    /// Where the marker must arrive.
    pub target_cluster_id: String,
    #[serde(default)]
    pub switchover: SwitchoverSpec,
    pub migration: MigrationOutput,
    pub fence: FenceOutput,
    /// With a window, the drained target's binlog position is read for the way back.
    #[serde(default)]
    pub failback: FailbackSpec,
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
    /// The fence's marker is visible on the target.
    pub marker_arrived: bool,
    /// The last CDC latency read, for progress only; `null` when the engine reported none
    /// (unknown, not 0).
    pub lag_seconds: Option<u64>,
    /// The last positions read (native replication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positions: Option<DrainPositions>,
    /// The target's own binlog position once drained, read only with a failback window: where
    /// the replication back to the old cluster starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_position: Option<BinlogPosition>,
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
    #[error("the fence on `{0}` carries no confirmation (marker and position): fence it again")]
    NotConfirmed(String),
    #[error("not drained {timeout} s after the fence (marker {marker}, lag {lag}, positions {positions}); the switchover is abandoned")]
    NotConverging {
        timeout: u32,
        marker: String,
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
            DrainError::NotFenced(_) | DrainError::NotConfirmed(_) => error_names::INVALID_INPUT,
            DrainError::NotConverging { .. } => error_names::LAG_NOT_CONVERGING,
            DrainError::Failed { .. } => error_names::MIGRATION_FAILED,
            DrainError::Port(e) => e.default_name(),
        }
    }
}

impl_diagnostic!(DrainError);

/// What Drain runs over.
pub struct Deps<'a> {
    pub replication: &'a dyn Replication,
    /// The fence's markers, read on the target.
    pub markers: &'a dyn FenceSql,
    pub clock: &'a dyn Clock,
    pub sleeper: &'a dyn Sleeper,
    pub settings: DrainSettings,
}

pub async fn run(input: &DrainInput, deps: &Deps<'_>) -> Result<DrainOutput, DrainError> {
    let Deps {
        replication,
        markers,
        clock,
        sleeper,
        settings,
    } = *deps;
    if !input.fence.fenced {
        return Err(DrainError::NotFenced(input.fence.record.cluster_id.clone()));
    }
    let confirmation = input
        .fence
        .confirmation
        .as_ref()
        .ok_or_else(|| DrainError::NotConfirmed(input.fence.record.cluster_id.clone()))?;
    let handle = &input.migration.handle;
    let timeout = input.switchover.drain_timeout_seconds;
    let deadline = input.fence.record.fenced_at + time::Duration::seconds(i64::from(timeout));
    let started = clock.now();
    let stop_at = deadline.min(started + settings.budget);
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
        // Positions only move forward and the fence's was read after its marker: the target
        // has applied everything once it is at (or, after server housekeeping, past) it.
        let position_reached = positions
            .as_ref()
            .is_none_or(|p| p.applied >= confirmation.position);
        let marker_arrived = running
            && markers
                .marker_arrived(&input.target_cluster_id, &confirmation.marker)
                .await?;
        let drained = marker_arrived && position_reached;
        let now = clock.now();
        let output = |drained: bool, next_poll_seconds| DrainOutput {
            drained,
            marker_arrived,
            lag_seconds: lag,
            positions: positions.clone(),
            target_position: None,
            waited_ms: u64::try_from((now - started).whole_milliseconds()).unwrap_or(0),
            reads,
            deadline,
            next_poll_seconds,
        };
        if drained {
            let mut output = output(true, 0);
            if input.failback.enabled() {
                output.target_position =
                    Some(markers.binlog_position(&input.target_cluster_id).await?);
            }
            return Ok(output);
        }
        if now >= deadline {
            return Err(DrainError::NotConverging {
                timeout,
                marker: if marker_arrived {
                    "arrived".into()
                } else {
                    format!(
                        "{}#{} not on the target",
                        confirmation.marker.execution, confirmation.marker.sequence
                    )
                },
                lag: lag.map_or_else(|| "unknown".into(), |l| format!("{l} s")),
                positions: positions.as_ref().map_or_else(
                    || "not reported".into(),
                    |p| {
                        format!(
                            "fence {} applied {}",
                            confirmation.position.start_position(),
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
    use crate::fakes::{FakeClock, FakeFenceSql, FakeReplication, EPOCH};
    use crate::ports::{FenceMarker, ReplicationPositions, ReplicationStatus};
    use serde_json::json;

    fn marker() -> FenceMarker {
        FenceMarker {
            execution: "exec-1".into(),
            sequence: 1,
        }
    }

    fn input(handle: &crate::ports::ReplicationHandle, timeout: u32) -> DrainInput {
        serde_json::from_value(json!({
            "targetClusterId": "orders-encrypted",
            "switchover": {"drainTimeoutSeconds": timeout},
            "migration": {
                "handle": handle,
                "status": "running",
                "startPosition": {"file": "mysql-bin-changelog.000001", "position": 4}
            },
            "fence": {
                "clusterId": "orders", "methods": ["read-only"], "fencedAt": "2026-11-27T12:00:00Z",
                "fenced": true,
                "confirmation": {
                    "position": {"file": "mysql-bin-changelog.000009", "position": 900},
                    "marker": marker(),
                    "sessionsEnded": 3, "rounds": 1, "readOnly": true,
                    "ordinaryWriteRefused": true, "confirmMs": 35
                }
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

    async fn drain(
        input: &DrainInput,
        replication: &FakeReplication,
        markers: &FakeFenceSql,
        clock: &FakeClock,
    ) -> Result<DrainOutput, DrainError> {
        let deps = Deps {
            replication,
            markers,
            clock,
            sleeper: clock,
            settings: DrainSettings::default(),
        };
        run(input, &deps).await
    }

    #[tokio::test]
    async fn native_drain_needs_the_marker_and_the_fence_position_applied() {
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
        let markers = FakeFenceSql::default();
        markers.deliver("orders-encrypted", &marker());
        let clock = FakeClock::default();
        let out = drain(&input(&handle, 300), &replication, &markers, &clock)
            .await
            .unwrap();
        assert!(out.drained);
        assert_eq!(out.reads, 3, "the marker alone is not enough while behind");
        assert_eq!(out.waited_ms, 1000, "two sub-second sleeps");
        assert_eq!(out.positions.unwrap().applied.position, 900);
        assert_eq!(out.next_poll_seconds, 0);
    }

    #[tokio::test]
    async fn with_a_failback_window_the_drained_targets_own_position_is_recorded() {
        let replication = FakeReplication::default();
        let handle = replication.add_existing("m", ReplicationState::Running);
        let markers = FakeFenceSql::default();
        markers.deliver("orders-encrypted", &marker());
        let clock = FakeClock::default();
        for (window_hours, recorded) in [(0, false), (24, true)] {
            replication.queue_statuses("m", vec![status(Some(0), Some((900, 900)))]);
            let mut input = input(&handle, 300);
            input.failback.window_hours = window_hours;
            let out = drain(&input, &replication, &markers, &clock).await.unwrap();
            assert!(out.drained);
            let position = out.target_position.map(|p| p.file);
            assert_eq!(
                position.is_some(),
                recorded,
                "window {window_hours} h: {position:?}"
            );
            if let Some(file) = position {
                assert!(file.starts_with("orders-encrypted"), "the target's: {file}");
            }
        }
    }

    #[tokio::test]
    async fn equal_positions_without_the_marker_are_not_drained() {
        let replication = FakeReplication::default();
        let handle = replication.add_existing("m", ReplicationState::Running);
        replication.queue_statuses("m", vec![status(Some(0), Some((900, 900)))]);
        let markers = FakeFenceSql::default();
        let clock = FakeClock::default();
        let out = drain(&input(&handle, 300), &replication, &markers, &clock)
            .await
            .unwrap();
        assert!(!out.drained);
        assert!(!out.marker_arrived);
        assert_eq!(out.next_poll_seconds, 1);
    }

    #[tokio::test]
    async fn a_stale_dms_latency_of_zero_does_not_end_the_drain() {
        let replication = FakeReplication::default();
        let handle = replication.add_existing("m", ReplicationState::Running);
        replication.queue_statuses("m", vec![status(Some(0), None)]);
        let markers = FakeFenceSql::default();
        let clock = FakeClock::default();
        clock.advance(290);
        let error = drain(&input(&handle, 300), &replication, &markers, &clock)
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), "LagNotConverging");
        assert!(
            error.to_string().contains("exec-1#1 not on the target"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn dms_drain_ends_when_the_marker_arrives_whatever_the_latency_says() {
        let replication = FakeReplication::default();
        let handle = replication.add_existing("m", ReplicationState::Running);
        replication.queue_statuses("m", vec![status(None, None)]);
        let markers = FakeFenceSql::default();
        markers.deliver("orders-encrypted", &marker());
        let clock = FakeClock::default();
        let out = drain(&input(&handle, 300), &replication, &markers, &clock)
            .await
            .unwrap();
        assert!(out.drained);
        assert_eq!(out.lag_seconds, None, "unknown, not 0");
        assert_eq!(
            serde_json::to_value(&out).unwrap()["lagSeconds"],
            serde_json::Value::Null
        );
    }

    #[tokio::test]
    async fn a_marker_of_an_earlier_fence_does_not_count() {
        let replication = FakeReplication::default();
        let handle = replication.add_existing("m", ReplicationState::Running);
        replication.queue_statuses("m", vec![status(Some(0), None)]);
        let markers = FakeFenceSql::default();
        markers.deliver(
            "orders-encrypted",
            &FenceMarker {
                execution: "exec-1".into(),
                sequence: 0,
            },
        );
        let clock = FakeClock::default();
        let out = drain(&input(&handle, 300), &replication, &markers, &clock)
            .await
            .unwrap();
        assert!(!out.drained);
    }

    #[tokio::test]
    async fn budget_spent_before_the_deadline_asks_to_be_called_again() {
        let replication = FakeReplication::default();
        let handle = replication.add_existing("m", ReplicationState::Running);
        replication.queue_statuses("m", vec![status(Some(4), Some((900, 100)))]);
        let clock = FakeClock::default();
        let out = drain(
            &input(&handle, 300),
            &replication,
            &FakeFenceSql::default(),
            &clock,
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
        let error = drain(
            &input(&handle, 300),
            &replication,
            &FakeFenceSql::default(),
            &clock,
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
        let error = drain(
            &input(&handle, 300),
            &replication,
            &FakeFenceSql::default(),
            &clock,
        )
        .await
        .unwrap_err();
        assert_eq!(error.error_name(), "MigrationFailed");
        assert!(error.to_string().contains("disk full"));
    }

    #[tokio::test]
    async fn an_unfenced_or_unconfirmed_source_is_refused() {
        let replication = FakeReplication::default();
        let handle = replication.add_existing("m", ReplicationState::Running);
        let clock = FakeClock::default();
        let mut unfenced = input(&handle, 300);
        unfenced.fence.fenced = false;
        let mut unconfirmed = input(&handle, 300);
        unconfirmed.fence.confirmation = None;
        for input in [unfenced, unconfirmed] {
            let error = drain(&input, &replication, &FakeFenceSql::default(), &clock)
                .await
                .unwrap_err();
            assert_eq!(error.error_name(), "InvalidInput");
        }
    }
}
