//! The sandbox's memory between CLI invocations: one JSON file in its directory with the clusters
//! (and their server processes), instances, snapshots, instance events, parameter groups and fence
//! records. Written whole to a temporary file and renamed over the old one, so a reader never sees
//! half a registry.
//!
//! Several processes (two `run --local`, a fleet's children, `sandbox down`) share one registry.
//! Every change is read-modify-write under an exclusive `flock` of [`LOCK_FILE_NAME`]
//! ([`RegistryLock`]), on the registry as it is on disk then, so no process overwrites what
//! another wrote in between.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use aurora_core::ports::{FenceRecord, LockRecord, Tag};
use aurora_core::BinlogPosition;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{SandboxError, SandboxResult};
use crate::server::{Encryption, ServerSpec};

pub const FILE_NAME: &str = "sandbox.json";
/// Locked (`flock`, exclusive) around every read-modify-write of the registry.
pub const LOCK_FILE_NAME: &str = "sandbox.json.lock";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registry {
    /// The port every cluster listens on (each on its own loopback address).
    pub port: u16,
    pub next_server_id: u32,
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterRecord>,
    #[serde(default)]
    pub instances: BTreeMap<String, InstanceRecord>,
    #[serde(default)]
    pub snapshots: BTreeMap<String, SnapshotRecord>,
    /// Instance id → its events, oldest first.
    #[serde(default)]
    pub events: BTreeMap<String, Vec<EventRecord>>,
    #[serde(default)]
    pub parameter_groups: BTreeMap<String, ParameterGroupRecord>,
    /// RDS Proxies by name ([`crate::proxy`]).
    #[serde(default)]
    pub proxies: BTreeMap<String, ProxyRecord>,
    /// Custom endpoints by identifier ([`crate::rename`]).
    #[serde(default)]
    pub custom_endpoints: BTreeMap<String, aurora_core::ports::CustomEndpoint>,
    /// How long a cluster stays `renaming` before its new name answers ([`crate::rename`]).
    #[serde(default)]
    pub rename_delay_ms: u64,
    /// Cluster id → the fence in force.
    #[serde(default)]
    pub fences: BTreeMap<String, FenceRecord>,
    /// The sample schema's application user, if seeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_user: Option<Credentials>,
    /// The user targets replicate from sources as (`REPLICATION SLAVE`, `BINLOG MONITOR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_user: Option<Credentials>,
    /// An application user with `ALL PRIVILEGES`, which `read_only` does not stop (like an
    /// application connecting as Aurora's master user), created on request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged_app_user: Option<Credentials>,
    /// Cluster id → the cluster its native replication was configured from (`ensure_cdc`): a
    /// failback's replication runs into the old cluster, which was restored from nothing.
    #[serde(default)]
    pub replication_sources: BTreeMap<String, String>,
    /// Source cluster ARN → its migration lock (`SourceLock`).
    #[serde(default)]
    pub source_locks: BTreeMap<String, SourceLockEntry>,
}

/// A source's lock, and which process wrote it: the sandbox's stand-in for asking Step
/// Functions whether the holder's execution still runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceLockEntry {
    #[serde(flatten)]
    pub record: LockRecord,
    pub pid: u32,
}

/// An exclusive `flock` of the registry's lock file, held until dropped. It is taken on a file
/// of its own (never replaced, unlike the registry), so every process locks the same inode;
/// `flock` locks belong to the open file, so two handles in one process exclude each other too.
pub struct RegistryLock(std::fs::File);

impl RegistryLock {
    /// Waits for and takes the lock of the registry in `dir`.
    pub fn exclusive(dir: &Path) -> SandboxResult<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::io::AsRawFd;
        let path = dir.join(LOCK_FILE_NAME);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(SandboxError::io(format!("opening {}", path.display())))?;
        loop {
            // SAFETY: flock on a file descriptor this function owns; no memory is involved.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(Self(file));
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                return Err(SandboxError::io(format!("locking {}", path.display()))(
                    error,
                ));
            }
        }
    }
}

