//! `aurora-encrypt`: the command line of the project.
//!
//! Each command (or group: `asl`, `sandbox`, the Step Functions commands in `sfn`) lives in its
//! own module; a new one is a new variant of [`Command`] plus a module exposing `Args` and `run`.

mod asl;
mod demo;
mod failure;
mod progress;
mod run;
mod sandbox;
mod sfn;
mod validate;
mod view;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Encrypt an unencrypted Aurora MySQL cluster with minimal downtime, and run its state
/// machine locally.
#[derive(Debug, Parser)]
#[command(name = "aurora-encrypt", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with Amazon States Language definitions locally.
    Asl(asl::Args),
    /// Check a migration spec offline and print it with its defaults.
    #[command(long_about = validate::LONG_ABOUT)]
    Validate(validate::Args),
    /// Start a migration on the deployed state machine.
    #[command(long_about = sfn::start::LONG_ABOUT)]
    Start(sfn::start::Args),
    /// Follow an execution: phase, step, CDC lag, approval, cost.
    #[command(long_about = sfn::watch::LONG_ABOUT)]
    Watch(sfn::watch::Args),
    /// Approve the switchover of an execution waiting at its approval gate.
    #[command(long_about = sfn::approve::APPROVE_LONG_ABOUT)]
    Approve(sfn::approve::ApproveArgs),
    /// Refuse the switchover at the approval gate: the execution rolls back.
    #[command(long_about = sfn::approve::ABORT_LONG_ABOUT)]
    Abort(sfn::approve::AbortArgs),
    /// Fail back to the old cluster during a failback window, without losing a write.
    #[command(long_about = sfn::approve::FAILBACK_LONG_ABOUT)]
    Failback(sfn::approve::FailbackArgs),
    /// List the executions of the deployed state machine.
    #[command(long_about = sfn::list::LONG_ABOUT)]
    List(sfn::list::Args),
    /// Local MariaDB clusters to migrate: up, status, down.
    Sandbox(sandbox::Args),
    /// Run a migration on the local engine, every step in-process (sandbox or AWS).
    #[command(long_about = run::LONG_ABOUT)]
    Run(run::Args),
    /// Migrate a live local database under load and prove nothing was lost.
    #[command(long_about = demo::LONG_ABOUT)]
    Demo(demo::Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Asl(args) => asl::run(args).await,
        Command::Validate(args) => validate::run(args),
        Command::Start(args) => sfn::start::run(args).await,
        Command::Watch(args) => sfn::watch::run(args).await,
        Command::Approve(args) => sfn::approve::run_approve(args).await,
        Command::Abort(args) => sfn::approve::run_abort(args).await,
        Command::Failback(args) => sfn::approve::run_failback(args).await,
        Command::List(args) => sfn::list::run(args).await,
        Command::Sandbox(args) => sandbox::run(args).await,
        Command::Run(args) => run::run(args).await,
        Command::Demo(args) => demo::run(args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn asl_run_parses_its_options() {
        let cli = Cli::try_parse_from([
            "aurora-encrypt",
            "asl",
            "run",
            "def.asl.json",
            "--input",
            "-",
            "--time-scale",
            "0.01",
            "--history",
            "h.jsonl",
        ])
        .unwrap();
        let Command::Asl(args) = cli.command else {
            panic!("parsed as another command")
        };
        let asl::AslCommand::Run(run) = args.command;
        assert_eq!(run.definition.to_str(), Some("def.asl.json"));
        assert_eq!(run.input.as_deref(), Some("-"));
        assert_eq!(run.time_scale, 0.01);
    }

    #[test]
    fn time_scale_must_be_a_number() {
        assert!(Cli::try_parse_from([
            "aurora-encrypt",
            "asl",
            "run",
            "d.json",
            "--time-scale",
            "fast"
        ])
        .is_err());
    }
}
