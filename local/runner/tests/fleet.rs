//! The fleet end to end on real MariaDB servers: three clusters under write load migrated
//! through `encrypt-fleet.asl.json`, each migration a child execution, at most two at once; with
//! one child made to fail at Verify, the others still finish, the fleet names the failed index,
//! and no acknowledged write is lost or duplicated on any cluster.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use aurora_local::fleet::{run_fleet_demo, FleetOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_failing_child_leaves_the_others_finishing_and_is_named_by_index() {
    if !common::mariadb_available("fleet with a failing child") {
        return;
    }
    let options = FleetOptions {
        clusters: 3,
        max_concurrency: 2,
        rows: 100,
        writers: 2,
        rate: 40.0,
        time_scale: 0.01,
        warmup: Duration::from_millis(300),
        cooldown: Duration::from_millis(300),
        fail_index: Some(1),
        ..FleetOptions::default()
    };
    let report = run_fleet_demo(options).await.expect("the fleet demo runs");
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert_eq!(report.status, "SUCCEEDED", "{json}");
    assert_eq!(report.failed_indices, vec![1], "{json}");
    assert!(report.max_concurrent_children <= 2, "{json}");
    let statuses: Vec<&str> = report.clusters.iter().map(|c| c.status.as_str()).collect();
    assert_eq!(statuses, ["SUCCEEDED", "FAILED", "SUCCEEDED"], "{json}");
    for cluster in &report.clusters {
        assert_eq!(cluster.lost_writes, 0, "{json}");
        assert_eq!(cluster.duplicate_writes, 0, "{json}");
        assert!(cluster.acknowledged_inserts > 10, "{json}");
    }
    assert_eq!(
        report.clusters[1].writes_checked_on, "orders-2",
        "rolled back: {json}"
    );
    assert_eq!(
        report.clusters[1].error.as_deref(),
        Some("VerificationMismatch"),
        "{json}"
    );
    for i in [0, 2] {
        let cluster = &report.clusters[i];
        assert!(
            cluster.checksums_match && cluster.target_encrypted_at_rest,
            "{json}"
        );
        assert!(cluster.write_unavailable_ms.is_some(), "{json}");
    }
    assert!(report.invariants_hold, "{json}");
    println!("{json}");
}
