//! The demo: a real migration of a live, written-to database to an encrypted copy, on one
//! machine. Brings a sandbox up (source seeded with the sample schema, whose rows carry the
//! plaintext marker), starts the writers, runs `encrypt-cluster.asl.json` on the local engine
//! (switchover `auto`, scaled waits), keeps writing a moment after the switchover, stops the
//! writers, checks the invariants and reports. The sandbox is destroyed afterwards unless
//! asked to keep it, whatever happened.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use asl_engine::{EventType, HistoryEvent, Status};
use aurora_core::ports::ClusterParameters;
use aurora_sandbox::{Sandbox, SandboxConfig, SandboxError};
use serde::Serialize;
use serde_json::{json, Value};

use crate::checks::{self, AtRest, WriteCheck};
use crate::runner::{self, Approval, LocalRun, RunOptions};
use crate::sandbox_ports::{sandbox_ports, SandboxPortSettings};
use crate::timeline::Timeline;
use crate::timing::{self, Timing};
use crate::writers::{self, WriteLoad, WriteLoadConfig, WriteLoadResult};

pub const SOURCE: &str = "orders";
pub const TARGET: &str = "orders-encrypted";
/// The key alias the demo encrypts with (a key file in the sandbox).
pub const KMS_ALIAS: &str = "alias/orders-at-rest";
/// At most this many lost or duplicated ids are listed in the report.
const IDS_LISTED: usize = 20;

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub rows: u64,
    pub writers: usize,
    /// Writes per second, all writers together.
    pub rate: f64,
    pub time_scale: f64,
    /// The sandbox directory; a fresh one under the temp dir when `None`.
    pub dir: Option<PathBuf>,
    pub port: u16,
    /// Leave the sandbox running afterwards.
    pub keep: bool,
    /// Writing before the run starts, and after it ends.
    pub warmup: Duration,
    pub cooldown: Duration,
    pub ports: SandboxPortSettings,
    /// Writers connect as the privileged user `read_only` does not stop (`--writer-user admin`).
    pub privileged_writers: bool,
    /// The application record's TTL when the run starts (`None`: the sandbox's
    /// `APP_RECORD_TTL`). LowerDnsTtl brings it down to the switchover TTL, and the switchover
    /// waits for the original TTL, scaled by `time_scale` like every wait.
    pub initial_ttl: Option<i64>,
    pub engine: DemoEngine,
    /// `verify.mode` (`None`: the spec's default, `online`).
    pub verify_mode: Option<String>,
    /// Pre-warm the target (`prewarm` in the spec): the source runs with `performance_schema`
    /// (its parameter group, and a reboot), serves a few reports, and the run replays them.
    pub prewarm: bool,
    /// After the swap, time this many point reads on the target with its data files dropped
    /// from the page cache: what the application's first reads cost (`firstReads`).
    pub measure_reads: usize,
    /// How the writers reach the database, and so how the run moves them.
    pub connect: DemoConnect,
    /// Open a failback window after the swap and fail back in it, under the write load: the
    /// run ends with the application on the source again (`failback` in the report).
    pub failback: bool,
}

/// The demo's failback window (`--failback`): one hour, scaled like every wait.
pub const FAILBACK_WINDOW_HOURS: u32 = 1;
/// How long the application writes to the new cluster before the demo fails back (at most
/// half the scaled window).
const WRITES_BEFORE_FAILBACK: Duration = Duration::from_secs(2);

/// How the demo's writers connect, and the switchover method that goes with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DemoConnect {
    /// Through the application's DNS record (`switchover.method: dns`).
    #[default]
    AppRecord,
    /// Through an RDS Proxy (`switchover.method: proxy`), re-targeted at the switchover.
    Proxy,
    /// To the cluster's own endpoint (`switchover.method: rename`): the target takes the
    /// source's name.
    ClusterEndpoint,
}

/// The demo's RDS Proxy (`--connect proxy`).
pub const DEMO_PROXY: &str = "app-proxy";

