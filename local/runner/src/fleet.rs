//! The fleet demo: several sandbox clusters migrated at once through
//! `statemachine/encrypt-fleet.asl.json`, whose Map starts one encrypt-cluster child execution
//! per cluster (`states:startExecution.sync:2`, run in-process by the engine), at most
//! `maxConcurrency` at a time, each cluster under its own write load through its own DNS name.
//! Reports each cluster's invariants and write pause, the most children that ran at once, and
//! which indices the fleet reported failed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use asl_engine::{ChildExecution, Definition, Engine, StateMachines, Status};
use async_trait::async_trait;
use aurora_core::binlog::BinlogPosition;
use aurora_core::ports::{
    ChunkDigest, ChunkTable, ChunkVerifier, Key, KeyRange, KeyValue, PortResult, TableDigest,
    TouchedRows, Verifier, VerifyDepth, VerifySide,
};
use aurora_pipeline::{local_substitutions, registry, Notifications, Ports};
use aurora_sandbox::{Sandbox, SandboxConfig, SandboxError, ZONE_ID};
use serde::Serialize;
use serde_json::{json, Value};

use crate::checks;
use crate::demo::{self, DemoError};
use crate::runner;
use crate::sandbox_ports::{cluster_ids, sandbox_ports, SandboxPortSettings};
use crate::timing;
use crate::writers::{self, WriteLoad, WriteLoadConfig, WriteLoadResult};

/// The definition SAM deploys as the fleet state machine.
pub const ENCRYPT_FLEET_ASL: &str = include_str!("../../../statemachine/encrypt-fleet.asl.json");
/// The ARN the fleet starts children of, locally (its `EncryptClusterStateMachineArn`).
pub const LOCAL_CLUSTER_STATE_MACHINE_ARN: &str =
    "arn:aws:states:local:000000000000:stateMachine:encrypt-cluster";

#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub clusters: usize,
    /// The fleet input's `maxConcurrency`.
    pub max_concurrency: u64,
    pub rows: u64,
    /// Writers per cluster.
    pub writers: usize,
    /// Writes per second per cluster.
    pub rate: f64,
    pub time_scale: f64,
    pub dir: Option<PathBuf>,
    pub port: u16,
    pub keep: bool,
    pub warmup: Duration,
    pub cooldown: Duration,
    pub ports: SandboxPortSettings,
    /// Fault injection: the cluster at this index gets a target whose checksums never match
    /// the source, so its child fails at Verify and rolls back.
    pub fail_index: Option<usize>,
}

impl Default for FleetOptions {
    fn default() -> Self {
        let single = demo::DemoOptions::default();
        Self {
            clusters: 3,
            max_concurrency: 2,
            rows: 500,
            writers: 2,
            rate: 60.0,
            time_scale: single.time_scale,
            dir: None,
            port: single.port,
            keep: false,
            warmup: single.warmup,
            cooldown: single.cooldown,
            ports: SandboxPortSettings::default(),
            fail_index: None,
        }
    }
}

/// One cluster of the fleet.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterReport {
    pub index: usize,
    pub source_cluster_id: String,
    pub target_cluster_id: String,
    /// Its child execution's status.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
    pub invariants_hold: bool,
    pub failed_invariants: Vec<String>,
    pub acknowledged_inserts: usize,
    /// Where the writes were checked: the target after a swap, the source after a rollback.
    pub writes_checked_on: String,
    pub lost_writes: usize,
    pub duplicate_writes: usize,
    pub checksums_match: bool,
    pub target_encrypted_at_rest: bool,
    /// The longest gap between acknowledged writes that overlaps the fenced window.
    pub write_unavailable_ms: Option<f64>,
    /// From FenceWrites scheduled to SwapDns succeeded (or to the child's end after a
    /// rollback); none when the child never fenced.
    pub fenced_window_ms: Option<f64>,
    pub state_transitions: u64,
}

