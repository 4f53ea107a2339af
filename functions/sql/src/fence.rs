//! [`SqlFence`]: the fence's data-plane half ([`FenceSql`]) over SQL, the one implementation
//! the AWS fence and the sandbox fence both run.
//!
//! Security groups stop new connections only, and `read_only` binds nobody holding
//! `CONNECTION_ADMIN` or `SUPER` (MySQL, Aurora's master user among them) or `READ_ONLY ADMIN`
//! (MariaDB). So on one session to the writer, as a user allowed to end others' sessions:
//!
//! 1. the run's schema ([`MARKER_SCHEMA`]) and a probe user with `INSERT` on one of its tables
//!    are created (idempotent; they replicate to the target like any DDL): by
//!    [`FenceSql::prepare`] before the control-plane half fences, so that this DDL is not part of
//!    the write pause, or else here;
//! 2. every session that is not this one, not a binlog reader (`Binlog Dump…`: native
//!    replication and DMS), not the server's own and not `rdsadmin`'s is ended with
//!    `CALL mysql.rds_kill(id)` (Aurora's procedure; the sandbox installs a stand-in);
//! 3. the fence is checked: no such session is left (without the `security-group` method, users
//!    that `read_only` binds reconnect and are harmless, so then none of a user that bypasses
//!    `read_only`), `@@global.read_only` reads 1 and a write by the probe user fails with
//!    `ER_OPTION_PREVENTS_STATEMENT` (when `read-only` is a method);
//! 4. 2–3 repeat (backing off from 20 ms to 500 ms) until every check holds, and still no
//!    session has appeared [`SETTLE`] later (a writer that reconnects the moment it is cut off,
//!    where no security group stops it, is caught here), or until the bound passes;
//! 5. once confirmed, the marker row is written through the same session and the writer's
//!    binlog position read after it.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use aurora_core::binlog::BinlogPosition;
use aurora_core::errors::PortError;
use aurora_core::ports::{
    FenceConfirmation, FenceMarker, FenceSql, PortResult, ReadOnlyBypassUser, SessionFenceOutcome,
    SessionFenceRequest, MARKER_SCHEMA,
};
use mysql_async::Value;

use crate::conn::{cell, codes, column, column_u64, connect, server_code, Session};
use crate::credentials::{ConnectionSettings, Credentials};

/// The user whose write must fail under the fence: no privilege but `INSERT` on the probe table.
pub const PROBE_USER: &str = "aurora_encrypt_probe";
/// How long the writer must stay free of application sessions once every check holds.
pub(crate) const SETTLE: Duration = Duration::from_millis(50);
/// `ER_NO_SUCH_THREAD`: the session ended by itself meanwhile.
const NO_SUCH_THREAD: u16 = 1094;

/// Sessions the fence ends: every one but its own, the server's threads and binlog readers
/// (native replication's IO thread, DMS); the service's users (Aurora's `rdsadmin`) are left out
/// by [`WriterConnections::service_users`].
const APPLICATION_SESSIONS: &str = "SELECT ID, USER, HOST, COMMAND \
     FROM information_schema.PROCESSLIST \
     WHERE ID <> CONNECTION_ID() \
       AND USER NOT IN ('system user', 'event_scheduler') \
       AND COMMAND NOT LIKE 'Binlog Dump%' \
       AND COMMAND NOT IN ('Daemon', 'Slave_IO', 'Slave_SQL', 'Slave_worker') \
     ORDER BY ID";

/// Resolves the connection settings of a cluster's writer for a user allowed to end others'
/// sessions and to write under `read_only` (Aurora: the master user).
#[async_trait]
pub trait WriterConnections: Send + Sync {
    async fn writer(&self, cluster_id: &str) -> PortResult<ConnectionSettings>;

    /// Users of the service itself, whose sessions are neither ended nor counted as writers:
    /// Aurora's `rdsadmin` (the sandbox adds the user its control plane connects as).
    fn service_users(&self) -> &'static [&'static str] {
        &["rdsadmin"]
    }
}

