//! Cluster parameter groups, who uses them, and members waiting for a reboot.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{lock, Failures};
use crate::errors::{PortError, Resource};
use crate::ports::{ClusterParameters, ParameterValue, PortResult};

#[derive(Default)]
struct ParameterGroups {
    values: BTreeMap<String, BTreeMap<String, ParameterValue>>,
    users: BTreeMap<String, Vec<String>>,
    pending_reboot: BTreeMap<String, Vec<String>>,
    /// `set_at_reboot` calls, as `group: name=value`.
    changes: Vec<String>,
}

/// Cluster parameter groups, which clusters use them, and members waiting for a reboot.
#[derive(Default)]
pub struct FakeParameters {
    groups: Mutex<ParameterGroups>,
    failures: Failures,
}

impl FakeParameters {
    /// `<source>-params` with `binlog_format=ROW`, used by `source` alone.
    pub fn for_source(source: &str) -> Self {
        let fake = Self::default();
        let group = format!("{source}-params");
        fake.set(&group, "binlog_format", Some("ROW"));
        fake.set(&group, "read_only", None);
        fake.use_group(source, &group);
        fake
    }

    pub fn set(&self, group: &str, name: &str, value: Option<&str>) {
        lock(&self.groups)
            .values
            .entry(group.into())
            .or_default()
            .insert(
                name.into(),
                ParameterValue {
                    name: name.into(),
                    value: value.map(str::to_string),
                    source: if value.is_some() {
                        "user"
                    } else {
                        "engine-default"
                    }
                    .into(),
                    apply_type: "dynamic".into(),
                },
            );
    }

    pub fn use_group(&self, cluster: &str, group: &str) {
        lock(&self.groups)
            .users
            .entry(group.into())
            .or_default()
            .push(cluster.into());
    }

    pub fn set_pending_reboot(&self, cluster: &str, members: &[&str]) {
        lock(&self.groups).pending_reboot.insert(
            cluster.into(),
            members.iter().map(|m| m.to_string()).collect(),
        );
    }

    pub fn fail_next(&self, method: &'static str, error: PortError) {
        self.failures.push(method, error);
    }

    /// Every `set_at_reboot`, as `group: name=value`.
    pub fn mutations(&self) -> Vec<String> {
        lock(&self.groups).changes.clone()
    }
}

#[async_trait]
impl ClusterParameters for FakeParameters {
    async fn parameter(&self, group: &str, name: &str) -> PortResult<Option<ParameterValue>> {
        self.failures.take("parameter")?;
        let groups = lock(&self.groups);
        match groups.values.get(group) {
            Some(values) => Ok(values.get(name).cloned()),
            // AWS's default groups leave binlog_format OFF; any other unknown group is missing.
            None if group.starts_with("default.") => Ok(Some(ParameterValue {
                name: name.into(),
                value: (name == "binlog_format").then(|| "OFF".to_string()),
                source: "engine-default".into(),
                apply_type: "static".into(),
            })),
            None => Err(PortError::NotFound {
                resource: Resource::ParameterGroup,
                message: group.into(),
            }),
        }
    }

    async fn clusters_using(&self, group: &str) -> PortResult<Vec<String>> {
        self.failures.take("clusters_using")?;
        Ok(lock(&self.groups)
            .users
            .get(group)
            .cloned()
            .unwrap_or_default())
    }

    async fn members_pending_reboot(&self, cluster_id: &str) -> PortResult<Vec<String>> {
        self.failures.take("members_pending_reboot")?;
        Ok(lock(&self.groups)
            .pending_reboot
            .get(cluster_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn set_at_reboot(&self, group: &str, name: &str, value: &str) -> PortResult<()> {
        self.failures.take("set_at_reboot")?;
        let mut groups = lock(&self.groups);
        let Some(values) = groups.values.get_mut(group) else {
            return Err(PortError::NotFound {
                resource: Resource::ParameterGroup,
                message: group.into(),
            });
        };
        values.insert(
            name.into(),
            ParameterValue {
                name: name.into(),
                value: Some(value.into()),
                source: "user".into(),
                apply_type: "static".into(),
            },
        );
        groups.changes.push(format!("{group}: {name}={value}"));
        Ok(())
    }
}
