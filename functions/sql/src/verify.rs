//! `SqlVerifier`: per-table digests of one server for the verify step, which compares the
//! source's with the target's at the drained position.
//!
//! Tables are the base tables (`information_schema.TABLES`, type `BASE TABLE`) of the requested
//! databases, or of every user database when none is named (all but `mysql`,
//! `information_schema`, `performance_schema` and `sys`). Each gets `SELECT COUNT(*)`, and with
//! [`VerifyDepth::Checksums`] also `CHECKSUM TABLE`. Identifiers are backtick-quoted with
//! backticks doubled, so any table name is safe.
//!
//! Caveat: `CHECKSUM TABLE` hashes the stored row images, so its value depends on the server
//! (MySQL and MariaDB differ, and so may versions and row formats, e.g. for temporal columns
//! created before 5.6). Source and target here are the same engine and version (a restored
//! Aurora snapshot, or two sandbox servers from the same binaries), which is what makes the
//! comparison meaningful; across different servers compare counts only. `CHECKSUM TABLE` is not
//! transactional: the step runs it when writes are fenced and the target has drained.

use async_trait::async_trait;
use aurora_core::errors::{PortError, Resource};
use std::time::Duration;

use aurora_core::ports::{
    Account, PortResult, ServerSettings, SmokeOutcome, TableDigest, Verifier, VerifyDepth,
};
use mysql_async::Value;

use crate::conn::{cell, connect, quote_identifier, Session};
use crate::credentials::ConnectionSettings;
use crate::fence::WriterConnections;

/// Databases that belong to the server, never to the application.
pub(crate) const SYSTEM_DATABASES: &[&str] =
    &["mysql", "information_schema", "performance_schema", "sys"];

/// Digests tables of the server it logs in to; one instance per side.
#[derive(Debug, Clone)]
pub struct SqlVerifier {
    settings: ConnectionSettings,
}

impl SqlVerifier {
    /// `settings` needs `SELECT` on the databases in scope.
    pub fn new(settings: ConnectionSettings) -> Self {
        Self { settings }
    }
}

pub(crate) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

pub(crate) async fn databases_in_scope(
    session: &mut Session<'_>,
    requested: &[String],
) -> PortResult<Vec<String>> {
    if requested.is_empty() {
        let sql = format!(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ({}) ORDER BY SCHEMA_NAME",
            placeholders(SYSTEM_DATABASES.len())
        );
        let params = SYSTEM_DATABASES.iter().map(|d| Value::from(*d)).collect();
        let rows = session.exec(&sql, params, "list databases").await?;
        return Ok(rows.iter().filter_map(|r| cell(r, 0)).collect());
    }
    let sql = format!(
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ({})",
        placeholders(requested.len())
    );
    let params = requested.iter().map(|d| Value::from(d.as_str())).collect();
    let rows = session.exec(&sql, params, "list databases").await?;
    let found: Vec<String> = rows.iter().filter_map(|r| cell(r, 0)).collect();
    // A database missing on one side must fail loudly, not verify as "no tables".
    if let Some(missing) = requested.iter().find(|d| !found.contains(d)) {
        return Err(PortError::NotFound {
            resource: Resource::Other,
            message: format!("database `{missing}` on {}", session.settings.address()),
        });
    }
    let mut databases = requested.to_vec();
    databases.sort();
    databases.dedup();
    Ok(databases)
}

pub(crate) async fn base_tables(
    session: &mut Session<'_>,
    databases: &[String],
) -> PortResult<Vec<(String, String)>> {
    if databases.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA IN ({}) ORDER BY TABLE_SCHEMA, TABLE_NAME",
        placeholders(databases.len())
    );
    let params = databases.iter().map(|d| Value::from(d.as_str())).collect();
    let rows = session.exec(&sql, params, "list tables").await?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((cell(r, 0)?, cell(r, 1)?)))
        .collect())
}

