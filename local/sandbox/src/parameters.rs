//! `ClusterParameters` over the sandbox: a cluster's parameter group is a name in the registry
//! (`<cluster>-params` for a source, the restore's copy for a target); its values are what the
//! servers run with. `binlog_format` and `read_only` are read from a running server that uses
//! the group (the option file's `ROW` when none runs), so preflight checks the real thing. A
//! sandbox server applies its settings at start. A value set for the next reboot
//! (`set_at_reboot`, Cleanup's `binlog_format=OFF`) is what the group then reports, as RDS's
//! does, while the members keep running with the old one: they are pending a reboot, which the
//! sandbox never does by itself.

use async_trait::async_trait;
use aurora_core::errors::{PortError, Resource};
use aurora_core::ports::{ClusterParameters, ParameterValue, PortResult};
use mysql_async::prelude::Queryable;

use crate::error::SandboxError;
use crate::sandbox::Sandbox;

/// Parameters the sandbox reads from its servers; any other name is unset.
const SERVER_PARAMETERS: &[(&str, &str)] = &[
    ("binlog_format", "SELECT @@global.binlog_format"),
    ("read_only", "SELECT CAST(@@global.read_only AS CHAR)"),
];

/// The `ClusterParameters` port over a [`Sandbox`].
#[derive(Clone)]
pub struct SandboxParameters {
    sandbox: Sandbox,
}

impl SandboxParameters {
    pub fn new(sandbox: Sandbox) -> Self {
        Self { sandbox }
    }

    fn users_of(&self, group: &str) -> Vec<String> {
        self.sandbox.registry(|r| {
            r.clusters
                .values()
                .filter(|c| c.parameter_group.as_deref() == Some(group))
                .map(|c| c.id.clone())
                .collect()
        })
    }
}

#[async_trait]
impl ClusterParameters for SandboxParameters {
    async fn parameter(&self, group: &str, name: &str) -> PortResult<Option<ParameterValue>> {
        if !self
            .sandbox
            .registry(|r| r.parameter_groups.contains_key(group))
        {
            return Err(PortError::NotFound {
                resource: Resource::ParameterGroup,
                message: group.to_string(),
            });
        }
        // What the group says: a value set for the next reboot, or one its servers run with.
        let at_reboot = self.sandbox.registry(|r| {
            r.parameter_groups.get(group).and_then(|g| {
                g.at_reboot
                    .get(name)
                    .or_else(|| g.values.get(name))
                    .cloned()
            })
        });
        if let Some(value) = at_reboot {
            return Ok(Some(ParameterValue {
                name: name.to_string(),
                value: Some(value),
                source: "user".into(),
                apply_type: "static".into(),
            }));
        }
        let Some((_, query)) = SERVER_PARAMETERS
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
        else {
            return Ok(None);
        };
        let running = self
            .users_of(group)
            .into_iter()
            .find(|id| self.sandbox.is_running(id));
        let value = match running {
            Some(cluster) => {
                let mut conn = self.sandbox.admin_conn(&cluster).await?;
                let value: Option<String> = conn
                    .query_first(*query)
                    .await
                    .map_err(SandboxError::sql(&cluster))?;
                let _ = conn.disconnect().await;
                value
            }
            // Every sandbox option file says binlog_format=ROW and leaves read_only off.
            None if name.eq_ignore_ascii_case("binlog_format") => Some("ROW".into()),
            None => Some("0".into()),
        };
        Ok(Some(ParameterValue {
            name: name.to_string(),
            value,
            source: "system".into(),
            apply_type: "dynamic".into(),
        }))
    }

    async fn clusters_using(&self, group: &str) -> PortResult<Vec<String>> {
        Ok(self.users_of(group))
    }

    async fn members_pending_reboot(&self, cluster_id: &str) -> PortResult<Vec<String>> {
        let Some(cluster) = self.sandbox.cluster_record(cluster_id) else {
            return Err(PortError::NotFound {
                resource: Resource::Cluster,
                message: cluster_id.to_string(),
            });
        };
        let pending = cluster.parameter_group.as_deref().is_some_and(|group| {
            self.sandbox.registry(|r| {
                r.parameter_groups
                    .get(group)
                    .is_some_and(|g| !g.at_reboot.is_empty())
            })
        });
        if !pending {
            return Ok(Vec::new());
        }
        Ok(self.sandbox.registry(|r| {
            r.instances
                .values()
                .filter(|i| i.cluster_id == cluster_id)
                .map(|i| i.id.clone())
                .collect()
        }))
    }

    async fn set_at_reboot(&self, group: &str, name: &str, value: &str) -> PortResult<()> {
        let found = self
            .sandbox
            .update(|r| match r.parameter_groups.get_mut(group) {
                Some(record) => {
                    record.at_reboot.insert(name.to_string(), value.to_string());
                    true
                }
                None => false,
            })?;
        if !found {
            return Err(PortError::NotFound {
                resource: Resource::ParameterGroup,
                message: group.to_string(),
            });
        }
        Ok(())
    }
}