/// The fleet demo's report: `--json` prints it as is.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetReport {
    /// The fleet execution's status.
    pub status: String,
    pub invariants_hold: bool,
    pub failed_invariants: Vec<String>,
    pub max_concurrency: u64,
    /// The most child executions running at the same time.
    pub max_concurrent_children: usize,
    /// The indices the fleet's output lists as failed.
    pub failed_indices: Vec<u64>,
    pub clusters: Vec<ClusterReport>,
    pub rows: u64,
    pub writers_per_cluster: usize,
    pub rate_writes_per_second_per_cluster: f64,
    pub time_scale: f64,
    /// Fleet and children together.
    pub state_transitions: u64,
    pub step_functions_cost_usd: f64,
    pub total_ms: f64,
    pub sandbox_dir: String,
}

/// A cluster set up for the demo.
struct Member {
    source: String,
    target: String,
    record: String,
    load: WriteLoad,
}

/// The source cluster ids: `orders-1`, `orders-2`, …
pub fn source_id(index: usize) -> String {
    format!("{}-{}", demo::SOURCE, index + 1)
}

/// The DNS name the application of cluster `source` writes through.
pub fn record_name(source: &str) -> String {
    format!("{source}.sandbox.internal")
}

/// The demo's spec for one cluster of the fleet.
pub fn spec(source: &str) -> Value {
    let mut spec = demo::spec();
    spec["sourceClusterId"] = json!(source);
    spec["targetClusterId"] = json!(format!("{source}-encrypted"));
    spec["dns"]["recordName"] = json!(record_name(source));
    spec
}

/// Runs the fleet demo; the sandbox is destroyed afterwards unless asked to keep it.
pub async fn run_fleet_demo(options: FleetOptions) -> Result<FleetReport, DemoError> {
    let dir = options.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "aurora-encrypt-fleet-{}-{}",
            std::process::id(),
            time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000
        ))
    });
    let sandbox = Sandbox::open(SandboxConfig {
        dir,
        port: options.port,
    })?;
    let outcome = fleet(&sandbox, &options).await;
    if options.keep {
        sandbox.detach();
    } else {
        let destroyed = sandbox.destroy().await;
        if outcome.is_ok() {
            destroyed?;
        }
    }
    outcome
}

