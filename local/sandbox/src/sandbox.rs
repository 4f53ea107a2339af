//! [`Sandbox`]: a directory of MariaDB clusters, their registry, and the processes this process
//! started. Servers keep running between CLI invocations (`sandbox up`, then `status`, then
//! `down`); a `Sandbox` that is dropped without [`Sandbox::detach`] kills the servers it started
//! itself, so a failed test or a panic leaves nothing running.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aurora_core::ports::DatabaseEndpoint;
use mysql_async::prelude::Queryable;
use time::OffsetDateTime;
use tokio::process::Child;

use crate::error::{SandboxError, SandboxResult};
use crate::registry::{self, ClusterRecord, Credentials, InstanceRecord, Registry};
use crate::schema::{self, SeedReport};
use crate::server::{self, ServerSpec};
use crate::tools::Tools;
use crate::{SandboxClusters, SandboxDns, SandboxFence};

/// The port every sandbox cluster listens on unless told otherwise (never 3306).
pub const DEFAULT_PORT: u16 = 13306;
/// The zone the sandbox's DNS records live in.
pub const ZONE_ID: &str = "sandbox";
/// The application's DNS name: a CNAME to the writer endpoint of the cluster it uses.
pub const APP_RECORD: &str = "db.sandbox.internal";
/// TTL of the application record: clients re-resolve at least this often.
pub const APP_RECORD_TTL: i64 = 1;
/// The instance class sandbox instances report.
pub const INSTANCE_CLASS: &str = "db.sandbox";
/// The engine sandbox clusters report: they stand in for Aurora MySQL.
pub const ENGINE: &str = "aurora-mysql";
/// The secret ARN [`Sandbox::secrets`] answers with the replication user (the spec's
/// `replication.sourceSecretArn` for a sandbox run).
pub const REPLICATION_SECRET_ARN: &str =
    "arn:aws:secretsmanager:sandbox:000000000000:secret:aurora-sandbox-replication";
/// The secret ARN [`Sandbox::secrets`] answers with the administrator (`targetSecretArn`).
pub const ADMIN_SECRET_ARN: &str =
    "arn:aws:secretsmanager:sandbox:000000000000:secret:aurora-sandbox-admin";
/// The replication user's name.
pub const REPLICATION_USER: &str = "repl";
/// The privileged application user's name ([`Sandbox::ensure_privileged_app_user`]).
pub const PRIVILEGED_APP_USER: &str = "admin";

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Everything lives here: registry, clusters, snapshots, keys, zones.
    pub dir: PathBuf,
    /// Used when the sandbox is created; an existing sandbox keeps its port.
    pub port: u16,
}

impl SandboxConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            port: DEFAULT_PORT,
        }
    }

    /// `<system temp dir>/aurora-encrypt-sandbox`.
    pub fn default_dir() -> PathBuf {
        std::env::temp_dir().join("aurora-encrypt-sandbox")
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self::new(Self::default_dir())
    }
}

/// What `status` shows of one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterStatus {
    pub id: String,
    pub status: String,
    pub endpoint: String,
    pub port: u16,
    pub pid: Option<u32>,
    pub running: bool,
    pub storage_encrypted: bool,
    pub defaults_file: PathBuf,
    pub data_dir: PathBuf,
}

pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) tools: Tools,
    pub(crate) registry: Mutex<Registry>,
    pub(crate) children: Mutex<HashMap<String, Child>>,
    pub(crate) tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    detached: std::sync::atomic::AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
        if self.detached.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        for (_, child) in lock(&self.children).iter_mut() {
            let _ = child.start_kill();
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A handle on one sandbox directory; cheap to clone, shared by the port adapters.
#[derive(Clone)]
pub struct Sandbox {
    pub(crate) inner: Arc<Inner>,
}

impl Sandbox {
    /// Opens the sandbox in `config.dir`, creating it if needed. Refuses, naming the install
    /// command, when MariaDB is missing.
    pub fn open(config: SandboxConfig) -> SandboxResult<Self> {
        let tools = Tools::locate()?;
        if config.port == 3306 {
            return Err(SandboxError::InvalidState(
                "port 3306 is left to a system server; choose another".into(),
            ));
        }
        std::fs::create_dir_all(&config.dir).map_err(SandboxError::io(format!(
            "creating {}",
            config.dir.display()
        )))?;
        let dir = config.dir.canonicalize().map_err(SandboxError::io(format!(
            "resolving {}",
            config.dir.display()
        )))?;
        let registry = {
            let _locked = registry::RegistryLock::exclusive(&dir)?;
            match Registry::load(&dir)? {
                Some(registry) => registry,
                None => {
                    let registry = Registry {
                        port: config.port,
                        next_server_id: 1,
                        ..Registry::default()
                    };
                    registry.save(&dir)?;
                    registry
                }
            }
        };
        let sandbox = Sandbox {
            inner: Arc::new(Inner {
                dir,
                tools,
                registry: Mutex::new(registry),
                children: Mutex::new(HashMap::new()),
                tasks: Mutex::new(Vec::new()),
                detached: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        sandbox.dns().create_zone(ZONE_ID)?;
        Ok(sandbox)
    }

    /// Opens an existing sandbox without creating anything; `None` if `dir` holds none.
    pub fn existing(dir: &Path) -> SandboxResult<Option<Self>> {
        if !Registry::path(dir).exists() {
            return Ok(None);
        }
        Self::open(SandboxConfig::new(dir)).map(Some)
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }
    pub fn tools(&self) -> &Tools {
        &self.inner.tools
    }
    pub fn port(&self) -> u16 {
        self.registry(|r| r.port)
    }

    /// Leaves the servers this process started running when the sandbox is dropped (`sandbox
    /// up`); `down` or [`Sandbox::shutdown`] stops them later.
    pub fn detach(&self) {
        self.inner
            .detached
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn clusters(&self) -> SandboxClusters {
        SandboxClusters::new(self.clone())
    }
    pub fn fence(&self) -> SandboxFence {
        SandboxFence::new(self.clone())
    }
    /// The fence's SQL half over this sandbox's clusters.
    pub fn fence_sql(&self) -> aurora_sql::SqlFence<crate::fence::SandboxWriters> {
        aurora_sql::SqlFence::new(crate::fence::SandboxWriters::new(self.clone()))
    }
    pub fn source_lock(&self) -> crate::SandboxSourceLock {
        crate::SandboxSourceLock::new(self.clone())
    }
    pub fn dns(&self) -> SandboxDns {
        SandboxDns::new(self.inner.dir.join("dns"))
    }

    /// The cluster whose endpoint is `host` (a loopback address), as a network would route it.
    pub fn cluster_by_host(&self, host: &str) -> Option<String> {
        self.registry(|r| {
            r.clusters
                .values()
                .find(|c| c.host.to_string() == host)
                .map(|c| c.id.clone())
        })
    }

    /// The application record as the zone holds it.
    pub fn app_record(&self) -> SandboxResult<Option<crate::dns::ZoneRecord>> {
        Ok(self
            .dns()
            .records(ZONE_ID)?
            .into_iter()
            .find(|r| r.name.eq_ignore_ascii_case(APP_RECORD)))
    }

    /// Gives the application record another TTL, pointing where it points: what an operator's
    /// zone looks like before a run (often 300 s).
    pub async fn set_app_record_ttl(&self, ttl_seconds: i64) -> SandboxResult<()> {
        let record = self
            .app_record()?
            .ok_or_else(|| SandboxError::NotFound(format!("record {APP_RECORD}")))?;
        aurora_core::ports::Dns::upsert_cname(
            &self.dns(),
            ZONE_ID,
            APP_RECORD,
            &record.value,
            ttl_seconds,
        )
        .await?;
        Ok(())
    }

    /// Reads the registry as it is on disk now (other processes change it); the last copy read
    /// if the file cannot be read. The file is only ever replaced whole, so no lock is needed.
    pub(crate) fn registry<T>(&self, f: impl FnOnce(&Registry) -> T) -> T {
        let mut registry = lock(&self.inner.registry);
        match Registry::load(&self.inner.dir) {
            Ok(Some(latest)) => *registry = latest,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "reading the sandbox registry; using the last copy")
            }
        }
        f(&registry)
    }

    /// Changes the registry and saves it before anyone else can see the change: under the
    /// registry's file lock, on the registry as it is on disk, so concurrent processes never
    /// lose each other's changes.
    pub(crate) fn update<T>(&self, f: impl FnOnce(&mut Registry) -> T) -> SandboxResult<T> {
        let mut registry = lock(&self.inner.registry);
        Registry::update_in(&self.inner.dir, &mut registry, f)
    }

    pub(crate) fn cluster_record(&self, id: &str) -> Option<ClusterRecord> {
        self.registry(|r| r.clusters.get(id).cloned())
    }

    pub fn server_spec(&self, cluster_id: &str) -> SandboxResult<ServerSpec> {
        let port = self.port();
        self.cluster_record(cluster_id)
            .map(|c| c.server(port))
            .ok_or_else(|| SandboxError::NotFound(format!("cluster {cluster_id}")))
    }

    /// The endpoint clients and replication connect to.
    pub fn endpoint(&self, cluster_id: &str) -> Option<DatabaseEndpoint> {
        let port = self.port();
        self.cluster_record(cluster_id).map(|c| DatabaseEndpoint {
            cluster_id: c.id,
            host: c.host.to_string(),
            port: i32::from(port),
        })
    }

    /// The sample schema's application user, once seeded.
    pub fn app_credentials(&self) -> Option<Credentials> {
        self.registry(|r| r.app_user.clone())
    }

    /// An administrator connection to a running cluster.
    pub async fn admin_conn(&self, cluster_id: &str) -> SandboxResult<mysql_async::Conn> {
        let endpoint = self
            .endpoint(cluster_id)
            .ok_or_else(|| SandboxError::NotFound(format!("cluster {cluster_id}")))?;
        connect(cluster_id, &endpoint, "root", None).await
    }

    /// Connection settings of the administrator (`root`, no password, plain TCP on loopback).
    pub fn admin_settings(&self, cluster_id: &str) -> Option<aurora_sql::ConnectionSettings> {
        let endpoint = self.endpoint(cluster_id)?;
        Some(aurora_sql::ConnectionSettings::new(
            endpoint.host,
            self.port(),
            aurora_sql::Credentials::new("root", ""),
            aurora_sql::Tls::Disabled,
        ))
    }

    /// The replication user, created on the first source cluster.
    pub fn replication_credentials(&self) -> Option<Credentials> {
        self.registry(|r| r.replication_user.clone())
    }

    /// Installs `aurora-sql`'s stand-ins for the `mysql.rds_*` procedures, so the native
    /// replication engine runs here unchanged. Idempotent.
    pub(crate) async fn prepare_server(&self, cluster_id: &str) -> SandboxResult<()> {
        let settings = self
            .admin_settings(cluster_id)
            .ok_or_else(|| SandboxError::NotFound(format!("cluster {cluster_id}")))?;
        aurora_sql::install_rds_stand_ins(&settings).await?;
        Ok(())
    }

    async fn ensure_replication_user(&self, cluster_id: &str) -> SandboxResult<()> {
        let credentials = match self.replication_credentials() {
            Some(c) => c,
            None => {
                let c = Credentials {
                    user: REPLICATION_USER.into(),
                    password: random_hex(12)?,
                };
                self.update(|r| r.replication_user = Some(c.clone()))?;
                c
            }
        };
        let mut conn = self.admin_conn(cluster_id).await?;
        // Generated hex: safe to inline (CREATE USER takes no placeholders).
        for statement in [
            format!(
                "CREATE USER IF NOT EXISTS '{}'@'%' IDENTIFIED BY '{}'",
                credentials.user, credentials.password
            ),
            format!(
                "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '{}'@'%'",
                credentials.user
            ),
        ] {
            conn.query_drop(statement)
                .await
                .map_err(SandboxError::sql(cluster_id))?;
        }
        let _ = conn.disconnect().await;
        Ok(())
    }

    /// The secrets a sandbox run's spec names ([`REPLICATION_SECRET_ARN`], [`ADMIN_SECRET_ARN`]).
    pub fn secrets(&self) -> aurora_sql::StaticSecrets {
        let mut secrets = aurora_sql::StaticSecrets::new().with(
            ADMIN_SECRET_ARN,
            &aurora_sql::SecretValue {
                username: "root".into(),
                password: String::new(),
                host: None,
                port: Some(self.port()),
            },
        );
        if let Some(c) = self.replication_credentials() {
            secrets = secrets.with(
                REPLICATION_SECRET_ARN,
                &aurora_sql::SecretValue {
                    username: c.user,
                    password: c.password,
                    host: None,
                    port: Some(self.port()),
                },
            );
        }
        secrets
    }

    /// `aurora-sql`'s native replication from `source` into `target` (replica threads without
    /// TLS: sandbox servers have no certificates).
    pub fn native_replication(
        &self,
        major: aurora_sql::AuroraMajorVersion,
        source_id: &str,
        target_id: &str,
    ) -> SandboxResult<aurora_sql::NativeReplication> {
        let replication = self.replication_credentials().ok_or_else(|| {
            SandboxError::InvalidState("no replication user: create a source cluster".into())
        })?;
        let user = aurora_sql::Credentials::new(&replication.user, &replication.password);
        let mut source = self
            .admin_settings(source_id)
            .ok_or_else(|| SandboxError::NotFound(format!("cluster {source_id}")))?;
        source.credentials = user.clone();
        let target = self
            .admin_settings(target_id)
            .ok_or_else(|| SandboxError::NotFound(format!("cluster {target_id}")))?;
        Ok(
            aurora_sql::NativeReplication::new(major, source, target, user)
                .with_replication_ssl(false),
        )
    }

    /// `aurora-sql`'s verifier of one cluster, as the administrator.
    pub fn verifier(&self, cluster_id: &str) -> SandboxResult<aurora_sql::SqlVerifier> {
        self.admin_settings(cluster_id)
            .map(aurora_sql::SqlVerifier::new)
            .ok_or_else(|| SandboxError::NotFound(format!("cluster {cluster_id}")))
    }

    /// Whether the cluster's server process is running.
    pub fn is_running(&self, cluster_id: &str) -> bool {
        self.cluster_record(cluster_id)
            .and_then(|c| c.pid)
            .is_some_and(server::process_alive)
    }

    /// Creates a source cluster: a fresh unencrypted server with `log_bin` and ROW binlogs, one
    /// writer instance `<id>-instance-1`, and the application DNS record pointing at it.
    pub async fn create_source_cluster(&self, id: &str) -> SandboxResult<ClusterRecord> {
        if !aurora_core::naming::is_valid_rds_identifier(id) {
            return Err(SandboxError::InvalidState(format!(
                "`{id}` is not a valid cluster identifier"
            )));
        }
        if self.cluster_record(id).is_some() {
            return Err(SandboxError::InvalidState(format!(
                "cluster {id} already exists"
            )));
        }
        let record = self.new_cluster_record(id, None)?;
        let spec = record.server(self.port());
        let _ = std::fs::remove_dir_all(&record.dir);
        if let Err(e) = spec.initialise(&self.inner.tools).await {
            // Seen once on a loaded machine with several installs at once: a second try on a
            // clean directory is cheap and tells a real failure from a passing one.
            tracing::warn!(cluster = id, error = %e, "mariadb-install-db failed; retrying once");
            let _ = std::fs::remove_dir_all(&record.dir);
            spec.initialise(&self.inner.tools).await?;
        }
        self.update(|r| {
            r.clusters.insert(id.to_string(), record.clone());
            r.instances.insert(
                format!("{id}-instance-1"),
                InstanceRecord {
                    id: format!("{id}-instance-1"),
                    cluster_id: id.to_string(),
                    class: INSTANCE_CLASS.into(),
                    writer: true,
                    promotion_tier: Some(1),
                    parameter_group: Some("default.aurora-mysql-sandbox".into()),
                    tags: Vec::new(),
                },
            );
            r.parameter_groups.insert(
                format!("{id}-params"),
                registry::ParameterGroupRecord {
                    name: format!("{id}-params"),
                    copied_from: None,
                    description: format!("Parameters of {id}"),
                    tags: Vec::new(),
                },
            );
        })?;
        self.start_cluster(id).await?;
        self.prepare_server(id).await?;
        self.ensure_replication_user(id).await?;
        let version = self.server_version(id).await?;
        let record = self
            .update(|r| {
                r.clusters.get_mut(id).map(|c| {
                    c.engine_version = version;
                    c.status = registry::status::AVAILABLE.into();
                    c.clone()
                })
            })?
            .ok_or_else(|| SandboxError::NotFound(format!("cluster {id}")))?;
        let dns = self.dns();
        aurora_core::ports::Dns::upsert_cname(
            &dns,
            ZONE_ID,
            APP_RECORD,
            &record.host.to_string(),
            APP_RECORD_TTL,
        )
        .await?;
        Ok(record)
    }

    /// A new cluster record with a fresh directory, loopback address and server id.
    pub(crate) fn new_cluster_record(
        &self,
        id: &str,
        key_file: Option<PathBuf>,
    ) -> SandboxResult<ClusterRecord> {
        let port = self.port();
        let host = self.free_address(port)?;
        let server_id = self.update(|r| {
            let n = r.next_server_id.max(1);
            r.next_server_id = n + 1;
            n
        })?;
        Ok(ClusterRecord {
            id: id.to_string(),
            dir: self.inner.dir.join("clusters").join(id),
            host,
            server_id,
            status: registry::status::CREATING.into(),
            failure: None,
            engine_version: String::new(),
            created_at: OffsetDateTime::now_utc(),
            key_file,
            kms_key_id: None,
            storage_encrypted: false,
            parameter_group: Some(format!("{id}-params")),
            tags: Vec::new(),
            pid: None,
            restored_from: None,
            binlog_start: None,
            worker_pid: None,
            security_group_ids: Vec::new(),
        })
    }

    /// A loopback address (`127.x.y.z`, never 127.0.0.1) no other cluster uses and where
    /// `port` is free.
    fn free_address(&self, port: u16) -> SandboxResult<Ipv4Addr> {
        let taken: Vec<Ipv4Addr> = self.registry(|r| r.clusters.values().map(|c| c.host).collect());
        for _ in 0..64 {
            let host = Ipv4Addr::new(
                127,
                fastrand::u8(100..=199),
                fastrand::u8(1..=254),
                fastrand::u8(1..=254),
            );
            if !taken.contains(&host) && std::net::TcpListener::bind((host, port)).is_ok() {
                return Ok(host);
            }
        }
        Err(SandboxError::InvalidState(format!(
            "no free loopback address for port {port}; is something listening on 0.0.0.0:{port}?"
        )))
    }

    /// Starts a cluster's server (no-op if it runs) and records its pid.
    pub async fn start_cluster(&self, id: &str) -> SandboxResult<()> {
        if self.is_running(id) {
            return Ok(());
        }
        let spec = self.server_spec(id)?;
        spec.write_option_file()?;
        let child = spec.start(&self.inner.tools).await?;
        let pid = child.id();
        lock(&self.inner.children).insert(id.to_string(), child);
        self.update(|r| {
            if let Some(c) = r.clusters.get_mut(id) {
                c.pid = pid;
            }
        })?;
        Ok(())
    }

    /// Stops a cluster's server cleanly (killed if it does not stop in time).
    pub async fn stop_cluster(&self, id: &str) -> SandboxResult<()> {
        let spec = self.server_spec(id)?;
        let pid = self.cluster_record(id).and_then(|c| c.pid);
        if let Some(pid) = pid {
            spec.shutdown(&self.inner.tools, pid).await?;
        }
        let child = lock(&self.inner.children).remove(id);
        if let Some(mut child) = child {
            let _ = child.wait().await;
        }
        self.update(|r| {
            if let Some(c) = r.clusters.get_mut(id) {
                c.pid = None;
            }
        })?;
        Ok(())
    }

    /// Kills a cluster's server at once, as a crash would (fault tests).
    pub async fn kill_cluster(&self, id: &str) -> SandboxResult<()> {
        if let Some(pid) = self.cluster_record(id).and_then(|c| c.pid) {
            server::signal(pid, libc::SIGKILL);
        }
        let child = lock(&self.inner.children).remove(id);
        if let Some(mut child) = child {
            let _ = child.wait().await;
        }
        Ok(())
    }

    /// Stops every running server and waits for background work to end.
    pub async fn shutdown(&self) -> SandboxResult<()> {
        let tasks: Vec<_> = lock(&self.inner.tasks).drain(..).collect();
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
        let ids: Vec<String> = self.registry(|r| r.clusters.keys().cloned().collect());
        let mut first_error = None;
        for id in ids {
            if let Err(e) = self.stop_cluster(&id).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops everything and deletes the sandbox directory.
    pub async fn destroy(self) -> SandboxResult<()> {
        self.shutdown().await?;
        let dir = self.inner.dir.clone();
        let sockets: Vec<PathBuf> = self.registry(|r| {
            r.clusters
                .values()
                .map(|c| c.server(r.port).socket())
                .collect()
        });
        for socket in sockets {
            let _ = std::fs::remove_file(socket);
        }
        std::fs::remove_dir_all(&dir)
            .map_err(SandboxError::io(format!("removing {}", dir.display())))
    }

    /// What went wrong in the background work the sandbox recorded (snapshots, restores), as
    /// `snapshot <id>: <reason>` lines: the control plane's error messages, which its API
    /// reports only as a `failed` status.
    pub fn failures(&self) -> Vec<String> {
        self.registry(|r| {
            let snapshots = r.snapshots.values().filter_map(|s| {
                s.failure
                    .as_ref()
                    .map(|f| format!("snapshot {}: {f}", s.id))
            });
            let clusters = r
                .clusters
                .values()
                .filter_map(|c| c.failure.as_ref().map(|f| format!("cluster {}: {f}", c.id)));
            snapshots.chain(clusters).collect()
        })
    }

    /// Every cluster, for `sandbox status`.
    pub fn status(&self) -> Vec<ClusterStatus> {
        let port = self.port();
        self.registry(|r| {
            r.clusters
                .values()
                .map(|c| {
                    let running = c.pid.is_some_and(server::process_alive);
                    let spec = c.server(port);
                    ClusterStatus {
                        id: c.id.clone(),
                        status: if running || c.status != registry::status::AVAILABLE {
                            c.status.clone()
                        } else {
                            registry::status::STOPPED.into()
                        },
                        endpoint: c.host.to_string(),
                        port,
                        pid: c.pid,
                        running,
                        storage_encrypted: c.storage_encrypted,
                        defaults_file: spec.defaults_file(),
                        data_dir: spec.data_dir(),
                    }
                })
                .collect()
        })
    }

    /// `SELECT VERSION()`.
    pub async fn server_version(&self, cluster_id: &str) -> SandboxResult<String> {
        let mut conn = self.admin_conn(cluster_id).await?;
        let version: Option<String> = conn
            .query_first("SELECT VERSION()")
            .await
            .map_err(SandboxError::sql(cluster_id))?;
        let _ = conn.disconnect().await;
        Ok(version.unwrap_or_default())
    }

    /// Creates the sample schema and application user on a cluster and seeds `rows` rows per
    /// table.
    pub async fn seed_sample(&self, cluster_id: &str, rows: u64) -> SandboxResult<SeedReport> {
        let credentials = match self.app_credentials() {
            Some(c) => c,
            None => {
                let c = Credentials {
                    user: schema::APP_USER.into(),
                    password: random_hex(12)?,
                };
                self.update(|r| r.app_user = Some(c.clone()))?;
                c
            }
        };
        let mut conn = self.admin_conn(cluster_id).await?;
        let report = schema::seed(&mut conn, cluster_id, rows, &credentials.password).await?;
        let _ = conn.disconnect().await;
        Ok(report)
    }

    /// The privileged application user (`admin`, `ALL PRIVILEGES`: writes through `read_only`,
    /// as Aurora's master user or a user with `CONNECTION_ADMIN` does), created on `cluster_id`
    /// on first use. Create it on the source before the snapshot so the target has it too.
    pub async fn ensure_privileged_app_user(&self, cluster_id: &str) -> SandboxResult<Credentials> {
        let credentials = match self.registry(|r| r.privileged_app_user.clone()) {
            Some(c) => c,
            None => {
                let c = Credentials {
                    user: PRIVILEGED_APP_USER.into(),
                    password: random_hex(12)?,
                };
                self.update(|r| r.privileged_app_user = Some(c.clone()))?;
                c
            }
        };
        let mut conn = self.admin_conn(cluster_id).await?;
        // Generated hex: safe to inline (CREATE USER takes no placeholders).
        for statement in [
            format!(
                "CREATE USER IF NOT EXISTS '{}'@'%' IDENTIFIED BY '{}'",
                credentials.user, credentials.password
            ),
            format!("GRANT ALL PRIVILEGES ON *.* TO '{}'@'%'", credentials.user),
        ] {
            conn.query_drop(statement)
                .await
                .map_err(SandboxError::sql(cluster_id))?;
        }
        let _ = conn.disconnect().await;
        Ok(credentials)
    }

    /// The privileged application user, once created.
    pub fn privileged_app_credentials(&self) -> Option<Credentials> {
        self.registry(|r| r.privileged_app_user.clone())
    }

    /// The key file standing in for a KMS key: one per key id, created on first use.
    pub fn key_file(&self, kms_key_id: &str) -> SandboxResult<PathBuf> {
        let name: String = kms_key_id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let dir = self.inner.dir.join("kms");
        std::fs::create_dir_all(&dir)
            .map_err(SandboxError::io(format!("creating {}", dir.display())))?;
        let path = dir.join(format!("{name}.key"));
        if !path.exists() {
            // file_key_management: `<key id>;<hex key>` lines; key 1 is the default key.
            let key = random_hex(32)?;
            server::write_private(&path, format!("1;{key}\n").as_bytes())?;
        }
        Ok(path)
    }

    pub(crate) fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task);
        let mut tasks = lock(&self.inner.tasks);
        tasks.retain(|t| !t.is_finished());
        tasks.push(handle);
    }
}

/// A connection to `endpoint` as `user`, retried briefly: a server that just started may refuse
/// the first attempt on a loaded machine.
pub(crate) async fn connect(
    cluster_id: &str,
    endpoint: &DatabaseEndpoint,
    user: &str,
    password: Option<&str>,
) -> SandboxResult<mysql_async::Conn> {
    let port = u16::try_from(endpoint.port).map_err(|_| {
        SandboxError::InvalidState(format!("port {} of {cluster_id}", endpoint.port))
    })?;
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(endpoint.host.clone())
        .tcp_port(port)
        .user(Some(user))
        .pass(password)
        .prefer_socket(false);
    let mut attempt = 0;
    loop {
        match mysql_async::Conn::new(opts.clone()).await {
            Ok(conn) => return Ok(conn),
            Err(e) if attempt < 5 => {
                tracing::debug!(cluster = cluster_id, error = %e, "connect retry");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => return Err(SandboxError::sql(cluster_id)(e)),
        }
    }
}

/// `n` random bytes from the kernel, hex-encoded.
pub(crate) fn random_hex(n: usize) -> SandboxResult<String> {
    use std::io::Read;
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(SandboxError::io("reading /dev/urandom"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
