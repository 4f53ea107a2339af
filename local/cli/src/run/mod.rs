//! `aurora-encrypt run --spec <spec.json> --local`: runs statemachine/encrypt-cluster.asl.json
//! on the local engine with every step in-process, over the MariaDB sandbox (`--backend
//! sandbox`, default) or AWS (`--backend aws`: the Lambdas' adapters, from this machine), with
//! the same progress view as `watch`. The approval gate is answered at a prompt, or at once with
//! `--auto-approve`. Ctrl-C stops the execution (like StopExecution: no rollback) and, on the
//! sandbox, stops its servers cleanly.

pub(crate) mod aws;
pub(crate) mod plan;
pub(crate) mod summary;

use std::path::PathBuf;
use std::process::ExitCode;

use asl_engine::Status;
use aurora_local::approval_box::ApprovalBox;
use aurora_local::{run_local, sandbox_ports, Approval, RunOptions, SandboxPortSettings};
use aurora_sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

use crate::progress::{Event, Progress};
use crate::view::{ProgressView, TerminalView};

pub(crate) const LONG_ABOUT: &str = "Run a migration with the state machine on this machine: every step runs in-process on the local Amazon States Language engine, over the MariaDB sandbox (--backend sandbox, started with `aurora-encrypt sandbox up`) or over AWS (--backend aws, with your credentials and the same adapters as the Lambdas). Shows phase, step, CDC lag and the next irreversible step; prints per-phase durations, state transitions and what Step Functions Standard would have charged.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Backend {
    Sandbox,
    Aws,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The migration spec (JSON).
    #[arg(long, value_name = "FILE")]
    pub spec: PathBuf,
    /// Run on the local engine (the only mode of `run`; deployed stacks use `start`).
    #[arg(long, required = true)]
    pub local: bool,
    /// Where the steps act.
    #[arg(long, value_enum, default_value_t = Backend::Sandbox)]
    pub backend: Backend,
    /// Approve the switchover as soon as the target is in sync.
    #[arg(long)]
    pub auto_approve: bool,
    /// Multiply every Wait and Retry interval by this factor (e.g. 0.01).
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub time_scale: f64,
    /// Write the execution history to this file as JSON lines.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// Sandbox directory [default: <system temp dir>/aurora-encrypt-sandbox].
    #[arg(long, value_name = "DIR")]
    pub sandbox_dir: Option<PathBuf>,
    /// RDS CA bundle (global-bundle.pem) for SQL over TLS (aws backend; or RDS_CA_BUNDLE).
    #[arg(long, value_name = "FILE")]
    pub rds_ca_bundle: Option<PathBuf>,
    /// Print the result as one JSON object on stdout (status, output or error and cause, state
    /// transitions) instead of progress lines and a summary; a dry run's plan is
    /// `output.preflight`.
    #[arg(long)]
    pub json: bool,
}

fn refuse(name: &str, message: &str) -> ExitCode {
    eprintln!("{}", json!({"error": name, "cause": message}));
    ExitCode::from(2)
}