/// How changes reach the target in the demo.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DemoEngine {
    /// Native binlog replication (`aurora-sql`, over the `mysql.rds_*` stand-ins).
    #[default]
    Native,
    /// DMS homogeneous data migration: the AWS adapter against the sandbox's DMS stand-in.
    Dms,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            rows: 2000,
            writers: 4,
            rate: 200.0,
            time_scale: 0.01,
            dir: None,
            port: aurora_sandbox::DEFAULT_PORT,
            keep: false,
            warmup: Duration::from_millis(500),
            cooldown: Duration::from_millis(500),
            ports: SandboxPortSettings::default(),
            privileged_writers: false,
            verify_mode: None,
            initial_ttl: None,
            engine: DemoEngine::Native,
            prewarm: false,
            measure_reads: 0,
            connect: DemoConnect::AppRecord,
            failback: false,
        }
    }
}

/// The migration spec the demo runs.
pub fn spec() -> Value {
    spec_for(DemoEngine::Native)
}

/// The migration spec the demo runs with `engine`.
pub fn spec_for(engine: DemoEngine) -> Value {
    let mut spec = sandbox_spec(SOURCE, TARGET, "auto");
    if engine == DemoEngine::Dms {
        spec["replication"] = crate::dms::replication_spec();
    }
    spec
}

/// Fences with the security group as well as `read_only`: what the README asks for when an
/// application may connect as a user `read_only` does not stop (`--writer-user admin`).
pub fn fence_with_security_group(spec: &mut Value) {
    spec["switchover"]["fence"] = json!(["security-group", "read-only"]);
    spec["switchover"]["fenceSecurityGroupId"] =
        json!(aurora_sandbox::network::FENCE_SECURITY_GROUP);
}

/// Moves the application by renaming the clusters instead of swapping its DNS record.
pub fn use_rename(spec: &mut Value) {
    if let Some(spec) = spec.as_object_mut() {
        spec.remove("dns");
    }
    spec["switchover"]["method"] = json!("rename");
}

/// Moves the application through the demo's RDS Proxy instead of its DNS record.
pub fn use_proxy(spec: &mut Value) {
    if let Some(spec) = spec.as_object_mut() {
        spec.remove("dns");
    }
    spec["proxy"] = json!({
        "name": DEMO_PROXY,
        "secretArn": aurora_sandbox::APP_SECRET_ARN,
        "timeoutSeconds": 60
    });
}

/// A ready-to-run spec for migrating sandbox cluster `source` to `target` with switchover
/// `mode`: the sandbox's zone, record, secrets and a key alias filled in. `sandbox up` writes it
/// as `spec.json`, so a newcomer runs a migration without looking anything up.
pub fn sandbox_spec(source: &str, target: &str, mode: &str) -> Value {
    json!({
        "sourceClusterId": source,
        "targetClusterId": target,
        "kmsKeyId": KMS_ALIAS,
        "replication": {
            "engine": "native",
            "sourceSecretArn": aurora_sandbox::REPLICATION_SECRET_ARN,
            "targetSecretArn": aurora_sandbox::ADMIN_SECRET_ARN
        },
        "switchover": { "mode": mode, "maxLagSeconds": 5, "drainTimeoutSeconds": 60 },
        "verify": { "mode": "online" },
        "dns": {
            "hostedZoneId": aurora_sandbox::ZONE_ID,
            "recordName": aurora_sandbox::APP_RECORD,
            "ttlSeconds": aurora_sandbox::APP_RECORD_TTL
        }
    })
}

/// Time spent in one phase (filled in by the caller, which knows the phase names).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseTime {
    pub phase: String,
    pub ms: f64,
}

