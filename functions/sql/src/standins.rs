//! Stand-ins for Aurora's `mysql.rds_*` procedures on MariaDB, which lacks them, so the native
//! replication engine and the retention reader run unchanged on a sandbox server. The tests here
//! install them on their throw-away servers; the MariaDB sandbox installs the same text on its
//! servers. `rds_standins.sql` says how each one maps onto `CHANGE MASTER TO` / `START SLAVE` /
//! `STOP SLAVE` / `RESET SLAVE ALL`.

use aurora_core::ports::PortResult;

use crate::accounts::quote_literal;
use crate::conn::{cell, connect, quote_identifier};
use crate::credentials::ConnectionSettings;

/// The SQL that (re)creates `mysql.rds_set_external_master`, `mysql.rds_set_external_source`,
/// `mysql.rds_start_replication`, `mysql.rds_stop_replication`,
/// `mysql.rds_reset_external_master`, `mysql.rds_reset_external_source`,
/// `mysql.rds_show_configuration`, `mysql.rds_set_configuration` (with the table
/// `mysql.rds_configuration` behind those two) and `mysql.rds_kill`. Idempotent. One
/// multi-statement query without `DELIMITER` lines: send it whole through a driver (or use
/// [`install_rds_stand_ins`]), with `sql_log_bin = 0`. Shared with the MariaDB sandbox, which
/// installs the same stand-ins on its servers.
pub const RDS_STAND_INS: &str = include_str!("rds_standins.sql");

/// Installs [`RDS_STAND_INS`] on the server, without writing them to its binlog (they must not
/// replicate). Needs a user with `ALL PRIVILEGES` (it writes to the `mysql` schema).
///
/// Re-creating a procedure drops the privileges granted on it (`automatic_sp_privileges`), which
/// Aurora's own procedures never lose: the grants on the stand-ins are read first and given back,
/// so a restored copy keeps the accounts of its source exactly.
pub async fn install_rds_stand_ins(settings: &ConnectionSettings) -> PortResult<()> {
    let mut session = connect(settings).await?;
    let installed = async {
        session
            .query(
                "SET SESSION sql_log_bin = 0",
                "disable binlog for the stand-ins",
            )
            .await?;
        let grants = session
            .query(
                "SELECT User, Host, Routine_name, Proc_priv FROM mysql.procs_priv \
                 WHERE Db = 'mysql' AND Routine_type = 'PROCEDURE' AND Routine_name LIKE 'rds\\_%'",
                "read the grants on the stand-ins",
            )
            .await?;
        session
            .query(RDS_STAND_INS, "install mysql.rds_* stand-ins")
            .await?;
        for row in &grants {
            let (Some(user), Some(host), Some(routine), Some(privileges)) =
                (cell(row, 0), cell(row, 1), cell(row, 2), cell(row, 3))
            else {
                continue;
            };
            // `Proc_priv` is a SET of `Execute`, `Alter Routine` and `Grant`.
            let privileges: Vec<String> = privileges
                .split(',')
                .filter(|p| !p.is_empty() && !p.eq_ignore_ascii_case("Grant"))
                .map(str::to_ascii_uppercase)
                .collect();
            if privileges.is_empty() {
                continue;
            }
            session
                .query(
                    &format!(
                        "GRANT {} ON PROCEDURE mysql.{} TO {}@{}",
                        privileges.join(", "),
                        quote_identifier(&routine),
                        quote_literal(&user),
                        quote_literal(&host)
                    ),
                    "give back a grant on a stand-in",
                )
                .await?;
        }
        Ok::<(), aurora_core::PortError>(())
    }
    .await;
    session.close().await;
    installed.map(|_| ())
}
