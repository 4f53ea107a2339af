//! Lambda handler of the `Verify` state: wiring only. The step is `aurora_core::steps::verify`;
//! clients are built once and reused while the function is warm.
//!
//! Each side is an `aurora_sql::WriterVerifier` over `aurora_aws::StateWriters`: the endpoints
//! `$.restore` recorded and the secrets `$.replication` names (the source's user needs `SELECT`
//! on the verified databases). Secrets are fetched only when a side is read, so
//! `verify.mode: off` touches nothing.
//!
//! Environment: `RDS_CA_BUNDLE`: path of the RDS CA bundle (`global-bundle.pem`) the TLS
//! connections verify the servers against. Needed only when a side is read: without it, a
//! verification fails with `InvalidInput` naming the variable (Preflight refuses such a spec
//! before anything is created), and `verify.mode: off` still succeeds.

use std::sync::Arc;

use aurora_core::parse_input;
use aurora_core::ports::{SystemClock, TokioSleeper};
use aurora_core::state::RestoreOutput;
use aurora_core::steps::verify::{self, VerifyInput};
use aurora_sql::WriterVerifier;
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde::Deserialize;
use serde_json::Value;

/// Which clusters the two sides are, from the same state document as the step's input.
#[derive(Deserialize)]
struct Sides {
    restore: RestoreOutput,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = aurora_aws::load_config().await;
    let secrets = aurora_aws::SecretsManagerSecrets::new(&config);
    let tls = aurora_aws::rds_ca::ca_bundle_tls_from_env();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        let input: VerifyInput = parse_input(event.payload.clone())?;
        let Sides { restore } = parse_input(event.payload.clone())?;
        let cluster = |endpoint: Option<aurora_core::ports::DatabaseEndpoint>, field: &str| {
            endpoint
                .map(|e| e.cluster_id)
                .ok_or_else(|| aurora_core::InvalidInput::new(field, "is required to verify"))
        };
        let source_id = cluster(restore.source_endpoint, "restore.sourceEndpoint")?;
        let target_id = cluster(restore.target_endpoint, "restore.targetEndpoint")?;
        let writers = Arc::new(aurora_aws::StateWriters::new(
            secrets.clone(),
            tls.clone(),
            event.payload,
        ));
        let source = WriterVerifier::new(writers.clone(), source_id);
        let target = WriterVerifier::new(writers, target_id);
        verify::run(&input, &source, &target, &SystemClock, &TokioSleeper)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}
