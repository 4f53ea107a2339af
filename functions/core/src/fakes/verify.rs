//! One side of a verification: per-table digests and accounts, and rows by key for the chunked
//! comparison (a digest is a hash of the rows' keys and contents, the same on every fake).

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{lock, Failures};
use crate::binlog::BinlogPosition;
use crate::errors::PortError;
use crate::ports::{
    ChunkDigest, ChunkTable, ChunkVerifier, Key, KeyRange, KeyValue, PortResult, TableDigest,
    TouchedRows, TouchedTable, Verifier, VerifyDepth,
};

/// A table's rows by key, and its chunk key's columns (empty: no usable key).
#[derive(Debug, Clone, Default)]
pub struct FakeTable {
    pub key: Vec<String>,
    pub rows: BTreeMap<Key, String>,
}

/// Per-table digests of one side, or a verifier that never answers (for timeouts).
#[derive(Default)]
pub struct FakeVerifier {
    pub digests: Mutex<Vec<TableDigest>>,
    pub hang: bool,
    pub asked: Mutex<Vec<(Vec<String>, VerifyDepth)>>,
    failures: Failures,
    /// The server's accounts; by default one application user, the same on every fake.
    pub accounts: Mutex<Vec<crate::ports::Account>>,
    /// Rows for the chunked comparison, by `(database, table)`.
    pub tables: Mutex<BTreeMap<(String, String), FakeTable>>,
    /// What `binlog_position` answers.
    pub position: Mutex<Option<BinlogPosition>>,
    /// What `touched_rows` answers (truncated to the limit asked for).
    pub touched: Mutex<Vec<TouchedTable>>,
    /// `(from, to)` of every `touched_rows` call.
    pub binlog_reads: Mutex<Vec<(BinlogPosition, BinlogPosition)>>,
    /// Chunk digests computed (`digest_range` and `digest_keys` calls).
    pub digests_computed: Mutex<u64>,
    /// A row rewritten before every `digest_range`: a source whose writes never stop.
    pub churn: Mutex<Option<(String, String, i64)>>,
    /// What `settings` answers.
    pub settings: Mutex<crate::ports::ServerSettings>,
    /// Every `smoke_query` call, with its timeout.
    pub smoke_queries: Mutex<Vec<(String, std::time::Duration)>>,
    /// Smoke queries the server fails, with its message; the others return one row.
    pub smoke_failures: Mutex<BTreeMap<String, String>>,
}

impl FakeVerifier {
    /// `(database, table, rows, checksum)` rows.
    pub fn with(tables: &[(&str, &str, u64, u64)]) -> Self {
        let fake = Self::default();
        *lock(&fake.accounts) = vec![crate::ports::Account {
            user: "app".into(),
            host: "%".into(),
            authentication_digest: "digest-of-app".into(),
            grants: vec!["GRANT SELECT, INSERT, UPDATE, DELETE ON `shop`.* TO `app`@`%`".into()],
        }];
        *lock(&fake.position) = Some(BinlogPosition::new("mysql-bin-changelog.000001", 4));
        *lock(&fake.digests) = tables
            .iter()
            .map(|(db, table, rows, sum)| TableDigest {
                database: db.to_string(),
                table: table.to_string(),
                rows: *rows,
                checksum: Some(*sum),
            })
            .collect();
        fake
    }

    /// Tables of `rows` rows each, keyed by `id` 1..=rows, with contents `row-<id>`.
    pub fn with_rows(tables: &[(&str, &str, i64)]) -> Self {
        let fake = Self::with(&[]);
        for (db, table, rows) in tables {
            let rows = (1..=*rows)
                .map(|id| (vec![KeyValue::Int(id)], format!("row-{id}")))
                .collect();
            lock(&fake.tables).insert(
                (db.to_string(), table.to_string()),
                FakeTable {
                    key: vec!["id".into()],
                    rows,
                },
            );
        }
        fake
    }

    /// Sets (or adds) the row `id` of `db.table`.
    pub fn set_row(&self, db: &str, table: &str, id: i64, contents: &str) {
        lock(&self.tables)
            .entry((db.into(), table.into()))
            .or_insert_with(|| FakeTable {
                key: vec!["id".into()],
                rows: BTreeMap::new(),
            })
            .rows
            .insert(vec![KeyValue::Int(id)], contents.into());
    }

    pub fn hanging() -> Self {
        Self {
            hang: true,
            ..Self::default()
        }
    }

    pub fn fail_next(&self, error: PortError) {
        self.failures.push("table_digests", error);
    }

    pub fn fail_settings(&self, error: PortError) {
        self.failures.push("settings", error);
    }
}

#[async_trait]
impl Verifier for FakeVerifier {
    async fn table_digests(
        &self,
        databases: &[String],
        depth: VerifyDepth,
    ) -> PortResult<Vec<TableDigest>> {
        self.failures.take("table_digests")?;
        lock(&self.asked).push((databases.to_vec(), depth));
        if self.hang {
            std::future::pending::<()>().await;
        }
        let mut digests: Vec<TableDigest> = lock(&self.digests)
            .iter()
            .filter(|d| databases.is_empty() || databases.contains(&d.database))
            .cloned()
            .map(|mut d| {
                if depth == VerifyDepth::Counts {
                    d.checksum = None;
                }
                d
            })
            .collect();
        digests.sort();
        Ok(digests)
    }

