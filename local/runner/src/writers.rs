//! The demo's application: `K` writers, each inserting rows with ids of its own (and updating
//! seeded rows), paced to a total rate, through the sandbox's DNS name as a well-behaved client
//! does: the name is resolved over DNS (the sandbox zone served on loopback, see
//! [`aurora_sandbox::dns_server`]) through one stub resolver with a TTL cache (hickory-resolver),
//! and connections go to the cluster's application endpoint, whose security groups admit new
//! connections and leave established ones alone ([`aurora_sandbox::network`]). A connection a
//! security group refuses is never answered: the writer waits out its connect timeout, which is
//! 10 s in the run's time (scaled like every wait; at least 100 ms).
//! at every (re)connect and again once the answer's TTL has passed (moving to the new host if the
//! answer changed); any error drops the connection, and the writer waits a few milliseconds,
//! resolves again (from the cache while the answer is fresh, like nscd or systemd-resolved) and
//! reconnects. A write counts only once
//! the server has acknowledged it; a failed write's id is never reused, so a write whose commit
//! was cut off cannot be duplicated by the client itself.
//!
//! Rows go to `shop.demo_writes`, which deliberately has no unique key: a change replicated
//! twice would show up as a duplicate id instead of breaking replication.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aurora_sandbox::dns_server::SandboxDnsServer;
use aurora_sandbox::network::EndpointProxies;
use aurora_sandbox::schema::PLAINTEXT_MARKER;
use aurora_sandbox::{Sandbox, SandboxError, SandboxResult, APP_RECORD, ZONE_ID};
use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfigGroup, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;
use mysql_async::prelude::Queryable;
use time::OffsetDateTime;

/// The table the writers insert into, created on the source before the snapshot.
pub const DEMO_TABLE: &str = "CREATE TABLE IF NOT EXISTS shop.demo_writes (
        id BIGINT UNSIGNED NOT NULL,
        writer INT UNSIGNED NOT NULL,
        written_at DATETIME(6) NOT NULL,
        payload VARCHAR(100) NOT NULL,
        KEY (id)
    ) ENGINE=InnoDB";

/// `ER_OPTION_PREVENTS_STATEMENT`: the server runs with `read_only`.
const READ_ONLY_ERROR: u16 = 1290;

#[derive(Debug, Clone, Copy)]
pub struct WriteLoadConfig {
    pub writers: usize,
    /// Writes per second, all writers together.
    pub rate_per_second: f64,
    /// Every `update_every`-th write of a writer updates a seeded customer instead (0: never).
    pub update_every: u32,
    /// Seeded customers (ids 1..=rows) the updates pick from.
    pub seeded_rows: u64,
    /// Pause after a failed write before re-resolving and reconnecting.
    pub retry_backoff: Duration,
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
    /// Added to every id, so that two loads on one table never write the same ids.
    pub id_offset: u64,
    /// The run's time scale: the sandbox's DNS server serves TTLs multiplied by it.
    pub time_scale: f64,
    /// Write as the privileged application user, whom `read_only` does not stop
    /// ([`Sandbox::ensure_privileged_app_user`]), instead of the ordinary one.
    pub privileged: bool,
}

impl Default for WriteLoadConfig {
    fn default() -> Self {
        Self {
            writers: 4,
            rate_per_second: 200.0,
            update_every: 4,
            seeded_rows: 0,
            retry_backoff: Duration::from_millis(3),
            connect_timeout: Duration::from_secs(1),
            statement_timeout: Duration::from_secs(2),
            id_offset: 0,
            time_scale: 0.01,
            privileged: false,
        }
    }
}

/// The application's connect timeout, 10 s in the run's time (at least 100 ms): a connection a
/// security group refuses is never answered, so this is how long a writer waits on it.
pub fn scaled_connect_timeout(time_scale: f64) -> Duration {
    let scaled = if time_scale.is_finite() && time_scale > 0.0 {
        Duration::from_secs_f64(10.0 * time_scale)
    } else {
        Duration::from_secs(10)
    };
    scaled.clamp(Duration::from_millis(100), Duration::from_secs(10))
}

/// One acknowledged write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The inserted id; `None` for an update.
    pub id: Option<u64>,
    pub writer: usize,
    /// When the acknowledgement arrived.
    pub at: OffsetDateTime,
    /// The host the write went to.
    pub host: String,
}

