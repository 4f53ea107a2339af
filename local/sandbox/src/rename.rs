//! Renaming clusters and instances (ModifyDBCluster / ModifyDBInstance with
//! `NewDB…Identifier`), and the cluster endpoints' names in the sandbox's DNS, which follow a
//! rename as RDS's do.
//!
//! A cluster's endpoint in the control plane stays its loopback address (MariaDB's replication
//! and the SQL adapters dial it), but an application may connect by the cluster's name,
//! `<id>.cluster.sandbox.internal` in the sandbox's zone, with RDS's 5 s TTL: a rename moves
//! that name, so a client holding an answer keeps reaching the old server until the TTL runs
//! out, as on AWS. Between a cluster leaving a name and another taking it, the name does not
//! resolve. A rename takes a while ([`Sandbox::set_rename_delay`]; AWS documents no figure, and
//! [`AWS_RENAME`] is the stand-in the demo scales): the cluster or instance is `renaming` under
//! its old name, then answers only to its new one.
//!
//! Custom endpoints (CreateDBClusterEndpoint) have names of their own,
//! `<id>.cluster-custom.sandbox.internal`, leading to their cluster's server (the sandbox's
//! readers have none of their own); a rename leaves them with the cluster renamed, as RDS does.
//! Creating one and deleting one take the rename delay too (`creating`, `deleting`).

use aurora_core::errors::{PortError, Resource};
use aurora_core::naming::NameKind;
use aurora_core::ports::{CustomEndpoint, PortResult};

use crate::error::SandboxResult;
use crate::registry::status;
use crate::sandbox::{Sandbox, ZONE_ID};

/// The status of a cluster being renamed.
const RENAMING: &str = "renaming";

/// The TTL RDS gives its cluster and instance endpoints.
pub const RDS_ENDPOINT_TTL: i64 = 5;
/// How long RDS takes to rename a cluster or an instance, as the sandbox assumes it.
pub const AWS_RENAME: std::time::Duration = std::time::Duration::from_secs(30);

/// The name an application connects to a cluster by (its cluster endpoint).
pub fn cluster_dns_name(cluster_id: &str) -> String {
    format!("{cluster_id}.cluster.sandbox.internal")
}

/// The name of a custom endpoint.
pub fn custom_endpoint_dns_name(endpoint_id: &str) -> String {
    format!("{endpoint_id}.cluster-custom.sandbox.internal")
}

impl Sandbox {
    /// Names `cluster_id`'s endpoint in the DNS zone (its current address).
    pub async fn publish_cluster_endpoint(&self, cluster_id: &str) -> SandboxResult<()> {
        let Some(record) = self.cluster_record(cluster_id) else {
            return Ok(());
        };
        self.dns().publish(
            ZONE_ID,
            &cluster_dns_name(cluster_id),
            &record.host.to_string(),
            RDS_ENDPOINT_TTL,
        )?;
        Ok(())
    }

