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
//! | `dnsTtl`     | LowerDnsTtl       | [`DnsTtlOutput`]  |
//! | `dnsTtlRestored` | CleanupDnsTtl | [`DnsTtlRestoredOutput`] |
//! | `reverse`    | OpenFailbackWindow | [`ReverseView`](crate::steps::failback::ReverseView) (the failback's results go under it) |
//! | `window`     | FailbackWindow's Catch | `{Error, Cause}`: how the window ended |
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
    /// The instance endpoint, once RDS reports it (Prewarm reaches each reader through it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
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
    /// While the target's new cluster parameter group settles: when a cluster may use it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub parameter_group_usable_at: Option<OffsetDateTime>,
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
    /// From `fence.fencedAt` to the swap in sync on every Route 53 server: how long writes were
    /// fenced before the application was pointed at the target. Once in sync, when the input
    /// carries a fence: the swap's, and a failback's swap back (with the failback's fence); a
    /// revert after a failed swap carries none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fenced_window_ms: Option<u64>,
}

/// `$.dnsTtl`, written by LowerDnsTtl: the record's TTL lowered ahead of the switchover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsTtlOutput {
    pub record_name: String,
    /// The TTL preflight found: put back after cleanup or rollback, and how long clients may
    /// still hold an answer they fetched before the lowering.
    pub original_ttl_seconds: i64,
    /// What the record carries until the end of the run; the swap uses it too.
    pub switchover_ttl_seconds: i64,
    /// `None` when the record already had a TTL this low.
    pub change_id: Option<String>,
    pub status: ChangeStatus,
    pub in_sync: bool,
    /// When this step first saw the lowered record in sync on every Route 53 server.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub lowered_at: Option<OffsetDateTime>,
    /// `loweredAt` plus the original TTL: every cached answer fetched before the lowering has
    /// expired, so the switchover may start (the `DnsTtlGate` Wait state's timestamp).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub switchover_not_before: Option<OffsetDateTime>,
    pub next_poll_seconds: u32,
}

/// `$.dnsTtlRestored`, written by CleanupDnsTtl / CleanupDnsTtlOnRollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsTtlRestoredOutput {
    pub record_name: String,
    /// The TTL the record has now (the original), or `None` when it was left alone.
    pub ttl_seconds: Option<i64>,
    /// The TTL it had before this step.
    pub previous_ttl_seconds: Option<i64>,
    /// `None` when nothing had to change.
    pub change_id: Option<String>,
    /// Why the record was left alone, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}
