//! PollLatency: reports the replication's state and CDC lag, and how long to wait before asking
//! again. The wait doubles while nothing changes (bounded), and drops back to the minimum when the
//! state changes or the lag comes near the threshold, so a long catch-up costs few transitions
//! and the moment of sync is not overshot by a long wait.
//!
//! The engine's own CDC latency (DMS `DataMigrationStatistics.CDCLatency`) is the gate; CloudWatch's
//! `CDCLatencySource` / `CDCLatencyTarget` are reported beside it as a second opinion, and their
//! absence or failure never fails the step.
//!
//! Input: the spec (`switchover.maxLagSeconds`), `migration`, and the previous `lag` if any.
//! Output: [`LagOutput`]. Errors: `MigrationFailed` (failed, or stopped unexpectedly),
//! `Transient`.

use serde::Deserialize;
use time::Duration;

use crate::error_names;
use crate::errors::{impl_diagnostic, NamedError, PortError};
use crate::poll;
use crate::ports::{Clock, LagMetrics, Replication, ReplicationState};
use crate::spec::SwitchoverSpec;
use crate::state::{LagOutput, MigrationOutput};

/// DMS status and CloudWatch lag metrics for the DMS engine; `secretsmanager:GetSecretValue` for
/// the native engine's credentials.
pub const IAM_ACTIONS: &[&str] = &[
    "dms:DescribeDataMigrations",
    "cloudwatch:GetMetricData",
    "secretsmanager:GetSecretValue",
    "kms:Decrypt",
];

/// Below this lag (or four times the threshold, if larger) polls stay short.
const NEAR_SYNC_SECONDS: u64 = 60;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollLatencyInput {
    #[serde(default)]
    pub switchover: SwitchoverSpec,
    pub migration: MigrationOutput,
    #[serde(default)]
    pub lag: Option<LagOutput>,
}

#[derive(Debug, thiserror::Error)]
pub enum PollLatencyError {
    #[error("migration `{name}` failed: {reason}")]
    Failed { name: String, reason: String },
    #[error(transparent)]
    Port(#[from] PortError),
}

impl NamedError for PollLatencyError {
    fn error_name(&self) -> &'static str {
        match self {
            PollLatencyError::Failed { .. } => error_names::MIGRATION_FAILED,
            PollLatencyError::Port(e) => e.default_name(),
        }
    }
}

impl_diagnostic!(PollLatencyError);

/// What PollLatency runs over.
pub struct Deps<'a> {
    pub replication: &'a dyn Replication,
    pub metrics: &'a dyn LagMetrics,
    pub clock: &'a dyn Clock,
}