async fn digest(
    session: &mut Session<'_>,
    database: &str,
    table: &str,
    depth: VerifyDepth,
) -> PortResult<TableDigest> {
    let name = format!("{}.{}", quote_identifier(database), quote_identifier(table));
    let rows = session
        .query(
            &format!("SELECT COUNT(*) FROM {name}"),
            &format!("count rows of {name}"),
        )
        .await?;
    let count = rows
        .first()
        .and_then(|r| cell(r, 0))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| PortError::Other(format!("COUNT(*) of {name} returned no number")))?;
    let checksum = match depth {
        VerifyDepth::Counts => None,
        VerifyDepth::Checksums => {
            let rows = session
                .query(
                    &format!("CHECKSUM TABLE {name}"),
                    &format!("checksum {name}"),
                )
                .await?;
            // NULL (with a warning) when the table vanished between listing and checksum.
            let checksum = rows
                .first()
                .and_then(|r| cell(r, 1))
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| PortError::NotFound {
                    resource: Resource::Other,
                    message: format!("no checksum for {name}"),
                })?;
            Some(checksum)
        }
    };
    Ok(TableDigest {
        database: database.to_string(),
        table: table.to_string(),
        rows: count,
        checksum,
    })
}

#[async_trait]
impl Verifier for SqlVerifier {
    async fn table_digests(
        &self,
        databases: &[String],
        depth: VerifyDepth,
    ) -> PortResult<Vec<TableDigest>> {
        let mut session = connect(&self.settings).await?;
        let digests = async {
            let databases = databases_in_scope(&mut session, databases).await?;
            let tables = base_tables(&mut session, &databases).await?;
            let mut digests = Vec::with_capacity(tables.len());
            for (database, table) in &tables {
                digests.push(digest(&mut session, database, table, depth).await?);
            }
            digests.sort();
            Ok(digests)
        }
        .await;
        session.close().await;
        digests
    }

    async fn accounts(&self) -> PortResult<Vec<Account>> {
        crate::accounts::accounts(&self.settings).await
    }

    async fn settings(&self) -> PortResult<ServerSettings> {
        crate::parity::server_settings(&self.settings).await
    }

    async fn smoke_query(&self, sql: &str, timeout: Duration) -> PortResult<SmokeOutcome> {
        crate::parity::smoke_query(&self.settings, sql, timeout).await
    }
}

/// A [`SqlVerifier`] of one cluster's writer, logging in through `connections` at each call:
/// where a Lambda or the CLI finds the writer and its secret only when a side is read (so
/// `verify.mode: off` reads no secret and opens no connection).
pub struct WriterVerifier<C> {
    connections: C,
    cluster_id: String,
}

impl<C: WriterConnections> WriterVerifier<C> {
    pub fn new(connections: C, cluster_id: impl Into<String>) -> Self {
        Self {
            connections,
            cluster_id: cluster_id.into(),
        }
    }

    /// The writer's connection settings, resolved now.
    pub(crate) async fn writer_settings(&self) -> PortResult<ConnectionSettings> {
        self.connections.writer(&self.cluster_id).await
    }

    async fn verifier(&self) -> PortResult<SqlVerifier> {
        Ok(SqlVerifier::new(self.writer_settings().await?))
    }
}

#[async_trait]
impl<C: WriterConnections> Verifier for WriterVerifier<C> {
    async fn table_digests(
        &self,
        databases: &[String],
        depth: VerifyDepth,
    ) -> PortResult<Vec<TableDigest>> {
        self.verifier().await?.table_digests(databases, depth).await
    }

    async fn accounts(&self) -> PortResult<Vec<Account>> {
        self.verifier().await?.accounts().await
    }

    async fn settings(&self) -> PortResult<ServerSettings> {
        self.verifier().await?.settings().await
    }

    async fn smoke_query(&self, sql: &str, timeout: Duration) -> PortResult<SmokeOutcome> {
        self.verifier().await?.smoke_query(sql, timeout).await
    }
}
