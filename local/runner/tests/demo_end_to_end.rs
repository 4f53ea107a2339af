//! The demo end to end on real MariaDB servers under a write load: the execution succeeds, no
//! acknowledged write is lost or duplicated, the Verify step saw equal checksums, and the target
//! holds no plaintext at rest while the source does.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use aurora_local::demo::{run_demo, DemoConnect, DemoEngine, DemoOptions};

/// The demo these tests run: 300 rows per table, 4 writers at 200 writes/s, waits scaled by
/// 0.01, writing 300 ms before and after the run.
fn under_load() -> DemoOptions {
    DemoOptions {
        rows: 300,
        writers: 4,
        rate: 200.0,
        time_scale: 0.01,
        warmup: Duration::from_millis(300),
        cooldown: Duration::from_millis(300),
        ..DemoOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_migrates_a_live_database_without_losing_a_write_and_encrypts_it_at_rest() {
    if !common::mariadb_available("demo end to end") {
        return;
    }
    let options = under_load();
    let outcome = run_demo(options, |_| {}, std::future::pending())
        .await
        .expect("the demo runs");
    let report = outcome.report;
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert_eq!(report.status, "SUCCEEDED", "{json}");
    assert!(report.invariants_hold, "{json}");
    assert_eq!(report.lost_writes, 0, "{json}");
    assert_eq!(report.duplicate_writes, 0, "{json}");
    assert!(report.checksums_match, "{json}");
    assert!(report.target_encrypted_at_rest, "{json}");
    assert!(report.acknowledged_inserts > 50, "{json}");
    assert!(
        report.acknowledged_on_target_after_swap > 0,
        "writers moved to the target: {json}"
    );
    // SwapDns is done once Route 53 has propagated the change (60 s scaled by 0.01), and the
    // writers cannot reach the target before it: both the fenced window and the pause hold it.
    let propagation_ms = aurora_sandbox::dns::AWS_PROPAGATION.as_secs_f64() * 1000.0 * 0.01;
    assert!(
        report
            .fenced_window_ms
            .is_some_and(|ms| ms >= propagation_ms),
        "{json}"
    );
    assert!(
        report
            .write_unavailable_ms
            .is_some_and(|ms| ms >= propagation_ms),
        "{json}"
    );
    assert!(
        !std::path::Path::new(&report.sandbox_dir).exists(),
        "the sandbox is removed"
    );
    println!("{json}");
}

/// `--connect proxy`: the writers go through the sandbox's RDS Proxy, which the switchover
/// moves to the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_through_an_rds_proxy_moves_the_proxy_without_losing_a_write() {
    if !common::mariadb_available("demo --connect proxy") {
        return;
    }
    let options = DemoOptions {
        connect: DemoConnect::Proxy,
        ..under_load()
    };
    let outcome = run_demo(options, |_| {}, std::future::pending())
        .await
        .expect("the demo runs");
    let report = outcome.report;
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert_eq!(report.status, "SUCCEEDED", "{json}");
    assert!(report.invariants_hold, "{json}");
    assert_eq!(report.connect, "proxy");
    assert_eq!(
        (report.lost_writes, report.duplicate_writes),
        (0, 0),
        "{json}"
    );
    assert!(report.checksums_match, "{json}");
    assert!(
        report.acknowledged_on_target_after_swap > 0,
        "writers moved to the target: {json}"
    );
    assert!(report.fenced_window_ms.is_some(), "{json}");
}

/// `--connect cluster-endpoint`: the writers connect to the source's cluster endpoint by name,
/// which the switchover gives to the target by renaming both clusters.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_by_cluster_endpoint_renames_the_clusters_without_losing_a_write() {
    if !common::mariadb_available("demo --connect cluster-endpoint") {
        return;
    }
    let options = DemoOptions {
        connect: DemoConnect::ClusterEndpoint,
        ..under_load()
    };
    let outcome = run_demo(options, |_| {}, std::future::pending())
        .await
        .expect("the demo runs");
    let report = outcome.report;
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert_eq!(report.status, "SUCCEEDED", "{json}");
    assert!(report.invariants_hold, "{json}");
    assert_eq!(report.connect, "cluster-endpoint");
    assert_eq!(
        (report.lost_writes, report.duplicate_writes),
        (0, 0),
        "{json}"
    );
    assert!(report.checksums_match, "{json}");
    assert!(
        report.acknowledged_on_target_after_swap > 0,
        "writers moved to the target: {json}"
    );
    assert!(report.fenced_window_ms.is_some(), "{json}");
}

