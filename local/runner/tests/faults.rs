//! Faults on the sandbox, real MariaDB servers, the real state machine on the local engine: each
//! failure before the swap rolls back, leaves the source writable, and loses no acknowledged
//! write; a rollback can be followed by a successful run; a record already migrated is refused.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use asl_engine::{Execution, Outcome, Status};
use async_trait::async_trait;
use aurora_core::errors::PortError;
use aurora_core::ports::{ChangeStatus, DnsChange, DnsRecord, PortResult};
use aurora_local::demo::{self, SOURCE, TARGET};
use aurora_local::writers::{self, WriteLoad, WriteLoadConfig};
use aurora_local::{runner, sandbox_ports, SandboxPortSettings};
use aurora_pipeline::{Notifications, Ports};
use aurora_sandbox::{Sandbox, SandboxDns, APP_RECORD, ZONE_ID};
use mysql_async::prelude::Queryable;
use serde_json::{json, Value};

const TIME_SCALE: f64 = 0.01;
const ROWS: u64 = 100;

/// The demo's spec, asking for approval (the faults are injected at the gate) and deleting the
/// target on rollback (so a re-run restores afresh).
fn spec(mode: &str) -> Value {
    let mut spec = demo::spec();
    spec["switchover"]["mode"] = json!(mode);
    spec["cleanup"] = json!({"deleteTargetOnRollback": true});
    spec
}

async fn source_with_writers(sandbox: &Sandbox) -> WriteLoad {
    common::prepared_source(sandbox, ROWS).await;
    WriteLoad::start(
        sandbox,
        WriteLoadConfig {
            writers: 2,
            rate_per_second: 60.0,
            seeded_rows: ROWS,
            ..WriteLoadConfig::default()
        },
    )
    .unwrap()
}

fn start(ports: Ports, spec: Value) -> Execution {
    runner::engine(ports, Notifications::default(), TIME_SCALE)
        .unwrap()
        .start(spec)
}

fn ports(sandbox: &Sandbox) -> Ports {
    sandbox_ports(sandbox, SOURCE, TARGET, SandboxPortSettings::default())
}

/// Waits for the approval gate, runs `fault`, approves.
async fn at_the_gate<F: std::future::Future<Output = ()>>(
    execution: Execution,
    fault: F,
) -> Outcome {
    let task = tokio::time::timeout(Duration::from_secs(120), execution.next_pending_task())
        .await
        .expect("the run reaches the approval gate");
    fault.await;
    execution
        .send_task_success(&task.token, json!({"approved": true}))
        .unwrap();
    execution.wait().await
}

