//! RDS Proxy in the sandbox: a listener at its own loopback address (on the application port,
//! like the clusters' endpoints), named in the sandbox's DNS as `<name>.proxy.sandbox.internal`,
//! and [`SandboxProxies`], the `ProxyTargets` control plane over it.
//!
//! What it keeps of RDS Proxy, so that a switchover that works here works there:
//! - its default target group tracks one cluster; registering a second is refused until the
//!   first is deregistered (`DBProxyTargetAlreadyRegisteredFault`);
//! - a registered cluster's writer target is `REGISTERING` for the proxy's registration time
//!   (AWS does not document it; [`AWS_REGISTRATION`] is the stand-in, scaled by the run), then
//!   `AVAILABLE`; until then, and while no cluster is registered, a new client connection waits
//!   (RDS Proxy's `ConnectionBorrowTimeout`, [`BORROW_TIMEOUT`]) and is then relayed or closed;
//! - deregistering a cluster cuts every client connection relayed to it: the application's
//!   sessions on the source end, as they do behind RDS Proxy;
//! - it reaches a cluster as the application does: a security group that refuses the
//!   application refuses the proxy.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use aurora_core::errors::{PortError, Resource};
use aurora_core::ports::{
    PortResult, Proxy, ProxyTarget, ProxyTargets, RDS_INSTANCE, READ_WRITE, TARGET_AVAILABLE,
    TRACKED_CLUSTER,
};
use time::OffsetDateTime;
use tokio::net::{TcpListener, TcpStream};

use crate::error::{SandboxError, SandboxResult};
use crate::network::{admits, application_port, Source};
use crate::registry::{status, ClusterRecord, ProxyRecord};
use crate::sandbox::{Sandbox, APP_SECRET_ARN, ZONE_ID};

/// How long RDS Proxy takes to register a cluster, as the sandbox assumes it (AWS documents no
/// figure): the demo scales it by its time scale, as every wait of the run.
pub const AWS_REGISTRATION: Duration = Duration::from_secs(30);
/// How long a new client connection waits for an available target (RDS Proxy's default
/// `ConnectionBorrowTimeout` is 120 s).
pub const BORROW_TIMEOUT: Duration = Duration::from_secs(120);
/// How often a waiting or relayed connection reads the registry.
const WATCH_INTERVAL: Duration = Duration::from_millis(20);
/// The DNS TTL of a proxy's name.
const PROXY_RECORD_TTL: i64 = 1;

/// A proxy's DNS name in the sandbox's zone.
pub fn proxy_dns_name(name: &str) -> String {
    format!("{name}.proxy.sandbox.internal")
}

impl Sandbox {
    /// Creates the RDS Proxy `name` tracking `cluster_id` (available at once, as a proxy that
    /// has served the application for a while), names it in the DNS zone and starts serving it
    /// from this process. A cluster registered later stays `REGISTERING` for `registration`.
    pub async fn create_proxy(
        &self,
        name: &str,
        cluster_id: &str,
        registration: Duration,
    ) -> SandboxResult<ProxyRecord> {
        if !aurora_core::naming::is_valid_rds_identifier(name) {
            return Err(SandboxError::InvalidState(format!(
                "`{name}` is not a valid proxy name"
            )));
        }
        if self.cluster_record(cluster_id).is_none() {
            return Err(SandboxError::NotFound(format!("cluster {cluster_id}")));
        }
        let host = self.free_address(application_port(self.port()))?;
        let record = ProxyRecord {
            name: name.to_string(),
            host,
            cluster_id: Some(cluster_id.to_string()),
            registered_at: OffsetDateTime::now_utc() - time::Duration::hours(1),
            generation: 0,
            registration_ms: u64::try_from(registration.as_millis()).unwrap_or(u64::MAX),
        };
        let inserted = self.update(|r| {
            if r.proxies.contains_key(name) {
                return false;
            }
            r.proxies.insert(name.to_string(), record.clone());
            true
        })?;
        if !inserted {
            return Err(SandboxError::InvalidState(format!(
                "proxy {name} already exists"
            )));
        }
        self.dns().publish(
            ZONE_ID,
            &proxy_dns_name(name),
            &host.to_string(),
            PROXY_RECORD_TTL,
        )?;
        self.serve_proxy(name)?;
        Ok(record)
    }