/// A record with a long TTL: lowered early, waited out before the fence, put back at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_lowers_a_long_ttl_waits_it_out_before_the_fence_and_puts_it_back() {
    if !common::mariadb_available("demo with --initial-ttl") {
        return;
    }
    let options = DemoOptions {
        rows: 200,
        writers: 2,
        rate: 100.0,
        time_scale: 0.01,
        warmup: Duration::from_millis(200),
        cooldown: Duration::from_millis(300),
        initial_ttl: Some(300),
        ..DemoOptions::default()
    };
    let outcome = run_demo(options, |_| {}, std::future::pending())
        .await
        .expect("the demo runs");
    let report = outcome.report;
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert!(report.invariants_hold, "{json}");
    assert_eq!(report.dns_original_ttl_seconds, Some(300), "{json}");
    assert_eq!(
        report.dns_switchover_ttl_seconds,
        Some(aurora_sandbox::APP_RECORD_TTL),
        "{json}"
    );
    assert_eq!(report.dns_final_ttl_seconds, Some(300), "{json}");
    // 300 s scaled by 0.01, less what snapshot and restore took since the lowering.
    let waited = report.dns_ttl_wait_ms.expect("the gate was entered");
    assert!(waited > 500.0 && waited < 3100.0, "{json}");
}

/// The DMS engine end to end: the AWS adapter against the sandbox's DMS stand-in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_with_the_dms_engine_migrates_without_losing_a_write() {
    if !common::mariadb_available("demo with --engine dms") {
        return;
    }
    let options = DemoOptions {
        rows: 200,
        writers: 2,
        rate: 100.0,
        time_scale: 0.01,
        warmup: Duration::from_millis(200),
        cooldown: Duration::from_millis(300),
        engine: DemoEngine::Dms,
        ..DemoOptions::default()
    };
    let outcome = run_demo(options, |_| {}, std::future::pending())
        .await
        .expect("the demo runs");
    let report = &outcome.report;
    let json = serde_json::to_string_pretty(report).unwrap();
    assert_eq!(report.engine, "dms");
    assert_eq!(report.status, "SUCCEEDED", "{json}");
    assert!(report.invariants_hold, "{json}");
    assert_eq!(report.lost_writes, 0, "{json}");
    assert_eq!(report.duplicate_writes, 0, "{json}");
    assert!(report.acknowledged_on_target_after_swap > 0, "{json}");
    // The state machine saw DMS: a data migration ARN, DMS's status text, no positions.
    let output = outcome
        .history
        .iter()
        .rev()
        .find_map(|e| e.details.get("output").and_then(|o| o.as_str()))
        .and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok())
        .expect("the execution's output");
    let handle = &output["migration"]["handle"];
    assert_eq!(handle["engine"], "dms", "{handle}");
    assert!(
        handle["id"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:dms:sandbox:000000000000:data-migration:"),
        "{handle}"
    );
    assert_eq!(handle["resources"].as_array().unwrap().len(), 4, "{handle}");
    assert!(
        output["drain"]["positions"].is_null(),
        "{}",
        output["drain"]
    );
}

/// `--failback`: after the swap a failback window opens, the writers use the new cluster, and
/// the demo fails back under the load: nothing is lost or duplicated on the source, the two
/// clusters hold the same rows at the return, and each direction's write pause is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_fails_back_under_load_without_losing_a_write() {
    if !common::mariadb_available("demo --failback") {
        return;
    }
    let options = DemoOptions {
        failback: true,
        ..under_load()
    };
    let outcome = run_demo(options, |_| {}, std::future::pending())
        .await
        .expect("the demo runs");
    let report = outcome.report;
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert_eq!(report.error.as_deref(), Some("FailedBack"), "{json}");
    assert!(report.invariants_hold, "{json}");
    assert_eq!(
        (report.lost_writes, report.duplicate_writes),
        (0, 0),
        "{json}"
    );
    let failback = report.failback.as_ref().expect("a failback report");
    assert_eq!(
        failback.window_ended_by.as_deref(),
        Some("FailbackRequested")
    );
    assert!(failback.acknowledged_on_new_cluster > 0, "{json}");
    assert!(
        failback.verified && failback.checksums_match_after_return,
        "{json}"
    );
    assert!(report.write_unavailable_ms.is_some(), "{json}");
    assert!(failback.write_unavailable_ms.is_some(), "{json}");
}
