//! `aurora-encrypt asl …`: local work on Amazon States Language definitions.

mod run;

use std::process::ExitCode;

use clap::Subcommand;

pub(crate) use run::RunArgs;

/// Arguments of `aurora-encrypt asl`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub command: AslCommand,
}

/// The `asl` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AslCommand {
    /// Run a definition in-process and print its output.
    ///
    /// Prints the final output as JSON on stdout and exits 0 when the execution succeeds. When
    /// it fails, prints {"error": …, "cause": …} on stderr and exits 1; an unreadable or
    /// invalid definition or input exits 2. Task states need handlers, which this command does
    /// not provide: a Task fails with States.Runtime naming its resource.
    Run(RunArgs),
}

/// Runs an `asl` subcommand.
pub(crate) async fn run(args: Args) -> ExitCode {
    match args.command {
        AslCommand::Run(args) => run::run(args).await,
    }
}
