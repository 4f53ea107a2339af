//! Sandbox clusters report the MariaDB version they run (`10.11.19-MariaDB-…`); preflight takes
//! the Aurora MySQL major version from an Aurora engine version (`8.0.mysql_aurora.3.…`) to pick
//! the replication procedures. The sandbox stands in for Aurora MySQL 3 (its stand-ins answer
//! `rds_set_external_source` and MariaDB knows `SHOW REPLICA STATUS`), so its clusters are
//! presented as `8.0.mysql_aurora.3.sandbox-<MariaDB version>`: the real version stays visible.

use async_trait::async_trait;
use aurora_core::ports::{
    Cluster, ClusterSnapshot, ClusterWindows, Clusters, CopyParameterGroupRequest,
    CreateInstanceRequest, CreateSnapshotRequest, CustomEndpoint, Instance, InstanceEvent,
    PortResult, RestoreClusterRequest,
};
use time::OffsetDateTime;

/// The Aurora MySQL 3 engine version a sandbox server running `version` stands in for.
pub fn aurora_engine_version(version: &str) -> String {
    if version.contains(".mysql_aurora.") || version.is_empty() {
        return version.to_string();
    }
    format!("8.0.mysql_aurora.3.sandbox-{version}")
}

/// `Clusters` of the sandbox with Aurora engine versions.
pub struct AuroraVersioned<C>(pub C);

#[async_trait]
impl<C: Clusters> Clusters for AuroraVersioned<C> {
    async fn describe_cluster(&self, cluster_id: &str) -> PortResult<Option<Cluster>> {
        Ok(self.0.describe_cluster(cluster_id).await?.map(|mut c| {
            c.engine_version = aurora_engine_version(&c.engine_version);
            c
        }))
    }
    async fn describe_instance(&self, instance_id: &str) -> PortResult<Option<Instance>> {
        self.0.describe_instance(instance_id).await
    }
    async fn describe_cluster_snapshot(
        &self,
        snapshot_id: &str,
    ) -> PortResult<Option<ClusterSnapshot>> {
        self.0.describe_cluster_snapshot(snapshot_id).await
    }
    async fn create_cluster_snapshot(
        &self,
        request: &CreateSnapshotRequest,
    ) -> PortResult<ClusterSnapshot> {
        self.0.create_cluster_snapshot(request).await
    }
    async fn copy_cluster_parameter_group(
        &self,
        request: &CopyParameterGroupRequest,
    ) -> PortResult<()> {
        self.0.copy_cluster_parameter_group(request).await
    }
    async fn restore_cluster(&self, request: &RestoreClusterRequest) -> PortResult<()> {
        self.0.restore_cluster(request).await
    }
    async fn create_instance(&self, request: &CreateInstanceRequest) -> PortResult<()> {
        self.0.create_instance(request).await
    }
    async fn set_windows(&self, cluster_id: &str, windows: &ClusterWindows) -> PortResult<()> {
        self.0.set_windows(cluster_id, windows).await
    }
    async fn rename_cluster(&self, from: &str, to: &str) -> PortResult<()> {
        self.0.rename_cluster(from, to).await
    }
    async fn rename_instance(&self, from: &str, to: &str) -> PortResult<()> {
        self.0.rename_instance(from, to).await
    }
    async fn custom_endpoints(&self, cluster_id: &str) -> PortResult<Vec<CustomEndpoint>> {
        self.0.custom_endpoints(cluster_id).await
    }
    async fn create_custom_endpoint(&self, endpoint: &CustomEndpoint) -> PortResult<()> {
        self.0.create_custom_endpoint(endpoint).await
    }
    async fn delete_custom_endpoint(&self, id: &str) -> PortResult<()> {
        self.0.delete_custom_endpoint(id).await
    }
    async fn instance_events(
        &self,
        instance_id: &str,
        since: OffsetDateTime,
    ) -> PortResult<Vec<InstanceEvent>> {
        self.0.instance_events(instance_id, since).await
    }
    async fn cluster_id_by_resource_id(&self, resource_id: &str) -> PortResult<Option<String>> {
        self.0.cluster_id_by_resource_id(resource_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_versions_read_as_aurora_mysql_3() {
        let version = aurora_engine_version("10.11.19-MariaDB-0+deb12u1-log");
        assert_eq!(
            aurora_core::steps::preflight::engine_major_version(&version),
            Some(3)
        );
        assert!(version.ends_with("10.11.19-MariaDB-0+deb12u1-log"));
        assert_eq!(
            aurora_engine_version("5.7.mysql_aurora.2.11.2"),
            "5.7.mysql_aurora.2.11.2"
        );
    }
}
