//! Lambda handler of the `Preflight` state: wiring only. The step is
//! `aurora_core::steps::preflight`; clients are built once and reused while the function is warm.
//!
//! Environment: `MIN_BINLOG_RETENTION_HOURS` (optional, default 24); `RDS_CA_BUNDLE` (optional:
//! path of the RDS CA bundle, e.g. `global-bundle.pem` shipped with the function). Without the
//! bundle, preflight cannot log in to the source over TLS and reports binlog retention as a
//! warning instead of checking it. `SOURCE_LOCK_TABLE`: the DynamoDB table of the per-source
//! locks; preflight takes the source's lock last.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use aurora_core::parse_input;
use aurora_core::ports::{BinlogRetention, PortResult, SystemClock};
use aurora_core::steps::preflight::{self, PreflightInput, PreflightPorts, PreflightSettings};
use aurora_sql::{SecretsSource, SqlBinlogRetention, Tls};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

/// Secrets Manager as the SQL adapters' source of credentials.
struct Secrets(aurora_aws::SecretsManagerSecrets);

#[async_trait]
impl SecretsSource for Secrets {
    async fn secret_json(&self, secret_arn: &str) -> PortResult<String> {
        self.0.secret_string(secret_arn).await
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = PreflightSettings {
        min_binlog_retention_hours: hours_from_env()?,
    };
    let config = aurora_aws::load_config().await;
    let clusters = aurora_aws::RdsClusters::new(&config);
    let parameters = aurora_aws::RdsClusterParameters::new(&config);
    let kms = aurora_aws::AwsKmsKeys::new(&config);
    let dns = aurora_aws::Route53Dns::new(&config);
    let lock = aurora_aws::DynamoSourceLock::from_env(&config)?;
    let retention = std::env::var_os("RDS_CA_BUNDLE").map(|bundle| {
        let secrets = Arc::new(Secrets(aurora_aws::SecretsManagerSecrets::new(&config)));
        SqlBinlogRetention::new(
            secrets,
            Tls::Required {
                root_certs: vec![PathBuf::from(bundle)],
            },
        )
    });
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        let input: PreflightInput = parse_input(event.payload)?;
        let ports = PreflightPorts {
            clusters: &clusters,
            parameters: &parameters,
            kms: &kms,
            dns: &dns,
            retention: retention.as_ref().map(|r| r as &dyn BinlogRetention),
            clock: &SystemClock,
            lock: &lock,
        };
        preflight::run(&input, &ports, settings)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}

/// `MIN_BINLOG_RETENTION_HOURS` (optional): the binlog retention preflight requires.
fn hours_from_env() -> Result<u32, Error> {
    match std::env::var("MIN_BINLOG_RETENTION_HOURS") {
        Err(_) => Ok(preflight::DEFAULT_MIN_BINLOG_RETENTION_HOURS),
        Ok(text) => match text.parse::<u32>() {
            Ok(hours) if hours > 0 => Ok(hours),
            _ => Err(format!(
                "MIN_BINLOG_RETENTION_HOURS must be a positive number of hours, got {text:?}"
            )
            .into()),
        },
    }
}
