//! Lambda handler of the `StopMigration` state: wiring only. The step is
//! `aurora_core::steps::stop_migration`; clients are built once and reused while the function is warm.

use aurora_core::parse_input;
use aurora_core::steps::stop_migration::{self, StopMigrationInput};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = aurora_aws::load_config().await;
    let replication = aurora_aws::DmsReplication::new(&config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        let input: StopMigrationInput = parse_input(event.payload)?;
        stop_migration::run(&input, &replication)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}
