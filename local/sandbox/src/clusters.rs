//! `Clusters` over the sandbox: a cluster is one `mariadbd`; a snapshot is `mariadb-backup
//! --backup` then `--prepare` into the sandbox; a restore copies the prepared backup back into a
//! new data directory and starts it with encryption at rest, keyed by a key file per KMS key id.
//!
//! Snapshots and restores run in the background and their statuses follow the real work:
//! `creating` until the backup is prepared (`available`), or until the restored server runs with
//! every tablespace encrypted and flushed (`available`); `failed` on error, including when the
//! process doing the work died.
//!
//! Tablespaces copied back from an unencrypted backup stay unencrypted until rewritten: with
//! `innodb_encrypt_tables=ON` and `innodb_encryption_threads > 0` the server encrypts them in
//! the background, and the restore waits until `INNODB_TABLESPACES_ENCRYPTION` shows every
//! tablespace encrypted and no rotation or flush running, then flushes dirty pages, before
//! reporting the cluster available and `storage_encrypted`. Pages the tablespaces do not use are
//! never rewritten that way, so the restore zeroes them before the server first starts
//! ([`crate::scrub`]).
//!
//! Instances: the first instance created on a restored cluster is its writer (the restored
//! server); the restore records on it the event `Binlog position from crash recovery is <file>
//! <pos>` read from the backup's binlog info file, as RDS does. Further instances (readers) are
//! recorded as members without servers of their own.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use aurora_core::binlog::EVENT_PREFIX;
use aurora_core::errors::{PortError, Resource};
use aurora_core::naming::{self, NameKind, TagRules};
use aurora_core::ports::{
    Cluster, ClusterExtras, ClusterMember, ClusterSnapshot, ClusterWindows, Clusters,
    CopyParameterGroupRequest, CreateInstanceRequest, CreateSnapshotRequest, CustomEndpoint,
    Instance, InstanceEvent, InstanceExtras, PortResult, RestoreClusterRequest,
};
use aurora_core::BinlogPosition;
use mysql_async::prelude::Queryable;
use time::OffsetDateTime;

use crate::error::{SandboxError, SandboxResult};
use crate::registry::{
    status, ClusterRecord, EventRecord, InstanceRecord, ParameterGroupRecord, Registry,
    SnapshotRecord, RDS_PICKED_MAINTENANCE_WINDOW,
};
use crate::sandbox::{Sandbox, ENGINE, INSTANCE_CLASS};
use crate::server;
use crate::tools;

/// The binlog coordinates file mariadb-backup writes (10.x: `xtrabackup_binlog_info`; 11.x:
/// `mariadb_backup_binlog_info`).
pub const BINLOG_INFO_FILES: &[&str] = &["mariadb_backup_binlog_info", "xtrabackup_binlog_info"];
/// How long the encryption threads may leave a tablespace unencrypted before they are nudged.
const ENCRYPTION_NUDGE_INTERVAL: Duration = Duration::from_secs(3);
/// How long a restored server may take to encrypt every tablespace.
pub const ENCRYPTION_TIMEOUT: Duration = Duration::from_secs(600);
/// The key id a restore without one uses (the account's `aws/rds` key on AWS).
pub const DEFAULT_KMS_KEY: &str = "alias/aws/rds";

const ARN_PREFIX: &str = "arn:aws:rds:sandbox:000000000000";

/// The `Clusters` port over a [`Sandbox`].
#[derive(Clone)]
pub struct SandboxClusters {
    sandbox: Sandbox,
}

impl SandboxClusters {
    pub fn new(sandbox: Sandbox) -> Self {
        Self { sandbox }
    }

    fn cluster_status(&self, record: &ClusterRecord) -> String {
        let mut status = worker_checked(&record.status, record.worker_pid);
        if status == status::AVAILABLE && !record.pid.is_some_and(server::process_alive) {
            status = status::STOPPED.into();
        }
        status
    }

