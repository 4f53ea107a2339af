//! The fence's SQL half: session fences, markers and the users `read_only` does not stop.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{lock, Failures};
use crate::binlog::BinlogPosition;
use crate::errors::PortError;
use crate::ports::{
    FenceConfirmation, FenceMarker, FenceSql, PortResult, ReadOnlyBypassUser, SessionFenceOutcome,
    SessionFenceRequest,
};

/// The fence's SQL half in memory: every fence is confirmed (unless refused) and its marker
/// written on the source; a marker reaches a target only when the test delivers it.
#[derive(Default)]
pub struct FakeFenceSql {
    inner: Mutex<FenceSqlState>,
    failures: Failures,
}

#[derive(Default)]
struct FenceSqlState {
    /// Markers per cluster (the source's written, the target's delivered).
    markers: BTreeMap<String, Vec<FenceMarker>>,
    requests: Vec<SessionFenceRequest>,
    refusal: Option<String>,
    position: u64,
    bypass: BTreeMap<String, Vec<ReadOnlyBypassUser>>,
    removed: Vec<String>,
    /// Clusters prepared ahead of a fence, in order.
    prepared: Vec<String>,
    /// Targets whose replication stalls once a fence is confirmed.
    stall_when_fenced: Vec<String>,
    /// target → source: markers written on the source are visible on the target.
    links: BTreeMap<String, String>,
}

impl FakeFenceSql {
    /// Confirmation will fail with `reason` until [`FakeFenceSql::confirm_again`].
    pub fn refuse_confirmation(&self, reason: &str) {
        lock(&self.inner).refusal = Some(reason.into());
    }
    pub fn confirm_again(&self) {
        lock(&self.inner).refusal = None;
    }
    pub fn requests(&self) -> Vec<SessionFenceRequest> {
        lock(&self.inner).requests.clone()
    }
    /// The clusters [`FenceSql::prepare`] was called for, in order.
    pub fn prepared(&self) -> Vec<String> {
        lock(&self.inner).prepared.clone()
    }
    pub fn markers(&self, cluster: &str) -> Vec<FenceMarker> {
        lock(&self.inner)
            .markers
            .get(cluster)
            .cloned()
            .unwrap_or_default()
    }
    /// From now on every marker written on `source` is visible on `target`, as a running
    /// replication would make it.
    pub fn replicate(&self, source: &str, target: &str) {
        lock(&self.inner).links.insert(target.into(), source.into());
    }
    /// Markers written on the source no longer reach `target` (a replication that stalled).
    pub fn stop_replicating(&self, target: &str) {
        lock(&self.inner).links.remove(target);
    }
    /// The replication to `target` stalls the moment a fence is confirmed: markers written
    /// before it (the catch-up) arrive, the fence's own never does.
    pub fn stall_when_fenced(&self, target: &str) {
        lock(&self.inner).stall_when_fenced.push(target.into());
    }
    /// The replication applies `marker` on `cluster`.
    pub fn deliver(&self, cluster: &str, marker: &FenceMarker) {
        lock(&self.inner)
            .markers
            .entry(cluster.into())
            .or_default()
            .push(marker.clone());
    }
    pub fn set_bypass_users(&self, cluster: &str, users: Vec<ReadOnlyBypassUser>) {
        lock(&self.inner).bypass.insert(cluster.into(), users);
    }
    /// Clusters whose marker schema was removed, in order.
    pub fn removed(&self) -> Vec<String> {
        lock(&self.inner).removed.clone()
    }
    pub fn fail_next(&self, method: &'static str, error: PortError) {
        self.failures.push(method, error);
    }
}

/// Writes the next marker of `execution` on `cluster`.
fn next_marker(inner: &mut FenceSqlState, cluster: &str, execution: &str) -> FenceMarker {
    let markers = inner.markers.entry(cluster.to_string()).or_default();
    let sequence = markers
        .iter()
        .filter(|m| m.execution == execution)
        .map(|m| m.sequence)
        .max()
        .unwrap_or(0)
        + 1;
    let marker = FenceMarker {
        execution: execution.to_string(),
        sequence,
    };
    markers.push(marker.clone());
    marker
}

#[async_trait]
impl FenceSql for FakeFenceSql {
    async fn prepare(&self, cluster_id: &str) -> PortResult<()> {
        self.failures.take("prepare")?;
        lock(&self.inner).prepared.push(cluster_id.to_string());
        Ok(())
    }

    async fn write_marker(&self, cluster_id: &str, execution: &str) -> PortResult<FenceMarker> {
        self.failures.take("write_marker")?;
        Ok(next_marker(&mut lock(&self.inner), cluster_id, execution))
    }

    async fn end_sessions_and_confirm(
        &self,
        request: &SessionFenceRequest,
    ) -> PortResult<SessionFenceOutcome> {
        self.failures.take("end_sessions_and_confirm")?;
        let mut inner = lock(&self.inner);
        inner.requests.push(request.clone());
        if let Some(reason) = inner.refusal.clone() {
            return Ok(SessionFenceOutcome::NotConfirmed { reason, rounds: 3 });
        }
        for target in std::mem::take(&mut inner.stall_when_fenced) {
            inner.links.remove(&target);
        }
        let marker = next_marker(&mut inner, &request.cluster_id, &request.execution);
        inner.position += 1000;
        Ok(SessionFenceOutcome::Confirmed(FenceConfirmation {
            position: crate::binlog::BinlogPosition::new(
                "mysql-bin-changelog.000009",
                inner.position,
            ),
            marker,
            sessions_ended: 2,
            rounds: 1,
            read_only: request.read_only,
            ordinary_write_refused: request.read_only.then_some(true),
            confirm_ms: 40,
        }))
    }

    async fn binlog_position(&self, cluster_id: &str) -> PortResult<BinlogPosition> {
        self.failures.take("binlog_position")?;
        let mut inner = lock(&self.inner);
        inner.position += 1;
        Ok(BinlogPosition::new(
            format!("{cluster_id}-bin.000001"),
            inner.position * 100,
        ))
    }

    async fn marker_arrived(&self, cluster_id: &str, marker: &FenceMarker) -> PortResult<bool> {
        self.failures.take("marker_arrived")?;
        let source = lock(&self.inner).links.get(cluster_id).cloned();
        Ok(self.markers(cluster_id).contains(marker)
            || source.is_some_and(|s| self.markers(&s).contains(marker)))
    }

    async fn remove_marker_schema(&self, cluster_id: &str) -> PortResult<()> {
        self.failures.take("remove_marker_schema")?;
        let mut inner = lock(&self.inner);
        inner.markers.remove(cluster_id);
        inner.removed.push(cluster_id.into());
        Ok(())
    }

    async fn read_only_bypass_users(
        &self,
        cluster_id: &str,
    ) -> PortResult<Vec<ReadOnlyBypassUser>> {
        self.failures.take("read_only_bypass_users")?;
        Ok(lock(&self.inner)
            .bypass
            .get(cluster_id)
            .cloned()
            .unwrap_or_default())
    }
}
