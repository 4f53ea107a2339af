//! Clusters' lives: creating a source cluster, starting, stopping and killing servers, and
//! shutting the whole sandbox down or destroying it.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use time::OffsetDateTime;

use super::{lock, Sandbox, APP_RECORD, APP_RECORD_TTL, INSTANCE_CLASS, ZONE_ID};
use crate::error::{SandboxError, SandboxResult};
use crate::registry::{self, ClusterRecord, InstanceRecord};
use crate::server;

/// The source's backups and maintenance, as its owners set them (not RDS's defaults, so that a
/// restore that fails to carry them shows).
const SOURCE_BACKUP_RETENTION_DAYS: i32 = 7;
const SOURCE_BACKUP_WINDOW: &str = "02:00-02:30";
const SOURCE_MAINTENANCE_WINDOW: &str = "sun:03:00-sun:03:30";

impl Sandbox {
    /// Whether the cluster's server process is running.
    pub fn is_running(&self, cluster_id: &str) -> bool {
        self.cluster_record(cluster_id)
            .and_then(|c| c.pid)
            .is_some_and(server::process_alive)
    }

    /// Creates a source cluster: a fresh unencrypted server with `log_bin` and ROW binlogs, one
    /// writer instance `<id>-instance-1`, and the application DNS record pointing at it.
    pub async fn create_source_cluster(&self, id: &str) -> SandboxResult<ClusterRecord> {
        if !aurora_core::naming::is_valid_rds_identifier(id) {
            return Err(SandboxError::InvalidState(format!(
                "`{id}` is not a valid cluster identifier"
            )));
        }
        if self.cluster_record(id).is_some() {
            return Err(SandboxError::InvalidState(format!(
                "cluster {id} already exists"
            )));
        }
        let mut record = self.new_cluster_record(id, None)?;
        // The application's cluster, as its owners set it up: a week of backups, its windows.
        record.backup_retention_days = SOURCE_BACKUP_RETENTION_DAYS;
        record.backup_window = SOURCE_BACKUP_WINDOW.into();
        record.maintenance_window = SOURCE_MAINTENANCE_WINDOW.into();
        let spec = record.server(self.port());
        let _ = std::fs::remove_dir_all(&record.dir);
        if let Err(e) = spec.initialise(&self.inner.tools).await {
            // Seen once on a loaded machine with several installs at once: a second try on a
            // clean directory is cheap and tells a real failure from a passing one.
            tracing::warn!(cluster = id, error = %e, "mariadb-install-db failed; retrying once");
            let _ = std::fs::remove_dir_all(&record.dir);
            spec.initialise(&self.inner.tools).await?;
        }
        self.update(|r| {
            r.clusters.insert(id.to_string(), record.clone());
            r.instances.insert(
                format!("{id}-instance-1"),
                InstanceRecord {
                    id: format!("{id}-instance-1"),
                    cluster_id: id.to_string(),
                    class: INSTANCE_CLASS.into(),
                    writer: true,
                    promotion_tier: Some(1),
                    parameter_group: Some("default.aurora-mysql-sandbox".into()),
                    tags: Vec::new(),
                    maintenance_window: SOURCE_MAINTENANCE_WINDOW.into(),
                    renaming: false,
                },
            );
            r.parameter_groups.insert(
                format!("{id}-params"),
                registry::ParameterGroupRecord {
                    name: format!("{id}-params"),
                    copied_from: None,
                    description: format!("Parameters of {id}"),
                    tags: Vec::new(),
                    at_reboot: Default::default(),
                    values: Default::default(),
                },
            );
        })?;
        self.start_cluster(id).await?;
        self.prepare_server(id).await?;
        self.ensure_replication_user(id).await?;
        let version = self.server_version(id).await?;
        let record = self
            .update(|r| {
                r.clusters.get_mut(id).map(|c| {
                    c.engine_version = version;
                    c.status = registry::status::AVAILABLE.into();
                    c.clone()
                })
            })?
            .ok_or_else(|| SandboxError::NotFound(format!("cluster {id}")))?;
        let dns = self.dns();
        aurora_core::ports::Dns::upsert_cname(
            &dns,
            ZONE_ID,
            APP_RECORD,
            &record.host.to_string(),
            APP_RECORD_TTL,
        )
        .await?;
        self.publish_cluster_endpoint(id).await?;
        Ok(record)
    }

    /// A new cluster record with a fresh directory, loopback address and server id.
    pub(crate) fn new_cluster_record(
        &self,
        id: &str,
        key_file: Option<PathBuf>,
    ) -> SandboxResult<ClusterRecord> {
        let port = self.port();
        let host = self.free_address(port)?;
        let server_id = self.update(|r| {
            let n = r.next_server_id.max(1);
            r.next_server_id = n + 1;
            n
        })?;
        Ok(ClusterRecord {
            id: id.to_string(),
            dir: self.inner.dir.join("clusters").join(id),
            host,
            server_id,
            status: registry::status::CREATING.into(),
            failure: None,
            engine_version: String::new(),
            created_at: OffsetDateTime::now_utc(),
            key_file,
            kms_key_id: None,
            storage_encrypted: false,
            parameter_group: Some(format!("{id}-params")),
            tags: Vec::new(),
            pid: None,
            restored_from: None,
            binlog_start: None,
            worker_pid: None,
            security_group_ids: Vec::new(),
            backup_retention_days: registry::RDS_DEFAULT_BACKUP_RETENTION_DAYS,
            backup_window: registry::RDS_PICKED_BACKUP_WINDOW.into(),
            maintenance_window: registry::RDS_PICKED_MAINTENANCE_WINDOW.into(),
        })
    }

