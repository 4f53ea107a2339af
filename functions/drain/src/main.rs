//! Lambda handler of the `Drain` state: wiring only. The step is `aurora_core::steps::drain`;
//! clients are built once and reused while the function is warm.
//!
//! The replication engine is the one `$.replication.engine` names, chosen per invocation
//! (`aurora_aws::ReplicationEngines`): DMS, or native binlog replication over SQL with the
//! credentials of the secrets `$.replication` names.
//!
//! Metrics: one embedded-metric-format line per invocation on stdout (`DrainMs`,
//! `CdcLagSeconds`, `Phase`; `aurora_core::metrics`).
//!
//! Environment:
//! - `DRAIN_BUDGET_SECONDS` (optional, default 60): the longest wait inside one invocation;
//!   keep it well under the function's timeout.
//! - `RDS_CA_BUNDLE` (required): path of the RDS CA bundle (`global-bundle.pem`) the TLS
//!   connections verify the servers against: the fence's marker is read on the target over SQL
//!   (`aurora_aws::StateWriters`: `$.restore.targetEndpoint`, `$.replication.targetSecretArn`).

use std::time::Duration;

use aurora_core::metrics as emf;
use aurora_core::parse_input;
use aurora_core::ports::{SystemClock, TokioSleeper};
use aurora_core::steps::drain::{self, DrainInput, DrainSettings};
use aurora_sql::SqlFence;
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = DrainSettings {
        budget: Duration::from_secs(aurora_aws::env_number(
            "DRAIN_BUDGET_SECONDS",
            1..=840,
            DrainSettings::default().budget.as_secs(),
            "seconds",
        )?),
        ..DrainSettings::default()
    };
    let config = aurora_aws::load_config().await;
    let engines = aurora_aws::ReplicationEngines::from_env(&config);
    let secrets = aurora_aws::SecretsManagerSecrets::new(&config);
    let tls = aurora_aws::rds_ca::ca_bundle_tls_from_env();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        let replication = engines.for_state(&event.payload)?;
        let markers = SqlFence::new(aurora_aws::StateWriters::new(
            secrets.clone(),
            tls.clone(),
            event.payload.clone(),
        ));
        let dimensions = emf::Dimensions::from_input(&event.payload);
        let input: DrainInput = parse_input(event.payload)?;
        let deps = drain::Deps {
            replication: &replication,
            markers: &markers,
            clock: &SystemClock,
            sleeper: &TokioSleeper,
            settings,
        };
        let output = drain::run(&input, &deps).await.map_err(Diagnostic::from)?;
        if let Some(dimensions) = dimensions {
            aurora_aws::emit_metrics(&emf::drain(dimensions, &output));
        }
        Ok::<_, Diagnostic>(output)
    }))
    .await
}
