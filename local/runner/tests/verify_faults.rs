//! Verification on the sandbox, real MariaDB servers, the real state machine under a write load:
//! a divergence the online pass finds fails the run before the fence, one made while fenced is
//! found by the binlog-driven re-check, a table without a primary key is verified by the
//! fallback, and a binlog rotated between the pass and the fence is followed.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use asl_engine::{Outcome, Status};
use async_trait::async_trait;
use aurora_core::ports::VerifySide;
use aurora_local::demo::{self, SOURCE, TARGET};
use aurora_local::writers::{WriteLoad, WriteLoadConfig};
use aurora_local::{runner, sandbox_ports, SandboxPortSettings};
use aurora_pipeline::{Notifications, Ports};
use aurora_sandbox::Sandbox;
use serde_json::{json, Value};

use common::{Call, Hook, Hooked};

const TIME_SCALE: f64 = 0.01;
const ROWS: u64 = 300;

async fn source_with_writers(sandbox: &Sandbox) -> WriteLoad {
    common::prepared_source(sandbox, ROWS).await;
    WriteLoad::start(
        sandbox,
        WriteLoadConfig {
            writers: 2,
            rate_per_second: 60.0,
            seeded_rows: ROWS,
            update_every: 3,
            ..WriteLoadConfig::default()
        },
    )
    .unwrap()
}

/// The demo's spec in `mode`, with small chunks so that every table takes several.
fn spec(mode: &str) -> Value {
    let mut spec = demo::spec();
    spec["switchover"]["mode"] = json!(mode);
    spec["verify"] = json!({"mode": "online", "chunkRows": 50, "chunksPerInvocation": 4});
    spec
}

fn ports(sandbox: &Sandbox) -> Ports {
    sandbox_ports(sandbox, SOURCE, TARGET, SandboxPortSettings::default())
}

fn output(outcome: &Outcome) -> Value {
    match &outcome.status {
        Status::Succeeded(output) => output.clone(),
        other => panic!("expected success, got {other:?}"),
    }
}

/// When to change the target behind replication's back.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DivergeAt {
    /// As the online pass lists the tables (before it compares anything).
    OnlinePass,
    /// As the fenced re-check reads the source's binlog (writes are fenced and drained).
    FencedRecheck,
}

/// Runs `sql` on the target once, at `at`.
struct Diverging {
    sandbox: Sandbox,
    at: DivergeAt,
    sql: String,
    done: tokio::sync::Mutex<bool>,
}

#[async_trait]
impl Hook for Diverging {
    async fn before(&self, call: Call) {
        let at = match call {
            Call::ChunkTables => DivergeAt::OnlinePass,
            Call::TouchedRows => DivergeAt::FencedRecheck,
            Call::Accounts | Call::Settings => return,
        };
        let mut done = self.done.lock().await;
        if self.at == at && !*done {
            common::behind_replication(&self.sandbox, TARGET, &self.sql).await;
            *done = true;
        }
    }
}

