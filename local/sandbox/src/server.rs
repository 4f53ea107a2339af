//! One `mariadbd` on loopback: its option file, initialisation, start, readiness, shutdown.
//!
//! Every server and client command gets `--defaults-file=<dir>/my.cnf` as its FIRST argument
//! (MariaDB ignores it anywhere else), so nothing is read from `/etc/mysql` and a sandbox never
//! touches a system server. Each cluster listens on its own loopback address (`127.x.y.z`) at the
//! sandbox's port, like Aurora endpoints that differ by host name and share port 3306.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::error::{SandboxError, SandboxResult};
use crate::tools::{self, Tools};

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
}

impl ServerSpec {
    pub fn defaults_file(&self) -> PathBuf {
        self.dir.join("my.cnf")
    }
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
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
             log_error={log}\n\
             server_id={server_id}\n\
             log_bin={data}/mysql-bin\n\
             binlog_format=ROW\n\
             skip-name-resolve\n\
             innodb_buffer_pool_size=64M\n\
             innodb_log_file_size=32M\n\
             max_connections=200\n",
            socket = self.socket().display(),
            data = data.display(),
            host = self.host,
            port = self.port,
            pid = self.pid_file().display(),
            log = self.error_log().display(),
            server_id = self.server_id,
        );
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
        std::fs::create_dir_all(&self.dir)
            .map_err(SandboxError::io(format!("creating {}", self.dir.display())))?;
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

    /// Starts `mariadbd` in its own process group (a Ctrl-C in the terminal reaches the CLI,
    /// which decides what to stop) and waits until it answers.
    ///
    /// Until it answers, the server belongs to this call: if the call is abandoned (an
    /// interrupted demo, an aborted restore task), the server is killed. It used to be dropped
    /// unregistered and kept running on a directory the clean-up then deleted.
    pub async fn start(&self, tools: &Tools) -> SandboxResult<Child> {
        let mut child = Command::new(&tools.server)
            .arg(self.defaults_arg())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(SandboxError::io(format!(
                "starting {}",
                tools.server.display()
            )))?;
        let mut starting = KillUnlessHandedOver(child.id());
        if let Err(e) = self.wait_ready(tools, &mut child).await {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(e);
        }
        starting.0 = None;
        Ok(child)
    }

    async fn wait_ready(&self, tools: &Tools, child: &mut Child) -> SandboxResult<()> {
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(50);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(SandboxError::Command {
                    program: tools.server.display().to_string(),
                    status: status.to_string(),
                    output: self.error_log_tail(),
                });
            }
            if self.ping(tools).await {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(SandboxError::Timeout {
                    what: format!("mariadbd in {} to accept connections", self.dir.display()),
                    seconds: READY_TIMEOUT.as_secs(),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(500));
        }
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

/// The pid of a server being started: killed if dropped before [`ServerSpec::start`] hands the
/// server over (tokio reaps a dropped child in the background).
struct KillUnlessHandedOver(Option<u32>);

impl Drop for KillUnlessHandedOver {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            signal(pid, libc::SIGKILL);
        }
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

pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `pid` is a live process (not a zombie).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

pub(crate) fn signal(pid: u32, signal: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pid > 0 {
        // SAFETY: kill has no memory-safety preconditions; a stale pid yields ESRCH.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

async fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let started = tokio::time::Instant::now();
    while process_alive(pid) {
        if started.elapsed() > timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}