    /// Serves the proxy `name`'s listener from this process (its tasks end with the sandbox).
    pub fn serve_proxy(&self, name: &str) -> SandboxResult<()> {
        let record = self
            .registry(|r| r.proxies.get(name).cloned())
            .ok_or_else(|| SandboxError::NotFound(format!("proxy {name}")))?;
        let listener = std::net::TcpListener::bind((record.host, application_port(self.port())))
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(TcpListener::from_std)
            .map_err(SandboxError::io(format!("serving proxy {name}")))?;
        let sandbox = self.clone();
        let name = name.to_string();
        self.spawn(accept_loop(sandbox, name, listener));
        Ok(())
    }

    pub fn proxies(&self) -> SandboxProxies {
        SandboxProxies {
            sandbox: self.clone(),
        }
    }
}

/// Where a new connection to the proxy goes now: the tracked cluster's server and the
/// generation it belongs to, once its writer's target is available; `None` while it is not.
fn route(sandbox: &Sandbox, name: &str) -> Option<(SocketAddr, u64)> {
    let port = sandbox.port();
    sandbox.registry(|r| {
        let proxy = r.proxies.get(name)?;
        let cluster = r.clusters.get(proxy.cluster_id.as_ref()?)?;
        let (state, _) = writer_state(proxy, cluster);
        (state == TARGET_AVAILABLE)
            .then(|| (SocketAddr::from((cluster.host, port)), proxy.generation))
    })
}

/// The tracked cluster's writer target state and its reason, as DescribeDBProxyTargets reports
/// them: the proxy reaches the cluster from the application's side, so a security group that
/// refuses the application leaves it `UNAVAILABLE` (`CONNECTION_FAILED`).
fn writer_state(
    proxy: &ProxyRecord,
    cluster: &ClusterRecord,
) -> (&'static str, Option<&'static str>) {
    let registered_for = OffsetDateTime::now_utc() - proxy.registered_at;
    let registration =
        time::Duration::milliseconds(i64::try_from(proxy.registration_ms).unwrap_or(i64::MAX));
    let admitted = cluster
        .security_groups()
        .iter()
        .any(|g| admits(g, Source::Application) == Some(true));
    if registered_for < registration {
        ("REGISTERING", None)
    } else if cluster.status != status::AVAILABLE {
        ("UNAVAILABLE", Some("UNREACHABLE"))
    } else if !admitted {
        ("UNAVAILABLE", Some("CONNECTION_FAILED"))
    } else {
        (TARGET_AVAILABLE, None)
    }
}

fn generation(sandbox: &Sandbox, name: &str) -> Option<u64> {
    sandbox.registry(|r| r.proxies.get(name).map(|p| p.generation))
}

async fn accept_loop(sandbox: Sandbox, name: String, listener: TcpListener) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        while connections.try_join_next().is_some() {}
        connections.spawn(serve_connection(sandbox.clone(), name.clone(), client));
    }
}

/// Waits for a route (as RDS Proxy borrows a connection), then relays until either end closes
/// or the cluster is deregistered.
async fn serve_connection(sandbox: Sandbox, name: String, mut client: TcpStream) {
    let deadline = tokio::time::Instant::now() + BORROW_TIMEOUT;
    let (server, born) = loop {
        if let Some(route) = route(&sandbox, &name) {
            break route;
        }
        if tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(WATCH_INTERVAL).await;
    };
    let Ok(mut upstream) = TcpStream::connect(server).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let cut = async {
        while generation(&sandbox, &name) == Some(born) {
            tokio::time::sleep(WATCH_INTERVAL).await;
        }
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
        () = cut => {}
    }
}