/// The demo's report: `--json` prints it as is.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoReport {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    pub invariants_hold: bool,
    pub failed_invariants: Vec<String>,
    pub rows: u64,
    pub writers: usize,
    /// `app`, or `admin` (writes through `read_only`).
    pub writer_user: String,
    /// `app-record` or `proxy`: how the writers connect (and the switchover method).
    pub connect: String,
    pub rate_writes_per_second: f64,
    pub time_scale: f64,
    /// `native` or `dms`.
    pub engine: String,
    pub acknowledged_inserts: usize,
    pub acknowledged_updates: usize,
    pub lost_writes: usize,
    pub duplicate_writes: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lost_ids: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub duplicate_ids: Vec<u64>,
    /// Verification found source and target equal: in `online` mode every chunk before the
    /// gate and, while fenced, every row written since; in `full-fenced` mode every table's
    /// row count and checksum while fenced.
    pub checksums_match: bool,
    pub verify_mode: String,
    /// Tables and rows compared while the source was fenced.
    pub tables_compared: u64,
    pub rows_compared: u64,
    /// `online`: rows compared before the switchover gate, how fast, and for how long.
    pub online_rows_verified: u64,
    pub online_rows_per_second: u64,
    pub online_verify_ms: u64,
    /// `online`: distinct rows the fenced re-check found written since the online pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recheck_touched_rows: Option<u64>,
    /// `online`: the fenced re-check compared every table whole (too many rows written).
    pub recheck_full_comparison: bool,
    /// CheckParity's result (`$.parity`), when the run got that far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parity: Option<ParityReport>,
    pub target_encrypted_at_rest: bool,
    pub target_files_with_marker: Vec<String>,
    pub source_files_with_marker: usize,
    /// The longest gap between acknowledged writes that overlaps FenceWrites scheduled to
    /// SwapDns succeeded (the catch-up and the fence's preparation included: conservative).
    pub write_unavailable_ms: Option<f64>,
    /// From the fence going on (`$.fence.fencedAt`, after FenceWrites' catch-up) to SwapDns
    /// succeeded.
    pub fenced_window_ms: Option<f64>,
    /// How long the fence's SQL half took to end the sessions and confirm the fence on the
    /// writer (`$.fence.confirmation.confirmMs`), and the sessions it ended.
    pub fence_confirm_ms: Option<u64>,
    pub fence_sessions_ended: Option<u64>,
    /// The record's TTL when the run started, and the switchover TTL it was lowered to.
    pub dns_original_ttl_seconds: Option<i64>,
    pub dns_switchover_ttl_seconds: Option<i64>,
    /// Real time spent at DnsTtlGate, waiting out the original TTL (time-scaled).
    pub dns_ttl_wait_ms: Option<f64>,
    /// The record's TTL after the run (the original again).
    pub dns_final_ttl_seconds: Option<i64>,
    pub writer_errors: writers::WriterErrors,
    pub acknowledged_on_target_after_swap: usize,
    pub state_transitions: u64,
    pub step_functions_cost_usd: f64,
    pub phases: Vec<PhaseTime>,
    /// Handler, wait and overhead times of the execution (see `timing`).
    pub timing: Timing,
    pub total_ms: f64,
    pub peak_memory_kib: Option<u64>,
    pub sandbox_dir: String,
    /// `prewarm`: what the Prewarm state replayed (`$.prewarmed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prewarm: Option<PrewarmReport>,
    /// `--measure-reads`: the first point reads on the target after the swap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_reads: Option<checks::FirstReads>,
    /// `--failback`: the way back, measured like the switchover.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failback: Option<FailbackReport>,
    /// Where the caller wrote the timeline (`demo --timeline`), if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline_file: Option<String>,
}

/// What CheckParity compared: settings and accounts, and the differences by name (those
/// `parity.ignore` allowed, in a run that went on).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParityReport {
    pub compared: u64,
    pub differences: Vec<String>,
    pub ignored: Vec<String>,
}

impl ParityReport {
    fn from_output(parity: &Value) -> Option<Self> {
        let names = |key: &str| -> Vec<String> {
            parity
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|d| d.get("setting").and_then(Value::as_str).map(String::from))
                .collect()
        };
        Some(Self {
            compared: parity.get("compared")?.as_u64()?,
            differences: names("differences"),
            ignored: names("ignored"),
        })
    }
}

/// A finished demo: the report, the execution's history for the caller's views, and what the
/// timeline draws.
#[derive(Debug)]
pub struct DemoOutcome {
    pub report: DemoReport,
    pub history: Vec<HistoryEvent>,
    pub timeline: Timeline,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Run(#[from] runner::RunError),
    #[error("interrupted")]
    Interrupted,
}

/// Runs the demo. `observe` sees the execution's history as it grows; `interrupt` resolving
/// stops everything (the sandbox is still cleaned up).
pub async fn run_demo(
    options: DemoOptions,
    observe: impl FnMut(&[HistoryEvent]),
    interrupt: impl Future<Output = ()>,
) -> Result<DemoOutcome, DemoError> {
    let dir = options.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "aurora-encrypt-demo-{}-{}",
            std::process::id(),
            time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000
        ))
    });
    let sandbox = Sandbox::open(SandboxConfig {
        dir,
        port: options.port,
    })?;
    let outcome = tokio::select! {
        outcome = demo(&sandbox, &options, observe) => outcome,
        () = interrupt => Err(DemoError::Interrupted),
    };
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

