//! `ClusterRetirement` over the sandbox: deleting an instance forgets it (instances other than
//! the writer have no server of their own, and the writer's data is the cluster's); deleting a
//! cluster stops its server, removes its directory and forgets it, its instances and its fence.
//! Missing things are already deleted: success. There is no deletion protection to turn off.

use async_trait::async_trait;
use aurora_core::ports::{ClusterRetirement, PortResult};

use crate::error::SandboxError;
use crate::sandbox::Sandbox;

/// The `ClusterRetirement` port over a [`Sandbox`].
#[derive(Clone)]
pub struct SandboxRetirement {
    sandbox: Sandbox,
}

impl SandboxRetirement {
    pub fn new(sandbox: Sandbox) -> Self {
        Self { sandbox }
    }
}

#[async_trait]
impl ClusterRetirement for SandboxRetirement {
    async fn disable_deletion_protection(&self, _cluster_id: &str) -> PortResult<()> {
        Ok(())
    }

    async fn delete_instance(&self, instance_id: &str) -> PortResult<()> {
        self.sandbox.update(|r| {
            r.instances.remove(instance_id);
            r.events.remove(instance_id);
        })?;
        Ok(())
    }

    async fn delete_cluster(&self, cluster_id: &str) -> PortResult<()> {
        let Some(record) = self.sandbox.cluster_record(cluster_id) else {
            return Ok(());
        };
        self.sandbox.stop_cluster(cluster_id).await?;
        match std::fs::remove_dir_all(&record.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(
                    SandboxError::io(format!("removing {}", record.dir.display()))(e).into(),
                )
            }
        }
        self.sandbox.update(|r| {
            r.clusters.remove(cluster_id);
            r.fences.remove(cluster_id);
            let instances: Vec<String> = r
                .instances
                .values()
                .filter(|i| i.cluster_id == cluster_id)
                .map(|i| i.id.clone())
                .collect();
            for id in instances {
                r.instances.remove(&id);
                r.events.remove(&id);
            }
        })?;
        tracing::info!(cluster = %cluster_id, "sandbox cluster deleted");
        Ok(())
    }
}