    fn to_cluster(&self, registry: &Registry, record: &ClusterRecord) -> Cluster {
        let mut members: Vec<&InstanceRecord> = registry
            .instances
            .values()
            .filter(|i| i.cluster_id == record.id)
            .collect();
        members.sort_by_key(|i| (!i.writer, i.id.clone()));
        Cluster {
            id: record.id.clone(),
            arn: format!("{ARN_PREFIX}:cluster:{}", record.id),
            status: self.cluster_status(record),
            engine: ENGINE.into(),
            engine_version: record.engine_version.clone(),
            storage_encrypted: record.storage_encrypted,
            kms_key_id: record.kms_key_id.clone(),
            port: Some(i32::from(registry.port)),
            cluster_parameter_group: record.parameter_group.clone(),
            tags: record.tags.clone(),
            endpoint: Some(record.host.to_string()),
            reader_endpoint: Some(record.host.to_string()),
            vpc_security_group_ids: record.security_groups(),
            extras: ClusterExtras {
                backup_retention_days: Some(record.backup_retention_days),
                backup_window: Some(record.backup_window.clone()),
                maintenance_window: Some(record.maintenance_window.clone()),
                ..ClusterExtras::default()
            },
            created_at: Some(record.created_at),
            members: members
                .into_iter()
                .map(|i| ClusterMember {
                    instance_id: i.id.clone(),
                    is_writer: i.writer,
                    promotion_tier: i.promotion_tier,
                })
                .collect(),
            ..Cluster::default()
        }
    }

    fn to_snapshot(record: &SnapshotRecord) -> ClusterSnapshot {
        let status = worker_checked(&record.status, record.worker_pid);
        ClusterSnapshot {
            id: record.id.clone(),
            arn: format!("{ARN_PREFIX}:cluster-snapshot:{}", record.id),
            cluster_id: record.cluster_id.clone(),
            percent_progress: if status == status::AVAILABLE {
                100
            } else {
                record.percent_progress
            },
            status,
            created_at: Some(record.created_at),
        }
    }
}

/// `creating` whose worker process is gone will never finish: it failed.
fn worker_checked(recorded: &str, worker: Option<u32>) -> String {
    match worker {
        Some(pid)
            if recorded == status::CREATING
                && pid != std::process::id()
                && !server::process_alive(pid) =>
        {
            status::FAILED.into()
        }
        _ => recorded.to_string(),
    }
}

fn not_found(resource: Resource, id: &str) -> PortError {
    PortError::NotFound {
        resource,
        message: id.to_string(),
    }
}

fn exists(resource: Resource, id: &str) -> PortError {
    PortError::AlreadyExists {
        resource,
        message: id.to_string(),
    }
}

#[async_trait]
impl Clusters for SandboxClusters {
    async fn describe_cluster(&self, cluster_id: &str) -> PortResult<Option<Cluster>> {
        Ok(self.sandbox.registry(|r| {
            r.clusters
                .get(cluster_id)
                .map(|record| self.to_cluster(r, record))
        }))
    }

    async fn describe_instance(&self, instance_id: &str) -> PortResult<Option<Instance>> {
        let found = self.sandbox.registry(|r| {
            r.instances.get(instance_id).cloned().map(|instance| {
                let cluster = r.clusters.get(&instance.cluster_id).cloned();
                (instance, cluster)
            })
        });
        Ok(found.map(|(instance, cluster)| Instance {
            status: match &cluster {
                _ if instance.renaming => "renaming".into(),
                Some(c) => self.cluster_status(c),
                None => status::FAILED.into(),
            },
            storage_encrypted: cluster.as_ref().is_some_and(|c| c.storage_encrypted),
            // One server per cluster: every instance endpoint leads to it.
            endpoint: cluster.as_ref().map(|c| c.host.to_string()),
            id: instance.id,
            cluster_id: Some(instance.cluster_id),
            class: instance.class,
            engine: ENGINE.into(),
            promotion_tier: instance.promotion_tier,
            parameter_group: instance.parameter_group,
            availability_zone: Some("sandbox-a".into()),
            publicly_accessible: false,
            extras: InstanceExtras {
                maintenance_window: Some(instance.maintenance_window),
                ..InstanceExtras::default()
            },
        }))
    }

    async fn describe_cluster_snapshot(
        &self,
        snapshot_id: &str,
    ) -> PortResult<Option<ClusterSnapshot>> {
        Ok(self
            .sandbox
            .registry(|r| r.snapshots.get(snapshot_id).map(Self::to_snapshot)))
    }

