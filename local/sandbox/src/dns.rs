//! `Dns` over zone files: one JSON file per zone in `<sandbox>/dns/<zone>.json`, each record a
//! name, a type, a value and a TTL. Every change rewrites the file to a temporary name and renames
//! it over the old one, so a client reading the zone sees the old record or the new one, never a
//! mix.
//!
//! A change made through the Route 53 API (`upsert_cname`) propagates as Route 53's does: it is
//! `PENDING` for the zone's propagation time ([`SandboxDns::set_propagation`]; Route 53 is
//! "designed to propagate updates … within 60 seconds under normal conditions", [`AWS_PROPAGATION`])
//! and then `INSYNC`. Until then the name is served with its previous value (the worst a client
//! can meet on AWS: a name server the change has not reached yet), while `resolve`, like
//! ListResourceRecordSets, already shows the new one. Records the sandbox publishes for RDS itself
//! (cluster and proxy endpoints, [`SandboxDns::publish`]) are served at once.
//!
//! Cluster endpoints are loopback addresses that all listen on the sandbox's port, so a record's
//! value is a host like an Aurora endpoint and clients connect to it at that port.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use aurora_core::errors::{PortError, Resource};
use aurora_core::ports::{ChangeStatus, DnsChange, DnsRecord, PortResult};
use serde::{Deserialize, Serialize};

use crate::registry::replace_file;

/// How many change ids a zone remembers for `change_status`.
const CHANGES_KEPT: usize = 100;

/// How long Route 53 takes, under normal conditions, to propagate a change to all its name
/// servers (Route 53 FAQ: "within 60 seconds"); the demo scales it by its time scale.
pub const AWS_PROPAGATION: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Zone {
    records: Vec<ZoneRecord>,
    /// Recent change ids, newest last.
    #[serde(default)]
    changes: Vec<String>,
    /// How long an API change stays `PENDING` (0: in sync at once).
    #[serde(default)]
    propagation_ms: u64,
    /// API changes not yet in sync, oldest first.
    #[serde(default)]
    pending: Vec<PendingChange>,
}

/// A change still propagating: until `in_sync_at_ms` the name is served as `previous`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PendingChange {
    id: String,
    name: String,
    previous: Option<ZoneRecord>,
    /// Unix time in milliseconds.
    in_sync_at_ms: i64,
}

impl Zone {
    /// The record served for `name` now: the value before the oldest change still propagating.
    fn served(&self, name: &str, now_ms: i64) -> Option<&ZoneRecord> {
        match self
            .pending
            .iter()
            .find(|p| p.in_sync_at_ms > now_ms && same_name(&p.name, name))
        {
            Some(pending) => pending.previous.as_ref(),
            None => self.records.iter().find(|r| same_name(&r.name, name)),
        }
    }
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub record_type: String,
    pub value: String,
    pub ttl: i64,
}

/// Where a name leads: the host at the end of its CNAME chain and the smallest TTL on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub host: String,
    pub ttl_seconds: i64,
}

