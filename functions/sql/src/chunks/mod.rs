//! `SqlChunkVerifier`: [`ChunkVerifier`] for one MySQL-protocol server (Aurora MySQL 3, MySQL
//! 8.0, MariaDB 10.6+ in the sandbox). Everything is computed by the server; this module only
//! writes the SQL and reads the binlog.
//!
//! - Tables: the base tables in scope as [`SqlVerifier`](crate::SqlVerifier) lists them, never
//!   [`MARKER_SCHEMA`]. Chunk key: the PRIMARY KEY's columns in index order; else the first
//!   UNIQUE index (by name) whose columns are all NOT NULL (NULLs are not unique); else the
//!   first non-unique index whose columns are all NOT NULL (the rows of one key value are then
//!   always in the same chunk, and a touched key compares all of them); never an
//!   index with a prefix part, an expression, or a column whose values cannot be bound back
//!   exactly (FLOAT/DOUBLE, ENUM/SET, BIT, BLOB/TEXT, JSON, spatial: see [`values`]). No such
//!   key: an empty key, the table compared whole.
//! - Digest of a set of rows: `COUNT(*)` and the BIT_XOR of both 64-bit halves of every row's
//!   `MD5(CONCAT_WS('#', every column…, CONCAT(ISNULL(c1), …)))` (as pt-table-checksum), so it
//!   does not depend on row order. The session runs with `time_zone = '+00:00'` and utf8mb4,
//!   so TIMESTAMPs and text render the same on both sides.
//! - Key ranges `(lower, upper]` are written column by column (`a > ? OR (a = ? AND b > ?)`),
//!   which both servers turn into an index range; values are always statement parameters.
//! - [`touched_rows`](ChunkVerifier::touched_rows) reads the binlog over a dump connection: see
//!   [`binlog`].
//!
//! Privileges: `SELECT` on the databases in scope; for `binlog_position` and `touched_rows`
//! also `REPLICATION CLIENT` (MariaDB 10.5+: `BINLOG MONITOR`) and `REPLICATION SLAVE`
//! (`REPLICA`), which Aurora's master user has.
//!
//! One short-lived connection per call, as everywhere in this crate.

#[cfg(feature = "binlog")]
mod binlog;
mod digest;
mod values;

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aurora_core::binlog::BinlogPosition;
use aurora_core::errors::{PortError, Resource};
use aurora_core::ports::{
    ChunkDigest, ChunkTable, ChunkVerifier, Key, KeyRange, KeyValue, PortResult, TouchedRows,
    MARKER_SCHEMA,
};
use mysql_async::{Row, Value};

use self::digest::{Condition, KeyColumn, KEYS_PER_STATEMENT};
use self::values::{table_columns, ColumnInfo, KeyKind};
use crate::conn::{cell, connect, quote_identifier, Session};
use crate::credentials::ConnectionSettings;
use crate::fence::{binlog_position, WriterConnections};
use crate::verify::{base_tables, databases_in_scope, placeholders, WriterVerifier};

/// Chunks, digests and binlog reads of the server it logs in to; one instance per side.
#[derive(Debug, Clone)]
pub struct SqlChunkVerifier {
    settings: ConnectionSettings,
}

impl SqlChunkVerifier {
    /// `settings` needs the privileges in the module documentation.
    pub fn new(settings: ConnectionSettings) -> Self {
        Self { settings }
    }

    /// A fresh session prepared for digesting; the caller closes it.
    async fn session(&self) -> PortResult<Session<'_>> {
        let mut session = connect(&self.settings).await?;
        if let Err(e) = prepare(&mut session).await {
            session.close().await;
            return Err(e);
        }
        Ok(session)
    }
}

/// Fixes what changes how values render: TIMESTAMPs print in the session's zone, text in the
/// results' character set.
async fn prepare(session: &mut Session<'_>) -> PortResult<()> {
    session
        .query(
            "SET time_zone = '+00:00', character_set_client = utf8mb4, \
             character_set_connection = utf8mb4, character_set_results = utf8mb4",
            "prepare the session",
        )
        .await
        .map(drop)
}

/// One row of `information_schema.STATISTICS`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexPart {
    index: String,
    unique: bool,
    seq: u64,
    /// `None` for an expression (MySQL functional index).
    column: Option<String>,
    prefix: bool,
}

