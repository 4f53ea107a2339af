//! Verify: compares the source and the target at the drained position, table by table, before
//! the application is switched over.
//!
//! Both sides are read concurrently through two [`Verifier`]s: row counts in `counts` mode, row
//! counts and checksums in `checksums` mode (`verify.mode`, default `checksums`), for
//! `verify.databases` (default every user database). A table missing on one side, or with a
//! different count or checksum, fails with `VerificationMismatch` naming the first few. `off`
//! skips the comparison. The accounts of both servers and their grants are compared too
//! ([`compare_accounts`]): binlog replication on Aurora MySQL 3 carries neither the `mysql`
//! schema nor CREATE USER, GRANT or REVOKE, so an account changed during catch-up differs; each
//! difference is named (`VerificationMismatch`). The whole comparison is bounded by
//! `verify.timeoutSeconds`
//! (`VerificationTimedOut`: the target is unverified, so the switchover does not happen).
//!
//! Input: the state document (`verify`, optional `drain` for the position). Output:
//! [`VerifyOutput`] at `$.verify`. Errors: `VerificationMismatch`, `VerificationTimedOut`,
//! `InvalidInput` (drain not finished), `Transient`, `AccessDenied`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error_names;
use crate::errors::{impl_diagnostic, NamedError, PortError};
use crate::ports::{Account, Clock, Sleeper, TableDigest, Verifier, VerifyDepth};
use crate::spec::{VerifyMode, VerifySpec};
use crate::steps::drain::{DrainOutput, DrainPositions};

/// Verification is SQL only (credentials from Secrets Manager).
pub const IAM_ACTIONS: &[&str] = &["secretsmanager:GetSecretValue", "kms:Decrypt"];

/// How many differing tables the error message names.
const NAMED_IN_ERROR: usize = 5;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyInput {
    #[serde(default)]
    pub verify: VerifySpec,
    #[serde(default)]
    pub drain: Option<DrainOutput>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableMismatch {
    pub database: String,
    pub table: String,
    /// `missing on target`, `missing on source`, `row count`, `checksum`.
    pub reason: String,
    pub source_rows: Option<u64>,
    pub target_rows: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyOutput {
    pub mode: VerifyMode,
    pub skipped: bool,
    pub verified: bool,
    pub tables_compared: usize,
    pub rows_compared: u64,
    /// The drained position both sides were read at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<DrainPositions>,
    pub elapsed_ms: u64,
    /// Accounts found equal (user, host, authentication and grants) on both sides.
    #[serde(default)]
    pub accounts_compared: usize,
}

/// An account that differs between source and target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountMismatch {
    /// `'user'@'host'`.
    pub account: String,
    /// `missing on target`, `missing on source`, `authentication`, `grants`.
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the drain has not finished: verify compares only a drained target")]
    NotDrained,
    #[error("source and target differ in {count} table(s): {named}")]
    Mismatch {
        count: usize,
        named: String,
        mismatches: Vec<TableMismatch>,
    },
    #[error("source and target accounts differ in {count}: {named}; binlog replication does not carry CREATE USER, GRANT or REVOKE: repeat the change on the target")]
    AccountsDiffer {
        count: usize,
        named: String,
        differences: Vec<AccountMismatch>,
    },
    #[error("verification did not finish within {0} s (verify.timeoutSeconds); the target is unverified")]
    TimedOut(u32),
    #[error("{side}: {error}")]
    Port {
        side: &'static str,
        error: PortError,
    },
}

impl NamedError for VerifyError {
    fn error_name(&self) -> &'static str {
        match self {
            VerifyError::NotDrained => error_names::INVALID_INPUT,
            VerifyError::Mismatch { .. } | VerifyError::AccountsDiffer { .. } => {
                error_names::VERIFICATION_MISMATCH
            }
            VerifyError::TimedOut(_) => error_names::VERIFICATION_TIMED_OUT,
            VerifyError::Port { error, .. } => error.default_name(),
        }
    }
}

impl_diagnostic!(VerifyError);

