//! `ChunkVerifier`: the online verification's view of one server. Tables are compared in chunks,
//! ranges of a chunk key (the primary key, or a unique key whose columns are all NOT NULL), each
//! digested by the server itself: a row count and an order-independent digest of every column
//! of every row. On the source it also reads the binlog, to find the rows written since a
//! position. One implementation speaks SQL (`aurora-sql`); the step keeps the cursor.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PortResult;
use crate::binlog::BinlogPosition;

/// One value of a chunk key column, as the state document carries it: a JSON number for
/// integers, a string for text (dates, decimals and floats in the server's own text form), and
/// `{"hex": …}` for bytes that are not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyValue {
    Int(i64),
    Uint(u64),
    Text(String),
    Bytes {
        /// Lowercase hexadecimal.
        hex: String,
    },
}

impl std::fmt::Display for KeyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyValue::Int(v) => write!(f, "{v}"),
            KeyValue::Uint(v) => write!(f, "{v}"),
            KeyValue::Text(v) => write!(f, "'{v}'"),
            KeyValue::Bytes { hex } => write!(f, "0x{hex}"),
        }
    }
}

/// A key: one value per chunk key column, in the key's column order.
pub type Key = Vec<KeyValue>;

/// Writes a key as `(1, 'a')`, or `1` for a one-column key.
pub fn key_text(key: &[KeyValue]) -> String {
    match key {
        [one] => one.to_string(),
        many => format!(
            "({})",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A base table in scope and how it is chunked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkTable {
    pub database: String,
    pub table: String,
    /// The chunk key's columns, in index order: the primary key, else a unique key without
    /// NULL-able columns, else a non-unique index without NULL-able columns (all rows of one
    /// key value are then compared together). Empty: no such index, so the table is compared
    /// whole, as one chunk.
    pub key: Vec<String>,
}

impl ChunkTable {
    /// `` `db`.`table` `` as an operator reads it.
    pub fn name(&self) -> String {
        format!("`{}`.`{}`", self.database, self.table)
    }
}

/// Key range `(lower, upper]`: rows whose key is greater than `lower` (or from the first row)
/// and at most `upper` (or to the last row). Compared as the server orders the key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<Key>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<Key>,
}

impl KeyRange {
    /// The whole table.
    pub fn all() -> Self {
        Self::default()
    }
}

impl std::fmt::Display for KeyRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.lower, &self.upper) {
            (None, None) => write!(f, "all rows"),
            (Some(l), None) => write!(f, "key > {}", key_text(l)),
            (None, Some(u)) => write!(f, "key <= {}", key_text(u)),
            (Some(l), Some(u)) => write!(f, "{} < key <= {}", key_text(l), key_text(u)),
        }
    }
}

/// What the server computed over a set of rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkDigest {
    pub rows: u64,
    /// An order-independent digest of the rows' contents (every column, NULL-safe), the same
    /// for the same rows on MySQL 8.0 and MariaDB; empty for no rows.
    pub digest: String,
}

/// The rows the source's binlog shows written between two positions, per table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TouchedRows {
    pub tables: Vec<TouchedTable>,
    /// More distinct keys than the limit asked for: the caller compares in full instead (the
    /// tables listed are then incomplete).
    pub over_limit: bool,
    /// Row events read.
    pub row_events: u64,
    /// Binlog files read, the first and the last included.
    pub files: u32,
}

/// One table's touched rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TouchedTable {
    pub database: String,
    pub table: String,
    /// Distinct keys (before and after images), sorted. Empty when the table has no chunk key:
    /// it is then compared whole.
    pub keys: Vec<Key>,
}

#[async_trait]
pub trait ChunkVerifier: Send + Sync {
    /// The base tables of `databases` (every user database when empty, never the server's own
    /// nor [`crate::ports::MARKER_SCHEMA`]), sorted, each with its chunk key.
    async fn chunk_tables(&self, databases: &[String]) -> PortResult<Vec<ChunkTable>>;

    /// The key of the `rows`-th row after `after` (from the first row when `None`): the upper
    /// end of the next chunk. `None` when fewer rows are left: the chunk runs to the end.
    async fn chunk_upper(
        &self,
        table: &ChunkTable,
        after: Option<&[KeyValue]>,
        rows: u64,
    ) -> PortResult<Option<Key>>;

    /// Count and digest of the rows in `range` (a table without chunk key: of every row).
    async fn digest_range(&self, table: &ChunkTable, range: &KeyRange) -> PortResult<ChunkDigest>;

    /// Count and digest of the rows with these keys (those that exist).
    async fn digest_keys(&self, table: &ChunkTable, keys: &[Key]) -> PortResult<ChunkDigest>;

    /// The server's binlog position now (`SHOW MASTER STATUS`).
    async fn binlog_position(&self) -> PortResult<BinlogPosition>;

    /// The keys of the rows of `tables` that row events between `from` and `to` wrote (before
    /// and after images), following rotations. Stops early with `over_limit` once more than
    /// `limit` distinct keys are found.
    async fn touched_rows(
        &self,
        from: &BinlogPosition,
        to: &BinlogPosition,
        tables: &[ChunkTable],
        limit: usize,
    ) -> PortResult<TouchedRows>;
}

/// One side of a verification: whole tables ([`crate::ports::Verifier`]) and chunks.
pub trait VerifySide: crate::ports::Verifier + ChunkVerifier {}

impl<T: crate::ports::Verifier + ChunkVerifier + ?Sized> VerifySide for T {}