/// The chunk key of a table with these indexes and columns (see the module documentation).
fn choose_key(parts: &[IndexPart], columns: &[ColumnInfo]) -> Vec<String> {
    let mut indexes: BTreeMap<&str, Vec<&IndexPart>> = BTreeMap::new();
    for part in parts {
        indexes.entry(part.index.as_str()).or_default().push(part);
    }
    let unique = |parts: &Vec<&IndexPart>| parts.iter().all(|p| p.unique);
    let usable = |parts: &Vec<&IndexPart>| -> Option<Vec<String>> {
        let mut parts = parts.clone();
        parts.sort_by_key(|p| p.seq);
        parts
            .iter()
            .map(|p| {
                let name = p.column.as_ref().filter(|_| !p.prefix)?;
                let column = columns.iter().find(|c| &c.name == name)?;
                (!column.nullable && KeyKind::of(column).is_some()).then(|| name.clone())
            })
            .collect()
    };
    if let Some(key) = indexes.get("PRIMARY").and_then(usable) {
        return key;
    }
    let others = || indexes.iter().filter(|(name, _)| **name != "PRIMARY");
    // A unique key first; else a non-unique one: a range of it still splits the table, only
    // every row of one key value lands in the same chunk.
    others()
        .filter(|(_, parts)| unique(parts))
        .find_map(|(_, parts)| usable(parts))
        .or_else(|| {
            others()
                .filter(|(_, parts)| !unique(parts))
                .find_map(|(_, parts)| usable(parts))
        })
        .unwrap_or_default()
}

async fn chunk_tables(
    session: &mut Session<'_>,
    requested: &[String],
) -> PortResult<Vec<ChunkTable>> {
    let databases: Vec<String> = databases_in_scope(session, requested)
        .await?
        .into_iter()
        .filter(|d| d != MARKER_SCHEMA)
        .collect();
    let tables = base_tables(session, &databases).await?;
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, \
         SUB_PART FROM information_schema.STATISTICS WHERE TABLE_SCHEMA IN ({})",
        placeholders(databases.len())
    );
    let params = databases.iter().map(|d| Value::from(d.as_str())).collect();
    let rows = session.exec(&sql, params, "list indexes").await?;
    let mut parts: BTreeMap<(String, String), Vec<IndexPart>> = BTreeMap::new();
    for row in &rows {
        let (Some(database), Some(table), Some(index)) = (cell(row, 0), cell(row, 1), cell(row, 2))
        else {
            continue;
        };
        parts.entry((database, table)).or_default().push(IndexPart {
            index,
            unique: cell(row, 3).is_some_and(|n| n.trim() == "0"),
            seq: cell(row, 4).and_then(|s| s.parse().ok()).unwrap_or(0),
            column: cell(row, 5),
            prefix: cell(row, 6).is_some(),
        });
    }
    let mut columns: BTreeMap<(String, String), Vec<ColumnInfo>> = BTreeMap::new();
    for column in table_columns(session, &databases, None).await? {
        columns
            .entry((column.database.clone(), column.table.clone()))
            .or_default()
            .push(column);
    }
    let mut chunk_tables: Vec<ChunkTable> = tables
        .into_iter()
        .map(|(database, table)| {
            let id = (database, table);
            let key = choose_key(
                parts.get(&id).map_or(&[][..], Vec::as_slice),
                columns.get(&id).map_or(&[][..], Vec::as_slice),
            );
            ChunkTable {
                database: id.0,
                table: id.1,
                key,
            }
        })
        .collect();
    chunk_tables.sort_by(|a, b| (&a.database, &a.table).cmp(&(&b.database, &b.table)));
    Ok(chunk_tables)
}

/// A table's columns and its chunk key's, as the server has them now.
struct TableShape {
    name: String,
    columns: Vec<ColumnInfo>,
    key: Vec<KeyColumn>,
}

async fn table_shape(session: &mut Session<'_>, table: &ChunkTable) -> PortResult<TableShape> {
    let name = digest::table_name(&table.database, &table.table);
    let columns = table_columns(
        session,
        std::slice::from_ref(&table.database),
        Some(&table.table),
    )
    .await?;
    if columns.is_empty() {
        return Err(PortError::NotFound {
            resource: Resource::Other,
            message: format!("table {name} on {}", session.settings.address()),
        });
    }
    let key = table
        .key
        .iter()
        .map(|k| {
            let column = columns.iter().find(|c| &c.name == k).ok_or_else(|| {
                PortError::InvalidState(format!("{name} has no column `{k}` of its chunk key"))
            })?;
            let kind = KeyKind::of(column).ok_or_else(|| {
                PortError::InvalidRequest(format!(
                    "column `{k}` of {name} ({}) cannot be a chunk key",
                    column.data_type
                ))
            })?;
            Ok(KeyColumn {
                quoted: quote_identifier(k),
                kind,
            })
        })
        .collect::<PortResult<_>>()?;
    Ok(TableShape { name, columns, key })
}

fn invalid(name: &str) -> impl Fn(String) -> PortError + '_ {
    move |e| PortError::InvalidRequest(format!("{name}: {e}"))
}

fn cells(row: &Row) -> Vec<Value> {
    (0..row.len())
        .map(|i| row.as_ref(i).cloned().unwrap_or(Value::NULL))
        .collect()
}