    /// A loopback address (`127.x.y.z`, never 127.0.0.1) no other cluster uses and where
    /// `port` is free.
    /// The server process of cluster `from`, now known as `to`.
    pub(crate) fn rekey_child(&self, from: &str, to: &str) {
        let mut children = lock(&self.inner.children);
        if let Some(child) = children.remove(from) {
            children.insert(to.to_string(), child);
        }
    }

    pub(crate) fn free_address(&self, port: u16) -> SandboxResult<Ipv4Addr> {
        let taken: Vec<Ipv4Addr> = self.registry(|r| {
            r.clusters
                .values()
                .map(|c| c.host)
                .chain(r.proxies.values().map(|p| p.host))
                .collect()
        });
        for _ in 0..64 {
            let host = Ipv4Addr::new(
                127,
                fastrand::u8(100..=199),
                fastrand::u8(1..=254),
                fastrand::u8(1..=254),
            );
            if !taken.contains(&host) && std::net::TcpListener::bind((host, port)).is_ok() {
                return Ok(host);
            }
        }
        Err(SandboxError::InvalidState(format!(
            "no free loopback address for port {port}; is something listening on 0.0.0.0:{port}?"
        )))
    }

    /// Starts a cluster's server (no-op if it runs) and records its pid.
    pub async fn start_cluster(&self, id: &str) -> SandboxResult<()> {
        if self.is_running(id) {
            return Ok(());
        }
        if self.inner.closing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SandboxError::InvalidState(format!(
                "not starting {id}: the sandbox is being destroyed"
            )));
        }
        let spec = self.server_spec(id)?;
        spec.write_option_file()?;
        let child = spec.start(&self.inner.tools).await?;
        let pid = child.id();
        lock(&self.inner.children).insert(id.to_string(), child);
        self.update(|r| {
            if let Some(c) = r.clusters.get_mut(id) {
                c.pid = pid;
            }
        })?;
        Ok(())
    }

    /// Stops a cluster's server cleanly (killed if it does not stop in time).
    pub async fn stop_cluster(&self, id: &str) -> SandboxResult<()> {
        let spec = self.server_spec(id)?;
        let pid = self.cluster_record(id).and_then(|c| c.pid);
        if let Some(pid) = pid {
            spec.shutdown(&self.inner.tools, pid).await?;
        }
        let child = lock(&self.inner.children).remove(id);
        if let Some(mut child) = child {
            let _ = child.wait().await;
        }
        self.update(|r| {
            if let Some(c) = r.clusters.get_mut(id) {
                c.pid = None;
            }
        })?;
        Ok(())
    }

    /// Kills a cluster's server at once, as a crash would (fault tests).
    pub async fn kill_cluster(&self, id: &str) -> SandboxResult<()> {
        if let Some(pid) = self.cluster_record(id).and_then(|c| c.pid) {
            server::signal(pid, libc::SIGKILL);
        }
        let child = lock(&self.inner.children).remove(id);
        if let Some(mut child) = child {
            let _ = child.wait().await;
        }
        Ok(())
    }

    /// Stops every running server and waits for background work to end.
    pub async fn shutdown(&self) -> SandboxResult<()> {
        let tasks: Vec<_> = lock(&self.inner.tasks).drain(..).collect();
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
        let ids: Vec<String> = self.registry(|r| r.clusters.keys().cloned().collect());
        let mut first_error = None;
        for id in ids {
            if let Err(e) = self.stop_cluster(&id).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops everything and deletes the sandbox directory. The directory goes even when a server
    /// did not stop cleanly (it was killed), and its removal is retried for a few seconds: a tool
    /// killed with an aborted task (`mariadb-backup` mid-snapshot, say) may still be writing into
    /// it for a moment on a loaded machine.
    pub async fn destroy(self) -> SandboxResult<()> {
        {
            let _tasks = lock(&self.inner.tasks);
            self.inner
                .closing
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        let stopped = self.shutdown().await;
        let dir = self.inner.dir.clone();
        let sockets: Vec<PathBuf> = self.registry(|r| {
            r.clusters
                .values()
                .map(|c| c.server(r.port).socket())
                .collect()
        });
        for socket in sockets {
            let _ = std::fs::remove_file(socket);
        }
        let mut attempts = 0;
        let removed = loop {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => break Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break Ok(()),
                Err(e) if attempts >= 50 => break Err(e),
                Err(_) => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        };
        stopped?;
        removed.map_err(SandboxError::io(format!("removing {}", dir.display())))
    }
}
