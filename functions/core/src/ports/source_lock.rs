//! `SourceLock`: one migration per source cluster at a time.
//!
//! A lock record per source (keyed by the cluster's ARN) names the execution that holds it and
//! until when its lease runs. Adapters store it (AWS: a DynamoDB item written with a condition;
//! sandbox: its registry under a file lock) and say whether a holder is still running (AWS:
//! Step Functions `DescribeExecution`). Every decision (who may take it, when a lease has run
//! out) is `steps::source_lock`'s.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::PortResult;

/// The stored lock of one source cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockRecord {
    /// The source cluster's ARN.
    pub resource: String,
    /// The execution ARN (`$$.Execution.Id`) that holds or last held it.
    pub holder: String,
    /// Until when the holder's lease runs; renewed by every step that checks the lock.
    #[serde(with = "time::serde::rfc3339")]
    pub lease_expires_at: OffsetDateTime,
    /// The holder let go of it (cleanup or rollback ended).
    pub released: bool,
    /// Bumped by every write: the condition a write is made on.
    pub version: u64,
}

/// Whether the execution named in a lock still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HolderStatus {
    Running,
    /// Succeeded, failed, timed out, aborted, or never existed: it will not act again.
    Ended,
    /// The backend cannot tell (e.g. a local run's execution on AWS): only the lease counts.
    Unknown,
}

#[async_trait]
pub trait SourceLock: Send + Sync {
    /// The record of `resource`, read consistently; `None` if no execution ever took it.
    async fn read(&self, resource: &str) -> PortResult<Option<LockRecord>>;
    /// Stores `record` only if the stored record of `record.resource` still has version
    /// `expected_version` (`None`: no record exists). `false` when another writer got there
    /// first; nothing is written then.
    async fn write_if(
        &self,
        record: &LockRecord,
        expected_version: Option<u64>,
    ) -> PortResult<bool>;
    /// Whether the execution `holder` is still running.
    async fn holder_status(&self, holder: &str) -> PortResult<HolderStatus>;
}