    async fn accounts(&self) -> PortResult<Vec<crate::ports::Account>> {
        self.failures.take("accounts")?;
        let mut accounts = lock(&self.accounts).clone();
        accounts.sort();
        Ok(accounts)
    }

    async fn settings(&self) -> PortResult<crate::ports::ServerSettings> {
        self.failures.take("settings")?;
        Ok(lock(&self.settings).clone())
    }

    async fn smoke_query(
        &self,
        sql: &str,
        timeout: std::time::Duration,
    ) -> PortResult<crate::ports::SmokeOutcome> {
        lock(&self.smoke_queries).push((sql.to_string(), timeout));
        Ok(match lock(&self.smoke_failures).get(sql) {
            Some(message) => crate::ports::SmokeOutcome::Failed(message.clone()),
            None => crate::ports::SmokeOutcome::Rows(1),
        })
    }
}

fn digest<'a>(rows: impl Iterator<Item = (&'a Key, &'a String)>) -> ChunkDigest {
    let (mut count, mut xor) = (0u64, 0u64);
    for (key, contents) in rows {
        let mut hasher = DefaultHasher::new();
        (key, contents).hash(&mut hasher);
        xor ^= hasher.finish();
        count += 1;
    }
    ChunkDigest {
        rows: count,
        digest: if count == 0 {
            String::new()
        } else {
            format!("{xor:016x}")
        },
    }
}

fn in_range(key: &Key, range: &KeyRange) -> bool {
    range.lower.as_ref().is_none_or(|l| key > l) && range.upper.as_ref().is_none_or(|u| key <= u)
}

impl FakeVerifier {
    fn table(&self, table: &ChunkTable) -> PortResult<FakeTable> {
        lock(&self.tables)
            .get(&(table.database.clone(), table.table.clone()))
            .cloned()
            .ok_or_else(|| PortError::NotFound {
                resource: crate::errors::Resource::Other,
                message: format!("table {}", table.name()),
            })
    }
}

#[async_trait]
impl ChunkVerifier for FakeVerifier {
    async fn chunk_tables(&self, databases: &[String]) -> PortResult<Vec<ChunkTable>> {
        self.failures.take("chunk_tables")?;
        Ok(lock(&self.tables)
            .iter()
            .filter(|((db, _), _)| databases.is_empty() || databases.contains(db))
            .map(|((database, table), t)| ChunkTable {
                database: database.clone(),
                table: table.clone(),
                key: t.key.clone(),
            })
            .collect())
    }

    async fn chunk_upper(
        &self,
        table: &ChunkTable,
        after: Option<&[KeyValue]>,
        rows: u64,
    ) -> PortResult<Option<Key>> {
        let t = self.table(table)?;
        let skip = usize::try_from(rows.saturating_sub(1)).unwrap_or(usize::MAX);
        Ok(t.rows
            .keys()
            .filter(|k| after.is_none_or(|a| k.as_slice() > a))
            .nth(skip)
            .cloned())
    }

    async fn digest_range(&self, table: &ChunkTable, range: &KeyRange) -> PortResult<ChunkDigest> {
        self.failures.take("digest_range")?;
        *lock(&self.digests_computed) += 1;
        let churn = lock(&self.churn).clone();
        if let Some((db, table, id)) = churn {
            let n = *lock(&self.digests_computed);
            self.set_row(&db, &table, id, &format!("churn-{n}"));
        }
        let t = self.table(table)?;
        Ok(digest(t.rows.iter().filter(|(k, _)| in_range(k, range))))
    }

    async fn digest_keys(&self, table: &ChunkTable, keys: &[Key]) -> PortResult<ChunkDigest> {
        *lock(&self.digests_computed) += 1;
        let t = self.table(table)?;
        Ok(digest(t.rows.iter().filter(|(k, _)| keys.contains(k))))
    }

    async fn binlog_position(&self) -> PortResult<BinlogPosition> {
        lock(&self.position)
            .clone()
            .ok_or_else(|| PortError::InvalidState("binary logging is off".into()))
    }

    async fn touched_rows(
        &self,
        from: &BinlogPosition,
        to: &BinlogPosition,
        tables: &[ChunkTable],
        limit: usize,
    ) -> PortResult<TouchedRows> {
        lock(&self.binlog_reads).push((from.clone(), to.clone()));
        let touched: Vec<TouchedTable> = lock(&self.touched)
            .iter()
            .filter(|t| {
                tables
                    .iter()
                    .any(|c| c.database == t.database && c.table == t.table)
            })
            .cloned()
            .collect();
        let keys: usize = touched.iter().map(|t| t.keys.len()).sum();
        Ok(TouchedRows {
            row_events: keys as u64,
            files: 1,
            over_limit: keys > limit,
            tables: if keys > limit { Vec::new() } else { touched },
        })
    }
}
