//! `aurora-encrypt sandbox up|reset|down|status`: a local MariaDB "Aurora" to migrate.
//!
//! `up` starts a source cluster (a real `mariadbd` on a loopback address, `log_bin`, ROW
//! binlogs) seeded with the sample schema, points the DNS name at it, writes a ready-to-run
//! `spec.json` beside it and leaves it running; `reset` is `down` then `up`, to migrate again
//! from the start; `status` lists the clusters of the sandbox; `down` stops every server and
//! deletes the sandbox (or keeps the data with `--keep`). State lives in the sandbox directory,
//! so they run as separate invocations. Ctrl-C during `up` stops what it started.

use std::path::PathBuf;
use std::process::ExitCode;

use aurora_sandbox::{Sandbox, SandboxConfig, SandboxError};
use clap::{Args as ClapArgs, Subcommand};

/// The ready-to-run spec `up` writes into the sandbox directory.
pub(crate) const SPEC_FILE: &str = "spec.json";

#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub command: SandboxCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SandboxCommand {
    /// Start a seeded source cluster, write spec.json for it, and leave it running.
    Up(UpArgs),
    /// Delete the sandbox and start it again as `up` does: migrate again from the start.
    Reset(UpArgs),
    /// Stop every sandbox server and delete the sandbox directory.
    Down(DownArgs),
    /// List the sandbox's clusters and whether their servers run.
    Status(DirArgs),
}

#[derive(Debug, ClapArgs)]
pub(crate) struct DirArgs {
    /// Sandbox directory [default: <system temp dir>/aurora-encrypt-sandbox].
    #[arg(long = "sandbox-dir", value_name = "DIR", alias = "dir")]
    pub dir: Option<PathBuf>,
}

impl DirArgs {
    fn dir(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(SandboxConfig::default_dir)
    }
}