/// The `ProxyTargets` port over the sandbox's proxies.
#[derive(Clone)]
pub struct SandboxProxies {
    sandbox: Sandbox,
}

fn no_proxy(name: &str) -> PortError {
    PortError::NotFound {
        resource: Resource::Proxy,
        message: format!("DBProxyNotFoundFault: {name}"),
    }
}

#[async_trait]
impl ProxyTargets for SandboxProxies {
    async fn describe_proxy(&self, name: &str) -> PortResult<Option<Proxy>> {
        let port = i32::from(application_port(self.sandbox.port()));
        Ok(self.sandbox.registry(|r| {
            r.proxies.get(name).map(|p| Proxy {
                name: p.name.clone(),
                arn: format!("arn:aws:rds:sandbox:000000000000:db-proxy:prx-{}", p.name),
                status: "available".into(),
                engine_family: "MYSQL".into(),
                // As a cluster's endpoint in the sandbox: its address (the name resolves only
                // through the sandbox's DNS server).
                endpoint: Some(p.host.to_string()),
                port,
                auth_secret_arns: vec![APP_SECRET_ARN.into()],
                vpc_security_group_ids: vec![crate::network::APPLICATION_SECURITY_GROUP.into()],
            })
        }))
    }

    async fn targets(&self, name: &str) -> PortResult<Vec<ProxyTarget>> {
        self.sandbox.registry(|r| {
            let proxy = r.proxies.get(name).ok_or_else(|| no_proxy(name))?;
            let Some(cluster_id) = &proxy.cluster_id else {
                return Ok(Vec::new());
            };
            let health = r.clusters.get(cluster_id).map(|c| writer_state(proxy, c));
            let writer = r
                .instances
                .values()
                .find(|i| i.cluster_id == *cluster_id && i.writer)
                .map(|i| i.id.clone());
            let mut targets = vec![ProxyTarget {
                kind: TRACKED_CLUSTER.into(),
                cluster_id: Some(cluster_id.clone()),
                ..ProxyTarget::default()
            }];
            if let (Some(writer), Some((state, reason))) = (writer, health) {
                targets.push(ProxyTarget {
                    kind: RDS_INSTANCE.into(),
                    cluster_id: Some(cluster_id.clone()),
                    instance_id: Some(writer),
                    role: Some(READ_WRITE.into()),
                    state: Some(state.into()),
                    reason: reason.map(str::to_string),
                    ..ProxyTarget::default()
                });
            }
            Ok(targets)
        })
    }

    async fn register_cluster(&self, name: &str, cluster_id: &str) -> PortResult<()> {
        self.sandbox.update(|r| {
            if !r.clusters.contains_key(cluster_id) {
                return Err(PortError::NotFound {
                    resource: Resource::Cluster,
                    message: format!("DBClusterNotFoundFault: {cluster_id}"),
                });
            }
            let proxy = r.proxies.get_mut(name).ok_or_else(|| no_proxy(name))?;
            if proxy.cluster_id.is_some() {
                return Err(PortError::AlreadyExists {
                    resource: Resource::Proxy,
                    message: format!(
                        "DBProxyTargetAlreadyRegisteredFault: {name} tracks {}",
                        proxy.cluster_id.as_deref().unwrap_or_default()
                    ),
                });
            }
            proxy.cluster_id = Some(cluster_id.to_string());
            proxy.registered_at = OffsetDateTime::now_utc();
            Ok(())
        })?
    }

    async fn deregister_cluster(&self, name: &str, cluster_id: &str) -> PortResult<()> {
        self.sandbox.update(|r| {
            let proxy = r.proxies.get_mut(name).ok_or_else(|| no_proxy(name))?;
            if proxy.cluster_id.as_deref() != Some(cluster_id) {
                return Err(PortError::NotFound {
                    resource: Resource::Proxy,
                    message: format!("DBProxyTargetNotFoundFault: {cluster_id}"),
                });
            }
            proxy.cluster_id = None;
            proxy.generation += 1;
            Ok(())
        })?
    }
}