pub async fn run(input: &PollLatencyInput, deps: &Deps<'_>) -> Result<LagOutput, PollLatencyError> {
    let (replication, metrics, clock) = (deps.replication, deps.metrics, deps.clock);
    let handle = &input.migration.handle;
    let status = replication.status(handle).await?;
    match status.state {
        ReplicationState::Failed
        | ReplicationState::Stopping
        | ReplicationState::Stopped
        | ReplicationState::Deleting => {
            return Err(PollLatencyError::Failed {
                name: handle.name.clone(),
                reason: status.last_failure.unwrap_or_else(|| {
                    format!("stopped unexpectedly (status {})", status.status_text)
                }),
            })
        }
        // An unknown status is neither progress nor failure: keep polling, never gate on it.
        ReplicationState::Creating
        | ReplicationState::Ready
        | ReplicationState::Starting
        | ReplicationState::Running
        | ReplicationState::Unknown => {}
    }
    let running = status.state == ReplicationState::Running;
    let metrics_lag = if running {
        match metrics
            .cdc_latency(handle, clock.now() - Duration::minutes(10))
            .await
        {
            Ok(sample) => sample.and_then(|s| match (s.source_seconds, s.target_seconds) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            }),
            Err(error) => {
                tracing::warn!(%error, "CloudWatch CDC latency unavailable; using the engine's figure alone");
                None
            }
        }
    } else {
        None
    };
    let max_lag = u64::from(input.switchover.max_lag_seconds);
    let lag = status.cdc_latency_seconds;
    let in_sync = running && lag.is_some_and(|l| l <= max_lag);
    let previous = input.lag.as_ref();
    let near = lag.is_some_and(|l| l <= NEAR_SYNC_SECONDS.max(max_lag * 4));
    let changed = previous.is_none_or(|p| p.status != status.state) || near;
    Ok(LagOutput {
        next_poll_seconds: if in_sync {
            0
        } else {
            poll::REPLICATION.next(previous.map(|p| p.next_poll_seconds), changed)
        },
        status: status.state,
        status_text: status.status_text,
        lag_seconds: lag,
        metrics_lag_seconds: metrics_lag,
        in_sync,
        polls: previous.map_or(1, |p| p.polls.saturating_add(1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::BinlogPosition;
    use crate::fakes::{self, FakeClock, FakeLagMetrics, FakeReplication};
    use crate::ports::{CdcRequest, DatabaseEndpoint, LagSample};

    const NAME: &str = "aurora-encrypt-orders-encrypted";

    /// PollLatency over the fakes.
    async fn run(
        input: &PollLatencyInput,
        replication: &FakeReplication,
        metrics: &FakeLagMetrics,
        clock: &FakeClock,
    ) -> Result<LagOutput, PollLatencyError> {
        let deps = Deps {
            replication,
            metrics,
            clock,
        };
        super::run(input, &deps).await
    }

    async fn setup() -> (FakeReplication, PollLatencyInput) {
        let dms = FakeReplication::default();
        let spec: crate::spec::MigrationSpec =
            serde_json::from_value(fakes::state_document("orders", "e")).unwrap();
        let endpoint = DatabaseEndpoint {
            cluster_id: "x".into(),
            host: "x".into(),
            port: 3306,
        };
        let handle = dms
            .ensure_cdc(&CdcRequest {
                name: NAME.into(),
                source: endpoint.clone(),
                target: endpoint,
                start: BinlogPosition::new("mysql-bin.000001", 4),
                settings: spec.replication.clone(),
                tags: Vec::new(),
            })
            .await
            .unwrap();
        let input = PollLatencyInput {
            switchover: spec.switchover,
            migration: MigrationOutput {
                handle,
                status: ReplicationState::Starting,
                start_position: BinlogPosition::new("mysql-bin.000001", 4),
            },
            lag: None,
        };
        (dms, input)
    }

    #[tokio::test]
    async fn poll_hint_grows_while_catching_up_and_is_bounded() {
        let (dms, mut input) = setup().await;
        let metrics = FakeLagMetrics::default();
        let clock = FakeClock::default();
        dms.set_status(NAME, ReplicationState::Running, Some(4 * 3600), None);
        let mut waits = Vec::new();
        for _ in 0..8 {
            let out = run(&input, &dms, &metrics, &clock).await.unwrap();
            assert!(!out.in_sync);
            waits.push(out.next_poll_seconds);
            input.lag = Some(out);
        }
        assert_eq!(waits, vec![15, 30, 60, 120, 240, 480, 600, 600]);
        assert_eq!(input.lag.as_ref().unwrap().polls, 8);
    }

    #[tokio::test]
    async fn near_sync_polls_stay_short_and_in_sync_stops_polling() {
        let (dms, mut input) = setup().await;
        let (metrics, clock) = (FakeLagMetrics::default(), FakeClock::default());
        dms.set_status(NAME, ReplicationState::Running, Some(3600), None);
        input.lag = Some(run(&input, &dms, &metrics, &clock).await.unwrap());
        input.lag = Some(run(&input, &dms, &metrics, &clock).await.unwrap());
        dms.set_status(NAME, ReplicationState::Running, Some(40), None);
        let out = run(&input, &dms, &metrics, &clock).await.unwrap();
        assert_eq!(out.next_poll_seconds, 15);
        dms.set_status(NAME, ReplicationState::Running, Some(2), None);
        *metrics.sample.lock().unwrap() = Some(LagSample {
            source_seconds: Some(1.0),
            target_seconds: Some(3.0),
        });
        let out = run(&input, &dms, &metrics, &clock).await.unwrap();
        assert!(out.in_sync);
        assert_eq!(out.next_poll_seconds, 0);
        assert_eq!(out.lag_seconds, Some(2));
        assert_eq!(out.metrics_lag_seconds, Some(3.0));
    }

    #[tokio::test]
    async fn starting_migration_is_not_in_sync_even_without_lag() {
        let (dms, input) = setup().await;
        dms.set_status(NAME, ReplicationState::Starting, Some(0), None);
        let out = run(
            &input,
            &dms,
            &FakeLagMetrics::default(),
            &FakeClock::default(),
        )
        .await
        .unwrap();
        assert!(!out.in_sync);
        assert_eq!(out.next_poll_seconds, 15);
    }

    #[tokio::test]
    async fn metrics_failure_does_not_fail_the_poll() {
        let (dms, input) = setup().await;
        dms.set_status(NAME, ReplicationState::Running, Some(1), None);
        let metrics = FakeLagMetrics::default();
        metrics.fail_next(PortError::AccessDenied("cloudwatch:GetMetricData".into()));
        let out = run(&input, &dms, &metrics, &FakeClock::default())
            .await
            .unwrap();
        assert!(out.in_sync);
        assert_eq!(out.metrics_lag_seconds, None);
    }

    #[tokio::test]
    async fn failed_or_stopped_migration_is_migration_failed_with_the_engine_message() {
        let (dms, input) = setup().await;
        dms.set_status(
            NAME,
            ReplicationState::Failed,
            None,
            Some("Binary log file not found"),
        );
        let err = run(
            &input,
            &dms,
            &FakeLagMetrics::default(),
            &FakeClock::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.error_name(), "MigrationFailed");
        assert!(err.to_string().contains("Binary log file not found"));
        dms.set_status(NAME, ReplicationState::Stopped, None, None);
        let err = run(
            &input,
            &dms,
            &FakeLagMetrics::default(),
            &FakeClock::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.error_name(), "MigrationFailed");
    }

    #[tokio::test]
    async fn throttled_status_is_transient() {
        let (dms, input) = setup().await;
        dms.fail_next("status", PortError::Transient("Throttling".into()));
        let err = run(
            &input,
            &dms,
            &FakeLagMetrics::default(),
            &FakeClock::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.error_name(), "Transient");
    }
}
