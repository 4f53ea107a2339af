//! The application's network path to the sandbox clusters, with security-group semantics.
//!
//! On AWS a cluster's security groups decide which sources may open *new* connections; they
//! never cut a connection already established (EC2 connection tracking), and a refused
//! connection is dropped silently: the client waits out its own connect timeout. The sandbox
//! models the two sources a switchover cares about:
//!
//! - the **application** (every connection that arrives through [`EndpointProxies`]: the demo's
//!   writers, and any client pointed at a cluster's application port), and
//! - the **control plane** (the Lambdas, replication and DMS, which on AWS sit in the fence
//!   group's admitted sources; in the sandbox they reach the servers directly).
//!
//! Two groups exist: [`APPLICATION_SECURITY_GROUP`] admits both, [`FENCE_SECURITY_GROUP`] the
//! control plane only. Every cluster starts in the application group; the `security-group`
//! fence moves the source onto the fence group ([`crate::SandboxFence`]), exactly as
//! ModifyDBCluster does on AWS.
//!
//! Each cluster's application endpoint is its loopback address at [`application_port`]: a
//! proxy that, per new connection, reads the cluster's groups in the registry *now* and either
//! relays it to the server for as long as both ends keep it open, or holds it unanswered until
//! the client gives up.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::sandbox::{lock, Sandbox};

/// Admits the application and the control plane: where every sandbox cluster starts.
pub const APPLICATION_SECURITY_GROUP: &str = "sg-000000000000a0001";
/// Admits the control plane only (the spec's `fenceSecurityGroupId` for a sandbox run).
pub const FENCE_SECURITY_GROUP: &str = "sg-000000000000fe0ce";

/// How long a refused connection is held unanswered (a dropped SYN): far longer than any
/// client's connect timeout.
const REFUSED_HOLD: Duration = Duration::from_secs(60);

/// Where a new connection comes from, as far as security groups are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Application,
    ControlPlane,
}

/// Whether `group` admits `source`; `None` when the sandbox has no such group.
pub fn admits(group: &str, source: Source) -> Option<bool> {
    match group {
        APPLICATION_SECURITY_GROUP => Some(true),
        FENCE_SECURITY_GROUP => Some(source == Source::ControlPlane),
        _ => None,
    }
}

/// Whether the sandbox has a security group `group`.
pub fn is_known_group(group: &str) -> bool {
    admits(group, Source::ControlPlane).is_some()
}

/// The port of every cluster's application endpoint: the sandbox's port plus one, on the
/// cluster's own loopback address.
pub fn application_port(sandbox_port: u16) -> u16 {
    sandbox_port.wrapping_add(1)
}

/// The application endpoints of a sandbox's clusters, served on demand ([`Self::serve`]) while
/// this value lives.
#[derive(Clone)]
pub struct EndpointProxies {
    sandbox: Sandbox,
    listeners: Arc<Mutex<HashMap<Ipv4Addr, JoinHandle<()>>>>,
}

impl EndpointProxies {
    pub fn new(sandbox: Sandbox) -> Self {
        Self {
            sandbox,
            listeners: Arc::default(),
        }
    }

    /// The application port this network serves at.
    pub fn port(&self) -> u16 {
        application_port(self.sandbox.port())
    }

    /// Serves the application endpoint at `host` (a cluster's loopback address) unless it is
    /// served already. Call inside a Tokio runtime. An address in use is left to whoever holds
    /// it (another network over the same registry serves it the same way).
    pub fn serve(&self, host: Ipv4Addr) {
        let mut listeners = lock(&self.listeners);
        if listeners.get(&host).is_some_and(|t| !t.is_finished()) {
            return;
        }
        let listener = match std::net::TcpListener::bind((host, self.port()))
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(TcpListener::from_std)
        {
            Ok(listener) => listener,
            Err(e) => {
                tracing::debug!(%host, error = %e, "application endpoint not served here");
                return;
            }
        };
        let sandbox = self.sandbox.clone();
        listeners.insert(host, tokio::spawn(accept_loop(sandbox, host, listener)));
    }
}

impl Drop for EndpointProxies {
    fn drop(&mut self) {
        // The last clone stops the listeners; relayed connections end with their tasks.
        if Arc::strong_count(&self.listeners) == 1 {
            for (_, task) in lock(&self.listeners).drain() {
                task.abort();
            }
        }
    }
}

async fn accept_loop(sandbox: Sandbox, host: Ipv4Addr, listener: TcpListener) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (client, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(%host, error = %e, "the application endpoint stopped accepting");
                return;
            }
        };
        while connections.try_join_next().is_some() {}
        let server = SocketAddr::from((host, sandbox.port()));
        if admitted(&sandbox, host) {
            connections.spawn(relay(client, server));
        } else {
            connections.spawn(hold(client));
        }
    }
}

/// Whether the cluster at `host` admits a new application connection now.
fn admitted(sandbox: &Sandbox, host: Ipv4Addr) -> bool {
    let groups = sandbox.registry(|r| {
        r.clusters
            .values()
            .find(|c| c.host == host)
            .map(|c| c.security_groups())
    });
    groups.is_some_and(|groups| {
        groups
            .iter()
            .any(|g| admits(g, Source::Application) == Some(true))
    })
}

/// Relays an admitted connection until either end closes it.
async fn relay(mut client: TcpStream, server: SocketAddr) {
    let Ok(mut upstream) = TcpStream::connect(server).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// A refused connection: nothing is ever answered, as when a security group drops the SYN.
async fn hold(mut client: TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut sink = [0u8; 256];
    let _ = tokio::time::timeout(REFUSED_HOLD, async {
        while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fence_group_admits_the_control_plane_only() {
        assert_eq!(
            admits(APPLICATION_SECURITY_GROUP, Source::Application),
            Some(true)
        );
        assert_eq!(
            admits(FENCE_SECURITY_GROUP, Source::Application),
            Some(false)
        );
        assert_eq!(
            admits(FENCE_SECURITY_GROUP, Source::ControlPlane),
            Some(true)
        );
        assert_eq!(admits("sg-0123456789abcdef0", Source::Application), None);
    }
}
