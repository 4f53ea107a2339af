//! Shared by the sandbox tests: whether MariaDB is there (a loud skip outside CI, a failure in
//! CI), and sandboxes that are always torn down.

#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;

use asl_engine::Outcome;
use aurora_core::binlog::BinlogPosition;
use aurora_core::ports::{
    Account, ChunkDigest, ChunkTable, ChunkVerifier, Key, KeyRange, KeyValue, PortResult,
    ServerSettings, SmokeOutcome, TableDigest, TouchedRows, Verifier, VerifyDepth, VerifySide,
};
use aurora_local::demo::SOURCE;
use aurora_local::writers::WriteLoadResult;
use aurora_sandbox::{Sandbox, SandboxConfig, APP_RECORD, ZONE_ID};
use mysql_async::prelude::Queryable;

/// The source `orders`, seeded with `rows` rows per table, with the writers' table, prepared
/// for a migration (binlog retention, replication user): what every switchover test starts
/// from.
pub(crate) async fn prepared_source(sandbox: &Sandbox, rows: u64) {
    sandbox.create_source_cluster(SOURCE).await.unwrap();
    sandbox.seed_sample(SOURCE, rows).await.unwrap();
    aurora_local::writers::create_table(sandbox, SOURCE)
        .await
        .unwrap();
    sandbox.prepare_source_for_migration(SOURCE).await.unwrap();
}

/// `true` when the MariaDB programs are installed. Without them a test is skipped with a loud
/// message, except under CI (`CI` set), where it fails: there the tests must run.
pub(crate) fn mariadb_available(test: &str) -> bool {
    match aurora_sandbox::tools::Tools::locate() {
        Ok(_) => true,
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("{test}: MariaDB is required in CI: {e}")
        }
        Err(e) => {
            eprintln!(
                "\n!!!!!!!!!! SKIPPED {test}: {e} !!!!!!!!!!\n(install it with `{}`)\n",
                aurora_sandbox::INSTALL_COMMAND
            );
            false
        }
    }
}

/// A fresh sandbox under the system temp dir, named after the test.
pub(crate) fn sandbox(test: &str) -> Sandbox {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "aurora-local-test-{test}-{}-{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000
    ));
    let _ = std::fs::remove_dir_all(&dir);
    Sandbox::open(SandboxConfig::new(dir)).expect("the sandbox opens")
}

/// Runs `test` against `sandbox`, then destroys the sandbox whatever happened, then re-raises a
/// panic so the test fails with its own message.
pub(crate) async fn with_sandbox<F, Fut>(sandbox: Sandbox, test: F)
where
    F: FnOnce(Sandbox) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let outcome = tokio::spawn(test(sandbox.clone())).await;
    let destroyed = sandbox.destroy().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
    destroyed.expect("the sandbox is destroyed");
}

/// Whether `state` was entered.
pub(crate) fn entered(outcome: &Outcome, state: &str) -> bool {
    outcome
        .history
        .iter()
        .any(|e| e.event_type.as_str().ends_with("StateEntered") && e.state_name() == Some(state))
}

pub(crate) async fn admin_query(sandbox: &Sandbox, cluster: &str, sql: &str) {
    let mut conn = sandbox.admin_conn(cluster).await.unwrap();
    conn.query_drop(sql).await.unwrap();
    conn.disconnect().await.unwrap();
}

/// The source is writable again and the application's name still leads to it; every
/// acknowledged insert is on it.
pub(crate) async fn assert_source_serves_everything(sandbox: &Sandbox, writes: &WriteLoadResult) {
    let mut conn = sandbox.admin_conn(SOURCE).await.unwrap();
    let read_only: Option<u64> = conn.query_first("SELECT @@global.read_only").await.unwrap();
    conn.disconnect().await.unwrap();
    assert_eq!(read_only, Some(0), "the source is writable");
    let source_host = sandbox.endpoint(SOURCE).unwrap().host;
    let resolved = sandbox.dns().lookup(ZONE_ID, APP_RECORD).unwrap().unwrap();
    assert_eq!(resolved.host, source_host, "the name leads to the source");
    let check = assert_every_write_on(sandbox, SOURCE, &writes.inserted_ids()).await;
    assert!(check.acknowledged > 20, "the writers wrote: {check:?}");
    let last = writes.acks.last().unwrap();
    assert_eq!(
        last.host, source_host,
        "the last acknowledged write went to the source"
    );
}

