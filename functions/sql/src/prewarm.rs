//! `SqlCacheWarmer`: the source's most expensive statements, and their SELECTs replayed on a
//! target instance to fill its buffer pool.
//!
//! The statements come from `performance_schema.events_statements_summary_by_digest`, by
//! `SUM_TIMER_WAIT`. Their sample text is `QUERY_SAMPLE_TEXT` where the server keeps one (MySQL
//! 8.0, Aurora MySQL 3); otherwise the latest statement with that digest in
//! `events_statements_history_long` or `events_statements_history` (MariaDB, MySQL 5.7). The
//! source needs `performance_schema=1` (a static parameter: set in its parameter group and
//! reboot), and the user `SELECT` on `performance_schema`.
//!
//! The replay runs in a `READ ONLY` session, each statement bounded by what is left of the
//! budget (`max_statement_time` on MariaDB, `max_execution_time` on MySQL), and only statements
//! [`is_replayable_select`] accepts are sent at all. Rows are read and dropped. A table of
//! `prewarm.tables` is loaded by counting its rows through the primary key, which reads every
//! page of the clustered index.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aurora_core::errors::PortError;
use aurora_core::ports::{
    is_replayable_select, CacheWarmer, DatabaseEndpoint, InstanceWarmth, PortResult, TopStatement,
};
use mysql_async::prelude::Queryable;
use mysql_async::Row;

use crate::conn::{cell, codes, connect, server_code, Session};
use crate::credentials::{ConnectionSettings, SecretsSource, Tls};

/// Schemas whose statements are the servers' own or ours, never the application's.
const SYSTEM_SCHEMAS: &str =
    "'mysql', 'performance_schema', 'information_schema', 'sys', 'aurora_encrypt'";

/// [`CacheWarmer`] over SQL, logging in with credentials from a [`SecretsSource`].
#[derive(Clone)]
pub struct SqlCacheWarmer {
    secrets: Arc<dyn SecretsSource>,
    tls: Tls,
}

impl SqlCacheWarmer {
    pub fn new(secrets: Arc<dyn SecretsSource>, tls: Tls) -> Self {
        Self { secrets, tls }
    }

    async fn settings(
        &self,
        endpoint: &DatabaseEndpoint,
        secret_arn: &str,
    ) -> PortResult<ConnectionSettings> {
        let secret = self.secrets.secret_value(secret_arn).await?;
        secret.at_endpoint(endpoint, self.tls.clone())
    }
}

impl std::fmt::Debug for SqlCacheWarmer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlCacheWarmer")
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl CacheWarmer for SqlCacheWarmer {
    async fn top_statements(
        &self,
        source: &DatabaseEndpoint,
        secret_arn: &str,
        limit: u32,
    ) -> PortResult<Vec<TopStatement>> {
        let settings = self.settings(source, secret_arn).await?;
        top_statements(&settings, limit).await
    }

    async fn warm(
        &self,
        target: &DatabaseEndpoint,
        secret_arn: &str,
        statements: &[TopStatement],
        tables: &[String],
        budget: Duration,
    ) -> PortResult<InstanceWarmth> {
        let settings = self.settings(target, secret_arn).await?;
        warm_instance(&settings, statements, tables, budget).await
    }
}

/// The `limit` statements the server spent most time on, most first, with a sample text each
/// where one is kept.
pub async fn top_statements(
    settings: &ConnectionSettings,
    limit: u32,
) -> PortResult<Vec<TopStatement>> {
    let mut session = connect(settings).await?;
    let found = read_top(&mut session, limit).await;
    session.close().await;
    found
}

async fn read_top(session: &mut Session<'_>, limit: u32) -> PortResult<Vec<TopStatement>> {
    let enabled = session
        .query(
            "SELECT @@GLOBAL.performance_schema",
            "read performance_schema",
        )
        .await?;
    if enabled.first().and_then(|r| cell(r, 0)).as_deref() != Some("1") {
        return Err(PortError::InvalidRequest(format!(
            "performance_schema is off on {}, so it keeps no statement statistics to pre-warm from: set performance_schema=1 in its parameter group (applied at a reboot), or list prewarm.tables",
            session.settings.address()
        )));
    }
    let has_sample = !session
        .query(
            "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'performance_schema' \
             AND TABLE_NAME = 'events_statements_summary_by_digest' AND COLUMN_NAME = 'QUERY_SAMPLE_TEXT'",
            "look for QUERY_SAMPLE_TEXT",
        )
        .await?
        .is_empty();
    let sample = if has_sample {
        "QUERY_SAMPLE_TEXT"
    } else {
        "NULL"
    };
    let rows = session
        .exec(
            &format!(
                "SELECT DIGEST, SCHEMA_NAME, COUNT_STAR, SUM_TIMER_WAIT / 1000000000, {sample} \
                 FROM performance_schema.events_statements_summary_by_digest \
                 WHERE DIGEST IS NOT NULL AND (SCHEMA_NAME IS NULL OR SCHEMA_NAME NOT IN ({SYSTEM_SCHEMAS})) \
                 ORDER BY SUM_TIMER_WAIT DESC LIMIT ?"
            ),
            vec![limit.into()],
            "read the top statements",
        )
        .await?;
    let mut statements = Vec::with_capacity(rows.len());
    for row in &rows {
        let Some(digest) = cell(row, 0) else { continue };
        let mut text = cell(row, 4).filter(|t| !t.is_empty());
        if text.is_none() {
            text = latest_text(session, &digest).await?;
        }
        statements.push(TopStatement {
            schema: cell(row, 1),
            executions: cell(row, 2).and_then(|c| c.parse().ok()).unwrap_or(0),
            total_ms: cell(row, 3).and_then(|c| c.parse().ok()).unwrap_or(0.0),
            text,
            digest,
        });
    }
    Ok(statements)
}

