//! One `mariadbd` on loopback: its option file, initialisation, start, readiness, shutdown.
//!
//! Every server and client command gets `--defaults-file=<dir>/my.cnf` as its FIRST argument
//! (MariaDB ignores it anywhere else), so nothing is read from `/etc/mysql` and a sandbox never
//! touches a system server. Each cluster listens on its own loopback address (`127.x.y.z`) at the
//! sandbox's port, like Aurora endpoints that differ by host name and share port 3306.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aurora_sql::launcher::{self, LaunchError};
use tokio::process::Child;

use crate::error::{SandboxError, SandboxResult};

// The process helpers the sandbox uses, from the one launcher.
use crate::tools::{self, Tools};
pub use aurora_sql::launcher::process_alive;
pub(crate) use aurora_sql::launcher::{running_as_root as is_root, signal, wait_gone};

/// How long a server may take to become ready (generous: a loaded 2-core CI machine).
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a clean shutdown may take before the server is killed.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);

/// Encryption at rest: the key file is the sandbox's stand-in for a KMS key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encryption {
    pub key_file: PathBuf,
}

/// Where a server lives and how it is configured.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// The cluster directory: `my.cnf`, `data/`, the error log and the pid file.
    pub dir: PathBuf,
    pub host: Ipv4Addr,
    pub port: u16,
    pub server_id: u32,
    pub encryption: Option<Encryption>,
    /// Parameter group values the server runs with, written into its option file:
    /// `performance_schema` (`1`: statement statistics kept with the consumers Aurora MySQL 3
    /// enables, current events and their history) and `binlog_format` (`OFF`: no binary log).
    pub parameters: std::collections::BTreeMap<String, String>,
}

