//! What a whole migration needs from the sandbox beyond the cluster, fence and DNS adapters:
//! the remaining ports ([`SandboxParameters`], [`SandboxKms`], [`SandboxRetirement`],
//! [`NoLagMetrics`], `aurora-sql`'s binlog retention reader), and replication and verifiers
//! that find their servers when called. A run's ports are built before the target exists;
//! these resolve cluster ids to servers on each call, like an AWS client resolves endpoints.
//!
//! [`Sandbox::prepare_source_for_migration`] does on a source what an operator does on Aurora
//! before a run: `binlog retention hours` set with `mysql.rds_set_configuration`, and the
//! replication user allowed to read it (preflight checks it logged in as that user).

use std::sync::Arc;

use async_trait::async_trait;
use aurora_core::binlog::BinlogPosition;
use aurora_core::errors::{PortError, Resource};
use aurora_core::ports::{
    CdcRequest, ChunkDigest, ChunkTable, ChunkVerifier, Key, KeyRange, KeyValue, PortResult,
    Replication, ReplicationHandle, ReplicationStatus, ServerSettings, SmokeOutcome, TableDigest,
    TouchedRows, Verifier, VerifyDepth,
};
use mysql_async::prelude::Queryable;

use crate::error::{SandboxError, SandboxResult};
use crate::sandbox::{Sandbox, REPLICATION_USER};
use crate::{NoLagMetrics, SandboxKms, SandboxParameters, SandboxRetirement};

/// Global variables [`Sandbox::tune_replica`] sets on a target while it replicates, in the form
/// the parity check names them: the sandbox's stand-ins for how Aurora runs a replica, not the
/// operator's configuration, so the sandbox's verifier leaves them out of the settings it reports
/// (`aurora-sql` already leaves out `slave_*` and the encryption settings).
pub const TUNED_REPLICA_VARIABLES: &[&str] = &["variable:innodb_flush_log_at_trx_commit"];

/// The binlog retention a prepared source keeps: a week, as AWS recommends for migrations.
pub const BINLOG_RETENTION_HOURS: u32 = 168;

impl Sandbox {
    pub fn parameters(&self) -> SandboxParameters {
        SandboxParameters::new(self.clone())
    }
    pub fn kms(&self) -> SandboxKms {
        SandboxKms
    }
    pub fn retirement(&self) -> SandboxRetirement {
        SandboxRetirement::new(self.clone())
    }
    pub fn lag_metrics(&self) -> NoLagMetrics {
        NoLagMetrics
    }
    /// Native replication between whichever sandbox clusters a call names.
    pub fn replication(&self) -> SandboxReplication {
        SandboxReplication {
            sandbox: self.clone(),
        }
    }
    /// A verifier of `cluster_id`, connecting when called (the cluster may not exist yet).
    pub fn lazy_verifier(&self, cluster_id: &str) -> SandboxVerifier {
        SandboxVerifier {
            sandbox: self.clone(),
            cluster_id: cluster_id.to_string(),
        }
    }
    /// `aurora-sql`'s cache warmer over the sandbox's secrets (plain TCP).
    pub fn cache_warmer(&self) -> aurora_sql::SqlCacheWarmer {
        aurora_sql::SqlCacheWarmer::new(Arc::new(self.secrets()), aurora_sql::Tls::Disabled)
    }
    /// Which server a session at an endpoint reaches, over the sandbox's secrets (plain TCP).
    pub fn server_identity(&self) -> aurora_sql::SqlServerIdentity {
        aurora_sql::SqlServerIdentity::new(Arc::new(self.secrets()), aurora_sql::Tls::Disabled)
    }
    /// `aurora-sql`'s binlog retention reader over the sandbox's secrets (plain TCP).
    pub fn binlog_retention(&self) -> aurora_sql::SqlBinlogRetention {
        aurora_sql::SqlBinlogRetention::new(Arc::new(self.secrets()), aurora_sql::Tls::Disabled)
    }

    /// Grants `privileges` (`SELECT ON performance_schema.*`) to the replication user, the user
    /// of the spec's source secret, on `cluster_id`.
    pub async fn grant_to_replication_user(
        &self,
        cluster_id: &str,
        privileges: &str,
    ) -> SandboxResult<()> {
        let mut conn = self.admin_conn(cluster_id).await?;
        conn.query_drop(format!("GRANT {privileges} TO '{REPLICATION_USER}'@'%'"))
            .await
            .map_err(SandboxError::sql(cluster_id))?;
        let _ = conn.disconnect().await;
        Ok(())
    }

