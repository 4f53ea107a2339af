//! `BinlogRetention`: how long the source keeps its binary logs. Replication starts at the
//! binlog position of the snapshot, so the source must still hold that binlog when the restore
//! is done and change data capture begins; Aurora MySQL purges binlogs quickly unless
//! `binlog retention hours` is set (`mysql.rds_set_configuration`).
//!
//! Implemented over SQL (`CALL mysql.rds_show_configuration`, or `@@binlog_expire_logs_seconds`
//! on servers without it), logging in with the secret the spec names.

use async_trait::async_trait;

use super::{DatabaseEndpoint, PortResult};

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
}
