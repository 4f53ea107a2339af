//! `ClusterRetirement`: deleting whole clusters, for the two cases where a run may do so: the
//! source after a successful switchover when `cleanup.retireSource` is set (only after a final
//! snapshot the step has seen available), and our own target on rollback when
//! `cleanup.deleteTargetOnRollback` is set. The step decides; these only act.

use async_trait::async_trait;

use super::PortResult;

#[async_trait]
pub trait ClusterRetirement: Send + Sync {
    /// Turns deletion protection off (RDS refuses to delete a protected cluster).
    async fn disable_deletion_protection(&self, cluster_id: &str) -> PortResult<()>;
    /// Deletes one DB instance without a final snapshot (the cluster's storage holds the data).
    /// A missing or already deleting instance is success.
    async fn delete_instance(&self, instance_id: &str) -> PortResult<()>;
    /// Deletes a cluster without instances, skipping RDS's own final snapshot (the step takes
    /// one first when it matters). A missing or already deleting cluster is success.
    async fn delete_cluster(&self, cluster_id: &str) -> PortResult<()>;
}
