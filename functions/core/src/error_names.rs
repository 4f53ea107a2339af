//! Every error name the state machine matches on (the Lambda `errorType`), in one place.
//!
//! The ASL's Retry and Catch clauses refer to these strings; a test reads the ASL and proves each
//! one is handled. Never start a name with `States.` (reserved by Step Functions).

/// Throttling, 5xx, timeouts: retried by every Task with backoff.
pub const TRANSIENT: &str = "Transient";
/// A resource is still being created or modified; the state machine polls.
pub const NOT_READY: &str = "NotReady";
/// The execution input or a step input is malformed or contradictory.
pub const INVALID_INPUT: &str = "InvalidInput";
pub const SOURCE_NOT_FOUND: &str = "SourceNotFound";
pub const SOURCE_ALREADY_ENCRYPTED: &str = "SourceAlreadyEncrypted";
pub const SOURCE_NOT_AVAILABLE: &str = "SourceNotAvailable";
pub const SNAPSHOT_FAILED: &str = "SnapshotFailed";
pub const TARGET_CLUSTER_TAKEN: &str = "TargetClusterTaken";
pub const RESTORE_FAILED: &str = "RestoreFailed";
pub const TARGET_NOT_ENCRYPTED: &str = "TargetNotEncrypted";
pub const BINLOG_FORMAT_NOT_ROW: &str = "BinlogFormatNotRow";
pub const BINLOG_RETENTION_TOO_SHORT: &str = "BinlogRetentionTooShort";
pub const SHARED_PARAMETER_GROUP: &str = "SharedParameterGroup";
pub const KMS_KEY_UNUSABLE: &str = "KmsKeyUnusable";
/// The restore's binlog event has not been published yet; retried by the state machine.
pub const BINLOG_POSITION_NOT_YET_AVAILABLE: &str = "BinlogPositionNotYetAvailable";
/// The binlog event did not appear within the configured horizon (or was malformed).
pub const BINLOG_POSITION_NOT_FOUND: &str = "BinlogPositionNotFound";
pub const MIGRATION_FAILED: &str = "MigrationFailed";
pub const LAG_NOT_CONVERGING: &str = "LagNotConverging";
pub const VERIFICATION_MISMATCH: &str = "VerificationMismatch";
pub const DNS_RECORD_NOT_ON_SOURCE: &str = "DnsRecordNotOnSource";
/// The RDS Proxy of `switchover.method: proxy` does not exist, is not a MySQL proxy, or tracks a
/// cluster other than the source and the target: not ours to move.
pub const PROXY_NOT_ON_SOURCE: &str = "ProxyNotOnSource";
/// The re-targeted proxy did not reach the cluster's writer within `proxy.timeoutSeconds`:
/// its health (`AUTH_FAILURE`, `CONNECTION_FAILED`, …) or the server a session reached says why.
pub const PROXY_TARGET_UNAVAILABLE: &str = "ProxyTargetUnavailable";
/// A rename of `switchover.method: rename` cannot be made (a name taken, a resource in a state
/// RDS will not rename), or the renames, or the cluster endpoint reaching the target, took too
/// long: the renames are undone.
pub const RENAME_FAILED: &str = "RenameFailed";
/// The caller may not perform an API call: a deployment problem, never retried.
pub const ACCESS_DENIED: &str = "AccessDenied";
/// Backtrack is on for the source: binlog replication from a restored copy is not supported.
pub const BACKTRACK_ENABLED: &str = "BacktrackEnabled";
/// Verification did not finish within `verify.timeoutSeconds`: the target is unverified.
pub const VERIFICATION_TIMED_OUT: &str = "VerificationTimedOut";
/// An operator refused the switchover at the approval gate (`aurora-encrypt abort`): roll back.
pub const ABORTED: &str = "Aborted";
/// Verification or the native engine needs the RDS CA bundle and the functions have none.
pub const RDS_CA_BUNDLE_MISSING: &str = "RdsCaBundleMissing";
/// AWS refused a call for a reason this project has no name for (a quota, a failed dependency,
/// a new code): `errorMessage` carries the service's own code and message. Never retried.
pub const AWS_ERROR: &str = "AwsError";
/// `aurora_enhanced_binlog` is on for the source: its binlog is not in snapshots.
pub const ENHANCED_BINLOG_ENABLED: &str = "EnhancedBinlogEnabled";
/// The source uses something the encrypted copy cannot carry over (associated IAM roles, a
/// Kerberos domain, enhanced monitoring); the message says what and how to proceed.
pub const SOURCE_FEATURE_NOT_CARRIED: &str = "SourceFeatureNotCarried";
/// The fence could not be confirmed on the writer within its bound (a session would not end,
/// `read_only` did not read 1, or an ordinary write went through): roll back and unfence.
pub const FENCE_NOT_CONFIRMED: &str = "FenceNotConfirmed";
/// The chosen fence cannot stop writers preflight can see (e.g. `read-only` alone while a user
/// that bypasses `read_only` is connected).
pub const FENCE_CANNOT_STOP_WRITERS: &str = "FenceCannotStopWriters";
/// Another execution holds the source's lock (or this one no longer does): one migration per
/// source at a time.
pub const SOURCE_BUSY: &str = "SourceBusy";
/// Source and target differ in a setting binlog replication does not carry (a global variable,
/// an event, trigger, routine or view, the time zone tables, an account) and `parity.ignore`
/// does not allow it: the message names each with both values.
pub const PARITY_MISMATCH: &str = "ParityMismatch";
/// A `smoke.queries` entry failed on the target's writer: the message names its index and the
/// server's message.
pub const SMOKE_QUERY_FAILED: &str = "SmokeQueryFailed";
/// The failback window's branches end the window with these (the state machine's own Fail
/// states, caught by the window): an operator asked to fail back (`aurora-encrypt failback`),
/// the window's time ran out, or an operator closed it early (`aurora-encrypt approve`).
pub const FAILBACK_REQUESTED: &str = "FailbackRequested";
pub const FAILBACK_WINDOW_ENDED: &str = "FailbackWindowEnded";
pub const FAILBACK_WINDOW_CLOSED: &str = "FailbackWindowClosed";

