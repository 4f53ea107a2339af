//! The parity check and the smoke queries on the sandbox, real MariaDB servers, the real state
//! machine under a write load: a global variable and a user changed on the source during
//! catch-up (where binlog replication does not carry them) are each named and roll back before
//! the fence, a user created after CheckParity is caught by the fenced Verify, the same changes
//! allowed by `parity.ignore` let the run complete, and a failing smoke query rolls back with
//! the source writable.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use asl_engine::Status;
use async_trait::async_trait;
use aurora_local::demo::{self, SOURCE, TARGET};
use aurora_local::writers::{WriteLoad, WriteLoadConfig};
use aurora_local::{sandbox_ports, SandboxPortSettings};
use aurora_pipeline::Ports;
use aurora_sandbox::Sandbox;
use serde_json::{json, Value};

use common::{Call, Hook, Hooked};

const TIME_SCALE: f64 = 0.01;
const ROWS: u64 = 200;

/// Set on the source during catch-up; global variables are not in the binlog.
const CHANGE_VARIABLE: &str = "SET GLOBAL max_allowed_packet = 33554432";
/// Created on the source during catch-up, outside the binlog: Aurora MySQL 3's binlog
/// replication carries no CREATE USER.
const CREATE_USER: &str = "CREATE USER 'reporting'@'%' IDENTIFIED BY 'Rep0rting-pa55word'";

async fn source_with_writers(sandbox: &Sandbox) -> WriteLoad {
    common::prepared_source(sandbox, ROWS).await;
    WriteLoad::start(
        sandbox,
        WriteLoadConfig {
            writers: 2,
            rate_per_second: 40.0,
            seeded_rows: ROWS,
            update_every: 3,
            ..WriteLoadConfig::default()
        },
    )
    .unwrap()
}

fn spec() -> Value {
    let mut spec = demo::spec();
    spec["switchover"]["mode"] = json!("auto");
    spec
}

/// Runs `sql` on the source (outside its binlog) once, as its settings or accounts are read for
/// the `after`-th time and later: a change made during catch-up (`after` 1: as CheckParity
/// reads), or after CheckParity (3: as the fenced Verify reads, CheckParity having read each
/// once).
struct ChangedDuringCatchUp {
    sandbox: Sandbox,
    sql: Vec<&'static str>,
    after: usize,
    reads: std::sync::atomic::AtomicUsize,
    done: tokio::sync::Mutex<bool>,
}

#[async_trait]
impl Hook for ChangedDuringCatchUp {
    async fn before(&self, call: Call) {
        if !matches!(call, Call::Accounts | Call::Settings) {
            return;
        }
        let read = self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let mut done = self.done.lock().await;
        if *done || read < self.after {
            return;
        }
        for sql in &self.sql {
            common::behind_replication(&self.sandbox, SOURCE, sql).await;
        }
        *done = true;
    }
}

/// The sandbox's ports, with `sql` run on the source as CheckParity starts.
fn ports_changing_source(sandbox: &Sandbox, sql: Vec<&'static str>) -> Ports {
    ports_changing_source_at(sandbox, sql, 1)
}

fn ports_changing_source_at(sandbox: &Sandbox, sql: Vec<&'static str>, after: usize) -> Ports {
    let mut ports = sandbox_ports(sandbox, SOURCE, TARGET, SandboxPortSettings::default());
    ports.source_verifier = Arc::new(Hooked {
        inner: ports.source_verifier.clone(),
        hook: ChangedDuringCatchUp {
            sandbox: sandbox.clone(),
            sql,
            after,
            reads: std::sync::atomic::AtomicUsize::new(0),
            done: tokio::sync::Mutex::new(false),
        },
    });
    ports
}

