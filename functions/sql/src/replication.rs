//! `NativeReplication`: the `native` replication engine. The target replicates the source's
//! binlog from the restore's position, configured with Aurora's procedures:
//!
//! | port call    | on the target (Aurora MySQL 2 / 3)                                         |
//! |--------------|----------------------------------------------------------------------------|
//! | `ensure_cdc` | `CALL mysql.rds_set_external_master` / `rds_set_external_source` (unless already configured from this source) |
//! | `start`      | `CALL mysql.rds_start_replication`                                         |
//! | `status`     | `SHOW SLAVE STATUS` / `SHOW REPLICA STATUS`, and the source's `SHOW MASTER STATUS` |
//! | `stop`       | `CALL mysql.rds_stop_replication`                                          |
//! | `remove`     | stop, then `CALL mysql.rds_reset_external_master` / `_source`              |
//!
//! `Seconds_Behind_Master` reads 0 whenever the SQL thread has nothing queued, even while the
//! I/O thread is behind, so the status also compares the source's binlog position with the
//! position the target has executed, and never reports a latency of 0 while they differ.
//! States: configured but never run is `Ready` (the relay log is still fresh), both threads up
//! is `Running`, the I/O thread still connecting is `Starting`, a thread stopped by an error is
//! `Failed` (with `Last_SQL_Error` / `Last_IO_Error`), otherwise `Stopped`. Nothing configured
//! is `NotFound`; `stop` and `remove` then succeed, as they do when repeated.
//! On MariaDB the procedures are the stand-ins of [`crate::RDS_STAND_INS`].

use async_trait::async_trait;
use aurora_core::binlog::BinlogPosition;
use aurora_core::errors::{PortError, Resource};
use aurora_core::ports::{
    CdcRequest, PortResult, Replication, ReplicationHandle, ReplicationPositions, ReplicationState,
    ReplicationStatus,
};
use mysql_async::{Row, Value};

use crate::conn::{codes, column, column_u64, connect, server_code, Session};
use crate::credentials::{ConnectionSettings, Credentials};

/// [`ReplicationHandle::engine`] of this engine.
pub const ENGINE: &str = "native";

/// Aurora MySQL major version: which procedure and status statement names the target knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuroraMajorVersion {
    /// Aurora MySQL 2 (MySQL 5.7): `rds_set_external_master`, `SHOW SLAVE STATUS`.
    Two,
    /// Aurora MySQL 3 (MySQL 8.0): `rds_set_external_source`, `SHOW REPLICA STATUS`.
    Three,
}

impl AuroraMajorVersion {
    /// From the `engineMajorVersion` preflight records (2 or 3).
    pub fn from_number(major: u8) -> Option<Self> {
        match major {
            2 => Some(Self::Two),
            3 => Some(Self::Three),
            _ => None,
        }
    }

    fn set_external(self) -> &'static str {
        match self {
            Self::Two => "CALL mysql.rds_set_external_master(?, ?, ?, ?, ?, ?, ?)",
            Self::Three => "CALL mysql.rds_set_external_source(?, ?, ?, ?, ?, ?, ?)",
        }
    }

    fn reset_external(self) -> &'static str {
        match self {
            Self::Two => "CALL mysql.rds_reset_external_master()",
            Self::Three => "CALL mysql.rds_reset_external_source()",
        }
    }

    fn show_status(self) -> &'static str {
        match self {
            Self::Two => "SHOW SLAVE STATUS",
            Self::Three => "SHOW REPLICA STATUS",
        }
    }
}

/// Binlog replication from the source into the target. One instance per source/target pair.
#[derive(Debug, Clone)]
pub struct NativeReplication {
    major: AuroraMajorVersion,
    /// A user with `REPLICATION CLIENT` on the source (reads `SHOW MASTER STATUS`).
    source: ConnectionSettings,
    /// The target's admin user (runs the `mysql.rds_*` procedures).
    target: ConnectionSettings,
    /// The user the target's replica threads log in to the source as.
    replication_user: Credentials,
    replication_ssl: bool,
}