    /// Sets `binlog retention hours` on the source with `mysql.rds_set_configuration` and lets
    /// the replication user read it through `mysql.rds_show_configuration`. Idempotent.
    pub async fn prepare_source_for_migration(&self, cluster_id: &str) -> SandboxResult<()> {
        let mut conn = self.admin_conn(cluster_id).await?;
        let statements = [
            format!(
                "CALL mysql.rds_set_configuration('binlog retention hours', {BINLOG_RETENTION_HOURS})"
            ),
            // Freed pages are zeroed, so a snapshot carries no stale plaintext in free pages
            // that the encrypted restore's background encryption would skip.
            "SET GLOBAL innodb_immediate_scrub_data_uncompressed = ON".to_string(),
            format!(
                "GRANT EXECUTE ON PROCEDURE mysql.rds_show_configuration TO '{REPLICATION_USER}'@'%'"
            ),
        ];
        for statement in statements {
            conn.query_drop(statement)
                .await
                .map_err(SandboxError::sql(cluster_id))?;
        }
        let _ = conn.disconnect().await;
        Ok(())
    }

    /// Settings of a replica that Aurora has and a stock MariaDB lacks, best effort (they can
    /// only change while no replica thread runs, i.e. the first time):
    /// - parallel apply (`slave_parallel_mode=optimistic`): one SQL thread committing each
    ///   event with its own fsync falls behind a source that group-commits a few hundred writes
    ///   a second, and every second of lag is a second of fenced downtime at the switchover;
    /// - commits flushed to the redo log once a second while replicating
    ///   (`innodb_flush_log_at_trx_commit=2`, Aurora replicas do not fsync per commit either);
    ///   the applied position is stored with the data, so a crash resumes consistently. Full
    ///   durability is restored when the replication is stopped ([`Sandbox::restore_durability`]);
    /// - freed pages zeroed at once (`innodb_immediate_scrub_data_uncompressed`), so no plaintext
    ///   undo record survives on a free page of the encrypted target.
    pub(crate) async fn tune_replica(&self, cluster_id: &str) {
        let Ok(mut conn) = self.admin_conn(cluster_id).await else {
            return;
        };
        for statement in [
            "SET GLOBAL innodb_immediate_scrub_data_uncompressed = ON",
            "SET GLOBAL slave_parallel_mode = 'optimistic'",
            "SET GLOBAL slave_parallel_threads = 4",
            "SET GLOBAL innodb_flush_log_at_trx_commit = 2",
        ] {
            if let Err(e) = conn.query_drop(statement).await {
                tracing::debug!(cluster = cluster_id, error = %e, statement, "replica setting left as is");
            }
        }
        let _ = conn.disconnect().await;
    }

    /// Every commit flushed to disk again (`innodb_flush_log_at_trx_commit=1`), once the target
    /// no longer replicates and serves the application. Best effort: a stopped server starts
    /// with the option file's setting anyway.
    pub(crate) async fn restore_durability(&self, cluster_id: &str) {
        let Ok(mut conn) = self.admin_conn(cluster_id).await else {
            return;
        };
        if let Err(e) = conn
            .query_drop("SET GLOBAL innodb_flush_log_at_trx_commit = 1")
            .await
        {
            tracing::warn!(cluster = cluster_id, error = %e, "durability not restored");
        }
        let _ = conn.disconnect().await;
    }

    /// The cluster `target_id` replicates from: the one its replication was configured from,
    /// else the one its snapshot was taken of.
    fn source_of(&self, target_id: &str) -> Option<String> {
        self.registry(|r| {
            if let Some(source) = r.replication_sources.get(target_id) {
                return Some(source.clone());
            }
            let snapshot = r.clusters.get(target_id)?.restored_from.clone()?;
            r.snapshots.get(&snapshot).map(|s| s.cluster_id.clone())
        })
    }
}

/// `aurora-sql`'s [`NativeReplication`](aurora_sql::NativeReplication), unchanged, built for the
/// pair of clusters each call is about: the request's, or the handle's target (its id) and the
/// cluster that target was restored from.
#[derive(Clone)]
pub struct SandboxReplication {
    sandbox: Sandbox,
}

impl SandboxReplication {
    fn engine(&self, source: &str, target: &str) -> PortResult<aurora_sql::NativeReplication> {
        Ok(self.sandbox.native_replication(
            // The stand-ins answer both generations; MariaDB knows SHOW REPLICA STATUS.
            aurora_sql::AuroraMajorVersion::Three,
            source,
            target,
        )?)
    }

    fn for_handle(&self, handle: &ReplicationHandle) -> PortResult<aurora_sql::NativeReplication> {
        let source = self
            .sandbox
            .source_of(&handle.id)
            .ok_or_else(|| PortError::NotFound {
                resource: Resource::Migration,
                message: format!(
                    "{}: target cluster {} is not a restored sandbox cluster",
                    handle.name, handle.id
                ),
            })?;
        self.engine(&source, &handle.id)
    }
}