/// The sandbox's DNS: zone files in one directory.
pub struct SandboxDns {
    dir: PathBuf,
    /// Serialises this process's read-modify-write cycles.
    lock: Mutex<()>,
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

impl SandboxDns {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            lock: Mutex::new(()),
        }
    }

    pub fn zone_file(&self, zone_id: &str) -> PortResult<PathBuf> {
        let valid = !zone_id.is_empty()
            && zone_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !zone_id.starts_with('.');
        if !valid {
            return Err(PortError::InvalidRequest(format!(
                "zone id `{zone_id}` is not a plain name"
            )));
        }
        Ok(self.dir.join(format!("{zone_id}.json")))
    }

    /// Creates the zone (empty) if it does not exist.
    pub fn create_zone(&self, zone_id: &str) -> PortResult<()> {
        let path = self.zone_file(zone_id)?;
        if path.exists() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| PortError::Other(e.to_string()))?;
        write_zone(&path, &Zone::default())
    }

    /// How long a change made through the API stays `PENDING` in `zone_id` from now on.
    pub fn set_propagation(&self, zone_id: &str, delay: std::time::Duration) -> PortResult<()> {
        let path = self.zone_file(zone_id)?;
        let _guard = self.guard();
        let mut zone = read_zone(&path)?;
        zone.propagation_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        write_zone(&path, &zone)
    }

    /// Follows CNAMEs from `name` to a host (at most 8 hops), as a client does before
    /// connecting, through what the name servers serve now (a change still propagating is not
    /// seen); `None` if the name does not exist.
    pub fn lookup(&self, zone_id: &str, name: &str) -> PortResult<Option<Resolved>> {
        let zone = read_zone(&self.zone_file(zone_id)?)?;
        let now = now_ms();
        let mut current = name.to_string();
        let mut ttl = i64::MAX;
        for _ in 0..8 {
            let Some(record) = zone.served(&current, now) else {
                let found = current != name;
                return Ok(found.then_some(Resolved {
                    host: current,
                    ttl_seconds: ttl,
                }));
            };
            ttl = ttl.min(record.ttl);
            if record.record_type != "CNAME" {
                return Ok(Some(Resolved {
                    host: record.value.clone(),
                    ttl_seconds: ttl,
                }));
            }
            current = record.value.clone();
        }
        Err(PortError::Other(format!("CNAME loop at `{name}`")))
    }

    pub fn records(&self, zone_id: &str) -> PortResult<Vec<ZoneRecord>> {
        Ok(read_zone(&self.zone_file(zone_id)?)?.records)
    }

    /// Points `name` at `value` at once: a record RDS itself keeps (a cluster's or a proxy's
    /// endpoint), not a change made through the Route 53 API.
    pub fn publish(
        &self,
        zone_id: &str,
        name: &str,
        value: &str,
        ttl_seconds: i64,
    ) -> PortResult<()> {
        self.write_cname(zone_id, name, value, ttl_seconds, false)
            .map(|_| ())
    }

    /// UPSERTs a CNAME and records the change; with `propagate`, the change is pending for the
    /// zone's propagation time. Returns the change.
    fn write_cname(
        &self,
        zone_id: &str,
        name: &str,
        value: &str,
        ttl_seconds: i64,
        propagate: bool,
    ) -> PortResult<DnsChange> {
        // ResourceRecordSet.TTL is 0-2147483647 (Route 53 API reference).
        if !(0..=i64::from(i32::MAX)).contains(&ttl_seconds) {
            return Err(PortError::InvalidRequest(format!(
                "TTL {ttl_seconds} is outside 0-2147483647"
            )));
        }
        aurora_core::naming::check_dns_name(name).map_err(PortError::InvalidRequest)?;
        let path = self.zone_file(zone_id)?;
        let _guard = self.guard();
        let mut zone = read_zone(&path)?;
        let now = now_ms();
        let previous = zone.served(name, now).cloned();
        let record = ZoneRecord {
            name: name.trim_end_matches('.').to_string(),
            record_type: "CNAME".into(),
            value: value.to_string(),
            ttl: ttl_seconds,
        };
        match zone.records.iter_mut().find(|r| same_name(&r.name, name)) {
            Some(existing) => *existing = record,
            None => zone.records.push(record),
        }
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        let id = format!("sandbox-{zone_id}-{nanos:x}-{}", zone.changes.len());
        zone.changes.push(id.clone());
        let excess = zone.changes.len().saturating_sub(CHANGES_KEPT);
        zone.changes.drain(..excess);
        zone.pending.retain(|p| p.in_sync_at_ms > now);
        let delay = i64::try_from(zone.propagation_ms).unwrap_or(i64::MAX);
        let status = if propagate && delay > 0 {
            zone.pending.push(PendingChange {
                id: id.clone(),
                name: name.trim_end_matches('.').to_string(),
                previous,
                in_sync_at_ms: now.saturating_add(delay),
            });
            ChangeStatus::Pending
        } else {
            ChangeStatus::Insync
        };
        write_zone(&path, &zone)?;
        Ok(DnsChange { id, status })
    }

    /// Removes the record `name`, if any (the name of a cluster renamed away).
    pub fn delete_record(&self, zone_id: &str, name: &str) -> PortResult<()> {
        let path = self.zone_file(zone_id)?;
        let _guard = self.guard();
        let mut zone = read_zone(&path)?;
        let before = zone.records.len();
        zone.records.retain(|r| !same_name(&r.name, name));
        if zone.records.len() != before {
            write_zone(&path, &zone)?;
        }
        Ok(())
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn read_zone(path: &Path) -> PortResult<Zone> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            PortError::NotFound {
                resource: Resource::HostedZone,
                message: path.display().to_string(),
            }
        } else {
            PortError::Transient(format!("reading {}: {e}", path.display()))
        }
    })?;
    serde_json::from_str(&text)
        .map_err(|e| PortError::Other(format!("zone file {}: {e}", path.display())))
}