impl NativeReplication {
    /// The replica threads connect with TLS (`ssl_encryption = 1`) unless
    /// [`with_replication_ssl`](Self::with_replication_ssl) says otherwise.
    pub fn new(
        major: AuroraMajorVersion,
        source: ConnectionSettings,
        target: ConnectionSettings,
        replication_user: Credentials,
    ) -> Self {
        Self {
            major,
            source,
            target,
            replication_user,
            replication_ssl: true,
        }
    }

    /// Whether the target's replica threads use TLS to the source (off for a sandbox whose
    /// servers have no certificates).
    pub fn with_replication_ssl(mut self, ssl: bool) -> Self {
        self.replication_ssl = ssl;
        self
    }

    async fn target_session(&self) -> PortResult<Session<'_>> {
        Ok(connect(&self.target)
            .await?
            .redacting(self.replication_user.password()))
    }

    /// The target's replica status row, or `None` when no replication is configured.
    async fn replica_status(&self) -> PortResult<Option<ReplicaStatus>> {
        let mut session = self.target_session().await?;
        let rows = session
            .query(self.major.show_status(), "read replica status")
            .await;
        session.close().await;
        Ok(rows?.first().and_then(ReplicaStatus::from_row))
    }

    /// The source's current binlog position.
    async fn source_position(&self) -> PortResult<BinlogPosition> {
        let mut session = connect(&self.source).await?;
        let rows = match session.query_raw("SHOW MASTER STATUS").await {
            Ok(rows) => Ok(rows),
            // MySQL 8.4 renamed the statement.
            Err(e) if server_code(&e) == Some(codes::PARSE_ERROR) => {
                session
                    .query("SHOW BINARY LOG STATUS", "read source binlog position")
                    .await
            }
            Err(e) => Err(session.error(&e, "read source binlog position")),
        };
        session.close().await;
        let rows = rows?;
        let row = rows.first().ok_or_else(|| {
            PortError::InvalidState(format!(
                "binary logging is off on the source {}",
                self.source.address()
            ))
        })?;
        match (column(row, &["File"]), column_u64(row, &["Position"])) {
            (Some(file), Some(position)) => Ok(BinlogPosition::new(file, position)),
            _ => Err(PortError::Other(format!(
                "SHOW MASTER STATUS on {} has no File/Position",
                self.source.address()
            ))),
        }
    }

    fn check(&self, handle: &ReplicationHandle) -> PortResult<()> {
        if handle.engine == ENGINE {
            Ok(())
        } else {
            Err(PortError::InvalidRequest(format!(
                "replication `{}` belongs to engine `{}`, not `{ENGINE}`",
                handle.name, handle.engine
            )))
        }
    }

    fn handle(&self, request: &CdcRequest) -> ReplicationHandle {
        ReplicationHandle {
            engine: ENGINE.to_string(),
            id: request.target.cluster_id.clone(),
            name: request.name.clone(),
            resources: Vec::new(),
        }
    }

    async fn call(&self, sql: &str, params: Vec<Value>, what: &str) -> PortResult<()> {
        let mut session = self.target_session().await?;
        let done = session.exec_drop(sql, params, what).await;
        session.close().await;
        done
    }

    fn not_configured(&self, handle: &ReplicationHandle) -> PortError {
        PortError::NotFound {
            resource: Resource::Migration,
            message: format!(
                "no replication is configured on target {} ({})",
                handle.id,
                self.target.address()
            ),
        }
    }
}

/// The fields of `SHOW SLAVE STATUS` / `SHOW REPLICA STATUS` the engine reads, under either
/// generation of column names (MariaDB keeps the old names for both statements).
#[derive(Debug, Clone, PartialEq)]
struct ReplicaStatus {
    source_host: String,
    source_port: Option<u64>,
    io_running: String,
    sql_running: String,
    seconds_behind: Option<u64>,
    applied: Option<BinlogPosition>,
    /// Where the SQL thread is in the relay log: 4 (just past the magic number) until the
    /// replica has ever run, since configuring it starts a fresh relay log.
    relay_log_pos: Option<u64>,
    io_error: Option<(u64, String)>,
    sql_error: Option<(u64, String)>,
}

