//! `SqlBinlogRetention`: how many hours the source keeps its binlogs.
//!
//! Aurora: `CALL mysql.rds_show_configuration`, row `binlog retention hours` (NULL when unset:
//! Aurora then purges binlogs as soon as it can). A server without that procedure (MariaDB
//! without the stand-ins, plain MySQL) answers from its own expiry:
//! `@@binlog_expire_logs_seconds`, or `@@expire_logs_days` where that variable is unknown; an
//! expiry of 0 there means binlogs are never purged, reported as `u32::MAX` hours.

use async_trait::async_trait;
use aurora_core::errors::PortError;
use aurora_core::ports::{BinlogRetention, DatabaseEndpoint, PortResult};
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
