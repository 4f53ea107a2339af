//! The MariaDB programs the sandbox runs, found on `PATH` (and in the `sbin` directories Debian
//! installs the server to), so a missing installation is refused up front with the command that
//! fixes it rather than failing halfway through a migration.

use std::path::{Path, PathBuf};
use std::process::Output;

use tokio::process::Command;

use crate::error::{SandboxError, SandboxResult};

/// What installs every program the sandbox needs on Debian and Ubuntu.
pub const INSTALL_COMMAND: &str = "apt-get install -y mariadb-server mariadb-client mariadb-backup";

/// Paths of the MariaDB programs.
#[derive(Debug, Clone)]
pub struct Tools {
    pub server: PathBuf,
    pub install_db: PathBuf,
    pub client: PathBuf,
    pub admin: PathBuf,
    pub backup: PathBuf,
}

impl Tools {
    /// Finds every program (MariaDB's names first, the older MySQL-compatible ones after), or
    /// names the missing ones and the install command.
    pub fn locate() -> SandboxResult<Self> {
        Self::locate_in(&aurora_sql::launcher::search_dirs())
    }

    /// Like [`Tools::locate`], searching only `dirs`.
    pub fn locate_in(dirs: &[PathBuf]) -> SandboxResult<Self> {
        let mut missing = Vec::new();
        let mut find = |names: &[&str]| {
            let found = aurora_sql::launcher::find_program(dirs, names);
            if found.is_none() {
                missing.push(names[0].to_string());
            }
            found.unwrap_or_default()
        };
        let tools = Tools {
            server: find(&["mariadbd", "mysqld"]),
            install_db: find(&["mariadb-install-db", "mysql_install_db"]),
            client: find(&["mariadb", "mysql"]),
            admin: find(&["mariadb-admin", "mysqladmin"]),
            backup: find(&["mariadb-backup", "mariabackup"]),
        };
        if missing.is_empty() {
            Ok(tools)
        } else {
            Err(SandboxError::MariaDbMissing { missing })
        }
    }

    /// `mariadbd --version`, e.g. `mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu`.
    pub async fn server_version(&self) -> SandboxResult<String> {
        let out = run(&self.server, &["--version".to_string()]).await?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

/// Runs `program args…` to completion; a non-zero exit is an error carrying the output's tail.
pub(crate) async fn run(program: &Path, args: &[String]) -> SandboxResult<Output> {
    let output = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(SandboxError::io(format!("running {}", program.display())))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(SandboxError::Command {
            program: program.display().to_string(),
            status: output.status.to_string(),
            output: tail(&output),
        })
    }
}

/// The last lines of a command's output, where the reason for a failure is.
pub(crate) fn tail(output: &Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    // Tools print pages of advice after the error: the lines naming an error come first.
    let errors: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains("ERROR") || l.contains("rror:") || l.contains("FATAL"))
        .take(6)
        .collect();
    if errors.is_empty() {
        lines[lines.len().saturating_sub(6)..].join(" | ")
    } else {
        errors.join(" | ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_mariadb_is_refused_with_the_install_command() {
        let empty = std::env::temp_dir().join(format!("aurora-no-mariadb-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        let err = Tools::locate_in(std::slice::from_ref(&empty)).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("mariadbd"), "{message}");
        assert!(message.contains("mariadb-backup"), "{message}");
        assert!(message.contains(INSTALL_COMMAND), "{message}");
        std::fs::remove_dir_all(&empty).unwrap();
    }
}
