//! `WriteFence` over the sandbox: the control-plane half of the fence only, as on AWS. It sets
//! `read_only=ON` on the source server (what the parameter group does on Aurora) and ends no
//! session: ending sessions and confirming the fence is the SQL half, `aurora-sql`'s
//! [`SqlFence`](aurora_sql::SqlFence), which the sandbox runs unchanged ([`SandboxWriters`]).
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
            tracing::info!(cluster = %cluster_id, "fenced: read_only=ON");
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

/// The administrator's connection to each sandbox cluster: what the fence's SQL half logs in
/// as (on Aurora, the master user from the source secret).
#[derive(Clone)]
pub struct SandboxWriters {
    sandbox: Sandbox,
}

impl SandboxWriters {
    pub fn new(sandbox: Sandbox) -> Self {
        Self { sandbox }
    }
}

#[async_trait]
impl aurora_sql::WriterConnections for SandboxWriters {
    async fn writer(&self, cluster_id: &str) -> PortResult<aurora_sql::ConnectionSettings> {
        self.sandbox
            .admin_settings(cluster_id)
            .ok_or_else(|| PortError::NotFound {
                resource: Resource::Cluster,
                message: cluster_id.to_string(),
            })
    }

    /// The sandbox's control plane (snapshots by mariadb-backup, restores, replication set-up)
    /// connects as `root`, as Aurora's does as `rdsadmin`: neither is an application writer.
    fn service_users(&self) -> &'static [&'static str] {
        &["rdsadmin", "root"]
    }
}
