//! The users the sandbox creates (replication, privileged application) and their passwords, the
//! secrets a sandbox run names, and the key files that stand in for KMS keys.

use std::path::PathBuf;

use mysql_async::prelude::Queryable;

use super::Sandbox;
use crate::error::{SandboxError, SandboxResult};
use crate::registry::Credentials;
use crate::server;

/// The secret ARN [`Sandbox::secrets`] answers with the replication user (the spec's
/// `replication.sourceSecretArn` for a sandbox run).
pub const REPLICATION_SECRET_ARN: &str =
    "arn:aws:secretsmanager:sandbox:000000000000:secret:aurora-sandbox-replication";
/// The secret ARN [`Sandbox::secrets`] answers with the administrator (`targetSecretArn`).
pub const ADMIN_SECRET_ARN: &str =
    "arn:aws:secretsmanager:sandbox:000000000000:secret:aurora-sandbox-admin";
/// The secret ARN [`Sandbox::secrets`] answers with the sample schema's application user: the
/// sandbox RDS Proxy's own secret (`proxy.secretArn`).
pub const APP_SECRET_ARN: &str =
    "arn:aws:secretsmanager:sandbox:000000000000:secret:aurora-sandbox-app";
/// The replication user's name.
pub const REPLICATION_USER: &str = "repl";
/// The privileged application user's name ([`Sandbox::ensure_privileged_app_user`]).
pub const PRIVILEGED_APP_USER: &str = "admin";

impl Sandbox {
    /// The sample schema's application user, once seeded.
    pub fn app_credentials(&self) -> Option<Credentials> {
        self.registry(|r| r.app_user.clone())
    }

    /// The replication user, created on the first source cluster.
    pub fn replication_credentials(&self) -> Option<Credentials> {
        self.registry(|r| r.replication_user.clone())
    }

    /// The privileged application user, once created.
    pub fn privileged_app_credentials(&self) -> Option<Credentials> {
        self.registry(|r| r.privileged_app_user.clone())
    }

    pub(super) async fn ensure_replication_user(&self, cluster_id: &str) -> SandboxResult<()> {
        let credentials = match self.replication_credentials() {
            Some(c) => c,
            None => {
                let c = Credentials {
                    user: REPLICATION_USER.into(),
                    password: random_hex(12)?,
                };
                self.update(|r| r.replication_user = Some(c.clone()))?;
                c
            }
        };
        let mut conn = self.admin_conn(cluster_id).await?;
        // Generated hex: safe to inline (CREATE USER takes no placeholders).
        for statement in [
            format!(
                "CREATE USER IF NOT EXISTS '{}'@'%' IDENTIFIED BY '{}'",
                credentials.user, credentials.password
            ),
            format!(
                "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '{}'@'%'",
                credentials.user
            ),
        ] {
            conn.query_drop(statement)
                .await
                .map_err(SandboxError::sql(cluster_id))?;
        }
        let _ = conn.disconnect().await;
        Ok(())
    }

    /// The privileged application user (`admin`, `ALL PRIVILEGES`: writes through `read_only`,
    /// as Aurora's master user or a user with `CONNECTION_ADMIN` does), created on `cluster_id`
    /// on first use. Create it on the source before the snapshot so the target has it too.
    pub async fn ensure_privileged_app_user(&self, cluster_id: &str) -> SandboxResult<Credentials> {
        let credentials = match self.registry(|r| r.privileged_app_user.clone()) {
            Some(c) => c,
            None => {
                let c = Credentials {
                    user: PRIVILEGED_APP_USER.into(),
                    password: random_hex(12)?,
                };
                self.update(|r| r.privileged_app_user = Some(c.clone()))?;
                c
            }
        };
        let mut conn = self.admin_conn(cluster_id).await?;
        // Generated hex: safe to inline (CREATE USER takes no placeholders).
        for statement in [
            format!(
                "CREATE USER IF NOT EXISTS '{}'@'%' IDENTIFIED BY '{}'",
                credentials.user, credentials.password
            ),
            format!("GRANT ALL PRIVILEGES ON *.* TO '{}'@'%'", credentials.user),
        ] {
            conn.query_drop(statement)
                .await
                .map_err(SandboxError::sql(cluster_id))?;
        }
        let _ = conn.disconnect().await;
        Ok(credentials)
    }

    /// The secrets a sandbox run's spec names ([`REPLICATION_SECRET_ARN`], [`ADMIN_SECRET_ARN`]).
    pub fn secrets(&self) -> aurora_sql::StaticSecrets {
        let mut secrets = aurora_sql::StaticSecrets::new().with(
            ADMIN_SECRET_ARN,
            &aurora_sql::SecretValue {
                username: "root".into(),
                password: String::new(),
                host: None,
                port: Some(self.port()),
            },
        );
        if let Some(c) = self.app_credentials() {
            secrets = secrets.with(
                APP_SECRET_ARN,
                &aurora_sql::SecretValue {
                    username: c.user,
                    password: c.password,
                    host: None,
                    port: Some(self.port()),
                },
            );
        }
        if let Some(c) = self.replication_credentials() {
            secrets = secrets.with(
                REPLICATION_SECRET_ARN,
                &aurora_sql::SecretValue {
                    username: c.user,
                    password: c.password,
                    host: None,
                    port: Some(self.port()),
                },
            );
        }
        secrets
    }

    /// The key file standing in for a KMS key: one per key id, created on first use.
    pub fn key_file(&self, kms_key_id: &str) -> SandboxResult<PathBuf> {
        let name: String = kms_key_id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let dir = self.inner.dir.join("kms");
        std::fs::create_dir_all(&dir)
            .map_err(SandboxError::io(format!("creating {}", dir.display())))?;
        let path = dir.join(format!("{name}.key"));
        if !path.exists() {
            // file_key_management: `<key id>;<hex key>` lines; key 1 is the default key.
            let key = random_hex(32)?;
            server::write_private(&path, format!("1;{key}\n").as_bytes())?;
        }
        Ok(path)
    }
}

/// `n` random bytes from the kernel, hex-encoded.
pub(super) fn random_hex(n: usize) -> SandboxResult<String> {
    use std::io::Read;
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(SandboxError::io("reading /dev/urandom"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
