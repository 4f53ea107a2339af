//! The accounts of a server and their grants, for comparing two servers: Aurora MySQL 3's binlog
//! replication does not carry the `mysql` schema, CREATE USER, GRANT or REVOKE, so a user
//! changed during catch-up differs between source and target unless someone repeats the change.
//!
//! Reads `mysql.user` (user, host, and a SHA-256 of the plugin and stored credential, so no
//! credential leaves the server) and `SHOW GRANTS FOR` each account. Needs `SELECT` on
//! `mysql.user` and on the `mysql` schema for `SHOW GRANTS FOR` another account.

use aurora_core::ports::{Account, PortResult};

use crate::conn::{cell, connect, Session};
use crate::credentials::ConnectionSettings;

/// `ER_NONEXISTING_GRANT`: "There is no such grant defined for user … on host …".
const ER_NONEXISTING_GRANT: u16 = 1141;

/// Every account of the server `settings` logs in to, sorted by user and host, with its grants.
/// Compare two servers' with `aurora_core::steps::verify::compare_accounts`.
pub async fn accounts(settings: &ConnectionSettings) -> PortResult<Vec<Account>> {
    let mut session = connect(settings).await?;
    let accounts = read_accounts(&mut session).await;
    session.close().await;
    accounts
}

async fn read_accounts(session: &mut Session<'_>) -> PortResult<Vec<Account>> {
    let rows = session
        .query(
            "SELECT User, Host, SHA2(CONCAT(COALESCE(plugin, ''), ':', COALESCE(authentication_string, '')), 256) \
             FROM mysql.user ORDER BY User, Host",
            "list accounts",
        )
        .await?;
    let mut accounts = Vec::with_capacity(rows.len());
    for row in &rows {
        let (Some(user), Some(host)) = (cell(row, 0), cell(row, 1)) else {
            continue;
        };
        let authentication_digest = cell(row, 2).unwrap_or_default();
        let sql = format!(
            "SHOW GRANTS FOR {}@{}",
            quote_literal(&user),
            quote_literal(&host)
        );
        let grants = match session.query_raw(&sql).await {
            Ok(rows) => rows,
            // A `mysql.user` row with no grant at all (MariaDB installs `root`@<hostname> so).
            Err(mysql_async::Error::Server(e)) if e.code == ER_NONEXISTING_GRANT => Vec::new(),
            Err(e) => return Err(session.error(&e, &format!("show grants for '{user}'@'{host}'"))),
        };
        let mut grants: Vec<String> = grants
            .iter()
            .filter_map(|r| cell(r, 0))
            .map(|g| without_credentials(&g))
            .collect();
        grants.sort();
        accounts.push(Account {
            user,
            host,
            authentication_digest,
            grants,
        });
    }
    accounts.sort();
    Ok(accounts)
}

/// A string literal with quotes and backslashes escaped, for statements that take no
/// placeholders (`SHOW GRANTS FOR`).
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// A `SHOW GRANTS` line without its `IDENTIFIED BY PASSWORD '…'` / `IDENTIFIED VIA …` clause
/// (MariaDB prints the credential there); what follows it (`REQUIRE …`, `WITH …`) stays.
fn without_credentials(grant: &str) -> String {
    let Some(start) = grant.find(" IDENTIFIED ") else {
        return grant.to_string();
    };
    let rest = &grant[start..];
    let end = [" REQUIRE ", " WITH "]
        .iter()
        .filter_map(|k| rest.find(k))
        .min()
        .unwrap_or(rest.len());
    format!("{}{}", &grant[..start], &rest[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_cut_from_grant_lines() {
        assert_eq!(
            without_credentials(
                "GRANT USAGE ON *.* TO `repl`@`%` IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'"
            ),
            "GRANT USAGE ON *.* TO `repl`@`%`"
        );
        assert_eq!(
            without_credentials(
                "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` IDENTIFIED VIA unix_socket WITH GRANT OPTION"
            ),
            "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"
        );
        assert_eq!(
            without_credentials("GRANT SELECT ON `shop`.* TO `app`@`%`"),
            "GRANT SELECT ON `shop`.* TO `app`@`%`"
        );
    }

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(quote_literal("o'brien"), "'o''brien'");
        assert_eq!(quote_literal("a\\b"), "'a\\\\b'");
    }
}