impl ReplicaStatus {
    fn from_row(row: &Row) -> Option<Self> {
        let source_host = column(row, &["Master_Host", "Source_Host"]).unwrap_or_default();
        // RESET SLAVE (without ALL) leaves a row with no host: nothing is configured.
        if source_host.is_empty() {
            return None;
        }
        let error = |errno: &[&str], text: &[&str]| {
            let code = column_u64(row, errno).unwrap_or(0);
            let message = column(row, text).unwrap_or_default();
            (code != 0 || !message.trim().is_empty()).then_some((code, message))
        };
        let applied = match (
            column(row, &["Relay_Master_Log_File", "Relay_Source_Log_File"]),
            column_u64(row, &["Exec_Master_Log_Pos", "Exec_Source_Log_Pos"]),
        ) {
            (Some(file), Some(position)) if !file.is_empty() => {
                Some(BinlogPosition::new(file, position))
            }
            _ => None,
        };
        Some(Self {
            source_host,
            source_port: column_u64(row, &["Master_Port", "Source_Port"]),
            io_running: column(row, &["Slave_IO_Running", "Replica_IO_Running"])
                .unwrap_or_default(),
            sql_running: column(row, &["Slave_SQL_Running", "Replica_SQL_Running"])
                .unwrap_or_default(),
            seconds_behind: column_u64(row, &["Seconds_Behind_Master", "Seconds_Behind_Source"]),
            applied,
            relay_log_pos: column_u64(row, &["Relay_Log_Pos"]),
            io_error: error(&["Last_IO_Errno"], &["Last_IO_Error"]),
            sql_error: error(&["Last_SQL_Errno"], &["Last_SQL_Error"]),
        })
    }

    fn io_yes(&self) -> bool {
        self.io_running.eq_ignore_ascii_case("Yes")
    }

    fn sql_yes(&self) -> bool {
        self.sql_running.eq_ignore_ascii_case("Yes")
    }

    /// Still on its way up: `Connecting`, or MariaDB's `Preparing` (set while the I/O thread
    /// starts, e.g. while parallel apply workers start).
    fn io_connecting(&self) -> bool {
        self.io_running.eq_ignore_ascii_case("Connecting")
            || self.io_running.eq_ignore_ascii_case("Preparing")
    }

    fn stopped(&self) -> bool {
        !self.io_yes() && !self.io_connecting() && !self.sql_yes()
    }

    fn replicates_from(&self, host: &str, port: u16) -> bool {
        self.source_host.eq_ignore_ascii_case(host) && self.source_port == Some(u64::from(port))
    }

    /// The state a step acts on. A stopped thread with an error is a failure; an I/O thread
    /// still trying to connect is starting (it retries on its own), with its error reported;
    /// configured but never run is ready (a start begins at the configured position), while
    /// stopped after running is stopped (a start would resume where it stopped).
    fn state(&self) -> ReplicationState {
        let sql_failed = !self.sql_yes() && self.sql_error.is_some();
        let io_failed = !self.io_yes() && !self.io_connecting() && self.io_error.is_some();
        if sql_failed || io_failed {
            ReplicationState::Failed
        } else if self.io_yes() && self.sql_yes() {
            ReplicationState::Running
        } else if self.io_connecting() && self.sql_yes() {
            ReplicationState::Starting
        } else if self.stopped() && self.relay_log_pos.is_none_or(|p| p <= 4) {
            ReplicationState::Ready
        } else {
            ReplicationState::Stopped
        }
    }

    fn last_failure(&self) -> Option<String> {
        let describe = |thread: &str, (code, message): &(u64, String)| {
            format!("{thread} thread error {code}: {}", message.trim())
        };
        match (&self.sql_error, &self.io_error) {
            (Some(sql), Some(io)) => {
                Some(format!("{}; {}", describe("SQL", sql), describe("I/O", io)))
            }
            (Some(sql), None) => Some(describe("SQL", sql)),
            (None, Some(io)) => Some(describe("I/O", io)),
            (None, None) => None,
        }
    }
}

