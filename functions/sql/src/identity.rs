//! [`SqlServerIdentity`]: which server a new session at an endpoint reaches, read over SQL so
//! that a re-targeted RDS Proxy is proven by where its sessions land, not only by its health.

use std::sync::Arc;

use async_trait::async_trait;
use aurora_core::errors::PortError;
use aurora_core::ports::{DatabaseEndpoint, PortResult, ServerIdentity};

use crate::conn::{column, connect};
use crate::credentials::{SecretsSource, Tls};

/// The variables that tell servers apart, most specific first: Aurora names the instance;
/// MySQL has a UUID per server; MariaDB has neither, and its `server_id` is unique within a
/// replication topology (the sandbox gives each cluster its own).
const IDENTITY_VARIABLES: &[&str] = &["aurora_server_id", "server_uuid", "server_id"];

/// [`ServerIdentity`] over Secrets Manager credentials.
pub struct SqlServerIdentity {
    secrets: Arc<dyn SecretsSource>,
    tls: Tls,
}

impl SqlServerIdentity {
    pub fn new(secrets: Arc<dyn SecretsSource>, tls: Tls) -> Self {
        Self { secrets, tls }
    }
}

#[async_trait]
impl ServerIdentity for SqlServerIdentity {
    async fn identity(&self, endpoint: &DatabaseEndpoint, secret_arn: &str) -> PortResult<String> {
        let secret = self.secrets.secret_value(secret_arn).await?;
        let settings = secret.at_endpoint(endpoint, self.tls.clone())?;
        let mut session = connect(&settings).await?;
        let names = IDENTITY_VARIABLES
            .iter()
            .map(|v| format!("'{v}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = session
            .query(
                &format!("SHOW GLOBAL VARIABLES WHERE Variable_name IN ({names})"),
                "read the server's identity",
            )
            .await;
        session.close().await;
        let rows = rows?;
        let value = |name: &str| {
            rows.iter()
                .find(|r| column(r, &["Variable_name"]).as_deref() == Some(name))
                .and_then(|r| column(r, &["Value"]))
                .filter(|v| !v.is_empty())
        };
        IDENTITY_VARIABLES
            .iter()
            .find_map(|name| value(name).map(|v| format!("{name}={v}")))
            .ok_or_else(|| {
                PortError::Other(format!(
                    "{} reports none of {}",
                    settings.address(),
                    IDENTITY_VARIABLES.join(", ")
                ))
            })
    }
}
