//! Lambda handler of the `SwapDns` state: wiring only. The step is
//! `aurora_core::steps::swap_dns`; clients are built once and reused while the function is warm.
//!
//! Environment: `SOURCE_LOCK_TABLE`: the DynamoDB table of the per-source locks; the swap and its
//! revert act only while this execution holds its source's lock.

use aurora_core::parse_input;
use aurora_core::ports::SystemClock;
use aurora_core::steps::swap_dns::{self, SwapDnsInput};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = aurora_aws::load_config().await;
    let dns = aurora_aws::Route53Dns::new(&config);
    let lock = aurora_aws::DynamoSourceLock::from_env(&config)?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        let input: SwapDnsInput = parse_input(event.payload)?;
        swap_dns::run_holding_lock(&input, &lock, &dns, &SystemClock)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}