async fn demo(
    sandbox: &Sandbox,
    options: &DemoOptions,
    observe: impl FnMut(&[HistoryEvent]),
) -> Result<DemoOutcome, DemoError> {
    let started = std::time::Instant::now();
    sandbox.create_source_cluster(SOURCE).await?;
    sandbox.seed_sample(SOURCE, options.rows).await?;
    if options.prewarm {
        // As an operator would: performance_schema=1 in the source's group, then a reboot (after
        // the seeding, so the statistics are the application's).
        sandbox
            .parameters()
            .set_at_reboot(&format!("{SOURCE}-params"), "performance_schema", "1")
            .await
            .map_err(|e| SandboxError::InvalidState(e.to_string()))?;
        sandbox.reboot_cluster(SOURCE).await?;
        // The statistics are read with the source's secret: its user needs SELECT on them.
        sandbox
            .grant_to_replication_user(SOURCE, "SELECT ON performance_schema.*")
            .await?;
    }
    writers::create_table(sandbox, SOURCE).await?;
    sandbox.prepare_source_for_migration(SOURCE).await?;
    if options.privileged_writers {
        sandbox.ensure_privileged_app_user(SOURCE).await?;
    }
    if let Some(ttl) = options.initial_ttl {
        sandbox.set_app_record_ttl(ttl).await?;
    }
    // From here on a Route 53 change takes AWS's propagation time, in the run's time.
    sandbox
        .set_dns_propagation(aurora_sandbox::dns::AWS_PROPAGATION.mul_f64(options.time_scale))?;

    let name = match options.connect {
        DemoConnect::AppRecord => aurora_sandbox::APP_RECORD.to_string(),
        DemoConnect::Proxy => {
            let registration = aurora_sandbox::proxy::AWS_REGISTRATION.mul_f64(options.time_scale);
            sandbox
                .create_proxy(DEMO_PROXY, SOURCE, registration)
                .await?;
            aurora_sandbox::proxy::proxy_dns_name(DEMO_PROXY)
        }
        DemoConnect::ClusterEndpoint => {
            sandbox
                .set_rename_delay(aurora_sandbox::rename::AWS_RENAME.mul_f64(options.time_scale))?;
            aurora_sandbox::rename::cluster_dns_name(SOURCE)
        }
    };
    let load = WriteLoad::start_through(
        sandbox,
        WriteLoadConfig {
            writers: options.writers,
            rate_per_second: options.rate,
            seeded_rows: options.rows,
            privileged: options.privileged_writers,
            time_scale: options.time_scale,
            connect_timeout: writers::scaled_connect_timeout(options.time_scale),
            ..WriteLoadConfig::default()
        },
        &name,
    )?;
    tokio::time::sleep(options.warmup).await;
    let mut ports = sandbox_ports(sandbox, SOURCE, TARGET, options.ports);
    // Kept until the run ends: the DMS stand-in stops when dropped.
    let dms = match options.engine {
        DemoEngine::Native => None,
        DemoEngine::Dms => Some(crate::dms::start(sandbox, options.time_scale).await?),
    };
    if let Some(dms) = &dms {
        ports.replication = std::sync::Arc::new(dms.replication.clone());
    }
    let mut spec = spec_for(options.engine);
    if options.privileged_writers {
        fence_with_security_group(&mut spec);
    }
    if let Some(mode) = &options.verify_mode {
        spec["verify"]["mode"] = json!(mode);
    }
    match options.connect {
        DemoConnect::AppRecord => {}
        DemoConnect::Proxy => use_proxy(&mut spec),
        DemoConnect::ClusterEndpoint => use_rename(&mut spec),
    }
    if options.prewarm {
        checks::application_reports(sandbox, SOURCE).await?;
        spec["prewarm"] = json!({"topStatements": 20, "tables": ["shop.orders", "shop.customers"]});
    }
    let mut failback_after = None;
    if options.failback {
        spec["failback"] = json!({ "windowHours": FAILBACK_WINDOW_HOURS });
        let window = Duration::from_secs(u64::from(FAILBACK_WINDOW_HOURS) * 3600)
            .mul_f64(options.time_scale);
        failback_after = Some(WRITES_BEFORE_FAILBACK.min(window / 2));
    }
    // The source's tables at the return: fenced and drained, before it is made writable again
    // (SwapBack runs in between). The new cluster stays fenced from then on, so the two must match.
    let mut at_return = None;
    let mut observe = observe;
    let observe = |events: &[HistoryEvent]| {
        let swap_back = events.iter().any(|e| {
            e.event_type == EventType::TaskStateEntered && e.state_name() == Some("SwapBack")
        });
        if options.failback && swap_back && at_return.is_none() {
            let sandbox = sandbox.clone();
            at_return = Some(tokio::spawn(async move {
                checks::table_checksums(
                    &sandbox,
                    SOURCE,
                    &[aurora_sandbox::schema::DATABASE.to_string()],
                )
                .await
            }));
        }
        observe(events);
    };
    let run = runner::run_local(
        ports,
        spec,
        RunOptions {
            time_scale: options.time_scale,
            approval: Approval::Auto,
            failback_after,
            ..RunOptions::default()
        },
        observe,
        std::future::pending(),
    )
    .await;
    // Keep writing a moment on whichever cluster the name now leads to.
    tokio::time::sleep(options.cooldown).await;
    let writes = load.stop().await;
    drop(dms);
    let run = run?;

    // Renamed by a `rename` switchover: the target under the source's name, the source away.
    let (source, target) = final_ids(&run);
    // After a failback the application writes to the source again: every write must be there.
    let failed_back = matches!(
        &run.outcome.status,
        Status::Failed { error, .. } if error == FAILED_BACK
    );
    let primary = if failed_back { &source } else { &target };
    let check = checks::check_writes(sandbox, primary, &writes.inserted_ids()).await;
    let failback = if options.failback {
        let at_return = match at_return {
            Some(task) => task
                .await
                .unwrap_or_else(|e| Err(SandboxError::InvalidState(e.to_string()))),
            None => Err(SandboxError::InvalidState(
                "the run never reached SwapBack".into(),
            )),
        };
        Some(failback_report(sandbox, &run, &writes, at_return, &target).await)
    } else {
        None
    };
    let first_reads = if options.measure_reads > 0 {
        Some(checks::first_reads(sandbox, &target, options.measure_reads).await?)
    } else {
        None
    };
    let final_ttl = sandbox.app_record().ok().flatten().map(|r| r.ttl);
    let at_rest = checks::scan_at_rest(sandbox, &source, &target);
    let report = report(
        sandbox,
        options,
        &run,
        &writes,
        check,
        at_rest,
        started.elapsed(),
    );
    let mut report = DemoReport {
        dns_final_ttl_seconds: final_ttl,
        first_reads,
        ..report
    };
    if let Some(failback) = failback {
        if let Some(why) = failback.failed_invariant() {
            report.failed_invariants.push(why);
            report.invariants_hold = false;
        }
        report.failback = Some(failback);
    }
    let target_host = sandbox.endpoint(&target).map(|e| e.host);
    let timeline = Timeline::new(
        &run.outcome.history,
        &writes.acks,
        &writes.error_times,
        target_host.as_deref(),
    );
    Ok(DemoOutcome {
        report,
        history: run.outcome.history,
        timeline,
    })
}

