//! The settings of a server that the parity check compares between source and target
//! ([`aurora_core::parity`]): what binlog replication does not carry, read the same way on
//! MySQL 8.0 (Aurora MySQL 3) and MariaDB 10.11, from `information_schema` columns both have.
//!
//! - `variable:<name>`: every global variable (`SHOW GLOBAL VARIABLES`: the effective values,
//!   i.e. what the parameter groups set), except those in [`EXCLUDED_VARIABLES`], which differ
//!   between any two servers by nature;
//! - `event:<db>.<name>`, `trigger:<db>.<name>`, `routine:<db>.<name>`, `view:<db>.<name>`:
//!   each object of the user databases with its `DEFINER`, the options it runs under
//!   (`sql_mode`, security type, character set and collations, status, timing) and a SHA-256
//!   of its definition or body, so a value stays short and shows no code;
//! - `timezone:tables`: the row counts of `mysql.time_zone_name` and
//!   `mysql.time_zone_transition` and an order-independent digest of their rows (SHA-256 per
//!   row, XOR-folded), so `CONVERT_TZ` answers the same on both sides.
//!
//! Accounts are read apart ([`crate::accounts`]) and compared by
//! `aurora_core::steps::verify::compare_accounts`.
//!
//! Privileges: global variables need none. Events are listed for schemas where the user has
//! `EVENT`, triggers for tables where it has `TRIGGER`; routine bodies need `SHOW_ROUTINE`
//! (MySQL 8.0.20+) or `SELECT` on `mysql.proc` (MariaDB) or global `SELECT`, view definitions
//! `SHOW VIEW`; the time zone tables `SELECT` on `mysql.time_zone_name` and
//! `mysql.time_zone_transition`. A routine or view whose definition the user cannot read is
//! refused (`AccessDenied`) rather than compared as equal. Aurora's master user has all of
//! these.
//!
//! Smoke queries ([`smoke_query`]) run in `START TRANSACTION READ ONLY`, bounded on the server
//! by `max_statement_time` (MariaDB) or `max_execution_time` (MySQL), and rolled back.

use std::time::Duration;

use aurora_core::errors::PortError;
use aurora_core::parity::matches;
use aurora_core::ports::{PortResult, ServerSettings, SmokeOutcome};
use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};

use crate::conn::{cell, codes, connect, server_code, Session};
use crate::credentials::ConnectionSettings;
use crate::verify::{placeholders, SYSTEM_DATABASES};

/// Global variables left out of the comparison (glob patterns), each with why: they differ
/// between any two servers whatever their parameter groups say, or another step sets them.
pub const EXCLUDED_VARIABLES: &[(&str, &str)] = &[
    ("server_id", "identifies the server"),
    ("server_uuid", "identifies the server"),
    ("server_uid", "identifies the server (MariaDB)"),
    ("hostname", "the host the server runs on"),
    ("aurora_server_id", "identifies the instance"),
    ("aurora_version", "the build"),
    ("version*", "the build"),
    ("innodb_version", "the build"),
    ("timestamp", "the time of the read"),
    (
        "report_*",
        "how the server names itself to a replication source",
    ),
    ("port", "where the server listens"),
    ("*_port", "where the server listens"),
    ("bind_address", "where the server listens"),
    ("*_address", "where the server listens"),
    ("socket", "a path"),
    ("*_socket", "a path"),
    ("pid_file", "a path"),
    ("log_error", "a path"),
    ("*_file", "a path"),
    ("*_path", "a path"),
    ("*dir", "a path"),
    ("*_directory", "a path"),
    ("secure_file_priv", "a path"),
    ("ssl_*", "certificate paths of the instance"),
    (
        "*binlog*",
        "binlog settings: the runbook sets them for the migration",
    ),
    (
        "log_bin*",
        "binlog settings: the runbook sets them for the migration",
    ),
    (
        "expire_logs_days",
        "binlog retention, set for the migration",
    ),
    ("gtid_*", "the server's own transaction history"),
    (
        "enforce_gtid_consistency",
        "replication mode, set for the migration",
    ),
    ("read_only", "the fence and the replica role set it"),
    ("super_read_only", "the fence and the replica role set it"),
    ("innodb_read_only", "the replica role"),
    ("log_slave_updates", "replication role"),
    ("log_replica_updates", "replication role"),
    ("slave_*", "replication role"),
    ("replica_*", "replication role"),
    ("*relay_log*", "replication role"),
    ("rpl_*", "replication role"),
    ("master_*", "replication role"),
    ("source_*", "replication role"),
    ("replicate_*", "replication filters of a replica"),
    ("sync_master_info", "replication role"),
    ("sync_source_info", "replication role"),
    ("skip_slave_start", "replication role"),
    ("skip_replica_start", "replication role"),
    ("init_slave", "replication role"),
    ("init_replica", "replication role"),
    ("wsrep_*", "Galera node identity"),
    ("innodb_buffer_pool_size", "sized by the instance class"),
    (
        "innodb_buffer_pool_instances",
        "sized by the instance class",
    ),
    (
        "innodb_buffer_pool_chunk_size",
        "sized by the instance class",
    ),
    ("innodb_log_buffer_size", "sized by the instance class"),
    ("innodb_read_io_threads", "sized by the instance class"),
    ("innodb_write_io_threads", "sized by the instance class"),
    ("innodb_purge_threads", "sized by the instance class"),
    ("innodb_page_cleaners", "sized by the instance class"),
    (
        "innodb_adaptive_hash_index_parts",
        "sized by the instance class",
    ),
    ("max_connections", "sized by the instance class"),
    ("back_log", "sized from max_connections"),
    ("host_cache_size", "sized from max_connections"),
    ("table_open_cache*", "sized by the instance class"),
    ("table_definition_cache", "sized by the instance class"),
    (
        "open_files_limit",
        "sized by the instance class and the host",
    ),
    ("thread_cache_size", "sized by the instance class"),
    ("thread_pool_size", "the host's processors"),
    ("key_buffer_size", "sized by the instance class"),
    ("performance_schema_*", "sized automatically by the server"),
    ("large_page_size", "the host"),
    (
        "innodb_log_file_buffering",
        "chosen by MariaDB at start-up for the storage the redo log is on",
    ),
    (
        "innodb_encrypt_*",
        "the target is encrypted (in the MariaDB sandbox by server settings)",
    ),
    ("innodb_encryption_*", "the target is encrypted"),
    (
        "innodb_default_encryption_key_id",
        "the target is encrypted",
    ),
    ("encrypt_*", "the target is encrypted"),
    ("aria_encrypt_tables", "the target is encrypted"),
    ("file_key_management*", "the target's key management"),
    (
        "innodb_immediate_scrub_data_uncompressed",
        "set on the encrypted copy so that freed pages keep no plaintext",
    ),
];

