//! Preflight's errors and the name each one gives the state machine.

use crate::error_names;
use crate::errors::{impl_diagnostic, InvalidInput, NamedError, PortError};
use crate::steps::source_lock::LockError;

#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("source cluster `{0}` not found: check sourceClusterId and that the state machine runs in the cluster's account and region")]
    SourceNotFound(String),
    #[error("source cluster `{cluster}` runs engine `{engine}`; only `aurora-mysql` (Aurora MySQL 2 or 3) is supported")]
    WrongEngine { cluster: String, engine: String },
    #[error("source cluster `{cluster}` runs engine version `{version}`; expected Aurora MySQL 2 (`5.7.mysql_aurora.2.*`) or 3 (`8.0.mysql_aurora.3.*`)")]
    UnsupportedVersion { cluster: String, version: String },
    #[error(
        "source cluster `{cluster}` is `{status}`; wait until it is `available` and start again"
    )]
    SourceNotAvailable { cluster: String, status: String },
    #[error("source cluster `{cluster}` is already encrypted{key}; {fix}")]
    AlreadyEncrypted {
        cluster: String,
        key: String,
        fix: &'static str,
    },
    #[error("KMS key `{key}` cannot encrypt the target: {reason}")]
    KmsKeyUnusable { key: String, reason: String },
    #[error("source cluster `{cluster}` has backtrack enabled (window {seconds} s); binlog replication from a restored copy needs it off: modify the cluster with --backtrack-window 0")]
    BacktrackEnabled { cluster: String, seconds: i64 },
    #[error("binlog_format is `{value}` in cluster parameter group `{group}`; set binlog_format=ROW in a custom cluster parameter group attached to the source and reboot its writer")]
    BinlogFormatNotRow { group: String, value: String },
    #[error("`{resource}` uses {feature}, which the encrypted copy cannot carry over: {fix}")]
    FeatureNotCarried {
        resource: String,
        feature: String,
        fix: String,
    },
    #[error("aurora_enhanced_binlog is `{value}` in cluster parameter group `{group}`: enhanced binlog files are not in snapshots, so the restored target's binlog position cannot continue the source's; set aurora_enhanced_binlog=0, binlog_backup=1 and binlog_replication_globaldb=1 in that group and reboot the writer")]
    EnhancedBinlogEnabled { group: String, value: String },
    #[error("cluster parameter group `{group}` is not applied on {members:?} yet (pending reboot), so binlog_format=ROW may not be in effect; reboot them and start again")]
    BinlogFormatNotApplied { group: String, members: Vec<String> },
    #[error("the `read-only` fence sets read_only in cluster parameter group `{group}`, but {reason}; attach a copy used by this cluster alone, or fence with `security-group` only")]
    SharedParameterGroup { group: String, reason: String },
    #[error("cleanup.disableSourceBinlog sets binlog_format=OFF in cluster parameter group `{group}`, but {reason}; attach a copy used by this cluster alone, or leave cleanup.disableSourceBinlog off")]
    SourceBinlogGroupShared { group: String, reason: String },
    #[error("source binlog retention is {found}; it must be at least {required} hours to cover the snapshot, restore and catch-up: CALL mysql.rds_set_configuration('binlog retention hours', {required}), or let the run raise it and put it back at the end: \"binlogRetention\": {{\"set\": true}}")]
    BinlogRetentionTooShort { found: String, required: u32 },
    #[error("binlogRetention.set is on, but {0}: set the source's binlog retention by hand and leave binlogRetention.set off")]
    BinlogRetentionNotSettable(String),
    #[error("`{id}` already exists and was not created by aurora-encrypt for source `{source_cluster}`; choose another targetClusterId or delete it")]
    TargetTaken { id: String, source_cluster: String },
    #[error("`{id}` was restored by an earlier run ({execution}), which either switched over to it or rolled back and kept it for inspection; its data and binlog position belong to that run's snapshot, so a new run cannot reuse it: choose another targetClusterId, or delete it if nothing uses it (after a rollback, cleanup.deleteTargetOnRollback does that)")]
    TargetLeftByEarlierRun { id: String, execution: String },
    #[error("DNS record `{record}` {found}; expected a CNAME to the source writer endpoint `{expected}`: fix dns.recordName or the record")]
    DnsRecordNotOnSource {
        record: String,
        found: String,
        expected: String,
    },
    #[error("{needs} connects to the clusters over TLS, but {reason}")]
    RdsCaBundleMissing { needs: String, reason: String },
    #[error("the fence {methods:?} cannot stop {users}: they bypass read_only and are connected, and without the `security-group` method they would reconnect after their sessions are ended; add `security-group` to switchover.fence (with fenceSecurityGroupId), or move these applications to a user without CONNECTION_ADMIN/SUPER")]
    FenceCannotStopWriters { methods: Vec<String>, users: String },
    #[error(transparent)]
    Port(#[from] PortError),
    #[error(transparent)]
    Lock(#[from] LockError),
}

impl NamedError for PreflightError {
    fn error_name(&self) -> &'static str {
        use PreflightError::*;
        match self {
            Invalid(_) | WrongEngine { .. } | UnsupportedVersion { .. } => {
                error_names::INVALID_INPUT
            }
            SourceNotFound(_) => error_names::SOURCE_NOT_FOUND,
            SourceNotAvailable { .. } => error_names::SOURCE_NOT_AVAILABLE,
            AlreadyEncrypted { .. } => error_names::SOURCE_ALREADY_ENCRYPTED,
            KmsKeyUnusable { .. } => error_names::KMS_KEY_UNUSABLE,
            BacktrackEnabled { .. } => error_names::BACKTRACK_ENABLED,
            BinlogFormatNotRow { .. } | BinlogFormatNotApplied { .. } => {
                error_names::BINLOG_FORMAT_NOT_ROW
            }
            SharedParameterGroup { .. } | SourceBinlogGroupShared { .. } => {
                error_names::SHARED_PARAMETER_GROUP
            }
            EnhancedBinlogEnabled { .. } => error_names::ENHANCED_BINLOG_ENABLED,
            FeatureNotCarried { .. } => error_names::SOURCE_FEATURE_NOT_CARRIED,
            BinlogRetentionTooShort { .. } | BinlogRetentionNotSettable(_) => {
                error_names::BINLOG_RETENTION_TOO_SHORT
            }
            TargetTaken { .. } | TargetLeftByEarlierRun { .. } => error_names::TARGET_CLUSTER_TAKEN,
            DnsRecordNotOnSource { .. } => error_names::DNS_RECORD_NOT_ON_SOURCE,
            RdsCaBundleMissing { .. } => error_names::RDS_CA_BUNDLE_MISSING,
            FenceCannotStopWriters { .. } => error_names::FENCE_CANNOT_STOP_WRITERS,
            Port(e) => e.default_name(),
            Lock(e) => e.error_name(),
        }
    }
}

impl_diagnostic!(PreflightError);
