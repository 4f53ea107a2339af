//! `aurora-encrypt demo --clusters N`: the fleet demo (see `aurora_local::fleet`). Prints one
//! line per cluster, or one JSON object with `--json`; exits 1 when an invariant fails (a lost
//! or duplicated write, a failed child, more children at once than `maxConcurrency`).

use std::process::ExitCode;

use aurora_local::fleet::{run_fleet_demo, FleetOptions, FleetReport};

use super::{ms, yes, Args};

pub(super) async fn run(args: Args) -> ExitCode {
    let options = FleetOptions {
        clusters: usize::try_from(args.clusters).unwrap_or(1),
        max_concurrency: args.max_concurrency,
        rows: args.rows,
        writers: args.writers.max(1),
        rate: args.rate,
        time_scale: args.time_scale,
        dir: args.sandbox_dir.clone(),
        port: args.port,
        keep: args.keep,
        ..FleetOptions::default()
    };
    if !args.json {
        println!(
            "fleet demo: {} clusters, maxConcurrency {}, {} rows per table, {} writers at {} writes/s per cluster, waits scaled by {}",
            options.clusters, options.max_concurrency, options.rows, options.writers, options.rate, options.time_scale
        );
    }
    let report = tokio::select! {
        report = run_fleet_demo(options) => report,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("error: interrupted");
            return ExitCode::from(2);
        }
    };
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
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

fn print_table(r: &FleetReport) {
    println!();
    println!(
        "{:<6} {:<12} {:<10} {:>8} {:>5} {:>5} {:>9} {:>9} {:>12}",
        "index",
        "source",
        "status",
        "inserts",
        "lost",
        "dup",
        "checksums",
        "encrypted",
        "write pause"
    );
    for c in &r.clusters {
        println!(
            "{:<6} {:<12} {:<10} {:>8} {:>5} {:>5} {:>9} {:>9} {:>12}",
            c.index,
            c.source_cluster_id,
            c.status,
            c.acknowledged_inserts,
            c.lost_writes,
            c.duplicate_writes,
            yes(c.checksums_match),
            yes(c.target_encrypted_at_rest),
            ms(c.write_unavailable_ms)
        );
    }
    println!();
    println!("{:<24} {}", "fleet status", r.status);
    println!(
        "{:<24} {} (maxConcurrency {})",
        "most children at once", r.max_concurrent_children, r.max_concurrency
    );
    println!("{:<24} {:?}", "failed indices", r.failed_indices);
    println!(
        "{:<24} {} (${:.4} on Step Functions Standard)",
        "stateTransitions", r.state_transitions, r.step_functions_cost_usd
    );
    println!("{:<24} {:.0} ms", "demo total", r.total_ms);
    if !r.failed_invariants.is_empty() {
        println!("FAILED: {}", r.failed_invariants.join("; "));
    }
}