impl ServerSpec {
    pub fn defaults_file(&self) -> PathBuf {
        self.dir.join("my.cnf")
    }
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
    /// The server's own `tmpdir`: MariaDB deletes every `#sql*` file in its tmpdir when it
    /// starts, so servers sharing the system temp dir would delete each other's internal
    /// temporary tables mid-query.
    pub fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }
    pub fn error_log(&self) -> PathBuf {
        self.dir.join("error.log")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("mariadbd.pid")
    }
    /// The Unix socket; unix socket paths are limited to 107 bytes, so a deep directory falls
    /// back to a name in the system temp dir derived from the directory.
    pub fn socket(&self) -> PathBuf {
        let socket = self.dir.join("mariadbd.sock");
        if socket.as_os_str().len() < 100 {
            return socket;
        }
        let hash = self
            .dir
            .as_os_str()
            .as_encoded_bytes()
            .iter()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
            });
        std::env::temp_dir().join(format!("aurora-sandbox-{hash:016x}.sock"))
    }

    /// `--defaults-file=…`, the argument every command starts with.
    pub fn defaults_arg(&self) -> String {
        format!("--defaults-file={}", self.defaults_file().display())
    }

    fn parameter_is(&self, name: &str, values: &[&str]) -> bool {
        self.parameters
            .get(name)
            .is_some_and(|v| values.iter().any(|x| v.eq_ignore_ascii_case(x)))
    }

    /// The option file's text.
    pub fn option_file(&self) -> String {
        let data = self.data_dir();
        let mut text = format!(
            "# Written by aurora-sandbox; every command is given this file first.\n\
             [client]\n\
             socket={socket}\n\
             user=root\n\
             \n\
             [mariadbd]\n\
             datadir={data}\n\
             socket={socket}\n\
             bind-address={host}\n\
             port={port}\n\
             pid-file={pid}\n\
             tmpdir={tmp}\n\
             log_error={log}\n\
             server_id={server_id}\n\
             {binlog}\
             skip-name-resolve\n\
             innodb_buffer_pool_size=64M\n\
             innodb_log_file_size=32M\n\
             max_connections=200\n",
            socket = self.socket().display(),
            data = data.display(),
            host = self.host,
            port = self.port,
            pid = self.pid_file().display(),
            tmp = self.tmp_dir().display(),
            log = self.error_log().display(),
            server_id = self.server_id,
            binlog = if self.parameter_is("binlog_format", &["OFF"]) {
                String::new()
            } else {
                format!("log_bin={}/mysql-bin\nbinlog_format=ROW\n", data.display())
            },
        );
        if self.parameter_is("performance_schema", &["1", "ON"]) {
            // MariaDB enables fewer consumers than MySQL 8.0: statement history needs these.
            text.push_str(
                "performance_schema=ON\n\
                 performance-schema-consumer-events-statements-current=ON\n\
                 performance-schema-consumer-events-statements-history-long=ON\n",
            );
        }
        // mariadbd refuses to run as root unless told to.
        if is_root() {
            text.push_str("user=root\n");
        }
        if let Some(encryption) = &self.encryption {
            text.push_str(&format!(
                "# Encryption at rest; innodb_encryption_threads also encrypts the tablespaces\n\
                 # a restore copied back unencrypted, in the background.\n\
                 plugin_load_add=file_key_management\n\
                 file_key_management_filename={}\n\
                 file_key_management_encryption_algorithm=AES_CTR\n\
                 innodb_encrypt_tables=ON\n\
                 innodb_encrypt_log=ON\n\
                 innodb_encrypt_temporary_tables=ON\n\
                 innodb_encryption_threads=4\n\
                 # Pages freed after the copy-back (purged undo logs) are zeroed: background\n\
                 # encryption skips free pages, which would keep their plaintext otherwise.\n\
                 innodb_immediate_scrub_data_uncompressed=ON\n\
                 encrypt_binlog=ON\n\
                 encrypt_tmp_files=ON\n\
                 encrypt_tmp_disk_tables=ON\n\
                 aria_encrypt_tables=ON\n",
                encryption.key_file.display()
            ));
        }
        text
    }

    pub fn write_option_file(&self) -> SandboxResult<()> {
        std::fs::create_dir_all(self.tmp_dir()).map_err(SandboxError::io(format!(
            "creating {}",
            self.tmp_dir().display()
        )))?;
        write_private(&self.defaults_file(), self.option_file().as_bytes())
    }

    /// `mariadb-install-db`: system tables, `root` with no password (loopback only).
    pub async fn initialise(&self, tools: &Tools) -> SandboxResult<()> {
        self.write_option_file()?;
        tools::run(
            &tools.install_db,
            &[
                self.defaults_arg(),
                "--auth-root-authentication-method=normal".into(),
                "--skip-test-db".into(),
            ],
        )
        .await?;
        Ok(())
    }

    /// Starts `mariadbd` and waits until it answers, through the one launcher
    /// ([`aurora_sql::launcher`]): a start that is abandoned (an interrupted demo, an aborted
    /// restore task) or never answers kills the server.
    pub async fn start(&self, tools: &Tools) -> SandboxResult<Child> {
        launcher::start_server(&tools.server, &self.defaults_file(), READY_TIMEOUT, || {
            self.ping(tools)
        })
        .await
        .map_err(|e| match e {
            LaunchError::Spawn { program, source } => SandboxError::Io {
                context: format!("starting {program}"),
                source,
            },
            LaunchError::Exited { program, status } => SandboxError::Command {
                program,
                status,
                output: self.error_log_tail(),
            },
            LaunchError::NotReady { timeout, .. } => SandboxError::Timeout {
                what: format!("mariadbd in {} to accept connections", self.dir.display()),
                seconds: timeout.as_secs(),
            },
        })
    }

    /// `mariadb-admin ping` over the socket: true once the server accepts connections.
    pub async fn ping(&self, tools: &Tools) -> bool {
        tools::run(
            &tools.admin,
            &[
                self.defaults_arg(),
                "--connect-timeout=2".into(),
                "ping".into(),
            ],
        )
        .await
        .is_ok()
    }

    /// Clean shutdown (`mariadb-admin shutdown`, which flushes everything), waiting until the
    /// process is gone; killed if it does not go in time.
    pub async fn shutdown(&self, tools: &Tools, pid: u32) -> SandboxResult<()> {
        if !process_alive(pid) {
            return Ok(());
        }
        let asked = tools::run(&tools.admin, &[self.defaults_arg(), "shutdown".into()]).await;
        if asked.is_err() {
            signal(pid, libc::SIGTERM);
        }
        if wait_gone(pid, SHUTDOWN_TIMEOUT).await {
            return Ok(());
        }
        signal(pid, libc::SIGKILL);
        if wait_gone(pid, Duration::from_secs(30)).await {
            Ok(())
        } else {
            Err(SandboxError::Timeout {
                what: format!("mariadbd {pid} to exit"),
                seconds: SHUTDOWN_TIMEOUT.as_secs() + 30,
            })
        }
    }

    pub fn error_log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.error_log()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join(" | ")
    }
}

/// Writes a file only its owner can read (option files and keys).
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> SandboxResult<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(SandboxError::io(format!("writing {}", path.display())))?;
    file.write_all(contents)
        .map_err(SandboxError::io(format!("writing {}", path.display())))
}