fn failed_with(outcome: &Outcome) -> String {
    match &outcome.status {
        Status::Failed { error, .. } => error.clone(),
        other => panic!("expected a failed (rolled back) execution, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replication_broken_during_cdc_rolls_back_and_keeps_every_acknowledged_write() {
    if !common::mariadb_available("replication broken during CDC") {
        return;
    }
    common::with_sandbox(common::sandbox("broken-cdc"), |sandbox| async move {
        let load = source_with_writers(&sandbox).await;
        let execution = start(ports(&sandbox), spec("approval"));
        // GIVEN a row on the target that the source then inserts too: the replica's SQL thread
        // stops on a duplicate key.
        let outcome = at_the_gate(execution, async {
            let row = "INSERT INTO shop.customers (id, email, name, notes, created_at) \
                       VALUES (999999, 'conflict@example.test', 'c', 'n', NOW())";
            common::admin_query(&sandbox, TARGET, row).await;
            common::admin_query(&sandbox, SOURCE, row).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let writes = load.stop().await;
        assert_eq!(failed_with(&outcome), "MigrationFailed");
        assert!(!common::entered(&outcome, "FenceWrites"), "never fenced");
        assert!(common::entered(&outcome, "CleanupOnRollback"));
        common::assert_source_serves_everything(&sandbox, &writes).await;
        assert!(
            sandbox.endpoint(TARGET).is_none(),
            "the target was deleted on rollback as asked"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn target_killed_before_the_swap_rolls_back_and_leaves_the_source_writable() {
    if !common::mariadb_available("target killed before the swap") {
        return;
    }
    common::with_sandbox(common::sandbox("killed-target"), |sandbox| async move {
        let load = source_with_writers(&sandbox).await;
        let execution = start(ports(&sandbox), spec("approval"));
        let outcome = at_the_gate(execution, async {
            sandbox.kill_cluster(TARGET).await.unwrap();
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let writes = load.stop().await;
        let error = failed_with(&outcome);
        assert!(
            ["Transient", "MigrationFailed"].contains(&error.as_str()),
            "{error}"
        );
        assert!(!common::entered(&outcome, "SwapDns"));
        assert!(common::entered(&outcome, "NotifyRolledBack"));
        common::assert_source_serves_everything(&sandbox, &writes).await;
    })
    .await;
}

/// Route 53 refusing the change to the target (the revert to the source still works).
struct RefusingDns {
    inner: SandboxDns,
    source_host: String,
}

#[async_trait]
impl aurora_core::ports::Dns for RefusingDns {
    async fn resolve(&self, zone_id: &str, name: &str) -> PortResult<Option<DnsRecord>> {
        self.inner.resolve(zone_id, name).await
    }
    async fn upsert_cname(
        &self,
        zone_id: &str,
        name: &str,
        value: &str,
        ttl_seconds: i64,
    ) -> PortResult<DnsChange> {
        if value != self.source_host {
            return Err(PortError::AccessDenied(format!(
                "not allowed to point {name} at {value}"
            )));
        }
        self.inner
            .upsert_cname(zone_id, name, value, ttl_seconds)
            .await
    }
    async fn change_status(&self, change_id: &str) -> PortResult<ChangeStatus> {
        self.inner.change_status(change_id).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_dns_swap_unfences_the_source_which_keeps_serving_and_a_rerun_succeeds() {
    if !common::mariadb_available("DNS swap fails") {
        return;
    }
    common::with_sandbox(common::sandbox("dns-fails"), |sandbox| async move {
        let load = source_with_writers(&sandbox).await;
        let mut refusing = ports(&sandbox);
        refusing.dns = Arc::new(RefusingDns {
            inner: sandbox.dns(),
            source_host: sandbox.endpoint(SOURCE).unwrap().host,
        });
        // WHEN the swap is refused after the fence
        let outcome = start(refusing, spec("auto")).wait().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let writes = load.stop().await;
        // THEN the run rolls back through the unfence and the source serves again
        assert_eq!(failed_with(&outcome), "AccessDenied");
        assert!(common::entered(&outcome, "FenceWrites"));
        assert!(common::entered(&outcome, "UnfenceWrites"));
        assert!(
            writes.errors.read_only > 0,
            "the writers met the fence: {:?}",
            writes.errors
        );
        common::assert_source_serves_everything(&sandbox, &writes).await;

        // AND a second run with a working DNS succeeds
        let load = WriteLoad::start(
            &sandbox,
            WriteLoadConfig {
                writers: 2,
                rate_per_second: 60.0,
                seeded_rows: ROWS,
                id_offset: 1_000_000,
                ..WriteLoadConfig::default()
            },
        )
        .unwrap();
        let outcome = start(ports(&sandbox), spec("auto")).wait().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let second = load.stop().await;
        assert!(
            matches!(outcome.status, Status::Succeeded(_)),
            "{:?}",
            outcome.status
        );
        let target_host = sandbox.endpoint(TARGET).unwrap().host;
        assert_eq!(
            sandbox
                .dns()
                .lookup(ZONE_ID, APP_RECORD)
                .unwrap()
                .unwrap()
                .host,
            target_host
        );
        let mut acked = writes.inserted_ids();
        acked.extend(second.inserted_ids());
        common::assert_every_write_on(&sandbox, TARGET, &acked).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_run_on_a_migrated_record_is_refused_and_changes_nothing() {
    if !common::mariadb_available("second run on a migrated record") {
        return;
    }
    common::with_sandbox(common::sandbox("second-run"), |sandbox| async move {
        let load = source_with_writers(&sandbox).await;
        let first = start(ports(&sandbox), spec("auto")).wait().await;
        load.stop().await;
        assert!(
            matches!(first.status, Status::Succeeded(_)),
            "{:?}",
            first.status
        );
        let registry = std::fs::read_to_string(sandbox.dir().join("sandbox.json")).unwrap();
        let zone = std::fs::read_to_string(sandbox.dir().join("dns/sandbox.json")).unwrap();

        let second = start(ports(&sandbox), spec("auto")).wait().await;
        let error = failed_with(&second);
        assert!(
            ["DnsRecordNotOnSource", "TargetClusterTaken"].contains(&error.as_str()),
            "{error}"
        );
        assert!(common::entered(&second, "NotifyPreflightFailed"));
        assert!(!common::entered(&second, "Snapshot"));
        assert_eq!(
            std::fs::read_to_string(sandbox.dir().join("sandbox.json")).unwrap(),
            registry,
            "no cluster, snapshot or fence changed"
        );
        assert_eq!(
            std::fs::read_to_string(sandbox.dir().join("dns/sandbox.json")).unwrap(),
            zone,
            "the record still leads to the target"
        );
    })
    .await;
}

/// A writer as the privileged user (bypasses `read_only`) that reconnects the moment it is cut
/// off, until `stop` is set.
fn reconnecting_privileged_writer(
    sandbox: &Sandbox,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    let endpoint = sandbox.endpoint(SOURCE).unwrap();
    let credentials = sandbox.privileged_app_credentials().unwrap();
    tokio::spawn(async move {
        let mut written = 0;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let opts = mysql_async::OptsBuilder::default()
                .ip_or_hostname(endpoint.host.clone())
                .tcp_port(endpoint.port as u16)
                .user(Some(credentials.user.clone()))
                .pass(Some(credentials.password.clone()))
                .prefer_socket(false);
            let Ok(mut conn) = mysql_async::Conn::new(opts).await else {
                continue;
            };
            while !stop.load(std::sync::atomic::Ordering::SeqCst)
                && conn
                    .query_drop("INSERT INTO shop.audit_log VALUES (NOW(6), 'admin', 'bypass')")
                    .await
                    .is_ok()
            {
                written += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        written
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fence_that_cannot_be_confirmed_rolls_back_and_leaves_the_source_writable() {
    if !common::mariadb_available("fence not confirmed") {
        return;
    }
    common::with_sandbox(common::sandbox("fence-unconfirmed"), |sandbox| async move {
        let load = source_with_writers(&sandbox).await;
        sandbox.ensure_privileged_app_user(SOURCE).await.unwrap();
        let execution = start(ports(&sandbox), spec("approval"));
        // GIVEN, after preflight, a privileged writer that read_only does not stop and that
        // reconnects as soon as its session is ended (no security group in a `read-only` fence)
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut privileged = None;
        let outcome = at_the_gate(execution, async {
            privileged = Some(reconnecting_privileged_writer(&sandbox, stop.clone()));
            tokio::time::sleep(Duration::from_millis(200)).await;
        })
        .await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let bypassing = privileged.unwrap().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let writes = load.stop().await;
        // THEN the fence is not confirmed, nothing drains, and the run rolls back
        assert_eq!(failed_with(&outcome), "FenceNotConfirmed");
        assert!(bypassing > 0, "the privileged writer wrote");
        assert!(common::entered(&outcome, "UnfenceAfterFailedFence"));
        assert!(!common::entered(&outcome, "Drain"));
        assert!(!common::entered(&outcome, "SwapDns"));
        common::assert_source_serves_everything(&sandbox, &writes).await;
    })
    .await;
}

/// A privileged writer (one `read_only` does not stop, as Aurora's master user) keeps pooled
/// connections through the application endpoint across a `security-group` + `read-only` fence:
/// the fence ends its sessions, the security group keeps it from opening new ones, its writes
/// fail until the swap, and none it was told succeeded is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_privileged_writer_pooled_across_the_fence_is_cut_off_and_loses_nothing() {
    if !common::mariadb_available("privileged pooled writer") {
        return;
    }
    common::with_sandbox(common::sandbox("privileged-pooled"), |sandbox| async move {
        common::prepared_source(&sandbox, ROWS).await;
        sandbox.ensure_privileged_app_user(SOURCE).await.unwrap();
        let load = WriteLoad::start(
            &sandbox,
            WriteLoadConfig {
                writers: 2,
                rate_per_second: 100.0,
                seeded_rows: ROWS,
                privileged: true,
                time_scale: TIME_SCALE,
                connect_timeout: writers::scaled_connect_timeout(TIME_SCALE),
                ..WriteLoadConfig::default()
            },
        )
        .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut spec = spec("auto");
        demo::fence_with_security_group(&mut spec);
        let outcome = start(ports(&sandbox), spec).wait().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let writes = load.stop().await;

        let output = outcome.output().expect("the run succeeded");
        let confirmation = &output["fence"]["confirmation"];
        assert!(
            confirmation["sessionsEnded"].as_u64() > Some(0),
            "the pooled sessions were ended: {confirmation}"
        );
        assert!(
            writes.errors.connection > 0,
            "cut off, and refused when reconnecting: {:?}",
            writes.errors
        );
        let fenced = outcome
            .history
            .iter()
            .find(|e| {
                e.event_type.as_str() == "TaskStateExited" && e.state_name() == Some("FenceWrites")
            })
            .expect("FenceWrites ended")
            .timestamp;
        let source_host = sandbox.endpoint(SOURCE).unwrap().host;
        let after_fence: Vec<_> = writes
            .acks
            .iter()
            .filter(|a| a.host == source_host && a.at >= fenced)
            .collect();
        assert!(
            after_fence.is_empty(),
            "no write reached the fenced source: {after_fence:?}"
        );
        assert!(
            writes.acks.iter().any(|a| a.host != source_host),
            "the writers moved to the target"
        );
        common::assert_every_write_on(&sandbox, TARGET, &writes.inserted_ids()).await;
    })
    .await;
}

/// The source's fence, which also freezes the target's applier the moment the source is fenced
/// (`FLUSH TABLES WITH READ LOCK` held on the target: replication still reads as running, but
/// nothing more is applied) until the fence is lifted.
struct TargetFreezesAtTheFence {
    inner: Arc<dyn aurora_core::ports::WriteFence>,
    sandbox: Sandbox,
    lock: tokio::sync::Mutex<Option<mysql_async::Conn>>,
}

#[async_trait]
impl aurora_core::ports::WriteFence for TargetFreezesAtTheFence {
    async fn current(&self, cluster_id: &str) -> PortResult<aurora_core::ports::FenceState> {
        self.inner.current(cluster_id).await
    }
    async fn saved_record(
        &self,
        cluster_id: &str,
    ) -> PortResult<Option<aurora_core::ports::FenceRecord>> {
        self.inner.saved_record(cluster_id).await
    }
    async fn apply(&self, record: &aurora_core::ports::FenceRecord) -> PortResult<()> {
        let mut conn = self.sandbox.admin_conn(TARGET).await.unwrap();
        conn.query_drop("FLUSH TABLES WITH READ LOCK")
            .await
            .unwrap();
        *self.lock.lock().await = Some(conn);
        self.inner.apply(record).await
    }
    async fn lift(&self, record: &aurora_core::ports::FenceRecord) -> PortResult<()> {
        if let Some(mut conn) = self.lock.lock().await.take() {
            conn.query_drop("UNLOCK TABLES").await.unwrap();
            let _ = conn.disconnect().await;
        }
        self.inner.lift(record).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_marker_that_never_reaches_the_target_rolls_back_unfenced_and_loses_nothing() {
    if !common::mariadb_available("marker never arrives") {
        return;
    }
    common::with_sandbox(common::sandbox("marker-stalled"), |sandbox| async move {
        let load = source_with_writers(&sandbox).await;
        let mut ports = ports(&sandbox);
        ports.fence = Arc::new(TargetFreezesAtTheFence {
            inner: ports.fence.clone(),
            sandbox: sandbox.clone(),
            lock: tokio::sync::Mutex::new(None),
        });
        let mut spec = spec("auto");
        // The shortest drain allowed; the target reads as replicating, with a latency of 0.
        spec["switchover"]["drainTimeoutSeconds"] = json!(10);
        let outcome = start(ports, spec).wait().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let writes = load.stop().await;
        assert_eq!(failed_with(&outcome), "LagNotConverging");
        assert!(common::entered(&outcome, "Drain"));
        assert!(common::entered(&outcome, "UnfenceWrites"));
        assert!(!common::entered(&outcome, "SwapDns"));
        common::assert_source_serves_everything(&sandbox, &writes).await;
    })
    .await;
}

/// A failback window whose replication back breaks (someone wrote to the old cluster around the
/// fence, and the new cluster then writes the same key): the break is reported, the window ends
/// at once instead of at its time, and the switchover stands with every write on the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replication_back_that_breaks_ends_the_window_and_the_switchover_stands() {
    if !common::mariadb_available("replication back broken during the failback window") {
        return;
    }
    common::with_sandbox(common::sandbox("broken-reverse"), |sandbox| async move {
        let load = source_with_writers(&sandbox).await;
        sandbox
            .set_dns_propagation(aurora_sandbox::dns::AWS_PROPAGATION.mul_f64(TIME_SCALE))
            .unwrap();
        let mut spec = spec("auto");
        spec["failback"] = json!({"windowHours": 1});
        let notifications = Notifications::default();
        let execution = runner::engine(ports(&sandbox), notifications.clone(), TIME_SCALE)
            .unwrap()
            .start(spec);
        // Once the window is open and the replication back has been read once.
        let polled = |execution: &Execution| {
            execution.history().iter().any(|e| {
                e.event_type == asl_engine::EventType::TaskStateExited
                    && e.state_name() == Some("PollReverse")
            })
        };
        tokio::time::timeout(Duration::from_secs(120), async {
            while !polled(&execution) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the failback window opens");
        let opened = std::time::Instant::now();
        // GIVEN a row written on the old cluster behind the fence's back (a user read_only
        // does not stop), and the same key then written on the new one: the old cluster's
        // replica SQL thread stops on a duplicate key.
        let row = "INSERT INTO shop.customers (id, email, name, notes, created_at) \
                   VALUES (999999, 'conflict@example.test', 'c', 'n', NOW())";
        common::admin_query(&sandbox, SOURCE, row).await;
        common::admin_query(&sandbox, TARGET, row).await;
        let outcome = tokio::time::timeout(Duration::from_secs(120), execution.wait())
            .await
            .expect("the run ends");
        let writes = load.stop().await;
        let output = match &outcome.status {
            Status::Succeeded(output) => output.clone(),
            other => panic!("the switchover stands: expected success, got {other:?}"),
        };
        assert_eq!(
            output["window"]["Error"], "MigrationFailed",
            "{}",
            output["window"]
        );
        assert!(
            output["window"]["Cause"]
                .as_str()
                .unwrap()
                .contains("Duplicate"),
            "{}",
            output["window"]
        );
        // The window (36 s, scaled) ended with the break, not at its time.
        assert!(
            opened.elapsed() < Duration::from_secs(30),
            "{:?}",
            opened.elapsed()
        );
        let events: Vec<_> = notifications
            .all()
            .iter()
            .filter_map(|n| {
                n.pointer("/Message/event")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .collect();
        assert!(events.contains(&"FailbackUnavailable".into()), "{events:?}");
        assert!(events.contains(&"EncryptionDone".into()), "{events:?}");
        // The application stays on the encrypted cluster, with every acknowledged write.
        let target_host = sandbox.endpoint(TARGET).unwrap().host;
        let resolved = sandbox.dns().lookup(ZONE_ID, APP_RECORD).unwrap().unwrap();
        assert_eq!(resolved.host, target_host);
        common::assert_every_write_on(&sandbox, TARGET, &writes.inserted_ids()).await;
        assert!(common::entered(&outcome, "StopReverseReplication"));
        assert!(!common::entered(&outcome, "FenceNewCluster"));
    })
    .await;
}
