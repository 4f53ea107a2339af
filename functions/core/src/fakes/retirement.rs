//! The source's retirement: deletions recorded, nothing deleted.

use std::sync::Mutex;

use async_trait::async_trait;

use super::{lock, Failures};
use crate::errors::PortError;
use crate::ports::{ClusterRetirement, PortResult};

/// Records deletions; the clusters themselves live in [`FakeClusters`](super::FakeClusters).
#[derive(Default)]
pub struct FakeRetirement {
    mutations: Mutex<Vec<String>>,
    failures: Failures,
}

impl FakeRetirement {
    pub fn mutations(&self) -> Vec<String> {
        lock(&self.mutations).clone()
    }

    pub fn fail_next(&self, method: &'static str, error: PortError) {
        self.failures.push(method, error);
    }
}

#[async_trait]
impl ClusterRetirement for FakeRetirement {
    async fn disable_deletion_protection(&self, cluster_id: &str) -> PortResult<()> {
        self.failures.take("disable_deletion_protection")?;
        lock(&self.mutations).push(format!("disable_deletion_protection {cluster_id}"));
        Ok(())
    }

    async fn delete_instance(&self, instance_id: &str) -> PortResult<()> {
        self.failures.take("delete_instance")?;
        lock(&self.mutations).push(format!("delete_instance {instance_id}"));
        Ok(())
    }

    async fn delete_cluster(&self, cluster_id: &str) -> PortResult<()> {
        self.failures.take("delete_cluster")?;
        lock(&self.mutations).push(format!("delete_cluster {cluster_id}"));
        Ok(())
    }
}
