//! The real `statemachine/encrypt-cluster.asl.json` on the local engine, every Task served
//! in-process by its core step over the in-memory fakes: happy path in each switchover mode,
//! the rollback paths, retries, a failure after the swap, a dry run, and the state-transition
//! count of a long catch-up.
//!
//! The fakes do not progress by themselves; a [`World`] ticks them between engine steps the way
//! AWS would (snapshots and restores finish, the restored writer logs its binlog event, a started
//! migration runs, Route 53 syncs).

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asl_engine::{Definition, Engine, EventType, Execution, Outcome, Status};
use aurora_core::errors::PortError;
use aurora_core::fakes::*;
use aurora_core::ports::{
    FenceState, Replication, ReplicationHandle, ReplicationState, ReplicationStatus,
};
use aurora_core::steps::{
    drain::DrainSettings, fence_writes::FenceSettings, preflight::PreflightSettings,
};
use aurora_pipeline::{local_substitutions, registry, Notifications, Ports, ENCRYPT_CLUSTER_ASL};
use serde_json::{json, Value};

const SOURCE_ENDPOINT: &str = "orders.cluster-abc.eu-west-1.rds.amazonaws.com";
const TARGET_ENDPOINT: &str = "orders-encrypted.cluster-abc.eu-west-1.rds.amazonaws.com";
const MIGRATION: &str = "aurora-encrypt-orders-encrypted";
/// The failback window's replication back, named after the old cluster.
const REVERSE_MIGRATION: &str = "aurora-encrypt-orders";
const RECORD: &str = "db.example.com";
/// Waits of minutes take milliseconds.
const TIME_SCALE: f64 = 0.0002;

/// What the running migration reports while the world ticks.
#[derive(Clone, Copy, PartialEq)]
enum MigrationBehaviour {
    /// Starts, then runs with this CDC lag.
    RunsWithLag(u64),
    /// Fails with a message once started.
    Fails,
    /// Left alone: the test queued statuses itself.
    Scripted,
}

struct World {
    clusters: Arc<FakeClusters>,
    parameters: Arc<FakeParameters>,
    replication: Arc<FakeReplication>,
    fence: Arc<FakeFence>,
    fence_sql: Arc<FakeFenceSql>,
    source_verifier: Arc<FakeVerifier>,
    target_verifier: Arc<FakeVerifier>,
    dns: Arc<FakeDns>,
    retirement: Arc<FakeRetirement>,
    retention: Arc<FakeRetention>,
    warmer: Arc<FakeCacheWarmer>,
    lock: Arc<FakeSourceLock>,
    clock: Arc<FakeClock>,
    migration: Mutex<MigrationBehaviour>,
    /// Ticks to let pass before the restored writer logs its binlog event.
    binlog_event_delay: AtomicU32,
    binlog_event_logged: AtomicBool,
    notifications: Notifications,
    /// What the user's smoke function (`SMOKE_FUNCTION`) was invoked with.
    smoke_payloads: Arc<Mutex<Vec<Value>>>,
    /// The error it raises, if any: `(errorType, errorMessage)`.
    smoke_error: Arc<Mutex<Option<(String, String)>>>,
    /// The application's RDS Proxy (`orders-proxy`, on the source), and the servers sessions reach.
    proxies: Arc<FakeProxies>,
    identity: Arc<FakeIdentity>,
    /// Once the proxy has been moved, each tick moves the clock on by this many seconds (its
    /// timeout is measured on the step's clock, which the engine's waits do not move).
    proxy_clock_step: AtomicU32,
    /// The replication back fails once it runs.
    reverse_breaks: AtomicBool,
    /// Creating the replication back is refused (once the forward one runs).
    reverse_refused: AtomicBool,
}

/// A user's smoke test, as a spec names it (`smoke.functionArn`).
const SMOKE_FUNCTION: &str = "arn:aws:lambda:eu-west-1:123456789012:function:orders-smoke:live";

impl World {
    fn new() -> Self {
        let tables = [("shop", "orders", 1000, 42), ("shop", "items", 3000, 7)];
        Self {
            clusters: Arc::new(FakeClusters::with_source("orders")),
            parameters: Arc::new(FakeParameters::for_source("orders")),
            replication: Arc::new(FakeReplication::default()),
            fence: Arc::new(FakeFence::for_cluster("orders")),
            fence_sql: {
                let sql = FakeFenceSql::default();
                sql.replicate("orders", "orders-encrypted");
                Arc::new(sql)
            },
            source_verifier: Arc::new(FakeVerifier::with(&tables)),
            target_verifier: Arc::new(FakeVerifier::with(&tables)),
            dns: Arc::new(FakeDns::with_record(RECORD, "CNAME", Some(SOURCE_ENDPOINT))),
            retirement: Arc::new(FakeRetirement::default()),
            retention: Arc::new(FakeRetention::hours(Some(72))),
            warmer: Arc::new(FakeCacheWarmer::with_mixed_statements()),
            lock: Arc::new(FakeSourceLock::default()),
            clock: Arc::new(FakeClock::default()),
            migration: Mutex::new(MigrationBehaviour::RunsWithLag(0)),
            binlog_event_delay: AtomicU32::new(0),
            binlog_event_logged: AtomicBool::new(false),
            notifications: Notifications::default(),
            smoke_payloads: Arc::default(),
            smoke_error: Arc::default(),
            proxies: {
                let proxies = FakeProxies::tracking("orders-proxy", "orders");
                proxies.become_available_on_register();
                Arc::new(proxies)
            },
            identity: Arc::default(),
            proxy_clock_step: AtomicU32::new(0),
            reverse_breaks: AtomicBool::new(false),
            reverse_refused: AtomicBool::new(false),
        }
    }

    fn engine(&self) -> Engine {
        let ports = Ports {
            clusters: self.clusters.clone(),
            parameters: self.parameters.clone(),
            kms: Arc::new(FakeKms::with_key("alias/orders")),
            retention: Some(self.retention.clone()),
            replication: self.replication.clone(),
            lag: Arc::new(FakeLagMetrics::default()),
            fence: self.fence.clone(),
            source_verifier: self.source_verifier.clone(),
            target_verifier: self.target_verifier.clone(),
            dns: self.dns.clone(),
            retirement: self.retirement.clone(),
            lock: self.lock.clone(),
            clock: self.clock.clone(),
            sleeper: self.clock.clone(),
            binlog_horizon: time::Duration::minutes(30),
            preflight: PreflightSettings::default(),
            drain: DrainSettings::default(),
            // The fake clock does not move with the engine's waits.
            restore: aurora_core::steps::restore::RestoreSettings {
                parameter_group_settle: time::Duration::ZERO,
            },
            fence_sql: self.fence_sql.clone(),
            fence_settings: FenceSettings::default(),
            verify_online: Default::default(),
            warmer: self.warmer.clone(),
            proxies: self.proxies.clone(),
            identity: self.identity.clone(),
        };
        let definition = Definition::parse(ENCRYPT_CLUSTER_ASL).expect("the definition parses");
        Engine::new(definition)
            .with_substitutions(&local_substitutions())
            .expect("every placeholder is substituted")
            .with_registry(
                self.with_smoke_function(registry(Arc::new(ports), self.notifications.clone())),
            )
            .with_time_scale(TIME_SCALE)
    }

    /// The registry plus the user's smoke function, as Lambda would run it.
    fn with_smoke_function(&self, registry: asl_engine::TaskRegistry) -> asl_engine::TaskRegistry {
        let (payloads, error) = (self.smoke_payloads.clone(), self.smoke_error.clone());
        registry.register_fn("orders-smoke", move |payload| {
            payloads.lock().unwrap().push(payload);
            let raised = error.lock().unwrap().clone();
            async move {
                match raised {
                    Some((name, message)) => Err(asl_engine::TaskError::new(name, Some(message))),
                    None => Ok(json!({"checked": 3})),
                }
            }
        })
    }

    fn handle() -> ReplicationHandle {
        ReplicationHandle {
            engine: "fake".into(),
            id: format!("arn:aws:dms:eu-west-1:123456789012:data-migration:{MIGRATION}"),
            name: MIGRATION.into(),
            resources: Vec::new(),
        }
    }

    /// The failback window's replication back, as the fake creates it.
    fn reverse_handle() -> ReplicationHandle {
        ReplicationHandle {
            name: REVERSE_MIGRATION.into(),
            ..Self::handle()
        }
    }

