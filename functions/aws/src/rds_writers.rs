//! Where SQL logs in when no step has recorded the endpoints yet: each cluster's writer
//! endpoint as `DescribeDBClusters` reports it now, with the secret named for that cluster, over
//! TLS verified against the RDS CA bundle. Preflight (before Restore records anything) and
//! `run --local --backend aws` use it; the Lambdas after Restore read `$.restore` instead
//! ([`crate::StateWriters`]).

use async_trait::async_trait;
use aurora_core::errors::PortError;
use aurora_core::ports::{Clusters, DatabaseEndpoint, PortResult};
use aurora_sql::{ConnectionSettings, SecretsSource, Tls, WriterConnections};

use crate::{RdsClusters, SecretsManagerSecrets};

/// [`WriterConnections`] over `DescribeDBClusters` and Secrets Manager.
#[derive(Clone, Debug)]
pub struct RdsWriters {
    clusters: RdsClusters,
    secrets: SecretsManagerSecrets,
    tls: Tls,
    /// Cluster id → the ARN of the secret to log in to it with.
    secret_arns: Vec<(String, String)>,
    /// The secret for any other cluster.
    default_secret_arn: Option<String>,
}

impl RdsWriters {
    pub fn new(clusters: RdsClusters, secrets: SecretsManagerSecrets, tls: Tls) -> Self {
        Self {
            clusters,
            secrets,
            tls,
            secret_arns: Vec::new(),
            default_secret_arn: None,
        }
    }

    /// Logs in to `cluster_id` with the secret `secret_arn`.
    pub fn with_secret(mut self, cluster_id: &str, secret_arn: &str) -> Self {
        self.secret_arns
            .push((cluster_id.to_string(), secret_arn.to_string()));
        self
    }

    /// Logs in to any cluster not named by [`Self::with_secret`] with `secret_arn`: where the
    /// one cluster asked for is not known by its id yet (preflight, before it resolves a source
    /// named by its resource id).
    pub fn with_default_secret(mut self, secret_arn: &str) -> Self {
        self.default_secret_arn = Some(secret_arn.to_string());
        self
    }
}

/// `cluster_id`'s writer endpoint, from `DescribeDBClusters`.
pub async fn writer_endpoint(
    clusters: &dyn Clusters,
    cluster_id: &str,
) -> PortResult<DatabaseEndpoint> {
    let cluster = clusters
        .describe_cluster(cluster_id)
        .await?
        .ok_or_else(|| {
            PortError::InvalidState(format!("cluster {cluster_id} does not exist (yet)"))
        })?;
    let host = cluster.endpoint.ok_or_else(|| {
        PortError::InvalidState(format!("cluster {cluster_id} has no endpoint yet"))
    })?;
    Ok(DatabaseEndpoint {
        cluster_id: cluster_id.to_string(),
        host,
        port: cluster.port.unwrap_or(3306),
    })
}

#[async_trait]
impl WriterConnections for RdsWriters {
    async fn writer(&self, cluster_id: &str) -> PortResult<ConnectionSettings> {
        let secret_arn = self
            .secret_arns
            .iter()
            .find(|(id, _)| id == cluster_id)
            .map(|(_, arn)| arn)
            .or(self.default_secret_arn.as_ref())
            .ok_or_else(|| {
                PortError::InvalidRequest(format!(
                    "no secret names how to log in to `{cluster_id}`"
                ))
            })?;
        let endpoint = writer_endpoint(&self.clusters, cluster_id).await?;
        let secret = self.secrets.secret_value(secret_arn).await?;
        secret.at_endpoint(&endpoint, self.tls.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::client;
    use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
    use aws_sdk_rds::types::DbCluster;
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
    use aws_smithy_mocks::mock;

    const SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-AbCdEf";

    fn writers() -> RdsWriters {
        let describe = mock!(aws_sdk_rds::Client::describe_db_clusters)
            .match_requests(|r| r.db_cluster_identifier() == Some("orders"))
            .then_output(|| {
                DescribeDbClustersOutput::builder()
                    .db_clusters(
                        DbCluster::builder()
                            .db_cluster_identifier("orders")
                            .endpoint("orders.cluster-abc.eu-west-1.rds.amazonaws.com")
                            .port(3307)
                            .build(),
                    )
                    .build()
            });
        let secret = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
            .match_requests(|r| r.secret_id() == Some(SECRET))
            .then_output(|| {
                GetSecretValueOutput::builder()
                    .secret_string(r#"{"username":"admin","password":"pw"}"#)
                    .build()
            });
        RdsWriters::new(
            RdsClusters::from_client(client!(aws_sdk_rds, &describe)),
            SecretsManagerSecrets::from_client(client!(aws_sdk_secretsmanager, &secret)),
            Tls::Disabled,
        )
        .with_secret("orders", SECRET)
    }

    #[tokio::test]
    async fn logs_in_to_the_writer_endpoint_rds_reports_with_the_cluster_s_secret() {
        let settings = writers().writer("orders").await.unwrap();
        assert_eq!(
            settings.host,
            "orders.cluster-abc.eu-west-1.rds.amazonaws.com"
        );
        assert_eq!(settings.port, 3307);
        assert_eq!(settings.credentials.password(), "pw");
    }

    #[tokio::test]
    async fn a_default_secret_logs_in_to_a_cluster_not_named() {
        let mut writers = writers();
        writers.secret_arns.clear();
        let settings = writers
            .with_default_secret(SECRET)
            .writer("orders")
            .await
            .unwrap();
        assert_eq!(settings.port, 3307);
    }

    #[tokio::test]
    async fn a_cluster_without_a_secret_is_invalid_input_before_any_call() {
        let error = writers().writer("payments").await.unwrap_err();
        assert!(
            matches!(&error, PortError::InvalidRequest(m) if m.contains("payments")),
            "{error:?}"
        );
    }
}
