//! One hosted zone whose changes sync when the test says so.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{lock, Failures};
use crate::errors::{PortError, Resource};
use crate::ports::{ChangeStatus, Dns, DnsChange, DnsRecord, PortResult};

#[derive(Default)]
struct Zone {
    records: BTreeMap<String, DnsRecord>,
    changes: BTreeMap<String, ChangeStatus>,
    mutations: Vec<String>,
}

/// One hosted zone; changes stay PENDING until [`FakeDns::sync_all`].
#[derive(Default)]
pub struct FakeDns {
    zone: Mutex<Zone>,
    failures: Failures,
}

impl FakeDns {
    pub fn with_record(name: &str, record_type: &str, value: Option<&str>) -> Self {
        let fake = Self::default();
        lock(&fake.zone).records.insert(
            name.to_string(),
            DnsRecord {
                name: name.into(),
                record_type: record_type.into(),
                value: value.map(str::to_string),
                ttl: Some(300),
            },
        );
        fake
    }

    pub fn fail_next(&self, method: &'static str, error: PortError) {
        self.failures.push(method, error);
    }

    pub fn record(&self, name: &str) -> Option<DnsRecord> {
        lock(&self.zone).records.get(name).cloned()
    }

    pub fn mutations(&self) -> Vec<String> {
        lock(&self.zone).mutations.clone()
    }

    pub fn sync_all(&self) {
        for status in lock(&self.zone).changes.values_mut() {
            *status = ChangeStatus::Insync;
        }
    }
}

#[async_trait]
impl Dns for FakeDns {
    async fn resolve(&self, _zone_id: &str, name: &str) -> PortResult<Option<DnsRecord>> {
        self.failures.take("resolve")?;
        Ok(lock(&self.zone).records.get(name).cloned())
    }

    async fn upsert_cname(
        &self,
        zone_id: &str,
        name: &str,
        value: &str,
        ttl_seconds: i64,
    ) -> PortResult<DnsChange> {
        self.failures.take("upsert_cname")?;
        let mut zone = lock(&self.zone);
        let id = format!("C{:04}", zone.changes.len() + 1);
        zone.records.insert(
            name.into(),
            DnsRecord {
                name: name.into(),
                record_type: "CNAME".into(),
                value: Some(value.into()),
                ttl: Some(ttl_seconds),
            },
        );
        zone.changes.insert(id.clone(), ChangeStatus::Pending);
        zone.mutations.push(format!(
            "upsert {zone_id} {name} CNAME {value} ttl={ttl_seconds}"
        ));
        Ok(DnsChange {
            id,
            status: ChangeStatus::Pending,
        })
    }

    async fn change_status(&self, change_id: &str) -> PortResult<ChangeStatus> {
        self.failures.take("change_status")?;
        lock(&self.zone)
            .changes
            .get(change_id)
            .copied()
            .ok_or_else(|| PortError::NotFound {
                resource: Resource::DnsChange,
                message: change_id.into(),
            })
    }
}
