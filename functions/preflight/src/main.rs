//! Lambda handler of the `Preflight` state: wiring only. The step is
//! `aurora_core::steps::preflight`; clients are built once and reused while the function is warm.
//!
//! Environment: `MIN_BINLOG_RETENTION_HOURS` (optional, default 24); `RDS_CA_BUNDLE`: path of
//! the RDS CA bundle (`/opt/rds-ca/global-bundle.pem` from the stack's `RdsCaBundleLayer`). The
//! bundle is checked once at start-up: without a readable one, preflight refuses specs that
//! verify or replicate natively (`RdsCaBundleMissing`), since the other SQL functions have the
//! same layer, and reports binlog retention and the users that bypass `read_only` as warnings
//! instead of checking them.
//! `SOURCE_LOCK_TABLE`: the DynamoDB table of the per-source locks; preflight takes the source's
//! lock last.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use aurora_core::errors::PortError;
use aurora_core::parse_input;
use aurora_core::ports::{
    BinlogRetention, Clusters, DatabaseEndpoint, FenceSql, PortResult, SystemClock,
};
use aurora_core::spec::{MigrationSpec, ReplicationSpec};
use aurora_core::steps::preflight::{
    self, PreflightInput, PreflightPorts, PreflightSettings, SqlTls,
};
use aurora_sql::{
    check_ca_bundle, ConnectionSettings, SecretValue, SecretsSource, SqlBinlogRetention, SqlFence,
    Tls, WriterConnections, CA_BUNDLE_FIX,
};
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

/// The source's writer endpoint (DescribeDBClusters) with the spec's source secret: where
/// preflight lists the users that bypass `read_only`.
struct SourceWriter<'a> {
    clusters: &'a aurora_aws::RdsClusters,
    secrets: &'a aurora_aws::SecretsManagerSecrets,
    tls: Tls,
    secret_arn: Option<String>,
}

#[async_trait]
impl WriterConnections for SourceWriter<'_> {
    async fn writer(&self, cluster_id: &str) -> PortResult<ConnectionSettings> {
        let secret_arn = self.secret_arn.as_deref().ok_or_else(|| {
            PortError::InvalidRequest("replication.sourceSecretArn is required".into())
        })?;
        let cluster = self
            .clusters
            .describe_cluster(cluster_id)
            .await?
            .ok_or_else(|| {
                PortError::InvalidState(format!("cluster {cluster_id} does not exist"))
            })?;
        let host = cluster.endpoint.ok_or_else(|| {
            PortError::InvalidState(format!("cluster {cluster_id} has no endpoint"))
        })?;
        let endpoint = DatabaseEndpoint {
            cluster_id: cluster_id.to_string(),
            host,
            port: cluster.port.unwrap_or(3306),
        };
        let secret = SecretValue::from_json(&self.secrets.secret_string(secret_arn).await?)?;
        secret.at_endpoint(&endpoint, self.tls.clone())
    }
}

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
        min_binlog_retention_hours: hours_from_env()?,
        sql_tls,
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
        .map(|tls| SqlBinlogRetention::new(Arc::new(Secrets(secrets.clone())), tls));
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
        let fence_sql = tls.clone().map(|tls| {
            SqlFence::new(SourceWriter {
                clusters: &clusters,
                secrets: &secrets,
                tls,
                secret_arn,
            })
        });
        let ports = PreflightPorts {
            clusters: &clusters,
            parameters: &parameters,
            kms: &kms,
            dns: &dns,
            retention: retention.as_ref().map(|r| r as &dyn BinlogRetention),
            fence_sql: fence_sql.as_ref().map(|f| f as &dyn FenceSql),
            clock: &SystemClock,
            lock: &lock,
        };
        preflight::run(&input, &ports, settings.clone())
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