/// Every acknowledged insert in `acknowledged` is on `cluster` exactly once; returns the check
/// for further assertions.
pub(crate) async fn assert_every_write_on(
    sandbox: &Sandbox,
    cluster: &str,
    acknowledged: &[u64],
) -> aurora_local::checks::WriteCheck {
    let check = aurora_local::checks::check_writes(sandbox, cluster, acknowledged)
        .await
        .unwrap();
    assert!(check.lost.is_empty(), "lost on {cluster}: {:?}", check.lost);
    assert!(
        check.duplicates.is_empty(),
        "duplicated on {cluster}: {:?}",
        check.duplicates
    );
    check
}

/// Runs `spec` to its end on the local engine over `ports`, waits scaled to `time_scale`.
pub(crate) async fn run(
    ports: aurora_pipeline::Ports,
    spec: serde_json::Value,
    time_scale: f64,
) -> Outcome {
    aurora_local::runner::engine(ports, aurora_pipeline::Notifications::default(), time_scale)
        .unwrap()
        .start(spec)
        .wait()
        .await
}

/// The error and cause of a failed (rolled-back) execution.
pub(crate) fn failure(outcome: &Outcome) -> (String, String) {
    match &outcome.status {
        asl_engine::Status::Failed { error, cause } => {
            (error.clone(), cause.clone().unwrap_or_default())
        }
        other => panic!("expected a rolled-back execution, got {other:?}"),
    }
}

/// Runs `sql` on `cluster` without writing it to its binlog: a change behind replication's back.
pub(crate) async fn behind_replication(sandbox: &Sandbox, cluster: &str, sql: &str) {
    let mut conn = sandbox.admin_conn(cluster).await.unwrap();
    conn.query_drop("SET SESSION sql_log_bin = 0")
        .await
        .unwrap();
    conn.query_drop(sql).await.unwrap();
    conn.disconnect().await.unwrap();
}

/// The verifier calls a [`Hook`] sees before [`Hooked`] forwards them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    Accounts,
    Settings,
    ChunkTables,
    TouchedRows,
}

/// What a fault test does at a chosen point of a run (a change behind replication's back).
#[async_trait::async_trait]
pub(crate) trait Hook: Send + Sync {
    async fn before(&self, call: Call);
}

/// A verification side that forwards every call to `inner`, letting `hook` act first on the
/// calls [`Call`] names: the sandbox fault tests' one pass-through of the verifier ports.
pub(crate) struct Hooked<H> {
    pub(crate) inner: std::sync::Arc<dyn VerifySide>,
    pub(crate) hook: H,
}

#[async_trait::async_trait]
impl<H: Hook> Verifier for Hooked<H> {
    async fn table_digests(
        &self,
        databases: &[String],
        depth: VerifyDepth,
    ) -> PortResult<Vec<TableDigest>> {
        self.inner.table_digests(databases, depth).await
    }
    async fn accounts(&self) -> PortResult<Vec<Account>> {
        self.hook.before(Call::Accounts).await;
        self.inner.accounts().await
    }
    async fn settings(&self) -> PortResult<ServerSettings> {
        self.hook.before(Call::Settings).await;
        self.inner.settings().await
    }
    async fn smoke_query(
        &self,
        sql: &str,
        timeout: std::time::Duration,
    ) -> PortResult<SmokeOutcome> {
        self.inner.smoke_query(sql, timeout).await
    }
}

#[async_trait::async_trait]
impl<H: Hook> ChunkVerifier for Hooked<H> {
    async fn chunk_tables(&self, databases: &[String]) -> PortResult<Vec<ChunkTable>> {
        self.hook.before(Call::ChunkTables).await;
        self.inner.chunk_tables(databases).await
    }
    async fn chunk_upper(
        &self,
        table: &ChunkTable,
        after: Option<&[KeyValue]>,
        rows: u64,
    ) -> PortResult<Option<Key>> {
        self.inner.chunk_upper(table, after, rows).await
    }
    async fn digest_range(&self, table: &ChunkTable, range: &KeyRange) -> PortResult<ChunkDigest> {
        self.inner.digest_range(table, range).await
    }
    async fn digest_keys(&self, table: &ChunkTable, keys: &[Key]) -> PortResult<ChunkDigest> {
        self.inner.digest_keys(table, keys).await
    }
    async fn binlog_position(&self) -> PortResult<BinlogPosition> {
        self.inner.binlog_position().await
    }
    async fn touched_rows(
        &self,
        from: &BinlogPosition,
        to: &BinlogPosition,
        tables: &[ChunkTable],
        limit: usize,
    ) -> PortResult<TouchedRows> {
        self.hook.before(Call::TouchedRows).await;
        self.inner.touched_rows(from, to, tables, limit).await
    }
}