    async fn create_cluster_snapshot(
        &self,
        request: &CreateSnapshotRequest,
    ) -> PortResult<ClusterSnapshot> {
        let id = request.snapshot_id.clone();
        let cluster_id = request.cluster_id.clone();
        rds_name(NameKind::DbClusterSnapshot, &id)?;
        rds_tags(&request.tags)?;
        if self.sandbox.cluster_record(&cluster_id).is_none() {
            return Err(not_found(Resource::Cluster, &cluster_id));
        }
        if !self.sandbox.is_running(&cluster_id) {
            return Err(PortError::InvalidState(format!(
                "cluster {cluster_id} is not running"
            )));
        }
        let dir = self.sandbox.dir().join("snapshots").join(&id);
        let record = SnapshotRecord {
            id: id.clone(),
            cluster_id: cluster_id.clone(),
            dir: dir.clone(),
            status: status::CREATING.into(),
            percent_progress: 0,
            created_at: OffsetDateTime::now_utc(),
            failure: None,
            binlog: None,
            tags: request.tags.clone(),
            worker_pid: Some(std::process::id()),
        };
        let inserted = self.sandbox.update(|r| {
            if r.snapshots.contains_key(&id) {
                return false;
            }
            r.snapshots.insert(id.clone(), record.clone());
            true
        })?;
        if !inserted {
            return Err(exists(Resource::Snapshot, &id));
        }
        let sandbox = self.sandbox.clone();
        self.sandbox.spawn(async move {
            let outcome = take_snapshot(&sandbox, &cluster_id, &id, &dir).await;
            let saved = sandbox.update(|r| {
                if let Some(s) = r.snapshots.get_mut(&id) {
                    s.worker_pid = None;
                    match outcome {
                        Ok(binlog) => {
                            s.status = status::AVAILABLE.into();
                            s.percent_progress = 100;
                            s.binlog = Some(binlog);
                        }
                        Err(e) => {
                            tracing::warn!(snapshot = %id, error = %e, "snapshot failed");
                            s.status = status::FAILED.into();
                            s.failure = Some(e.to_string());
                        }
                    }
                }
            });
            if let Err(e) = saved {
                tracing::error!(snapshot = %id, error = %e, "could not record snapshot outcome");
            }
        });
        Ok(Self::to_snapshot(&record))
    }

    async fn copy_cluster_parameter_group(
        &self,
        request: &CopyParameterGroupRequest,
    ) -> PortResult<()> {
        let target = request.target_group.clone();
        rds_name(NameKind::DbClusterParameterGroup, &target)?;
        rds_tags(&request.tags)?;
        self.sandbox.update(|r| {
            if !r.parameter_groups.contains_key(&request.source_group) {
                return Err(not_found(Resource::ParameterGroup, &request.source_group));
            }
            if r.parameter_groups.contains_key(&target) {
                return Err(exists(Resource::ParameterGroup, &target));
            }
            // A copy has every value of its source, pending ones included.
            let (at_reboot, values) = r
                .parameter_groups
                .get(&request.source_group)
                .map(|g| (g.at_reboot.clone(), g.values.clone()))
                .unwrap_or_default();
            r.parameter_groups.insert(
                target.clone(),
                ParameterGroupRecord {
                    name: target.clone(),
                    copied_from: Some(request.source_group.clone()),
                    description: request.description.clone(),
                    tags: request.tags.clone(),
                    at_reboot,
                    values,
                },
            );
            Ok(())
        })?
    }

