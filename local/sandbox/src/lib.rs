//! The MariaDB sandbox: real `mariadbd` servers on loopback standing in for Aurora clusters, and
//! adapters of the core ports over them, so the whole migration runs locally on real databases.
//!
//! - [`Sandbox`]: a directory holding clusters, snapshots, key files, zone files and a JSON
//!   registry; starts, stops and kills servers (see [`server`]).
//! - [`SandboxClusters`] (`Clusters`): snapshot = `mariadb-backup`, restore = copy-back started
//!   with encryption at rest, the binlog event recorded on the restored writer.
//! - [`network`]: security groups and the application endpoints' proxy, which admits new
//!   connections by the cluster's groups and leaves established ones alone, as on AWS.
//! - [`SandboxFence`] (`WriteFence`): security groups and `read_only`, the control-plane half; the SQL half
//!   (ending sessions, confirming) is `aurora-sql`'s [`aurora_sql::SqlFence`] ([`Sandbox::fence_sql`]).
//! - [`SandboxDns`] (`Dns`): zone files replaced atomically, served over DNS on loopback by
//!   [`dns_server`] (TTLs in the run's time).
//! - [`dms`]: a stand-in for DMS homogeneous data migrations, over the DMS API's wire protocol.
//! - [`SandboxSourceLock`] (`SourceLock`): one migration per source, in the registry.
//! - [`schema`]: the sample schema, its seed and the plaintext-marker scan.
//!
//! Replication and verification are `aurora-sql`'s, unchanged: the sandbox installs its
//! `mysql.rds_*` stand-ins on every server, creates the replication user, and builds
//! [`aurora_sql::NativeReplication`] / [`aurora_sql::SqlVerifier`] for its clusters
//! ([`Sandbox::native_replication`], [`Sandbox::verifier`], [`Sandbox::secrets`]). It depends on
//! no AWS SDK.

pub mod clusters;
pub mod dms;
pub mod dns;
pub mod dns_server;
pub mod error;
pub mod fence;
pub mod kms;
pub mod lag;
pub mod migration;
pub mod network;
pub mod parameters;
pub mod proxy;
pub mod registry;
pub mod rename;
pub mod retirement;
mod sandbox;
pub mod schema;
pub mod scrub;
pub mod server;
pub mod source_lock;
pub mod tools;

pub use clusters::SandboxClusters;
pub use dns::SandboxDns;
pub use error::{SandboxError, SandboxResult};
pub use fence::{SandboxFence, SandboxWriters};
pub use kms::SandboxKms;
pub use lag::NoLagMetrics;
pub use migration::{SandboxReplication, SandboxVerifier};
pub use parameters::SandboxParameters;
pub use proxy::SandboxProxies;
pub use retirement::SandboxRetirement;
pub use sandbox::{
    ClusterStatus, Sandbox, SandboxConfig, ADMIN_SECRET_ARN, APP_RECORD, APP_RECORD_TTL,
    APP_SECRET_ARN, DEFAULT_PORT, ENGINE, INSTANCE_CLASS, PRIVILEGED_APP_USER,
    REPLICATION_SECRET_ARN, REPLICATION_USER, ZONE_ID,
};
pub use source_lock::SandboxSourceLock;
pub use tools::INSTALL_COMMAND;
