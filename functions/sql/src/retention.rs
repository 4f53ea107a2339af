//! `SqlBinlogRetention`: how many hours the source keeps its binlogs.
//!
//! Aurora: `CALL mysql.rds_show_configuration`, row `binlog retention hours` (NULL when unset:
//! Aurora then purges binlogs as soon as it can). A server without that procedure (MariaDB
//! without the stand-ins, plain MySQL) answers from its own expiry:
//! `@@binlog_expire_logs_seconds`, or `@@expire_logs_days` where that variable is unknown; an
//! expiry of 0 there means binlogs are never purged, reported as `u32::MAX` hours.

use async_trait::async_trait;
use aurora_core::errors::PortError;
use aurora_core::ports::{
    BinlogRetention, DatabaseEndpoint, PortResult, RetentionChange, MARKER_SCHEMA,
};
use std::sync::Arc;

use crate::conn::{cell, codes, column, connect, server_code, Session};
use crate::credentials::{ConnectionSettings, SecretsSource, Tls};

/// The name of the retention setting in `mysql.rds_show_configuration`.
pub(crate) const RETENTION_SETTING: &str = "binlog retention hours";

/// [`BinlogRetention`] over SQL, logging in with credentials from a [`SecretsSource`].
#[derive(Clone)]
pub struct SqlBinlogRetention {
    secrets: Arc<dyn SecretsSource>,
    tls: Tls,
}

impl SqlBinlogRetention {
    pub fn new(secrets: Arc<dyn SecretsSource>, tls: Tls) -> Self {
        Self { secrets, tls }
    }
}

impl std::fmt::Debug for SqlBinlogRetention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlBinlogRetention")
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl BinlogRetention for SqlBinlogRetention {
    async fn retention_hours(
        &self,
        endpoint: &DatabaseEndpoint,
        secret_arn: &str,
    ) -> PortResult<Option<u32>> {
        let secret = self.secrets.secret_value(secret_arn).await?;
        let settings = secret.at_endpoint(endpoint, self.tls.clone())?;
        binlog_retention_hours(&settings).await
    }

    async fn raise_retention(
        &self,
        endpoint: &DatabaseEndpoint,
        secret_arn: &str,
        hours: u32,
        execution: &str,
    ) -> PortResult<Option<RetentionChange>> {
        let secret = self.secrets.secret_value(secret_arn).await?;
        let settings = secret.at_endpoint(endpoint, self.tls.clone())?;
        raise_binlog_retention_hours(&settings, hours, execution).await
    }

    async fn put_back_retention(
        &self,
        endpoint: &DatabaseEndpoint,
        secret_arn: &str,
    ) -> PortResult<Option<RetentionChange>> {
        let secret = self.secrets.secret_value(secret_arn).await?;
        let settings = secret.at_endpoint(endpoint, self.tls.clone())?;
        put_back_binlog_retention_hours(&settings).await
    }
}

/// Where the original is recorded: a table of the run's schema on the source (dropped with it at
/// cleanup, after the original is put back). One row per setting; the first run to record wins.
const ORIGINALS_TABLE: &str = "original_settings";

fn originals_table() -> String {
    format!(
        "{}.{}",
        crate::quote_identifier(MARKER_SCHEMA),
        crate::quote_identifier(ORIGINALS_TABLE)
    )
}

/// Raises `binlog retention hours` to `hours` with `mysql.rds_set_configuration` when it is
/// shorter or not set, after recording the current value on the server (unless a run recorded
/// one already: that stays the original). `None` when nothing is recorded and nothing had to
/// change. Needs `CREATE` and `INSERT` on the run's schema and `EXECUTE` on the procedure
/// (Aurora's master user has both).
pub async fn raise_binlog_retention_hours(
    settings: &ConnectionSettings,
    hours: u32,
    execution: &str,
) -> PortResult<Option<RetentionChange>> {
    let mut session = connect(settings).await?;
    let change = raise(&mut session, hours, execution).await;
    session.close().await;
    change
}

async fn raise(
    session: &mut Session<'_>,
    hours: u32,
    execution: &str,
) -> PortResult<Option<RetentionChange>> {
    let current = read(session).await?;
    let long_enough = current.is_some_and(|h| h >= hours);
    let original = match recorded(session).await? {
        Some(original) => original,
        None if long_enough => return Ok(None),
        None => record(session, current, execution).await?,
    };
    if !long_enough {
        session
            .exec_drop(
                "CALL mysql.rds_set_configuration(?, ?)",
                vec![RETENTION_SETTING.into(), hours.to_string().into()],
                "set binlog retention hours",
            )
            .await?;
    }
    Ok(Some(RetentionChange {
        original_hours: original,
        set_hours: hours,
    }))
}

