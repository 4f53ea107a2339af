//! BinlogPosition: reads the binlog coordinates the restore reports in an RDS event on the target's
//! writer instance (`Binlog position from crash recovery is <file> <position>`), the exact point
//! where change data capture must start.
//!
//! Input: the spec and `restore` (ready). Output: [`BinlogOutput`].
//! Errors: `BinlogPositionNotYetAvailable` while the event has not appeared (the state machine
//! retries with backoff), `BinlogPositionNotFound` once the horizon has passed or when the event
//! is malformed, `InvalidInput` (restore not complete), `Transient`.

use serde::Deserialize;
use time::Duration;

use crate::binlog::{BinlogPosition, EVENT_PREFIX};
use crate::error_names;
use crate::errors::{impl_diagnostic, NamedError, PortError};
use crate::ports::{Clock, Clusters};
use crate::state::{BinlogOutput, RestoreOutput};

pub const IAM_ACTIONS: &[&str] = &["rds:DescribeEvents"];

/// How long after the restore became ready the event may take before we give up.
pub const DEFAULT_HORIZON: Duration = Duration::minutes(30);
/// Events are read from a little before the restore started, in case clocks disagree.
const CLOCK_SKEW_MARGIN: Duration = Duration::minutes(5);

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BinlogPositionInput {
    pub restore: RestoreOutput,
}

#[derive(Debug, thiserror::Error)]
pub enum BinlogPositionError {
    #[error("restore of `{0}` is not complete: no writer instance to read events from")]
    RestoreNotReady(String),
    #[error("no binlog position event on `{instance}` yet")]
    NotYetAvailable { instance: String },
    #[error(
        "no binlog position event on `{instance}` within {horizon_minutes} minutes of the restore"
    )]
    NotFound {
        instance: String,
        horizon_minutes: i64,
    },
    #[error("binlog position event on `{instance}` is malformed: {message}")]
    Malformed { instance: String, message: String },
    #[error(transparent)]
    Port(#[from] PortError),
}

impl NamedError for BinlogPositionError {
    fn error_name(&self) -> &'static str {
        match self {
            BinlogPositionError::RestoreNotReady(_) => error_names::INVALID_INPUT,
            BinlogPositionError::NotYetAvailable { .. } => {
                error_names::BINLOG_POSITION_NOT_YET_AVAILABLE
            }
            BinlogPositionError::NotFound { .. } | BinlogPositionError::Malformed { .. } => {
                error_names::BINLOG_POSITION_NOT_FOUND
            }
            BinlogPositionError::Port(e) => e.default_name(),
        }
    }
}

impl_diagnostic!(BinlogPositionError);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinlogPositionSettings {
    /// How long after the restore became ready the event may take.
    pub horizon: Duration,
}

impl Default for BinlogPositionSettings {
    fn default() -> Self {
        Self {
            horizon: DEFAULT_HORIZON,
        }
    }
}

/// What BinlogPosition runs over.
pub struct Deps<'a> {
    pub clusters: &'a dyn Clusters,
    pub clock: &'a dyn Clock,
    pub settings: BinlogPositionSettings,
}

