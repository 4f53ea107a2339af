//! `WriteFence`: stops application writes on the source for the switchover, and puts back exactly
//! what was there afterwards.
//!
//! The step decides; the adapter applies. A fence record is saved with the cluster (AWS: a tag;
//! sandbox: a file) *before* anything changes, so a retried fence finds the original values
//! instead of recording the fenced state as "original".

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::PortResult;
use crate::spec::FenceMethod;

/// What the cluster looks like now, as far as fencing is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceState {
    pub security_group_ids: Vec<String>,
    /// The cluster parameter group `read_only` lives in (AWS); `None` where it is a server
    /// variable (sandbox).
    pub parameter_group: Option<String>,
    /// `read_only` as set; `None` means the engine default.
    pub read_only: Option<String>,
}

/// What a fence changed, so that lifting it restores exactly what was there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FenceRecord {
    pub cluster_id: String,
    pub methods: Vec<FenceMethod>,
    /// The security groups before the fence (`security-group` method).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_security_group_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fence_security_group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_group: Option<String>,
    /// `read_only` before the fence (`read-only` method); `None` means the engine default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_read_only: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub fenced_at: OffsetDateTime,
}

#[async_trait]
pub trait WriteFence: Send + Sync {
    async fn current(&self, cluster_id: &str) -> PortResult<FenceState>;
    /// The record an earlier `apply` saved with the cluster, if any.
    async fn saved_record(&self, cluster_id: &str) -> PortResult<Option<FenceRecord>>;
    /// Saves `record` with the cluster, then applies its methods: moves the cluster onto the
    /// fence security group and/or sets `read_only=1`, and ends application sessions where the
    /// engine allows. Idempotent.
    async fn apply(&self, record: &FenceRecord) -> PortResult<()>;
    /// Restores what `record` says was there, then forgets the saved record. Idempotent.
    async fn lift(&self, record: &FenceRecord) -> PortResult<()>;
}