    /// How long a cluster rename takes from now on (0 by default).
    pub fn set_rename_delay(&self, delay: std::time::Duration) -> SandboxResult<()> {
        self.update(|r| r.rename_delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX))
    }

    /// Renames cluster `from` to `to`: `renaming` under its old name for the rename delay,
    /// then its record, its instances' and its fence's references, the process running it, and
    /// its endpoint's name (the old name stops resolving) move to the new one.
    pub async fn rename_cluster(&self, from: &str, to: &str) -> PortResult<()> {
        crate::clusters::rds_name(NameKind::DbCluster, to)?;
        let delay = self.update(|r| {
            if r.clusters.contains_key(to) {
                return Err(PortError::AlreadyExists {
                    resource: Resource::Cluster,
                    message: to.to_string(),
                });
            }
            let Some(record) = r.clusters.get_mut(from) else {
                return Err(not_found(Resource::Cluster, from));
            };
            if record.status != status::AVAILABLE {
                return Err(PortError::InvalidState(format!(
                    "InvalidDBClusterStateFault: cluster {from} is {}",
                    record.status
                )));
            }
            record.status = RENAMING.into();
            Ok(std::time::Duration::from_millis(r.rename_delay_ms))
        })??;
        if delay.is_zero() {
            return self.finish_rename(from, to).await;
        }
        let (sandbox, from, to) = (self.clone(), from.to_string(), to.to_string());
        self.spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(e) = sandbox.finish_rename(&from, &to).await {
                tracing::warn!(cluster = %from, error = %e, "rename failed");
            }
        });
        Ok(())
    }

    async fn finish_rename(&self, from: &str, to: &str) -> PortResult<()> {
        self.update(|r| {
            if r.clusters.contains_key(to) {
                return Err(PortError::AlreadyExists {
                    resource: Resource::Cluster,
                    message: to.to_string(),
                });
            }
            let Some(mut record) = r.clusters.remove(from) else {
                return Err(not_found(Resource::Cluster, from));
            };
            record.id = to.to_string();
            record.status = status::AVAILABLE.into();
            r.clusters.insert(to.to_string(), record);
            for instance in r.instances.values_mut().filter(|i| i.cluster_id == from) {
                instance.cluster_id = to.to_string();
            }
            if let Some(fence) = r.fences.remove(from) {
                r.fences.insert(to.to_string(), fence);
            }
            for endpoint in r.custom_endpoints.values_mut() {
                if endpoint.cluster_id == from {
                    endpoint.cluster_id = to.to_string();
                }
            }
            Ok(())
        })??;
        self.rekey_child(from, to);
        self.dns()
            .delete_record(ZONE_ID, &cluster_dns_name(from))
            .map_err(|e| PortError::Other(e.to_string()))?;
        self.publish_cluster_endpoint(to)
            .await
            .map_err(|e| PortError::Other(e.to_string()))?;
        Ok(())
    }

    /// Renames instance `from` to `to`, with its events: `renaming` under its old name for the
    /// rename delay, as a cluster.
    pub async fn rename_instance(&self, from: &str, to: &str) -> PortResult<()> {
        crate::clusters::rds_name(NameKind::DbInstance, to)?;
        let delay = self.update(|r| {
            if r.instances.contains_key(to) {
                return Err(PortError::AlreadyExists {
                    resource: Resource::Instance,
                    message: to.to_string(),
                });
            }
            let Some(record) = r.instances.get_mut(from) else {
                return Err(not_found(Resource::Instance, from));
            };
            if record.renaming {
                return Err(PortError::InvalidState(format!(
                    "InvalidDBInstanceState: instance {from} is renaming"
                )));
            }
            record.renaming = true;
            Ok(std::time::Duration::from_millis(r.rename_delay_ms))
        })??;
        if delay.is_zero() {
            return self.finish_instance_rename(from, to);
        }
        let (sandbox, from, to) = (self.clone(), from.to_string(), to.to_string());
        self.spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(e) = sandbox.finish_instance_rename(&from, &to) {
                tracing::warn!(instance = %from, error = %e, "rename failed");
            }
        });
        Ok(())
    }

    fn finish_instance_rename(&self, from: &str, to: &str) -> PortResult<()> {
        self.update(|r| {
            if r.instances.contains_key(to) {
                return Err(PortError::AlreadyExists {
                    resource: Resource::Instance,
                    message: to.to_string(),
                });
            }
            let Some(mut record) = r.instances.remove(from) else {
                return Err(not_found(Resource::Instance, from));
            };
            record.id = to.to_string();
            record.renaming = false;
            r.instances.insert(to.to_string(), record);
            if let Some(events) = r.events.remove(from) {
                r.events.insert(to.to_string(), events);
            }
            Ok(())
        })?
    }
}

impl Sandbox {
    /// A cluster's custom endpoints.
    pub fn custom_endpoints(&self, cluster_id: &str) -> PortResult<Vec<CustomEndpoint>> {
        self.registry(|r| {
            if !r.clusters.contains_key(cluster_id) {
                return Err(not_found(Resource::Cluster, cluster_id));
            }
            Ok(r.custom_endpoints
                .values()
                .filter(|e| e.cluster_id == cluster_id)
                .cloned()
                .collect())
        })
    }

    pub fn custom_endpoint(&self, id: &str) -> Option<CustomEndpoint> {
        self.registry(|r| r.custom_endpoints.get(id).cloned())
    }

