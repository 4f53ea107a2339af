//! `WriteFence` over the sandbox: `read_only=ON` on the source server, then the sessions of
//! application users are ended (`KILL CONNECTION`) so nobody keeps writing through a transaction
//! that began before the fence. Application users are those without `READ_ONLY ADMIN` (MariaDB
//! 10.11 no longer lets `SUPER` write under `read_only`; `ALL PRIVILEGES` includes it);
//! replication connections (`Binlog Dump`) are left alone so the target can drain.
//!
//! The record is saved in the sandbox registry before anything changes (like the tag on AWS);
//! `lift` restores the `read_only` the record says was there and forgets the record. The sandbox
//! has no security groups: the `security-group` method is refused.

use async_trait::async_trait;
use aurora_core::errors::{PortError, Resource};
use aurora_core::ports::{FenceRecord, FenceState, PortResult, WriteFence};
use aurora_core::spec::FenceMethod;
use mysql_async::prelude::Queryable;

use crate::error::SandboxError;
use crate::sandbox::Sandbox;

/// Connections the fence ends: everything but our own, the server's threads, replication, and
/// users allowed to write under `read_only`.
const APPLICATION_SESSIONS: &str = "SELECT p.ID FROM information_schema.PROCESSLIST p \
     WHERE p.ID <> CONNECTION_ID() \
       AND p.USER NOT IN ('system user', 'event_scheduler', 'unauthenticated user', '') \
       AND p.COMMAND NOT IN ('Daemon', 'Slave_IO', 'Slave_SQL', 'Slave_worker') \
       AND p.COMMAND NOT LIKE 'Binlog Dump%' \
       AND NOT EXISTS (SELECT 1 FROM information_schema.USER_PRIVILEGES u \
                       WHERE u.PRIVILEGE_TYPE = 'READ_ONLY ADMIN' \
                         AND u.GRANTEE LIKE CONCAT('''', p.USER, '''@%'))";

/// The `WriteFence` port over a [`Sandbox`].
#[derive(Clone)]
pub struct SandboxFence {
    sandbox: Sandbox,
}

impl SandboxFence {
    pub fn new(sandbox: Sandbox) -> Self {
        Self { sandbox }
    }

    async fn conn(&self, cluster_id: &str) -> PortResult<mysql_async::Conn> {
        if self.sandbox.cluster_record(cluster_id).is_none() {
            return Err(PortError::NotFound {
                resource: Resource::Cluster,
                message: cluster_id.to_string(),
            });
        }
        Ok(self.sandbox.admin_conn(cluster_id).await?)
    }

    /// Ends every application session; returns how many were ended.
    pub async fn end_application_sessions(&self, cluster_id: &str) -> PortResult<usize> {
        let mut conn = self.conn(cluster_id).await?;
        let ids: Vec<u64> = conn
            .query(APPLICATION_SESSIONS)
            .await
            .map_err(SandboxError::sql(cluster_id))?;
        let mut ended = 0;
        for id in ids {
            match conn.query_drop(format!("KILL CONNECTION {id}")).await {
                Ok(()) => ended += 1,
                // ER_NO_SUCH_THREAD: it ended by itself meanwhile.
                Err(mysql_async::Error::Server(e)) if e.code == 1094 => {}
                Err(e) => return Err(SandboxError::sql(cluster_id)(e).into()),
            }
        }
        let _ = conn.disconnect().await;
        Ok(ended)
    }

    async fn set_read_only(&self, cluster_id: &str, value: &str) -> PortResult<()> {
        let value = match value.to_ascii_uppercase().as_str() {
            "1" | "ON" | "TRUE" => "ON",
            "0" | "OFF" | "FALSE" => "OFF",
            other => {
                return Err(PortError::InvalidRequest(format!(
                    "read_only value `{other}`"
                )))
            }
        };
        let mut conn = self.conn(cluster_id).await?;
        conn.query_drop(format!("SET GLOBAL read_only = {value}"))
            .await
            .map_err(SandboxError::sql(cluster_id))?;
        let _ = conn.disconnect().await;
        Ok(())
    }
}

fn refuse_security_group(record: &FenceRecord) -> PortResult<()> {
    if record.methods.contains(&FenceMethod::SecurityGroup) {
        return Err(PortError::InvalidRequest(
            "the sandbox has no security groups: fence with `read-only`".into(),
        ));
    }
    Ok(())
}

#[async_trait]
impl WriteFence for SandboxFence {
    async fn current(&self, cluster_id: &str) -> PortResult<FenceState> {
        let mut conn = self.conn(cluster_id).await?;
        let read_only: Option<u64> = conn
            .query_first("SELECT @@global.read_only")
            .await
            .map_err(SandboxError::sql(cluster_id))?;
        let _ = conn.disconnect().await;
        Ok(FenceState {
            security_group_ids: Vec::new(),
            parameter_group: None,
            read_only: read_only.map(|v| v.to_string()),
        })
    }

    async fn saved_record(&self, cluster_id: &str) -> PortResult<Option<FenceRecord>> {
        Ok(self.sandbox.registry(|r| r.fences.get(cluster_id).cloned()))
    }

    async fn apply(&self, record: &FenceRecord) -> PortResult<()> {
        refuse_security_group(record)?;
        let cluster_id = &record.cluster_id;
        if self.sandbox.cluster_record(cluster_id).is_none() {
            return Err(PortError::NotFound {
                resource: Resource::Cluster,
                message: cluster_id.clone(),
            });
        }
        self.sandbox.update(|r| {
            r.fences.insert(cluster_id.clone(), record.clone());
        })?;
        if record.methods.contains(&FenceMethod::ReadOnly) {
            self.set_read_only(cluster_id, "1").await?;
            let ended = self.end_application_sessions(cluster_id).await?;
            tracing::info!(cluster = %cluster_id, ended, "fenced: read_only=ON");
        }
        Ok(())
    }

    async fn lift(&self, record: &FenceRecord) -> PortResult<()> {
        refuse_security_group(record)?;
        let cluster_id = &record.cluster_id;
        if record.methods.contains(&FenceMethod::ReadOnly) {
            let original = record.original_read_only.as_deref().unwrap_or("0");
            self.set_read_only(cluster_id, original).await?;
        }
        self.sandbox.update(|r| {
            r.fences.remove(cluster_id);
        })?;
        Ok(())
    }
}