/// The latency to report: the server's figure, but never 0 while the executed position is
/// behind the source's (the server says 0 whenever its SQL thread has caught up with what the
/// I/O thread fetched, however far behind both are).
fn cdc_latency(status: &ReplicaStatus, positions: Option<&ReplicationPositions>) -> Option<u64> {
    if status.state() != ReplicationState::Running {
        return None;
    }
    match positions {
        Some(p) if p.source == p.applied => Some(0),
        _ => Some(status.seconds_behind.unwrap_or(0).max(1)),
    }
}

#[async_trait]
impl Replication for NativeReplication {
    async fn ensure_cdc(&self, request: &CdcRequest) -> PortResult<ReplicationHandle> {
        let port = u16::try_from(request.source.port).map_err(|_| {
            PortError::InvalidRequest(format!(
                "source port {} is not a TCP port",
                request.source.port
            ))
        })?;
        let host = &request.source.host;
        if let Some(existing) = self.replica_status().await? {
            return if existing.replicates_from(host, port) {
                Ok(self.handle(request))
            } else {
                Err(PortError::AlreadyExists {
                    resource: Resource::Migration,
                    message: format!(
                        "target {} already replicates from {}:{}, not {host}:{port}; remove that replication first",
                        request.target.cluster_id,
                        existing.source_host,
                        existing.source_port.unwrap_or(0)
                    ),
                })
            };
        }
        let params = vec![
            Value::from(host.as_str()),
            Value::from(i64::from(port)),
            Value::from(self.replication_user.username()),
            Value::from(self.replication_user.password()),
            Value::from(request.start.file.as_str()),
            Value::from(request.start.position),
            Value::from(i64::from(self.replication_ssl)),
        ];
        self.call(
            self.major.set_external(),
            params,
            &format!("configure replication from {host}:{port}"),
        )
        .await?;
        tracing::info!(
            target_cluster = %request.target.cluster_id,
            source = %format!("{host}:{port}"),
            start = %request.start.start_position(),
            "native replication configured"
        );
        Ok(self.handle(request))
    }

    async fn start(&self, handle: &ReplicationHandle) -> PortResult<()> {
        self.check(handle)?;
        let status = self
            .replica_status()
            .await?
            .ok_or_else(|| self.not_configured(handle))?;
        if status.io_yes() && status.sql_yes() {
            return Ok(());
        }
        self.call(
            "CALL mysql.rds_start_replication()",
            Vec::new(),
            "start replication",
        )
        .await
    }

    async fn status(&self, handle: &ReplicationHandle) -> PortResult<ReplicationStatus> {
        self.check(handle)?;
        // Target first, then source: the executed position can then never be ahead of the
        // source's, and equal positions prove the target had everything the source had.
        let status = self
            .replica_status()
            .await?
            .ok_or_else(|| self.not_configured(handle))?;
        let source = self.source_position().await?;
        let positions = status
            .applied
            .clone()
            .map(|applied| ReplicationPositions { source, applied });
        let state = status.state();
        let latency = cdc_latency(&status, positions.as_ref());
        let status_text = format!(
            "io={} sql={} secondsBehind={}{}",
            status.io_running,
            status.sql_running,
            status
                .seconds_behind
                .map_or_else(|| "NULL".to_string(), |s| s.to_string()),
            positions.as_ref().map_or_else(String::new, |p| format!(
                " applied={} source={}",
                p.applied.start_position(),
                p.source.start_position()
            ))
        );
        let secrets = [
            self.replication_user.password(),
            self.target.credentials.password(),
            self.source.credentials.password(),
        ];
        Ok(ReplicationStatus {
            state,
            status_text,
            cdc_latency_seconds: latency,
            last_failure: status
                .last_failure()
                .map(|text| crate::credentials::redact(&text, &secrets)),
            positions,
        })
    }

