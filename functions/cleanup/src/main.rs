//! Lambda handler of the `Cleanup` state: wiring only. The step is `aurora_core::steps::cleanup`;
//! clients are built once and reused while the function is warm.
//!
//! The replication engine is the one `$.replication.engine` names, chosen per invocation
//! (`aurora_aws::ReplicationEngines`): DMS, or native binlog replication over SQL with the
//! credentials of the secrets `$.replication` names.
//!
//! The fence's schema is dropped over SQL (`aurora_sql::SqlFence` over
//! `aurora_aws::StateWriters`: `$.restore`'s endpoints, the secrets `$.replication` names).
//!
//! With `binlogRetention.set`, the source's binlog retention is put back over SQL
//! (`aurora_sql::SqlBinlogRetention`, the spec's source secret, `$.preflight`'s writer endpoint).
//!
//! Environment: `RDS_CA_BUNDLE` (optional; required by the native engine and once the run has
//! fenced): path of the RDS CA bundle (`global-bundle.pem`) the TLS connections verify the
//! servers against.
//! `SOURCE_LOCK_TABLE`: the DynamoDB table of the per-source locks, released when cleanup ends.

use std::sync::Arc;

use aurora_core::parse_input;
use aurora_core::ports::{BinlogRetention, Replication, SystemClock};
use aurora_core::steps::cleanup::{self, CleanupInput};
use aurora_sql::{SqlBinlogRetention, SqlFence};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = aurora_aws::load_config().await;
    let engines = aurora_aws::ReplicationEngines::from_env(&config);
    let clusters = aurora_aws::RdsClusters::new(&config);
    let retirement = aurora_aws::RdsClusterRetirement::new(&config);
    let parameters = aurora_aws::RdsClusterParameters::new(&config);
    let secrets = aurora_aws::SecretsManagerSecrets::new(&config);
    let tls = aurora_aws::rds_ca::ca_bundle_tls_from_env();
    let lock = aurora_aws::DynamoSourceLock::from_env(&config)?;
    // Without a CA bundle there is no TLS to log in with: a run that must put the retention
    // back then fails by name.
    let retention = tls
        .clone()
        .map(|tls| SqlBinlogRetention::new(Arc::new(secrets.clone()), tls));
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        let replication = engines.for_state(&event.payload)?;
        // The failback window's replication runs the other way: its engine is `$.reverse`'s.
        let reverse = match event.payload.get("reverse").filter(|r| !r.is_null()) {
            Some(view) => Some(engines.for_state(view)?),
            None => None,
        };
        let fence_sql = SqlFence::new(aurora_aws::StateWriters::new(
            secrets.clone(),
            tls.clone(),
            event.payload.clone(),
        ));
        let input: CleanupInput = parse_input(event.payload)?;
        let deps = cleanup::Deps {
            replication: &replication,
            reverse_replication: reverse.as_ref().map(|r| r as &dyn Replication),
            clusters: &clusters,
            retirement: &retirement,
            fence_sql: &fence_sql,
            retention: retention.as_ref().map(|r| r as &dyn BinlogRetention),
            parameters: &parameters,
            clock: &SystemClock,
            lock: &lock,
        };
        cleanup::run_holding_lock(&input, &deps)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}
