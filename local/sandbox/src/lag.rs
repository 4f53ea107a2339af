//! `LagMetrics` of the sandbox: there is no metrics service, so there is never a second
//! opinion; poll-latency then relies on the native replication's own positions and lag.

use async_trait::async_trait;
use aurora_core::ports::{LagMetrics, LagSample, PortResult, ReplicationHandle};
use time::OffsetDateTime;

#[derive(Clone, Debug, Default)]
pub struct NoLagMetrics;

#[async_trait]
impl LagMetrics for NoLagMetrics {
    async fn cdc_latency(
        &self,
        _handle: &ReplicationHandle,
        _since: OffsetDateTime,
    ) -> PortResult<Option<LagSample>> {
        Ok(None)
    }
}
