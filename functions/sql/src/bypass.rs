//! Which users `read_only` does not stop, and how many sessions each has now: MySQL's
//! `CONNECTION_ADMIN` and `SUPER` (granted directly or, on MySQL 8 and Aurora MySQL 3, through a
//! role such as `rds_superuser_role`, which is how the master user holds them), and MariaDB's
//! `READ_ONLY ADMIN` and `SUPER`. Preflight shows them and refuses a fence that cannot stop them.

use std::collections::BTreeMap;

use aurora_core::ports::{PortResult, ReadOnlyBypassUser};

use crate::conn::{column, column_u64, Session};

/// The privileges that write through `read_only`.
pub const BYPASS_PRIVILEGES: &[&str] = &["CONNECTION_ADMIN", "SUPER", "READ_ONLY ADMIN"];

/// Grantees (`'user'@'host'`) holding a bypass privilege directly.
const DIRECT: &str = "SELECT GRANTEE, PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES \
     WHERE PRIVILEGE_TYPE IN ('CONNECTION_ADMIN', 'SUPER', 'READ_ONLY ADMIN')";

/// MySQL 8: users holding a bypass privilege through a role (dynamic privileges live in
/// `mysql.global_grants`, `SUPER` in `mysql.user`). MariaDB has neither table.
const THROUGH_ROLES: &str = "SELECT CONCAT('''', e.TO_USER, '''@''', e.TO_HOST, '''') AS GRANTEE, \
       g.PRIV AS PRIVILEGE_TYPE \
     FROM mysql.role_edges e JOIN mysql.global_grants g \
       ON g.USER = e.FROM_USER AND g.HOST = e.FROM_HOST \
     WHERE g.PRIV IN ('CONNECTION_ADMIN', 'SUPER', 'READ_ONLY ADMIN') \
     UNION \
     SELECT CONCAT('''', e.TO_USER, '''@''', e.TO_HOST, ''''), 'SUPER' \
     FROM mysql.role_edges e JOIN mysql.user u \
       ON u.User = e.FROM_USER AND u.Host = e.FROM_HOST \
     WHERE u.Super_priv = 'Y'";

/// Sessions per user name, not counting this one, binlog readers or the server's threads.
const SESSIONS: &str = "SELECT USER, COUNT(*) AS n FROM information_schema.PROCESSLIST \
     WHERE ID <> CONNECTION_ID() AND COMMAND NOT LIKE 'Binlog Dump%' \
       AND USER NOT IN ('system user', 'event_scheduler') \
     GROUP BY USER";

/// `'name'@'host'` → `name`.
pub(crate) fn user_name(grantee: &str) -> &str {
    grantee
        .trim_start_matches('\'')
        .split("'@'")
        .next()
        .unwrap_or(grantee)
}

pub(crate) async fn read_only_bypass_users(
    session: &mut Session<'_>,
) -> PortResult<Vec<ReadOnlyBypassUser>> {
    let mut rows = session
        .query(DIRECT, "list users that bypass read_only")
        .await?;
    // Without read access to the role tables (or on MariaDB) only direct grants are seen.
    if let Ok(more) = session.query_raw(THROUGH_ROLES).await {
        rows.extend(more);
    }
    let mut privileges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in &rows {
        let (Some(grantee), Some(privilege)) =
            (column(row, &["GRANTEE"]), column(row, &["PRIVILEGE_TYPE"]))
        else {
            continue;
        };
        let held = privileges.entry(grantee).or_default();
        if !held.contains(&privilege) {
            held.push(privilege);
        }
    }
    let sessions: BTreeMap<String, u64> = session
        .query(SESSIONS, "count sessions per user")
        .await?
        .iter()
        .filter_map(|row| Some((column(row, &["USER"])?, column_u64(row, &["n"])?)))
        .collect();
    Ok(privileges
        .into_iter()
        .map(|(grantee, mut privileges)| {
            privileges.sort();
            let sessions = sessions.get(user_name(&grantee)).copied().unwrap_or(0);
            ReadOnlyBypassUser {
                sessions: u32::try_from(sessions).unwrap_or(u32::MAX),
                grantee,
                privileges,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grantees_are_reduced_to_the_user_name() {
        assert_eq!(user_name("'admin'@'%'"), "admin");
        assert_eq!(user_name("'rdsadmin'@'localhost'"), "rdsadmin");
    }
}
