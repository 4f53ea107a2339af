//! Lambda handler of the `FenceWrites` and `UnfenceWrites` states: wiring only. The step is
//! `aurora_core::steps::fence_writes`; clients are built once and reused while the function is warm.
//!
//! Environment: `SOURCE_LOCK_TABLE`: the DynamoDB table of the per-source locks; both actions act
//! only while this execution holds its source's lock.

use aurora_core::parse_input;
use aurora_core::ports::SystemClock;
use aurora_core::steps::fence_writes::{self, FenceWritesInput};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = aurora_aws::load_config().await;
    let fence = aurora_aws::RdsWriteFence::new(&config);
    let parameters = aurora_aws::RdsClusterParameters::new(&config);
    let lock = aurora_aws::DynamoSourceLock::from_env(&config)?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        let input: FenceWritesInput = parse_input(event.payload)?;
        fence_writes::run_holding_lock(&input, &lock, &fence, Some(&parameters), &SystemClock)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}