/// Whether a global variable is left out of the comparison ([`EXCLUDED_VARIABLES`]).
pub fn variable_excluded(name: &str) -> bool {
    EXCLUDED_VARIABLES
        .iter()
        .any(|(pattern, _)| matches(pattern, name))
}

/// The comparable settings of the server `settings` logs in to.
pub async fn server_settings(settings: &ConnectionSettings) -> PortResult<ServerSettings> {
    let mut session = connect(settings).await?;
    let read = read_settings(&mut session).await;
    session.close().await;
    read
}

async fn read_settings(session: &mut Session<'_>) -> PortResult<ServerSettings> {
    let mut out = ServerSettings::new();
    for row in session
        .query("SHOW GLOBAL VARIABLES", "read global variables")
        .await?
    {
        let Some(name) = cell(&row, 0) else { continue };
        let name = name.to_ascii_lowercase();
        if !variable_excluded(&name) {
            out.insert(
                format!("variable:{name}"),
                cell(&row, 1).unwrap_or_default(),
            );
        }
    }
    let system = SYSTEM_DATABASES
        .iter()
        .map(|d| Value::from(*d))
        .collect::<Vec<_>>();
    let not_system = placeholders(SYSTEM_DATABASES.len());

    let events = format!(
        "SELECT EVENT_SCHEMA, EVENT_NAME, DEFINER, STATUS, SQL_MODE, TIME_ZONE, \
         CHARACTER_SET_CLIENT, COLLATION_CONNECTION, DATABASE_COLLATION, \
         SHA2(CONCAT_WS('\\n', EVENT_DEFINITION, EVENT_TYPE, COALESCE(EXECUTE_AT, ''), \
           COALESCE(INTERVAL_VALUE, ''), COALESCE(INTERVAL_FIELD, ''), COALESCE(STARTS, ''), \
           COALESCE(ENDS, ''), ON_COMPLETION, COALESCE(EVENT_COMMENT, '')), 256) \
         FROM information_schema.EVENTS WHERE EVENT_SCHEMA NOT IN ({not_system})"
    );
    for row in session.exec(&events, system.clone(), "list events").await? {
        let options = format!("status={} time_zone={}", text(&row, 3), text(&row, 5));
        insert_object(&mut out, "event", &row, &options, 4, 6, 9);
    }

    let triggers = format!(
        "SELECT TRIGGER_SCHEMA, TRIGGER_NAME, DEFINER, EVENT_OBJECT_TABLE, ACTION_TIMING, \
         EVENT_MANIPULATION, ACTION_ORDER, SQL_MODE, CHARACTER_SET_CLIENT, COLLATION_CONNECTION, \
         DATABASE_COLLATION, SHA2(ACTION_STATEMENT, 256) \
         FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA NOT IN ({not_system})"
    );
    for row in session
        .exec(&triggers, system.clone(), "list triggers")
        .await?
    {
        let options = format!(
            "{} {} ON {} order={}",
            text(&row, 4),
            text(&row, 5),
            text(&row, 3),
            text(&row, 6)
        );
        insert_object(&mut out, "trigger", &row, &options, 7, 8, 11);
    }

    let routines = format!(
        "SELECT r.ROUTINE_SCHEMA, r.ROUTINE_NAME, r.DEFINER, r.ROUTINE_TYPE, r.SECURITY_TYPE, \
         r.SQL_MODE, r.CHARACTER_SET_CLIENT, r.COLLATION_CONNECTION, r.DATABASE_COLLATION, \
         SHA2(CONCAT_WS('\\n', r.ROUTINE_DEFINITION, COALESCE(r.DTD_IDENTIFIER, ''), \
           r.IS_DETERMINISTIC, r.SQL_DATA_ACCESS, COALESCE(r.ROUTINE_COMMENT, ''), \
           COALESCE((SELECT GROUP_CONCAT(CONCAT_WS(' ', COALESCE(p.PARAMETER_MODE, ''), \
              COALESCE(p.PARAMETER_NAME, ''), p.DTD_IDENTIFIER) \
              ORDER BY p.ORDINAL_POSITION SEPARATOR ', ') \
            FROM information_schema.PARAMETERS p \
            WHERE p.SPECIFIC_SCHEMA = r.ROUTINE_SCHEMA AND p.SPECIFIC_NAME = r.SPECIFIC_NAME \
              AND p.ROUTINE_TYPE = r.ROUTINE_TYPE AND p.ORDINAL_POSITION > 0), '')), 256), \
         r.ROUTINE_DEFINITION IS NULL \
         FROM information_schema.ROUTINES r WHERE r.ROUTINE_SCHEMA NOT IN ({not_system}) \
         ORDER BY r.ROUTINE_TYPE"
    );
    for row in session
        .exec(&routines, system.clone(), "list routines")
        .await?
    {
        if text(&row, 10) == "1" {
            return Err(unreadable(
                "routine",
                &row,
                "SHOW_ROUTINE (MySQL 8.0.20+), SELECT on mysql.proc (MariaDB) or global SELECT",
            ));
        }
        let options = format!("{} security={}", text(&row, 3), text(&row, 4));
        insert_object(&mut out, "routine", &row, &options, 5, 6, 9);
    }

    // `information_schema.VIEWS` has no `SQL_MODE` nor `DATABASE_COLLATION`: empty columns keep
    // the positions `insert_object` reads the same for every kind.
    let views = format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, DEFINER, SECURITY_TYPE, CHECK_OPTION, '', \
         CHARACTER_SET_CLIENT, COLLATION_CONNECTION, '', \
         SHA2(VIEW_DEFINITION, 256), COALESCE(VIEW_DEFINITION, '') = '' \
         FROM information_schema.VIEWS WHERE TABLE_SCHEMA NOT IN ({not_system})"
    );
    for row in session.exec(&views, system, "list views").await? {
        if text(&row, 10) == "1" {
            return Err(unreadable("view", &row, "SHOW VIEW"));
        }
        let options = format!("security={} check={}", text(&row, 3), text(&row, 4));
        insert_object(&mut out, "view", &row, &options, 5, 6, 9);
    }

    let zones = session
        .query(
            "SELECT (SELECT COUNT(*) FROM mysql.time_zone_name), \
             (SELECT COUNT(*) FROM mysql.time_zone_transition), \
             (SELECT COALESCE(BIT_XOR(CAST(CONV(LEFT(SHA2(CONCAT_WS(',', Name, Time_zone_id), 256), 16), 16, 10) AS UNSIGNED)), 0) \
                FROM mysql.time_zone_name) ^ \
             (SELECT COALESCE(BIT_XOR(CAST(CONV(LEFT(SHA2(CONCAT_WS(',', Time_zone_id, Transition_time, Transition_type_id), 256), 16), 16, 10) AS UNSIGNED)), 0) \
                FROM mysql.time_zone_transition)",
            "digest the time zone tables",
        )
        .await?;
    if let Some(row) = zones.first() {
        let digest = cell(row, 2)
            .and_then(|d| d.parse::<u64>().ok())
            .unwrap_or_default();
        out.insert(
            "timezone:tables".into(),
            format!(
                "names={} transitions={} digest={digest:016x}",
                text(row, 0),
                text(row, 1)
            ),
        );
    }
    Ok(out)
}

