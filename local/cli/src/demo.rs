//! `aurora-encrypt demo`: a real migration of a live MariaDB database to an encrypted copy on
//! this machine, under a write load, with a measured switchover (see `aurora_local::demo`).
//! Prints a table, or one JSON object with `--json`; exits 1 when an invariant fails (a lost or
//! duplicated write, different checksums, plaintext at rest on the target, a failed run).

use std::path::PathBuf;
use std::process::ExitCode;

use aurora_local::demo::{run_demo, DemoConnect, DemoEngine, DemoOptions, DemoReport};

use crate::progress::{Event, Progress};
use crate::run::summary;
use crate::view::{ProgressView, TerminalView};

pub(crate) const LONG_ABOUT: &str = "Run the whole migration locally on real MariaDB servers under a write load: brings a sandbox up (source seeded with a sample schema carrying a plaintext marker), starts writers that insert and update through the sandbox's DNS name, runs the state machine (switchover auto, scaled waits), then checks that no acknowledged write was lost or duplicated, that checksums matched, and that no plaintext is left in the target's files, and reports how long writes were unavailable. Needs MariaDB (apt-get install -y mariadb-server mariadb-client mariadb-backup).";

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Rows seeded into each table of the sample schema.
    #[arg(long, default_value_t = 2000)]
    pub rows: u64,
    /// Concurrent writers.
    #[arg(long, default_value_t = 4)]
    pub writers: usize,
    /// Writes per second, all writers together.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Multiply every Wait and Retry interval of the state machine by this factor.
    #[arg(long, value_name = "X", default_value_t = 0.01)]
    pub time_scale: f64,
    /// Print one JSON object instead of the progress and the table.
    #[arg(long)]
    pub json: bool,
    /// Leave the sandbox running afterwards (stop it with `aurora-encrypt sandbox down --dir`).
    #[arg(long)]
    pub keep: bool,
    /// Sandbox directory [default: a fresh one under the system temp dir].
    #[arg(long, value_name = "DIR")]
    pub sandbox_dir: Option<PathBuf>,
    /// Port the sandbox's servers listen on (each on its own loopback address).
    #[arg(long, default_value_t = aurora_sandbox::DEFAULT_PORT)]
    pub port: u16,
    /// Migrate this many sandbox clusters through encrypt-fleet.asl.json, each migration a
    /// child execution of encrypt-cluster, each cluster under its own write load (--writers
    /// and --rate then apply per cluster).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=16))]
    pub clusters: u64,
    /// With --clusters: the fleet's maxConcurrency (children running at once).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_concurrency: u64,
    /// Who the writers connect as: `app` (read_only stops it) or `admin` (ALL PRIVILEGES:
    /// read_only does not stop it, as on Aurora the master user or a CONNECTION_ADMIN user).
    #[arg(long, value_enum, default_value_t = WriterUser::App)]
    pub writer_user: WriterUser,
    /// The application record's TTL in seconds when the run starts, as an operator's zone often
    /// has (e.g. 300). The run lowers it to the switchover TTL and waits the original TTL
    /// (scaled by --time-scale) before the switchover [default: the switchover TTL, no wait].
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(i64).range(0..=86400))]
    pub initial_ttl: Option<i64>,
    /// How changes reach the target: native binlog replication, or a DMS homogeneous data
    /// migration (the AWS adapter against the sandbox's DMS stand-in, which takes ten minutes
    /// to start, scaled by --time-scale).
    #[arg(long, value_enum, default_value_t = Engine::Native)]
    pub engine: Engine,
    /// Draw the switchover to this SVG file: writes per lane (source, target), the fenced
    /// window and steps, the longest gap, writer errors, CDC lag over the run (one cluster).
    #[arg(long, value_name = "FILE.svg", conflicts_with = "clusters")]
    pub timeline: Option<PathBuf>,
    /// How source and target are compared (`verify.mode`): `online` (chunks before the gate,
    /// then only the rows written since while fenced), `full-fenced` (every table's count and
    /// checksum while fenced), `counts` or `off`.
    #[arg(long = "verify", value_enum, default_value_t = VerifyMode::Online)]
    pub verify: VerifyMode,
    /// Pre-warm the target before the switchover gate (`prewarm` in the spec): the source runs
    /// with performance_schema (set in its parameter group, then rebooted) and serves a few
    /// reports, which the run replays on the target with its tables' primary keys.
    #[arg(long, conflicts_with = "clusters")]
    pub prewarm: bool,
    /// After the swap, time N point reads on the target with its data files dropped from the
    /// page cache, and report them (`firstReads`): the application's first reads, cold or warm.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        conflicts_with = "clusters"
    )]
    pub measure_reads: usize,
    /// How the writers connect, and so how the run moves them: through the application's DNS
    /// record (`app-record`, switchover.method dns), through an RDS Proxy (`proxy`,
    /// switchover.method proxy: the proxy is re-targeted from the source to the target), or to
    /// the cluster endpoint (`cluster-endpoint`, switchover.method rename: the target takes the
    /// source's name).
    #[arg(
        long,
        value_enum,
        default_value_t = Connect::AppRecord,
        conflicts_with = "clusters"
    )]
    pub connect: Connect,
    /// After the swap, open a failback window (failback.windowHours 1, scaled), let the writers
    /// use the new cluster, then fail back under the load: the report's `failback` section has
    /// the way back's write pause and the clusters' checksums after the return.
    #[arg(long, conflicts_with_all = ["clusters", "connect"])]
    pub failback: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Connect {
    AppRecord,
    Proxy,
    ClusterEndpoint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum VerifyMode {
    Online,
    FullFenced,
    Counts,
    Off,
}

impl VerifyMode {
    /// The spec's name for it.
    fn spec_name(self) -> &'static str {
        match self {
            VerifyMode::Online => "online",
            VerifyMode::FullFenced => "full-fenced",
            VerifyMode::Counts => "counts",
            VerifyMode::Off => "off",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Engine {
    Native,
    Dms,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum WriterUser {
    App,
    Admin,
}

mod fleet;

pub(crate) async fn run(args: Args) -> ExitCode {
    if args.clusters > 1 {
        return fleet::run(args).await;
    }
    let options = DemoOptions {
        rows: args.rows,
        writers: args.writers.max(1),
        rate: args.rate,
        time_scale: args.time_scale,
        dir: args.sandbox_dir.clone(),
        port: args.port,
        keep: args.keep,
        privileged_writers: args.writer_user == WriterUser::Admin,
        verify_mode: Some(args.verify.spec_name().to_string()),
        initial_ttl: args.initial_ttl,
        engine: match args.engine {
            Engine::Native => DemoEngine::Native,
            Engine::Dms => DemoEngine::Dms,
        },
        prewarm: args.prewarm,
        measure_reads: args.measure_reads,
        connect: match args.connect {
            Connect::AppRecord => DemoConnect::AppRecord,
            Connect::Proxy => DemoConnect::Proxy,
            Connect::ClusterEndpoint => DemoConnect::ClusterEndpoint,
        },
        failback: args.failback,
        ..DemoOptions::default()
    };
    let mut progress = Progress::new();
    let mut view = (!args.json).then(TerminalView::for_stdout);
    if !args.json {
        println!(
            "demo: {} rows per table, {} writers at {} writes/s, {:?} replication, waits scaled by {}",
            options.rows, options.writers, options.rate, options.engine, options.time_scale
        );
    }
    let outcome = run_demo(
        options,
        |events| {
            for event in events {
                progress.apply(&Event::from(event));
            }
            if let Some(view) = view.as_mut() {
                view.show(&progress, None);
            }
        },
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await;
    if let Some(view) = view.as_mut() {
        view.finish(&progress);
    }
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut report = outcome.report;
    report.phases = summary::phase_durations(&outcome.history);
    if let Some(path) = &args.timeline {
        match write_timeline(&outcome.timeline, path) {
            Ok(()) => report.timeline_file = Some(path.display().to_string()),
            Err(e) => {
                eprintln!(
                    "error: cannot write the timeline to {}: {e}",
                    path.display()
                );
                return ExitCode::from(2);
            }
        }
    }
    if args.json {
        match serde_json::to_string(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: {e}"),
        }
    } else {
        print_table(&report);
    }
    if report.invariants_hold {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn write_timeline(
    timeline: &aurora_local::timeline::Timeline,
    path: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, timeline.svg()?)?;
    Ok(())
}

fn yes(ok: bool) -> &'static str {
    if ok {
        "yes"
    } else {
        "NO"
    }
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.1} ms"))
}

/// What was compared, where and when.
fn verification(r: &DemoReport) -> String {
    let fenced = format!(
        "{} rows in {} tables compared while fenced",
        r.rows_compared, r.tables_compared
    );
    if r.verify_mode != "online" {
        return format!("{} ({}, {fenced})", yes(r.checksums_match), r.verify_mode);
    }
    let recheck = if r.recheck_full_comparison {
        "every table whole: too many rows written".to_string()
    } else {
        format!(
            "{} rows written since",
            r.recheck_touched_rows.unwrap_or_default()
        )
    };
    format!(
        "{} (online: {} rows before the gate in {} ms, {} rows/s; {fenced}: {recheck})",
        yes(r.checksums_match),
        r.online_rows_verified,
        r.online_verify_ms,
        r.online_rows_per_second,
    )
}

/// What CheckParity compared and allowed.
fn parity(r: &DemoReport) -> String {
    match &r.parity {
        None => "not checked".into(),
        Some(p) if p.ignored.is_empty() => format!("{} settings and accounts equal", p.compared),
        Some(p) => format!(
            "{} settings and accounts compared; allowed by parity.ignore: {}",
            p.compared,
            p.ignored.join(", ")
        ),
    }
}

fn print_table(r: &DemoReport) {
    let mut rows: Vec<(String, String)> = vec![
        ("status".into(), r.status.clone()),
        (
            "acknowledged writes".into(),
            format!(
                "{} inserts, {} updates ({} on the target after the swap)",
                r.acknowledged_inserts, r.acknowledged_updates, r.acknowledged_on_target_after_swap
            ),
        ),
        ("lostWrites".into(), r.lost_writes.to_string()),
        ("duplicateWrites".into(), r.duplicate_writes.to_string()),
        ("checksumsMatch".into(), verification(r)),
        ("parity".into(), parity(r)),
        (
            "targetEncryptedAtRest".into(),
            format!(
                "{} (marker in {} source files, {} target files)",
                yes(r.target_encrypted_at_rest),
                r.source_files_with_marker,
                r.target_files_with_marker.len()
            ),
        ),
        ("writeUnavailableMs".into(), ms(r.write_unavailable_ms)),
        ("fenced window".into(), ms(r.fenced_window_ms)),
        (
            "fence confirmed in".into(),
            match (r.fence_confirm_ms, r.fence_sessions_ended) {
                (Some(ms), Some(ended)) => format!("{ms} ms ({ended} sessions ended)"),
                _ => "-".into(),
            },
        ),
        (
            "DNS TTL".into(),
            match (r.dns_original_ttl_seconds, r.dns_switchover_ttl_seconds) {
                (Some(original), Some(switchover)) => format!(
                    "{original} s lowered to {switchover} s early; gate waited {}; {} s after the run",
                    ms(r.dns_ttl_wait_ms),
                    r.dns_final_ttl_seconds
                        .map_or_else(|| "-".into(), |t| t.to_string())
                ),
                _ => "-".into(),
            },
        ),
        (
            "writer errors".into(),
            format!(
                "{} read-only, {} connection, {} other; {} connects",
                r.writer_errors.read_only,
                r.writer_errors.connection,
                r.writer_errors.other,
                r.writer_errors.reconnects
            ),
        ),
        (
            "stateTransitions".into(),
            format!(
                "{} (${:.4} on Step Functions Standard)",
                r.state_transitions, r.step_functions_cost_usd
            ),
        ),
        (
            "execution".into(),
            format!(
                "{:.0} ms = {:.0} handlers + {:.0} waits + {:.1} orchestration overhead",
                r.timing.wall_ms, r.timing.handler_ms, r.timing.wait_ms, r.timing.overhead_ms
            ),
        ),
        ("demo total".into(), format!("{:.0} ms", r.total_ms)),
        (
            "peak memory (CLI)".into(),
            r.peak_memory_kib
                .map_or_else(|| "-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
        ),
    ];
    if let Some(f) = &r.failback {
        rows.push((
            "failback".into(),
            format!(
                "window {} h (until {}), ended by {}; replication back from {}; {} writes on the new cluster carried back",
                f.window_hours.unwrap_or(0),
                f.window_ends_at.as_deref().unwrap_or("-"),
                f.window_ended_by.as_deref().unwrap_or("-"),
                f.reverse_start.as_deref().unwrap_or("-"),
                f.acknowledged_on_new_cluster
            ),
        ));
        rows.push((
            "failback verified".into(),
            format!(
                "{} ({} mode, {} rows); checksums after the return: {}",
                yes(f.verified),
                f.verify_mode.as_deref().unwrap_or("-"),
                f.rows_compared.unwrap_or(0),
                if f.checksums_match_after_return {
                    "equal".to_string()
                } else {
                    f.checksum_differences.join("; ")
                }
            ),
        ));
        rows.push((
            "failback writeUnavailableMs".into(),
            ms(f.write_unavailable_ms),
        ));
        rows.push(("failback fenced window".into(), ms(f.fenced_window_ms)));
    }
    if let Some(file) = &r.timeline_file {
        rows.push(("timeline".into(), file.clone()));
    }
    println!();
    for (key, value) in rows {
        println!("{key:<24} {value}");
    }
    println!("phases:");
    for p in &r.phases {
        println!("  {:<22} {:>9.1} ms", p.phase, p.ms);
    }
    println!("fenced steps:");
    for step in r.timing.steps.iter().filter(|s| {
        matches!(
            s.state.as_str(),
            "FenceWrites"
                | "Drain"
                | "Verify"
                | "SwapDns"
                | "SwapProxy"
                | "ConfirmProxy"
                | "RenameClusters"
                | "ConfirmRename"
        )
    }) {
        println!("  {:<22} {:>9.1} ms", step.state, step.total_ms);
    }
    if !r.failed_invariants.is_empty() {
        println!("FAILED: {}", r.failed_invariants.join("; "));
    }
    if let Some(error) = &r.error {
        println!("error: {error}: {}", r.cause.as_deref().unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn demo_defaults_to_four_writers_at_200_writes_per_second_with_scaled_waits() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!((cli.args.writers, cli.args.rate), (4, 200.0));
        assert_eq!(cli.args.time_scale, 0.01);
        assert!(!cli.args.json && !cli.args.keep);
        let cli = Cli::try_parse_from(["x", "--rows", "50", "--json", "--keep"]).unwrap();
        assert_eq!(cli.args.rows, 50);
        assert!(cli.args.json && cli.args.keep);
        assert_eq!(cli.args.initial_ttl, None);
        let cli = Cli::try_parse_from(["x", "--initial-ttl", "300"]).unwrap();
        assert_eq!(cli.args.initial_ttl, Some(300));
        assert!(Cli::try_parse_from(["x", "--initial-ttl", "-1"]).is_err());
        assert_eq!(cli.args.engine, Engine::Native);
        let cli = Cli::try_parse_from(["x", "--engine", "dms"]).unwrap();
        assert_eq!(cli.args.engine, Engine::Dms);
        assert_eq!(cli.args.timeline, None);
        let cli = Cli::try_parse_from(["x", "--timeline", "docs/t.svg"]).unwrap();
        assert_eq!(cli.args.timeline, Some(PathBuf::from("docs/t.svg")));
        assert!(Cli::try_parse_from(["x", "--timeline", "t.svg", "--clusters", "2"]).is_err());
    }

    #[test]
    fn demo_runs_one_cluster_unless_asked_for_a_fleet_of_two_at_a_time() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!((cli.args.clusters, cli.args.max_concurrency), (1, 2));
        let cli = Cli::try_parse_from(["x", "--clusters", "3", "--max-concurrency", "1"]).unwrap();
        assert_eq!((cli.args.clusters, cli.args.max_concurrency), (3, 1));
        assert!(Cli::try_parse_from(["x", "--clusters", "0"]).is_err());
        assert!(Cli::try_parse_from(["x", "--clusters", "3", "--max-concurrency", "0"]).is_err());
    }
}