pub async fn run(
    input: &BinlogPositionInput,
    deps: &Deps<'_>,
) -> Result<BinlogOutput, BinlogPositionError> {
    let (clusters, clock, horizon) = (deps.clusters, deps.clock, deps.settings.horizon);
    let restore = &input.restore;
    let instance = match (&restore.writer_instance_id, restore.ready) {
        (Some(writer), true) => writer.clone(),
        _ => {
            return Err(BinlogPositionError::RestoreNotReady(
                restore.target_cluster_id.clone(),
            ))
        }
    };
    let since = restore.restore_started_at - CLOCK_SKEW_MARGIN;
    let events = clusters.instance_events(&instance, since).await?;
    // The first crash recovery after the restore is the snapshot's point in time; a later one
    // (after a reboot) would report a position that already includes the target's own writes.
    if let Some(event) = events
        .iter()
        .find(|e| e.message.trim_start().starts_with(EVENT_PREFIX))
    {
        let position = BinlogPosition::from_event_message(&event.message).map_err(|_| {
            BinlogPositionError::Malformed {
                instance: instance.clone(),
                message: event.message.clone(),
            }
        })?;
        return Ok(BinlogOutput {
            start_position: position.start_position(),
            position,
            instance_id: instance,
            event_time: event.time,
        });
    }
    let waiting_since = restore.ready_at.unwrap_or(restore.restore_started_at);
    if clock.now() - waiting_since > horizon {
        return Err(BinlogPositionError::NotFound {
            instance,
            horizon_minutes: horizon.whole_minutes(),
        });
    }
    Err(BinlogPositionError::NotYetAvailable { instance })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{FakeClock, FakeClusters, EPOCH};

    /// BinlogPosition over the fakes.
    async fn run(
        input: &BinlogPositionInput,
        clusters: &FakeClusters,
        clock: &FakeClock,
        horizon: Duration,
    ) -> Result<BinlogOutput, BinlogPositionError> {
        let deps = Deps {
            clusters,
            clock,
            settings: BinlogPositionSettings { horizon },
        };
        super::run(input, &deps).await
    }

    fn input(ready: bool) -> BinlogPositionInput {
        BinlogPositionInput {
            restore: RestoreOutput {
                target_cluster_id: "orders-encrypted".into(),
                target_cluster_arn: None,
                status: "available".into(),
                encrypted: true,
                kms_key_id: None,
                restore_started_at: EPOCH,
                ready_at: Some(EPOCH + Duration::minutes(20)),
                writer_instance_id: Some("orders-encrypted-writer".into()),
                instances: Vec::new(),
                source_endpoint: None,
                target_endpoint: None,
                ready,
                next_poll_seconds: 0,
                parameter_group_usable_at: None,
            },
        }
    }

    #[tokio::test]
    async fn reads_the_first_binlog_event_of_the_writer() {
        let rds = FakeClusters::default();
        rds.add_event(
            "orders-encrypted-writer",
            -3600,
            "Binlog position from crash recovery is mysql-bin-changelog.000001 4",
        );
        rds.add_event("orders-encrypted-writer", 600, "DB instance created");
        rds.add_event(
            "orders-encrypted-writer",
            700,
            "Binlog position from crash recovery is mysql-bin-changelog.000005 940",
        );
        rds.add_event(
            "orders-encrypted-writer",
            900,
            "Binlog position from crash recovery is mysql-bin-changelog.000006 120",
        );
        rds.add_event(
            "orders-encrypted-reader-1",
            650,
            "Binlog position from crash recovery is mysql-bin-changelog.000009 4",
        );
        let out = run(&input(true), &rds, &FakeClock::default(), DEFAULT_HORIZON)
            .await
            .unwrap();
        assert_eq!(
            out.position,
            BinlogPosition::new("mysql-bin-changelog.000005", 940)
        );
        assert_eq!(out.start_position, "mysql-bin-changelog.000005:940");
        assert_eq!(out.instance_id, "orders-encrypted-writer");
        let json = serde_json::to_value(&out).unwrap();
        assert_eq!(json["file"], "mysql-bin-changelog.000005");
        assert_eq!(json["position"], 940);
    }

    #[tokio::test]
    async fn missing_event_is_retryable_until_the_horizon() {
        let rds = FakeClusters::default();
        let clock = FakeClock::default();
        clock.advance(30 * 60);
        let err = run(&input(true), &rds, &clock, DEFAULT_HORIZON)
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "BinlogPositionNotYetAvailable");
        clock.advance(25 * 60);
        let err = run(&input(true), &rds, &clock, DEFAULT_HORIZON)
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "BinlogPositionNotFound");
    }

    #[tokio::test]
    async fn malformed_event_is_not_found() {
        let rds = FakeClusters::default();
        rds.add_event(
            "orders-encrypted-writer",
            700,
            "Binlog position from crash recovery is garbage",
        );
        let err = run(&input(true), &rds, &FakeClock::default(), DEFAULT_HORIZON)
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "BinlogPositionNotFound");
    }

    #[tokio::test]
    async fn restore_not_ready_is_invalid_input() {
        let err = run(
            &input(false),
            &FakeClusters::default(),
            &FakeClock::default(),
            DEFAULT_HORIZON,
        )
        .await
        .unwrap_err();
        assert_eq!(err.error_name(), "InvalidInput");
    }

    #[tokio::test]
    async fn throttled_describe_events_is_transient() {
        let rds = FakeClusters::default();
        rds.fail_next(
            "instance_events",
            PortError::Transient("ThrottlingException".into()),
        );
        let err = run(&input(true), &rds, &FakeClock::default(), DEFAULT_HORIZON)
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "Transient");
    }
}