    /// One step of the outside world.
    async fn tick(&self) {
        let step = self.proxy_clock_step.load(Ordering::SeqCst);
        if step > 0 && !self.proxies.mutations().is_empty() {
            self.clock.advance(i64::from(step));
        }
        self.clusters.finish_snapshots();
        self.clusters.finish_restores();
        self.dns.sync_all();
        let writer = self
            .clusters
            .cluster("orders-encrypted")
            .and_then(|c| c.writer().map(|w| w.instance_id.clone()));
        if let Some(writer) = writer {
            let delay = self.binlog_event_delay.load(Ordering::SeqCst);
            if delay > 0 {
                self.binlog_event_delay.store(delay - 1, Ordering::SeqCst);
            } else if !self.binlog_event_logged.swap(true, Ordering::SeqCst) {
                self.clusters.add_event(
                    &writer,
                    60,
                    "Binlog position from crash recovery is mysql-bin-changelog.000005 940",
                );
            }
        }
        if self.dns.record(RECORD).and_then(|r| r.value).as_deref() == Some(TARGET_ENDPOINT)
            && self.reverse_refused.swap(false, Ordering::SeqCst)
        {
            self.replication.fail_next(
                "ensure_cdc",
                PortError::AccessDenied("dms:CreateDataMigration".into()),
            );
        }
        if let Ok(status) = self.replication.status(&Self::reverse_handle()).await {
            if status.state == ReplicationState::Starting {
                self.replication.set_status(
                    REVERSE_MIGRATION,
                    ReplicationState::Running,
                    Some(0),
                    None,
                );
            } else if status.state == ReplicationState::Running
                && self.reverse_breaks.load(Ordering::SeqCst)
            {
                self.replication.set_status(
                    REVERSE_MIGRATION,
                    ReplicationState::Failed,
                    None,
                    Some("Duplicate entry '42' for key 'PRIMARY'"),
                );
            }
        }
        let behaviour = *self.migration.lock().unwrap();
        if behaviour == MigrationBehaviour::Scripted {
            return;
        }
        if let Ok(status) = self.replication.status(&Self::handle()).await {
            match (status.state, behaviour) {
                (
                    ReplicationState::Starting | ReplicationState::Running,
                    MigrationBehaviour::RunsWithLag(lag),
                ) => self.replication.set_status(
                    MIGRATION,
                    ReplicationState::Running,
                    Some(lag),
                    None,
                ),
                (
                    ReplicationState::Starting | ReplicationState::Running,
                    MigrationBehaviour::Fails,
                ) => self.replication.set_status(
                    MIGRATION,
                    ReplicationState::Failed,
                    None,
                    Some("Binary log file not found"),
                ),
                _ => {}
            }
        }
    }

