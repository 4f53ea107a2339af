//! Lambda handler of the `CreateMigration` state: wiring only. The step is
//! `aurora_core::steps::create_migration`; clients are built once and reused while the function is warm.
//!
//! The replication engine is the one `$.replication.engine` names, chosen per invocation
//! (`aurora_aws::ReplicationEngines`): DMS, or native binlog replication over SQL with the
//! credentials of the secrets `$.replication` names.
//!
//! The same function opens a failback window (`OpenFailbackWindow`,
//! `aurora_core::steps::failback`: no I/O), and creates the replication back to the old cluster
//! from the reversed view that step writes.
//!
//! Environment: `RDS_CA_BUNDLE` (optional; required by the native engine): path of the RDS CA
//! bundle (`global-bundle.pem`) the TLS connections verify the servers against.

use aurora_core::errors::output_json;
use aurora_core::parse_input;
use aurora_core::ports::SystemClock;
use aurora_core::steps::create_migration::{self, CreateMigrationInput};
use aurora_core::steps::failback::{self, OpenWindowRequest};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = aurora_aws::load_config().await;
    let engines = aurora_aws::ReplicationEngines::from_env(&config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        if failback::is_open_window_request(&event.payload) {
            let request: OpenWindowRequest = parse_input(event.payload)?;
            let view = failback::open_window(&request, &SystemClock).map_err(Diagnostic::from)?;
            return output_json(view);
        }
        let replication = engines.for_state(&event.payload)?;
        let input: CreateMigrationInput = parse_input(event.payload)?;
        let deps = create_migration::Deps {
            replication: &replication,
        };
        let output = create_migration::run(&input, &deps)
            .await
            .map_err(Diagnostic::from)?;
        output_json(output)
    }))
    .await
}
