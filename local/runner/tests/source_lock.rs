//! One migration per source on the sandbox: real MariaDB servers, the real state machine on the
//! local engine, two executions for one source started together through two sandbox handles
//! (nothing shared in memory, as two `run --local` processes): one runs, the other is refused
//! with `SourceBusy` before it creates anything, and `sandbox down` then stops every server.
//! A holder whose process died is taken over.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use asl_engine::{Outcome, Status};
use aurora_core::ports::{LockRecord, SourceLock};
use aurora_local::demo::{self, SOURCE};
use aurora_local::{runner, sandbox_ports, SandboxPortSettings};
use aurora_pipeline::Notifications;
use aurora_sandbox::Sandbox;
use serde_json::{json, Value};

const TIME_SCALE: f64 = 0.01;
const ROWS: u64 = 50;

fn spec(target: &str) -> Value {
    let mut spec = demo::spec();
    spec["targetClusterId"] = json!(target);
    spec
}

async fn source(sandbox: &Sandbox) {
    sandbox.create_source_cluster(SOURCE).await.unwrap();
    sandbox.seed_sample(SOURCE, ROWS).await.unwrap();
    sandbox.prepare_source_for_migration(SOURCE).await.unwrap();
}

fn engine(sandbox: &Sandbox, target: &str) -> asl_engine::Engine {
    let ports = sandbox_ports(sandbox, SOURCE, target, SandboxPortSettings::default());
    runner::engine(ports, Notifications::default(), TIME_SCALE).unwrap()
}

fn output(outcome: &Outcome) -> Option<&Value> {
    match &outcome.status {
        Status::Succeeded(output) => Some(output),
        _ => None,
    }
}

async fn source_arn(sandbox: &Sandbox) -> String {
    use aurora_core::ports::Clusters;
    let source = sandbox.clusters().describe_cluster(SOURCE).await.unwrap();
    source.expect("the source exists").arn
}

/// Rewrites the registry on disk as a process `pid` that wrote `resource`'s lock would have
/// left it.
fn lock_written_by(sandbox: &Sandbox, resource: &str, pid: u32) {
    let path = aurora_sandbox::registry::Registry::path(sandbox.dir());
    let mut registry: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    registry["sourceLocks"][resource]["pid"] = json!(pid);
    std::fs::write(&path, serde_json::to_vec_pretty(&registry).unwrap()).unwrap();
}

