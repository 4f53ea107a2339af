//! Lambda handler of the `FenceWrites` and `UnfenceWrites` states: wiring only. The step is
//! `aurora_core::steps::fence_writes`; clients are built once and reused while the function is warm.
//!
//! The fence's SQL half (`aurora_sql::SqlFence`) is built per invocation from the state document
//! (`aurora_aws::StateWriters`: `$.restore`'s source endpoint, `$.replication.sourceSecretArn`).
//!
//! Metrics: one embedded-metric-format line per invocation on stdout (`FenceConfirmMs` and
//! `Phase` after a fence, `Phase` after an unfence; `aurora_core::metrics`).
//!
//! Environment:
//! - `RDS_CA_BUNDLE` (required to fence): path of the RDS CA bundle (`global-bundle.pem`) the
//!   TLS connections verify the writer against.
//! - `FENCE_CONFIRM_SECONDS` (optional, default 120): the bound on ending the sessions and
//!   confirming the fence; keep it well under the function's timeout.
//! - `SOURCE_LOCK_TABLE`: the DynamoDB table of the per-source locks; both actions act only
//!   while this execution holds its source's lock.

use std::time::Duration;

use aurora_core::metrics as emf;
use aurora_core::parse_input;
use aurora_core::ports::{SystemClock, TokioSleeper};
use aurora_core::steps::fence_writes::{self, FenceSettings, FenceWritesInput};
use aurora_sql::SqlFence;
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = FenceSettings {
        confirm_timeout: Duration::from_secs(aurora_aws::env_number(
            "FENCE_CONFIRM_SECONDS",
            1..=600,
            FenceSettings::default().confirm_timeout.as_secs(),
            "seconds",
        )?),
        ..FenceSettings::default()
    };
    let config = aurora_aws::load_config().await;
    let fence = aurora_aws::RdsWriteFence::new(&config);
    let parameters = aurora_aws::RdsClusterParameters::new(&config);
    let secrets = aurora_aws::SecretsManagerSecrets::new(&config);
    let tls = aurora_aws::rds_ca::ca_bundle_tls_from_env();
    let lock = aurora_aws::DynamoSourceLock::from_env(&config)?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        let sql = SqlFence::new(aurora_aws::StateWriters::new(
            secrets.clone(),
            tls.clone(),
            event.payload.clone(),
        ));
        let dimensions = emf::Dimensions::from_input(&event.payload);
        let input: FenceWritesInput = parse_input(event.payload)?;
        let deps = fence_writes::Deps {
            fence: &fence,
            parameters: &parameters,
            sql: &sql,
            clock: &SystemClock,
            sleeper: &TokioSleeper,
            lock: &lock,
            settings,
        };
        let output = fence_writes::run_holding_lock(&input, &deps)
            .await
            .map_err(Diagnostic::from)?;
        if let Some(dimensions) = dimensions {
            aurora_aws::emit_metrics(&emf::fence_writes(dimensions, &output));
        }
        Ok::<_, Diagnostic>(output)
    }))
    .await
}