fn text(row: &Row, index: usize) -> String {
    cell(row, index).unwrap_or_default()
}

/// `kind:<db>.<name>` from columns 0 and 1, with the definer (2), `options`, `sql_mode` (at
/// `sql_mode`), character set and collations (`charset`, `charset + 1`, `charset + 2`) and the
/// digest (at `digest`). Two routines of one name (a function and a procedure) share the entry.
fn insert_object(
    out: &mut ServerSettings,
    kind: &str,
    row: &Row,
    options: &str,
    sql_mode: usize,
    charset: usize,
    digest: usize,
) {
    let name = format!("{kind}:{}.{}", text(row, 0), text(row, 1));
    let digest = text(row, digest);
    let value = format!(
        "definer={} {options} sql_mode={} charset={} collation={} database_collation={} body=sha256:{}",
        text(row, 2),
        text(row, sql_mode),
        text(row, charset),
        text(row, charset + 1),
        text(row, charset + 2),
        digest.get(..16).unwrap_or(&digest),
    );
    out.entry(name)
        .and_modify(|v| {
            v.push_str(" | ");
            v.push_str(&value);
        })
        .or_insert(value);
}

fn unreadable(kind: &str, row: &Row, privilege: &str) -> PortError {
    PortError::AccessDenied(format!(
        "the definition of {kind} `{}`.`{}` is hidden from this user: grant {privilege} so that parity can compare it",
        text(row, 0),
        text(row, 1)
    ))
}

