//! Throw-away MariaDB servers for tests (feature `testing`): [`TestServer::start`] runs
//! `mariadbd` on 127.0.0.1 at a free port (never 3306) with `log_bin`, `binlog_format=ROW` and
//! the given `server_id`, in a fresh data directory under the system temp dir, waits until it
//! accepts logins, and kills it and deletes the directory on drop (also when a test panics).
//!
//! `mariadb-install-db` takes seconds, so it runs once per MariaDB version into a template
//! directory (`$TMPDIR/aurora-sql-mariadb-template-<hash>`, built beside and renamed into
//! place, so concurrent test processes agree) and every server starts from a copy.
//! Servers run as the current user (`--user=root` when that is root, which mariadbd requires).
//!
//! Every server has an `admin`@`%` user with all privileges and a random password
//! ([`TestServer::admin`]); root logs in without a password from 127.0.0.1 only.

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aurora_core::ports::DatabaseEndpoint;
use mysql_async::prelude::Queryable;

use crate::credentials::{ConnectionSettings, Credentials, Tls};
use crate::launcher;

/// How long a server may take to accept logins (a loaded 2-core machine is slow to start one).
pub const START_TIMEOUT: Duration = Duration::from_secs(90);

/// The install command to suggest when MariaDB is missing.
pub const INSTALL_HINT: &str =
    "apt-get update && apt-get install -y mariadb-server mariadb-client mariadb-backup";

const HOST: &str = "127.0.0.1";

/// Why a test server could not start.
#[derive(Debug)]
pub struct HarnessError(pub String);

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HarnessError {}

impl From<io::Error> for HarnessError {
    fn from(error: io::Error) -> Self {
        Self(error.to_string())
    }
}

/// Options of [`TestServer::start_with`].
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Unique among servers that replicate with each other.
    pub server_id: u32,
    /// Extra `[mariadbd]` lines of the defaults file, e.g. `"read_only = ON"`.
    pub extra_config: Vec<String>,
    /// Serve TLS with a certificate for 127.0.0.1 from a throw-away CA
    /// ([`TestServer::ca_cert`]); needs `openssl`.
    pub tls: bool,
}

impl ServerOptions {
    pub fn new(server_id: u32) -> Self {
        Self {
            server_id,
            extra_config: Vec::new(),
            tls: false,
        }
    }
}

/// A running `mariadbd`, killed and deleted on drop.
pub struct TestServer {
    /// Held so that tokio reaps the process once it is killed.
    _child: tokio::process::Child,
    pid: u32,
    dir: PathBuf,
    port: u16,
    admin_password: String,
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("pid", &self.pid)
            .field("port", &self.port)
            .field("dir", &self.dir)
            .finish()
    }
}

/// `mariadbd` from the PATH, or where Debian puts it when `/usr/sbin` is not on the PATH.
fn mariadbd() -> PathBuf {
    launcher::find_program(&launcher::search_dirs(), &["mariadbd", "mysqld"])
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/mariadbd"))
}

fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Settings both the template install and every server use (the redo log size must match).
fn common_config(user_line: &str) -> String {
    format!(
        "{user_line}\
         innodb_buffer_pool_size = 32M\n\
         innodb_log_file_size = 16M\n\
         innodb_flush_log_at_trx_commit = 2\n\
         sync_binlog = 0\n\
         performance_schema = OFF\n\
         skip_name_resolve = ON\n\
         max_connections = 60\n"
    )
}

fn user_line() -> &'static str {
    if launcher::running_as_root() {
        "user = root\n"
    } else {
        ""
    }
}