    async fn restore_cluster(&self, request: &RestoreClusterRequest) -> PortResult<()> {
        let id = request.cluster_id.clone();
        rds_name(NameKind::DbCluster, &id)?;
        rds_tags(&request.tags)?;
        let snapshot = self
            .sandbox
            .registry(|r| r.snapshots.get(&request.snapshot_id).cloned())
            .ok_or_else(|| not_found(Resource::Snapshot, &request.snapshot_id))?;
        if Self::to_snapshot(&snapshot).status != status::AVAILABLE {
            return Err(PortError::InvalidState(format!(
                "snapshot {} is {}",
                snapshot.id, snapshot.status
            )));
        }
        if let Some(group) = request
            .vpc_security_group_ids
            .iter()
            .find(|g| !crate::network::is_known_group(g))
        {
            // RDS: InvalidParameterValue / InvalidVPCNetworkStateFault for a group it cannot use.
            return Err(PortError::InvalidRequest(format!(
                "no security group `{group}` in the sandbox"
            )));
        }
        let kms_key_id = request
            .kms_key_id
            .clone()
            .unwrap_or_else(|| DEFAULT_KMS_KEY.into());
        let key_file = self.sandbox.key_file(&kms_key_id)?;
        let mut record = self.sandbox.new_cluster_record(&id, Some(key_file))?;
        record.kms_key_id = Some(kms_key_id);
        record.tags = request.tags.clone();
        record.parameter_group = request.cluster_parameter_group.clone();
        record.restored_from = Some(snapshot.id.clone());
        record.binlog_start = snapshot.binlog.clone();
        record.worker_pid = Some(std::process::id());
        record.security_group_ids = request.vpc_security_group_ids.clone();
        if let Some(days) = request.backup_retention_days {
            record.backup_retention_days = days;
        }
        let inserted = self.sandbox.update(|r| {
            if r.clusters.contains_key(&id) {
                return false;
            }
            r.clusters.insert(id.clone(), record.clone());
            true
        })?;
        if !inserted {
            return Err(exists(Resource::Cluster, &id));
        }
        let sandbox = self.sandbox.clone();
        self.sandbox.spawn(async move {
            let outcome = restore_encrypted(&sandbox, &id, &snapshot.dir).await;
            let saved = sandbox.update(|r| {
                if let Some(c) = r.clusters.get_mut(&id) {
                    c.worker_pid = None;
                    match outcome {
                        Ok(version) => {
                            c.engine_version = version;
                            c.storage_encrypted = true;
                            c.status = status::AVAILABLE.into();
                        }
                        Err(e) => {
                            tracing::warn!(cluster = %id, error = %e, "restore failed");
                            c.status = status::FAILED.into();
                            c.failure = Some(e.to_string());
                        }
                    }
                }
            });
            if let Err(e) = saved {
                tracing::error!(cluster = %id, error = %e, "could not record restore outcome");
            }
            if let Err(e) = sandbox.publish_cluster_endpoint(&id).await {
                tracing::warn!(cluster = %id, error = %e, "could not name the cluster endpoint");
            }
        });
        Ok(())
    }

    async fn create_instance(&self, request: &CreateInstanceRequest) -> PortResult<()> {
        let id = request.instance_id.clone();
        rds_name(NameKind::DbInstance, &id)?;
        rds_tags(&request.tags)?;
        let maintenance_window = match &request.maintenance_window {
            Some(window) => window_checked(window, true)?,
            None => RDS_PICKED_MAINTENANCE_WINDOW.to_string(),
        };
        self.sandbox.update(|r| {
            if r.instances.contains_key(&id) {
                return Err(exists(Resource::Instance, &id));
            }
            let Some(cluster) = r.clusters.get(&request.cluster_id) else {
                return Err(not_found(Resource::Cluster, &request.cluster_id));
            };
            let binlog_start = cluster.binlog_start.clone();
            let writer = !r
                .instances
                .values()
                .any(|i| i.cluster_id == request.cluster_id);
            r.instances.insert(
                id.clone(),
                InstanceRecord {
                    id: id.clone(),
                    cluster_id: request.cluster_id.clone(),
                    class: if request.class.is_empty() {
                        INSTANCE_CLASS.into()
                    } else {
                        request.class.clone()
                    },
                    writer,
                    promotion_tier: request.promotion_tier,
                    parameter_group: request.parameter_group.clone(),
                    tags: request.tags.clone(),
                    maintenance_window: maintenance_window.clone(),
                    renaming: false,
                },
            );
            let now = OffsetDateTime::now_utc();
            let events = r.events.entry(id.clone()).or_default();
            events.push(EventRecord {
                time: now,
                message: "DB instance created".into(),
            });
            // The writer is the restored server: its crash recovery reports where the snapshot's
            // binlog ends, exactly as RDS reports it on the restored cluster's writer.
            if let (true, Some(position)) = (writer, binlog_start) {
                events.push(EventRecord {
                    time: now,
                    message: format!("{EVENT_PREFIX}{} {}", position.file, position.position),
                });
            }
            Ok(())
        })?
    }

    async fn rename_cluster(&self, from: &str, to: &str) -> PortResult<()> {
        self.sandbox.rename_cluster(from, to).await
    }

    async fn rename_instance(&self, from: &str, to: &str) -> PortResult<()> {
        self.sandbox.rename_instance(from, to).await
    }

    async fn custom_endpoints(&self, cluster_id: &str) -> PortResult<Vec<CustomEndpoint>> {
        self.sandbox.custom_endpoints(cluster_id)
    }