#[async_trait]
impl Replication for SandboxReplication {
    async fn ensure_cdc(&self, request: &CdcRequest) -> PortResult<ReplicationHandle> {
        // DMS refuses what its API refuses: the sandbox holds every resource name and tag of a
        // replication to DMS's rules, whichever engine the spec names.
        for (_, name) in aurora_core::naming::dms_resource_names(&request.name) {
            aurora_core::naming::NameKind::DmsResource
                .check(&name)
                .map_err(PortError::InvalidRequest)?;
        }
        aurora_core::naming::check_tags(aurora_core::naming::TagRules::Dms, &request.tags)
            .map_err(PortError::InvalidRequest)?;
        let (source, target) = (&request.source.cluster_id, &request.target.cluster_id);
        self.sandbox
            .update(|r| r.replication_sources.insert(target.clone(), source.clone()))?;
        self.sandbox.tune_replica(target).await;
        self.engine(source, target)?.ensure_cdc(request).await
    }
    async fn start(&self, handle: &ReplicationHandle) -> PortResult<()> {
        self.for_handle(handle)?.start(handle).await
    }
    async fn status(&self, handle: &ReplicationHandle) -> PortResult<ReplicationStatus> {
        self.for_handle(handle)?.status(handle).await
    }
    async fn stop(&self, handle: &ReplicationHandle) -> PortResult<()> {
        match self.for_handle(handle) {
            Ok(engine) => {
                engine.stop(handle).await?;
                self.sandbox.restore_durability(&handle.id).await;
                Ok(())
            }
            // The target is gone: nothing replicates into it.
            Err(PortError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
    async fn remove(&self, handle: &ReplicationHandle) -> PortResult<()> {
        match self.for_handle(handle) {
            Ok(engine) => {
                engine.remove(handle).await?;
                self.sandbox.restore_durability(&handle.id).await;
                Ok(())
            }
            Err(PortError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// `aurora-sql`'s [`SqlVerifier`](aurora_sql::SqlVerifier) of one cluster, as the
/// administrator, built when called.
#[derive(Clone)]
pub struct SandboxVerifier {
    sandbox: Sandbox,
    cluster_id: String,
}

#[async_trait]
impl Verifier for SandboxVerifier {
    async fn table_digests(
        &self,
        databases: &[String],
        depth: VerifyDepth,
    ) -> PortResult<Vec<TableDigest>> {
        self.sandbox
            .verifier(&self.cluster_id)?
            .table_digests(databases, depth)
            .await
    }

    async fn accounts(&self) -> PortResult<Vec<aurora_core::ports::Account>> {
        self.sandbox.verifier(&self.cluster_id)?.accounts().await
    }

    async fn settings(&self) -> PortResult<ServerSettings> {
        let mut settings = self.sandbox.verifier(&self.cluster_id)?.settings().await?;
        settings.retain(|name, _| !TUNED_REPLICA_VARIABLES.contains(&name.as_str()));
        Ok(settings)
    }

    async fn smoke_query(
        &self,
        sql: &str,
        timeout: std::time::Duration,
    ) -> PortResult<SmokeOutcome> {
        self.sandbox
            .verifier(&self.cluster_id)?
            .smoke_query(sql, timeout)
            .await
    }
}

impl SandboxVerifier {
    /// `aurora-sql`'s chunk verifier of the cluster's server, found now.
    fn chunks(&self) -> PortResult<aurora_sql::SqlChunkVerifier> {
        self.sandbox
            .admin_settings(&self.cluster_id)
            .map(aurora_sql::SqlChunkVerifier::new)
            .ok_or_else(|| PortError::NotFound {
                resource: Resource::Cluster,
                message: format!("cluster {}", self.cluster_id),
            })
    }
}

#[async_trait]
impl ChunkVerifier for SandboxVerifier {
    async fn chunk_tables(&self, databases: &[String]) -> PortResult<Vec<ChunkTable>> {
        self.chunks()?.chunk_tables(databases).await
    }

    async fn chunk_upper(
        &self,
        table: &ChunkTable,
        after: Option<&[KeyValue]>,
        rows: u64,
    ) -> PortResult<Option<Key>> {
        self.chunks()?.chunk_upper(table, after, rows).await
    }

    async fn digest_range(&self, table: &ChunkTable, range: &KeyRange) -> PortResult<ChunkDigest> {
        self.chunks()?.digest_range(table, range).await
    }

    async fn digest_keys(&self, table: &ChunkTable, keys: &[Key]) -> PortResult<ChunkDigest> {
        self.chunks()?.digest_keys(table, keys).await
    }

    async fn binlog_position(&self) -> PortResult<BinlogPosition> {
        self.chunks()?.binlog_position().await
    }

    async fn touched_rows(
        &self,
        from: &BinlogPosition,
        to: &BinlogPosition,
        tables: &[ChunkTable],
        limit: usize,
    ) -> PortResult<TouchedRows> {
        self.chunks()?.touched_rows(from, to, tables, limit).await
    }
}
