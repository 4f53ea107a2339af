//! Lambda handler of the `Cleanup` state: wiring only. The step is `aurora_core::steps::cleanup`;
//! clients are built once and reused while the function is warm.

use aurora_core::parse_input;
use aurora_core::steps::cleanup::{self, CleanupInput};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = aurora_aws::load_config().await;
    let replication = aurora_aws::DmsReplication::new(&config);
    let clusters = aurora_aws::RdsClusters::new(&config);
    let retirement = aurora_aws::RdsClusterRetirement::new(&config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        let input: CleanupInput = parse_input(event.payload)?;
        cleanup::run(&input, &replication, &clusters, &retirement)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}