/// Every name above, for cross-checks against the ASL.
pub const ALL: &[&str] = &[
    TRANSIENT,
    NOT_READY,
    INVALID_INPUT,
    SOURCE_NOT_FOUND,
    SOURCE_ALREADY_ENCRYPTED,
    SOURCE_NOT_AVAILABLE,
    SNAPSHOT_FAILED,
    TARGET_CLUSTER_TAKEN,
    RESTORE_FAILED,
    TARGET_NOT_ENCRYPTED,
    BINLOG_FORMAT_NOT_ROW,
    BINLOG_RETENTION_TOO_SHORT,
    SHARED_PARAMETER_GROUP,
    KMS_KEY_UNUSABLE,
    BINLOG_POSITION_NOT_YET_AVAILABLE,
    BINLOG_POSITION_NOT_FOUND,
    MIGRATION_FAILED,
    LAG_NOT_CONVERGING,
    VERIFICATION_MISMATCH,
    DNS_RECORD_NOT_ON_SOURCE,
    PROXY_NOT_ON_SOURCE,
    PROXY_TARGET_UNAVAILABLE,
    RENAME_FAILED,
    ACCESS_DENIED,
    BACKTRACK_ENABLED,
    VERIFICATION_TIMED_OUT,
    ABORTED,
    RDS_CA_BUNDLE_MISSING,
    AWS_ERROR,
    ENHANCED_BINLOG_ENABLED,
    SOURCE_FEATURE_NOT_CARRIED,
    FENCE_NOT_CONFIRMED,
    FENCE_CANNOT_STOP_WRITERS,
    SOURCE_BUSY,
    PARITY_MISMATCH,
    SMOKE_QUERY_FAILED,
    FAILBACK_REQUESTED,
    FAILBACK_WINDOW_ENDED,
    FAILBACK_WINDOW_CLOSED,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_pascal_case_and_not_reserved() {
        let mut seen = std::collections::BTreeSet::new();
        for name in ALL {
            assert!(seen.insert(*name), "duplicate error name {name}");
            assert!(
                !name.starts_with("States."),
                "{name} uses the reserved prefix"
            );
            assert!(
                name.chars().next().is_some_and(|c| c.is_ascii_uppercase()),
                "{name}"
            );
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric()), "{name}");
        }
    }
}