/// What the writers met besides acknowledgements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WriterErrors {
    /// Refused by a read-only (fenced) server.
    pub read_only: u64,
    /// Connection refused, killed or timed out.
    pub connection: u64,
    pub other: u64,
    pub reconnects: u64,
}

impl WriterErrors {
    fn add(&mut self, other: &WriterErrors) {
        self.read_only += other.read_only;
        self.connection += other.connection;
        self.other += other.other;
        self.reconnects += other.reconnects;
    }
}

/// What kind of failure a writer met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    ReadOnly,
    Connection,
    Other,
}

/// One failed write or connection attempt, and when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterError {
    pub at: OffsetDateTime,
    pub kind: ErrorKind,
}

/// Writers running in the background.
pub struct WriteLoad {
    stop: Arc<AtomicBool>,
    acks: Arc<Mutex<Vec<Ack>>>,
    tasks: Vec<tokio::task::JoinHandle<(WriterErrors, Vec<WriterError>)>>,
    /// Serves the sandbox zone to the writers' resolver until the load stops.
    _dns: SandboxDnsServer,
    /// Serves the application endpoints the zone points at until the load stops.
    _endpoints: EndpointProxies,
}

/// Everything the writers did.
#[derive(Debug, Clone, Default)]
pub struct WriteLoadResult {
    /// Sorted by time.
    pub acks: Vec<Ack>,
    pub errors: WriterErrors,
    /// Every error counted in `errors` but reconnects, sorted by time.
    pub error_times: Vec<WriterError>,
}

impl WriteLoadResult {
    pub fn inserted_ids(&self) -> Vec<u64> {
        self.acks.iter().filter_map(|a| a.id).collect()
    }
}

/// Creates the writers' table on `cluster` (before the snapshot, so the target has it).
pub async fn create_table(sandbox: &Sandbox, cluster: &str) -> SandboxResult<()> {
    let mut conn = sandbox.admin_conn(cluster).await?;
    conn.query_drop(DEMO_TABLE)
        .await
        .map_err(SandboxError::sql(cluster))?;
    let _ = conn.disconnect().await;
    Ok(())
}

impl WriteLoad {
    /// Starts the writers as the sandbox's application user (or its privileged one), writing
    /// through the application record (`APP_RECORD`).
    pub fn start(sandbox: &Sandbox, config: WriteLoadConfig) -> SandboxResult<Self> {
        Self::start_through(sandbox, config, APP_RECORD)
    }

    /// Starts the writers writing through the DNS name `record` of the sandbox's zone (one
    /// application per cluster in the fleet demo).
    pub fn start_through(
        sandbox: &Sandbox,
        config: WriteLoadConfig,
        record: &str,
    ) -> SandboxResult<Self> {
        let credentials = if config.privileged {
            sandbox.privileged_app_credentials().ok_or_else(|| {
                SandboxError::InvalidState("no privileged application user: create it first".into())
            })?
        } else {
            sandbox.app_credentials().ok_or_else(|| {
                SandboxError::InvalidState(
                    "no application user: seed the sample schema first".into(),
                )
            })?
        };
        let endpoints = EndpointProxies::new(sandbox.clone());
        let serve = endpoints.clone();
        let dns =
            SandboxDnsServer::start_with(sandbox.dns(), ZONE_ID, config.time_scale, move |host| {
                serve.serve(host)
            })?;
        let resolver = Arc::new(stub_resolver(dns.address()));
        let stop = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(Mutex::new(Vec::new()));
        let writers = config.writers.max(1);
        let interval = Duration::from_secs_f64(writers as f64 / config.rate_per_second.max(0.1));
        let tasks = (0..writers)
            .map(|w| {
                let writer = Writer {
                    index: w,
                    writers,
                    resolver: resolver.clone(),
                    name: format!("{record}."),
                    user: credentials.user.clone(),
                    password: credentials.password.clone(),
                    port: endpoints.port(),
                    config,
                    interval,
                    stop: stop.clone(),
                    acks: acks.clone(),
                };
                tokio::spawn(writer.run())
            })
            .collect();
        Ok(Self {
            stop,
            acks,
            tasks,
            _dns: dns,
            _endpoints: endpoints,
        })
    }

    /// Acknowledged writes so far.
    pub fn acknowledged(&self) -> usize {
        self.acks.lock().map(|a| a.len()).unwrap_or(0)
    }