/// The source's and the target's ids at the end of `run`: the run's own (`sourceClusterId`,
/// `targetClusterId`: a `rename` switchover changes them), else the demo's.
fn final_ids(run: &LocalRun) -> (String, String) {
    let output = run.outcome.output();
    let id = |key: &str, default: &str| {
        output
            .and_then(|o| o.get(key))
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_string()
    };
    (id("sourceClusterId", SOURCE), id("targetClusterId", TARGET))
}

fn report(
    sandbox: &Sandbox,
    options: &DemoOptions,
    run: &LocalRun,
    writes: &WriteLoadResult,
    check: Result<WriteCheck, SandboxError>,
    at_rest: Result<AtRest, SandboxError>,
    total: Duration,
) -> DemoReport {
    let history = &run.outcome.history;
    let (status, error, cause) = match &run.outcome.status {
        Status::Succeeded(_) => ("SUCCEEDED".to_string(), None, None),
        Status::Failed { error, cause } => {
            // The sandbox's own reason for a failed snapshot or restore, which its API (like
            // RDS's) shows only as a status.
            let failures = sandbox.failures();
            let cause = if failures.is_empty() {
                cause.clone()
            } else {
                Some(format!(
                    "{} (sandbox: {})",
                    cause.clone().unwrap_or_default(),
                    failures.join("; ")
                ))
            };
            ("FAILED".to_string(), Some(error.clone()), cause)
        }
        Status::Aborted => ("ABORTED".to_string(), None, None),
    };
    // A failed-back execution has no output: the document its last state was entered with.
    let document = run.outcome.output().cloned().or_else(|| {
        options
            .failback
            .then(|| timing::document_entering(history, "NotifyFailedBack"))
            .flatten()
    });
    let document = document.as_ref();
    let verify = document
        .and_then(|o| o.get("verify"))
        .cloned()
        .unwrap_or(Value::Null);
    let confirmation = document
        .and_then(|o| o.pointer("/fence/confirmation"))
        .cloned()
        .unwrap_or(Value::Null);
    let online = document
        .and_then(|o| o.get("verifyOnline"))
        .cloned()
        .unwrap_or(Value::Null);
    let parity = document
        .and_then(|o| o.get("parity"))
        .and_then(ParityReport::from_output);
    let verify_mode = verify
        .get("mode")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let checksums_match = verify.get("verified").and_then(Value::as_bool) == Some(true)
        && matches!(verify_mode.as_str(), "online" | "full-fenced");
    let number = |v: &Value, pointer: &str| v.pointer(pointer).and_then(Value::as_u64);
    let fence = timing::first_scheduled(history, "FenceWrites");
    // When the source was fenced: after FenceWrites' catch-up, just before the fence went on.
    let fenced_at = timing::fenced_at(history).or(fence);
    // The application is moved once the swap is in sync, or a session through the proxy has
    // reached the target.
    let swap = timing::last_succeeded(history, "SwapDns")
        .or_else(|| timing::last_succeeded(history, "ConfirmProxy"))
        .or_else(|| timing::last_succeeded(history, "ConfirmRename"));
    let times: Vec<_> = writes.acks.iter().map(|a| a.at).collect();
    let gap = match (fence, swap) {
        (Some(f), Some(s)) => checks::longest_gap(&times, f, s),
        _ => None,
    };
    let target_host = sandbox.endpoint(&final_ids(run).1).map(|e| e.host);
    let mut failed = Vec::new();
    // A failback ends the execution as FAILED with `FailedBack`, by design: the source is not
    // encrypted.
    let expected = if options.failback {
        error.as_deref() == Some(FAILED_BACK)
    } else {
        status == "SUCCEEDED"
    };
    if !expected {
        failed.push(format!(
            "the execution ended {status}{}",
            error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ));
    }
    let (lost, duplicates) = match &check {
        Ok(c) => (c.lost.clone(), c.duplicates.clone()),
        Err(e) => {
            failed.push(format!("writes could not be checked on the target: {e}"));
            (Vec::new(), Vec::new())
        }
    };
    if !lost.is_empty() {
        failed.push(format!(
            "{} acknowledged writes are missing on the target",
            lost.len()
        ));
    }
    if !duplicates.is_empty() {
        failed.push(format!(
            "{} writes are duplicated on the target",
            duplicates.len()
        ));
    }
    if !checksums_match {
        failed.push(
            "verification did not confirm equal rows (verify.mode online or full-fenced)".into(),
        );
    }
    let (target_files, source_files, encrypted) = match &at_rest {
        Ok(a) => (
            a.target_files_with_marker
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            a.source_files_with_marker.len(),
            a.target_encrypted(),
        ),
        Err(e) => {
            failed.push(format!("the data files could not be scanned: {e}"));
            (Vec::new(), 0, false)
        }
    };
    if at_rest.is_ok() && !encrypted {
        failed.push("plaintext found in the target's files (or none in the source's)".into());
    }
    let transitions = run.outcome.state_transitions;
    DemoReport {
        status,
        error,
        cause,
        invariants_hold: failed.is_empty(),
        failed_invariants: failed,
        rows: options.rows,
        writers: options.writers,
        writer_user: if options.privileged_writers {
            "admin".into()
        } else {
            "app".into()
        },
        connect: match options.connect {
            DemoConnect::AppRecord => "app-record",
            DemoConnect::Proxy => "proxy",
            DemoConnect::ClusterEndpoint => "cluster-endpoint",
        }
        .into(),
        rate_writes_per_second: options.rate,
        time_scale: options.time_scale,
        engine: match options.engine {
            DemoEngine::Native => "native",
            DemoEngine::Dms => "dms",
        }
        .into(),
        acknowledged_inserts: writes.acks.iter().filter(|a| a.id.is_some()).count(),
        acknowledged_updates: writes.acks.iter().filter(|a| a.id.is_none()).count(),
        lost_writes: lost.len(),
        duplicate_writes: duplicates.len(),
        lost_ids: lost.into_iter().take(IDS_LISTED).collect(),
        duplicate_ids: duplicates.into_iter().take(IDS_LISTED).collect(),
        checksums_match,
        verify_mode,
        tables_compared: number(&verify, "/tablesCompared").unwrap_or(0),
        rows_compared: number(&verify, "/rowsCompared").unwrap_or(0),
        online_rows_verified: number(&online, "/rowsVerified").unwrap_or(0),
        online_rows_per_second: number(&online, "/rowsPerSecond").unwrap_or(0),
        online_verify_ms: number(&online, "/activeMs").unwrap_or(0),
        recheck_touched_rows: number(&verify, "/recheck/touchedRows"),
        recheck_full_comparison: verify
            .pointer("/recheck/fullComparison")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        parity,
        target_encrypted_at_rest: encrypted,
        target_files_with_marker: target_files,
        source_files_with_marker: source_files,
        write_unavailable_ms: gap.map(|g| round(g.ms)),
        fenced_window_ms: match (fenced_at, swap) {
            (Some(f), Some(s)) => Some(round((s - f).whole_microseconds() as f64 / 1000.0)),
            _ => None,
        },
        fence_confirm_ms: confirmation.get("confirmMs").and_then(Value::as_u64),
        fence_sessions_ended: confirmation.get("sessionsEnded").and_then(Value::as_u64),
        dns_original_ttl_seconds: dns_ttl(document, "originalTtlSeconds"),
        dns_switchover_ttl_seconds: dns_ttl(document, "switchoverTtlSeconds"),
        dns_ttl_wait_ms: timing::wait_state_ms(history, "DnsTtlGate").map(round),
        dns_final_ttl_seconds: None,
        writer_errors: writes.errors,
        // Through the application record, a write names the cluster it reached; through the
        // proxy every write names the proxy, which reaches the target once the swap is done.
        acknowledged_on_target_after_swap: writes
            .acks
            .iter()
            .filter(|a| match options.connect {
                DemoConnect::AppRecord | DemoConnect::ClusterEndpoint => {
                    Some(&a.host) == target_host.as_ref()
                }
                DemoConnect::Proxy => swap.is_some_and(|s| a.at > s),
            })
            .count(),
        state_transitions: transitions,
        step_functions_cost_usd: transitions as f64 * 0.025 / 1000.0,
        phases: Vec::new(),
        timing: timing::timing(history),
        total_ms: round(total.as_secs_f64() * 1000.0),
        peak_memory_kib: checks::peak_memory_kib(),
        sandbox_dir: sandbox.dir().display().to_string(),
        prewarm: prewarm_report(run),
        first_reads: None,
        timeline_file: None,
        failback: None,
    }
}