/// One set of writers shared by several users (the fence and both verifiers of a run).
#[async_trait]
impl<T: WriterConnections + ?Sized> WriterConnections for std::sync::Arc<T> {
    async fn writer(&self, cluster_id: &str) -> PortResult<ConnectionSettings> {
        (**self).writer(cluster_id).await
    }

    fn service_users(&self) -> &'static [&'static str] {
        (**self).service_users()
    }
}

/// One cluster's writer, known up front (a Lambda invocation, a test).
#[derive(Debug, Clone)]
pub struct FixedWriters(pub Vec<(String, ConnectionSettings)>);

#[async_trait]
impl WriterConnections for FixedWriters {
    async fn writer(&self, cluster_id: &str) -> PortResult<ConnectionSettings> {
        self.0
            .iter()
            .find(|(id, _)| id == cluster_id)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| {
                PortError::InvalidRequest(format!("no connection settings for `{cluster_id}`"))
            })
    }
}

/// [`FenceSql`] over the writers `connections` resolves.
pub struct SqlFence<C> {
    connections: C,
    /// Cluster id → the probe user's password, from a [`FenceSql::prepare`] not yet used by a
    /// confirmation (kept in memory only: one invocation prepares, then confirms).
    prepared: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl<C: WriterConnections> SqlFence<C> {
    pub fn new(connections: C) -> Self {
        Self {
            connections,
            prepared: Default::default(),
        }
    }

    fn take_prepared(&self, cluster_id: &str) -> Option<String> {
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(cluster_id)
    }
}

/// A session the fence would end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationSession {
    pub id: u64,
    pub user: String,
    pub host: String,
    pub command: String,
}

impl std::fmt::Display for ApplicationSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "session {} ({}@{}, {})",
            self.id, self.user, self.host, self.command
        )
    }
}

/// The application sessions on the server, as the fence sees them.
pub(crate) async fn application_sessions(
    session: &mut Session<'_>,
    service_users: &[&str],
) -> PortResult<Vec<ApplicationSession>> {
    let rows = session
        .query(APPLICATION_SESSIONS, "list application sessions")
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            Some(ApplicationSession {
                id: column_u64(row, &["ID"])?,
                user: column(row, &["USER"]).unwrap_or_default(),
                host: column(row, &["HOST"]).unwrap_or_default(),
                command: column(row, &["COMMAND"]).unwrap_or_default(),
            })
        })
        .filter(|s| !service_users.contains(&s.user.as_str()))
        .collect())
}

/// Ends `sessions` with `mysql.rds_kill`; returns how many it ended (a session gone meanwhile is
/// not counted).
pub(crate) async fn end_sessions(
    session: &mut Session<'_>,
    sessions: &[ApplicationSession],
) -> PortResult<u32> {
    let mut ended = 0;
    for target in sessions {
        match session
            .exec_drop_raw("CALL mysql.rds_kill(?)", vec![Value::UInt(target.id)])
            .await
        {
            Ok(()) => ended += 1,
            Err(e) if server_code(&e) == Some(NO_SUCH_THREAD) => {}
            Err(e) => return Err(session.error(&e, &format!("end {target}"))),
        }
    }
    Ok(ended)
}

