//! A tiny RDS Proxy (one default target group per proxy) and the server a session reaches.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::errors::{PortError, Resource};
use crate::ports::{
    DatabaseEndpoint, PortResult, Proxy, ProxyTarget, ProxyTargets, ServerIdentity, RDS_INSTANCE,
    READ_WRITE, TARGET_AVAILABLE, TRACKED_CLUSTER,
};

#[derive(Default)]
struct State {
    /// Proxy name → the cluster its target group tracks, if any.
    proxies: BTreeMap<String, Option<String>>,
    /// The writer's target health: `REGISTERING` after a registration, until made available.
    health: (String, Option<(String, String)>),
    available_on_register: bool,
    failed_health: Option<(String, String)>,
    mutations: Vec<String>,
}

/// RDS Proxies by name; a registered cluster's writer target is `REGISTERING` until
/// [`FakeProxies::become_available`] (or at once after
/// [`FakeProxies::become_available_on_register`]).
#[derive(Default)]
pub struct FakeProxies {
    state: Mutex<State>,
}

impl FakeProxies {
    /// A MySQL proxy `name` whose default target group tracks `cluster`, available.
    pub fn tracking(name: &str, cluster: &str) -> Self {
        let fake = Self::default();
        {
            let mut state = lock(&fake.state);
            state.proxies.insert(name.into(), Some(cluster.to_string()));
            state.health = (TARGET_AVAILABLE.into(), None);
        }
        fake
    }

    pub fn become_available(&self, _name: &str) {
        lock(&self.state).health = (TARGET_AVAILABLE.into(), None);
    }

    pub fn become_available_on_register(&self) {
        lock(&self.state).available_on_register = true;
    }

    /// A registered cluster's writer stays `UNAVAILABLE` with `reason`.
    pub fn fail_health(&self, reason: &str, description: &str) {
        lock(&self.state).failed_health = Some((reason.into(), description.into()));
    }

    /// The cluster `name` tracks.
    pub fn tracked(&self, name: &str) -> Option<String> {
        lock(&self.state).proxies.get(name).cloned().flatten()
    }

    /// `register <proxy> <cluster>` and `deregister <proxy> <cluster>`, in order.
    pub fn mutations(&self) -> Vec<String> {
        lock(&self.state).mutations.clone()
    }
}

fn no_proxy(name: &str) -> PortError {
    PortError::NotFound {
        resource: Resource::Proxy,
        message: format!("DBProxyNotFoundFault: {name}"),
    }
}

#[async_trait]
impl ProxyTargets for FakeProxies {
    async fn describe_proxy(&self, name: &str) -> PortResult<Option<Proxy>> {
        Ok(lock(&self.state).proxies.get(name).map(|_| Proxy {
            name: name.into(),
            arn: format!("arn:aws:rds:eu-west-1:123456789012:db-proxy:prx-{name}"),
            status: "available".into(),
            engine_family: "MYSQL".into(),
            endpoint: Some(format!("{name}.proxy-abc.eu-west-1.rds.amazonaws.com")),
            port: 3306,
            auth_secret_arns: vec![
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-app-AbCdEf".into(),
            ],
            vpc_security_group_ids: vec!["sg-0123456789abcdef0".into()],
        }))
    }

    async fn targets(&self, name: &str) -> PortResult<Vec<ProxyTarget>> {
        let state = lock(&self.state);
        let tracked = state.proxies.get(name).ok_or_else(|| no_proxy(name))?;
        let Some(cluster) = tracked else {
            return Ok(Vec::new());
        };
        let (health, reason) = match &state.failed_health {
            Some(failed) => ("UNAVAILABLE".to_string(), Some(failed.clone())),
            None => state.health.clone(),
        };
        Ok(vec![
            ProxyTarget {
                kind: TRACKED_CLUSTER.into(),
                cluster_id: Some(cluster.clone()),
                ..ProxyTarget::default()
            },
            ProxyTarget {
                kind: RDS_INSTANCE.into(),
                cluster_id: Some(cluster.clone()),
                instance_id: Some(format!("{cluster}-writer")),
                role: Some(READ_WRITE.into()),
                state: Some(health),
                reason: reason.as_ref().map(|r| r.0.clone()),
                description: reason.map(|r| r.1),
            },
        ])
    }

    async fn register_cluster(&self, name: &str, cluster_id: &str) -> PortResult<()> {
        let mut state = lock(&self.state);
        let available = state.available_on_register;
        let tracked = state.proxies.get_mut(name).ok_or_else(|| no_proxy(name))?;
        if tracked.is_some() {
            return Err(PortError::AlreadyExists {
                resource: Resource::Proxy,
                message: format!("DBProxyTargetAlreadyRegisteredFault: {name}"),
            });
        }
        *tracked = Some(cluster_id.into());
        state.health = if available {
            (TARGET_AVAILABLE.into(), None)
        } else {
            ("REGISTERING".into(), None)
        };
        state
            .mutations
            .push(format!("register {name} {cluster_id}"));
        Ok(())
    }

    async fn deregister_cluster(&self, name: &str, cluster_id: &str) -> PortResult<()> {
        let mut state = lock(&self.state);
        let tracked = state.proxies.get_mut(name).ok_or_else(|| no_proxy(name))?;
        if tracked.as_deref() != Some(cluster_id) {
            return Err(PortError::NotFound {
                resource: Resource::Proxy,
                message: format!("DBProxyTargetNotFoundFault: {cluster_id}"),
            });
        }
        *tracked = None;
        state
            .mutations
            .push(format!("deregister {name} {cluster_id}"));
        Ok(())
    }
}

/// Every endpoint is its own server, unless routed to another with [`FakeIdentity::route`]; a
/// proxy endpoint (`*.proxy-*`) reaches the cluster its name's proxy tracks in the
/// [`FakeProxies`] the test wires, which tests stand in for by routing it by hand.
#[derive(Default)]
pub struct FakeIdentity {
    routes: Mutex<BTreeMap<String, String>>,
    probed: Mutex<Vec<String>>,
    refused: Mutex<Vec<String>>,
}

impl FakeIdentity {
    /// Sessions at `from` reach the server at `to`.
    pub fn route(&self, from: &str, to: &str) {
        lock(&self.routes).insert(from.into(), to.into());
    }

    /// Sessions at `host` are refused (a login the server does not accept).
    pub fn refuse(&self, host: &str) {
        lock(&self.refused).push(host.into());
    }

    /// The hosts sessions were opened at, in order.
    pub fn probed(&self) -> Vec<String> {
        lock(&self.probed).clone()
    }
}

#[async_trait]
impl ServerIdentity for FakeIdentity {
    async fn identity(&self, endpoint: &DatabaseEndpoint, _secret_arn: &str) -> PortResult<String> {
        lock(&self.probed).push(endpoint.host.clone());
        if lock(&self.refused).contains(&endpoint.host) {
            return Err(crate::errors::PortError::AccessDenied(format!(
                "login refused at {}",
                endpoint.host
            )));
        }
        let routed = lock(&self.routes).get(&endpoint.host).cloned();
        Ok(match routed {
            Some(host) => host,
            // A proxy reaches the cluster it was asked about.
            None if endpoint.host.contains(".proxy-") => format!(
                "{}.cluster-abc.eu-west-1.rds.amazonaws.com",
                endpoint.cluster_id
            ),
            None => endpoint.host.clone(),
        })
    }
}