/// The execution's error after a failback (its Fail state's).
const FAILED_BACK: &str = "FailedBack";

/// What `--failback` reports: the window, the way back's write pause, and whether the two
/// clusters hold the same rows once the application is back on the source.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailbackReport {
    /// The window as the run opened it.
    pub window_hours: Option<u64>,
    pub window_ends_at: Option<String>,
    /// How the window ended (`FailbackRequested`).
    pub window_ended_by: Option<String>,
    /// Where the replication back started: the new writer's position at takeover.
    pub reverse_start: Option<String>,
    /// Acknowledged writes that reached the new cluster during the window (all carried back).
    pub acknowledged_on_new_cluster: usize,
    /// The longest gap between acknowledged writes from FenceNewCluster scheduled to
    /// UnfenceOldCluster succeeded: the way back's write pause.
    pub write_unavailable_ms: Option<f64>,
    /// From the new cluster's fence going on to the old cluster writable again.
    pub fenced_window_ms: Option<f64>,
    /// VerifyReverse's result: rows written on the new cluster since the takeover, compared.
    pub verified: bool,
    pub verify_mode: Option<String>,
    pub rows_compared: Option<u64>,
    /// Row counts and `CHECKSUM TABLE` of every table of the sample database: the source's
    /// read at the return (fenced and drained, before it is writable again), the new cluster's
    /// after the run (fenced since), equal.
    pub checksums_match_after_return: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checksum_differences: Vec<String>,
}