/// The latest statement with `digest` the server still holds in its statement history.
async fn latest_text(session: &mut Session<'_>, digest: &str) -> PortResult<Option<String>> {
    for table in [
        "events_statements_history_long",
        "events_statements_history",
    ] {
        let rows = session
            .exec(
                &format!(
                    "SELECT SQL_TEXT FROM performance_schema.{table} WHERE DIGEST = ? \
                     AND SQL_TEXT IS NOT NULL ORDER BY TIMER_START DESC LIMIT 1"
                ),
                vec![digest.into()],
                "read a statement's sample text",
            )
            .await?;
        if let Some(text) = rows.first().and_then(|r| cell(r, 0)) {
            return Ok(Some(text));
        }
    }
    Ok(None)
}

/// Replays `statements` and loads `tables` on the server `settings` logs in to, within `budget`.
pub async fn warm_instance(
    settings: &ConnectionSettings,
    statements: &[TopStatement],
    tables: &[String],
    budget: Duration,
) -> PortResult<InstanceWarmth> {
    let started = Instant::now();
    let deadline = started + budget;
    let mut session = connect(settings).await?;
    let mut warmth = InstanceWarmth {
        endpoint: settings.address(),
        ..InstanceWarmth::default()
    };
    let result = replay(&mut session, statements, tables, deadline, &mut warmth).await;
    session.close().await;
    result?;
    warmth.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(warmth)
}

async fn replay(
    session: &mut Session<'_>,
    statements: &[TopStatement],
    tables: &[String],
    deadline: Instant,
    warmth: &mut InstanceWarmth,
) -> PortResult<()> {
    session
        .query(
            "SET SESSION TRANSACTION READ ONLY",
            "make the session read-only",
        )
        .await?;
    for statement in statements {
        let Some(text) = statement
            .text
            .as_deref()
            .filter(|t| is_replayable_select(t))
        else {
            continue;
        };
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            warmth.stopped_by_budget = true;
            return Ok(());
        };
        bound(session, left).await?;
        if let Some(schema) = &statement.schema {
            let use_schema = format!("USE {}", crate::quote_identifier(schema));
            if session.query_raw(&use_schema).await.is_err() {
                warmth.statements_failed.push(statement.digest.clone());
                continue;
            }
        }
        match read_all(session, text).await {
            Ok(rows) => {
                warmth.statements_run += 1;
                warmth.rows_read += rows;
            }
            Err(e) if is_lost(&e) => return Err(session.error(&e, "replay a statement")),
            Err(_) => warmth.statements_failed.push(statement.digest.clone()),
        }
    }
    for table in tables {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            warmth.stopped_by_budget = true;
            return Ok(());
        };
        bound(session, left).await?;
        let Some((database, name)) = table.split_once('.') else {
            warmth.tables_failed.push(table.clone());
            continue;
        };
        let sql = format!(
            "SELECT COUNT(*) FROM {}.{} FORCE INDEX (PRIMARY)",
            crate::quote_identifier(database),
            crate::quote_identifier(name)
        );
        match session.query_raw(&sql).await {
            Ok(rows) => {
                warmth.tables_loaded += 1;
                warmth.rows_read += rows
                    .first()
                    .and_then(|r| cell(r, 0))
                    .and_then(|c| c.parse::<u64>().ok())
                    .unwrap_or(0);
            }
            Err(e) if is_lost(&e) => return Err(session.error(&e, "load a table")),
            Err(_) => warmth.tables_failed.push(table.clone()),
        }
    }
    Ok(())
}

/// Bounds the next statements by `left`: MariaDB's `max_statement_time` (seconds), MySQL's
/// `max_execution_time` (milliseconds, SELECTs only). An unknown variable is the other server.
async fn bound(session: &mut Session<'_>, left: Duration) -> PortResult<()> {
    let millis = left.as_millis().max(1);
    let seconds = format!("{:.3}", left.as_secs_f64().max(0.001));
    for (sql, what) in [
        (
            format!("SET SESSION max_statement_time = {seconds}"),
            "bound the replay (max_statement_time)",
        ),
        (
            format!("SET SESSION max_execution_time = {millis}"),
            "bound the replay (max_execution_time)",
        ),
    ] {
        match session.query_raw(&sql).await {
            Ok(_) => return Ok(()),
            Err(e) if server_code(&e) == Some(codes::UNKNOWN_SYSTEM_VARIABLE) => continue,
            Err(e) => return Err(session.error(&e, what)),
        }
    }
    Ok(())
}

/// Runs `sql` and reads every row of every result set, keeping none; the number of rows.
async fn read_all(session: &mut Session<'_>, sql: &str) -> Result<u64, mysql_async::Error> {
    let mut result = session.conn.query_iter(sql).await?;
    let mut rows = 0u64;
    while !result.is_empty() {
        rows += result.reduce(0u64, |n, _row: Row| n + 1).await?;
    }
    Ok(rows)
}

/// The connection itself failed (not the statement): retried by the state machine.
fn is_lost(error: &mysql_async::Error) -> bool {
    matches!(
        error,
        mysql_async::Error::Io(_) | mysql_async::Error::Driver(_)
    )
}