async fn chunk_upper(
    session: &mut Session<'_>,
    table: &ChunkTable,
    after: Option<&[KeyValue]>,
    rows: u64,
) -> PortResult<Option<Key>> {
    if rows == 0 {
        return Err(PortError::InvalidRequest(
            "a chunk of 0 rows was asked for".into(),
        ));
    }
    if table.key.is_empty() {
        return Ok(None);
    }
    let shape = table_shape(session, table).await?;
    let condition = match after {
        Some(key) => digest::range_condition(&shape.key, key, digest::Bound::After)
            .map_err(invalid(&shape.name))?,
        None => Condition::default(),
    };
    let sql = digest::upper_sql(&shape.name, &shape.key, &condition, rows - 1);
    let found = session
        .exec(
            &sql,
            condition.params,
            &format!("find the next chunk of {}", shape.name),
        )
        .await?;
    let Some(row) = found.first() else {
        return Ok(None);
    };
    let key = shape
        .key
        .iter()
        .zip(cells(row))
        .map(|(column, value)| column.kind.read_sql(value))
        .collect::<Result<Key, String>>()
        .map_err(|e| PortError::Other(format!("a chunk key of {}: {e}", shape.name)))?;
    Ok(Some(key))
}

/// Rows, high and low half of the digest of the rows matching `condition`.
async fn digest_halves(
    session: &mut Session<'_>,
    shape: &TableShape,
    condition: Condition,
) -> PortResult<(u64, u64, u64)> {
    let sql = digest::digest_sql(&shape.name, &shape.columns, &condition);
    let rows = session
        .exec(
            &sql,
            condition.params,
            &format!("digest rows of {}", shape.name),
        )
        .await?;
    let numbers: Option<Vec<u64>> = rows
        .first()
        .map(|row| cells(row).iter().map(value_u64).collect())
        .and_then(|n: Vec<Option<u64>>| n.into_iter().collect());
    match numbers.as_deref() {
        Some(&[count, high, low]) => Ok((count, high, low)),
        _ => Err(PortError::Other(format!(
            "the digest of {} returned no numbers",
            shape.name
        ))),
    }
}

fn value_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Int(i) => u64::try_from(*i).ok(),
        Value::UInt(u) => Some(*u),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        _ => None,
    }
}

async fn digest_range(
    session: &mut Session<'_>,
    table: &ChunkTable,
    range: &KeyRange,
) -> PortResult<ChunkDigest> {
    let shape = table_shape(session, table).await?;
    let condition = if shape.key.is_empty() {
        Condition::default()
    } else {
        digest::between(&shape.key, range.lower.as_deref(), range.upper.as_deref())
            .map_err(invalid(&shape.name))?
    };
    let (rows, high, low) = digest_halves(session, &shape, condition).await?;
    Ok(ChunkDigest {
        rows,
        digest: digest::digest_text(rows, high, low),
    })
}

async fn digest_keys(
    session: &mut Session<'_>,
    table: &ChunkTable,
    keys: &[Key],
) -> PortResult<ChunkDigest> {
    if keys.is_empty() {
        return Ok(ChunkDigest {
            rows: 0,
            digest: String::new(),
        });
    }
    let shape = table_shape(session, table).await?;
    if shape.key.is_empty() {
        return Err(PortError::InvalidRequest(format!(
            "{} has no chunk key: compare it whole",
            shape.name
        )));
    }
    // A key named twice would be counted twice across statements.
    let keys: Vec<Key> = keys
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let (mut rows, mut high, mut low) = (0, 0, 0);
    for batch in keys.chunks(KEYS_PER_STATEMENT) {
        let condition = digest::keys_condition(&shape.key, batch).map_err(invalid(&shape.name))?;
        let (r, h, l) = digest_halves(session, &shape, condition).await?;
        rows += r;
        high ^= h;
        low ^= l;
    }
    Ok(ChunkDigest {
        rows,
        digest: digest::digest_text(rows, high, low),
    })
}

#[async_trait]
impl ChunkVerifier for SqlChunkVerifier {
    async fn chunk_tables(&self, databases: &[String]) -> PortResult<Vec<ChunkTable>> {
        let mut session = self.session().await?;
        let result = chunk_tables(&mut session, databases).await;
        session.close().await;
        result
    }

    async fn chunk_upper(
        &self,
        table: &ChunkTable,
        after: Option<&[KeyValue]>,
        rows: u64,
    ) -> PortResult<Option<Key>> {
        let mut session = self.session().await?;
        let result = chunk_upper(&mut session, table, after, rows).await;
        session.close().await;
        result
    }

    async fn digest_range(&self, table: &ChunkTable, range: &KeyRange) -> PortResult<ChunkDigest> {
        let mut session = self.session().await?;
        let result = digest_range(&mut session, table, range).await;
        session.close().await;
        result
    }

