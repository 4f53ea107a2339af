//! The fence's control-plane half: security groups, `read_only` and the saved record.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{lock, Failures};
use crate::errors::{PortError, Resource};
use crate::ports::{FenceRecord, FenceState, PortResult, WriteFence};

#[derive(Default)]
struct Fences {
    state: BTreeMap<String, FenceState>,
    saved: BTreeMap<String, FenceRecord>,
    mutations: Vec<String>,
}

/// Clusters' security groups and `read_only`, with the saved record, as the AWS adapter keeps
/// them (the record is saved before anything changes).
#[derive(Default)]
pub struct FakeFence {
    inner: Mutex<Fences>,
    failures: Failures,
}

impl FakeFence {
    /// `cluster` on `sg-0123456789abcdef0` with `read_only` at the engine default in
    /// `<cluster>-params`.
    pub fn for_cluster(cluster: &str) -> Self {
        let fake = Self::default();
        fake.set_state(
            cluster,
            FenceState {
                security_group_ids: vec!["sg-0123456789abcdef0".into()],
                parameter_group: Some(format!("{cluster}-params")),
                read_only: None,
            },
        );
        fake
    }

    pub fn set_state(&self, cluster: &str, state: FenceState) {
        lock(&self.inner).state.insert(cluster.into(), state);
    }

    pub fn state(&self, cluster: &str) -> Option<FenceState> {
        lock(&self.inner).state.get(cluster).cloned()
    }

    pub fn saved(&self, cluster: &str) -> Option<FenceRecord> {
        lock(&self.inner).saved.get(cluster).cloned()
    }

    pub fn mutations(&self) -> Vec<String> {
        lock(&self.inner).mutations.clone()
    }

    pub fn fail_next(&self, method: &'static str, error: PortError) {
        self.failures.push(method, error);
    }

    fn state_of<'a>(fences: &'a mut Fences, cluster: &str) -> PortResult<&'a mut FenceState> {
        fences
            .state
            .get_mut(cluster)
            .ok_or_else(|| PortError::NotFound {
                resource: Resource::Cluster,
                message: cluster.into(),
            })
    }
}

#[async_trait]
impl WriteFence for FakeFence {
    async fn current(&self, cluster_id: &str) -> PortResult<FenceState> {
        self.failures.take("current")?;
        let mut inner = lock(&self.inner);
        Self::state_of(&mut inner, cluster_id).map(|s| s.clone())
    }

    async fn saved_record(&self, cluster_id: &str) -> PortResult<Option<FenceRecord>> {
        self.failures.take("saved_record")?;
        Ok(lock(&self.inner).saved.get(cluster_id).cloned())
    }

    async fn apply(&self, record: &FenceRecord) -> PortResult<()> {
        let mut inner = lock(&self.inner);
        let id = record.cluster_id.clone();
        Self::state_of(&mut inner, &id)?;
        if inner.saved.get(&id) != Some(record) {
            inner.saved.insert(id.clone(), record.clone());
            inner.mutations.push(format!("save_record {id}"));
        }
        // A failure injected here happens after the record is saved, like a real partial apply.
        drop(inner);
        self.failures.take("apply")?;
        let mut inner = lock(&self.inner);
        let Fences {
            state, mutations, ..
        } = &mut *inner;
        let Some(current) = state.get_mut(&id) else {
            return Ok(());
        };
        if let Some(group) = &record.fence_security_group_id {
            if record
                .methods
                .contains(&crate::spec::FenceMethod::SecurityGroup)
                && current.security_group_ids != [group.clone()]
            {
                current.security_group_ids = vec![group.clone()];
                mutations.push(format!("set_security_groups {id} [{group}]"));
            }
        }
        if record.methods.contains(&crate::spec::FenceMethod::ReadOnly)
            && current.read_only.as_deref() != Some("1")
        {
            current.read_only = Some("1".into());
            mutations.push(format!("set_read_only {id} 1"));
        }
        Ok(())
    }

    async fn lift(&self, record: &FenceRecord) -> PortResult<()> {
        self.failures.take("lift")?;
        let mut inner = lock(&self.inner);
        let id = record.cluster_id.clone();
        let Fences {
            state,
            saved,
            mutations,
        } = &mut *inner;
        let Some(current) = state.get_mut(&id) else {
            return Err(PortError::NotFound {
                resource: Resource::Cluster,
                message: id,
            });
        };
        if let Some(original) = &record.original_security_group_ids {
            if current.security_group_ids != *original {
                current.security_group_ids = original.clone();
                mutations.push(format!("set_security_groups {id} [{}]", original.join(",")));
            }
        }
        if record.methods.contains(&crate::spec::FenceMethod::ReadOnly)
            && current.read_only != record.original_read_only
        {
            current.read_only = record.original_read_only.clone();
            mutations.push(format!(
                "set_read_only {id} {}",
                record.original_read_only.as_deref().unwrap_or("<default>")
            ));
        }
        if saved.remove(&id).is_some() {
            mutations.push(format!("forget_record {id}"));
        }
        Ok(())
    }
}