    /// Runs the execution to its end, ticking the world; answers an approval with `approval`.
    async fn run_with(&self, input: Value, approval: Option<Result<(), &str>>) -> Outcome {
        let engine = self.engine();
        let execution: Execution = engine.start(input);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !execution.is_finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "execution did not finish: {:?}",
                last_states(&execution)
            );
            self.tick().await;
            for pending in execution.pending_tasks() {
                match approval {
                    Some(Ok(())) => execution
                        .send_task_success(&pending.token, json!({"approvedBy": "test"}))
                        .unwrap(),
                    Some(Err(reason)) => execution
                        .send_task_failure(&pending.token, "Aborted", Some(reason.to_string()))
                        .unwrap(),
                    None => panic!("unexpected approval request at {}", pending.state_name),
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        execution.wait().await
    }

    async fn run(&self, input: Value) -> Outcome {
        self.run_with(input, None).await
    }

    fn record(&self) -> String {
        self.dns
            .record(RECORD)
            .and_then(|r| r.value)
            .unwrap_or_default()
    }

    fn original_fence_state() -> FenceState {
        FenceState {
            security_group_ids: vec!["sg-0123456789abcdef0".into()],
            parameter_group: Some("orders-params".into()),
            read_only: None,
        }
    }
}

fn last_states(execution: &Execution) -> Vec<String> {
    let history = execution.history();
    history
        .iter()
        .rev()
        .take(5)
        .filter_map(|e| e.state_name().map(str::to_string))
        .collect()
}

fn spec(mode: &str) -> Value {
    let mut spec = state_document("orders", "unused");
    spec.as_object_mut().unwrap().remove("execution");
    spec["switchover"] = json!({ "mode": mode });
    spec
}

/// The output of a succeeded execution.
fn succeeded(outcome: &Outcome) -> Value {
    match &outcome.status {
        Status::Succeeded(output) => output.clone(),
        other => panic!("expected success, got {other:?}"),
    }
}

fn failed(outcome: &Outcome) -> (String, String) {
    match &outcome.status {
        Status::Failed { error, cause } => (error.clone(), cause.clone().unwrap_or_default()),
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn states_entered(outcome: &Outcome) -> Vec<String> {
    outcome
        .history
        .iter()
        .filter(|e| format!("{:?}", e.event_type).ends_with("StateEntered"))
        .filter_map(|e| e.state_name().map(str::to_string))
        .collect()
}

fn events(world: &World) -> Vec<String> {
    world
        .notifications
        .all()
        .iter()
        .filter_map(|n| {
            n.pointer("/Message/event")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn auto_switchover_encrypts_swaps_dns_and_cleans_up() {
    let world = World::new();
    let outcome = world.run(spec("auto")).await;
    let output = succeeded(&outcome);
    assert_eq!(world.record(), TARGET_ENDPOINT);
    assert_eq!(
        output["binlog"]["startPosition"],
        "mysql-bin-changelog.000005:940"
    );
    assert_eq!(output["restore"]["encrypted"], true);
    let replication = world.replication.mutations();
    assert!(
        replication.contains(&format!(
            "ensure_cdc {MIGRATION} from mysql-bin-changelog.000005:940"
        )),
        "{replication:?}"
    );
    assert!(
        replication.iter().any(|m| m.starts_with("stop")),
        "{replication:?}"
    );
    assert!(
        replication.iter().any(|m| m.starts_with("remove")),
        "{replication:?}"
    );
    // The source stays fenced: the application now writes to the target.
    assert_ne!(
        world.fence.state("orders"),
        Some(World::original_fence_state())
    );
    assert!(
        world.retirement.mutations().is_empty(),
        "the source is never deleted unless asked"
    );
    let states = states_entered(&outcome);
    for state in [
        "Preflight",
        "Snapshot",
        "Restore",
        "BinlogPosition",
        "CreateMigration",
        "FenceWrites",
        "Drain",
        "Verify",
        "SwapDns",
        "StopMigration",
        "Cleanup",
        "Done",
    ] {
        assert!(
            states.contains(&state.to_string()),
            "{state} not entered: {states:?}"
        );
    }
    assert!(!states.contains(&"Rollback".to_string()));
    let position = |name: &str| {
        states
            .iter()
            .position(|s| s == name)
            .unwrap_or_else(|| panic!("{name} not entered: {states:?}"))
    };
    assert!(
        position("LowerDnsTtl") < position("Snapshot")
            && position("DnsTtlGate") < position("FenceWrites")
            && position("Cleanup") < position("CleanupDnsTtl"),
        "{states:?}"
    );
    // Lowered early (FakeDns records start at 300 s), swapped with the switchover TTL, and the
    // original TTL back at the end.
    assert_eq!(
        world.dns.mutations(),
        vec![
            format!("upsert Z0123456789ABCDEFGHIJ {RECORD} CNAME {SOURCE_ENDPOINT} ttl=30"),
            format!("upsert Z0123456789ABCDEFGHIJ {RECORD} CNAME {TARGET_ENDPOINT} ttl=30"),
            format!("upsert Z0123456789ABCDEFGHIJ {RECORD} CNAME {TARGET_ENDPOINT} ttl=300"),
        ]
    );
    assert_eq!(output["preflight"]["dnsTtlSeconds"], 300);
    assert_eq!(output["dnsTtl"]["originalTtlSeconds"], 300);
    let lowered_at = time::OffsetDateTime::parse(
        output["dnsTtl"]["loweredAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let not_before = time::OffsetDateTime::parse(
        output["dnsTtl"]["switchoverNotBefore"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(not_before - lowered_at, time::Duration::seconds(300));
    let published = events(&world);
    assert!(
        published.len() >= 3,
        "ready, started and done are notified: {published:?}"
    );
    assert_eq!(outcome.state_transitions as usize, states.len());
}

#[tokio::test]
async fn approval_mode_waits_for_the_token_then_switches() {
    let world = World::new();
    let outcome = world.run_with(spec("approval"), Some(Ok(()))).await;
    assert!(
        matches!(outcome.status, Status::Succeeded(_)),
        "{:?}",
        outcome.status
    );
    assert_eq!(world.record(), TARGET_ENDPOINT);
    let scheduled = outcome.history.iter().find(|e| {
        e.event_type == EventType::TaskScheduled
            && e.details.to_string().contains("waitForTaskToken")
    });
    assert!(
        scheduled.is_some(),
        "the approval's token is discoverable in the history"
    );
}

#[tokio::test]
async fn abort_at_the_approval_gate_rolls_back_without_fencing() {
    let world = World::new();
    let outcome = world
        .run_with(spec("approval"), Some(Err("not tonight")))
        .await;
    let (error, _) = failed(&outcome);
    assert_eq!(error, "Aborted");
    assert_eq!(world.record(), SOURCE_ENDPOINT);
    assert!(
        world.fence.mutations().is_empty(),
        "{:?}",
        world.fence.mutations()
    );
    assert!(world
        .replication
        .mutations()
        .iter()
        .any(|m| m.starts_with("stop")));
}

#[tokio::test]
async fn window_mode_switches_once_the_window_opens() {
    let world = World::new();
    let mut input = spec("window");
    // After the fakes' clock (so it validates), long before the real one (so the Wait is short).
    input["switchover"]["windowStart"] = json!("2026-11-27T12:00:01Z");
    let outcome = world.run(input).await;
    assert!(
        matches!(outcome.status, Status::Succeeded(_)),
        "{:?}",
        outcome.status
    );
    assert!(states_entered(&outcome).contains(&"WaitForWindow".to_string()));
    assert_eq!(world.record(), TARGET_ENDPOINT);
}

#[tokio::test]
async fn dry_run_creates_nothing_and_returns_the_plan() {
    let world = World::new();
    let mut input = spec("auto");
    input["dryRun"] = json!(true);
    let outcome = world.run(input).await;
    let Status::Succeeded(output) = &outcome.status else {
        panic!("{:?}", outcome.status)
    };
    assert!(
        output["preflight"]["resources"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        "{output}"
    );
    assert!(world.clusters.mutations().is_empty());
    assert!(world.replication.mutations().is_empty());
    assert!(world.fence.mutations().is_empty());
    assert!(world.dns.mutations().is_empty());
}

#[tokio::test]
async fn bad_input_fails_preflight_with_its_name_and_creates_nothing() {
    let world = World::new();
    let mut input = spec("auto");
    input["dns"]["ttlSeconds"] = json!(-5);
    let outcome = world.run(input).await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "InvalidInput");
    assert!(cause.contains("dns.ttlSeconds"), "{cause}");
    assert!(world.clusters.mutations().is_empty());
}

#[tokio::test]
async fn transient_errors_are_retried() {
    let world = World::new();
    world.clusters.fail_next(
        "create_cluster_snapshot",
        PortError::Transient("Throttling".into()),
    );
    world.dns.fail_next(
        "upsert_cname",
        PortError::Transient("PriorRequestNotComplete".into()),
    );
    let outcome = world.run(spec("auto")).await;
    assert!(
        matches!(outcome.status, Status::Succeeded(_)),
        "{:?}",
        outcome.status
    );
    let retried = outcome
        .history
        .iter()
        .filter(|e| {
            e.event_type == EventType::TaskFailed && e.details.to_string().contains("Transient")
        })
        .count();
    assert_eq!(retried, 2);
}

#[tokio::test]
async fn binlog_position_is_retried_until_the_event_appears() {
    let world = World::new();
    world.binlog_event_delay.store(40, Ordering::SeqCst);
    let outcome = world.run(spec("auto")).await;
    assert!(
        matches!(outcome.status, Status::Succeeded(_)),
        "{:?}",
        outcome.status
    );
    let not_yet = outcome
        .history
        .iter()
        .filter(|e| {
            e.event_type == EventType::TaskFailed
                && e.details
                    .to_string()
                    .contains("BinlogPositionNotYetAvailable")
        })
        .count();
    assert!(not_yet >= 1, "the position was not available at first");
}

#[tokio::test]
async fn snapshot_failure_rolls_back_with_the_original_error() {
    let world = World::new();
    world.clusters.fail_next(
        "create_cluster_snapshot",
        PortError::AccessDenied("rds:CreateDBClusterSnapshot".into()),
    );
    let outcome = world.run(spec("auto")).await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "AccessDenied");
    assert!(cause.contains("rds:CreateDBClusterSnapshot"), "{cause}");
    assert!(states_entered(&outcome).contains(&"NotifyRolledBack".to_string()));
    assert!(world.fence.mutations().is_empty());
    assert!(world.replication.mutations().is_empty());
    assert_eq!(world.record(), SOURCE_ENDPOINT);
}

#[tokio::test]
async fn migration_failure_during_catch_up_rolls_back_and_leaves_the_source_unfenced() {
    let world = World::new();
    *world.migration.lock().unwrap() = MigrationBehaviour::Fails;
    let outcome = world.run(spec("auto")).await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "MigrationFailed");
    assert!(cause.contains("Binary log file not found"), "{cause}");
    assert!(world.fence.mutations().is_empty());
    assert_eq!(
        world.fence.state("orders"),
        Some(World::original_fence_state())
    );
    assert_eq!(world.record(), SOURCE_ENDPOINT);
}

#[tokio::test]
async fn a_marker_that_never_arrives_rolls_back_and_unfences_exactly() {
    let world = World::new();
    // The engine reports a latency of 0 throughout (stale, as DMS's may be), but the fence's
    // marker never reaches the target: not drained.
    *world.migration.lock().unwrap() = MigrationBehaviour::RunsWithLag(0);
    world.fence_sql.stall_when_fenced("orders-encrypted");
    let outcome = world.run(spec("auto")).await;
    let (error, _) = failed(&outcome);
    assert_eq!(error, "LagNotConverging");
    let states = states_entered(&outcome);
    assert!(
        states.contains(&"Drain".to_string()) && states.contains(&"UnfenceWrites".to_string()),
        "{states:?}"
    );
    assert_eq!(
        world.fence.state("orders"),
        Some(World::original_fence_state())
    );
    assert!(world
        .replication
        .mutations()
        .iter()
        .any(|m| m.starts_with("stop")));
    assert_eq!(world.record(), SOURCE_ENDPOINT);
}

#[tokio::test]
async fn a_target_behind_at_the_fence_rolls_back_without_ever_fencing_the_source() {
    let world = World::new();
    // A stale latency of 0 lets the switchover start, but the replication has stalled: the
    // marker written just before the fence never reaches the target, so writes never stop.
    *world.migration.lock().unwrap() = MigrationBehaviour::RunsWithLag(0);
    world.fence_sql.stop_replicating("orders-encrypted");
    // Verification under the fence only: the online pass would wait for its own marker first.
    let mut input = spec("auto");
    input["verify"] = json!({"mode": "counts"});
    let outcome = world.run(input).await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "LagNotConverging", "{cause}");
    assert!(cause.contains("was not fenced"), "{cause}");
    let states = states_entered(&outcome);
    assert!(
        states.contains(&"UnfenceAfterFailedFence".to_string())
            && !states.contains(&"Drain".to_string()),
        "{states:?}"
    );
    assert!(
        world.fence.mutations().is_empty(),
        "the source was never fenced"
    );
    assert!(
        world.fence_sql.requests().is_empty(),
        "no session was ended"
    );
    assert_eq!(world.record(), SOURCE_ENDPOINT);
}

#[tokio::test]
async fn verification_mismatch_rolls_back_before_the_swap() {
    let world = World::new();
    *world.target_verifier.digests.lock().unwrap() =
        FakeVerifier::with(&[("shop", "orders", 999, 42), ("shop", "items", 3000, 7)])
            .digests
            .lock()
            .unwrap()
            .clone();
    let mut input = spec("auto");
    input["verify"] = json!({"mode": "full-fenced"});
    let outcome = world.run(input).await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "VerificationMismatch");
    assert!(cause.contains("orders"), "{cause}");
    assert_eq!(
        world.fence.state("orders"),
        Some(World::original_fence_state())
    );
    assert_eq!(world.record(), SOURCE_ENDPOINT);
    // The TTL lowered early is back to what it was; the record never pointed elsewhere.
    assert_eq!(world.dns.record(RECORD).unwrap().ttl, Some(300));
    assert!(
        world
            .dns
            .mutations()
            .iter()
            .all(|m| m.contains(SOURCE_ENDPOINT)),
        "{:?}",
        world.dns.mutations()
    );
    assert!(states_entered(&outcome).contains(&"CleanupDnsTtlOnRollback".to_string()));
}

/// Rows on both sides for the online pass: `orders` with ids 1..=rows.
fn seed_rows(world: &World, rows: i64) {
    for side in [&world.source_verifier, &world.target_verifier] {
        for id in 1..=rows {
            side.set_row("shop", "orders", id, &format!("row-{id}"));
        }
    }
}

#[tokio::test]
async fn the_online_pass_loops_before_the_gate_and_the_fenced_verify_reads_only_the_binlog() {
    let world = World::new();
    seed_rows(&world, 2_000);
    let mut input = spec("auto");
    input["verify"] = json!({"chunkRows": 100, "chunksPerInvocation": 5});
    let outcome = world.run(input).await;
    assert!(
        matches!(outcome.status, Status::Succeeded(_)),
        "{:?}",
        outcome.status
    );
    let states = states_entered(&outcome);
    let count = |name: &str| states.iter().filter(|s| *s == name).count();
    assert!(count("VerifyOnline") >= 4, "{states:?}");
    assert_eq!(count("WaitForOnlineVerify"), count("VerifyOnline") - 1);
    let position = |name: &str| states.iter().position(|s| s == name).unwrap();
    assert!(position("VerifyOnline") < position("NotifyReady"));
    let output = succeeded(&outcome);
    assert_eq!(output["verifyOnline"]["rowsVerified"], 2_000);
    assert_eq!(output["verify"]["mode"], "online");
    assert_eq!(output["verify"]["recheck"]["fullComparison"], false);
    assert_eq!(world.source_verifier.binlog_reads.lock().unwrap().len(), 1);
    let ready = world
        .notifications
        .all()
        .into_iter()
        .find(|n| n.pointer("/Message/event") == Some(&json!("ReadyForSwitchover")))
        .unwrap();
    assert_eq!(ready["Message"]["rowsVerified"], 2_000);
}

#[tokio::test]
async fn a_replication_that_stalls_during_the_online_pass_rolls_back_before_the_gate() {
    let world = World::new();
    seed_rows(&world, 100);
    world.fence_sql.stop_replicating("orders-encrypted");
    let mut input = spec("approval");
    input["verify"] = json!({"timeoutSeconds": 60});
    let outcome = world.run(input).await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "LagNotConverging", "{cause}");
    assert!(cause.contains("online verification"), "{cause}");
    let states = states_entered(&outcome);
    assert!(!states.contains(&"AwaitApproval".to_string()), "{states:?}");
    assert!(world.fence.mutations().is_empty(), "never fenced");
}

#[tokio::test]
async fn a_divergence_the_online_pass_finds_rolls_back_before_anything_is_fenced() {
    let world = World::new();
    seed_rows(&world, 500);
    world
        .target_verifier
        .set_row("shop", "orders", 321, "changed behind replication's back");
    let outcome = world.run(spec("auto")).await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "VerificationMismatch");
    assert!(cause.contains("`shop`.`orders`"), "{cause}");
    let states = states_entered(&outcome);
    assert!(states.contains(&"VerifyOnline".to_string()), "{states:?}");
    assert!(!states.contains(&"FenceWrites".to_string()), "{states:?}");
    assert!(!states.contains(&"NotifyReady".to_string()), "{states:?}");
    assert_eq!(
        world.fence.state("orders"),
        Some(World::original_fence_state())
    );
    assert_eq!(world.record(), SOURCE_ENDPOINT);
}

#[tokio::test]
async fn a_parity_difference_rolls_back_before_the_fence_with_the_source_writable() {
    let world = World::new();
    world
        .source_verifier
        .settings
        .lock()
        .unwrap()
        .insert("variable:sql_mode".into(), "STRICT_TRANS_TABLES".into());
    world
        .target_verifier
        .settings
        .lock()
        .unwrap()
        .insert("variable:sql_mode".into(), "".into());
    let outcome = world.run(spec("auto")).await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "ParityMismatch");
    assert!(
        cause.contains("variable:sql_mode (source: STRICT_TRANS_TABLES, target: )"),
        "{cause}"
    );
    let states = states_entered(&outcome);
    assert!(states.contains(&"CheckParity".to_string()), "{states:?}");
    assert!(states.contains(&"Rollback".to_string()), "{states:?}");
    for never in ["VerifyOnline", "NotifyReady", "FenceWrites"] {
        assert!(!states.contains(&never.to_string()), "{never}: {states:?}");
    }
    assert!(world.fence.mutations().is_empty(), "never fenced");
    assert_eq!(
        world.fence.state("orders"),
        Some(World::original_fence_state())
    );
    assert_eq!(world.record(), SOURCE_ENDPOINT);
}

#[tokio::test]
async fn an_ignored_parity_difference_passes_and_is_reported_at_parity() {
    let world = World::new();
    world
        .target_verifier
        .settings
        .lock()
        .unwrap()
        .insert("variable:innodb_io_capacity".into(), "2000".into());
    let mut input = spec("auto");
    input["parity"] = json!({"ignore": ["variable:innodb_*"]});
    let outcome = world.run(input).await;
    let Status::Succeeded(output) = &outcome.status else {
        panic!("{:?} after {:?}", outcome.status, states_entered(&outcome));
    };
    assert_eq!(output["parity"]["ignoredCount"], 1);
    assert_eq!(
        output["parity"]["ignored"][0]["setting"],
        "variable:innodb_io_capacity"
    );
    let states = states_entered(&outcome);
    let position = |name: &str| states.iter().position(|s| s == name).unwrap();
    assert!(position("CheckParity") < position("VerifyOnline"));
}

#[tokio::test]
async fn a_failing_smoke_query_rolls_back_before_the_fence() {
    let world = World::new();
    world.target_verifier.smoke_failures.lock().unwrap().insert(
        "SELECT COUNT(*) FROM shop.gone".into(),
        "Table 'shop.gone' doesn't exist (error 1146)".into(),
    );
    let mut input = spec("auto");
    input["smoke"] = json!({"queries": ["SELECT 1", "SELECT COUNT(*) FROM shop.gone"]});
    let outcome = world.run(input).await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "SmokeQueryFailed");
    assert!(
        cause.contains("smoke query 1") && cause.contains("shop.gone"),
        "{cause}"
    );
    assert!(world.fence.mutations().is_empty(), "never fenced");
    assert_eq!(world.record(), SOURCE_ENDPOINT);
}

#[tokio::test]
async fn the_smoke_function_tests_the_target_before_the_gate() {
    let world = World::new();
    let mut input = spec("auto");
    input["smoke"] = json!({"functionArn": SMOKE_FUNCTION});
    let outcome = world.run(input).await;
    let Status::Succeeded(output) = &outcome.status else {
        panic!("{:?} after {:?}", outcome.status, states_entered(&outcome));
    };
    assert_eq!(
        output["smokeFunction"],
        json!({"statusCode": 200, "result": {"checked": 3}})
    );
    let payloads = world.smoke_payloads.lock().unwrap().clone();
    assert_eq!(payloads.len(), 1, "invoked once");
    assert_eq!(payloads[0]["target"]["clusterId"], "orders-encrypted");
    assert_eq!(payloads[0]["source"]["clusterId"], "orders");
    assert_eq!(
        payloads[0]["execution"]["name"],
        output["execution"]["name"]
    );
    assert!(payloads[0]["targetInstances"]
        .as_array()
        .is_some_and(|i| i.len() == 3));
    let states = states_entered(&outcome);
    let position = |name: &str| states.iter().position(|s| s == name).unwrap();
    assert!(position("CheckParity") < position("SmokeFunction"));
    assert!(position("SmokeFunction") < position("FenceWrites"));
}

#[tokio::test]
async fn a_smoke_function_that_raises_rolls_back_before_the_fence_by_name() {
    let world = World::new();
    *world.smoke_error.lock().unwrap() = Some((
        "OrderLookupFailed".into(),
        "SELECT on shop.orders by customer took 4.2 s".into(),
    ));
    let mut input = spec("auto");
    input["smoke"] = json!({"queries": ["SELECT 1"], "functionArn": SMOKE_FUNCTION});
    let outcome = world.run(input).await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "SmokeQueryFailed");
    assert!(
        cause.contains(SMOKE_FUNCTION) && cause.contains("OrderLookupFailed"),
        "{cause}"
    );
    assert!(world.fence.mutations().is_empty(), "never fenced");
    assert_eq!(world.record(), SOURCE_ENDPOINT);
    assert!(states_entered(&outcome).contains(&"NotifyRolledBack".to_string()));
}

