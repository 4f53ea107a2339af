//! `ClusterParameters`: values of a cluster parameter group, which clusters use a group, and
//! whether a cluster's members run with the values of the group it names. Preflight reads
//! `binlog_format` through it; the fence refuses to set `read_only` in a group other clusters
//! share; Cleanup turns the source's binlog off in its own group when asked
//! (`cleanup.disableSourceBinlog`).

use async_trait::async_trait;

use super::PortResult;

/// One parameter of a cluster parameter group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParameterValue {
    pub name: String,
    /// `None` when the group leaves it unset (the engine default applies).
    pub value: Option<String>,
    /// `user`, `engine-default` or `system`.
    pub source: String,
    /// `static` (applied at reboot) or `dynamic`.
    pub apply_type: String,
}

#[async_trait]
pub trait ClusterParameters: Send + Sync {
    /// The parameter `name` of cluster parameter group `group`, or `None` if the group does not
    /// list it. `NotFound(ParameterGroup)` if the group does not exist.
    async fn parameter(&self, group: &str, name: &str) -> PortResult<Option<ParameterValue>>;
    /// The ids of every cluster (any engine) whose cluster parameter group is `group`.
    async fn clusters_using(&self, group: &str) -> PortResult<Vec<String>>;
    /// Members of `cluster_id` whose cluster parameter group status is not `in-sync` (a static
    /// change such as `binlog_format` waits for their reboot).
    async fn members_pending_reboot(&self, cluster_id: &str) -> PortResult<Vec<String>>;
    /// Sets parameter `name` to `value` in cluster parameter group `group`, applied when the
    /// clusters using it next reboot (`pending-reboot`: a static parameter such as
    /// `binlog_format` takes no other). Setting the value it has is a no-op. The default
    /// refuses, so a reader never passes as a writer.
    async fn set_at_reboot(&self, group: &str, name: &str, _value: &str) -> PortResult<()> {
        Err(crate::errors::PortError::InvalidRequest(format!(
            "cannot change `{name}` in cluster parameter group `{group}`: this adapter only reads"
        )))
    }
}