pub(crate) async fn run(args: Args) -> ExitCode {
    let spec: Value = match std::fs::read_to_string(&args.spec)
        .map_err(|e| format!("cannot read {}: {e}", args.spec.display()))
        .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("not valid JSON: {e}")))
    {
        Ok(spec) => spec,
        Err(cause) => return refuse("InvalidInput", &cause),
    };
    let mut sandbox = None;
    let ports = match args.backend {
        Backend::Sandbox => {
            let dir = args
                .sandbox_dir
                .clone()
                .unwrap_or_else(SandboxConfig::default_dir);
            let opened = match Sandbox::existing(&dir) {
                Ok(Some(s)) => s,
                Ok(None) => {
                    return refuse(
                        "SandboxMissing",
                        &format!(
                            "no sandbox in {}: start one with `aurora-encrypt sandbox up`",
                            dir.display()
                        ),
                    )
                }
                Err(e) => return refuse("SandboxUnusable", &e.to_string()),
            };
            let Some((source, target)) =
                aurora_local::sandbox_ports::resolved_cluster_ids(&opened, &spec).await
            else {
                return refuse(
                    "InvalidInput",
                    "the spec does not parse: run `aurora-encrypt validate --spec` for details",
                );
            };
            let ports = sandbox_ports(&opened, &source, &target, SandboxPortSettings::default());
            sandbox = Some(opened);
            ports
        }
        Backend::Aws => match aws::ports(&spec, args.rds_ca_bundle.clone()).await {
            Ok(ports) => ports,
            Err(e) => return refuse(e.name, &e.message),
        },
    };
    let approval = if args.auto_approve {
        Approval::Auto
    } else {
        Approval::Prompt
    };
    let mut progress = Progress::new();
    let mut view = (!args.json).then(TerminalView::for_stdout);
    let hint = (approval == Approval::Prompt)
        .then_some("answer `yes` below, or `aurora-encrypt approve --local` from another terminal");
    let mailbox = sandbox
        .as_ref()
        .map(|s: &Sandbox| ApprovalBox::in_sandbox(s.dir()));
    let run = run_local(
        ports,
        spec,
        RunOptions {
            time_scale: args.time_scale,
            approval,
            mailbox,
            ..RunOptions::default()
        },
        |events| {
            for event in events {
                progress.apply(&Event::from(event));
            }
            let waiting = progress.pending_approval().is_some();
            if let Some(view) = view.as_mut() {
                view.show(&progress, if waiting { hint } else { None });
            }
        },
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await;
    let run = match run {
        Ok(run) => run,
        Err(e) => return refuse("InvalidDefinition", &e.to_string()),
    };
    let history = &run.outcome.history;
    if let Some(view) = view.as_mut() {
        view.finish(&progress);
        summary::print(
            history,
            run.outcome.state_transitions,
            &aurora_local::timing::timing(history),
        );
    }
    if let Some(path) = &args.history {
        if let Err(e) = std::fs::write(path, run.outcome.history_json_lines()) {
            eprintln!(
                "warning: cannot write the history to {}: {e}",
                path.display()
            );
        }
    }
    let sandbox_dir = sandbox.as_ref().map(|s| s.dir().to_path_buf());
    if let Some(sandbox) = sandbox {
        if run.interrupted {
            eprintln!("interrupted: the execution was stopped; stopping the sandbox's servers");
            if let Err(e) = sandbox.shutdown().await {
                eprintln!("error: {e}");
            }
            // A prompt may still be reading the terminal.
            std::process::exit(130);
        }
        // The target this run restored is the application's database now: keep it running.
        sandbox.detach();
    }
    if args.json {
        println!(
            "{}",
            result_json(&run.outcome.status, run.outcome.state_transitions)
        );
    }
    match run.outcome.status {
        Status::Succeeded(_) if args.json => ExitCode::SUCCESS,
        Status::Succeeded(output) => {
            if let Some(plan) = plan::render(&output) {
                print!("{plan}");
            }
            if let Some(cleaned) = output.get("cleanedUp") {
                println!("cleanup: {cleaned}");
            }
            ExitCode::SUCCESS
        }
        Status::Failed { error, .. } => {
            if let Some(dir) = sandbox_dir.filter(|_| reruns_need_a_reset(Some(error.as_str()))) {
                eprintln!(
                    "the sandbox still holds an earlier run's result; to migrate again from the start: aurora-encrypt sandbox reset --sandbox-dir {}",
                    dir.display()
                );
            }
            ExitCode::from(1)
        }
        Status::Aborted => ExitCode::from(130),
    }
}

/// `run --json`'s one line: what `DescribeExecution` would say of the execution.
fn result_json(status: &Status, state_transitions: u64) -> Value {
    match status {
        Status::Succeeded(output) => json!({
            "status": "SUCCEEDED",
            "output": output,
            "stateTransitions": state_transitions,
        }),
        Status::Failed { error, cause } => json!({
            "status": "FAILED",
            "error": error,
            "cause": cause,
            "stateTransitions": state_transitions,
        }),
        Status::Aborted => json!({"status": "ABORTED", "stateTransitions": state_transitions}),
    }
}

/// Errors a second run on the same sandbox meets: the first one's target exists, or DNS already
/// points at it.
fn reruns_need_a_reset(error: Option<&str>) -> bool {
    use aurora_core::error_names::{DNS_RECORD_NOT_ON_SOURCE, TARGET_CLUSTER_TAKEN};
    matches!(error, Some(e) if e == TARGET_CLUSTER_TAKEN || e == DNS_RECORD_NOT_ON_SOURCE)
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
    fn json_result_is_the_status_with_the_output_or_the_error_and_cause() {
        let plan = json!({"preflight": {"dryRun": true, "resources": [{"action": "create"}]}});
        let ok = result_json(&Status::Succeeded(plan), 3);
        assert_eq!(ok["status"], "SUCCEEDED");
        assert_eq!(
            ok["output"]["preflight"]["resources"][0]["action"],
            "create"
        );
        assert_eq!(ok["stateTransitions"], 3);
        let failed = result_json(
            &Status::Failed {
                error: "SnapshotFailed".into(),
                cause: Some("snapshot orders-x failed".into()),
            },
            9,
        );
        assert_eq!(failed["status"], "FAILED");
        assert_eq!(failed["error"], "SnapshotFailed");
        assert_eq!(failed["cause"], "snapshot orders-x failed");
        assert!(failed.get("output").is_none());
        assert_eq!(result_json(&Status::Aborted, 1)["status"], "ABORTED");
        let cli = Cli::try_parse_from(["x", "--spec", "s.json", "--local", "--json"]).unwrap();
        assert!(cli.args.json);
    }

    #[test]
    fn run_needs_local_and_defaults_to_the_sandbox_backend() {
        assert!(Cli::try_parse_from(["x", "--spec", "s.json"]).is_err());
        let cli = Cli::try_parse_from(["x", "--spec", "s.json", "--local"]).unwrap();
        assert_eq!(cli.args.backend, Backend::Sandbox);
        assert!(!cli.args.auto_approve);
        let cli = Cli::try_parse_from([
            "x",
            "--spec",
            "s.json",
            "--local",
            "--backend",
            "aws",
            "--auto-approve",
            "--time-scale",
            "0.01",
        ])
        .unwrap();
        assert_eq!(cli.args.backend, Backend::Aws);
        assert!(cli.args.auto_approve);
        assert_eq!(cli.args.time_scale, 0.01);
    }
}
