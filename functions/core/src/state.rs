//! The state document: the execution input (a [`MigrationSpec`](crate::MigrationSpec)) plus one key
//! per step result, each written by the state machine's `ResultPath`:
//!
//! | key          | written by        | type              |
//! |--------------|-------------------|-------------------|
//! | `execution`  | first Pass state  | [`ExecutionRef`]  |
//! | `snapshot`   | Snapshot          | [`SnapshotOutput`]|
//! | `restore`    | Restore           | [`RestoreOutput`] |
//! | `binlog`     | BinlogPosition    | [`BinlogOutput`]  |
//! | `migration`  | CreateMigration   | [`MigrationOutput`]|
//! | `lag`        | PollLatency       | [`LagOutput`]     |
//! | `dnsSwap`    | SwapDns           | [`DnsSwapOutput`] |
//!
//! (`dns` is taken by the spec's DNS settings, so the swap's result is `dnsSwap`.) Secrets never
//! appear here: only ARNs.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::binlog::BinlogPosition;
use crate::ports::{ChangeStatus, DatabaseEndpoint, ReplicationHandle, ReplicationState};

/// Which execution this is; names derived from it make re-runs of a step find earlier work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRef {
    /// `$$.Execution.Name`.
    pub name: String,
    /// `$$.Execution.Id`, the execution ARN: who holds the source's lock. Preflight needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotOutput {
    pub snapshot_id: String,
    pub snapshot_arn: String,
    pub source_cluster_id: String,
    pub status: String,
    pub percent_progress: i32,
    pub ready: bool,
    /// How long to wait before polling again (0 when ready).
    pub next_poll_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetInstance {
    pub instance_id: String,
    pub source_instance_id: String,
    pub class: String,
    pub status: String,
    pub writer: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreOutput {
    pub target_cluster_id: String,
    pub target_cluster_arn: Option<String>,
    pub status: String,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    /// When the restore began (the target's creation time): events are read from here on.
    #[serde(with = "time::serde::rfc3339")]
    pub restore_started_at: OffsetDateTime,
    /// When this step first saw the cluster and every instance available.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ready_at: Option<OffsetDateTime>,
    pub writer_instance_id: Option<String>,
    pub instances: Vec<TargetInstance>,
    pub source_endpoint: Option<DatabaseEndpoint>,
    pub target_endpoint: Option<DatabaseEndpoint>,
    pub ready: bool,
    pub next_poll_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BinlogOutput {
    #[serde(flatten)]
    pub position: BinlogPosition,
    /// `file:position`, the form DMS's `CDCStartPosition` takes.
    pub start_position: String,
    pub instance_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub event_time: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationOutput {
    pub handle: ReplicationHandle,
    pub status: ReplicationState,
    pub start_position: BinlogPosition,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LagOutput {
    pub status: ReplicationState,
    pub status_text: String,
    /// The engine's CDC latency: the gate.
    pub lag_seconds: Option<u64>,
    /// The larger of CloudWatch's `CDCLatencySource` / `CDCLatencyTarget`: a second opinion.
    pub metrics_lag_seconds: Option<f64>,
    pub in_sync: bool,
    pub next_poll_seconds: u32,
    pub polls: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsSwapOutput {
    pub record_name: String,
    /// What the record pointed at before this step changed it.
    pub previous_value: String,
    pub value: String,
    pub ttl_seconds: i64,
    /// `None` when the record already pointed at `value`.
    pub change_id: Option<String>,
    pub status: ChangeStatus,
    pub in_sync: bool,
    pub next_poll_seconds: u32,
}
