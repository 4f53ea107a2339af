//! The ports: small async traits named for what the steps need. Adapters implement them over the
//! AWS SDK (`aurora-aws`), over MariaDB (the sandbox) and in memory (`fakes`). An adapter only
//! translates; every decision is the step's.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::binlog::BinlogPosition;
use crate::errors::PortError;
use crate::spec::ReplicationSpec;

pub type PortResult<T> = Result<T, PortError>;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

impl Tag {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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
    /// Events of a DB instance (source type `db-instance`) since `since`, oldest first, all pages.
    async fn instance_events(
        &self,
        instance_id: &str,
        since: OffsetDateTime,
    ) -> PortResult<Vec<InstanceEvent>>;
}

/// A database endpoint a replication connects to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseEndpoint {
    pub cluster_id: String,
    pub host: String,
    pub port: i32,
}

/// A change-data-capture replication to create (or find) and start.
#[derive(Debug, Clone, PartialEq)]
pub struct CdcRequest {
    /// Deterministic name; every resource the engine creates derives its name from it.
    pub name: String,
    pub source: DatabaseEndpoint,
    pub target: DatabaseEndpoint,
    pub start: BinlogPosition,
    pub settings: ReplicationSpec,
    pub tags: Vec<Tag>,
}

/// Identifies a replication created by [`Replication::ensure_cdc`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationHandle {
    /// `dms` or `native`.
    pub engine: String,
    /// The data migration ARN (DMS) or the target cluster id (native).
    pub id: String,
    pub name: String,
    /// Other resources created for it (DMS: data providers, instance profile, project ARNs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReplicationState {
    Creating,
    /// Created, never started.
    Ready,
    Starting,
    Running,
    Stopping,
    Stopped,
    Failed,
    Deleting,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReplicationStatus {
    pub state: ReplicationState,
    /// The engine's own status text, for operators.
    pub status_text: String,
    /// CDC latency as the engine reports it; `None` while it reports none.
    pub cdc_latency_seconds: Option<u64>,
    pub last_failure: Option<String>,
}

#[async_trait]
pub trait Replication: Send + Sync {
    /// Creates the replication from `start` unless one with this name exists; never duplicates.
    async fn ensure_cdc(&self, request: &CdcRequest) -> PortResult<ReplicationHandle>;
    async fn start(&self, handle: &ReplicationHandle) -> PortResult<()>;
    async fn status(&self, handle: &ReplicationHandle) -> PortResult<ReplicationStatus>;
    async fn stop(&self, handle: &ReplicationHandle) -> PortResult<()>;
    async fn remove(&self, handle: &ReplicationHandle) -> PortResult<()>;
}

/// A second opinion on lag from metrics (CloudWatch `CDCLatencySource` / `CDCLatencyTarget`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LagSample {
    pub source_seconds: Option<f64>,
    pub target_seconds: Option<f64>,
}

#[async_trait]
pub trait LagMetrics: Send + Sync {
    /// The latest datapoints since `since`; `None` when no metric has been published.
    async fn cdc_latency(
        &self,
        handle: &ReplicationHandle,
        since: OffsetDateTime,
    ) -> PortResult<Option<LagSample>>;
}

/// A DNS record as the zone holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    pub name: String,
    /// `CNAME`, `A`, …
    pub record_type: String,
    /// The CNAME target (or first value); `None` for alias records.
    pub value: Option<String>,
    pub ttl: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeStatus {
    Pending,
    Insync,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsChange {
    pub id: String,
    pub status: ChangeStatus,
}

#[async_trait]
pub trait Dns: Send + Sync {
    /// The record with exactly this name (any type), or `None`.
    async fn resolve(&self, zone_id: &str, name: &str) -> PortResult<Option<DnsRecord>>;
    async fn upsert_cname(
        &self,
        zone_id: &str,
        name: &str,
        value: &str,
        ttl_seconds: i64,
    ) -> PortResult<DnsChange>;
    async fn change_status(&self, change_id: &str) -> PortResult<ChangeStatus>;
}

/// Time, injected so polling hints and "since" windows are testable.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}