    /// CreateDBClusterEndpoint: `creating` for the rename delay, then `available` and named in
    /// the DNS. Refused as RDS refuses it: a taken name, a cluster that is not available, a
    /// member that is not one of the cluster's instances, a type other than READER or ANY.
    pub async fn create_custom_endpoint(&self, endpoint: &CustomEndpoint) -> PortResult<()> {
        crate::clusters::rds_name(NameKind::DbCluster, &endpoint.id)?;
        if !matches!(endpoint.endpoint_type.as_str(), "READER" | "ANY") {
            return Err(PortError::InvalidRequest(format!(
                "EndpointType {} is not READER or ANY",
                endpoint.endpoint_type
            )));
        }
        let cluster_id = endpoint.cluster_id.clone();
        let delay = self.update(|r| {
            if r.custom_endpoints.contains_key(&endpoint.id) {
                return Err(PortError::AlreadyExists {
                    resource: Resource::ClusterEndpoint,
                    message: endpoint.id.clone(),
                });
            }
            let Some(cluster) = r.clusters.get(&cluster_id) else {
                return Err(not_found(Resource::Cluster, &cluster_id));
            };
            if cluster.status != status::AVAILABLE {
                return Err(PortError::InvalidState(format!(
                    "InvalidDBClusterStateFault: cluster {cluster_id} is {}",
                    cluster.status
                )));
            }
            if let Some(stranger) = endpoint
                .static_members
                .iter()
                .chain(&endpoint.excluded_members)
                .find(|m| {
                    r.instances
                        .get(*m)
                        .is_none_or(|i| i.cluster_id != cluster_id)
                })
            {
                return Err(not_found(Resource::Instance, stranger));
            }
            r.custom_endpoints.insert(
                endpoint.id.clone(),
                CustomEndpoint {
                    status: "creating".into(),
                    ..endpoint.clone()
                },
            );
            Ok(std::time::Duration::from_millis(r.rename_delay_ms))
        })??;
        let (sandbox, id) = (self.clone(), endpoint.id.clone());
        self.after(delay, move || sandbox.finish_custom_endpoint(&id, true))
            .await
    }

    /// DeleteDBClusterEndpoint: `deleting` for the rename delay, then gone with its name.
    pub async fn delete_custom_endpoint(&self, id: &str) -> PortResult<()> {
        let delay = self.update(|r| {
            let Some(endpoint) = r.custom_endpoints.get_mut(id) else {
                return Err(not_found(Resource::ClusterEndpoint, id));
            };
            if endpoint.status != status::AVAILABLE {
                return Err(PortError::InvalidState(format!(
                    "InvalidDBClusterEndpointStateFault: {id} is {}",
                    endpoint.status
                )));
            }
            endpoint.status = "deleting".into();
            Ok(std::time::Duration::from_millis(r.rename_delay_ms))
        })??;
        let (sandbox, id) = (self.clone(), id.to_string());
        self.after(delay, move || sandbox.finish_custom_endpoint(&id, false))
            .await
    }

    /// Runs `finish` now, or after `delay` in the background.
    async fn after(
        &self,
        delay: std::time::Duration,
        finish: impl FnOnce() -> PortResult<()> + Send + 'static,
    ) -> PortResult<()> {
        if delay.is_zero() {
            return finish();
        }
        self.spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(e) = finish() {
                tracing::warn!(error = %e, "custom endpoint change failed");
            }
        });
        Ok(())
    }

    fn finish_custom_endpoint(&self, id: &str, created: bool) -> PortResult<()> {
        let host = self.update(|r| {
            if !created {
                r.custom_endpoints.remove(id);
                return None;
            }
            let endpoint = r.custom_endpoints.get_mut(id)?;
            endpoint.status = status::AVAILABLE.into();
            r.clusters
                .get(&endpoint.cluster_id)
                .map(|c| c.host.to_string())
        })?;
        let name = custom_endpoint_dns_name(id);
        match host {
            Some(host) => self.dns().publish(ZONE_ID, &name, &host, RDS_ENDPOINT_TTL),
            None => self.dns().delete_record(ZONE_ID, &name),
        }
    }
}

fn not_found(resource: Resource, id: &str) -> PortError {
    PortError::NotFound {
        resource,
        message: id.to_string(),
    }
}