fn diverging(
    sandbox: &Sandbox,
    inner: Arc<dyn VerifySide>,
    at: DivergeAt,
    sql: &str,
) -> Arc<Hooked<Diverging>> {
    Arc::new(Hooked {
        inner,
        hook: Diverging {
            sandbox: sandbox.clone(),
            at,
            sql: sql.to_string(),
            done: tokio::sync::Mutex::new(false),
        },
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_row_changed_on_the_target_behind_replications_back_fails_the_online_pass_before_the_fence(
) {
    if !common::mariadb_available("divergence found online") {
        return;
    }
    common::with_sandbox(common::sandbox("diverge-online"), |sandbox| async move {
        let load = source_with_writers(&sandbox).await;
        let mut ports = ports(&sandbox);
        // Seeded, never written by the load (updates pick customers; orders stay as seeded).
        ports.source_verifier = diverging(
            &sandbox,
            ports.source_verifier.clone(),
            DivergeAt::OnlinePass,
            "UPDATE shop.orders SET quantity = quantity + 1 WHERE id = 123",
        );
        let outcome = common::run(ports, spec("auto"), TIME_SCALE).await;
        let writes = load.stop().await;
        let (error, cause) = common::failure(&outcome);
        assert_eq!(error, "VerificationMismatch", "{cause}");
        assert!(cause.contains("`shop`.`orders`"), "{cause}");
        assert!(cause.contains("key"), "names the key range: {cause}");
        assert!(common::entered(&outcome, "VerifyOnline"));
        assert!(!common::entered(&outcome, "FenceWrites"), "never fenced");
        common::assert_source_serves_everything(&sandbox, &writes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_row_diverged_while_fenced_is_caught_by_the_binlog_recheck() {
    if !common::mariadb_available("divergence found fenced") {
        return;
    }
    common::with_sandbox(common::sandbox("diverge-fenced"), |sandbox| async move {
        let load = source_with_writers(&sandbox).await;
        let mut ports = ports(&sandbox);
        // The load's last insert: written since the online pass, so re-checked.
        ports.source_verifier = diverging(
            &sandbox,
            ports.source_verifier.clone(),
            DivergeAt::FencedRecheck,
            "UPDATE shop.demo_writes SET payload = 'diverged under the fence' \
             ORDER BY id DESC LIMIT 1",
        );
        let outcome = common::run(ports, spec("auto"), TIME_SCALE).await;
        let writes = load.stop().await;
        let (error, cause) = common::failure(&outcome);
        assert_eq!(error, "VerificationMismatch", "{cause}");
        assert!(cause.contains("`shop`.`demo_writes`"), "{cause}");
        assert!(common::entered(&outcome, "FenceWrites") && common::entered(&outcome, "Verify"));
        assert!(!common::entered(&outcome, "SwapDns"));
        assert!(common::entered(&outcome, "UnfenceWrites"));
        common::assert_source_serves_everything(&sandbox, &writes).await;
    })
    .await;
}

/// `shop.audit_log` has no index at all: it is compared whole, as one chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_table_without_a_usable_key_is_compared_whole_and_its_divergence_found() {
    if !common::mariadb_available("keyless table") {
        return;
    }
    common::with_sandbox(common::sandbox("keyless"), |sandbox| async move {
        let load = source_with_writers(&sandbox).await;
        let mut ports = ports(&sandbox);
        ports.source_verifier = diverging(
            &sandbox,
            ports.source_verifier.clone(),
            DivergeAt::OnlinePass,
            "UPDATE shop.audit_log SET actor = 'diverged' LIMIT 1",
        );
        let outcome = common::run(ports, spec("auto"), TIME_SCALE).await;
        let writes = load.stop().await;
        let (error, cause) = common::failure(&outcome);
        assert_eq!(error, "VerificationMismatch", "{cause}");
        assert!(
            cause.contains("`shop`.`audit_log` (the table's rows differ"),
            "{cause}"
        );
        assert!(!common::entered(&outcome, "FenceWrites"), "never fenced");
        common::assert_source_serves_everything(&sandbox, &writes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn binlog_rotated_between_the_online_pass_and_the_fence_is_followed() {
    if !common::mariadb_available("binlog rotation") {
        return;
    }
    common::with_sandbox(common::sandbox("rotation"), |sandbox| async move {
        let load = source_with_writers(&sandbox).await;
        let execution = runner::engine(ports(&sandbox), Notifications::default(), TIME_SCALE)
            .unwrap()
            .start(spec("approval"));
        // At the gate the online pass is done; the binlog rotates twice under the write load.
        let task = tokio::time::timeout(Duration::from_secs(180), execution.next_pending_task())
            .await
            .expect("the run reaches the approval gate");
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            common::admin_query(&sandbox, SOURCE, "FLUSH BINARY LOGS").await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        execution
            .send_task_success(&task.token, json!({"approved": true}))
            .unwrap();
        let outcome = execution.wait().await;
        let writes = load.stop().await;
        let out = output(&outcome);
        let recheck = &out["verify"]["recheck"];
        assert!(recheck["binlogFiles"].as_u64().unwrap() >= 3, "{recheck}");
        assert!(recheck["touchedRows"].as_u64().unwrap() > 0, "{recheck}");
        assert_eq!(recheck["fullComparison"], false, "{recheck}");
        assert_ne!(
            recheck["from"]["file"], recheck["to"]["file"],
            "the pass and the fence are in different files: {recheck}"
        );
        // The keyless table was verified by the fallback, whole.
        let tables = out["verifyOnline"]["tables"].as_array().unwrap();
        let keyless = tables.iter().find(|t| t["table"] == "audit_log").unwrap();
        assert_eq!(keyless["key"], json!([]), "{keyless}");
        common::assert_every_write_on(&sandbox, TARGET, &writes.inserted_ids()).await;
    })
    .await;
}
