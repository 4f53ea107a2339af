//! `Clusters`: DB clusters, instances, snapshots, parameter groups and instance events.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{PortResult, Tag};

/// A cluster's custom endpoint (DescribeDBClusterEndpoints, `EndpointType` `CUSTOM`): a name of
/// its own, not derived from the cluster's, so a rename leaves it with the cluster renamed.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomEndpoint {
    /// `DBClusterEndpointIdentifier`, unique in the account and region.
    pub id: String,
    /// The cluster it belongs to now.
    pub cluster_id: String,
    /// `creating`, `available`, `deleting`, `inactive` or `modifying`.
    pub status: String,
    /// `CustomEndpointType`: `READER` or `ANY`.
    pub endpoint_type: String,
    /// Instance identifiers.
    #[serde(default)]
    pub static_members: Vec<String>,
    #[serde(default)]
    pub excluded_members: Vec<String>,
}

/// What the steps need to know of a DB cluster, including everything a restore carries over.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cluster {
    pub id: String,
    pub arn: String,
    /// RDS status text: `available`, `creating`, `backing-up`, …
    pub status: String,
    pub engine: String,
    pub engine_version: String,
    pub storage_encrypted: bool,
    pub kms_key_id: Option<String>,
    pub port: Option<i32>,
    pub db_subnet_group: Option<String>,
    pub vpc_security_group_ids: Vec<String>,
    pub cluster_parameter_group: Option<String>,
    pub iam_database_authentication: bool,
    /// Seconds; 0 means backtrack is off.
    pub backtrack_window: i64,
    pub enabled_cloudwatch_logs_exports: Vec<String>,
    pub deletion_protection: bool,
    pub copy_tags_to_snapshot: bool,
    pub tags: Vec<Tag>,
    /// Writer endpoint host name.
    pub endpoint: Option<String>,
    pub reader_endpoint: Option<String>,
    pub created_at: Option<OffsetDateTime>,
    pub members: Vec<ClusterMember>,
    pub extras: ClusterExtras,
}

/// Cluster settings a restore carries over (scaling, storage, network) or preflight refuses by
/// name (associated IAM roles and a Kerberos domain: re-creating them needs `iam:PassRole` on
/// roles the deployment does not know).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClusterExtras {
    /// `ServerlessV2ScalingConfiguration`: a cluster must have it before any `db.serverless`
    /// instance is added.
    pub serverless_v2_scaling: Option<ServerlessV2Scaling>,
    /// `StorageType`: `aurora` or `aurora-iopt1` (I/O-Optimized).
    pub storage_type: Option<String>,
    /// `NetworkType`: `IPV4` or `DUAL`.
    pub network_type: Option<String>,
    /// `AssociatedRoles` (S3, Lambda … integration), as `role ARN (feature)`.
    pub associated_roles: Vec<String>,
    /// `DomainMemberships`: Active Directory directory ids (Kerberos authentication).
    pub domains: Vec<String>,
    /// `BackupRetentionPeriod` in days. A restore without it keeps one day.
    pub backup_retention_days: Option<i32>,
    /// `PreferredBackupWindow` (`hh24:mi-hh24:mi`, UTC).
    pub backup_window: Option<String>,
    /// `PreferredMaintenanceWindow` (`ddd:hh24:mi-ddd:hh24:mi`, UTC). A restore cannot set it:
    /// RDS picks one at random, and Restore then sets both windows.
    pub maintenance_window: Option<String>,
}

/// Aurora Serverless v2 capacity range in ACUs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ServerlessV2Scaling {
    pub min_capacity: f64,
    pub max_capacity: f64,
    pub seconds_until_auto_pause: Option<i32>,
}