/// A run that the parity check stopped: named by `named`, rolled back before the fence, the
/// source serving every acknowledged write.
async fn assert_parity_stops_the_run(sandbox: Sandbox, sql: &'static str, named: &str) {
    let load = source_with_writers(&sandbox).await;
    let outcome = common::run(
        ports_changing_source(&sandbox, vec![sql]),
        spec(),
        TIME_SCALE,
    )
    .await;
    let writes = load.stop().await;
    let (error, cause) = common::failure(&outcome);
    assert_eq!(error, "ParityMismatch", "{cause}");
    assert!(cause.contains(named), "{named} not in {cause}");
    assert!(!cause.contains("Rep0rting-pa55word"), "{cause}");
    assert!(common::entered(&outcome, "CheckParity"));
    assert!(!common::entered(&outcome, "VerifyOnline"));
    assert!(!common::entered(&outcome, "FenceWrites"), "never fenced");
    common::assert_source_serves_everything(&sandbox, &writes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_global_variable_changed_on_the_source_during_catch_up_is_named() {
    if !common::mariadb_available("parity variable") {
        return;
    }
    common::with_sandbox(common::sandbox("parity-variable"), |sandbox| async move {
        assert_parity_stops_the_run(
            sandbox,
            CHANGE_VARIABLE,
            "variable:max_allowed_packet (source: 33554432, target: 16777216)",
        )
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_created_on_the_source_during_catch_up_is_named() {
    if !common::mariadb_available("parity user") {
        return;
    }
    common::with_sandbox(common::sandbox("parity-user"), |sandbox| async move {
        assert_parity_stops_the_run(
            sandbox,
            CREATE_USER,
            "account:'reporting'@'%' (source: exists, target: missing)",
        )
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_created_after_check_parity_is_caught_under_the_fence() {
    if !common::mariadb_available("parity fenced") {
        return;
    }
    common::with_sandbox(common::sandbox("parity-fenced"), |sandbox| async move {
        let load = source_with_writers(&sandbox).await;
        let outcome = common::run(
            ports_changing_source_at(&sandbox, vec![CREATE_USER], 3),
            spec(),
            TIME_SCALE,
        )
        .await;
        let writes = load.stop().await;
        let (error, cause) = common::failure(&outcome);
        assert_eq!(error, "ParityMismatch", "{cause}");
        assert!(
            cause.contains("account:'reporting'@'%' (source: exists, target: missing)"),
            "{cause}"
        );
        assert!(common::entered(&outcome, "FenceWrites") && common::entered(&outcome, "Verify"));
        assert!(!common::entered(&outcome, "SwapDns"));
        assert!(common::entered(&outcome, "UnfenceWrites"));
        common::assert_source_serves_everything(&sandbox, &writes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn differences_allowed_by_parity_ignore_let_the_run_complete() {
    if !common::mariadb_available("parity ignore") {
        return;
    }
    common::with_sandbox(common::sandbox("parity-ignore"), |sandbox| async move {
        let load = source_with_writers(&sandbox).await;
        let mut spec = spec();
        spec["parity"] =
            json!({"ignore": ["variable:max_allowed_packet", "account:'reporting'@*"]});
        spec["smoke"] = json!({"queries": ["SELECT COUNT(*) FROM shop.orders"]});
        let ports = ports_changing_source(&sandbox, vec![CHANGE_VARIABLE, CREATE_USER]);
        let outcome = common::run(ports, spec, TIME_SCALE).await;
        let writes = load.stop().await;
        let Status::Succeeded(output) = &outcome.status else {
            panic!("{:?}", outcome.status);
        };
        let parity = &output["parity"];
        assert_eq!(parity["ignoredCount"], 2, "{parity}");
        let ignored: Vec<&str> = parity["ignored"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["setting"].as_str())
            .collect();
        assert_eq!(
            ignored,
            ["account:'reporting'@'%'", "variable:max_allowed_packet"]
        );
        assert!(parity["compared"].as_u64().unwrap() > 100, "{parity}");
        assert_eq!(parity["smoke"]["rows"], json!([1]), "{parity}");
        // Still allowed when the fenced Verify compares again.
        assert!(output["verify"]["parityCompared"].as_u64().unwrap() > 100);
        assert!(common::entered(&outcome, "SwapDns"));
        common::assert_every_write_on(&sandbox, TARGET, &writes.inserted_ids()).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_smoke_query_rolls_back_with_the_source_writable() {
    if !common::mariadb_available("smoke query") {
        return;
    }
    common::with_sandbox(common::sandbox("smoke-fails"), |sandbox| async move {
        let load = source_with_writers(&sandbox).await;
        let mut spec = spec();
        spec["smoke"] = json!({
            "queries": ["SELECT COUNT(*) FROM shop.orders", "SELECT missing_column FROM shop.orders"],
            "timeoutSeconds": 10
        });
        let ports = sandbox_ports(&sandbox, SOURCE, TARGET, SandboxPortSettings::default());
        let outcome = common::run(ports, spec, TIME_SCALE).await;
        let writes = load.stop().await;
        let (error, cause) = common::failure(&outcome);
        assert_eq!(error, "SmokeQueryFailed", "{cause}");
        assert!(
            cause.contains("smoke query 1 failed on the target") && cause.contains("missing_column"),
            "{cause}"
        );
        assert!(!common::entered(&outcome, "FenceWrites"), "never fenced");
        common::assert_source_serves_everything(&sandbox, &writes).await;
    })
    .await;
}
