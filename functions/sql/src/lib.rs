//! `aurora-sql`: the ports of `aurora-core` that talk SQL to a MySQL-protocol server (Aurora
//! MySQL 2 and 3, and MariaDB in the sandbox), over `mysql_async` with rustls:
//!
//! - [`NativeReplication`]: [`Replication`](aurora_core::ports::Replication) by binlog
//!   replication configured on the target with Aurora's `mysql.rds_*` procedures;
//! - [`SqlVerifier`]: [`Verifier`](aurora_core::ports::Verifier) by row counts and
//!   `CHECKSUM TABLE`, accounts with their grants ([`accounts`]), the settings the parity
//!   check compares ([`server_settings`]) and smoke queries ([`smoke_query`]);
//! - [`SqlChunkVerifier`]: [`ChunkVerifier`](aurora_core::ports::ChunkVerifier), the online
//!   verification's chunk keys, per-chunk digests computed by the server, and the rows the
//!   binlog shows written (also for [`WriterVerifier`]);
//! - [`SqlBinlogRetention`]: [`BinlogRetention`](aurora_core::ports::BinlogRetention) from
//!   `mysql.rds_show_configuration` or the server's binlog expiry;
//! - [`SqlFence`]: [`FenceSql`](aurora_core::ports::FenceSql), the fence's SQL half (ending
//!   sessions, confirming the fence, the drain's marker, users that bypass `read_only`);
//! - [`SqlServerIdentity`]: [`ServerIdentity`](aurora_core::ports::ServerIdentity), which
//!   server a session at an endpoint reaches (a re-targeted RDS Proxy);
//! - [`RDS_STAND_INS`]: MariaDB stand-ins for the `mysql.rds_*` procedures;
//! - `launcher` (feature `launcher`): starting and stopping `mariadbd`, for the sandbox and
//!   the tests;
//! - `testing` (feature `testing`): throw-away MariaDB servers for tests.
//!
//! Credentials come from Secrets Manager secret JSON through [`SecretsSource`]; no password is
//! ever printed, logged or put in an error.

mod accounts;
mod bypass;
mod ca_bundle;
mod chunks;
mod conn;
mod credentials;
mod fence;
mod identity;
mod parity;
mod prewarm;
mod replication;
mod retention;
mod standins;
mod verify;

#[cfg(feature = "launcher")]
pub mod launcher;
#[cfg(feature = "testing")]
pub mod testing;

pub use accounts::accounts;
pub use bypass::BYPASS_PRIVILEGES;
pub use ca_bundle::{check_ca_bundle, CaBundleError, CA_BUNDLE_FIX};
pub use chunks::SqlChunkVerifier;
pub use conn::quote_identifier;
pub use credentials::{
    ConnectionSettings, Credentials, SecretValue, SecretsSource, StaticSecrets, Tls,
    DEFAULT_CONNECT_TIMEOUT,
};
pub use fence::{ApplicationSession, FixedWriters, SqlFence, WriterConnections, PROBE_USER};
pub use identity::SqlServerIdentity;
pub use parity::{server_settings, smoke_query, variable_excluded, EXCLUDED_VARIABLES};
pub use prewarm::{top_statements, warm_instance, SqlCacheWarmer};
pub use replication::{AuroraMajorVersion, NativeReplication, ENGINE};
pub use retention::{
    binlog_retention_hours, put_back_binlog_retention_hours, raise_binlog_retention_hours,
    SqlBinlogRetention,
};
pub use standins::{install_rds_stand_ins, RDS_STAND_INS};
pub use verify::{SqlVerifier, WriterVerifier};