impl FailbackReport {
    fn failed_invariant(&self) -> Option<String> {
        if !self.verified {
            return Some("the failback's verification did not confirm equal rows".into());
        }
        if !self.checksums_match_after_return {
            return Some(format!(
                "after the failback the clusters differ: {}",
                self.checksum_differences.join("; ")
            ));
        }
        None
    }
}

async fn failback_report(
    sandbox: &Sandbox,
    run: &LocalRun,
    writes: &WriteLoadResult,
    source_at_return: Result<checks::TableChecksums, SandboxError>,
    target: &str,
) -> FailbackReport {
    let history = &run.outcome.history;
    let document = timing::document_entering(history, "NotifyFailedBack").unwrap_or(Value::Null);
    let reverse = &document["reverse"];
    let fence = timing::first_scheduled(history, "FenceNewCluster");
    let unfenced = timing::last_succeeded(history, "UnfenceOldCluster");
    let times: Vec<_> = writes.acks.iter().map(|a| a.at).collect();
    let gap = match (fence, unfenced) {
        (Some(f), Some(u)) => checks::longest_gap(&times, f, u),
        _ => None,
    };
    let fenced_at = timing::fenced_at_by(history, "FenceNewCluster");
    let new_host = sandbox.endpoint(target).map(|e| e.host);
    let target_now = checks::table_checksums(
        sandbox,
        target,
        &[aurora_sandbox::schema::DATABASE.to_string()],
    )
    .await;
    let differences =
        source_at_return.and_then(|source| Ok(checks::checksum_differences(&source, &target_now?)));
    let text = |v: &Value, pointer: &str| v.pointer(pointer)?.as_str().map(str::to_string);
    FailbackReport {
        window_hours: reverse["windowHours"].as_u64(),
        window_ends_at: text(reverse, "/endsAt"),
        window_ended_by: text(&document, "/window/Error"),
        reverse_start: text(reverse, "/binlog/startPosition"),
        acknowledged_on_new_cluster: writes
            .acks
            .iter()
            .filter(|a| Some(&a.host) == new_host.as_ref())
            .count(),
        write_unavailable_ms: gap.map(|g| round(g.ms)),
        fenced_window_ms: match (fenced_at, unfenced) {
            (Some(f), Some(u)) => Some(round((u - f).whole_microseconds() as f64 / 1000.0)),
            _ => None,
        },
        verified: reverse.pointer("/verify/verified").and_then(Value::as_bool) == Some(true),
        verify_mode: text(reverse, "/verify/mode"),
        rows_compared: reverse
            .pointer("/verify/rowsCompared")
            .and_then(Value::as_u64),
        checksums_match_after_return: differences.as_ref().is_ok_and(Vec::is_empty),
        checksum_differences: differences.unwrap_or_else(|e| vec![e.to_string()]),
    }
}

