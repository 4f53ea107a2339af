//! Lambda handler of the `StopMigration` state: wiring only. The step is
//! `aurora_core::steps::stop_migration`; clients are built once and reused while the function is warm.
//!
//! The replication engine is the one `$.replication.engine` names, chosen per invocation
//! (`aurora_aws::ReplicationEngines`): DMS, or native binlog replication over SQL with the
//! credentials of the secrets `$.replication` names.
//!
//! Environment: `RDS_CA_BUNDLE` (optional; required by the native engine): path of the RDS CA
//! bundle (`global-bundle.pem`) the TLS connections verify the servers against.

use aurora_core::parse_input;
use aurora_core::steps::stop_migration::{self, StopMigrationInput};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = aurora_aws::load_config().await;
    let engines = aurora_aws::ReplicationEngines::from_env(&config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        let replication = engines.for_state(&event.payload)?;
        let input: StopMigrationInput = parse_input(event.payload)?;
        let deps = stop_migration::Deps {
            replication: &replication,
        };
        stop_migration::run(&input, &deps)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}
