//! Lambda handler of the `Snapshot` state: wiring only. The step is
//! `aurora_core::steps::snapshot`; clients are built once and reused while the function is warm.

use aurora_core::parse_input;
use aurora_core::ports::SystemClock;
use aurora_core::steps::snapshot::{self, SnapshotInput};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = aurora_aws::load_config().await;
    let clusters = aurora_aws::RdsClusters::new(&config);
    let deps = snapshot::Deps {
        clusters: &clusters,
        clock: &SystemClock,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        let input: SnapshotInput = parse_input(event.payload)?;
        snapshot::run(&input, &deps).await.map_err(Diagnostic::from)
    }))
    .await
}