/// The data directory `mariadb-install-db` produces, built once per MariaDB version.
fn template() -> Result<PathBuf, HarnessError> {
    let version = Command::new(mariadbd())
        .arg("--version")
        .output()
        .map_err(|e| {
            HarnessError(format!(
                "mariadbd not found ({e}); install it: {INSTALL_HINT}"
            ))
        })?;
    let mut hasher = DefaultHasher::new();
    version.stdout.hash(&mut hasher);
    common_config(user_line()).hash(&mut hasher);
    let final_dir = std::env::temp_dir().join(format!(
        "aurora-sql-mariadb-template-{:016x}",
        hasher.finish()
    ));
    if final_dir.join("mysql").join("global_priv.frm").exists() {
        return Ok(final_dir);
    }
    let build = std::env::temp_dir().join(unique_name("aurora-sql-template-build"));
    fs::create_dir_all(&build)?;
    let cnf = build.join("install.cnf");
    let data = build.join("data");
    fs::write(&cnf, format!("[mariadbd]\n{}", common_config(user_line())))?;
    let mut install = Command::new("mariadb-install-db");
    install
        .arg(format!("--defaults-file={}", cnf.display()))
        .arg(format!("--datadir={}", data.display()))
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db");
    if launcher::running_as_root() {
        install.arg("--user=root");
    }
    let output = install.output().map_err(|e| {
        HarnessError(format!(
            "mariadb-install-db failed to run ({e}); install it: {INSTALL_HINT}"
        ))
    })?;
    if !output.status.success() {
        let _ = fs::remove_dir_all(&build);
        return Err(HarnessError(format!(
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    // Another process may have won the race; either way `final_dir` is complete afterwards.
    if fs::rename(&data, &final_dir).is_err() && !final_dir.join("mysql").exists() {
        let _ = fs::remove_dir_all(&build);
        return Err(HarnessError(format!(
            "could not move the template into {}",
            final_dir.display()
        )));
    }
    let _ = fs::remove_dir_all(&build);
    Ok(final_dir)
}

fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// A CA and a server certificate for 127.0.0.1 signed by it, as `ca.pem`, `server.pem` and
/// `server-key.pem` in `dir`.
fn make_certificates(dir: &Path) -> Result<(), HarnessError> {
    let run = |args: &[&str]| -> Result<(), HarnessError> {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| HarnessError(format!("openssl failed to run: {e}")))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(HarnessError(format!(
                "openssl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            )))
        }
    };
    fs::write(
        dir.join("server-ext.cnf"),
        "subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\n",
    )?;
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=aurora-sql test CA",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
    ])?;
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server-key.pem",
        "-out",
        "server.csr",
    ])?;
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server-ext.cnf",
        "-out",
        "server.pem",
    ])
}

/// A SQL string literal (account names and passwords cannot be statement parameters).
fn sql_string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((HOST, 0))?;
    Ok(listener.local_addr()?.port())
}

fn random_password() -> String {
    let mut hasher = DefaultHasher::new();
    unique_name("pw").hash(&mut hasher);
    Instant::now().hash(&mut hasher);
    format!("T3st-{:016x}", hasher.finish())
}

impl TestServer {
    /// Starts a server with `server_id`.
    pub async fn start(server_id: u32) -> Result<Self, HarnessError> {
        Self::start_with(ServerOptions::new(server_id)).await
    }

