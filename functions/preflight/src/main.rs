//! Lambda handler of the `Preflight` state: wiring only. The step is
//! `aurora_core::steps::preflight`; clients are built once and reused while the function is warm.
//!
//! Environment: `MIN_BINLOG_RETENTION_HOURS` (optional, default 24, at most 2160: the longest
//! retention Aurora MySQL keeps); `RDS_CA_BUNDLE`: path of
//! the RDS CA bundle (`/opt/rds-ca/global-bundle.pem` from the stack's `RdsCaBundleLayer`). The
//! bundle is checked once at start-up: without a readable one, preflight refuses specs that
//! verify or replicate natively (`RdsCaBundleMissing`), since the other SQL functions have the
//! same layer, and reports binlog retention and the users that bypass `read_only` as warnings
//! instead of checking them.
//! `SOURCE_LOCK_TABLE`: the DynamoDB table of the per-source locks; preflight takes the source's
//! lock last. `SMOKE_FUNCTION_ARNS`: the functions a spec's `smoke.functionArn` may name (the
//! stack's `SmokeFunctionArns`, comma-separated).

use std::path::PathBuf;
use std::sync::Arc;

use aurora_core::parse_input;
use aurora_core::ports::{BinlogRetention, FenceSql, SystemClock};
use aurora_core::spec::{MigrationSpec, ReplicationSpec};
use aurora_core::steps::preflight::{self, PreflightInput, PreflightSettings, SqlTls};
use aurora_sql::{check_ca_bundle, SqlBinlogRetention, SqlFence, Tls, CA_BUNDLE_FIX};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let bundle = std::env::var_os("RDS_CA_BUNDLE")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let sql_tls = match &bundle {
        None => SqlTls::Missing(format!("RDS_CA_BUNDLE is not set: {CA_BUNDLE_FIX}")),
        Some(path) => match check_ca_bundle(path) {
            Ok(_) => SqlTls::Ready,
            Err(error) => SqlTls::Missing(error.to_string()),
        },
    };
    let settings = PreflightSettings {
        // Aurora MySQL keeps binlogs for at most 2160 hours (90 days).
        min_binlog_retention_hours: aurora_aws::env_number(
            "MIN_BINLOG_RETENTION_HOURS",
            1..=2160,
            preflight::DEFAULT_MIN_BINLOG_RETENTION_HOURS.into(),
            "hours",
        )? as u32,
        sql_tls,
        // The stack's SmokeFunctionArns, comma-separated; empty: none may be named.
        smoke_functions: Some(
            std::env::var("SMOKE_FUNCTION_ARNS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|arn| !arn.is_empty())
                .map(str::to_string)
                .collect(),
        ),
    };
    let config = aurora_aws::load_config().await;
    let clusters = aurora_aws::RdsClusters::new(&config);
    let parameters = aurora_aws::RdsClusterParameters::new(&config);
    let kms = aurora_aws::AwsKmsKeys::new(&config);
    let dns = aurora_aws::Route53Dns::new(&config);
    let lock = aurora_aws::DynamoSourceLock::from_env(&config)?;
    // One TLS setting and one Secrets Manager client for both SQL readers of the source.
    let tls = bundle
        .filter(|_| settings.sql_tls == SqlTls::Ready)
        .map(|bundle| Tls::Required {
            root_certs: vec![bundle],
        });
    let secrets = aurora_aws::SecretsManagerSecrets::new(&config);
    let retention = tls
        .clone()
        .map(|tls| SqlBinlogRetention::new(Arc::new(secrets.clone()), tls));
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        let input: PreflightInput = parse_input(event.payload)?;
        // A spec that does not parse is preflight's to report; here it only names the secret.
        let secret_arn =
            MigrationSpec::from_value(&input.spec)
                .ok()
                .map(|spec| match spec.replication {
                    ReplicationSpec::Dms(d) => d.source_secret_arn,
                    ReplicationSpec::Native(n) => n.source_secret_arn,
                });
        // Where preflight lists the users that bypass `read_only`: the source's writer as RDS
        // reports it (the source may be named by its resource id until preflight resolves it),
        // with the spec's source secret.
        let fence_sql = tls.clone().map(|tls| {
            let writers = aurora_aws::RdsWriters::new(clusters.clone(), secrets.clone(), tls);
            SqlFence::new(match &secret_arn {
                Some(arn) => writers.with_default_secret(arn),
                None => writers,
            })
        });
        let deps = preflight::Deps {
            clusters: &clusters,
            parameters: &parameters,
            kms: &kms,
            dns: &dns,
            retention: retention.as_ref().map(|r| r as &dyn BinlogRetention),
            fence_sql: fence_sql.as_ref().map(|f| f as &dyn FenceSql),
            clock: &SystemClock,
            lock: &lock,
            settings: settings.clone(),
        };
        preflight::run(&input, &deps)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}
