//! `Verifier`: per-table row counts and checksums of one database server, so the verify step can
//! compare source and target at the drained position. One instance per side.

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

#[async_trait]
pub trait Verifier: Send + Sync {
    /// Digests of every base table of `databases` (all user databases when empty), sorted by
    /// database and table.
    async fn table_digests(
        &self,
        databases: &[String],
        depth: VerifyDepth,
    ) -> PortResult<Vec<TableDigest>>;
}