/// What the demo reports of `$.prewarmed`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrewarmReport {
    pub statements_read: u64,
    /// The plain SELECTs among them, replayed on each instance.
    pub selects: u64,
    pub statements_replayed: u64,
    pub statements_failed: u64,
    pub instances: u64,
    pub tables_loaded: u64,
    pub rows_read: u64,
    pub elapsed_ms: u64,
}

fn prewarm_report(run: &LocalRun) -> Option<PrewarmReport> {
    let p = run.outcome.output()?.get("prewarmed")?;
    let n = |pointer: &str| p.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    let instances = p.get("instances").and_then(Value::as_array)?;
    let sum = |field: &str| {
        instances
            .iter()
            .filter_map(|i| i.get(field).and_then(Value::as_u64))
            .sum::<u64>()
    };
    Some(PrewarmReport {
        statements_read: n("/statementsRead"),
        selects: p
            .get("replayedDigests")
            .and_then(Value::as_array)
            .map_or(0, |d| d.len() as u64),
        statements_replayed: sum("statementsRun"),
        statements_failed: instances
            .iter()
            .filter_map(|i| i.get("statementsFailed").and_then(Value::as_array))
            .map(|f| f.len() as u64)
            .sum(),
        instances: instances.len() as u64,
        tables_loaded: sum("tablesLoaded"),
        rows_read: sum("rowsRead"),
        elapsed_ms: n("/elapsedMs"),
    })
}

/// A field of LowerDnsTtl's result in the execution's output.
fn dns_ttl(document: Option<&Value>, field: &str) -> Option<i64> {
    document
        .and_then(|o| o.pointer(&format!("/dnsTtl/{field}")))
        .and_then(Value::as_i64)
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}
