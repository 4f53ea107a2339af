//! `Verifier`: per-table row counts and checksums of one database server, so the verify step can
//! compare source and target at the drained position; its accounts and comparable settings for
//! the parity check; and the smoke queries run on the target. One instance per side.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PortResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerifyDepth {
    /// `SELECT COUNT(*)` per table.
    Counts,
    /// Counts plus `CHECKSUM TABLE` (or an equivalent ordered digest).
    Checksums,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableDigest {
    pub database: String,
    pub table: String,
    pub rows: u64,
    pub checksum: Option<u64>,
}

/// One database account as the server has it: binlog replication on Aurora MySQL 3 carries
/// neither the `mysql` schema nor CREATE USER, GRANT or REVOKE, so verification compares these.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Account {
    pub user: String,
    pub host: String,
    /// A digest of the authentication plugin and stored credential, never the credential: equal
    /// on both sides exactly when the account authenticates the same way.
    pub authentication_digest: String,
    /// `SHOW GRANTS` lines, sorted, with any `IDENTIFIED …` clause removed.
    pub grants: Vec<String>,
}

impl Account {
    /// `'user'@'host'`, as MySQL names an account.
    pub fn name(&self) -> String {
        format!("'{}'@'{}'", self.user, self.host)
    }
}

/// A server's settings that should be the same on source and target, by name
/// (`variable:sql_mode`, `event:db.name`, `trigger:db.name`, `routine:db.name`, `view:db.name`,
/// `timezone:tables`) with a canonical value, sorted by name. Accounts are apart
/// ([`Verifier::accounts`]).
pub type ServerSettings = BTreeMap<String, String>;

/// How a smoke query ended when the server ran it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmokeOutcome {
    /// It returned this many rows.
    Rows(u64),
    /// The server refused or failed it (or it ran past its timeout), with the server's message.
    Failed(String),
}

#[async_trait]
pub trait Verifier: Send + Sync {
    /// Digests of every base table of `databases` (all user databases when empty), sorted by
    /// database and table.
    async fn table_digests(
        &self,
        databases: &[String],
        depth: VerifyDepth,
    ) -> PortResult<Vec<TableDigest>>;

    /// Every account of the server with its grants, sorted by user and host. The default
    /// refuses, so a verifier that cannot list accounts never passes as one that found them equal.
    async fn accounts(&self) -> PortResult<Vec<Account>> {
        Err(crate::errors::PortError::InvalidRequest(
            "this verifier cannot list database accounts".into(),
        ))
    }

    /// The server's comparable settings. The default refuses, as [`Verifier::accounts`] does.
    async fn settings(&self) -> PortResult<ServerSettings> {
        Err(crate::errors::PortError::InvalidRequest(
            "this verifier cannot read server settings".into(),
        ))
    }

    /// Runs `sql` (one `SELECT`/`WITH` statement) in a read-only transaction, bounded by
    /// `timeout`, and rolls back. `Err` only when it could not be run at all (no connection):
    /// what the server said about the query itself is [`SmokeOutcome::Failed`]. The default
    /// refuses.
    async fn smoke_query(&self, sql: &str, timeout: Duration) -> PortResult<SmokeOutcome> {
        let _ = (sql, timeout);
        Err(crate::errors::PortError::InvalidRequest(
            "this verifier cannot run smoke queries".into(),
        ))
    }
}
