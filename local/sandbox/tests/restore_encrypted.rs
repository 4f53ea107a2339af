//! Snapshot and encrypted restore on real servers, driven by the core steps themselves: the
//! target has the source's rows, reports encryption, and none of its files hold the plaintext
//! marker that the source's files do.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use aurora_core::ports::{
    Clusters, Replication, ReplicationState, SystemClock, Verifier, VerifyDepth,
};
use aurora_core::state::{RestoreOutput, SnapshotOutput};
use aurora_core::steps::{binlog_position, create_migration, restore, snapshot};
use aurora_sandbox::clusters::encryption_state;
use aurora_sandbox::schema::{files_containing, PLAINTEXT_MARKER};
use aurora_sandbox::Sandbox;
use mysql_async::prelude::Queryable;
use serde_json::json;

const STEP_TIMEOUT: Duration = Duration::from_secs(600);

fn state_document(execution: &str) -> serde_json::Value {
    json!({
        "sourceClusterId": "orders",
        "kmsKeyId": "alias/orders-at-rest",
        "replication": {
            "engine": "native",
            "sourceSecretArn": aurora_sandbox::REPLICATION_SECRET_ARN,
            "targetSecretArn": aurora_sandbox::ADMIN_SECRET_ARN
        },
        "switchover": { "mode": "auto" },
        "execution": { "name": execution }
    })
}

async fn digests(sandbox: &Sandbox, cluster: &str) -> Vec<(String, u64, u64)> {
    let mut conn = sandbox.admin_conn(cluster).await.unwrap();
    let mut out = Vec::new();
    for table in ["audit_log", "customers", "orders", "products"] {
        let rows: Option<u64> = conn
            .query_first(format!("SELECT COUNT(*) FROM shop.{table}"))
            .await
            .unwrap();
        let checksum: Option<(String, u64)> = conn
            .query_first(format!("CHECKSUM TABLE shop.{table}"))
            .await
            .unwrap();
        out.push((table.to_string(), rows.unwrap(), checksum.unwrap().1));
    }
    conn.disconnect().await.unwrap();
    out
}