/// One round: A starts, B `offset` later (or the other way round), through separate handles.
async fn race(sandbox: Sandbox, offset: Duration, a_first: bool) {
    source(&sandbox).await;
    let other = Sandbox::existing(sandbox.dir()).unwrap().unwrap();
    let a = engine(&sandbox, "orders-a");
    let b = engine(&other, "orders-b");
    let (first, second) = if a_first { (&a, &b) } else { (&b, &a) };
    let target = |engine: &asl_engine::Engine| {
        if std::ptr::eq(engine, &a) {
            "orders-a"
        } else {
            "orders-b"
        }
    };
    let first = first.start(spec(target(first)));
    tokio::time::sleep(offset).await;
    let second = second.start(spec(target(second)));
    let (first, second) = tokio::join!(first.wait(), second.wait());
    let (won, lost) = match (output(&first), output(&second)) {
        (Some(_), None) => (first, second),
        (None, Some(_)) => (second, first),
        _ => panic!(
            "exactly one execution runs: {:?} / {:?}; the sandbox's background work: {:?}",
            first.status,
            second.status,
            sandbox.failures()
        ),
    };
    let winner = output(&won).unwrap();
    let Status::Failed { error, cause } = &lost.status else {
        unreachable!()
    };
    assert_eq!(error, "SourceBusy", "{cause:?}");
    let holder = winner["lock"]["holder"].as_str().unwrap();
    assert!(
        cause.as_deref().unwrap_or_default().contains(holder),
        "the refusal names the holder {holder}: {cause:?}"
    );
    let entered: Vec<&str> = lost
        .history
        .iter()
        .filter(|e| e.event_type.as_str().ends_with("StateEntered"))
        .filter_map(|e| e.state_name())
        .collect();
    assert!(
        !entered.contains(&"Snapshot"),
        "refused before anything is created: {entered:?}"
    );
    assert_eq!(winner["cleanedUp"]["lock"]["released"], true);

    // Exactly one target, in the registry every handle reads.
    let down = Sandbox::existing(sandbox.dir()).unwrap().unwrap();
    let mut clusters: Vec<String> = down.status().into_iter().map(|c| c.id).collect();
    clusters.sort();
    let target = winner["targetClusterId"].as_str().unwrap();
    assert_eq!(clusters, vec![SOURCE.to_string(), target.to_string()]);

    // `sandbox down` (a third handle) stops every server either run started.
    let pids: Vec<u32> = down.status().into_iter().filter_map(|c| c.pid).collect();
    assert_eq!(pids.len(), 2, "source and target run: {pids:?}");
    down.shutdown().await.unwrap();
    for pid in pids {
        assert!(
            !aurora_sandbox::server::process_alive(pid),
            "server {pid} still runs after shutdown"
        );
    }
    assert!(down.status().iter().all(|c| !c.running));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_executions_for_one_source_started_together_run_one_and_refuse_the_other() {
    if !common::mariadb_available("two executions for one source") {
        return;
    }
    // Ten rounds, from the same instant to well apart, each order.
    let offsets_ms = [0, 0, 1, 2, 5, 10, 25, 50, 100, 200];
    for (round, offset) in offsets_ms.into_iter().enumerate() {
        let sandbox = common::sandbox(&format!("lock-race-{round}"));
        common::with_sandbox(sandbox, move |sandbox| {
            race(sandbox, Duration::from_millis(offset), round % 2 == 0)
        })
        .await;
    }
}

/// GIVEN a lock held by an execution whose process died (it never released it);
/// WHEN a new execution starts for that source;
/// THEN it takes the lock over, says so in its history, and runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lock_held_by_a_dead_process_is_taken_over_and_the_takeover_is_in_the_history() {
    if !common::mariadb_available("dead holder taken over") {
        return;
    }
    common::with_sandbox(common::sandbox("lock-takeover"), |sandbox| async move {
        source(&sandbox).await;
        let crashed = "arn:aws:states:local:000000000000:execution:encrypt-cluster:crashed";
        let resource = source_arn(&sandbox).await;
        // A process that wrote the lock, then died.
        let dead_pid = {
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let pid = child.id();
            child.wait().unwrap();
            pid
        };
        let lock = sandbox.source_lock();
        let record = LockRecord {
            resource: resource.clone(),
            holder: crashed.into(),
            lease_expires_at: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
            released: false,
            version: 3,
        };
        assert!(lock.write_if(&record, None).await.unwrap());
        lock_written_by(&sandbox, &resource, dead_pid);

        let outcome = engine(&sandbox, "orders-c")
            .start(spec("orders-c"))
            .wait()
            .await;
        let output = output(&outcome).unwrap_or_else(|| panic!("{:?}", outcome.status));
        let preflight = outcome
            .history
            .iter()
            .find(|e| {
                e.event_type == asl_engine::EventType::TaskSucceeded
                    && e.details["output"]
                        .as_str()
                        .is_some_and(|o| o.contains("takenOver"))
            })
            .expect("the takeover is in the history");
        let preflight: Value =
            serde_json::from_str(preflight.details["output"].as_str().unwrap()).unwrap();
        assert_eq!(
            preflight["lock"]["takenOver"],
            json!({"from": crashed, "reason": "holder-ended"})
        );
        assert_eq!(output["cleanedUp"]["lock"]["released"], true);
        let after = lock.read(&resource).await.unwrap().unwrap();
        assert_eq!(after.holder, output["lock"]["holder"].as_str().unwrap());
    })
    .await;
}

/// A spec naming the source only by its resource id (as the AWS Config trigger does) runs
/// locally: the sandbox's ports are built for the cluster it resolves to, as preflight resolves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_named_by_its_resource_id_is_resolved_for_a_local_run() {
    if !common::mariadb_available("source by resource id") {
        return;
    }
    common::with_sandbox(common::sandbox("resource-id"), |sandbox| async move {
        source(&sandbox).await;
        let mut spec = demo::spec();
        spec.as_object_mut().unwrap().remove("sourceClusterId");
        spec.as_object_mut().unwrap().remove("targetClusterId");
        spec["sourceClusterResourceId"] = json!(aurora_core::naming::stand_in_resource_id(SOURCE));
        spec["dryRun"] = json!(true);

        let (source_id, target_id) = sandbox_ports::resolved_cluster_ids(&sandbox, &spec)
            .await
            .expect("the spec parses");
        assert_eq!(source_id, SOURCE);
        assert_eq!(target_id, format!("{SOURCE}-encrypted"));
        let ports = sandbox_ports(
            &sandbox,
            &source_id,
            &target_id,
            SandboxPortSettings::default(),
        );
        let outcome = runner::engine(ports, Notifications::default(), TIME_SCALE)
            .unwrap()
            .start(spec)
            .wait()
            .await;
        let output = output(&outcome).unwrap_or_else(|| panic!("{:?}", outcome.status));
        assert_eq!(output["sourceClusterId"], SOURCE, "{output}");
    })
    .await;
}