pub async fn run(
    input: &VerifyInput,
    source: &dyn Verifier,
    target: &dyn Verifier,
    clock: &dyn Clock,
    sleeper: &dyn Sleeper,
) -> Result<VerifyOutput, VerifyError> {
    let started = clock.now();
    let spec = &input.verify;
    let position = input.drain.as_ref().and_then(|d| d.positions.clone());
    let depth = match spec.mode {
        VerifyMode::Off => {
            return Ok(VerifyOutput {
                mode: spec.mode,
                skipped: true,
                verified: false,
                tables_compared: 0,
                rows_compared: 0,
                position,
                elapsed_ms: 0,
                accounts_compared: 0,
            })
        }
        VerifyMode::Counts => VerifyDepth::Counts,
        VerifyMode::Checksums => VerifyDepth::Checksums,
    };
    if input.drain.as_ref().is_some_and(|d| !d.drained) {
        return Err(VerifyError::NotDrained);
    }
    let both = async {
        tokio::join!(
            source.table_digests(&spec.databases, depth),
            target.table_digests(&spec.databases, depth),
            source.accounts(),
            target.accounts()
        )
    };
    let timeout = sleeper.sleep(Duration::from_secs(u64::from(spec.timeout_seconds)));
    let (source_digests, target_digests, source_accounts, target_accounts) = tokio::select! {
        biased;
        read = both => read,
        () = timeout => return Err(VerifyError::TimedOut(spec.timeout_seconds)),
    };
    let source_digests = source_digests.map_err(|error| VerifyError::Port {
        side: "source",
        error,
    })?;
    let target_digests = target_digests.map_err(|error| VerifyError::Port {
        side: "target",
        error,
    })?;

    let source_accounts = source_accounts.map_err(|error| VerifyError::Port {
        side: "source",
        error,
    })?;
    let target_accounts = target_accounts.map_err(|error| VerifyError::Port {
        side: "target",
        error,
    })?;

    let mismatches = compare(&source_digests, &target_digests, depth);
    if !mismatches.is_empty() {
        let named = mismatches
            .iter()
            .take(NAMED_IN_ERROR)
            .map(|m| format!("`{}`.`{}` ({})", m.database, m.table, m.reason))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(VerifyError::Mismatch {
            count: mismatches.len(),
            named,
            mismatches,
        });
    }
    let differences = compare_accounts(&source_accounts, &target_accounts);
    if !differences.is_empty() {
        let named = differences
            .iter()
            .take(NAMED_IN_ERROR)
            .map(|d| format!("{} ({})", d.account, d.reason))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(VerifyError::AccountsDiffer {
            count: differences.len(),
            named,
            differences,
        });
    }
    Ok(VerifyOutput {
        accounts_compared: source_accounts.len(),
        mode: spec.mode,
        skipped: false,
        verified: true,
        tables_compared: source_digests.len(),
        rows_compared: source_digests.iter().map(|d| d.rows).sum(),
        position,
        elapsed_ms: u64::try_from((clock.now() - started).whole_milliseconds()).unwrap_or(0),
    })
}

/// Every account that differs between two servers, by name (`'user'@'host'`) and in user and
/// host order: missing on one side, authenticating differently, or with different grants.
pub fn compare_accounts(source: &[Account], target: &[Account]) -> Vec<AccountMismatch> {
    type Sides<'a> = (Option<&'a Account>, Option<&'a Account>);
    let mut sides: BTreeMap<(String, String), Sides> = BTreeMap::new();
    for a in source {
        sides.entry((a.user.clone(), a.host.clone())).or_default().0 = Some(a);
    }
    for a in target {
        sides.entry((a.user.clone(), a.host.clone())).or_default().1 = Some(a);
    }
    sides
        .into_values()
        .filter_map(|(s, t)| {
            let (account, reason) = match (s, t) {
                (Some(s), None) => (s, "missing on target"),
                (None, Some(t)) => (t, "missing on source"),
                (Some(s), Some(t)) if s.authentication_digest != t.authentication_digest => {
                    (s, "authentication")
                }
                (Some(s), Some(t)) if s.grants != t.grants => (s, "grants"),
                _ => return None,
            };
            Some(AccountMismatch {
                account: account.name(),
                reason: reason.into(),
            })
        })
        .collect()
}