/// Records `current` as the original (a concurrent record wins) and returns the one recorded.
async fn record(
    session: &mut Session<'_>,
    current: Option<u32>,
    execution: &str,
) -> PortResult<Option<u32>> {
    let table = originals_table();
    for statement in [
        format!(
            "CREATE DATABASE IF NOT EXISTS {}",
            crate::quote_identifier(MARKER_SCHEMA)
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {table} (\
               name VARCHAR(64) NOT NULL PRIMARY KEY, value VARCHAR(255) NULL, \
               execution VARCHAR(128) NOT NULL, \
               recorded_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE = InnoDB"
        ),
    ] {
        session
            .query(&statement, "prepare the record of original settings")
            .await?;
    }
    session
        .exec_drop(
            &format!("INSERT IGNORE INTO {table} (name, value, execution) VALUES (?, ?, ?)"),
            vec![
                RETENTION_SETTING.into(),
                current.map(|h| h.to_string()).into(),
                execution.into(),
            ],
            "record the original binlog retention",
        )
        .await?;
    recorded(session)
        .await?
        .ok_or_else(|| PortError::Other("the recorded binlog retention vanished".into()))
}

/// The original `binlog retention hours` a run recorded (`Some(None)`: it was not set), or
/// `None` when nothing is recorded.
async fn recorded(session: &mut Session<'_>) -> PortResult<Option<Option<u32>>> {
    let rows = match session
        .exec_raw(
            &format!("SELECT value FROM {} WHERE name = ?", originals_table()),
            vec![RETENTION_SETTING.into()],
        )
        .await
    {
        Ok(rows) => rows,
        Err(e) if server_code(&e) == Some(codes::NO_SUCH_TABLE) => return Ok(None),
        Err(e) => return Err(session.error(&e, "read the recorded binlog retention")),
    };
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    match cell(row, 0) {
        None => Ok(Some(None)),
        Some(text) => text.trim().parse().map(|h| Some(Some(h))).map_err(|_| {
            PortError::Other(format!(
                "the recorded binlog retention is not a number: {text:?}"
            ))
        }),
    }
}

/// Puts back the `binlog retention hours` [`raise_binlog_retention_hours`] recorded and deletes
/// the record; `None` when nothing was recorded. The source may still be fenced (`read_only`)
/// when this runs: the procedure writes as its definer, and a record that cannot be deleted then
/// goes with the run's schema.
pub async fn put_back_binlog_retention_hours(
    settings: &ConnectionSettings,
) -> PortResult<Option<RetentionChange>> {
    let mut session = connect(settings).await?;
    let change = put_back(&mut session).await;
    session.close().await;
    change
}

async fn put_back(session: &mut Session<'_>) -> PortResult<Option<RetentionChange>> {
    let Some(original) = recorded(session).await? else {
        return Ok(None);
    };
    let set_hours = read(session).await?.unwrap_or(0);
    session
        .exec_drop(
            "CALL mysql.rds_set_configuration(?, ?)",
            vec![
                RETENTION_SETTING.into(),
                original.map(|h| h.to_string()).into(),
            ],
            "put back binlog retention hours",
        )
        .await?;
    match session
        .exec_drop_raw(
            &format!("DELETE FROM {} WHERE name = ?", originals_table()),
            vec![RETENTION_SETTING.into()],
        )
        .await
    {
        Ok(()) => {}
        Err(e) if server_code(&e) == Some(codes::OPTION_PREVENTS_STATEMENT) => {}
        Err(e) => return Err(session.error(&e, "forget the recorded binlog retention")),
    }
    Ok(Some(RetentionChange {
        original_hours: original,
        set_hours,
    }))
}

/// The binlog retention, in hours, of the server `settings` logs in to; `None` when Aurora's
/// `binlog retention hours` is not set.
pub async fn binlog_retention_hours(settings: &ConnectionSettings) -> PortResult<Option<u32>> {
    let mut session = connect(settings).await?;
    let hours = read(&mut session).await;
    session.close().await;
    hours
}

async fn read(session: &mut Session<'_>) -> PortResult<Option<u32>> {
    match session
        .call_rows(
            "CALL mysql.rds_show_configuration()",
            "read binlog retention hours",
        )
        .await
    {
        Ok(rows) => {
            let row = rows
                .iter()
                .find(|r| column(r, &["name"]).as_deref() == Some(RETENTION_SETTING));
            let Some(row) = row else {
                return Err(PortError::Other(format!(
                    "mysql.rds_show_configuration on {} has no `{RETENTION_SETTING}`",
                    session.settings.address()
                )));
            };
            match column(row, &["value"]) {
                None => Ok(None),
                Some(text) if text.trim().is_empty() => Ok(None),
                Some(text) => text.trim().parse().map(Some).map_err(|_| {
                    PortError::Other(format!("`{RETENTION_SETTING}` is not a number: {text:?}"))
                }),
            }
        }
        Err(PortError::InvalidRequest(_)) => from_expiry(session).await,
        Err(other) => Err(other),
    }
}

async fn from_expiry(session: &mut Session<'_>) -> PortResult<Option<u32>> {
    let seconds = match session
        .query_raw("SELECT @@GLOBAL.binlog_expire_logs_seconds")
        .await
    {
        Ok(rows) => rows.first().and_then(|r| cell(r, 0)),
        Err(e) if server_code(&e) == Some(codes::UNKNOWN_SYSTEM_VARIABLE) => None,
        Err(e) => return Err(session.error(&e, "read binlog_expire_logs_seconds")),
    };
    let seconds: u64 = match seconds.and_then(|s| s.trim().parse().ok()) {
        Some(seconds) if seconds > 0 => seconds,
        _ => {
            // 0 (or no such variable): the older setting decides; it is fractional on MariaDB.
            let rows = session
                .query("SELECT @@GLOBAL.expire_logs_days", "read expire_logs_days")
                .await?;
            let days: f64 = rows
                .first()
                .and_then(|r| cell(r, 0))
                .and_then(|d| d.trim().parse().ok())
                .unwrap_or(0.0);
            (days * 86_400.0) as u64
        }
    };
    Ok(Some(if seconds == 0 {
        u32::MAX
    } else {
        u32::try_from(seconds / 3600).unwrap_or(u32::MAX)
    }))
}