#[tokio::test]
async fn a_smoke_function_lambda_cannot_find_rolls_back() {
    let world = World::new();
    let mut input = spec("auto");
    input["smoke"] =
        json!({"functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:orders-smoke-gone"});
    let outcome = world.run(input).await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "SmokeQueryFailed");
    assert!(
        cause.contains("Lambda.ResourceNotFoundException"),
        "{cause}"
    );
    assert!(world.fence.mutations().is_empty(), "never fenced");
    assert!(world.smoke_payloads.lock().unwrap().is_empty());
}

/// The spec for the RDS Proxy method: no `dns`, the application's proxy.
fn proxy_spec() -> Value {
    let mut input = spec("auto");
    input.as_object_mut().unwrap().remove("dns");
    input["proxy"] = json!({
        "name": "orders-proxy",
        "secretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-app-AbCdEf",
        "timeoutSeconds": 60
    });
    input
}

#[tokio::test]
async fn the_proxy_method_moves_the_proxy_to_the_target_and_proves_it_by_a_session() {
    let world = World::new();
    let outcome = world.run(proxy_spec()).await;
    let Status::Succeeded(output) = &outcome.status else {
        panic!("{:?} after {:?}", outcome.status, states_entered(&outcome));
    };
    assert_eq!(
        world.proxies.tracked("orders-proxy").as_deref(),
        Some("orders-encrypted")
    );
    assert_eq!(output["proxyCheck"]["trackedClusterId"], "orders");
    assert_eq!(output["proxySwap"]["previousClusterId"], "orders");
    assert_eq!(
        output["proxyConfirmed"]["server"],
        "orders-encrypted.cluster-abc.eu-west-1.rds.amazonaws.com"
    );
    let states = states_entered(&outcome);
    let position = |name: &str| states.iter().position(|s| s == name).unwrap();
    assert!(position("CheckProxy") < position("Snapshot"));
    assert!(position("Drain") < position("SwapProxy"));
    assert!(position("SwapProxy") < position("ConfirmProxy"));
    assert!(position("ConfirmProxy") < position("StopMigration"));
    assert!(!states.contains(&"SwapDns".to_string()));
    assert_eq!(
        world.record(),
        SOURCE_ENDPOINT,
        "the DNS record is not ours to move"
    );
}