impl Drop for RegistryLock {
    fn drop(&mut self) {
        use std::os::unix::io::AsRawFd;
        // SAFETY: as above; closing the file would release the lock too.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

/// Lifecycle of a cluster as RDS names it.
pub mod status {
    pub const CREATING: &str = "creating";
    pub const AVAILABLE: &str = "available";
    pub const FAILED: &str = "failed";
    /// The server is not running (stopped, or killed).
    pub const STOPPED: &str = "stopped";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRecord {
    pub id: String,
    pub dir: PathBuf,
    pub host: Ipv4Addr,
    pub server_id: u32,
    /// What the sandbox did last: `creating` (restoring, encrypting), `available`, `failed`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub engine_version: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// True once the server runs with encryption and every tablespace is encrypted.
    pub storage_encrypted: bool,
    pub parameter_group: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The snapshot it was restored from, and that snapshot's binlog coordinates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog_start: Option<BinlogPosition>,
    /// The process running this cluster's background work, while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_pid: Option<u32>,
    /// The cluster's VPC security groups (empty: the application group every cluster starts
    /// in); see [`crate::network`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_group_ids: Vec<String>,
    /// `BackupRetentionPeriod`, days.
    #[serde(default)]
    pub backup_retention_days: i32,
    /// `PreferredBackupWindow`.
    #[serde(default)]
    pub backup_window: String,
    /// `PreferredMaintenanceWindow`.
    #[serde(default)]
    pub maintenance_window: String,
}

/// What RDS gives a cluster restored without them: one day of backups, and windows it picks.
pub const RDS_DEFAULT_BACKUP_RETENTION_DAYS: i32 = 1;
pub const RDS_PICKED_BACKUP_WINDOW: &str = "23:10-23:40";
pub const RDS_PICKED_MAINTENANCE_WINDOW: &str = "wed:07:40-wed:08:10";

impl ClusterRecord {
    /// The security groups in force.
    pub fn security_groups(&self) -> Vec<String> {
        if self.security_group_ids.is_empty() {
            vec![crate::network::APPLICATION_SECURITY_GROUP.to_string()]
        } else {
            self.security_group_ids.clone()
        }
    }

    pub fn server(&self, port: u16) -> ServerSpec {
        ServerSpec {
            dir: self.dir.clone(),
            host: self.host,
            port,
            server_id: self.server_id,
            encryption: self
                .key_file
                .clone()
                .map(|key_file| Encryption { key_file }),
            parameters: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRecord {
    pub id: String,
    pub cluster_id: String,
    pub class: String,
    pub writer: bool,
    pub promotion_tier: Option<i32>,
    pub parameter_group: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// `PreferredMaintenanceWindow`.
    #[serde(default)]
    pub maintenance_window: String,
    /// Being renamed: `renaming` under its old name until the rename is done.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub renaming: bool,
}

/// A sandbox RDS Proxy: a listener at its own loopback address, relaying each new connection
/// to the cluster its default target group tracks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyRecord {
    pub name: String,
    pub host: Ipv4Addr,
    /// The tracked cluster, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// When the tracked cluster was registered: its writer's target is `REGISTERING` for a
    /// while after.
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: OffsetDateTime,
    /// One more at each deregistration: relayed connections of an earlier generation are cut.
    #[serde(default)]
    pub generation: u64,
    /// How long a registered cluster's writer target stays `REGISTERING`.
    pub registration_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotRecord {
    pub id: String,
    pub cluster_id: String,
    pub dir: PathBuf,
    /// `creating` → `available`, or `failed`.
    pub status: String,
    pub percent_progress: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The source's binlog coordinates at the backup's consistent point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog: Option<BinlogPosition>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_pid: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParameterGroupRecord {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_from: Option<String>,
    pub description: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Values set for the next reboot (`pending-reboot`), which the servers do not run with.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub at_reboot: BTreeMap<String, String>,
    /// Values the servers of its clusters run with since their last (re)start; see
    /// [`crate::server::ServerSpec::parameters`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, String>,
}

impl Registry {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(FILE_NAME)
    }

    /// The registry in `dir`, or `None` if there is none yet.
    pub fn load(dir: &Path) -> SandboxResult<Option<Self>> {
        let path = Self::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SandboxError::io(format!("reading {}", path.display()))(e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| SandboxError::Registry {
                path,
                message: e.to_string(),
            })
    }

    /// Changes the registry in `dir` as one step against every other writer: under the
    /// registry's file lock, `registry` is refreshed from disk, changed by `f` and saved.
    pub fn update_in<T>(
        dir: &Path,
        registry: &mut Registry,
        f: impl FnOnce(&mut Registry) -> T,
    ) -> SandboxResult<T> {
        let _locked = RegistryLock::exclusive(dir)?;
        if let Some(latest) = Self::load(dir)? {
            *registry = latest;
        }
        let out = f(registry);
        registry.save(dir)?;
        Ok(out)
    }

    /// Replaces the file atomically: a temporary file in the same directory, then a rename.
    pub fn save(&self, dir: &Path) -> SandboxResult<()> {
        let path = Self::path(dir);
        let text = serde_json::to_vec_pretty(self).map_err(|e| SandboxError::Registry {
            path: path.clone(),
            message: e.to_string(),
        })?;
        replace_file(&path, &text)
    }
}

/// Writes `contents` to a temporary sibling of `path`, syncs it, and renames it over `path`.
pub(crate) fn replace_file(path: &Path, contents: &[u8]) -> SandboxResult<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{file_name}.{}.{n}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        SandboxError::io(format!("replacing {}", path.display()))(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GIVEN writers that each hold their own copy of the registry (as separate processes do);
    /// WHEN they all change it at once;
    /// THEN every change is in the file: none overwrote another's.
    #[test]
    fn concurrent_updates_from_separate_copies_are_all_kept() {
        let dir = std::env::temp_dir().join(format!(
            "aurora-registry-concurrency-{}-{}",
            std::process::id(),
            OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Registry::default().save(&dir).unwrap();
        const WRITERS: usize = 8;
        const UPDATES: usize = 40;
        let threads: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    let mut mine = Registry::load(&dir).unwrap().unwrap();
                    for update in 0..UPDATES {
                        Registry::update_in(&dir, &mut mine, |r| {
                            r.events.insert(format!("{writer}-{update}"), Vec::new());
                            r.next_server_id += 1;
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let registry = Registry::load(&dir).unwrap().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(registry.events.len(), WRITERS * UPDATES);
        assert_eq!(registry.next_server_id as usize, WRITERS * UPDATES);
    }
}