/// Every table that differs, in database and table order.
fn compare(
    source: &[TableDigest],
    target: &[TableDigest],
    depth: VerifyDepth,
) -> Vec<TableMismatch> {
    /// A table's digest on the source and on the target.
    type Sides<'a> = (Option<&'a TableDigest>, Option<&'a TableDigest>);
    let key = |d: &TableDigest| (d.database.clone(), d.table.clone());
    let mut sides: BTreeMap<(String, String), Sides> = BTreeMap::new();
    for d in source {
        sides.entry(key(d)).or_default().0 = Some(d);
    }
    for d in target {
        sides.entry(key(d)).or_default().1 = Some(d);
    }
    sides
        .into_iter()
        .filter_map(|((database, table), (s, t))| {
            let reason = match (s, t) {
                (Some(_), None) => "missing on target",
                (None, Some(_)) => "missing on source",
                (Some(s), Some(t)) if s.rows != t.rows => "row count",
                (Some(s), Some(t))
                    if depth == VerifyDepth::Checksums && s.checksum != t.checksum =>
                {
                    "checksum"
                }
                _ => return None,
            };
            Some(TableMismatch {
                database,
                table,
                reason: reason.into(),
                source_rows: s.map(|d| d.rows),
                target_rows: t.map(|d| d.rows),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{FakeClock, FakeVerifier};
    use serde_json::json;

    fn input(mode: &str) -> VerifyInput {
        serde_json::from_value(json!({
            "verify": {"mode": mode, "databases": ["shop"], "timeoutSeconds": 30},
            "drain": {
                "drained": true, "markerArrived": true, "lagSeconds": 0, "waitedMs": 800, "reads": 3,
                "deadline": "2026-11-27T12:05:00Z", "nextPollSeconds": 0,
                "positions": {
                    "source": {"file": "mysql-bin-changelog.000009", "position": 900},
                    "applied": {"file": "mysql-bin-changelog.000009", "position": 900}
                }
            }
        }))
        .unwrap()
    }

    const TABLES: &[(&str, &str, u64, u64)] = &[
        ("shop", "customers", 10, 111),
        ("shop", "orders", 25, 222),
        ("shop", "items", 70, 333),
    ];

    #[tokio::test]
    async fn identical_sides_verify_at_the_drained_position() {
        let source = FakeVerifier::with(TABLES);
        let target = FakeVerifier::with(TABLES);
        let clock = FakeClock::default();
        let out = run(&input("checksums"), &source, &target, &clock, &clock)
            .await
            .unwrap();
        assert!(out.verified);
        assert_eq!(out.tables_compared, 3);
        assert_eq!(out.rows_compared, 105);
        assert_eq!(out.position.unwrap().applied.position, 900);
        assert_eq!(
            source.asked.lock().unwrap()[0],
            (vec!["shop".to_string()], VerifyDepth::Checksums)
        );
    }

    #[tokio::test]
    async fn a_different_checksum_is_a_mismatch_naming_the_table() {
        let source = FakeVerifier::with(TABLES);
        let target = FakeVerifier::with(&[
            ("shop", "customers", 10, 111),
            ("shop", "orders", 25, 999),
            ("shop", "items", 70, 333),
        ]);
        let clock = FakeClock::default();
        let error = run(&input("checksums"), &source, &target, &clock, &clock)
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), "VerificationMismatch");
        assert_eq!(
            error.to_string(),
            "source and target differ in 1 table(s): `shop`.`orders` (checksum)"
        );
    }

    #[tokio::test]
    async fn counts_mode_ignores_checksums_but_not_row_counts() {
        let source = FakeVerifier::with(TABLES);
        let target = FakeVerifier::with(&[
            ("shop", "customers", 10, 0),
            ("shop", "orders", 25, 0),
            ("shop", "items", 70, 0),
        ]);
        let clock = FakeClock::default();
        run(&input("counts"), &source, &target, &clock, &clock)
            .await
            .unwrap();
        let short =
            FakeVerifier::with(&[("shop", "customers", 9, 111), ("shop", "orders", 25, 222)]);
        let error = run(&input("counts"), &source, &short, &clock, &clock)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "source and target differ in 2 table(s): `shop`.`customers` (row count), `shop`.`items` (missing on target)"
        );
    }

    #[tokio::test]
    async fn a_table_only_on_the_target_is_a_mismatch() {
        let source = FakeVerifier::with(&TABLES[..2]);
        let target = FakeVerifier::with(TABLES);
        let clock = FakeClock::default();
        let error = run(&input("checksums"), &source, &target, &clock, &clock)
            .await
            .unwrap_err();
        assert!(error
            .to_string()
            .contains("`shop`.`items` (missing on source)"));
    }

    #[tokio::test]
    async fn users_and_grants_that_differ_are_named() {
        use crate::ports::Account;
        let source = FakeVerifier::with(TABLES);
        let target = FakeVerifier::with(TABLES);
        let account = |user: &str, digest: &str, grant: &str| Account {
            user: user.into(),
            host: "%".into(),
            authentication_digest: digest.into(),
            grants: vec![grant.into()],
        };
        // Created, re-passworded and granted on the source during catch-up: none of it replicated.
        source.accounts.lock().unwrap().extend([
            account(
                "reporting",
                "d1",
                "GRANT SELECT ON `shop`.* TO `reporting`@`%`",
            ),
            account("ops", "new", "GRANT USAGE ON *.* TO `ops`@`%`"),
            account("etl", "d3", "GRANT SELECT, INSERT ON `shop`.* TO `etl`@`%`"),
        ]);
        target.accounts.lock().unwrap().extend([
            account("ops", "old", "GRANT USAGE ON *.* TO `ops`@`%`"),
            account("etl", "d3", "GRANT SELECT ON `shop`.* TO `etl`@`%`"),
        ]);
        let clock = FakeClock::default();
        let error = run(&input("checksums"), &source, &target, &clock, &clock)
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), "VerificationMismatch");
        let text = error.to_string();
        for named in [
            "'etl'@'%' (grants)",
            "'ops'@'%' (authentication)",
            "'reporting'@'%' (missing on target)",
        ] {
            assert!(text.contains(named), "{named} not in {text}");
        }
        assert!(!text.contains("'app'@'%'"), "{text}");
    }

    #[tokio::test]
    async fn equal_accounts_are_counted() {
        let source = FakeVerifier::with(TABLES);
        let target = FakeVerifier::with(TABLES);
        let clock = FakeClock::default();
        let out = run(&input("counts"), &source, &target, &clock, &clock)
            .await
            .unwrap();
        assert_eq!(out.accounts_compared, 1);
    }

    #[tokio::test]
    async fn off_skips_without_reading_either_side() {
        let source = FakeVerifier::with(TABLES);
        let target = FakeVerifier::with(&[]);
        let clock = FakeClock::default();
        let out = run(&input("off"), &source, &target, &clock, &clock)
            .await
            .unwrap();
        assert!(out.skipped);
        assert!(!out.verified);
        assert!(source.asked.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_slow_side_times_out() {
        let source = FakeVerifier::with(TABLES);
        let target = FakeVerifier::hanging();
        let clock = FakeClock::default();
        let error = run(&input("checksums"), &source, &target, &clock, &clock)
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), "VerificationTimedOut");
    }

    #[tokio::test]
    async fn an_undrained_target_is_not_compared() {
        let mut input = input("counts");
        input.drain.as_mut().unwrap().drained = false;
        let source = FakeVerifier::with(TABLES);
        let clock = FakeClock::default();
        let error = run(&input, &source, &source, &clock, &clock)
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), "InvalidInput");
    }

    #[tokio::test]
    async fn a_refused_login_names_the_side() {
        let source = FakeVerifier::with(TABLES);
        let target = FakeVerifier::with(TABLES);
        target.fail_next(PortError::AccessDenied("admin@target".into()));
        let clock = FakeClock::default();
        let error = run(&input("counts"), &source, &target, &clock, &clock)
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), "AccessDenied");
        assert!(error.to_string().starts_with("target:"));
    }
}
