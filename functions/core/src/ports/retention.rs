//! `BinlogRetention`: how long the source keeps its binary logs. Replication starts at the
//! binlog position of the snapshot, so the source must still hold that binlog when the restore
//! is done and change data capture begins; Aurora MySQL purges binlogs quickly unless
//! `binlog retention hours` is set (`mysql.rds_set_configuration`).
//!
//! With `binlogRetention.set` a run raises it itself and puts the original back at the end. The
//! original is recorded on the source before the first change, and a repeated raise finds that
//! record, so a retried step never takes its own value for the original.
//!
//! Implemented over SQL (`CALL mysql.rds_show_configuration`, or `@@binlog_expire_logs_seconds`
//! on servers without it), logging in with the secret the spec names.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{DatabaseEndpoint, PortResult};
use crate::errors::PortError;

/// What a run changed: the retention it found (`None`: not set) and the one it set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionChange {
    pub original_hours: Option<u32>,
    pub set_hours: u32,
}

#[async_trait]
pub trait BinlogRetention: Send + Sync {
    /// `binlog retention hours` of the server at `endpoint`, logged in with the user in the
    /// Secrets Manager secret `secret_arn`; `None` when it is not set (binlogs are purged as
    /// soon as nothing needs them).
    async fn retention_hours(
        &self,
        endpoint: &DatabaseEndpoint,
        secret_arn: &str,
    ) -> PortResult<Option<u32>>;

    /// Raises `binlog retention hours` to `hours` when it is shorter (or not set), after
    /// recording on the server the value it replaces, for `execution`. A value recorded by an
    /// earlier attempt stays the original, so a retried raise reports the first change. Returns
    /// the recorded change, or `None` when nothing is recorded and nothing had to change. The
    /// default refuses, so a reader that cannot change the setting never passes as one that did.
    async fn raise_retention(
        &self,
        _endpoint: &DatabaseEndpoint,
        _secret_arn: &str,
        _hours: u32,
        _execution: &str,
    ) -> PortResult<Option<RetentionChange>> {
        Err(PortError::InvalidRequest(
            "this binlog retention reader cannot change the setting".into(),
        ))
    }

    /// Puts back the original [`raise_retention`](Self::raise_retention) recorded, and forgets the
    /// record: the change it undid, or `None` when nothing was recorded (never changed, or put
    /// back already).
    async fn put_back_retention(
        &self,
        _endpoint: &DatabaseEndpoint,
        _secret_arn: &str,
    ) -> PortResult<Option<RetentionChange>> {
        Err(PortError::InvalidRequest(
            "this binlog retention reader cannot change the setting".into(),
        ))
    }
}
