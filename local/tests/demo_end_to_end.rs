//! The demo end to end on real MariaDB servers under a write load: the execution succeeds, no
//! acknowledged write is lost or duplicated, the Verify step saw equal checksums, and the target
//! holds no plaintext at rest while the source does.

mod common;

use std::time::Duration;

use aurora_local::demo::{run_demo, DemoOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_migrates_a_live_database_without_losing_a_write_and_encrypts_it_at_rest() {
    if !common::mariadb_available("demo end to end") {
        return;
    }
    let options = DemoOptions {
        rows: 300,
        writers: 4,
        rate: 200.0,
        time_scale: 0.01,
        warmup: Duration::from_millis(300),
        cooldown: Duration::from_millis(300),
        ..DemoOptions::default()
    };
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
    assert!(report.write_unavailable_ms.is_some(), "{json}");
    assert!(
        !std::path::Path::new(&report.sandbox_dir).exists(),
        "the sandbox is removed"
    );
    println!("{json}");
}
