//! `binlogRetention.set` on the sandbox, real MariaDB servers, the real state machine: a source
//! whose binlog retention is too short is raised before the snapshot (instead of refused), the
//! original is recorded on the source and in the plan, and it is put back when the run ends,
//! whether it switched over or rolled back. `cleanup.disableSourceBinlog` turns the kept
//! source's binlog off in its own parameter group.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use asl_engine::Status;
use aurora_core::ports::ClusterParameters;
use aurora_local::demo::{self, SOURCE, TARGET};
use aurora_local::{runner, sandbox_ports, SandboxPortSettings};
use aurora_pipeline::Notifications;
use aurora_sandbox::Sandbox;
use mysql_async::prelude::Queryable;
use serde_json::{json, Value};

const TIME_SCALE: f64 = 0.01;

/// A migration-ready source whose retention is `hours` (`None`: not set).
async fn source_with_retention(sandbox: &Sandbox, hours: Option<u32>) {
    sandbox.create_source_cluster(SOURCE).await.unwrap();
    sandbox.seed_sample(SOURCE, 50).await.unwrap();
    sandbox.prepare_source_for_migration(SOURCE).await.unwrap();
    let value = hours.map_or_else(|| "NULL".to_string(), |h| format!("'{h}'"));
    common::admin_query(
        sandbox,
        SOURCE,
        &format!("CALL mysql.rds_set_configuration('binlog retention hours', {value})"),
    )
    .await;
}

/// `binlog retention hours` as `mysql.rds_show_configuration` reports it.
async fn retention(sandbox: &Sandbox) -> Option<String> {
    let mut conn = sandbox.admin_conn(SOURCE).await.unwrap();
    let rows: Vec<mysql_async::Row> = conn
        .query("CALL mysql.rds_show_configuration()")
        .await
        .unwrap();
    conn.disconnect().await.unwrap();
    rows.iter()
        .find(|r| r.get::<String, _>("name").as_deref() == Some("binlog retention hours"))
        .and_then(|r| r.get::<Option<String>, _>("value"))
        .flatten()
}

fn spec(mode: &str) -> Value {
    let mut spec = demo::spec();
    spec["switchover"]["mode"] = json!(mode);
    // The replication user may not call mysql.rds_set_configuration, as on Aurora: the admin's
    // secret raises it.
    spec["binlogRetention"] = json!({"set": true, "secretArn": aurora_sandbox::ADMIN_SECRET_ARN});
    spec
}

fn engine(sandbox: &Sandbox) -> asl_engine::Engine {
    let ports = sandbox_ports(sandbox, SOURCE, TARGET, SandboxPortSettings::default());
    runner::engine(ports, Notifications::default(), TIME_SCALE).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unset_retention_is_raised_for_the_run_and_unset_again_after_the_switchover() {
    if !common::mariadb_available("binlog retention raised and put back") {
        return;
    }
    common::with_sandbox(common::sandbox("retention-swap"), |sandbox| async move {
        source_with_retention(&sandbox, None).await;
        let mut spec = spec("auto");
        spec["cleanup"] = json!({"disableSourceBinlog": true});
        let outcome = engine(&sandbox).start(spec).wait().await;
        let Status::Succeeded(output) = &outcome.status else {
            panic!("the run failed: {:?}", outcome.status);
        };
        let change = json!({"originalHours": null, "setHours": 24});
        assert_eq!(output["preflight"]["binlogRetentionChange"], change);
        assert_eq!(output["cleanedUp"]["binlogRetentionRestored"], change);
        assert_eq!(retention(&sandbox).await, None);
        // cleanup.disableSourceBinlog: OFF in the source's own group, pending its reboot.
        let group = format!("{SOURCE}-params");
        assert_eq!(output["cleanedUp"]["sourceBinlogDisabledIn"], json!(group));
        let parameters = sandbox.parameters();
        let format = parameters.parameter(&group, "binlog_format").await.unwrap();
        assert_eq!(format.and_then(|p| p.value).as_deref(), Some("OFF"));
        assert!(!parameters
            .members_pending_reboot(SOURCE)
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rollback_puts_the_original_retention_back() {
    if !common::mariadb_available("binlog retention put back on rollback") {
        return;
    }
    common::with_sandbox(
        common::sandbox("retention-rollback"),
        |sandbox| async move {
            source_with_retention(&sandbox, Some(2)).await;
            let execution = engine(&sandbox).start(spec("approval"));
            let task =
                tokio::time::timeout(Duration::from_secs(120), execution.next_pending_task())
                    .await
                    .expect("the run reaches the approval gate");
            assert_eq!(retention(&sandbox).await.as_deref(), Some("24"));
            execution
                .send_task_failure(&task.token, "Rejected", Some("not today".into()))
                .unwrap();
            let outcome = execution.wait().await;
            assert!(
                matches!(outcome.status, Status::Failed { .. }),
                "{:?}",
                outcome.status
            );
            assert!(common::entered(&outcome, "CleanupOnRollback"));
            assert_eq!(retention(&sandbox).await.as_deref(), Some("2"));
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replication_user_that_may_not_raise_it_is_refused_before_anything_is_created() {
    if !common::mariadb_available("binlog retention not settable") {
        return;
    }
    common::with_sandbox(common::sandbox("retention-refused"), |sandbox| async move {
        source_with_retention(&sandbox, Some(2)).await;
        let mut spec = spec("auto");
        spec["binlogRetention"] = json!({"set": true});
        let outcome = engine(&sandbox).start(spec).wait().await;
        let Status::Failed { error, cause } = &outcome.status else {
            panic!("expected a refusal, got {:?}", outcome.status);
        };
        assert_eq!(error, "BinlogRetentionTooShort");
        let cause = cause.as_deref().unwrap_or_default();
        assert!(cause.contains("binlogRetention.set"), "{cause}");
        assert!(!common::entered(&outcome, "Snapshot"));
        assert_eq!(retention(&sandbox).await.as_deref(), Some("2"));
        assert!(sandbox.endpoint(TARGET).is_none());
    })
    .await;
}