async fn fleet(sandbox: &Sandbox, options: &FleetOptions) -> Result<FleetReport, DemoError> {
    let started = Instant::now();
    let mut members = Vec::new();
    for index in 0..options.clusters {
        let source = source_id(index);
        let record = sandbox.create_source_cluster(&source).await?;
        sandbox.seed_sample(&source, options.rows).await?;
        writers::create_table(sandbox, &source).await?;
        sandbox.prepare_source_for_migration(&source).await?;
        let name = record_name(&source);
        aurora_core::ports::Dns::upsert_cname(
            &sandbox.dns(),
            ZONE_ID,
            &name,
            &record.host.to_string(),
            aurora_sandbox::APP_RECORD_TTL,
        )
        .await
        .map_err(|e| SandboxError::InvalidState(format!("pointing {name} at {source}: {e}")))?;
        let load = WriteLoad::start_through(
            sandbox,
            WriteLoadConfig {
                writers: options.writers,
                rate_per_second: options.rate,
                seeded_rows: options.rows,
                ..WriteLoadConfig::default()
            },
            &name,
        )?;
        members.push(Member {
            target: format!("{source}-encrypted"),
            source,
            record: name,
            load,
        });
    }
    // From here on a Route 53 change takes AWS's propagation time, in the run's time.
    sandbox
        .set_dns_propagation(aurora_sandbox::dns::AWS_PROPAGATION.mul_f64(options.time_scale))?;
    tokio::time::sleep(options.warmup).await;

    let machines = child_machines(sandbox, options)?;
    let fleet = fleet_engine(&machines)?;
    let input = json!({
        "clusters": members.iter().map(|m| spec(&m.source)).collect::<Vec<_>>(),
        "maxConcurrency": options.max_concurrency,
    });
    let outcome = fleet.run(input).await;
    tokio::time::sleep(options.cooldown).await;
    let mut loads = Vec::new();
    for member in members {
        let writes = member.load.stop().await;
        loads.push((member.source, member.target, member.record, writes));
    }

    let children = machines.finished();
    let output = outcome.output().cloned().unwrap_or(Value::Null);
    let mut clusters = Vec::new();
    for (index, (source, target, record, writes)) in loads.iter().enumerate() {
        let child = children
            .iter()
            .find(|c| c.input["sourceClusterId"] == json!(source));
        clusters.push(cluster_report(sandbox, index, source, target, record, writes, child).await);
    }
    let max_concurrent_children = max_overlap(&children);
    let failed_indices: Vec<u64> = output["failed"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let status = status_name(&outcome.status);
    let mut failed = Vec::new();
    if status != "SUCCEEDED" {
        failed.push(format!("the fleet execution ended {status}"));
    }
    if max_concurrent_children as u64 > options.max_concurrency {
        failed.push(format!(
            "{max_concurrent_children} children ran at once, more than maxConcurrency {}",
            options.max_concurrency
        ));
    }
    for c in &clusters {
        let expected_failure = options.fail_index == Some(c.index);
        let listed = failed_indices.contains(&(c.index as u64));
        if listed != (c.status != "SUCCEEDED") {
            failed.push(format!(
                "cluster {} ended {} but the fleet {} it as failed",
                c.index,
                c.status,
                if listed { "lists" } else { "does not list" }
            ));
        }
        for f in &c.failed_invariants {
            // The injected failure is expected; its cluster must still lose nothing.
            if expected_failure && f.starts_with("the child execution ended") {
                continue;
            }
            failed.push(format!("cluster {}: {f}", c.index));
        }
        if expected_failure && c.status == "SUCCEEDED" {
            failed.push(format!(
                "cluster {} was made to fail but succeeded",
                c.index
            ));
        }
    }
    let transitions = outcome.state_transitions
        + children
            .iter()
            .map(|c| c.outcome.state_transitions)
            .sum::<u64>();
    Ok(FleetReport {
        status,
        invariants_hold: failed.is_empty(),
        failed_invariants: failed,
        max_concurrency: options.max_concurrency,
        max_concurrent_children,
        failed_indices,
        clusters,
        rows: options.rows,
        writers_per_cluster: options.writers,
        rate_writes_per_second_per_cluster: options.rate,
        time_scale: options.time_scale,
        state_transitions: transitions,
        step_functions_cost_usd: transitions as f64 * 0.025 / 1000.0,
        total_ms: round(started.elapsed().as_secs_f64() * 1000.0),
        sandbox_dir: sandbox.dir().display().to_string(),
    })
}

/// encrypt-cluster registered for the fleet: each child gets the sandbox's ports for the
/// clusters its spec names.
fn child_machines(sandbox: &Sandbox, options: &FleetOptions) -> Result<StateMachines, DemoError> {
    let notifications = Notifications::default();
    let any = sandbox_ports(sandbox, demo::SOURCE, demo::TARGET, options.ports);
    let base = runner::engine(any, notifications.clone(), options.time_scale)?;
    let failing = options.fail_index.map(source_id);
    let sandbox = sandbox.clone();
    let settings = options.ports;
    let machines = StateMachines::new();
    machines.register_with(LOCAL_CLUSTER_STATE_MACHINE_ARN, move |input| {
        let (source, target) = cluster_ids(input).unwrap_or_default();
        let mut ports: Ports = sandbox_ports(&sandbox, &source, &target, settings);
        if failing.as_deref() == Some(source.as_str()) {
            ports.target_verifier = Arc::new(Skewed(ports.target_verifier.clone()));
        }
        base.clone()
            .with_registry(registry(Arc::new(ports), notifications.clone()))
    });
    Ok(machines)
}

fn fleet_engine(machines: &StateMachines) -> Result<Engine, DemoError> {
    let unusable = |e: String| DemoError::Run(runner::RunError::Definition(e));
    let definition = Definition::parse(ENCRYPT_FLEET_ASL).map_err(|e| unusable(e.to_string()))?;
    let mut substitutions: HashMap<String, String> = local_substitutions();
    substitutions.insert(
        "EncryptClusterStateMachineArn".into(),
        LOCAL_CLUSTER_STATE_MACHINE_ARN.into(),
    );
    Ok(Engine::new(definition)
        .with_name("encrypt-fleet")
        .with_substitutions(&substitutions)
        .map_err(|e| unusable(e.to_string()))?
        .with_state_machines(machines.clone()))
}

/// A target verifier that counts one row more in the first table, and in every chunk, than
/// there is: the injected fault that makes one child fail verification (and roll back).
struct Skewed(Arc<dyn VerifySide>);

#[async_trait]
impl Verifier for Skewed {
    async fn table_digests(
        &self,
        databases: &[String],
        depth: VerifyDepth,
    ) -> PortResult<Vec<TableDigest>> {
        let mut digests = self.0.table_digests(databases, depth).await?;
        if let Some(first) = digests.first_mut() {
            first.rows += 1;
        }
        Ok(digests)
    }

    async fn accounts(&self) -> PortResult<Vec<aurora_core::ports::Account>> {
        self.0.accounts().await
    }

    async fn settings(&self) -> PortResult<aurora_core::ports::ServerSettings> {
        self.0.settings().await
    }

    async fn smoke_query(
        &self,
        sql: &str,
        timeout: std::time::Duration,
    ) -> PortResult<aurora_core::ports::SmokeOutcome> {
        self.0.smoke_query(sql, timeout).await
    }
}

#[async_trait]
impl ChunkVerifier for Skewed {
    async fn chunk_tables(&self, databases: &[String]) -> PortResult<Vec<ChunkTable>> {
        self.0.chunk_tables(databases).await
    }

    async fn chunk_upper(
        &self,
        table: &ChunkTable,
        after: Option<&[KeyValue]>,
        rows: u64,
    ) -> PortResult<Option<Key>> {
        self.0.chunk_upper(table, after, rows).await
    }

    async fn digest_range(&self, table: &ChunkTable, range: &KeyRange) -> PortResult<ChunkDigest> {
        let mut digest = self.0.digest_range(table, range).await?;
        digest.rows += 1;
        Ok(digest)
    }

    async fn digest_keys(&self, table: &ChunkTable, keys: &[Key]) -> PortResult<ChunkDigest> {
        self.0.digest_keys(table, keys).await
    }

    async fn binlog_position(&self) -> PortResult<BinlogPosition> {
        self.0.binlog_position().await
    }

    async fn touched_rows(
        &self,
        from: &BinlogPosition,
        to: &BinlogPosition,
        tables: &[ChunkTable],
        limit: usize,
    ) -> PortResult<TouchedRows> {
        self.0.touched_rows(from, to, tables, limit).await
    }
}

/// The most intervals `[start, stop]` of children that overlap at one instant.
pub fn max_overlap(children: &[ChildExecution]) -> usize {
    let mut edges: Vec<(time::OffsetDateTime, i32)> = children
        .iter()
        .flat_map(|c| [(c.start, 1), (c.stop, -1)])
        .collect();
    // An end sorts before a start at the same instant: touching intervals do not overlap.
    edges.sort_by_key(|&(at, delta)| (at, delta));
    let (mut running, mut most) = (0i32, 0i32);
    for (_, delta) in edges {
        running += delta;
        most = most.max(running);
    }
    most as usize
}

fn status_name(status: &Status) -> String {
    match status {
        Status::Succeeded(_) => "SUCCEEDED",
        Status::Failed { .. } => "FAILED",
        Status::Aborted => "ABORTED",
    }
    .to_string()
}

async fn cluster_report(
    sandbox: &Sandbox,
    index: usize,
    source: &str,
    target: &str,
    record: &str,
    writes: &WriteLoadResult,
    child: Option<&ChildExecution>,
) -> ClusterReport {
    let mut failed = Vec::new();
    let (status, error) = match child.map(|c| &c.outcome.status) {
        Some(Status::Succeeded(_)) => ("SUCCEEDED".to_string(), None),
        Some(Status::Failed { error, .. }) => ("FAILED".to_string(), Some(error.clone())),
        Some(Status::Aborted) => ("ABORTED".to_string(), None),
        None => ("NOT_STARTED".to_string(), None),
    };
    if status != "SUCCEEDED" {
        failed.push(format!("the child execution ended {status}"));
    }
    // Writes are checked where the application's name leads now.
    let checked_on = match sandbox.dns().lookup(ZONE_ID, record) {
        Ok(Some(r)) if sandbox.endpoint(target).is_some_and(|e| e.host == r.host) => target,
        _ => source,
    };
    let (lost, duplicates) =
        match checks::check_writes(sandbox, checked_on, &writes.inserted_ids()).await {
            Ok(c) => (c.lost.len(), c.duplicates.len()),
            Err(e) => {
                failed.push(format!("writes could not be checked on {checked_on}: {e}"));
                (0, 0)
            }
        };
    if lost > 0 {
        failed.push(format!(
            "{lost} acknowledged writes are missing on {checked_on}"
        ));
    }
    if duplicates > 0 {
        failed.push(format!(
            "{duplicates} writes are duplicated on {checked_on}"
        ));
    }
    let history = child
        .map(|c| c.outcome.history.as_slice())
        .unwrap_or_default();
    let output = child.and_then(|c| c.outcome.output());
    let verify = output.and_then(|o| o.get("verify"));
    let checksums_match = verify
        .and_then(|v| v.get("verified"))
        .and_then(Value::as_bool)
        == Some(true);
    let encrypted = status == "SUCCEEDED"
        && checks::scan_at_rest(sandbox, source, target).is_ok_and(|a| a.target_encrypted());
    if status == "SUCCEEDED" {
        if !checksums_match {
            failed.push("the Verify step did not confirm equal checksums".into());
        }
        if !encrypted {
            failed.push("plaintext found in the target's files (or none in the source's)".into());
        }
    }
    let fence = timing::first_scheduled(history, "FenceWrites");
    // After a rollback there is no swap: the fence lasts until the child's end at the latest.
    let swap = timing::last_succeeded(history, "SwapDns").or(child.map(|c| c.stop));
    let times: Vec<_> = writes.acks.iter().map(|a| a.at).collect();
    let gap = match (fence, swap) {
        (Some(f), Some(s)) => checks::longest_gap(&times, f, s),
        _ => None,
    };
    ClusterReport {
        index,
        source_cluster_id: source.to_string(),
        target_cluster_id: target.to_string(),
        status,
        error,
        execution_arn: child.map(|c| c.execution_arn.clone()),
        invariants_hold: failed.is_empty(),
        failed_invariants: failed,
        acknowledged_inserts: writes.acks.iter().filter(|a| a.id.is_some()).count(),
        writes_checked_on: checked_on.to_string(),
        lost_writes: lost,
        duplicate_writes: duplicates,
        checksums_match,
        target_encrypted_at_rest: encrypted,
        write_unavailable_ms: gap.map(|g| round(g.ms)),
        fenced_window_ms: match (fence, swap) {
            (Some(f), Some(s)) => Some(round((s - f).whole_microseconds() as f64 / 1000.0)),
            _ => None,
        },
        state_transitions: child.map_or(0, |c| c.outcome.state_transitions),
    }
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}