    async fn create_custom_endpoint(&self, endpoint: &CustomEndpoint) -> PortResult<()> {
        self.sandbox.create_custom_endpoint(endpoint).await
    }

    async fn delete_custom_endpoint(&self, id: &str) -> PortResult<()> {
        self.sandbox.delete_custom_endpoint(id).await
    }

    async fn set_windows(&self, cluster_id: &str, windows: &ClusterWindows) -> PortResult<()> {
        let backup = windows
            .backup
            .as_deref()
            .map(|w| window_checked(w, false))
            .transpose()?;
        let maintenance = windows
            .maintenance
            .as_deref()
            .map(|w| window_checked(w, true))
            .transpose()?;
        self.sandbox.update(|r| {
            let Some(cluster) = r.clusters.get_mut(cluster_id) else {
                return Err(not_found(Resource::Cluster, cluster_id));
            };
            let backup = backup.unwrap_or_else(|| cluster.backup_window.clone());
            let maintenance = maintenance.unwrap_or_else(|| cluster.maintenance_window.clone());
            if windows_overlap(&backup, &maintenance) {
                // RDS: InvalidParameterCombination.
                return Err(PortError::InvalidRequest(format!(
                    "the backup window {backup} overlaps the maintenance window {maintenance}"
                )));
            }
            cluster.backup_window = backup;
            cluster.maintenance_window = maintenance;
            Ok(())
        })?
    }
    async fn instance_events(
        &self,
        instance_id: &str,
        since: OffsetDateTime,
    ) -> PortResult<Vec<InstanceEvent>> {
        let mut events: Vec<InstanceEvent> = self.sandbox.registry(|r| {
            r.events
                .get(instance_id)
                .into_iter()
                .flatten()
                .filter(|e| e.time >= since)
                .map(|e| InstanceEvent {
                    time: e.time,
                    message: e.message.clone(),
                })
                .collect()
        });
        events.sort_by_key(|e| e.time);
        Ok(events)
    }

    async fn cluster_id_by_resource_id(&self, resource_id: &str) -> PortResult<Option<String>> {
        Ok(self.sandbox.registry(|r| {
            r.clusters
                .keys()
                .find(|id| naming::stand_in_resource_id(id) == resource_id)
                .cloned()
        }))
    }
}

/// `window` if it has the form RDS documents (`hh24:mi-hh24:mi` for a backup window,
/// `ddd:hh24:mi-ddd:hh24:mi` for a maintenance window, UTC, at least 30 minutes), else the
/// `InvalidParameterValue` RDS answers with.
fn window_checked(window: &str, with_day: bool) -> PortResult<String> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let minute_of = |end: &str| -> Option<u32> {
        let (day, time) = if with_day {
            let (day, time) = end.split_once(':')?;
            (DAYS.iter().position(|d| *d == day)? as u32, time)
        } else {
            (0, end)
        };
        let (h, m) = time.split_once(':')?;
        if (h.len(), m.len()) != (2, 2) {
            return None;
        }
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(day * 1440 + h * 60 + m)
    };
    let span = window.split_once('-').and_then(|(from, to)| {
        let (from, to) = (minute_of(from)?, minute_of(to)?);
        let week = if with_day { 7 * 1440 } else { 1440 };
        Some((to + week - from) % week)
    });
    match span {
        Some(minutes) if minutes >= 30 => Ok(window.to_string()),
        _ => Err(PortError::InvalidRequest(format!(
            "`{window}` is not a valid {} window of at least 30 minutes",
            if with_day { "maintenance" } else { "backup" }
        ))),
    }
}

/// Whether the daily `backup` window (`hh24:mi-hh24:mi`) overlaps the weekly `maintenance`
/// window (`ddd:hh24:mi-ddd:hh24:mi`) on any day; windows that do not parse never overlap
/// (they were refused before).
fn windows_overlap(backup: &str, maintenance: &str) -> bool {
    const WEEK: u32 = 7 * 1440;
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let minute = |t: &str| -> Option<u32> {
        let (h, m) = t.split_once(':')?;
        Some(h.parse::<u32>().ok()? * 60 + m.parse::<u32>().ok()?)
    };
    let weekly = |t: &str| -> Option<u32> {
        let (day, time) = t.split_once(':')?;
        Some(DAYS.iter().position(|d| *d == day)? as u32 * 1440 + minute(time)?)
    };
    let Some((b_from, b_to)) = backup
        .split_once('-')
        .and_then(|(f, t)| Some((minute(f)?, minute(t)?)))
    else {
        return false;
    };
    let Some((m_from, m_to)) = maintenance
        .split_once('-')
        .and_then(|(f, t)| Some((weekly(f)?, weekly(t)?)))
    else {
        return false;
    };
    let in_maintenance = |at: u32| (at + WEEK - m_from) % WEEK < (m_to + WEEK - m_from) % WEEK;
    let backup_length = (b_to + 1440 - b_from) % 1440;
    // Every minute of every day's backup window, against the maintenance window.
    (0..7).any(|day| (0..backup_length).any(|i| in_maintenance((day * 1440 + b_from + i) % WEEK)))
}

