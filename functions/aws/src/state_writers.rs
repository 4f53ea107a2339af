//! Where the fence's SQL half (`aurora_sql::SqlFence`), the drain's marker reads and the
//! verifiers (`aurora_sql::WriterVerifier`) log in from a Lambda: the writer
//! endpoints the Restore step recorded (`$.restore.sourceEndpoint` / `targetEndpoint`) with the
//! secrets `$.replication` names for each side (`sourceSecretArn`: the master user, or a user
//! holding `CONNECTION_ADMIN`, since it ends other users' sessions and writes the marker under
//! `read_only`), over TLS verified against the RDS CA bundle (`RDS_CA_BUNDLE`).
//!
//! Nothing is read until a cluster is asked for, so UnfenceWrites, which speaks no SQL, needs
//! neither `$.restore` nor a CA bundle. A missing field reads as `InvalidInput` naming it.

use async_trait::async_trait;
use aurora_core::errors::PortError;
use aurora_core::ports::{DatabaseEndpoint, PortResult};
use aurora_core::spec::ReplicationSpec;
use aurora_core::state::RestoreOutput;
use aurora_sql::{ConnectionSettings, SecretValue, Tls, WriterConnections};
use serde_json::Value;

use crate::rds_ca::RDS_CA_BUNDLE;
use crate::SecretsManagerSecrets;

/// [`WriterConnections`] from one invocation's state document.
pub struct StateWriters {
    secrets: SecretsManagerSecrets,
    tls: Option<Tls>,
    state: Value,
}

impl StateWriters {
    pub fn new(secrets: SecretsManagerSecrets, tls: Option<Tls>, state: Value) -> Self {
        Self {
            secrets,
            tls,
            state,
        }
    }

    fn field(&self, name: &str) -> PortResult<Value> {
        self.state
            .get(name)
            .cloned()
            .ok_or_else(|| PortError::InvalidRequest(format!("`{name}` is required")))
    }

    /// The endpoint and secret ARN of `cluster_id`'s side.
    fn side(&self, cluster_id: &str) -> PortResult<(DatabaseEndpoint, String)> {
        let restore: RestoreOutput = serde_json::from_value(self.field("restore")?)
            .map_err(|e| PortError::InvalidRequest(format!("`restore`: {e}")))?;
        let replication: ReplicationSpec = serde_json::from_value(self.field("replication")?)
            .map_err(|e| PortError::InvalidRequest(format!("`replication`: {e}")))?;
        let (source_secret, target_secret) = match replication {
            ReplicationSpec::Dms(d) => (d.source_secret_arn, d.target_secret_arn),
            ReplicationSpec::Native(n) => (n.source_secret_arn, n.target_secret_arn),
        };
        [
            (restore.source_endpoint, source_secret),
            (restore.target_endpoint, target_secret),
        ]
        .into_iter()
        .find_map(|(endpoint, secret)| {
            endpoint
                .filter(|e| e.cluster_id == cluster_id)
                .map(|e| (e, secret))
        })
        .ok_or_else(|| {
            PortError::InvalidRequest(format!(
                "`restore` records no endpoint for cluster `{cluster_id}`"
            ))
        })
    }
}

#[async_trait]
impl WriterConnections for StateWriters {
    async fn writer(&self, cluster_id: &str) -> PortResult<ConnectionSettings> {
        let (endpoint, secret_arn) = self.side(cluster_id)?;
        let tls = self.tls.clone().ok_or_else(|| {
            PortError::InvalidRequest(format!(
                "SQL to the clusters goes over TLS verified against the RDS CA bundle: set \
                 {RDS_CA_BUNDLE} to the bundle's path (global-bundle.pem)"
            ))
        })?;
        let secret = SecretValue::from_json(&self.secrets.secret_string(&secret_arn).await?)?;
        secret.at_endpoint(&endpoint, tls)
    }
}
