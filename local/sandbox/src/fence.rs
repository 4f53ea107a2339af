//! `WriteFence` over the sandbox: the control-plane half of the fence only, as on AWS. It moves
//! the source onto the fence security group (what ModifyDBCluster does; the application
//! endpoints then refuse new connections and keep established ones, see [`crate::network`])
//! and sets `read_only=ON` on the source server (what the parameter group does on Aurora). It
//! ends no session: ending sessions and confirming the fence is the SQL half, `aurora-sql`'s
//! [`SqlFence`](aurora_sql::SqlFence), which the sandbox runs unchanged ([`SandboxWriters`]).
//!
//! The record is saved in the sandbox registry before anything changes (like the tag on AWS);
//! `lift` restores the groups and the `read_only` the record says were there and forgets the
//! record.

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

/// The groups `record` moves the cluster onto, checked as RDS checks them.
fn fence_groups(record: &FenceRecord) -> PortResult<Option<Vec<String>>> {
    if !record.methods.contains(&FenceMethod::SecurityGroup) {
        return Ok(None);
    }
    let group = record.fence_security_group_id.clone().ok_or_else(|| {
        PortError::InvalidRequest("the `security-group` fence needs a fence security group".into())
    })?;
    if !crate::network::is_known_group(&group) {
        return Err(PortError::InvalidRequest(format!(
            "no security group `{group}` in the sandbox (its fence group is `{}`)",
            crate::network::FENCE_SECURITY_GROUP
        )));
    }
    Ok(Some(vec![group]))
}

impl SandboxFence {
    fn set_security_groups(&self, cluster_id: &str, groups: Vec<String>) -> PortResult<()> {
        match self.sandbox.set_security_groups(cluster_id, groups) {
            Err(SandboxError::NotFound(_)) => Err(PortError::NotFound {
                resource: Resource::Cluster,
                message: cluster_id.to_string(),
            }),
            other => Ok(other?),
        }
    }
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
        let security_group_ids = self.sandbox.registry(|r| {
            r.clusters
                .get(cluster_id)
                .map(|c| c.security_groups())
                .unwrap_or_default()
        });
        Ok(FenceState {
            security_group_ids,
            parameter_group: None,
            read_only: read_only.map(|v| v.to_string()),
        })
    }

    async fn saved_record(&self, cluster_id: &str) -> PortResult<Option<FenceRecord>> {
        Ok(self.sandbox.registry(|r| r.fences.get(cluster_id).cloned()))
    }

    async fn apply(&self, record: &FenceRecord) -> PortResult<()> {
        let groups = fence_groups(record)?;
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
        if let Some(groups) = groups {
            self.set_security_groups(cluster_id, groups)?;
            tracing::info!(cluster = %cluster_id, "fenced: on the fence security group");
        }
        if record.methods.contains(&FenceMethod::ReadOnly) {
            self.set_read_only(cluster_id, "1").await?;
            tracing::info!(cluster = %cluster_id, "fenced: read_only=ON");
        }
        Ok(())
    }

    async fn lift(&self, record: &FenceRecord) -> PortResult<()> {
        let cluster_id = &record.cluster_id;
        if record.methods.contains(&FenceMethod::SecurityGroup) {
            if let Some(original) = &record.original_security_group_ids {
                self.set_security_groups(cluster_id, original.clone())?;
            }
        }
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
