//! `Dns`: the application's record, and the changes that swap it.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PortResult;

/// A DNS record as the zone holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    pub name: String,
    /// `CNAME`, `A`, …
    pub record_type: String,
    /// The CNAME target (or first value); `None` for alias records.
    pub value: Option<String>,
    pub ttl: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeStatus {
    Pending,
    Insync,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsChange {
    pub id: String,
    pub status: ChangeStatus,
}

#[async_trait]
pub trait Dns: Send + Sync {
    /// The record with exactly this name (any type), or `None`.
    async fn resolve(&self, zone_id: &str, name: &str) -> PortResult<Option<DnsRecord>>;
    async fn upsert_cname(
        &self,
        zone_id: &str,
        name: &str,
        value: &str,
        ttl_seconds: i64,
    ) -> PortResult<DnsChange>;
    async fn change_status(&self, change_id: &str) -> PortResult<ChangeStatus>;
}
