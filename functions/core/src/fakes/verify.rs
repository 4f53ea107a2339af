//! One side of a verification: per-table digests and accounts.

use std::sync::Mutex;

use async_trait::async_trait;

use super::{lock, Failures};
use crate::errors::PortError;
use crate::ports::{PortResult, TableDigest, Verifier, VerifyDepth};

/// Per-table digests of one side, or a verifier that never answers (for timeouts).
#[derive(Default)]
pub struct FakeVerifier {
    pub digests: Mutex<Vec<TableDigest>>,
    pub hang: bool,
    pub asked: Mutex<Vec<(Vec<String>, VerifyDepth)>>,
    failures: Failures,
    /// The server's accounts; by default one application user, the same on every fake.
    pub accounts: Mutex<Vec<crate::ports::Account>>,
}

impl FakeVerifier {
    /// `(database, table, rows, checksum)` rows.
    pub fn with(tables: &[(&str, &str, u64, u64)]) -> Self {
        let fake = Self::default();
        *lock(&fake.accounts) = vec![crate::ports::Account {
            user: "app".into(),
            host: "%".into(),
            authentication_digest: "digest-of-app".into(),
            grants: vec!["GRANT SELECT, INSERT, UPDATE, DELETE ON `shop`.* TO `app`@`%`".into()],
        }];
        *lock(&fake.digests) = tables
            .iter()
            .map(|(db, table, rows, sum)| TableDigest {
                database: db.to_string(),
                table: table.to_string(),
                rows: *rows,
                checksum: Some(*sum),
            })
            .collect();
        fake
    }

    pub fn hanging() -> Self {
        Self {
            hang: true,
            ..Self::default()
        }
    }

    pub fn fail_next(&self, error: PortError) {
        self.failures.push("table_digests", error);
    }
}

#[async_trait]
impl Verifier for FakeVerifier {
    async fn table_digests(
        &self,
        databases: &[String],
        depth: VerifyDepth,
    ) -> PortResult<Vec<TableDigest>> {
        self.failures.take("table_digests")?;
        lock(&self.asked).push((databases.to_vec(), depth));
        if self.hang {
            std::future::pending::<()>().await;
        }
        let mut digests: Vec<TableDigest> = lock(&self.digests)
            .iter()
            .filter(|d| databases.is_empty() || databases.contains(&d.database))
            .cloned()
            .map(|mut d| {
                if depth == VerifyDepth::Counts {
                    d.checksum = None;
                }
                d
            })
            .collect();
        digests.sort();
        Ok(digests)
    }

    async fn accounts(&self) -> PortResult<Vec<crate::ports::Account>> {
        self.failures.take("accounts")?;
        let mut accounts = lock(&self.accounts).clone();
        accounts.sort();
        Ok(accounts)
    }
}