fn write_zone(path: &Path, zone: &Zone) -> PortResult<()> {
    let text = serde_json::to_vec_pretty(zone).map_err(|e| PortError::Other(e.to_string()))?;
    replace_file(path, &text).map_err(|e| PortError::Transient(e.to_string()))
}

#[async_trait]
impl aurora_core::ports::Dns for SandboxDns {
    async fn resolve(&self, zone_id: &str, name: &str) -> PortResult<Option<DnsRecord>> {
        let zone = read_zone(&self.zone_file(zone_id)?)?;
        Ok(zone
            .records
            .iter()
            .find(|r| same_name(&r.name, name))
            .map(|r| DnsRecord {
                name: r.name.clone(),
                record_type: r.record_type.clone(),
                value: Some(r.value.clone()),
                ttl: Some(r.ttl),
            }))
    }

    async fn upsert_cname(
        &self,
        zone_id: &str,
        name: &str,
        value: &str,
        ttl_seconds: i64,
    ) -> PortResult<DnsChange> {
        self.write_cname(zone_id, name, value, ttl_seconds, true)
    }

    async fn change_status(&self, change_id: &str) -> PortResult<ChangeStatus> {
        let not_found = || PortError::NotFound {
            resource: Resource::DnsChange,
            message: change_id.to_string(),
        };
        let zone_id = change_id
            .strip_prefix("sandbox-")
            .and_then(|rest| rest.rsplitn(3, '-').nth(2))
            .ok_or_else(not_found)?;
        let zone = read_zone(&self.zone_file(zone_id)?)?;
        let now = now_ms();
        if zone
            .pending
            .iter()
            .any(|p| p.id == change_id && p.in_sync_at_ms > now)
        {
            Ok(ChangeStatus::Pending)
        } else if zone.changes.iter().any(|c| c == change_id) {
            Ok(ChangeStatus::Insync)
        } else {
            Err(not_found())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_core::ports::Dns;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn zone_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("aurora-dns-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[tokio::test]
    async fn upsert_is_in_sync_at_once_and_resolves_through_the_cname() {
        let dir = zone_dir("upsert");
        let dns = SandboxDns::new(&dir);
        assert!(matches!(
            dns.resolve("sandbox", "db.test").await,
            Err(PortError::NotFound {
                resource: Resource::HostedZone,
                ..
            })
        ));
        dns.create_zone("sandbox").unwrap();
        assert_eq!(dns.resolve("sandbox", "db.test").await.unwrap(), None);
        let change = dns
            .upsert_cname("sandbox", "db.test.", "127.100.0.1", 5)
            .await
            .unwrap();
        assert_eq!(change.status, ChangeStatus::Insync);
        assert_eq!(
            dns.change_status(&change.id).await.unwrap(),
            ChangeStatus::Insync
        );
        let record = dns.resolve("sandbox", "DB.test").await.unwrap().unwrap();
        assert_eq!(record.record_type, "CNAME");
        assert_eq!(record.value.as_deref(), Some("127.100.0.1"));
        assert_eq!(record.ttl, Some(5));
        assert_eq!(
            dns.lookup("sandbox", "db.test").unwrap(),
            Some(Resolved {
                host: "127.100.0.1".into(),
                ttl_seconds: 5
            })
        );
        dns.upsert_cname("sandbox", "db.test", "127.100.0.2", 1)
            .await
            .unwrap();
        assert_eq!(dns.records("sandbox").unwrap().len(), 1, "upsert replaces");
        assert_eq!(
            dns.lookup("sandbox", "db.test").unwrap().unwrap().host,
            "127.100.0.2"
        );
        assert!(dns.change_status("sandbox-sandbox-ff-0").await.is_err());
        assert!(matches!(
            dns.upsert_cname("sandbox", "db.test", "x", -1).await,
            Err(PortError::InvalidRequest(_))
        ));
        assert!(matches!(
            dns.upsert_cname("../etc", "db.test", "x", 1).await,
            Err(PortError::InvalidRequest(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_change_is_pending_and_served_with_the_old_value_until_it_has_propagated() {
        let dir = zone_dir("propagation");
        let dns = SandboxDns::new(&dir);
        dns.create_zone("sandbox").unwrap();
        dns.upsert_cname("sandbox", "db.test", "127.100.0.1", 5)
            .await
            .unwrap();
        dns.set_propagation("sandbox", std::time::Duration::from_millis(400))
            .unwrap();
        let change = dns
            .upsert_cname("sandbox", "db.test", "127.100.0.2", 1)
            .await
            .unwrap();
        assert_eq!(change.status, ChangeStatus::Pending);
        assert_eq!(
            dns.change_status(&change.id).await.unwrap(),
            ChangeStatus::Pending
        );
        let served = dns.lookup("sandbox", "db.test").unwrap().unwrap();
        assert_eq!(
            (served.host.as_str(), served.ttl_seconds),
            ("127.100.0.1", 5),
            "the name servers still serve the old record, with its TTL"
        );
        let listed = dns.resolve("sandbox", "db.test").await.unwrap().unwrap();
        assert_eq!(
            listed.value.as_deref(),
            Some("127.100.0.2"),
            "the API lists the new one at once"
        );
        // A second change while the first propagates: served as before both until the first is in sync.
        let second = dns
            .upsert_cname("sandbox", "db.test", "127.100.0.3", 1)
            .await
            .unwrap();
        assert_eq!(
            dns.lookup("sandbox", "db.test").unwrap().unwrap().host,
            "127.100.0.1"
        );
        // RDS's own records do not wait.
        dns.publish("sandbox", "orders.cluster.test", "127.100.0.9", 5)
            .unwrap();
        assert_eq!(
            dns.lookup("sandbox", "orders.cluster.test")
                .unwrap()
                .unwrap()
                .host,
            "127.100.0.9"
        );
        tokio::time::sleep(std::time::Duration::from_millis(900)).await;
        assert_eq!(
            dns.change_status(&change.id).await.unwrap(),
            ChangeStatus::Insync
        );
        assert_eq!(
            dns.change_status(&second.id).await.unwrap(),
            ChangeStatus::Insync
        );
        assert_eq!(
            dns.lookup("sandbox", "db.test").unwrap().unwrap().host,
            "127.100.0.3"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn readers_see_the_old_or_the_new_record_never_a_torn_file() {
        let dir = zone_dir("atomic");
        let dns = SandboxDns::new(&dir);
        dns.create_zone("sandbox").unwrap();
        dns.upsert_cname("sandbox", "db.test", "127.100.0.1", 1)
            .await
            .unwrap();
        let path = dns.zone_file("sandbox").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let text = std::fs::read_to_string(&path).expect("the zone file always exists");
                    let zone: Zone = serde_json::from_str(&text).expect("never a torn file");
                    let value = &zone.records[0].value;
                    assert!(value == "127.100.0.1" || value == "127.100.0.2", "{value}");
                    reads += 1;
                }
                reads
            })
        };
        for i in 0..300 {
            let value = if i % 2 == 0 {
                "127.100.0.2"
            } else {
                "127.100.0.1"
            };
            dns.upsert_cname("sandbox", "db.test", value, 1)
                .await
                .unwrap();
        }
        stop.store(true, Ordering::SeqCst);
        let reads = reader.join().unwrap();
        assert!(reads > 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