/// RDS refuses a name outside its documented rule with `InvalidParameterValue`; so does the
/// sandbox, so a plan that works here works on AWS.
pub(crate) fn rds_name(kind: NameKind, name: &str) -> PortResult<()> {
    kind.check(name).map_err(PortError::InvalidRequest)
}

fn rds_tags(tags: &[aurora_core::ports::Tag]) -> PortResult<()> {
    naming::check_tags(TagRules::Rds, tags).map_err(PortError::InvalidRequest)
}

/// `mariadb-backup --backup` then `--prepare` into `dir`; returns the binlog coordinates.
async fn take_snapshot(
    sandbox: &Sandbox,
    cluster_id: &str,
    snapshot_id: &str,
    dir: &Path,
) -> SandboxResult<BinlogPosition> {
    let spec = sandbox.server_spec(cluster_id)?;
    let tools = sandbox.tools();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)
        .map_err(SandboxError::io(format!("creating {}", dir.display())))?;
    let target = format!("--target-dir={}", dir.display());
    tools::run(
        &tools.backup,
        &[spec.defaults_arg(), "--backup".into(), target.clone()],
    )
    .await?;
    sandbox.update(|r| {
        if let Some(s) = r.snapshots.get_mut(snapshot_id) {
            s.percent_progress = 50;
        }
    })?;
    tools::run(
        &tools.backup,
        &[
            format!("--defaults-file={}", dir.join("backup-my.cnf").display()),
            "--prepare".into(),
            target,
        ],
    )
    .await?;
    read_binlog_info(dir)
}

/// The binlog file and position a prepared backup is consistent with.
pub fn read_binlog_info(dir: &Path) -> SandboxResult<BinlogPosition> {
    for name in BINLOG_INFO_FILES {
        let path = dir.join(name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        // `<file>\t<position>[\t<gtid>]`
        let mut fields = text.split_whitespace();
        if let (Some(file), Some(position)) = (fields.next(), fields.next()) {
            let message = format!("{EVENT_PREFIX}{file} {position}");
            return BinlogPosition::from_event_message(&message)
                .map_err(|e| SandboxError::InvalidState(format!("{}: {e}", path.display())));
        }
        return Err(SandboxError::InvalidState(format!(
            "{} holds no binlog coordinates (is log_bin on?)",
            path.display()
        )));
    }
    Err(SandboxError::NotFound(format!(
        "no binlog info file ({}) in {}",
        BINLOG_INFO_FILES.join(" or "),
        dir.display()
    )))
}

/// Copies the prepared backup into the cluster's new data dir, zeroes the pages no tablespace
/// uses ([`crate::scrub`]), starts it encrypted, and waits until every tablespace is encrypted
/// and flushed. Returns the server's version.
async fn restore_encrypted(
    sandbox: &Sandbox,
    cluster_id: &str,
    backup_dir: &Path,
) -> SandboxResult<String> {
    let spec = sandbox.server_spec(cluster_id)?;
    let tools = sandbox.tools();
    let _ = std::fs::remove_dir_all(&spec.dir);
    spec.write_option_file()?;
    tools::run(
        &tools.backup,
        &[
            spec.defaults_arg(),
            "--copy-back".into(),
            format!("--target-dir={}", backup_dir.display()),
        ],
    )
    .await?;
    // The backup copied the source's free pages as they were; nothing would encrypt them.
    let data_dir = spec.data_dir();
    let scrubbed = tokio::task::spawn_blocking(move || crate::scrub::zero_unused_pages(&data_dir))
        .await
        .map_err(|e| SandboxError::InvalidState(format!("scrubbing {cluster_id}: {e}")))??;
    tracing::debug!(
        cluster_id,
        ?scrubbed,
        "free pages zeroed before the first start"
    );
    sandbox.start_cluster(cluster_id).await?;
    sandbox.prepare_server(cluster_id).await?;
    let mut conn = sandbox.admin_conn(cluster_id).await?;
    let outcome = wait_encrypted(&mut conn, cluster_id).await;
    let version = match outcome {
        Ok(()) => conn
            .query_first::<String, _>("SELECT VERSION()")
            .await
            .map_err(SandboxError::sql(cluster_id))
            .map(Option::unwrap_or_default),
        Err(e) => Err(e),
    };
    let _ = conn.disconnect().await;
    version
}

/// What the server says about encryption at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptionState {
    /// `innodb_encrypt_tables`, `innodb_encrypt_log` and `encrypt_binlog` are on and the key
    /// management plugin is active.
    pub configured: bool,
    pub tablespaces: u64,
    /// Tablespaces encrypted with no rotation or flush in progress.
    pub encrypted: u64,
}