#[derive(Debug, ClapArgs)]
pub(crate) struct UpArgs {
    #[command(flatten)]
    pub dir: DirArgs,
    /// Rows seeded into each table of the sample schema.
    #[arg(long, default_value_t = 1000)]
    pub rows: u64,
    /// Port every cluster listens on, each on its own loopback address (not 3306).
    #[arg(long, default_value_t = aurora_sandbox::DEFAULT_PORT)]
    pub port: u16,
    /// Identifier of the source cluster.
    #[arg(long, default_value = "orders")]
    pub cluster: String,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct DownArgs {
    #[command(flatten)]
    pub dir: DirArgs,
    /// Stop the servers but keep the data directory.
    #[arg(long)]
    pub keep: bool,
}

pub(crate) async fn run(args: Args) -> ExitCode {
    let outcome = match args.command {
        SandboxCommand::Up(args) => up(args).await,
        SandboxCommand::Reset(args) => reset(args).await,
        SandboxCommand::Down(args) => down(args).await,
        SandboxCommand::Status(args) => status(args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn up(args: UpArgs) -> Result<ExitCode, SandboxError> {
    let config = SandboxConfig {
        dir: args.dir.dir(),
        port: args.port,
    };
    let sandbox = Sandbox::open(config)?;
    let work = async {
        if sandbox.status().iter().any(|c| c.id == args.cluster) {
            sandbox.start_cluster(&args.cluster).await?;
            println!("cluster {} was already there: running", args.cluster);
        } else {
            sandbox.create_source_cluster(&args.cluster).await?;
            let seeded = sandbox.seed_sample(&args.cluster, args.rows).await?;
            // Binlog retention set as on Aurora before a migration, so preflight passes.
            sandbox.prepare_source_for_migration(&args.cluster).await?;
            println!(
                "seeded `{}`: {} rows (customers {}, products {}, orders {}, audit_log {})",
                aurora_sandbox::schema::DATABASE,
                seeded.total(),
                seeded.customers,
                seeded.products,
                seeded.orders,
                seeded.audit_log
            );
        }
        Ok::<(), SandboxError>(())
    };
    tokio::select! {
        done = work => done?,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: stopping the sandbox's servers");
            sandbox.shutdown().await?;
            return Ok(ExitCode::from(130));
        }
    }
    sandbox.detach();
    print_connection_info(&sandbox);
    let spec_path = write_spec(&sandbox, &args.cluster)?;
    println!(
        "spec for a migration of `{}`: {}",
        args.cluster,
        spec_path.display()
    );
    println!(
        "run it with:\n  aurora-encrypt run --local --spec {} --sandbox-dir {} --time-scale 0.01",
        spec_path.display(),
        sandbox.dir().display()
    );
    println!(
        "  (switchover mode `approval`: answer `yes` at the prompt, or from another terminal:\n   aurora-encrypt approve --local --sandbox-dir {})",
        sandbox.dir().display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `spec.json` for migrating `cluster` to `<cluster>-encrypted`, with approval.
fn write_spec(sandbox: &Sandbox, cluster: &str) -> Result<PathBuf, SandboxError> {
    let spec =
        aurora_local::demo::sandbox_spec(cluster, &format!("{cluster}-encrypted"), "approval");
    let path = sandbox.dir().join(SPEC_FILE);
    let text = serde_json::to_string_pretty(&spec).unwrap_or_default();
    std::fs::write(&path, text + "\n").map_err(|source| SandboxError::Io {
        context: format!("writing {}", path.display()),
        source,
    })?;
    Ok(path)
}

async fn reset(args: UpArgs) -> Result<ExitCode, SandboxError> {
    let dir = args.dir.dir();
    if let Some(sandbox) = Sandbox::existing(&dir)? {
        sandbox.destroy().await?;
        println!("removed the sandbox in {}", dir.display());
    }
    up(args).await
}

fn print_connection_info(sandbox: &Sandbox) {
    println!("sandbox in {}", sandbox.dir().display());
    for cluster in sandbox.status() {
        println!(
            "  {}  {}:{}  {}{}",
            cluster.id,
            cluster.endpoint,
            cluster.port,
            cluster.status,
            if cluster.storage_encrypted {
                "  encrypted"
            } else {
                ""
            }
        );
        println!(
            "    admin: mariadb --defaults-file={}",
            cluster.defaults_file.display()
        );
    }
    if let Some(app) = sandbox.app_credentials() {
        println!(
            "  application user `{}` (password in {}), via DNS name {} (zone {})",
            app.user,
            sandbox.dir().join("sandbox.json").display(),
            aurora_sandbox::APP_RECORD,
            sandbox.dir().join("dns").join("sandbox.json").display()
        );
    }
    println!(
        "stop with: aurora-encrypt sandbox down --sandbox-dir {}",
        sandbox.dir().display()
    );
}

async fn down(args: DownArgs) -> Result<ExitCode, SandboxError> {
    let dir = args.dir.dir();
    let Some(sandbox) = Sandbox::existing(&dir)? else {
        println!("no sandbox in {}", dir.display());
        return Ok(ExitCode::SUCCESS);
    };
    if args.keep {
        sandbox.shutdown().await?;
        println!("stopped every server; data kept in {}", dir.display());
    } else {
        sandbox.destroy().await?;
        println!("stopped every server and removed {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn status(args: DirArgs) -> Result<ExitCode, SandboxError> {
    let dir = args.dir();
    let Some(sandbox) = Sandbox::existing(&dir)? else {
        println!("no sandbox in {}", dir.display());
        return Ok(ExitCode::SUCCESS);
    };
    let clusters = sandbox.status();
    if clusters.is_empty() {
        println!("sandbox in {}: no clusters", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<24} {:<10} {:<22} {:<8} {:<9}",
        "CLUSTER", "STATUS", "ENDPOINT", "PID", "ENCRYPTED"
    );
    for c in clusters {
        println!(
            "{:<24} {:<10} {:<22} {:<8} {:<9}",
            c.id,
            c.status,
            format!("{}:{}", c.endpoint, c.port),
            c.pid
                .filter(|_| c.running)
                .map_or_else(|| "-".to_string(), |p| p.to_string()),
            if c.storage_encrypted { "yes" } else { "no" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: SandboxCommand,
    }

    #[test]
    fn up_takes_rows_dir_and_port() {
        let cli = Cli::try_parse_from([
            "x",
            "up",
            "--rows",
            "50",
            "--sandbox-dir",
            "/tmp/sb",
            "--port",
            "23306",
        ])
        .unwrap();
        let SandboxCommand::Up(up) = cli.command else {
            panic!("not up");
        };
        assert_eq!(up.rows, 50);
        assert_eq!(up.port, 23306);
        assert_eq!(up.dir.dir(), PathBuf::from("/tmp/sb"));
        assert_eq!(up.cluster, "orders");
    }

    #[test]
    fn down_keeps_data_only_when_asked_and_dir_defaults_to_temp() {
        let cli = Cli::try_parse_from(["x", "down"]).unwrap();
        let SandboxCommand::Down(down) = cli.command else {
            panic!("not down");
        };
        assert!(!down.keep);
        assert_eq!(down.dir.dir(), SandboxConfig::default_dir());
        let cli = Cli::try_parse_from(["x", "down", "--keep"]).unwrap();
        assert!(matches!(
            cli.command,
            SandboxCommand::Down(DownArgs { keep: true, .. })
        ));
    }
}