/// The snapshot step, then the restore step, each polled until ready as the state machine polls
/// them (the restore's previous output handed back at `restore`; the parameter group copy
/// settles first). Both outputs are put in `doc`.
async fn snapshot_then_restore(
    sandbox: &Sandbox,
    doc: &mut serde_json::Value,
) -> (SnapshotOutput, RestoreOutput) {
    let clusters = sandbox.clusters();
    let clock = SystemClock;
    let snapshot_input: snapshot::SnapshotInput = serde_json::from_value(doc.clone()).unwrap();
    let snapshot_deps = snapshot::Deps {
        clusters: &clusters,
        clock: &clock,
    };
    let first = snapshot::run(&snapshot_input, &snapshot_deps)
        .await
        .unwrap();
    assert_eq!(
        first.status, "creating",
        "the backup runs in the background"
    );
    let snap = common::eventually("the snapshot", STEP_TIMEOUT, || async {
        let out = snapshot::run(&snapshot_input, &snapshot_deps)
            .await
            .unwrap();
        out.ready.then_some(out)
    })
    .await;
    doc["snapshot"] = serde_json::to_value(&snap).unwrap();
    let restore_deps = restore::Deps {
        clusters: &clusters,
        clock: &clock,
        settings: restore::RestoreSettings {
            parameter_group_settle: time::Duration::seconds(1),
        },
    };
    let previous = std::sync::Mutex::new(None::<serde_json::Value>);
    let restored = common::eventually("the encrypted restore", STEP_TIMEOUT, || async {
        let mut state = doc.clone();
        if let Some(out) = previous.lock().unwrap().clone() {
            state["restore"] = out;
        }
        let input: restore::RestoreInput = serde_json::from_value(state).unwrap();
        let out = restore::run(&input, &restore_deps).await.unwrap();
        *previous.lock().unwrap() = Some(serde_json::to_value(&out).unwrap());
        out.ready.then_some(out)
    })
    .await;
    doc["restore"] = serde_json::to_value(&restored).unwrap();
    (snap, restored)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_and_encrypted_restore_keep_rows_and_leave_no_plaintext() {
    common::with_sandbox(common::sandbox("restore"), |sandbox| async move {
        sandbox.create_source_cluster("orders").await.unwrap();
        let seeded = sandbox.seed_sample("orders", 1500).await.unwrap();
        assert_eq!(seeded.orders, 1500);
        let clusters = sandbox.clusters();
        let clock = SystemClock;

        // GIVEN the snapshot step, polled until available, WHEN the restore step is polled
        // until ready
        let mut doc = state_document("run-1");
        let (snap, restored) = snapshot_then_restore(&sandbox, &mut doc).await;
        assert_eq!(snap.percent_progress, 100);

        // THEN the target is encrypted with the spec's key, and the writer reports the
        // snapshot's binlog coordinates in the RDS event the binlog step reads
        assert!(restored.encrypted);
        assert_eq!(restored.kms_key_id.as_deref(), Some("alias/orders-at-rest"));
        let target = clusters
            .describe_cluster("orders-encrypted")
            .await
            .unwrap()
            .unwrap();
        assert!(target.storage_encrypted);
        assert_eq!(target.status, "available");
        assert_ne!(
            restored.source_endpoint.as_ref().unwrap().host,
            restored.target_endpoint.as_ref().unwrap().host
        );
        let binlog_input: binlog_position::BinlogPositionInput =
            serde_json::from_value(doc.clone()).unwrap();
        let binlog_deps = binlog_position::Deps {
            clusters: &clusters,
            clock: &clock,
            settings: binlog_position::BinlogPositionSettings::default(),
        };
        let binlog = binlog_position::run(&binlog_input, &binlog_deps)
            .await
            .unwrap();
        assert!(binlog.position.file.starts_with("mysql-bin."), "{binlog:?}");
        assert!(binlog.position.position > 4);

        let mut conn = sandbox.admin_conn("orders-encrypted").await.unwrap();
        let state = encryption_state(&mut conn, "orders-encrypted")
            .await
            .unwrap();
        assert!(state.complete(), "{state:?}");
        conn.disconnect().await.unwrap();

        // AND the data is the same on both sides
        assert_eq!(
            digests(&sandbox, "orders").await,
            digests(&sandbox, "orders-encrypted").await
        );

        // AND the marker is in the source's files (binlog, redo) but nowhere in the target's
        // data files, redo log or binlog
        let source_dir = sandbox.server_spec("orders").unwrap().data_dir();
        let target_dir = sandbox.server_spec("orders-encrypted").unwrap().data_dir();
        let in_source = files_containing(&source_dir, PLAINTEXT_MARKER.as_bytes()).unwrap();
        assert!(
            in_source
                .iter()
                .any(|p| p.to_string_lossy().contains("mysql-bin.")),
            "{in_source:?}"
        );
        let snapshot_dir = sandbox.dir().join("snapshots").join(&snap.snapshot_id);
        let in_snapshot = files_containing(&snapshot_dir, PLAINTEXT_MARKER.as_bytes()).unwrap();
        assert!(
            in_snapshot
                .iter()
                .any(|p| p.extension().is_some_and(|e| e == "ibd")),
            "the target was restored from plaintext tablespaces: {in_snapshot:?}"
        );
        let in_target = files_containing(&target_dir, PLAINTEXT_MARKER.as_bytes()).unwrap();
        assert!(
            in_target.is_empty(),
            "plaintext in the target: {in_target:?}"
        );
        // AND native replication from the event's position brings the source's later writes
        // over, encrypted at rest on the target (relay log and binlog included)
        let replication = sandbox
            .native_replication(aurora_sql::AuroraMajorVersion::Two, "orders", "orders-encrypted")
            .unwrap();
        doc["binlog"] = serde_json::to_value(&binlog).unwrap();
        let migration_input: create_migration::CreateMigrationInput =
            serde_json::from_value(doc.clone()).unwrap();
        let migration_deps = create_migration::Deps {
            replication: &replication,
        };
        let migration = create_migration::run(&migration_input, &migration_deps)
            .await
            .unwrap();
        let mut source = sandbox.admin_conn("orders").await.unwrap();
        for i in 0..50 {
            source
                .query_drop(format!(
                    "INSERT INTO shop.audit_log VALUES (NOW(6), 'cdc', 'row {i} {PLAINTEXT_MARKER}')"
                ))
                .await
                .unwrap();
        }
        source.query_drop("UPDATE shop.products SET price = price + 1 WHERE sku < 'SKU-000010'")
            .await
            .unwrap();
        source.disconnect().await.unwrap();
        common::eventually("the target to catch up", STEP_TIMEOUT, || async {
            let status = replication.status(&migration.handle).await.unwrap();
            assert_ne!(status.state, ReplicationState::Failed, "{status:?}");
            status
                .positions
                .filter(|p| status.state == ReplicationState::Running && p.applied == p.source)
        })
        .await;
        let shop = ["shop".to_string()];
        let source_digests = sandbox
            .verifier("orders")
            .unwrap()
            .table_digests(&shop, VerifyDepth::Checksums)
            .await
            .unwrap();
        let target_digests = sandbox
            .verifier("orders-encrypted")
            .unwrap()
            .table_digests(&shop, VerifyDepth::Checksums)
            .await
            .unwrap();
        assert_eq!(source_digests, target_digests);
        assert_eq!(source_digests[0].rows, 1550, "{source_digests:?}");
        replication.stop(&migration.handle).await.unwrap();
        let mut conn = sandbox.admin_conn("orders-encrypted").await.unwrap();
        conn.query_drop("FLUSH BINARY LOGS").await.unwrap();
        conn.query_drop("FLUSH RELAY LOGS").await.unwrap();
        conn.disconnect().await.unwrap();
        let in_target = files_containing(&target_dir, PLAINTEXT_MARKER.as_bytes()).unwrap();
        assert!(in_target.is_empty(), "plaintext in the target: {in_target:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_of_a_stopped_cluster_is_refused_and_a_missing_one_is_not_found() {
    common::with_sandbox(common::sandbox("refuse"), |sandbox| async move {
        sandbox.create_source_cluster("orders").await.unwrap();
        sandbox.stop_cluster("orders").await.unwrap();
        let clusters = sandbox.clusters();
        let request = |cluster: &str| aurora_core::ports::CreateSnapshotRequest {
            cluster_id: cluster.into(),
            snapshot_id: "snap".into(),
            tags: Vec::new(),
        };
        let stopped = clusters.create_cluster_snapshot(&request("orders")).await;
        assert!(
            matches!(stopped, Err(aurora_core::PortError::InvalidState(_))),
            "{stopped:?}"
        );
        let cluster = clusters.describe_cluster("orders").await.unwrap().unwrap();
        assert_eq!(cluster.status, "stopped");
        let missing = clusters.create_cluster_snapshot(&request("nope")).await;
        assert!(
            matches!(&missing, Err(e) if e.is_not_found(aurora_core::errors::Resource::Cluster)),
            "{missing:?}"
        );
    })
    .await;
}

/// A source's free pages (undo logs purged after the transaction that wrote them) and its
/// doublewrite buffer keep the plaintext they last held, and a backup copies them as they are.
/// Background encryption rewrites only the pages in use, so the restore must not stop there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_in_free_undo_and_doublewrite_pages_of_the_snapshot_is_not_restored() {
    common::with_sandbox(common::sandbox("scrub"), |sandbox| async move {
        sandbox.create_source_cluster("orders").await.unwrap();
        let mut source = sandbox.admin_conn("orders").await.unwrap();
        for sql in [
            "SET SESSION max_recursive_iterations = 10000".to_string(),
            "CREATE DATABASE scratch".to_string(),
            "CREATE TABLE scratch.notes (id INT PRIMARY KEY, note VARCHAR(400)) ENGINE=InnoDB"
                .to_string(),
            format!(
                "INSERT INTO scratch.notes WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL \
                 SELECT i + 1 FROM n WHERE i < 4000) SELECT i, CONCAT(i, ' {PLAINTEXT_MARKER} ', \
                 REPEAT('p', 300)) FROM n"
            ),
            // One transaction whose undo log holds every note's before-image, then purged.
            "UPDATE scratch.notes SET note = 'scrubbed'".to_string(),
            "SET GLOBAL innodb_max_dirty_pages_pct = 0".to_string(),
        ] {
            source.query_drop(sql).await.unwrap();
        }
        common::eventually("the source to purge and flush", STEP_TIMEOUT, || async {
            let mut conn = sandbox.admin_conn("orders").await.unwrap();
            let (history, dirty): (u64, u64) = conn
                .query_first(
                    "SELECT (SELECT COUNT FROM information_schema.INNODB_METRICS \
                     WHERE NAME = 'trx_rseg_history_len'), \
                     (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
                     WHERE VARIABLE_NAME = 'INNODB_BUFFER_POOL_PAGES_DIRTY')",
                )
                .await
                .unwrap()
                .unwrap();
            conn.disconnect().await.unwrap();
            (history == 0 && dirty == 0).then_some(())
        })
        .await;
        source.disconnect().await.unwrap();

        let mut doc = state_document("scrub-1");
        let (snap, restored) = snapshot_then_restore(&sandbox, &mut doc).await;
        assert!(restored.encrypted);

        // The seed reached pages the backup copied: the snapshot's system tablespace holds it.
        let snapshot_dir = sandbox.dir().join("snapshots").join(&snap.snapshot_id);
        let in_snapshot = files_containing(&snapshot_dir, PLAINTEXT_MARKER.as_bytes()).unwrap();
        assert!(
            in_snapshot.iter().any(|p| p.ends_with("ibdata1")),
            "the seed did not reach the snapshot's system tablespace: {in_snapshot:?}"
        );
        let target_dir = sandbox.server_spec("orders-encrypted").unwrap().data_dir();
        let in_target = files_containing(&target_dir, PLAINTEXT_MARKER.as_bytes()).unwrap();
        assert!(
            in_target.is_empty(),
            "plaintext in the target: {in_target:?}"
        );
        let mut target = sandbox.admin_conn("orders-encrypted").await.unwrap();
        let rows: Option<u64> = target
            .query_first("SELECT COUNT(*) FROM scratch.notes WHERE note = 'scrubbed'")
            .await
            .unwrap();
        assert_eq!(rows, Some(4000));
        target.disconnect().await.unwrap();
    })
    .await;
}