impl EncryptionState {
    pub fn complete(&self) -> bool {
        self.configured && self.tablespaces > 0 && self.encrypted == self.tablespaces
    }
}

/// Reads the encryption variables and `INNODB_TABLESPACES_ENCRYPTION`.
pub async fn encryption_state(
    conn: &mut mysql_async::Conn,
    cluster_id: &str,
) -> SandboxResult<EncryptionState> {
    let configured: Option<u64> = conn
        .query_first(
            "SELECT CAST(@@innodb_encrypt_tables <> 'OFF' AND @@innodb_encrypt_log = 1 \
             AND @@encrypt_binlog = 1 AND (SELECT COUNT(*) FROM information_schema.PLUGINS \
             WHERE PLUGIN_NAME = 'FILE_KEY_MANAGEMENT' AND PLUGIN_STATUS = 'ACTIVE') = 1 \
             AS UNSIGNED)",
        )
        .await
        .map_err(SandboxError::sql(cluster_id))?;
    // Every InnoDB tablespace the server knows, and whether the encryption threads are done
    // with it; a tablespace missing from INNODB_TABLESPACES_ENCRYPTION counts as not done. The
    // temporary tablespace is recreated at each start (encrypted per
    // innodb_encrypt_temporary_tables) and never listed there.
    let counts: Option<(u64, u64)> = conn
        .query_first(
            "SELECT CAST(COUNT(*) AS UNSIGNED), CAST(COALESCE(SUM(e.ENCRYPTION_SCHEME = 1 \
             AND e.MIN_KEY_VERSION > 0 AND e.ROTATING_OR_FLUSHING = 0), 0) AS UNSIGNED) \
             FROM (SELECT SPACE FROM information_schema.INNODB_SYS_TABLESPACES \
                   WHERE NAME <> 'innodb_temporary' \
                   UNION SELECT SPACE FROM information_schema.INNODB_TABLESPACES_ENCRYPTION) s \
             LEFT JOIN information_schema.INNODB_TABLESPACES_ENCRYPTION e ON e.SPACE = s.SPACE",
        )
        .await
        .map_err(SandboxError::sql(cluster_id))?;
    let (tablespaces, encrypted) = counts.unwrap_or((0, 0));
    Ok(EncryptionState {
        configured: configured == Some(1),
        tablespaces,
        encrypted,
    })
}