    async fn digest_keys(&self, table: &ChunkTable, keys: &[Key]) -> PortResult<ChunkDigest> {
        let mut session = self.session().await?;
        let result = digest_keys(&mut session, table, keys).await;
        session.close().await;
        result
    }

    async fn binlog_position(&self) -> PortResult<BinlogPosition> {
        let mut session = connect(&self.settings).await?;
        let result = binlog_position(&mut session).await;
        session.close().await;
        result
    }

    async fn touched_rows(
        &self,
        from: &BinlogPosition,
        to: &BinlogPosition,
        tables: &[ChunkTable],
        limit: usize,
    ) -> PortResult<TouchedRows> {
        #[cfg(feature = "binlog")]
        return binlog::touched_rows(&self.settings, from, to, tables, limit).await;
        #[cfg(not(feature = "binlog"))]
        {
            let _ = (from, to, tables, limit);
            Err(PortError::InvalidRequest(
                "this build of aurora-sql reads no binlog (feature `binlog`)".into(),
            ))
        }
    }
}

/// The chunk verifier of one cluster's writer, as [`WriterVerifier`] is its `Verifier`.
#[async_trait]
impl<C: WriterConnections> ChunkVerifier for WriterVerifier<C> {
    async fn chunk_tables(&self, databases: &[String]) -> PortResult<Vec<ChunkTable>> {
        self.chunk_verifier().await?.chunk_tables(databases).await
    }

    async fn chunk_upper(
        &self,
        table: &ChunkTable,
        after: Option<&[KeyValue]>,
        rows: u64,
    ) -> PortResult<Option<Key>> {
        self.chunk_verifier()
            .await?
            .chunk_upper(table, after, rows)
            .await
    }

    async fn digest_range(&self, table: &ChunkTable, range: &KeyRange) -> PortResult<ChunkDigest> {
        self.chunk_verifier()
            .await?
            .digest_range(table, range)
            .await
    }

    async fn digest_keys(&self, table: &ChunkTable, keys: &[Key]) -> PortResult<ChunkDigest> {
        self.chunk_verifier().await?.digest_keys(table, keys).await
    }

    async fn binlog_position(&self) -> PortResult<BinlogPosition> {
        self.chunk_verifier().await?.binlog_position().await
    }

    async fn touched_rows(
        &self,
        from: &BinlogPosition,
        to: &BinlogPosition,
        tables: &[ChunkTable],
        limit: usize,
    ) -> PortResult<TouchedRows> {
        self.chunk_verifier()
            .await?
            .touched_rows(from, to, tables, limit)
            .await
    }
}

impl<C: WriterConnections> WriterVerifier<C> {
    async fn chunk_verifier(&self) -> PortResult<SqlChunkVerifier> {
        Ok(SqlChunkVerifier::new(self.writer_settings().await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, nullable: bool, data_type: &str) -> ColumnInfo {
        ColumnInfo {
            database: "d".into(),
            table: "t".into(),
            name: name.into(),
            data_type: data_type.into(),
            unsigned: false,
            charset: None,
            nullable,
            precision: None,
            scale: None,
            fsp: 0,
            octet_length: None,
        }
    }

    fn part(index: &str, seq: u64, column: &str) -> IndexPart {
        IndexPart {
            index: index.into(),
            unique: true,
            seq,
            column: Some(column.into()),
            prefix: false,
        }
    }

    #[test]
    fn the_primary_key_in_index_order_is_preferred() {
        let columns = [
            column("a", false, "int"),
            column("b", false, "int"),
            column("u", false, "int"),
        ];
        let parts = [
            part("PRIMARY", 2, "a"),
            part("PRIMARY", 1, "b"),
            part("AAA", 1, "u"),
        ];
        assert_eq!(choose_key(&parts, &columns), ["b", "a"]);
    }

    #[test]
    fn a_key_needs_not_null_columns_without_prefix_of_a_bindable_type_and_unique_goes_first() {
        let columns = [
            column("n", true, "int"),
            column("f", false, "double"),
            column("s", false, "varchar"),
            column("k", false, "int"),
            column("m", false, "int"),
        ];
        let prefixed = IndexPart {
            prefix: true,
            ..part("b_prefix", 1, "s")
        };
        let non_unique = IndexPart {
            unique: false,
            ..part("a_plain", 1, "m")
        };
        let parts = [
            part("a_nullable", 1, "n"),
            part("a_float", 1, "f"),
            prefixed,
            non_unique,
            part("c_good", 1, "k"),
        ];
        // A unique key before a non-unique one, whatever their names.
        assert_eq!(choose_key(&parts, &columns), ["k"]);
        assert_eq!(choose_key(&parts[..4], &columns), ["m"]);
        assert!(choose_key(&parts[..3], &columns).is_empty());
        assert!(choose_key(&[], &columns).is_empty());
    }
}