fn random_password() -> PortResult<String> {
    use std::io::Read;
    let mut bytes = [0u8; 18];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| PortError::Other(format!("no randomness for the probe password: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The run's schema and the probe user, with a fresh password (returned).
async fn prepare(session: &mut Session<'_>) -> PortResult<String> {
    let password = random_password()?;
    let schema = crate::quote_identifier(MARKER_SCHEMA);
    for statement in [
        format!("CREATE DATABASE IF NOT EXISTS {schema}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {schema}.fence_marker (\
               execution VARCHAR(128) NOT NULL, sequence BIGINT UNSIGNED NOT NULL, \
               written_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), \
               PRIMARY KEY (execution, sequence)) ENGINE = InnoDB"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {schema}.write_probe (\
               id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, \
               written_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE = InnoDB"
        ),
        // Generated hex: safe to inline (CREATE USER takes no placeholders).
        format!("CREATE USER IF NOT EXISTS '{PROBE_USER}'@'%' IDENTIFIED BY '{password}'"),
        format!("ALTER USER '{PROBE_USER}'@'%' IDENTIFIED BY '{password}'"),
        format!("GRANT INSERT ON {schema}.write_probe TO '{PROBE_USER}'@'%'"),
    ] {
        session
            .query(&statement, "prepare the fence schema")
            .await?;
    }
    Ok(password)
}

/// What one check found wrong, or `None` when the fence holds.
async fn check(
    session: &mut Session<'_>,
    settings: &ConnectionSettings,
    probe_password: &str,
    request: &SessionFenceRequest,
    service_users: &[&str],
) -> PortResult<(Option<String>, bool, Option<bool>)> {
    let read_only = request.read_only;
    let left = writers_left(session, request.new_connections_refused, service_users).await?;
    let rows = session
        .query("SELECT @@global.read_only AS ro", "read read_only")
        .await?;
    let is_read_only = rows
        .first()
        .and_then(|r| cell(r, 0))
        .is_some_and(|v| v.trim() == "1");
    if !left.is_empty() {
        let listed: Vec<String> = left.iter().take(5).map(ToString::to_string).collect();
        return Ok((
            Some(format!(
                "{} application session(s) left: {}",
                left.len(),
                listed.join(", ")
            )),
            is_read_only,
            None,
        ));
    }
    if !read_only {
        return Ok((None, is_read_only, None));
    }
    if !is_read_only {
        return Ok((
            Some("@@global.read_only reads 0 on the writer".into()),
            false,
            None,
        ));
    }
    match probe_write(settings, probe_password).await? {
        Ok(()) => Ok((
            Some(format!(
                "a write by the ordinary user `{PROBE_USER}` went through"
            )),
            true,
            Some(false),
        )),
        Err(reason) => match reason {
            ProbeRefusal::ReadOnly => Ok((None, true, Some(true))),
            ProbeRefusal::Other(reason) => Ok((Some(reason), true, None)),
        },
    }
}

enum ProbeRefusal {
    /// Refused by `read_only`: the proof wanted.
    ReadOnly,
    /// Failed for another reason: proves nothing.
    Other(String),
}

/// The sessions that must not be there: every application session, or without the security
/// group only those of users that bypass `read_only`.
async fn writers_left(
    session: &mut Session<'_>,
    new_connections_refused: bool,
    service_users: &[&str],
) -> PortResult<Vec<ApplicationSession>> {
    let sessions = application_sessions(session, service_users).await?;
    if new_connections_refused || sessions.is_empty() {
        return Ok(sessions);
    }
    let bypass = crate::bypass::read_only_bypass_users(session).await?;
    Ok(sessions
        .into_iter()
        .filter(|s| {
            bypass
                .iter()
                .any(|u| crate::bypass::user_name(&u.grantee) == s.user)
        })
        .collect())
}

/// Tries one write as the probe user; `Ok(Ok(()))` means it went through.
async fn probe_write(
    writer: &ConnectionSettings,
    password: &str,
) -> PortResult<Result<(), ProbeRefusal>> {
    let mut settings = writer.clone();
    settings.credentials = Credentials::new(PROBE_USER, password);
    let mut probe = match connect(&settings).await {
        Ok(probe) => probe,
        Err(e) => {
            return Ok(Err(ProbeRefusal::Other(format!(
                "the probe user could not connect: {e}"
            ))))
        }
    };
    let sql = format!(
        "INSERT INTO {}.write_probe () VALUES ()",
        crate::quote_identifier(MARKER_SCHEMA)
    );
    let outcome = match probe.query_raw(&sql).await {
        Ok(_) => Ok(()),
        Err(e) if server_code(&e) == Some(codes::OPTION_PREVENTS_STATEMENT) => {
            Err(ProbeRefusal::ReadOnly)
        }
        Err(e) => Err(ProbeRefusal::Other(format!(
            "the probe write failed without proving read_only: {}",
            probe.error(&e, "probe write")
        ))),
    };
    probe.close().await;
    Ok(outcome)
}

/// Writes the next marker of `execution` and reads the binlog position after it.
async fn write_marker(
    session: &mut Session<'_>,
    execution: &str,
) -> PortResult<(FenceMarker, BinlogPosition)> {
    let schema = crate::quote_identifier(MARKER_SCHEMA);
    session
        .exec_drop(
            &format!(
                "INSERT INTO {schema}.fence_marker (execution, sequence) \
                 SELECT ?, COALESCE(MAX(sequence), 0) + 1 FROM {schema}.fence_marker \
                 WHERE execution = ?"
            ),
            vec![execution.into(), execution.into()],
            "write the fence marker",
        )
        .await?;
    let rows = session
        .exec(
            &format!("SELECT MAX(sequence) AS s FROM {schema}.fence_marker WHERE execution = ?"),
            vec![execution.into()],
            "read the fence marker",
        )
        .await?;
    let sequence = rows
        .first()
        .and_then(|r| column_u64(r, &["s"]))
        .ok_or_else(|| PortError::Other("the fence marker was not written".into()))?;
    let position = binlog_position(session).await?;
    Ok((
        FenceMarker {
            execution: execution.to_string(),
            sequence,
        },
        position,
    ))
}

/// The server's current binlog position, read through `session`.
pub(crate) async fn binlog_position(session: &mut Session<'_>) -> PortResult<BinlogPosition> {
    let rows = match session.query_raw("SHOW MASTER STATUS").await {
        Ok(rows) => rows,
        // MySQL 8.4 renamed the statement.
        Err(e) if server_code(&e) == Some(codes::PARSE_ERROR) => {
            session
                .query("SHOW BINARY LOG STATUS", "read binlog position")
                .await?
        }
        Err(e) => return Err(session.error(&e, "read binlog position")),
    };
    let address = session.settings.address();
    let row = rows
        .first()
        .ok_or_else(|| PortError::InvalidState(format!("binary logging is off on {address}")))?;
    match (column(row, &["File"]), column_u64(row, &["Position"])) {
        (Some(file), Some(position)) => Ok(BinlogPosition::new(file, position)),
        _ => Err(PortError::Other(format!(
            "SHOW MASTER STATUS on {address} has no File/Position"
        ))),
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl<C: WriterConnections> FenceSql for SqlFence<C> {
    async fn prepare(&self, cluster_id: &str) -> PortResult<()> {
        let settings = self.connections.writer(cluster_id).await?;
        let mut session = connect(&settings).await?;
        let password = prepare(&mut session).await;
        session.close().await;
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cluster_id.to_string(), password?);
        Ok(())
    }

    async fn end_sessions_and_confirm(
        &self,
        request: &SessionFenceRequest,
    ) -> PortResult<SessionFenceOutcome> {
        let settings = self.connections.writer(&request.cluster_id).await?;
        let prepared = self.take_prepared(&request.cluster_id);
        let mut session = connect(&settings).await?;
        let service_users = self.connections.service_users();
        let outcome = confirm(&mut session, &settings, request, service_users, prepared).await;
        session.close().await;
        outcome
    }

    async fn write_marker(&self, cluster_id: &str, execution: &str) -> PortResult<FenceMarker> {
        let settings = self.connections.writer(cluster_id).await?;
        let mut session = connect(&settings).await?;
        let written = write_marker(&mut session, execution).await;
        session.close().await;
        Ok(written?.0)
    }

    async fn binlog_position(&self, cluster_id: &str) -> PortResult<BinlogPosition> {
        let settings = self.connections.writer(cluster_id).await?;
        let mut session = connect(&settings).await?;
        let position = binlog_position(&mut session).await;
        session.close().await;
        position
    }

    async fn marker_arrived(&self, cluster_id: &str, marker: &FenceMarker) -> PortResult<bool> {
        let settings = self.connections.writer(cluster_id).await?;
        let mut session = connect(&settings).await?;
        let rows = session
            .exec(
                &format!(
                    "SELECT 1 FROM {}.fence_marker WHERE execution = ? AND sequence = ?",
                    crate::quote_identifier(MARKER_SCHEMA)
                ),
                vec![
                    marker.execution.as_str().into(),
                    Value::UInt(marker.sequence),
                ],
                "read the fence marker",
            )
            .await;
        session.close().await;
        match rows {
            Ok(rows) => Ok(!rows.is_empty()),
            // The schema itself has not replicated yet.
            Err(e) if e.is_not_found(aurora_core::errors::Resource::Other) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn remove_marker_schema(&self, cluster_id: &str) -> PortResult<()> {
        let settings = self.connections.writer(cluster_id).await?;
        let mut session = connect(&settings).await?;
        let mut removed = Ok(());
        for statement in [
            format!(
                "DROP DATABASE IF EXISTS {}",
                crate::quote_identifier(MARKER_SCHEMA)
            ),
            format!("DROP USER IF EXISTS '{PROBE_USER}'@'%'"),
        ] {
            removed = session
                .query(&statement, "remove the fence schema")
                .await
                .map(|_| ());
            if removed.is_err() {
                break;
            }
        }
        session.close().await;
        removed
    }

    async fn read_only_bypass_users(
        &self,
        cluster_id: &str,
    ) -> PortResult<Vec<ReadOnlyBypassUser>> {
        let settings = self.connections.writer(cluster_id).await?;
        let mut session = connect(&settings).await?;
        let service_users = self.connections.service_users();
        let users = crate::bypass::read_only_bypass_users(&mut session)
            .await
            .map(|users| {
                users
                    .into_iter()
                    .filter(|u| !service_users.contains(&crate::bypass::user_name(&u.grantee)))
                    .collect()
            });
        session.close().await;
        users
    }
}

async fn confirm(
    session: &mut Session<'_>,
    settings: &ConnectionSettings,
    request: &SessionFenceRequest,
    service_users: &[&str],
    probe_password: Option<String>,
) -> PortResult<SessionFenceOutcome> {
    let probe_password = match probe_password {
        Some(password) => password,
        None => prepare(session).await?,
    };
    let started = Instant::now();
    let mut rounds = 0;
    let mut ended = 0;
    let mut pause = Duration::from_millis(20);
    loop {
        rounds += 1;
        let sessions = application_sessions(session, service_users).await?;
        ended += end_sessions(session, &sessions).await?;
        let (problem, read_only, refused) =
            check(session, settings, &probe_password, request, service_users).await?;
        let problem = match problem {
            None => {
                tokio::time::sleep(SETTLE).await;
                let back =
                    writers_left(session, request.new_connections_refused, service_users).await?;
                (!back.is_empty()).then(|| {
                    let listed: Vec<String> =
                        back.iter().take(5).map(ToString::to_string).collect();
                    format!(
                        "application session(s) came back within {SETTLE:?}: {}",
                        listed.join(", ")
                    )
                })
            }
            Some(reason) => Some(reason),
        };
        match problem {
            None => {
                let (marker, position) = write_marker(session, &request.execution).await?;
                return Ok(SessionFenceOutcome::Confirmed(FenceConfirmation {
                    position,
                    marker,
                    sessions_ended: ended,
                    rounds,
                    read_only,
                    ordinary_write_refused: refused,
                    confirm_ms: elapsed_ms(started),
                }));
            }
            Some(reason) if started.elapsed() >= request.timeout => {
                return Ok(SessionFenceOutcome::NotConfirmed { reason, rounds });
            }
            Some(_) => {
                let left = request.timeout.saturating_sub(started.elapsed());
                tokio::time::sleep(pause.min(left)).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
        }
    }
}