    /// Stops the writers and returns what they did.
    pub async fn stop(self) -> WriteLoadResult {
        self.stop.store(true, Ordering::SeqCst);
        let mut errors = WriterErrors::default();
        let mut error_times = Vec::new();
        for task in self.tasks {
            if let Ok((e, times)) = task.await {
                errors.add(&e);
                error_times.extend(times);
            }
        }
        error_times.sort_by_key(|e| e.at);
        let mut acks = self
            .acks
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default();
        acks.sort_by_key(|a| a.at);
        WriteLoadResult {
            acks,
            errors,
            error_times,
        }
    }
}

struct Writer {
    index: usize,
    writers: usize,
    resolver: Arc<TokioResolver>,
    /// The record the writers resolve, fully qualified so that no search domain is tried.
    name: String,
    user: String,
    password: String,
    port: u16,
    config: WriteLoadConfig,
    interval: Duration,
    stop: Arc<AtomicBool>,
    acks: Arc<Mutex<Vec<Ack>>>,
}

/// A connection and where the name pointed when it was made.
struct Session {
    conn: mysql_async::Conn,
    host: String,
    /// When the answer it was made from expires.
    valid_until: Instant,
}

/// A stub resolver asking only the sandbox's DNS server, caching answers for their TTL.
fn stub_resolver(server: std::net::SocketAddr) -> TokioResolver {
    let servers = NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
    let mut options = ResolverOpts::default();
    options.ip_strategy = LookupIpStrategy::Ipv4Only;
    options.use_hosts_file = ResolveHosts::Never;
    options.timeout = Duration::from_millis(500);
    options.attempts = 2;
    TokioResolver::builder_with_config(
        ResolverConfig::from_parts(None, Vec::new(), servers),
        TokioConnectionProvider::default(),
    )
    .with_options(options)
    .build()
}

/// Where the fully qualified `name` leads now and until when that answer is valid.
async fn resolve(resolver: &TokioResolver, name: &str) -> Option<(String, Instant)> {
    let lookup = resolver.lookup_ip(name).await.ok()?;
    let address = lookup.iter().next()?;
    Some((address.to_string(), lookup.valid_until()))
}

