//! `Replication` (change data capture from a binlog position) and `LagMetrics` (a second opinion).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{PortResult, Tag};
use crate::binlog::BinlogPosition;
use crate::spec::ReplicationSpec;

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
    /// The engine reported a status this project does not know (`status_text` holds it). Never
    /// read as any other state: a step that must act on the state waits or stops instead.
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReplicationStatus {
    pub state: ReplicationState,
    /// The engine's own status text, for operators.
    pub status_text: String,
    /// CDC latency as the engine reports it; `None` while it reports none.
    pub cdc_latency_seconds: Option<u64>,
    pub last_failure: Option<String>,
    /// Where the source's binlog is and how far the target has applied it, when the engine can
    /// tell (native replication can; DMS cannot). Lag alone reads 0 while behind: a drain
    /// compares positions when it has them.
    pub positions: Option<ReplicationPositions>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationPositions {
    /// The source's current binlog position (`SHOW MASTER STATUS`).
    pub source: BinlogPosition,
    /// The position up to which the target has executed the source's events.
    pub applied: BinlogPosition,
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