    async fn stop(&self, handle: &ReplicationHandle) -> PortResult<()> {
        self.check(handle)?;
        match self.replica_status().await? {
            Some(status) if !status.stopped() => {
                self.call(
                    "CALL mysql.rds_stop_replication()",
                    Vec::new(),
                    "stop replication",
                )
                .await
            }
            _ => Ok(()),
        }
    }

    async fn remove(&self, handle: &ReplicationHandle) -> PortResult<()> {
        self.check(handle)?;
        let Some(status) = self.replica_status().await? else {
            return Ok(());
        };
        if !status.stopped() {
            self.call(
                "CALL mysql.rds_stop_replication()",
                Vec::new(),
                "stop replication",
            )
            .await?;
        }
        self.call(self.major.reset_external(), Vec::new(), "reset replication")
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(io: &str, sql: &str, behind: Option<u64>) -> ReplicaStatus {
        ReplicaStatus {
            source_host: "src".into(),
            source_port: Some(3306),
            io_running: io.into(),
            sql_running: sql.into(),
            seconds_behind: behind,
            applied: Some(BinlogPosition::new("mysql-bin.000001", 100)),
            relay_log_pos: Some(1234),
            io_error: None,
            sql_error: None,
        }
    }

    fn positions(source: u64, applied: u64) -> ReplicationPositions {
        ReplicationPositions {
            source: BinlogPosition::new("mysql-bin.000001", source),
            applied: BinlogPosition::new("mysql-bin.000001", applied),
        }
    }

    #[test]
    fn latency_is_never_zero_while_positions_differ() {
        let running = status("Yes", "Yes", Some(0));
        assert_eq!(cdc_latency(&running, Some(&positions(200, 100))), Some(1));
        assert_eq!(cdc_latency(&running, Some(&positions(100, 100))), Some(0));
        let behind = status("Yes", "Yes", Some(42));
        assert_eq!(cdc_latency(&behind, Some(&positions(200, 100))), Some(42));
        assert_eq!(cdc_latency(&running, None), Some(1));
        assert_eq!(
            cdc_latency(&status("No", "No", None), Some(&positions(1, 1))),
            None
        );
    }

    #[test]
    fn thread_states_map_to_replication_states() {
        assert_eq!(
            status("Yes", "Yes", Some(0)).state(),
            ReplicationState::Running
        );
        assert_eq!(
            status("Connecting", "Yes", None).state(),
            ReplicationState::Starting
        );
        assert_eq!(
            status("Preparing", "Yes", None).state(),
            ReplicationState::Starting,
            "MariaDB's I/O thread reads Preparing while it starts"
        );
        assert_eq!(status("No", "No", None).state(), ReplicationState::Stopped);
        let mut configured = status("No", "No", None);
        configured.relay_log_pos = Some(4);
        assert_eq!(configured.state(), ReplicationState::Ready);
        let mut broken = status("Yes", "No", None);
        broken.sql_error = Some((1062, "Duplicate entry '1' for key 'PRIMARY'".into()));
        assert_eq!(broken.state(), ReplicationState::Failed);
        assert_eq!(
            broken.last_failure().as_deref(),
            Some("SQL thread error 1062: Duplicate entry '1' for key 'PRIMARY'")
        );
        let mut refused = status("Connecting", "Yes", None);
        refused.io_error = Some((2003, "error connecting to master".into()));
        assert_eq!(refused.state(), ReplicationState::Starting);
        assert!(refused.last_failure().is_some());
        refused.io_running = "No".into();
        assert_eq!(refused.state(), ReplicationState::Failed);
    }

    #[test]
    fn major_versions_pick_their_procedures() {
        assert_eq!(
            AuroraMajorVersion::from_number(2).map(AuroraMajorVersion::set_external),
            Some("CALL mysql.rds_set_external_master(?, ?, ?, ?, ?, ?, ?)")
        );
        assert_eq!(
            AuroraMajorVersion::from_number(3).map(AuroraMajorVersion::reset_external),
            Some("CALL mysql.rds_reset_external_source()")
        );
        assert_eq!(AuroraMajorVersion::from_number(1), None);
    }
}