#[tokio::test]
async fn a_proxy_not_on_the_source_is_refused_before_anything_is_created() {
    let world = World {
        proxies: Arc::new(FakeProxies::tracking("orders-proxy", "billing")),
        ..World::new()
    };
    let outcome = world.run(proxy_spec()).await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "ProxyNotOnSource");
    assert!(cause.contains("tracks `billing`"), "{cause}");
    assert!(world.clusters.mutations().is_empty(), "nothing created");
    assert!(world.proxies.mutations().is_empty());
}

#[tokio::test]
async fn a_proxy_target_that_never_becomes_available_rolls_back_to_the_source() {
    let world = World::new();
    world
        .proxies
        .fail_health("AUTH_FAILURE", "the proxy cannot log in to the target");
    world.proxy_clock_step.store(10, Ordering::SeqCst);
    let outcome = world.run(proxy_spec()).await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "ProxyTargetUnavailable");
    assert!(cause.contains("AUTH_FAILURE"), "{cause}");
    let states = states_entered(&outcome);
    assert!(states.contains(&"RevertProxy".to_string()), "{states:?}");
    assert!(states.contains(&"UnfenceWrites".to_string()), "{states:?}");
    // Moved back (the revert waits for the source's writer, which the fake reports the same way,
    // so the revert's own error is kept for a person).
    assert_eq!(
        world.proxies.tracked("orders-proxy").as_deref(),
        Some("orders")
    );
    assert_eq!(
        world.fence.state("orders"),
        Some(World::original_fence_state()),
        "the source is writable again"
    );
}

#[tokio::test]
async fn a_proxy_whose_sessions_reach_another_server_is_moved_back() {
    let world = World::new();
    world.identity.route(
        "orders-proxy.proxy-abc.eu-west-1.rds.amazonaws.com",
        "orders.cluster-abc.eu-west-1.rds.amazonaws.com",
    );
    let outcome = world.run(proxy_spec()).await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "ProxyTargetUnavailable");
    assert!(cause.contains("not the writer"), "{cause}");
    assert_eq!(
        world.proxies.tracked("orders-proxy").as_deref(),
        Some("orders")
    );
    assert!(states_entered(&outcome).contains(&"ConfirmProxy".to_string()));
}

/// The spec for the rename method: no `dns`, the cluster's own endpoints.
fn rename_spec() -> Value {
    let mut input = spec("auto");
    input.as_object_mut().unwrap().remove("dns");
    input["switchover"]["method"] = json!("rename");
    input
}

#[tokio::test]
async fn the_rename_method_gives_the_target_the_sources_names_and_the_rest_follows() {
    let world = World::new();
    // The cluster endpoint reaches the target's writer once the names are swapped.
    world.identity.route(
        "orders.cluster-abc.eu-west-1.rds.amazonaws.com",
        "orders-writer.abc.eu-west-1.rds.amazonaws.com",
    );
    let outcome = world.run(rename_spec()).await;
    let Status::Succeeded(output) = &outcome.status else {
        panic!("{:?} after {:?}", outcome.status, states_entered(&outcome));
    };
    let execution = output["execution"]["name"].as_str().unwrap();
    let away = aurora_core::naming::renamed_away("orders", execution);
    // The target answers to the source's name; the old cluster to its new one.
    let target = world.clusters.cluster("orders").unwrap();
    assert_eq!(target.tag(aurora_core::naming::OWNER_TAG), Some("orders"));
    assert!(world.clusters.cluster(&away).is_some());
    assert!(world.clusters.cluster("orders-encrypted").is_none());
    // What ran after the renames used the new names.
    assert_eq!(output["sourceClusterId"], away.as_str());
    assert_eq!(output["targetClusterId"], "orders");
    assert_eq!(output["restore"]["targetEndpoint"]["clusterId"], "orders");
    assert_eq!(output["renameConfirmed"]["confirmed"], true);
    let states = states_entered(&outcome);
    let position = |name: &str| states.iter().position(|s| s == name).unwrap();
    assert!(position("Verify") < position("RenameClusters"));
    assert!(position("ConfirmRename") < position("UseRenamedSource"));
    assert!(position("UseRenamedRestore") < position("StopMigration"));
    assert!(!states.contains(&"SwapDns".to_string()));
    let renames: Vec<String> = world
        .clusters
        .mutations()
        .into_iter()
        .filter(|m| m.starts_with("rename_"))
        .collect();
    assert_eq!(
        renames.len(),
        8,
        "the cluster and 3 instances each way: {renames:?}"
    );
}

#[tokio::test]
async fn a_rename_that_fails_half_way_undoes_every_rename_and_the_source_is_writable_under_its_name(
) {
    let world = World::new();
    // The source is renamed away; its writer's rename is refused.
    world.clusters.fail_next(
        "rename_instance",
        PortError::InvalidState("InvalidDBInstanceStateFault: orders-reader-1 is rebooting".into()),
    );
    let outcome = world.run(rename_spec()).await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "RenameFailed", "{cause}");
    let states = states_entered(&outcome);
    assert!(states.contains(&"UndoRenames".to_string()), "{states:?}");
    assert!(states.contains(&"UnfenceWrites".to_string()), "{states:?}");
    // Every rename undone, newest first: the source is `orders` again, the target its own.
    let source = world.clusters.cluster("orders").unwrap();
    assert!(
        source.tag(aurora_core::naming::OWNER_TAG).is_none(),
        "the source, not the target"
    );
    assert!(world.clusters.cluster("orders-encrypted").is_some());
    assert_eq!(
        world.fence.state("orders"),
        Some(World::original_fence_state()),
        "unfenced under its own name"
    );
}

#[tokio::test]
async fn a_sources_custom_endpoint_moves_to_the_target_after_the_renames() {
    let world = World::new();
    world
        .clusters
        .add_custom_endpoint("orders", "analytics", &["orders-reader-1"]);
    world.identity.route(
        "orders.cluster-abc.eu-west-1.rds.amazonaws.com",
        "orders-writer.abc.eu-west-1.rds.amazonaws.com",
    );
    let outcome = world.run(rename_spec()).await;
    assert!(
        matches!(outcome.status, Status::Succeeded(_)),
        "{:?} after {:?}",
        outcome.status,
        states_entered(&outcome)
    );
    let moved = world.clusters.custom_endpoint("analytics").unwrap();
    assert_eq!(
        moved.cluster_id, "orders",
        "on the target, by the source's name"
    );
    assert_eq!(moved.static_members, ["orders-reader-1"]);
    let mutations = world.clusters.mutations();
    let position = |m: &str| mutations.iter().position(|x| x == m).unwrap();
    assert!(
        position("rename_instance orders-encrypted-reader-1 -> orders-reader-1")
            < position("create_custom_endpoint analytics on orders"),
        "{mutations:?}"
    );
}

#[tokio::test]
async fn a_rename_failing_after_the_target_took_the_name_is_not_undone() {
    let world = World::new();
    world.identity.route(
        "orders.cluster-abc.eu-west-1.rds.amazonaws.com",
        "orders-writer.abc.eu-west-1.rds.amazonaws.com",
    );
    // The source's three instances are renamed away and the target takes the source's name;
    // then its writer's rename is refused.
    for _ in 0..3 {
        world.clusters.pass_next("rename_instance");
    }
    world.clusters.fail_next(
        "rename_instance",
        PortError::InvalidState("InvalidDBInstanceStateFault: not available".into()),
    );
    let outcome = world.run(rename_spec()).await;
    let (error, _) = failed(&outcome);
    assert_eq!(error, "RenameFailed");
    let states = states_entered(&outcome);
    assert!(!states.contains(&"UndoRenames".to_string()), "{states:?}");
    assert!(!states.contains(&"UnfenceWrites".to_string()), "{states:?}");
    assert!(
        states.contains(&"NotifyAfterSwapFailure".to_string()),
        "{states:?}"
    );
    // The application may have written to the target under the source's name: it keeps it.
    let target = world.clusters.cluster("orders").unwrap();
    assert_eq!(target.tag(aurora_core::naming::OWNER_TAG), Some("orders"));
}

#[tokio::test]
async fn a_proxy_confirmation_that_cannot_log_in_does_not_move_the_proxy_back() {
    let world = World::new();
    world
        .identity
        .refuse("orders-proxy.proxy-abc.eu-west-1.rds.amazonaws.com");
    let outcome = world.run(proxy_spec()).await;
    let (error, _) = failed(&outcome);
    assert_eq!(error, "AccessDenied");
    let states = states_entered(&outcome);
    assert!(!states.contains(&"RevertProxy".to_string()), "{states:?}");
    assert!(
        states.contains(&"NotifyAfterSwapFailure".to_string()),
        "{states:?}"
    );
    // The target is available behind the proxy: the application may have written there.
    assert_eq!(
        world.proxies.tracked("orders-proxy").as_deref(),
        Some("orders-encrypted")
    );
}