impl Writer {
    async fn run(self) -> (WriterErrors, Vec<WriterError>) {
        let mut errors = WriterErrors::default();
        let mut failures = Vec::new();
        let mut failed = |kind| {
            failures.push(WriterError {
                at: OffsetDateTime::now_utc(),
                kind,
            })
        };
        let mut session: Option<Session> = None;
        let mut op: u64 = 0;
        let mut inserts: u64 = 0;
        let mut next = Instant::now();
        while !self.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            if next > now {
                tokio::time::sleep(next - now).await;
            } else if now - next > Duration::from_secs(1) {
                next = now;
            }
            next += self.interval;

            // Honour the TTL: once it has passed, ask again and follow a changed answer.
            if let Some(s) = &mut session {
                if Instant::now() >= s.valid_until {
                    match resolve(&self.resolver, &self.name).await {
                        Some((host, _)) if host != s.host => session = None,
                        Some((_, valid_until)) => s.valid_until = valid_until,
                        None => {}
                    }
                }
            }
            if session.is_none() {
                match self.connect().await {
                    Ok(s) => {
                        errors.reconnects += 1;
                        session = Some(s);
                    }
                    Err(()) => {
                        errors.connection += 1;
                        failed(ErrorKind::Connection);
                        tokio::time::sleep(self.config.retry_backoff).await;
                        // Retry now: a failed attempt does not use up a paced slot.
                        next = Instant::now();
                        continue;
                    }
                }
            }
            let Some(s) = session.as_mut() else { continue };
            op += 1;
            let update = self.config.update_every > 0
                && self.config.seeded_rows > 0
                && op.is_multiple_of(u64::from(self.config.update_every));
            let (statement, id) = if update {
                let customer =
                    (op * self.writers as u64 + self.index as u64) % self.config.seeded_rows + 1;
                (
                    format!(
                        "UPDATE shop.customers SET notes = 'updated by writer {} op {op} {PLAINTEXT_MARKER}' WHERE id = {customer}",
                        self.index
                    ),
                    None,
                )
            } else {
                inserts += 1;
                let id = self.config.id_offset
                    + (inserts - 1) * self.writers as u64
                    + self.index as u64
                    + 1;
                (
                    format!(
                        "INSERT INTO shop.demo_writes (id, writer, written_at, payload) VALUES ({id}, {}, NOW(6), 'write {id} {PLAINTEXT_MARKER}')",
                        self.index
                    ),
                    Some(id),
                )
            };
            let done =
                tokio::time::timeout(self.config.statement_timeout, s.conn.query_drop(statement))
                    .await;
            match done {
                Ok(Ok(())) => {
                    let ack = Ack {
                        id,
                        writer: self.index,
                        at: OffsetDateTime::now_utc(),
                        host: s.host.clone(),
                    };
                    if let Ok(mut acks) = self.acks.lock() {
                        acks.push(ack);
                    }
                }
                Ok(Err(mysql_async::Error::Server(e))) if e.code == READ_ONLY_ERROR => {
                    errors.read_only += 1;
                    failed(ErrorKind::ReadOnly);
                    session = None;
                    tokio::time::sleep(self.config.retry_backoff).await;
                    // Retry now: a failed attempt does not use up a paced slot.
                    next = Instant::now();
                }
                Ok(Err(mysql_async::Error::Server(_))) => {
                    errors.other += 1;
                    failed(ErrorKind::Other);
                    session = None;
                    tokio::time::sleep(self.config.retry_backoff).await;
                    // Retry now: a failed attempt does not use up a paced slot.
                    next = Instant::now();
                }
                Ok(Err(_)) | Err(_) => {
                    errors.connection += 1;
                    failed(ErrorKind::Connection);
                    session = None;
                    tokio::time::sleep(self.config.retry_backoff).await;
                    // Retry now: a failed attempt does not use up a paced slot.
                    next = Instant::now();
                }
            }
        }
        if let Some(s) = session {
            let _ = tokio::time::timeout(Duration::from_millis(200), s.conn.disconnect()).await;
        }
        (errors, failures)
    }

    async fn connect(&self) -> Result<Session, ()> {
        let (host, valid_until) = resolve(&self.resolver, &self.name).await.ok_or(())?;
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname(host.clone())
            .tcp_port(self.port)
            .user(Some(self.user.clone()))
            .pass(Some(self.password.clone()))
            .prefer_socket(false);
        let conn = tokio::time::timeout(self.config.connect_timeout, mysql_async::Conn::new(opts))
            .await
            .map_err(|_| ())?
            .map_err(|_| ())?;
        Ok(Session {
            conn,
            host,
            valid_until,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_core::ports::Dns;

    #[tokio::test]
    async fn the_stub_resolver_keeps_an_answer_for_its_scaled_ttl_then_follows_the_change() {
        let dir = std::env::temp_dir().join(format!("aurora-writers-dns-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let zone = aurora_sandbox::SandboxDns::new(&dir);
        zone.create_zone(ZONE_ID).unwrap();
        // 100 s in the run's time, served as 1 s at a time scale of 0.01.
        zone.upsert_cname(ZONE_ID, APP_RECORD, "127.100.0.1", 100)
            .await
            .unwrap();
        let server =
            SandboxDnsServer::start(aurora_sandbox::SandboxDns::new(&dir), ZONE_ID, 0.01).unwrap();
        let resolver = stub_resolver(server.address());

        let (host, valid_until) = resolve(&resolver, &format!("{APP_RECORD}."))
            .await
            .expect("the name resolves");
        assert_eq!(host, "127.100.0.1");
        let ttl = valid_until.saturating_duration_since(Instant::now());
        assert!(
            ttl > Duration::from_millis(500) && ttl <= Duration::from_secs(1),
            "{ttl:?}"
        );

        zone.upsert_cname(ZONE_ID, APP_RECORD, "127.100.0.2", 100)
            .await
            .unwrap();
        let (cached, _) = resolve(&resolver, &format!("{APP_RECORD}.")).await.unwrap();
        assert_eq!(
            cached, "127.100.0.1",
            "a stub resolver answers from its cache"
        );
        tokio::time::sleep(valid_until.saturating_duration_since(Instant::now())).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (fresh, _) = resolve(&resolver, &format!("{APP_RECORD}.")).await.unwrap();
        assert_eq!(fresh, "127.100.0.2", "the expired answer is asked again");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
