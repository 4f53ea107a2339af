//! `FenceSql`: the fence's data-plane half, spoken over SQL to a cluster's writer, the same on
//! Aurora and in the sandbox (one implementation, in `aurora-sql`).
//!
//! A security group stops new connections only and `read_only` does not bind users holding
//! `CONNECTION_ADMIN` (the Aurora master user among them), so a fence is proven over SQL: the
//! application sessions are ended (`mysql.rds_kill`) until none is left, `read_only` is read
//! back, and an ordinary user's write is seen to fail. A marker row is then written through the
//! fence's own session: the drain is over when the target shows it.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PortResult;
use crate::binlog::BinlogPosition;

/// The schema the run owns on both sides: the marker table and the write probe's table.
pub const MARKER_SCHEMA: &str = "aurora_encrypt";

/// A row written through the fence's session after the fence is confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FenceMarker {
    /// The execution name.
    pub execution: String,
    /// One more than the last marker of this execution (a retried fence writes a new one).
    pub sequence: u64,
}

/// What the fence must confirm on the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFenceRequest {
    pub cluster_id: String,
    /// `read-only` is one of the methods: `@@global.read_only` must read 1 and an ordinary
    /// user's write must fail.
    pub read_only: bool,
    /// `security-group` is one of the methods: no new connection can replace an ended one, so
    /// no application session at all may be left. Without it, sessions of users `read_only`
    /// binds come back and are harmless (the probe proves it); none of a user that bypasses
    /// `read_only` may be left.
    pub new_connections_refused: bool,
    /// The execution the marker row is written for.
    pub execution: String,
    /// How long the sessions may take to end and the checks to pass.
    pub timeout: Duration,
}

/// The proof that nobody but the fence writes to the source any more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FenceConfirmation {
    /// The writer's binlog position right after the marker: everything the source wrote.
    pub position: BinlogPosition,
    pub marker: FenceMarker,
    /// Application sessions ended, over all rounds.
    pub sessions_ended: u32,
    /// Rounds of ending sessions and checking.
    pub rounds: u32,
    /// `@@global.read_only` as read on the writer.
    pub read_only: bool,
    /// An ordinary user's write was attempted and refused (`None`: not attempted, because
    /// `read-only` is not a method and the probe's connection is itself the allowed path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordinary_write_refused: Option<bool>,
    /// From the first session ended to the fence confirmed.
    pub confirm_ms: u64,
}

/// The outcome of [`FenceSql::end_sessions_and_confirm`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionFenceOutcome {
    Confirmed(FenceConfirmation),
    /// The bound passed before every check held; `reason` says which did not.
    NotConfirmed {
        reason: String,
        rounds: u32,
    },
}

/// A user that `read_only` does not stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadOnlyBypassUser {
    /// `'name'@'host'`.
    pub grantee: String,
    /// The privileges that let it write under `read_only` (`CONNECTION_ADMIN`, `SUPER`,
    /// `READ_ONLY ADMIN`).
    pub privileges: Vec<String>,
    /// Its sessions on the writer now.
    pub sessions: u32,
}

#[async_trait]
pub trait FenceSql: Send + Sync {
    /// Creates [`MARKER_SCHEMA`] and the probe user on `cluster_id` ahead of the fence, while
    /// writes still flow (DDL takes time the write pause should not include). Optional: a
    /// confirmation without it prepares on its own session.
    async fn prepare(&self, _cluster_id: &str) -> PortResult<()> {
        Ok(())
    }
    /// On one session to the writer: ends every session that is not the fence's own, not
    /// replication, not `rdsadmin` and not the server's, repeating until none is left; checks
    /// the fence; then writes the marker and reads the binlog position through that session.
    async fn end_sessions_and_confirm(
        &self,
        request: &SessionFenceRequest,
    ) -> PortResult<SessionFenceOutcome>;
    /// Writes the next marker of `execution` on `cluster_id` (the source) through a session
    /// allowed to write under the fence.
    async fn write_marker(&self, cluster_id: &str, execution: &str) -> PortResult<FenceMarker>;
    /// The writer's current binlog position on `cluster_id` (`SHOW MASTER STATUS`).
    async fn binlog_position(&self, cluster_id: &str) -> PortResult<BinlogPosition>;
    /// Whether `marker` is visible on `cluster_id` (the target).
    async fn marker_arrived(&self, cluster_id: &str, marker: &FenceMarker) -> PortResult<bool>;
    /// Drops [`MARKER_SCHEMA`] and the probe user on `cluster_id`. Idempotent.
    async fn remove_marker_schema(&self, cluster_id: &str) -> PortResult<()>;
    /// The users that `read_only` would not stop on `cluster_id`, with their sessions.
    async fn read_only_bypass_users(&self, cluster_id: &str)
        -> PortResult<Vec<ReadOnlyBypassUser>>;
}