#[tokio::test]
async fn dns_swap_failure_unfences_and_the_source_keeps_serving() {
    let world = World::new();
    world.dns.fail_next(
        "upsert_cname",
        PortError::AccessDenied("route53:ChangeResourceRecordSets".into()),
    );
    // The record's own TTL (300 s) is the switchover TTL: nothing is lowered, so the first
    // change, the one that fails, is the swap.
    let mut input = spec("auto");
    input["dns"]["ttlSeconds"] = json!(300);
    let outcome = world.run(input).await;
    let (error, _) = failed(&outcome);
    assert_eq!(error, "AccessDenied");
    assert_eq!(
        world.fence.state("orders"),
        Some(World::original_fence_state())
    );
    assert_eq!(world.record(), SOURCE_ENDPOINT);
}

#[tokio::test]
async fn failure_after_the_swap_does_not_undo_it() {
    let world = World::new();
    world.replication.fail_next(
        "stop",
        PortError::AccessDenied("dms:StopDataMigration".into()),
    );
    let outcome = world.run(spec("auto")).await;
    let (error, _) = failed(&outcome);
    assert_eq!(error, "AccessDenied");
    let states = states_entered(&outcome);
    assert!(
        states.contains(&"NotifyAfterSwapFailure".to_string()),
        "{states:?}"
    );
    assert!(
        !states.contains(&"UnfenceWrites".to_string())
            && !states.contains(&"RevertDns".to_string())
    );
    assert_eq!(world.record(), TARGET_ENDPOINT);
    assert_eq!(
        world.dns.record(RECORD).unwrap().ttl,
        Some(300),
        "the original TTL is back even though cleanup failed"
    );
}

#[tokio::test]
async fn a_refused_ttl_lowering_rolls_back_before_anything_is_created() {
    let world = World::new();
    world.dns.fail_next(
        "upsert_cname",
        PortError::AccessDenied("route53:ChangeResourceRecordSets".into()),
    );
    let outcome = world.run(spec("auto")).await;
    let (error, _) = failed(&outcome);
    assert_eq!(error, "AccessDenied");
    let states = states_entered(&outcome);
    assert!(!states.contains(&"Snapshot".to_string()), "{states:?}");
    assert!(
        states.contains(&"CleanupDnsTtlOnRollback".to_string()),
        "{states:?}"
    );
    let record = world.dns.record(RECORD).unwrap();
    assert_eq!(
        (record.value.as_deref(), record.ttl),
        (Some(SOURCE_ENDPOINT), Some(300))
    );
}

fn raising_retention() -> Value {
    let mut spec = spec("auto");
    spec["binlogRetention"] = json!({"set": true});
    spec
}

#[tokio::test]
async fn a_short_binlog_retention_is_raised_before_the_snapshot_and_put_back_after_the_switchover()
{
    let world = World::new();
    *world.retention.hours.lock().unwrap() = Some(6);
    let outcome = world.run(raising_retention()).await;
    assert!(
        matches!(outcome.status, Status::Succeeded(_)),
        "{:?}",
        outcome.status
    );
    let change = json!({"originalHours": 6, "setHours": 24});
    let preflight = task_output(&outcome, "Preflight");
    assert_eq!(preflight["preflight"]["binlogRetentionChange"], change);
    assert_eq!(
        task_output(&outcome, "Cleanup")["binlogRetentionRestored"],
        change
    );
    assert_eq!(
        *world.retention.changes.lock().unwrap(),
        vec!["set 24", "put back"]
    );
    assert_eq!(*world.retention.hours.lock().unwrap(), Some(6));
}

#[tokio::test]
async fn a_rollback_before_any_replication_puts_the_raised_retention_back() {
    let world = World::new();
    *world.retention.hours.lock().unwrap() = None;
    world.clusters.fail_next(
        "create_cluster_snapshot",
        PortError::AccessDenied("rds:CreateDBClusterSnapshot".into()),
    );
    let outcome = world.run(raising_retention()).await;
    let (error, _) = failed(&outcome);
    assert_eq!(error, "AccessDenied");
    let states = states_entered(&outcome);
    assert!(
        states.contains(&"CleanupOnRollback".to_string()),
        "{states:?}"
    );
    assert_eq!(
        task_output(&outcome, "CleanupOnRollback")["binlogRetentionRestored"],
        json!({"originalHours": null, "setHours": 24})
    );
    assert_eq!(*world.retention.hours.lock().unwrap(), None);
    assert_eq!(world.record(), SOURCE_ENDPOINT);
}

#[tokio::test]
async fn prewarm_replays_the_sources_selects_on_the_target_before_the_gate() {
    let world = World::new();
    let mut spec = spec("auto");
    spec["prewarm"] = json!({"topStatements": 10, "tables": ["shop.orders"]});
    let outcome = world.run(spec).await;
    let output = succeeded(&outcome);
    let states = states_entered(&outcome);
    let position = |name: &str| states.iter().position(|s| s == name).unwrap();
    assert!(position("VerifyOnline") < position("Prewarm"));
    assert!(position("Prewarm") < position("NotifyReady"));
    assert_eq!(output["prewarmed"]["replayedDigests"], json!(["d1"]));
    assert_eq!(output["prewarmed"]["notReplayed"], 2);
    assert_eq!(world.warmer.hosts(), vec![TARGET_ENDPOINT]);
    // The spec's settings stay where they were.
    assert_eq!(output["prewarm"]["topStatements"], 10);
}

#[tokio::test]
async fn without_prewarm_the_state_is_not_entered() {
    let world = World::new();
    let outcome = world.run(spec("auto")).await;
    assert!(!states_entered(&outcome).contains(&"Prewarm".to_string()));
    assert!(world.warmer.hosts().is_empty());
}

/// A four-hour catch-up followed by a wait for a window: what it costs in state transitions.
#[tokio::test]
async fn long_catch_up_and_window_stay_within_the_transition_budget() {
    let world = World::new();
    *world.migration.lock().unwrap() = MigrationBehaviour::Scripted;
    world
        .replication
        .add_existing(MIGRATION, ReplicationState::Ready);
    // Lag high enough to keep polling until the waits PollLatency asks for add up to four hours.
    let mut waited = 0;
    let mut wait = 15;
    let mut statuses = Vec::new();
    while waited < 4 * 3600 {
        statuses.push(status(ReplicationState::Running, Some(3600)));
        waited += wait;
        wait = (wait * 2).min(600);
    }
    let catch_up_polls = statuses.len();
    // Then caught up: the last queued status stays until the migration is stopped.
    statuses.push(status(ReplicationState::Running, Some(0)));
    world.replication.queue_statuses(MIGRATION, statuses);
    let mut input = spec("window");
    input["switchover"]["windowStart"] = json!("2026-11-27T12:00:01Z");
    let outcome = world.run(input).await;
    assert!(
        matches!(outcome.status, Status::Succeeded(_)),
        "{:?}",
        outcome.status
    );
    eprintln!(
        "4 h catch-up ({catch_up_polls} polls) + window: {} state transitions, ${:.5} on Step Functions Standard",
        outcome.state_transitions,
        outcome.state_transitions as f64 * 0.025 / 1000.0
    );
    let mut per_state = std::collections::BTreeMap::<String, usize>::new();
    for state in states_entered(&outcome) {
        *per_state.entry(state).or_default() += 1;
    }
    assert!(
        outcome.state_transitions <= 150,
        "{} transitions: {per_state:?}",
        outcome.state_transitions
    );
}

fn status(state: ReplicationState, lag: Option<u64>) -> ReplicationStatus {
    ReplicationStatus {
        state,
        status_text: format!("{state:?}"),
        cdc_latency_seconds: lag,
        last_failure: None,
        positions: None,
    }
}

/// An item without `sourceClusterId` is reported as failed by index; the Map goes on (it used
/// to fail the whole fleet with `States.Runtime`, since `IsString` on a missing path is an error).
#[tokio::test]
async fn fleet_reports_an_item_without_source_cluster_id_and_finishes() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../statemachine/encrypt-fleet.asl.json"
    ))
    .unwrap();
    let substitutions = std::collections::HashMap::from([(
        "EncryptClusterStateMachineArn".to_string(),
        "arn:aws:states:eu-west-1:123456789012:stateMachine:encrypt-cluster".to_string(),
    )]);
    let engine = Engine::new(Definition::parse(&text).unwrap())
        .with_substitutions(&substitutions)
        .unwrap();
    let outcome = engine
        .start(json!({"clusters": [{"x": 1}, {"sourceClusterId": 7}]}))
        .wait()
        .await;
    let Status::Succeeded(output) = outcome.status else {
        panic!("the fleet failed: {:?}", outcome.status);
    };
    assert_eq!(output["failed"], json!([0, 1]));
    assert_eq!(output["results"][0]["error"], "InvalidInput");
}

