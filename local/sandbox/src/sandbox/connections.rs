//! Logging in to the sandbox's servers as the administrator, and `aurora-sql`'s engines built on
//! those logins.

use std::time::Duration;

use aurora_core::ports::DatabaseEndpoint;
use mysql_async::prelude::Queryable;

use super::Sandbox;
use crate::error::{SandboxError, SandboxResult};

impl Sandbox {
    /// An administrator connection to a running cluster.
    pub async fn admin_conn(&self, cluster_id: &str) -> SandboxResult<mysql_async::Conn> {
        let endpoint = self
            .endpoint(cluster_id)
            .ok_or_else(|| SandboxError::NotFound(format!("cluster {cluster_id}")))?;
        connect(cluster_id, &endpoint, "root", None).await
    }

    /// Connection settings of the administrator (`root`, no password, plain TCP on loopback).
    pub fn admin_settings(&self, cluster_id: &str) -> Option<aurora_sql::ConnectionSettings> {
        let endpoint = self.endpoint(cluster_id)?;
        Some(aurora_sql::ConnectionSettings::new(
            endpoint.host,
            self.port(),
            aurora_sql::Credentials::new("root", ""),
            aurora_sql::Tls::Disabled,
        ))
    }

    /// Installs `aurora-sql`'s stand-ins for the `mysql.rds_*` procedures, so the native
    /// replication engine runs here unchanged. Idempotent.
    pub(crate) async fn prepare_server(&self, cluster_id: &str) -> SandboxResult<()> {
        let settings = self
            .admin_settings(cluster_id)
            .ok_or_else(|| SandboxError::NotFound(format!("cluster {cluster_id}")))?;
        aurora_sql::install_rds_stand_ins(&settings).await?;
        Ok(())
    }

    /// `SELECT VERSION()`.
    pub async fn server_version(&self, cluster_id: &str) -> SandboxResult<String> {
        let mut conn = self.admin_conn(cluster_id).await?;
        let version: Option<String> = conn
            .query_first("SELECT VERSION()")
            .await
            .map_err(SandboxError::sql(cluster_id))?;
        let _ = conn.disconnect().await;
        Ok(version.unwrap_or_default())
    }

    /// `aurora-sql`'s native replication from `source` into `target` (replica threads without
    /// TLS: sandbox servers have no certificates).
    pub fn native_replication(
        &self,
        major: aurora_sql::AuroraMajorVersion,
        source_id: &str,
        target_id: &str,
    ) -> SandboxResult<aurora_sql::NativeReplication> {
        let replication = self.replication_credentials().ok_or_else(|| {
            SandboxError::InvalidState("no replication user: create a source cluster".into())
        })?;
        let user = aurora_sql::Credentials::new(&replication.user, &replication.password);
        let mut source = self
            .admin_settings(source_id)
            .ok_or_else(|| SandboxError::NotFound(format!("cluster {source_id}")))?;
        source.credentials = user.clone();
        let target = self
            .admin_settings(target_id)
            .ok_or_else(|| SandboxError::NotFound(format!("cluster {target_id}")))?;
        Ok(
            aurora_sql::NativeReplication::new(major, source, target, user)
                .with_replication_ssl(false),
        )
    }

    /// `aurora-sql`'s verifier of one cluster, as the administrator.
    pub fn verifier(&self, cluster_id: &str) -> SandboxResult<aurora_sql::SqlVerifier> {
        self.admin_settings(cluster_id)
            .map(aurora_sql::SqlVerifier::new)
            .ok_or_else(|| SandboxError::NotFound(format!("cluster {cluster_id}")))
    }
}

/// A connection to `endpoint` as `user`, retried briefly: a server that just started may refuse
/// the first attempt on a loaded machine.
async fn connect(
    cluster_id: &str,
    endpoint: &DatabaseEndpoint,
    user: &str,
    password: Option<&str>,
) -> SandboxResult<mysql_async::Conn> {
    let port = u16::try_from(endpoint.port).map_err(|_| {
        SandboxError::InvalidState(format!("port {} of {cluster_id}", endpoint.port))
    })?;
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(endpoint.host.clone())
        .tcp_port(port)
        .user(Some(user))
        .pass(password)
        .prefer_socket(false);
    let mut attempt = 0;
    loop {
        match mysql_async::Conn::new(opts.clone()).await {
            Ok(conn) => return Ok(conn),
            Err(e) if attempt < 5 => {
                tracing::debug!(cluster = cluster_id, error = %e, "connect retry");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => return Err(SandboxError::sql(cluster_id)(e)),
        }
    }
}
