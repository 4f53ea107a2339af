//! Lambda handler of the `PollLatency` state: wiring only. The step is
//! `aurora_core::steps::poll_latency`; clients are built once and reused while the function is warm.
//!
//! The replication engine is the one `$.replication.engine` names, chosen per invocation
//! (`aurora_aws::ReplicationEngines`): DMS, or native binlog replication over SQL with the
//! credentials of the secrets `$.replication` names.
//!
//! Metrics: one embedded-metric-format line per invocation on stdout (`CdcLagSeconds`, `Phase`;
//! `aurora_core::metrics`).
//!
//! Environment: `RDS_CA_BUNDLE` (optional; required by the native engine): path of the RDS CA
//! bundle (`global-bundle.pem`) the TLS connections verify the servers against.

use aurora_core::metrics as emf;
use aurora_core::parse_input;
use aurora_core::ports::SystemClock;
use aurora_core::steps::poll_latency::{self, PollLatencyInput};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = aurora_aws::load_config().await;
    let engines = aurora_aws::ReplicationEngines::from_env(&config);
    let metrics = aurora_aws::CloudWatchLag::new(&config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        let replication = engines.for_state(&event.payload)?;
        let dimensions = emf::Dimensions::from_input(&event.payload);
        let input: PollLatencyInput = parse_input(event.payload)?;
        let deps = poll_latency::Deps {
            replication: &replication,
            metrics: &metrics,
            clock: &SystemClock,
        };
        let output = poll_latency::run(&input, &deps)
            .await
            .map_err(Diagnostic::from)?;
        if let Some(dimensions) = dimensions {
            aurora_aws::emit_metrics(&emf::poll_latency(dimensions, &output));
        }
        Ok::<_, Diagnostic>(output)
    }))
    .await
}