#[tokio::test]
async fn a_fence_that_cannot_be_confirmed_rolls_back_and_unfences_exactly() {
    let world = World::new();
    world
        .fence_sql
        .refuse_confirmation("1 application session(s) left: session 42 (admin@10.0.0.9, Query)");
    let outcome = world.run(spec("auto")).await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "FenceNotConfirmed");
    assert!(cause.contains("session 42"), "{cause}");
    let states = states_entered(&outcome);
    assert!(
        states.contains(&"UnfenceAfterFailedFence".to_string()),
        "{states:?}"
    );
    assert!(!states.contains(&"Drain".to_string()), "{states:?}");
    assert_eq!(
        world.fence.state("orders"),
        Some(World::original_fence_state())
    );
    assert_eq!(world.fence.saved("orders"), None);
    assert_eq!(world.record(), SOURCE_ENDPOINT);
}

// ---------------------------------------------------------------- one migration per source

const SOURCE_ARN: &str = "arn:aws:rds:eu-west-1:123456789012:cluster:orders";
/// Another execution of the same state machine, for the same source.
const OTHER: &str = "arn:aws:states:local:000000000000:execution:encrypt-cluster:other";

fn lock_record(holder: &str, version: u64) -> aurora_core::ports::LockRecord {
    aurora_core::ports::LockRecord {
        resource: SOURCE_ARN.into(),
        holder: holder.into(),
        lease_expires_at: EPOCH + time::Duration::hours(1),
        released: false,
        version,
    }
}

/// The output of the first `TaskSucceeded` of `state`.
fn task_output(outcome: &Outcome, state: &str) -> Value {
    let mut entered = false;
    for event in &outcome.history {
        if event.event_type == EventType::TaskStateEntered && event.state_name() == Some(state) {
            entered = true;
        }
        if entered && event.event_type == EventType::TaskSucceeded {
            let output = &event.details["output"];
            return output
                .as_str()
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or_else(|| output.clone());
        }
    }
    panic!("{state} never succeeded")
}

#[tokio::test]
async fn the_lock_is_taken_in_preflight_and_released_when_cleanup_ends() {
    let world = World::new();
    let outcome = world.run(spec("auto")).await;
    let Status::Succeeded(output) = &outcome.status else {
        panic!("{:?}", outcome.status)
    };
    let holder = output["lock"]["holder"].as_str().unwrap();
    assert!(holder.contains(":execution:"), "{holder}");
    assert_eq!(output["lock"]["resource"], SOURCE_ARN);
    assert_eq!(output["cleanedUp"]["lock"]["released"], true);
    let record = world.lock.record(SOURCE_ARN).unwrap();
    assert_eq!((record.holder.as_str(), record.released), (holder, true));
}

#[tokio::test]
async fn a_second_execution_for_a_locked_source_is_refused_before_anything_is_created() {
    let world = World::new();
    world.lock.put(lock_record(OTHER, 1));
    let outcome = world.run(spec("auto")).await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "SourceBusy");
    assert!(cause.contains(OTHER), "{cause}");
    assert!(world.clusters.mutations().is_empty());
    assert!(world.replication.mutations().is_empty());
    assert!(world.fence.mutations().is_empty());
    assert!(world.dns.mutations().is_empty());
    assert_eq!(world.lock.record(SOURCE_ARN), Some(lock_record(OTHER, 1)));
}

#[tokio::test]
async fn a_dry_run_reports_the_lock_without_taking_it() {
    let world = World::new();
    world.lock.put(lock_record(OTHER, 1));
    let mut input = spec("auto");
    input["dryRun"] = json!(true);
    let outcome = world.run(input).await;
    let Status::Succeeded(output) = &outcome.status else {
        panic!("{:?}", outcome.status)
    };
    assert_eq!(output["preflight"]["lock"]["free"], false);
    assert_eq!(output["preflight"]["lock"]["holder"], OTHER);
    assert!(world.lock.writes().is_empty());
}

