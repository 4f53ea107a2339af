//! A replication engine whose status tests set by hand, and its lag metrics.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{lock, Failures};
use crate::errors::{PortError, Resource};
use crate::ports::{
    CdcRequest, DatabaseEndpoint, LagMetrics, LagSample, PortResult, Replication,
    ReplicationHandle, ReplicationState, ReplicationStatus,
};

#[derive(Default)]
struct Migrations {
    by_name: BTreeMap<String, (ReplicationHandle, ReplicationStatus, CdcRequest)>,
    /// Statuses `status` reports next, one per call, before the set status.
    queued: BTreeMap<String, VecDeque<ReplicationStatus>>,
    mutations: Vec<String>,
}

/// A replication engine whose state tests set by hand.
#[derive(Default)]
pub struct FakeReplication {
    inner: Mutex<Migrations>,
    failures: Failures,
    /// State a new replication starts in (default `Ready`).
    pub initial_state: Mutex<Option<ReplicationState>>,
}

impl FakeReplication {
    pub fn fail_next(&self, method: &'static str, error: PortError) {
        self.failures.push(method, error);
    }

    pub fn mutations(&self) -> Vec<String> {
        lock(&self.inner).mutations.clone()
    }

    pub fn request(&self, name: &str) -> Option<CdcRequest> {
        lock(&self.inner).by_name.get(name).map(|m| m.2.clone())
    }

    /// Sets the state, lag and failure message the next `status` calls report.
    pub fn set_status(
        &self,
        name: &str,
        state: ReplicationState,
        lag: Option<u64>,
        failure: Option<&str>,
    ) {
        if let Some((_, status, _)) = lock(&self.inner).by_name.get_mut(name) {
            status.state = state;
            status.status_text = format!("{state:?}").to_uppercase();
            status.cdc_latency_seconds = lag;
            status.last_failure = failure.map(str::to_string);
        }
    }

    /// Makes the next `status` calls of `name` report `statuses`, one per call, in order; after
    /// them the status set by [`Self::set_status`] (or the last queued one) is reported.
    pub fn queue_statuses(&self, name: &str, statuses: Vec<ReplicationStatus>) {
        let mut inner = lock(&self.inner);
        if let (Some(last), Some((_, status, _))) = (statuses.last(), inner.by_name.get_mut(name)) {
            *status = last.clone();
        }
        inner
            .queued
            .entry(name.to_string())
            .or_default()
            .extend(statuses);
    }

    /// A replication that already exists (as if created by an earlier step).
    pub fn add_existing(&self, name: &str, state: ReplicationState) -> ReplicationHandle {
        let handle = ReplicationHandle {
            engine: "fake".into(),
            id: format!("arn:aws:dms:eu-west-1:123456789012:data-migration:{name}"),
            name: name.into(),
            resources: Vec::new(),
        };
        let status = ReplicationStatus {
            state,
            status_text: format!("{state:?}").to_uppercase(),
            cdc_latency_seconds: None,
            last_failure: None,
            positions: None,
        };
        let request = CdcRequest {
            name: name.into(),
            source: DatabaseEndpoint {
                cluster_id: "source".into(),
                host: "source".into(),
                port: 3306,
            },
            target: DatabaseEndpoint {
                cluster_id: "target".into(),
                host: "target".into(),
                port: 3306,
            },
            start: crate::BinlogPosition::new("mysql-bin-changelog.000001", 4),
            settings: crate::spec::ReplicationSpec::Native(crate::spec::NativeReplication {
                source_secret_arn: String::new(),
                target_secret_arn: String::new(),
            }),
            tags: Vec::new(),
        };
        lock(&self.inner)
            .by_name
            .insert(name.into(), (handle.clone(), status, request));
        handle
    }

    fn with<T>(
        &self,
        handle: &ReplicationHandle,
        f: impl FnOnce(&mut ReplicationStatus, &mut Vec<String>) -> T,
    ) -> PortResult<T> {
        let mut inner = lock(&self.inner);
        let Migrations {
            by_name, mutations, ..
        } = &mut *inner;
        match by_name.get_mut(&handle.name) {
            Some((_, status, _)) => Ok(f(status, mutations)),
            None => Err(PortError::NotFound {
                resource: Resource::Migration,
                message: handle.name.clone(),
            }),
        }
    }
}

#[async_trait]
impl Replication for FakeReplication {
    async fn ensure_cdc(&self, request: &CdcRequest) -> PortResult<ReplicationHandle> {
        self.failures.take("ensure_cdc")?;
        let initial = lock(&self.initial_state).unwrap_or(ReplicationState::Ready);
        let mut inner = lock(&self.inner);
        if let Some((handle, _, _)) = inner.by_name.get(&request.name) {
            return Ok(handle.clone());
        }
        let handle = ReplicationHandle {
            engine: "fake".into(),
            id: format!(
                "arn:aws:dms:eu-west-1:123456789012:data-migration:{}",
                request.name
            ),
            name: request.name.clone(),
            resources: Vec::new(),
        };
        let status = ReplicationStatus {
            state: initial,
            status_text: format!("{initial:?}").to_uppercase(),
            cdc_latency_seconds: None,
            last_failure: None,
            positions: None,
        };
        inner.by_name.insert(
            request.name.clone(),
            (handle.clone(), status, request.clone()),
        );
        inner.mutations.push(format!(
            "ensure_cdc {} from {}",
            request.name,
            request.start.start_position()
        ));
        Ok(handle)
    }

    async fn start(&self, handle: &ReplicationHandle) -> PortResult<()> {
        self.failures.take("start")?;
        self.with(handle, |status, mutations| {
            status.state = ReplicationState::Starting;
            mutations.push(format!("start {}", handle.name));
        })
    }

    async fn status(&self, handle: &ReplicationHandle) -> PortResult<ReplicationStatus> {
        self.failures.take("status")?;
        let queued = lock(&self.inner)
            .queued
            .get_mut(&handle.name)
            .and_then(VecDeque::pop_front);
        match queued {
            Some(status) => self.with(handle, |_, _| status),
            None => self.with(handle, |status, _| status.clone()),
        }
    }

    async fn stop(&self, handle: &ReplicationHandle) -> PortResult<()> {
        self.failures.take("stop")?;
        self.with(handle, |status, mutations| {
            status.state = ReplicationState::Stopped;
            mutations.push(format!("stop {}", handle.name));
        })
    }

    async fn remove(&self, handle: &ReplicationHandle) -> PortResult<()> {
        self.failures.take("remove")?;
        let mut inner = lock(&self.inner);
        if inner.by_name.remove(&handle.name).is_some() {
            inner.mutations.push(format!("remove {}", handle.name));
        }
        Ok(())
    }
}

/// Metrics that report a fixed sample (or an error).
#[derive(Default)]
pub struct FakeLagMetrics {
    pub sample: Mutex<Option<LagSample>>,
    failures: Failures,
}

impl FakeLagMetrics {
    pub fn fail_next(&self, error: PortError) {
        self.failures.push("cdc_latency", error);
    }
}

#[async_trait]
impl LagMetrics for FakeLagMetrics {
    async fn cdc_latency(
        &self,
        _handle: &ReplicationHandle,
        _since: OffsetDateTime,
    ) -> PortResult<Option<LagSample>> {
        self.failures.take("cdc_latency")?;
        Ok(*lock(&self.sample))
    }
}
