//! Reading and changing the registry, the sandbox's record of its clusters, shared with other
//! processes on the same directory; and what it says about each cluster.

use std::path::PathBuf;

use aurora_core::ports::DatabaseEndpoint;

use super::{lock, Sandbox};
use crate::error::{SandboxError, SandboxResult};
use crate::registry::{self, ClusterRecord, Registry};
use crate::server::{self, ServerSpec};

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

impl Sandbox {
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

    /// Puts `cluster_id` in the security groups `groups` (ModifyDBCluster's
    /// `VpcSecurityGroupIds`): new connections follow them, open ones stay.
    pub fn set_security_groups(&self, cluster_id: &str, groups: Vec<String>) -> SandboxResult<()> {
        let found = self.update(|r| match r.clusters.get_mut(cluster_id) {
            Some(c) => {
                c.security_group_ids = groups;
                true
            }
            None => false,
        })?;
        if found {
            Ok(())
        } else {
            Err(SandboxError::NotFound(format!("cluster {cluster_id}")))
        }
    }

    pub(crate) fn cluster_record(&self, id: &str) -> Option<ClusterRecord> {
        self.registry(|r| r.clusters.get(id).cloned())
    }

    /// How `cluster_id`'s server runs: its record, and the values of its parameter group.
    pub fn server_spec(&self, cluster_id: &str) -> SandboxResult<ServerSpec> {
        let port = self.port();
        self.registry(|r| {
            let cluster = r.clusters.get(cluster_id)?;
            let mut spec = cluster.server(port);
            if let Some(group) = cluster
                .parameter_group
                .as_ref()
                .and_then(|g| r.parameter_groups.get(g))
            {
                spec.parameters = group.values.clone();
            }
            Some(spec)
        })
        .ok_or_else(|| SandboxError::NotFound(format!("cluster {cluster_id}")))
    }

    /// Reboots `cluster_id` as RDS does: the values its parameter group holds for the next
    /// reboot become the ones its server runs with, and the server restarts.
    pub async fn reboot_cluster(&self, cluster_id: &str) -> SandboxResult<()> {
        self.update(|r| {
            let group = r
                .clusters
                .get(cluster_id)
                .and_then(|c| c.parameter_group.clone());
            if let Some(group) = group.and_then(|g| r.parameter_groups.get_mut(&g)) {
                let pending = std::mem::take(&mut group.at_reboot);
                group.values.extend(pending);
            }
        })?;
        self.stop_cluster(cluster_id).await?;
        self.start_cluster(cluster_id).await
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

    /// The cluster whose endpoint is `host` (a loopback address), as a network would route it.
    pub fn cluster_by_host(&self, host: &str) -> Option<String> {
        self.registry(|r| {
            r.clusters
                .values()
                .find(|c| c.host.to_string() == host)
                .map(|c| c.id.clone())
        })
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
}