/// Instance settings a restore carries over (CA certificate, Performance Insights) or preflight
/// refuses by name (enhanced monitoring: its role needs `iam:PassRole`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstanceExtras {
    /// `CACertificateIdentifier` of the server certificate clients verify.
    pub ca_certificate: Option<String>,
    pub performance_insights: Option<PerformanceInsights>,
    /// `MonitoringInterval` in seconds; 0 when enhanced monitoring is off.
    pub monitoring_interval: i32,
    /// `PreferredMaintenanceWindow` of the instance (`ddd:hh24:mi-ddd:hh24:mi`, UTC).
    pub maintenance_window: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PerformanceInsights {
    pub kms_key_id: Option<String>,
    pub retention_days: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterMember {
    pub instance_id: String,
    pub is_writer: bool,
    pub promotion_tier: Option<i32>,
}

impl Cluster {
    pub fn writer(&self) -> Option<&ClusterMember> {
        self.members.iter().find(|m| m.is_writer)
    }
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Instance {
    pub id: String,
    pub cluster_id: Option<String>,
    pub class: String,
    pub engine: String,
    pub status: String,
    pub promotion_tier: Option<i32>,
    /// The instance-level DB parameter group.
    pub parameter_group: Option<String>,
    pub availability_zone: Option<String>,
    pub publicly_accessible: bool,
    pub storage_encrypted: bool,
    /// The instance endpoint's host name (`Endpoint.Address`), once RDS assigned it.
    pub endpoint: Option<String>,
    pub extras: InstanceExtras,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterSnapshot {
    pub id: String,
    pub arn: String,
    pub cluster_id: String,
    /// `creating`, `available`, `failed`, …
    pub status: String,
    pub percent_progress: i32,
    pub created_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSnapshotRequest {
    pub cluster_id: String,
    pub snapshot_id: String,
    pub tags: Vec<Tag>,
}

/// Everything RestoreDBClusterFromSnapshot is given: the source's configuration plus the key.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RestoreClusterRequest {
    pub cluster_id: String,
    pub snapshot_id: String,
    pub engine: String,
    pub engine_version: String,
    /// `None`: the account's `aws/rds` key.
    pub kms_key_id: Option<String>,
    pub port: Option<i32>,
    pub db_subnet_group: Option<String>,
    pub vpc_security_group_ids: Vec<String>,
    pub cluster_parameter_group: Option<String>,
    pub iam_database_authentication: bool,
    pub enabled_cloudwatch_logs_exports: Vec<String>,
    pub deletion_protection: bool,
    pub copy_tags_to_snapshot: bool,
    pub tags: Vec<Tag>,
    pub serverless_v2_scaling: Option<ServerlessV2Scaling>,
    pub storage_type: Option<String>,
    pub network_type: Option<String>,
    pub backup_retention_days: Option<i32>,
}

/// A cluster's backup and maintenance windows, set in one ModifyDBCluster: RDS refuses a
/// backup window that overlaps the maintenance window, so the source's pair, valid together,
/// is set together (a restore takes no maintenance window, and one RDS picks at random could
/// overlap the source's backup window).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterWindows {
    pub backup: Option<String>,
    pub maintenance: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateInstanceRequest {
    pub instance_id: String,
    pub cluster_id: String,
    pub class: String,
    pub engine: String,
    pub promotion_tier: Option<i32>,
    pub parameter_group: Option<String>,
    pub availability_zone: Option<String>,
    pub publicly_accessible: bool,
    pub tags: Vec<Tag>,
    pub ca_certificate: Option<String>,
    pub performance_insights: Option<PerformanceInsights>,
    pub maintenance_window: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyParameterGroupRequest {
    pub source_group: String,
    pub target_group: String,
    pub description: String,
    pub tags: Vec<Tag>,
}

/// An RDS event of one DB instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceEvent {
    pub time: OffsetDateTime,
    pub message: String,
}

#[async_trait]
pub trait Clusters: Send + Sync {
    /// The cluster with its members, or `None` if it does not exist.
    async fn describe_cluster(&self, cluster_id: &str) -> PortResult<Option<Cluster>>;
    async fn describe_instance(&self, instance_id: &str) -> PortResult<Option<Instance>>;
    async fn describe_cluster_snapshot(
        &self,
        snapshot_id: &str,
    ) -> PortResult<Option<ClusterSnapshot>>;
    async fn create_cluster_snapshot(
        &self,
        request: &CreateSnapshotRequest,
    ) -> PortResult<ClusterSnapshot>;
    /// Copies a cluster parameter group with all its values; `AlreadyExists` if the target exists.
    async fn copy_cluster_parameter_group(
        &self,
        request: &CopyParameterGroupRequest,
    ) -> PortResult<()>;
    async fn restore_cluster(&self, request: &RestoreClusterRequest) -> PortResult<()>;
    async fn create_instance(&self, request: &CreateInstanceRequest) -> PortResult<()>;
    /// Sets a cluster's `PreferredBackupWindow` and `PreferredMaintenanceWindow`, those given
    /// (ModifyDBCluster; both apply at once).
    async fn set_windows(&self, cluster_id: &str, windows: &ClusterWindows) -> PortResult<()>;
    /// Renames a cluster (ModifyDBCluster `NewDBClusterIdentifier`, `ApplyImmediately`): its
    /// status is `renaming` until the new name answers.
    async fn rename_cluster(&self, from: &str, to: &str) -> PortResult<()>;
    /// Renames an instance (ModifyDBInstance `NewDBInstanceIdentifier`, `ApplyImmediately`).
    async fn rename_instance(&self, from: &str, to: &str) -> PortResult<()>;
    /// A cluster's custom endpoints (DescribeDBClusterEndpoints, type `CUSTOM`), all pages.
    async fn custom_endpoints(&self, cluster_id: &str) -> PortResult<Vec<CustomEndpoint>>;
    /// Creates `endpoint.id` on `endpoint.cluster_id` with its type and members
    /// (CreateDBClusterEndpoint): `creating`, then `available`.
    async fn create_custom_endpoint(&self, endpoint: &CustomEndpoint) -> PortResult<()>;
    /// Deletes a custom endpoint (DeleteDBClusterEndpoint): `deleting`, then gone.
    async fn delete_custom_endpoint(&self, id: &str) -> PortResult<()>;
    /// Events of a DB instance (source type `db-instance`) since `since`, oldest first, all pages.
    async fn instance_events(
        &self,
        instance_id: &str,
        since: OffsetDateTime,
    ) -> PortResult<Vec<InstanceEvent>>;
    /// The identifier of the cluster whose resource id (`cluster-…`, the id AWS Config reports)
    /// is `resource_id`, or `None` if no cluster has it. The default refuses: an adapter that
    /// cannot resolve resource ids says so rather than guessing.
    async fn cluster_id_by_resource_id(&self, resource_id: &str) -> PortResult<Option<String>> {
        Err(crate::errors::PortError::InvalidRequest(format!(
            "this adapter cannot resolve the cluster resource id `{resource_id}`"
        )))
    }
}