/// Runs `sql` on the server `settings` logs in to, in a read-only transaction bounded by
/// `timeout`, counting the rows without keeping them.
pub async fn smoke_query(
    settings: &ConnectionSettings,
    sql: &str,
    timeout: Duration,
) -> PortResult<SmokeOutcome> {
    let mut session = connect(settings).await?;
    match run_smoke(&mut session, sql, timeout).await {
        // The query was abandoned mid-flight: the connection is in no state to say goodbye.
        Ok(None) => Ok(SmokeOutcome::Failed(format!(
            "ran longer than {} s (smoke.timeoutSeconds)",
            timeout.as_secs()
        ))),
        Ok(Some(outcome)) => {
            let _ = session.query_raw("ROLLBACK").await;
            session.close().await;
            Ok(outcome)
        }
        Err(e) => {
            session.close().await;
            Err(e)
        }
    }
}

/// `None` when the client gave up waiting.
async fn run_smoke(
    session: &mut Session<'_>,
    sql: &str,
    timeout: Duration,
) -> PortResult<Option<SmokeOutcome>> {
    let seconds = timeout.as_secs_f64();
    if let Err(e) = session
        .query_raw(&format!("SET SESSION max_statement_time = {seconds}"))
        .await
    {
        if server_code(&e) != Some(codes::UNKNOWN_SYSTEM_VARIABLE) {
            return Err(session.error(&e, "bound the smoke query"));
        }
        session
            .query(
                &format!("SET SESSION max_execution_time = {}", timeout.as_millis()),
                "bound the smoke query",
            )
            .await?;
    }
    session
        .query(
            "START TRANSACTION READ ONLY",
            "start a read-only transaction",
        )
        .await?;
    let run = async {
        let mut result = session.conn.query_iter(sql).await?;
        let mut rows = 0u64;
        result.for_each(|_| rows += 1).await?;
        // A statement returns one result set; whatever else the server sends is read and dropped.
        result.drop_result().await?;
        Ok::<_, mysql_async::Error>(rows)
    };
    // The server stops the query at `timeout`; the client waits a little longer for it to say so.
    match tokio::time::timeout(timeout + Duration::from_secs(5), run).await {
        Err(_) => Ok(None),
        Ok(Ok(rows)) => Ok(Some(SmokeOutcome::Rows(rows))),
        Ok(Err(mysql_async::Error::Server(e))) => Ok(Some(SmokeOutcome::Failed(format!(
            "{} (error {})",
            e.message, e.code
        )))),
        Ok(Err(e)) => Err(session.error(&e, "run the smoke query")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_paths_and_replication_settings_are_excluded() {
        for name in [
            "server_id",
            "server_uuid",
            "datadir",
            "innodb_data_home_dir",
            "general_log_file",
            "binlog_format",
            "max_binlog_size",
            "log_bin_basename",
            "gtid_binlog_pos",
            "read_only",
            "slave_parallel_threads",
            "relay_log_space_limit",
            "innodb_buffer_pool_size",
            "version_comment",
            "innodb_encrypt_tables",
        ] {
            assert!(variable_excluded(name), "{name}");
        }
        for name in [
            "sql_mode",
            "time_zone",
            "character_set_server",
            "max_allowed_packet",
            "innodb_flush_log_at_trx_commit",
            "transaction_isolation",
            "event_scheduler",
        ] {
            assert!(!variable_excluded(name), "{name}");
        }
    }
}
