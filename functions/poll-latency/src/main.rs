//! Lambda handler of the `PollLatency` state: wiring only. The step is
//! `aurora_core::steps::poll_latency`; clients are built once and reused while the function is warm.

use aurora_core::parse_input;
use aurora_core::ports::SystemClock;
use aurora_core::steps::poll_latency::{self, PollLatencyInput};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = aurora_aws::load_config().await;
    let replication = aurora_aws::DmsReplication::new(&config);
    let metrics = aurora_aws::CloudWatchLag::new(&config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        let input: PollLatencyInput = parse_input(event.payload)?;
        poll_latency::run(&input, &replication, &metrics, &SystemClock)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}