async fn wait_encrypted(conn: &mut mysql_async::Conn, cluster_id: &str) -> SandboxResult<()> {
    let started = tokio::time::Instant::now();
    let mut nudged = started;
    loop {
        let state = encryption_state(conn, cluster_id).await?;
        if state.complete() {
            break;
        }
        // The encryption threads work through a list of tablespaces to encrypt that is filled
        // when `innodb_encrypt_tables` is set; one opened after that (`mysql.innodb_table_stats`,
        // say) may never be listed, which once left a restore `creating` for good. Setting the
        // variable again fills the list again.
        if nudged.elapsed() > ENCRYPTION_NUDGE_INTERVAL {
            conn.query_drop("SET GLOBAL innodb_encrypt_tables = ON")
                .await
                .map_err(SandboxError::sql(cluster_id))?;
            nudged = tokio::time::Instant::now();
        }
        if !state.configured {
            return Err(SandboxError::InvalidState(format!(
                "{cluster_id} runs without encryption at rest"
            )));
        }
        if started.elapsed() > ENCRYPTION_TIMEOUT {
            return Err(SandboxError::Timeout {
                what: format!(
                    "{cluster_id} to encrypt its tablespaces ({} of {} done)",
                    state.encrypted, state.tablespaces
                ),
                seconds: ENCRYPTION_TIMEOUT.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    flush_dirty_pages(conn, cluster_id).await
}

/// Makes InnoDB write every dirty page now (so no plaintext page image waits in memory for a
/// later flush), then restores the setting.
async fn flush_dirty_pages(conn: &mut mysql_async::Conn, cluster_id: &str) -> SandboxResult<()> {
    let original: Option<f64> = conn
        .query_first("SELECT @@innodb_max_dirty_pages_pct")
        .await
        .map_err(SandboxError::sql(cluster_id))?;
    conn.query_drop("SET GLOBAL innodb_max_dirty_pages_pct = 0")
        .await
        .map_err(SandboxError::sql(cluster_id))?;
    let started = tokio::time::Instant::now();
    let outcome = loop {
        let dirty: Option<(String, u64)> = conn
            .query_first("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
            .await
            .map_err(SandboxError::sql(cluster_id))?;
        if dirty.is_none_or(|(_, pages)| pages == 0) {
            break Ok(());
        }
        if started.elapsed() > ENCRYPTION_TIMEOUT {
            break Err(SandboxError::Timeout {
                what: format!("{cluster_id} to flush its dirty pages"),
                seconds: ENCRYPTION_TIMEOUT.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    conn.exec_drop(
        "SET GLOBAL innodb_max_dirty_pages_pct = ?",
        (original.unwrap_or(90.0),),
    )
    .await
    .map_err(SandboxError::sql(cluster_id))?;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_refused_as_rds_refuses_them() {
        for ok in [
            "sun:03:00-sun:03:30",
            "sat:23:45-sun:00:15",
            "mon:00:00-tue:00:00",
        ] {
            assert_eq!(window_checked(ok, true), Ok(ok.to_string()));
        }
        assert!(window_checked("02:00-02:30", false).is_ok());
        assert!(window_checked("23:50-00:20", false).is_ok());
        for bad in [
            "sun:03:00-sun:03:10",
            "sunday:03:00-sun:03:30",
            "sun:3:00-sun:03:30",
            "sun:24:00-mon:00:30",
            "02:00-02:30",
            "",
        ] {
            assert!(
                matches!(window_checked(bad, true), Err(PortError::InvalidRequest(_))),
                "{bad}"
            );
        }
        assert!(window_checked("sun:02:00-sun:02:30", false).is_err());
        assert!(!windows_overlap("02:00-02:30", "sun:03:00-sun:03:30"));
        assert!(windows_overlap("03:15-03:45", "sun:03:00-sun:03:30"));
        assert!(windows_overlap("23:50-00:20", "mon:00:00-mon:00:30"));
        assert!(!windows_overlap("23:10-23:40", "wed:07:40-wed:08:10"));
    }

    #[test]
    fn reads_binlog_info_of_mariadb_backup_10_and_11() {
        let dir = std::env::temp_dir().join(format!("aurora-binlog-info-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("xtrabackup_binlog_info"),
            "mysql-bin.000001\t1352\t0-1-5\n",
        )
        .unwrap();
        assert_eq!(
            read_binlog_info(&dir).unwrap(),
            BinlogPosition::new("mysql-bin.000001", 1352)
        );
        std::fs::write(
            dir.join("mariadb_backup_binlog_info"),
            "mysql-bin.000007\t4\n",
        )
        .unwrap();
        assert_eq!(
            read_binlog_info(&dir).unwrap(),
            BinlogPosition::new("mysql-bin.000007", 4)
        );
        std::fs::write(dir.join("mariadb_backup_binlog_info"), "").unwrap();
        assert!(read_binlog_info(&dir).is_err(), "empty file: log_bin off");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(read_binlog_info(&dir).is_err());
    }

    #[test]
    fn creating_without_a_live_worker_is_failed() {
        assert_eq!(
            worker_checked("creating", Some(std::process::id())),
            "creating"
        );
        assert_eq!(worker_checked("creating", None), "creating");
        // pid_max is at most 2^22 on Linux: this pid cannot exist.
        assert_eq!(worker_checked("creating", Some(u32::MAX - 1)), "failed");
        assert_eq!(worker_checked("available", Some(u32::MAX - 1)), "available");
    }
}