    pub async fn start_with(options: ServerOptions) -> Result<Self, HarnessError> {
        let template = tokio::task::spawn_blocking(template)
            .await
            .map_err(|e| HarnessError(format!("template install panicked: {e}")))??;
        // A port found free may be taken before mariadbd binds it: try a few.
        let mut last_error = HarnessError("no attempt made".into());
        for _ in 0..4 {
            match Self::try_start(&template, &options).await {
                Ok(server) => return Ok(server),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    async fn try_start(template: &Path, options: &ServerOptions) -> Result<Self, HarnessError> {
        let dir = std::env::temp_dir().join(unique_name("aurora-sql-mariadb"));
        let (cnf, port) = match Self::prepare(&dir, template, options).await {
            Ok(prepared) => prepared,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let ready = || async move {
            let opts = mysql_async::OptsBuilder::default()
                .ip_or_hostname(HOST)
                .tcp_port(port)
                .user(Some("root"))
                .prefer_socket(false);
            match tokio::time::timeout(Duration::from_secs(5), mysql_async::Conn::new(opts)).await {
                Ok(Ok(conn)) => {
                    let _ = conn.disconnect().await;
                    true
                }
                _ => false,
            }
        };
        let child = match launcher::start_server(&mariadbd(), &cnf, START_TIMEOUT, ready).await {
            Ok(child) => child,
            Err(e) => {
                let message = format!(
                    "{e} (install it if missing: {INSTALL_HINT}):\n{}",
                    error_log_tail(&dir)
                );
                let _ = fs::remove_dir_all(&dir);
                return Err(HarnessError(message));
            }
        };
        // From here on, dropping `server` kills the process and deletes the directory.
        let server = TestServer {
            pid: child.id().unwrap_or_default(),
            _child: child,
            dir,
            port,
            admin_password: random_password(),
        };
        server.create_admin().await?;
        Ok(server)
    }

    /// The data directory copy, certificates and defaults file; returns the file and the port.
    async fn prepare(
        dir: &Path,
        template: &Path,
        options: &ServerOptions,
    ) -> Result<(PathBuf, u16), HarnessError> {
        let data = dir.join("data");
        let template = template.to_path_buf();
        let data_copy = data.clone();
        tokio::task::spawn_blocking(move || copy_dir(&template, &data_copy))
            .await
            .map_err(|e| HarnessError(format!("copy panicked: {e}")))??;
        let port = free_port()?;
        let cnf = dir.join("my.cnf");
        let mut config = format!(
            "[mariadbd]\n{}\
             datadir = {data}\n\
             port = {port}\n\
             bind_address = {HOST}\n\
             socket = {dir}/mariadbd.sock\n\
             pid_file = {dir}/mariadbd.pid\n\
             log_error = {dir}/error.log\n\
             tmpdir = {dir}\n\
             server_id = {id}\n\
             log_bin = mysql-bin\n\
             binlog_format = ROW\n\
             relay_log = relay-bin\n\
             skip_slave_start = ON\n",
            common_config(user_line()),
            data = data.display(),
            dir = dir.display(),
            id = options.server_id,
        );
        if options.tls {
            let cert_dir = dir.to_path_buf();
            tokio::task::spawn_blocking(move || make_certificates(&cert_dir))
                .await
                .map_err(|e| HarnessError(format!("certificates panicked: {e}")))??;
            config.push_str(&format!(
                "ssl_ca = {dir}/ca.pem\nssl_cert = {dir}/server.pem\nssl_key = {dir}/server-key.pem\n",
                dir = dir.display()
            ));
        }
        for line in &options.extra_config {
            config.push_str(line);
            config.push('\n');
        }
        fs::write(&cnf, config)?;
        Ok((cnf, port))
    }

    async fn create_admin(&self) -> Result<(), HarnessError> {
        let sql = format!(
            "SET SESSION sql_log_bin = 0; \
             CREATE USER 'admin'@'%' IDENTIFIED BY '{pw}'; \
             GRANT ALL PRIVILEGES ON *.* TO 'admin'@'%' WITH GRANT OPTION;",
            pw = self.admin_password
        );
        self.root_query(&sql).await
    }

    async fn root_query(&self, sql: &str) -> Result<(), HarnessError> {
        let mut conn = self.root_conn().await?;
        let done = conn.query_drop(sql).await;
        let _ = conn.disconnect().await;
        done.map_err(|e| HarnessError(format!("{e}")))
    }

    async fn root_conn(&self) -> Result<mysql_async::Conn, HarnessError> {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname(HOST)
            .tcp_port(self.port)
            .user(Some("root"))
            .prefer_socket(false);
        mysql_async::Conn::new(opts)
            .await
            .map_err(|e| HarnessError(format!("connect as root: {e}")))
    }

    /// The last lines of the server's error log, for failure messages.
    pub fn error_log_tail(&self) -> String {
        error_log_tail(&self.dir)
    }

    pub fn host(&self) -> &str {
        HOST
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's directory: `data/`, `my.cnf` (its `--defaults-file`), `error.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The CA that signed the server's certificate, when started with `tls`.
    pub fn ca_cert(&self) -> Option<PathBuf> {
        let ca = self.dir.join("ca.pem");
        ca.exists().then_some(ca)
    }

    /// The `admin`@`%` user (all privileges, with grant option).
    pub fn admin(&self) -> ConnectionSettings {
        ConnectionSettings::new(
            HOST,
            self.port,
            Credentials::new("admin", &self.admin_password),
            Tls::Disabled,
        )
    }

    /// This server as a replication endpoint named `cluster_id`.
    pub fn endpoint(&self, cluster_id: &str) -> DatabaseEndpoint {
        DatabaseEndpoint {
            cluster_id: cluster_id.to_string(),
            host: HOST.to_string(),
            port: i32::from(self.port),
        }
    }

    /// A connection as root, for test set-up and assertions.
    pub async fn conn(&self) -> Result<mysql_async::Conn, HarnessError> {
        self.root_conn().await
    }

    /// Runs SQL (several statements allowed) as root, discarding results.
    pub async fn execute(&self, sql: &str) -> Result<(), HarnessError> {
        self.root_query(sql).await
    }

    /// Creates a replication user (`REPLICATION SLAVE`, `REPLICATION CLIENT`) without writing
    /// it to the binlog.
    pub async fn create_replication_user(
        &self,
        credentials: &Credentials,
    ) -> Result<(), HarnessError> {
        let mut conn = self.root_conn().await?;
        let done = async {
            conn.query_drop("SET SESSION sql_log_bin = 0").await?;
            let user = format!("{}@'%'", sql_string(credentials.username()));
            conn.query_drop(format!(
                "CREATE USER {user} IDENTIFIED BY {}",
                sql_string(credentials.password())
            ))
            .await?;
            conn.query_drop(format!(
                "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO {user}"
            ))
            .await
        }
        .await;
        let _ = conn.disconnect().await;
        done.map_err(|e| HarnessError(format!("create replication user: {e}")))
    }

    /// Installs [`crate::RDS_STAND_INS`].
    pub async fn install_rds_stand_ins(&self) -> Result<(), HarnessError> {
        crate::install_rds_stand_ins(&self.admin())
            .await
            .map_err(|e| HarnessError(e.to_string()))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Nothing to preserve: SIGKILL is immediate and cannot be ignored.
        launcher::signal(self.pid, libc::SIGKILL);
        launcher::wait_gone_blocking(self.pid, Duration::from_secs(30));
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The last lines of the error log of the server in `dir`, for failure messages.
fn error_log_tail(dir: &Path) -> String {
    let log = fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