/// GIVEN execution A waiting at the approval gate, whose lock another execution B then holds
/// (A's lease ran out) and which B used to fence and switch the source over;
/// WHEN A is approved, so it fences, fails and rolls back;
/// THEN A's rollback leaves B's fence, DNS and lock exactly as B left them.
#[tokio::test]
async fn a_failing_executions_rollback_leaves_a_source_locked_by_another_execution_untouched() {
    use aurora_core::ports::{Dns, WriteFence};
    let world = World::new();
    let engine = world.engine();
    let execution = engine.start(spec("approval"));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let task = loop {
        assert!(std::time::Instant::now() < deadline, "no approval gate");
        world.tick().await;
        if let Some(task) = execution.pending_tasks().into_iter().next() {
            break task;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let mine = world.lock.record(SOURCE_ARN).unwrap();
    world.lock.put(lock_record(OTHER, mine.version + 1));
    let b_fence = aurora_core::ports::FenceRecord {
        cluster_id: "orders".into(),
        methods: vec![aurora_core::spec::FenceMethod::ReadOnly],
        original_security_group_ids: None,
        fence_security_group_id: None,
        parameter_group: Some("orders-params".into()),
        original_read_only: None,
        fenced_at: EPOCH,
    };
    world.fence.apply(&b_fence).await.unwrap();
    let b_target = "orders-b.cluster-abc.eu-west-1.rds.amazonaws.com";
    world
        .dns
        .upsert_cname("Z0123456789ABCDEFGHIJ", RECORD, b_target, 30)
        .await
        .unwrap();
    let fence_before = (world.fence.state("orders"), world.fence.mutations());
    let dns_before = world.dns.mutations();

    execution
        .send_task_success(&task.token, json!({"approvedBy": "test"}))
        .unwrap();
    while !execution.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            last_states(&execution)
        );
        world.tick().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let outcome = execution.wait().await;

    let (error, cause) = failed(&outcome);
    assert_eq!(error, "SourceBusy");
    assert!(cause.contains(OTHER), "{cause}");
    let states = states_entered(&outcome);
    for state in [
        "FenceWrites",
        "UnfenceAfterFailedFence",
        "CleanupOnRollback",
        "RolledBack",
    ] {
        assert!(states.contains(&state.to_string()), "{state}: {states:?}");
    }
    assert!(!states.contains(&"SwapDns".to_string()), "{states:?}");
    assert_eq!(
        (world.fence.state("orders"), world.fence.mutations()),
        fence_before,
        "B's fence is untouched"
    );
    assert_eq!(world.fence.saved("orders"), Some(b_fence));
    assert_eq!(world.dns.mutations(), dns_before);
    assert_eq!(world.record(), b_target);
    assert_eq!(
        world.lock.record(SOURCE_ARN),
        Some(lock_record(OTHER, mine.version + 1)),
        "A's rollback released nothing of B's"
    );
}

/// A holder whose execution is no longer running (it crashed without releasing) is taken over,
/// and the new execution's history says from whom.
#[tokio::test]
async fn a_crashed_holder_is_taken_over_and_the_takeover_is_in_the_history() {
    let world = World::new();
    let crashed = "arn:aws:states:eu-west-1:123456789012:execution:encrypt-cluster:crashed";
    world.lock.put(lock_record(crashed, 7));
    world
        .lock
        .set_status(crashed, aurora_core::ports::HolderStatus::Ended);
    let outcome = world.run(spec("auto")).await;
    assert!(
        matches!(outcome.status, Status::Succeeded(_)),
        "{:?}",
        outcome.status
    );
    let preflight = task_output(&outcome, "Preflight");
    assert_eq!(
        preflight["lock"]["takenOver"],
        json!({"from": crashed, "reason": "holder-ended"})
    );
    assert_eq!(world.record(), TARGET_ENDPOINT);
}

fn failback_spec(window_hours: u32) -> Value {
    let mut spec = spec("auto");
    spec["failback"] = json!({ "windowHours": window_hours });
    spec
}

impl World {
    /// A world for a failback window: the new cluster can be fenced as the source can (its own
    /// parameter group), the replication back delivers its markers, and the clock reads real
    /// time so that the window's end (a Wait until a timestamp) lies ahead.
    fn with_failback() -> Self {
        let world = Self::new();
        world.fence.set_state(
            "orders-encrypted",
            FenceState {
                security_group_ids: vec!["sg-0123456789abcdef0".into()],
                parameter_group: Some("orders-encrypted-params".into()),
                read_only: None,
            },
        );
        world
            .parameters
            .set("orders-encrypted-params", "read_only", None);
        world
            .parameters
            .use_group("orders-encrypted", "orders-encrypted-params");
        world.fence_sql.replicate("orders-encrypted", "orders");
        world.clock.set(time::OffsetDateTime::now_utc());
        world
    }

    /// Runs to the end; the failback window's question is answered with `answer` (none: the
    /// window runs out), after `before_answer` changed the world.
    async fn run_window(
        &self,
        input: Value,
        answer: Option<Value>,
        before_answer: impl Fn(&World),
    ) -> Outcome {
        let execution: Execution = self.engine().start(input);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !execution.is_finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "execution did not finish: {:?}",
                last_states(&execution)
            );
            self.tick().await;
            for pending in execution.pending_tasks() {
                assert_eq!(pending.state_name, "AwaitFailbackDecision");
                if let Some(answer) = &answer {
                    // Once the replication back runs, as an operator would see in `watch`.
                    let running = self
                        .replication
                        .status(&World::reverse_handle())
                        .await
                        .map(|s| s.state);
                    if running == Ok(ReplicationState::Running) {
                        before_answer(self);
                        execution
                            .send_task_success(&pending.token, answer.clone())
                            .unwrap();
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        execution.wait().await
    }
}

#[tokio::test]
async fn a_failback_window_that_runs_out_leaves_the_switchover_and_removes_both_replications() {
    let world = World::with_failback();
    let outcome = world.run_window(failback_spec(1), None, |_| {}).await;
    let output = succeeded(&outcome);
    assert_eq!(world.record(), TARGET_ENDPOINT);
    assert_eq!(output["window"]["Error"], "FailbackWindowEnded");
    // The replication back started where the new writer was when it took over.
    let takeover = output["drain"]["targetPosition"].clone();
    assert!(takeover.is_object(), "{}", output["drain"]);
    let from = format!(
        "{}:{}",
        takeover["file"].as_str().unwrap(),
        takeover["position"]
    );
    let replication = world.replication.mutations();
    let position = |m: &str| {
        replication
            .iter()
            .position(|r| r == m)
            .unwrap_or_else(|| panic!("{m} not in {replication:?}"))
    };
    assert!(
        position(&format!("stop {MIGRATION}"))
            < position(&format!("ensure_cdc {REVERSE_MIGRATION} from {from}")),
        "the forward replication stops before the one back starts: {replication:?}"
    );
    assert!(
        position(&format!("stop {REVERSE_MIGRATION}"))
            < position(&format!("remove {REVERSE_MIGRATION}"))
    );
    position(&format!("remove {MIGRATION}"));
    // From the new cluster to the old one.
    let reverse = &output["reverse"];
    assert_eq!(reverse["migration"]["handle"]["name"], REVERSE_MIGRATION);
    assert_eq!(
        reverse["restore"]["sourceEndpoint"]["clusterId"],
        "orders-encrypted"
    );
    assert_eq!(reverse["restore"]["targetEndpoint"]["clusterId"], "orders");
    // The old cluster stayed fenced through the window, and stays so.
    assert_ne!(
        world.fence.state("orders"),
        Some(World::original_fence_state())
    );
    let published = events(&world);
    for event in [
        "FailbackWindowOpen",
        "FailbackWindowClosed",
        "EncryptionDone",
    ] {
        assert!(
            published.contains(&event.to_string()),
            "{event}: {published:?}"
        );
    }
    let open = world
        .notifications
        .all()
        .into_iter()
        .find(|n| n.pointer("/Message/event") == Some(&json!("FailbackWindowOpen")))
        .unwrap();
    assert_eq!(open["Message"]["windowEndsAt"], output["reverse"]["endsAt"]);
    let states = states_entered(&outcome);
    assert!(
        states.contains(&"PollReverse".to_string()),
        "the lag back is polled"
    );
    assert!(!states.contains(&"FenceNewCluster".to_string()));
}

#[tokio::test]
async fn a_failback_in_the_window_fences_the_new_cluster_drains_verifies_and_swaps_back() {
    let world = World::with_failback();
    let outcome = world
        .run_window(failback_spec(24), Some(json!({"failback": true})), |_| {})
        .await;
    let (error, _) = failed(&outcome);
    assert_eq!(error, "FailedBack");
    assert_eq!(
        world.record(),
        SOURCE_ENDPOINT,
        "the application is back on the old cluster"
    );
    assert_eq!(
        world.fence.state("orders"),
        Some(World::original_fence_state()),
        "the old cluster is writable again, exactly as it was"
    );
    assert_ne!(
        world
            .fence
            .state("orders-encrypted")
            .and_then(|s| s.read_only),
        None,
        "the new cluster stays fenced"
    );
    let states = states_entered(&outcome);
    let position = |name: &str| {
        states
            .iter()
            .position(|s| s == name)
            .unwrap_or_else(|| panic!("{name} not entered: {states:?}"))
    };
    assert!(
        position("FenceNewCluster") < position("DrainReverse")
            && position("DrainReverse") < position("VerifyReverse")
            && position("VerifyReverse") < position("SwapBack")
            && position("SwapBack") < position("UnfenceOldCluster")
            && position("UnfenceOldCluster") < position("StopReplicationAfterFailback")
            && position("StopReplicationAfterFailback") < position("Cleanup"),
        "{states:?}"
    );
    // The failback's fence was confirmed on the new cluster's writer.
    let fenced: Vec<_> = world
        .fence_sql
        .requests()
        .into_iter()
        .map(|r| r.cluster_id)
        .collect();
    assert_eq!(fenced, vec!["orders", "orders-encrypted"]);
    assert!(
        world.retirement.mutations().is_empty(),
        "both clusters are kept"
    );
    let published = events(&world);
    for event in ["FailbackWindowOpen", "FailbackStarted", "FailedBack"] {
        assert!(
            published.contains(&event.to_string()),
            "{event}: {published:?}"
        );
    }
}

#[tokio::test]
async fn a_failback_that_fails_before_the_swap_back_is_undone_and_the_new_cluster_serves() {
    let world = World::with_failback();
    let outcome = world
        .run_window(
            failback_spec(24),
            Some(json!({"failback": true})),
            |world| {
                world
                    .fence_sql
                    .refuse_confirmation("a session of app@% would not end");
            },
        )
        .await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "FailbackFailed", "{cause}");
    assert_eq!(
        world.record(),
        TARGET_ENDPOINT,
        "the application stays on the new cluster"
    );
    assert_eq!(
        world
            .fence
            .state("orders-encrypted")
            .and_then(|s| s.read_only),
        None,
        "the new cluster is writable again"
    );
    assert_ne!(
        world.fence.state("orders"),
        Some(World::original_fence_state()),
        "the old cluster stays fenced"
    );
    let states = states_entered(&outcome);
    assert!(
        states.contains(&"UnfenceNewCluster".to_string()),
        "{states:?}"
    );
    assert!(!states.contains(&"SwapBack".to_string()), "{states:?}");
    let replication = world.replication.mutations();
    assert!(
        replication.contains(&format!("remove {REVERSE_MIGRATION}")),
        "{replication:?}"
    );
    let failed_event = world
        .notifications
        .all()
        .into_iter()
        .find(|n| n.pointer("/Message/event") == Some(&json!("FailbackFailed")))
        .expect("the failed failback is notified");
    assert_eq!(
        failed_event["Message"]["error"]["Error"],
        "FenceNotConfirmed"
    );
}

#[tokio::test]
async fn a_failure_after_the_swap_back_is_reported_and_not_undone() {
    let world = World::with_failback();
    let outcome = world
        .run_window(
            failback_spec(24),
            Some(json!({"failback": true})),
            |world| {
                // The next stop is the one after the swap back.
                world.replication.fail_next(
                    "stop",
                    PortError::AccessDenied("dms:StopDataMigration".into()),
                );
            },
        )
        .await;
    let (error, _) = failed(&outcome);
    assert_eq!(error, "FailbackIncomplete");
    assert_eq!(world.record(), SOURCE_ENDPOINT, "the swap back stands");
    assert_eq!(
        world.fence.state("orders"),
        Some(World::original_fence_state())
    );
    let published = events(&world);
    assert!(
        published.contains(&"FailbackIncomplete".to_string()),
        "{published:?}"
    );
}

#[tokio::test]
async fn a_replication_back_that_breaks_ends_the_window_and_the_switchover_stands() {
    let world = World::with_failback();
    world.reverse_breaks.store(true, Ordering::SeqCst);
    let outcome = world.run_window(failback_spec(24), None, |_| {}).await;
    let output = succeeded(&outcome);
    assert_eq!(output["window"]["Error"], "MigrationFailed");
    assert!(
        output["window"]["Cause"]
            .as_str()
            .unwrap()
            .contains("Duplicate entry"),
        "{}",
        output["window"]
    );
    assert_eq!(world.record(), TARGET_ENDPOINT);
    let published = events(&world);
    assert!(
        published.contains(&"FailbackUnavailable".to_string()),
        "{published:?}"
    );
    assert!(
        published.contains(&"EncryptionDone".to_string()),
        "{published:?}"
    );
}

#[tokio::test]
async fn a_replication_back_that_cannot_be_created_leaves_the_switchover_without_a_window() {
    let world = World::with_failback();
    world.reverse_refused.store(true, Ordering::SeqCst);
    let outcome = world.run_window(failback_spec(24), None, |_| {}).await;
    let output = succeeded(&outcome);
    assert_eq!(
        output["window"]["Error"], "AccessDenied",
        "{}",
        output["window"]
    );
    assert_eq!(world.record(), TARGET_ENDPOINT);
    let states = states_entered(&outcome);
    assert!(
        !states.contains(&"FailbackWindow".to_string()),
        "{states:?}"
    );
    assert!(
        !states.contains(&"StopReverseReplication".to_string()),
        "{states:?}"
    );
    let published = events(&world);
    assert!(
        published.contains(&"FailbackUnavailable".to_string()),
        "{published:?}"
    );
}
