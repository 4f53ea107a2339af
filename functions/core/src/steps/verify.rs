//! Verify: compares the source and the target at the drained position, while writes are fenced,
//! before the application is switched over.
//!
//! What is compared depends on `verify.mode`:
//! - `online` (the default): only what changed since the online pass
//!   ([`crate::steps::verify_online`]) compared every chunk. The source's binlog is read from
//!   the position the pass started at to the drained position; every row it shows written
//!   (before and after images) is compared on both sides by its key, and so are the chunks the
//!   pass left unsettled and tables created since. The fenced cost grows with the writes, not
//!   the data. When more than `verify.maxTouchedRows` distinct rows were written, every table is
//!   compared whole instead, and the output says so (`recheck.fullComparison`).
//! - `full-fenced` (formerly `checksums`): row counts and `CHECKSUM TABLE` of every table;
//! - `counts`: row counts of every table;
//! - `off`: nothing.
//!
//! Both sides are read concurrently. Tables are those of `verify.databases` (default every user
//! database). A table missing on one side, or rows that differ, fail with
//! `VerificationMismatch` naming the first few. The parity check of CheckParity
//! ([`crate::steps::parity::check`]) runs again: the accounts of both servers and their grants
//! ([`compare_accounts`]; binlog replication on Aurora MySQL 3 carries neither the `mysql`
//! schema nor CREATE USER, GRANT or REVOKE, so an account changed during catch-up differs) and,
//! unless `parity.enabled` is false, the settings replication does not carry, so that a change
//! made on the source after CheckParity is caught too; each difference `parity.ignore` does not
//! allow is named (`ParityMismatch`). The whole comparison is bounded by
//! `verify.timeoutSeconds` (`VerificationTimedOut`: the target is unverified, so the switchover
//! does not happen).
//!
//! Input: the state document (`verify`, `parity`, `verifyOnline`, optional `drain` for the
//! position). Output: [`VerifyOutput`] at `$.verify`. Errors: `VerificationMismatch`,
//! `ParityMismatch`, `VerificationTimedOut`, `InvalidInput` (drain not finished, online pass
//! missing), `Transient`, `AccessDenied`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::binlog::BinlogPosition;
use crate::error_names;
use crate::errors::{impl_diagnostic, NamedError, PortError};
use crate::ports::{
    key_text, Account, ChunkDigest, ChunkTable, Clock, Key, KeyRange, Sleeper, TableDigest,
    VerifyDepth, VerifySide,
};
use crate::spec::{ParitySpec, VerifyMode, VerifySpec};
use crate::steps::drain::{DrainOutput, DrainPositions};
use crate::steps::fence_writes::FenceOutput;
use crate::steps::parity::{self, ParityError};
use crate::steps::verify_online::OnlineOutput;

/// Verification, the online pass and the pre-warm are SQL only (credentials from Secrets
/// Manager); CheckParity also describes both clusters and their instances.
pub const IAM_ACTIONS: &[&str] = &[
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
    "secretsmanager:GetSecretValue",
    "kms:Decrypt",
];

/// How many differing tables the error message names.
const NAMED_IN_ERROR: usize = 5;

/// Keys compared by one statement per side in the fenced re-check.
const KEYS_PER_BATCH: usize = 1_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyInput {
    #[serde(default)]
    pub verify: VerifySpec,
    /// The parity check, run again under the fence.
    #[serde(default)]
    pub parity: ParitySpec,
    #[serde(default)]
    pub drain: Option<DrainOutput>,
    /// The fence, whose confirmed position ends the binlog the `online` re-check reads when
    /// the drain recorded none.
    #[serde(default)]
    pub fence: Option<FenceOutput>,
    /// The online pass (`online` mode).
    #[serde(default)]
    pub verify_online: Option<OnlineOutput>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableMismatch {
    pub database: String,
    pub table: String,
    /// `missing on target`, `missing on source`, `row count`, `checksum`, or the rows that
    /// differ (`rows with key …`, `rows … < key <= …`).
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
    /// Settings and accounts the parity check compared again.
    #[serde(default)]
    pub parity_compared: usize,
    /// `online`: what the fenced re-check read and compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recheck: Option<RecheckReport>,
}

/// The fenced re-check of `online` mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecheckReport {
    /// The binlog read: from the online pass's start to the drained position.
    pub from: Option<BinlogPosition>,
    pub to: Option<BinlogPosition>,
    pub binlog_files: u32,
    pub row_events: u64,
    /// Distinct rows the binlog shows written (keys compared).
    pub touched_rows: u64,
    /// Chunks the online pass left unsettled, compared whole.
    pub unsettled_chunks: usize,
    /// Tables compared whole: without chunk key, created since the pass, with too many
    /// unsettled chunks, or all of them.
    pub whole_tables: usize,
    /// Every table was compared whole, and why.
    pub full_comparison: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_comparison_reason: Option<String>,
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
    /// The parity check under the fence: a setting or an account differs.
    #[error(transparent)]
    Parity(ParityError),
    #[error("verify.mode `online` re-checks what changed since the online pass, and the state document holds no finished pass ($.verifyOnline)")]
    NoOnlinePass,
    #[error("the state document holds neither the drained position nor the fence's: the online re-check needs the position writes stopped at")]
    NoFencePosition,
    #[error("the target did not show marker {sequence} of the online verification within {timeout} s (verify.timeoutSeconds): replication is not keeping up, and nothing was fenced")]
    NotCatchingUp { sequence: u64, timeout: u32 },
    #[error("verification did not finish within {0} s (verify.timeoutSeconds); the target is unverified")]
    TimedOut(u32),
    #[error("{side}: {error}")]
    Port {
        side: &'static str,
        error: PortError,
    },
}

impl VerifyError {
    /// The differing tables, the first few named.
    pub(crate) fn mismatch(mismatches: Vec<TableMismatch>) -> Self {
        let named = mismatches
            .iter()
            .take(NAMED_IN_ERROR)
            .map(|m| format!("`{}`.`{}` ({})", m.database, m.table, m.reason))
            .collect::<Vec<_>>()
            .join(", ");
        VerifyError::Mismatch {
            count: mismatches.len(),
            named,
            mismatches,
        }
    }

    /// Rows of `table` in `range` that differ.
    pub(crate) fn chunk_differs(
        table: &ChunkTable,
        range: &KeyRange,
        source: &ChunkDigest,
        target: &ChunkDigest,
    ) -> Self {
        let rows = if range == &KeyRange::all() {
            "the table's rows".to_string()
        } else {
            format!("rows with {range}")
        };
        Self::mismatch(vec![rows_differ(table, rows, source, target)])
    }
}

fn rows_differ(
    table: &ChunkTable,
    rows: String,
    source: &ChunkDigest,
    target: &ChunkDigest,
) -> TableMismatch {
    TableMismatch {
        database: table.database.clone(),
        table: table.table.clone(),
        reason: format!(
            "{rows} differ: {} row(s) on the source, {} on the target",
            source.rows, target.rows
        ),
        source_rows: Some(source.rows),
        target_rows: Some(target.rows),
    }
}

/// Tables on one side only, by name.
pub(crate) fn missing_tables(source: &[ChunkTable], target: &[ChunkTable]) -> Vec<TableMismatch> {
    let names = |tables: &[ChunkTable]| -> BTreeMap<(String, String), ()> {
        tables
            .iter()
            .map(|t| ((t.database.clone(), t.table.clone()), ()))
            .collect()
    };
    let (s, t) = (names(source), names(target));
    let only =
        |a: &BTreeMap<(String, String), ()>, b: &BTreeMap<(String, String), ()>, why: &str| {
            a.keys()
                .filter(|k| !b.contains_key(*k))
                .map(|(database, table)| TableMismatch {
                    database: database.clone(),
                    table: table.clone(),
                    reason: why.into(),
                    source_rows: None,
                    target_rows: None,
                })
                .collect::<Vec<_>>()
        };
    let mut missing = only(&s, &t, "missing on target");
    missing.extend(only(&t, &s, "missing on source"));
    missing
}

impl NamedError for VerifyError {
    fn error_name(&self) -> &'static str {
        match self {
            VerifyError::NotDrained | VerifyError::NoOnlinePass | VerifyError::NoFencePosition => {
                error_names::INVALID_INPUT
            }
            VerifyError::Mismatch { .. } => error_names::VERIFICATION_MISMATCH,
            VerifyError::Parity(error) => error.error_name(),
            VerifyError::TimedOut(_) => error_names::VERIFICATION_TIMED_OUT,
            VerifyError::NotCatchingUp { .. } => error_names::LAG_NOT_CONVERGING,
            VerifyError::Port { error, .. } => error.default_name(),
        }
    }
}

impl_diagnostic!(VerifyError);

/// What Verify runs over: the two sides it compares.
pub struct Deps<'a> {
    pub source: &'a dyn VerifySide,
    pub target: &'a dyn VerifySide,
    pub clock: &'a dyn Clock,
    /// Bounds the comparison by `verify.timeoutSeconds`.
    pub sleeper: &'a dyn Sleeper,
}

pub async fn run(input: &VerifyInput, deps: &Deps<'_>) -> Result<VerifyOutput, VerifyError> {
    let Deps {
        source,
        target,
        clock,
        sleeper,
    } = *deps;
    let started = clock.now();
    let spec = &input.verify;
    let position = input.drain.as_ref().and_then(|d| d.positions.clone());
    let mut output = VerifyOutput {
        mode: spec.mode,
        skipped: true,
        verified: false,
        tables_compared: 0,
        rows_compared: 0,
        position,
        elapsed_ms: 0,
        accounts_compared: 0,
        parity_compared: 0,
        recheck: None,
    };
    if spec.mode == VerifyMode::Off {
        return Ok(output);
    }
    if input.drain.as_ref().is_some_and(|d| !d.drained) {
        return Err(VerifyError::NotDrained);
    }
    let both = async {
        tokio::join!(
            compare_data(input, source, target),
            parity::check(source, target, &input.parity, Default::default())
        )
    };
    let timeout = sleeper.sleep(Duration::from_secs(u64::from(spec.timeout_seconds)));
    let (compared, parity) = tokio::select! {
        biased;
        read = both => read,
        () = timeout => return Err(VerifyError::TimedOut(spec.timeout_seconds)),
    };
    let compared = compared?;
    let parity = parity.map_err(VerifyError::Parity)?;
    output.skipped = false;
    output.verified = true;
    output.tables_compared = compared.tables;
    output.rows_compared = compared.rows;
    output.recheck = compared.recheck;
    output.accounts_compared = parity.accounts;
    output.parity_compared = parity.comparison.compared;
    output.elapsed_ms = u64::try_from((clock.now() - started).whole_milliseconds()).unwrap_or(0);
    Ok(output)
}

fn side(side: &'static str) -> impl Fn(PortError) -> VerifyError {
    move |error| VerifyError::Port { side, error }
}

/// What a data comparison covered.
#[derive(Default)]
struct Compared {
    tables: usize,
    rows: u64,
    recheck: Option<RecheckReport>,
}

async fn compare_data(
    input: &VerifyInput,
    source: &dyn VerifySide,
    target: &dyn VerifySide,
) -> Result<Compared, VerifyError> {
    let spec = &input.verify;
    let depth = match spec.mode {
        VerifyMode::Online => return recheck_online(input, source, target).await,
        VerifyMode::Counts | VerifyMode::Off => VerifyDepth::Counts,
        VerifyMode::FullFenced => VerifyDepth::Checksums,
    };
    let (source_digests, target_digests) = tokio::join!(
        source.table_digests(&spec.databases, depth),
        target.table_digests(&spec.databases, depth)
    );
    let source_digests = source_digests.map_err(side("source"))?;
    let target_digests = target_digests.map_err(side("target"))?;
    let mismatches = compare(&source_digests, &target_digests, depth);
    if !mismatches.is_empty() {
        return Err(VerifyError::mismatch(mismatches));
    }
    Ok(Compared {
        tables: source_digests.len(),
        rows: source_digests.iter().map(|d| d.rows).sum(),
        recheck: None,
    })
}

/// `online`: compares, on both sides, the rows the source's binlog shows written since the
/// online pass started, the chunks it left unsettled and the tables it did not know.
async fn recheck_online(
    input: &VerifyInput,
    source: &dyn VerifySide,
    target: &dyn VerifySide,
) -> Result<Compared, VerifyError> {
    let spec = &input.verify;
    let online = input
        .verify_online
        .as_ref()
        .filter(|o| o.done && !o.skipped)
        .ok_or(VerifyError::NoOnlinePass)?;
    let from = online
        .start_position
        .clone()
        .ok_or(VerifyError::NoOnlinePass)?;
    let to = input
        .drain
        .as_ref()
        .and_then(|d| d.positions.as_ref().map(|p| p.source.clone()))
        .or_else(|| {
            input
                .fence
                .as_ref()
                .and_then(|f| f.confirmation.as_ref().map(|c| c.position.clone()))
        })
        .ok_or(VerifyError::NoFencePosition)?;

    let (source_tables, target_tables) = tokio::join!(
        source.chunk_tables(&spec.databases),
        target.chunk_tables(&spec.databases)
    );
    let tables = source_tables.map_err(side("source"))?;
    let missing = missing_tables(&tables, &target_tables.map_err(side("target"))?);
    if !missing.is_empty() {
        return Err(VerifyError::mismatch(missing));
    }
    let limit = usize::try_from(spec.max_touched_rows).unwrap_or(usize::MAX);
    let touched = source
        .touched_rows(&from, &to, &online.tables, limit)
        .await
        .map_err(side("source"))?;
    let mut report = RecheckReport {
        from: Some(from),
        to: Some(to),
        binlog_files: touched.files,
        row_events: touched.row_events,
        unsettled_chunks: online.unsettled.len(),
        ..RecheckReport::default()
    };
    let mut compared = Compared::default();
    let known = |t: &ChunkTable| {
        online
            .tables
            .iter()
            .any(|o| o.database == t.database && o.table == t.table)
    };
    if touched.over_limit {
        report.full_comparison = true;
        report.full_comparison_reason = Some(format!(
            "more than {} distinct rows written since the online pass (verify.maxTouchedRows)",
            spec.max_touched_rows
        ));
        for table in &tables {
            compared.rows += compare_range(source, target, table, &KeyRange::all()).await?;
            report.whole_tables += 1;
        }
        compared.tables = tables.len();
    } else {
        for written in &touched.tables {
            let Some(table) = online
                .tables
                .iter()
                .find(|t| t.database == written.database && t.table == written.table)
            else {
                continue;
            };
            compared.tables += 1;
            if table.key.is_empty() {
                compared.rows += compare_range(source, target, table, &KeyRange::all()).await?;
                report.whole_tables += 1;
                continue;
            }
            report.touched_rows += written.keys.len() as u64;
            for batch in written.keys.chunks(KEYS_PER_BATCH) {
                compared.rows += compare_keys(source, target, table, batch).await?;
            }
        }
        for chunk in &online.unsettled {
            if let Some(table) = online.tables.get(chunk.table) {
                compared.rows += compare_range(source, target, table, &chunk.range).await?;
            }
        }
        for table in online
            .unsettled_tables
            .iter()
            .filter_map(|i| online.tables.get(*i))
        {
            compared.rows += compare_range(source, target, table, &KeyRange::all()).await?;
            report.whole_tables += 1;
        }
        for table in tables.iter().filter(|t| !known(t)) {
            compared.rows += compare_range(source, target, table, &KeyRange::all()).await?;
            compared.tables += 1;
            report.whole_tables += 1;
        }
    }
    compared.recheck = Some(report);
    Ok(compared)
}

/// Compares the rows of `table` in `range`; returns the source's row count.
async fn compare_range(
    source: &dyn VerifySide,
    target: &dyn VerifySide,
    table: &ChunkTable,
    range: &KeyRange,
) -> Result<u64, VerifyError> {
    let (s, t) = tokio::join!(
        source.digest_range(table, range),
        target.digest_range(table, range)
    );
    let (s, t) = (s.map_err(side("source"))?, t.map_err(side("target"))?);
    if s != t {
        return Err(VerifyError::chunk_differs(table, range, &s, &t));
    }
    Ok(s.rows)
}

/// Compares the rows of `table` with these keys; on a difference, names the keys that differ.
async fn compare_keys(
    source: &dyn VerifySide,
    target: &dyn VerifySide,
    table: &ChunkTable,
    keys: &[Key],
) -> Result<u64, VerifyError> {
    let digests = |keys: &[Key]| {
        let keys = keys.to_vec();
        async move {
            let (s, t) = tokio::join!(
                source.digest_keys(table, &keys),
                target.digest_keys(table, &keys)
            );
            Ok::<_, VerifyError>((s.map_err(side("source"))?, t.map_err(side("target"))?))
        }
    };
    let (s, t) = digests(keys).await?;
    if s == t {
        return Ok(s.rows);
    }
    let mut differing = Vec::new();
    let (mut source_rows, mut target_rows) = (0, 0);
    for key in keys {
        let (ks, kt) = digests(std::slice::from_ref(key)).await?;
        if ks != kt {
            source_rows += ks.rows;
            target_rows += kt.rows;
            differing.push(key_text(key));
            if differing.len() >= NAMED_IN_ERROR {
                break;
            }
        }
    }
    let rows = format!("rows with key {}", differing.join(", "));
    let (s, t) = (
        ChunkDigest {
            rows: source_rows,
            digest: String::new(),
        },
        ChunkDigest {
            rows: target_rows,
            digest: String::new(),
        },
    );
    Err(VerifyError::mismatch(vec![rows_differ(
        table, rows, &s, &t,
    )]))
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

    /// Verify over the fakes.
    async fn run(
        input: &VerifyInput,
        source: &FakeVerifier,
        target: &FakeVerifier,
        clock: &FakeClock,
        sleeper: &FakeClock,
    ) -> Result<VerifyOutput, VerifyError> {
        let deps = Deps {
            source,
            target,
            clock,
            sleeper,
        };
        super::run(input, &deps).await
    }

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
        assert_eq!(error.error_name(), "ParityMismatch");
        let text = error.to_string();
        for named in [
            "account:'etl'@'%' (source: GRANT SELECT, INSERT ON `shop`.* TO `etl`@`%`, target: GRANT SELECT ON `shop`.* TO `etl`@`%`)",
            "account:'ops'@'%' (source: a credential (not shown)",
            "account:'reporting'@'%' (source: exists, target: missing)",
            "repeat the change on the target",
        ] {
            assert!(text.contains(named), "{named} not in {text}");
        }
        assert!(!text.contains("'app'@'%'"), "{text}");
        assert!(!text.contains("new") && !text.contains("old"), "{text}");
    }

    #[tokio::test]
    async fn a_setting_changed_after_check_parity_is_caught_under_the_fence() {
        let source = FakeVerifier::with(TABLES);
        let target = FakeVerifier::with(TABLES);
        for v in [&source, &target] {
            v.settings
                .lock()
                .unwrap()
                .insert("variable:sql_mode".into(), "STRICT_TRANS_TABLES".into());
        }
        let clock = FakeClock::default();
        let out = run(&input("counts"), &source, &target, &clock, &clock)
            .await
            .unwrap();
        assert_eq!(out.parity_compared, 2);
        source
            .settings
            .lock()
            .unwrap()
            .insert("variable:sql_mode".into(), "".into());
        let error = run(&input("counts"), &source, &target, &clock, &clock)
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), "ParityMismatch");
        assert!(
            error
                .to_string()
                .contains("variable:sql_mode (source: , target: STRICT_TRANS_TABLES)"),
            "{error}"
        );
        // Allowed by name, and skipped altogether when parity is off (the accounts still count).
        let mut allowed = input("counts");
        allowed.parity.ignore = vec!["variable:sql_*".into()];
        run(&allowed, &source, &target, &clock, &clock)
            .await
            .unwrap();
        let mut off = input("counts");
        off.parity.enabled = false;
        let out = run(&off, &source, &target, &clock, &clock).await.unwrap();
        assert_eq!(out.parity_compared, 1);
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

    /// The state document after a finished online pass over `source` and `target`, drained at
    /// `mysql-bin-changelog.000009:900`.
    async fn after_online_pass(
        source: &FakeVerifier,
        target: &FakeVerifier,
        verify: serde_json::Value,
    ) -> VerifyInput {
        use crate::fakes::FakeFenceSql;
        use crate::steps::verify_online::{self, OnlineInput, OnlineSettings};
        let markers = FakeFenceSql::default();
        markers.replicate("orders", "orders-encrypted");
        let clock = FakeClock::default();
        let document = json!({
            "sourceClusterId": "orders", "targetClusterId": "orders-encrypted",
            "verify": verify, "execution": {"name": "run-1"}
        });
        let online: OnlineInput =
            serde_json::from_value(json!({"action": "online", "document": document})).unwrap();
        let deps = verify_online::Deps {
            source,
            target,
            markers: &markers,
            clock: &clock,
            sleeper: &clock,
            settings: OnlineSettings::default(),
        };
        let pass = verify_online::run(&online, &deps).await.unwrap();
        assert!(pass.done);
        let mut document = json!({
            "verify": verify,
            "verifyOnline": pass,
            "drain": {
                "drained": true, "markerArrived": true, "lagSeconds": 0, "waitedMs": 800, "reads": 3,
                "deadline": "2026-11-27T12:05:00Z", "nextPollSeconds": 0,
                "positions": {
                    "source": {"file": "mysql-bin-changelog.000009", "position": 900},
                    "applied": {"file": "mysql-bin-changelog.000009", "position": 900}
                }
            }
        });
        document["verify"]["mode"] = json!("online");
        serde_json::from_value(document).unwrap()
    }

    fn touched(ids: &[i64]) -> Vec<crate::ports::TouchedTable> {
        vec![crate::ports::TouchedTable {
            database: "shop".into(),
            table: "orders".into(),
            keys: ids
                .iter()
                .map(|id| vec![crate::ports::KeyValue::Int(*id)])
                .collect(),
        }]
    }

    #[tokio::test]
    async fn online_mode_rechecks_only_the_rows_written_since_the_pass() {
        let source = FakeVerifier::with_rows(&[("shop", "orders", 5_000), ("shop", "items", 10)]);
        let target = FakeVerifier::with_rows(&[("shop", "orders", 5_000), ("shop", "items", 10)]);
        let input = after_online_pass(&source, &target, json!({})).await;
        // Written during catch-up and the switchover, and replicated.
        for side in [&source, &target] {
            side.set_row("shop", "orders", 17, "updated");
            side.set_row("shop", "orders", 5_001, "inserted");
        }
        *source.touched.lock().unwrap() = touched(&[17, 5_001]);
        let before = *source.digests_computed.lock().unwrap();
        let clock = FakeClock::default();
        let out = run(&input, &source, &target, &clock, &clock).await.unwrap();
        assert!(out.verified);
        assert_eq!(out.rows_compared, 2);
        let recheck = out.recheck.unwrap();
        assert_eq!(recheck.touched_rows, 2);
        assert!(!recheck.full_comparison);
        assert_eq!(
            *source.digests_computed.lock().unwrap() - before,
            1,
            "one batch"
        );
        let reads = source.binlog_reads.lock().unwrap().clone();
        assert_eq!(
            reads,
            vec![(
                BinlogPosition::new("mysql-bin-changelog.000001", 4),
                BinlogPosition::new("mysql-bin-changelog.000009", 900)
            )]
        );
    }

    #[tokio::test]
    async fn online_mode_names_the_written_row_that_differs_under_the_fence() {
        let source = FakeVerifier::with_rows(&[("shop", "orders", 100)]);
        let target = FakeVerifier::with_rows(&[("shop", "orders", 100)]);
        let input = after_online_pass(&source, &target, json!({})).await;
        source.set_row("shop", "orders", 42, "written on the source");
        source.set_row("shop", "orders", 43, "written on both");
        target.set_row("shop", "orders", 43, "written on both");
        *source.touched.lock().unwrap() = touched(&[42, 43]);
        let clock = FakeClock::default();
        let error = run(&input, &source, &target, &clock, &clock)
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), error_names::VERIFICATION_MISMATCH);
        assert!(
            error
                .to_string()
                .contains("`shop`.`orders` (rows with key 42 differ"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn more_rows_written_than_the_bound_compares_every_table_whole_and_says_so() {
        let source = FakeVerifier::with_rows(&[("shop", "orders", 100), ("shop", "items", 3)]);
        let target = FakeVerifier::with_rows(&[("shop", "orders", 100), ("shop", "items", 3)]);
        let input = after_online_pass(&source, &target, json!({"maxTouchedRows": 2})).await;
        *source.touched.lock().unwrap() = touched(&[1, 2, 3]);
        let clock = FakeClock::default();
        let out = run(&input, &source, &target, &clock, &clock).await.unwrap();
        let recheck = out.recheck.unwrap();
        assert!(recheck.full_comparison);
        assert!(recheck
            .full_comparison_reason
            .unwrap()
            .contains("verify.maxTouchedRows"));
        assert_eq!(recheck.whole_tables, 2);
        assert_eq!(out.rows_compared, 103);
        // Whole tables are compared even where no row was written.
        target.set_row("shop", "items", 2, "diverged");
        let error = run(&input, &source, &target, &clock, &clock)
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("`shop`.`items` (the table's rows differ"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn online_mode_compares_tables_created_since_the_pass_whole() {
        let source = FakeVerifier::with_rows(&[("shop", "orders", 10)]);
        let target = FakeVerifier::with_rows(&[("shop", "orders", 10)]);
        let input = after_online_pass(&source, &target, json!({})).await;
        source.set_row("shop", "coupons", 1, "new");
        target.set_row("shop", "coupons", 1, "other");
        let clock = FakeClock::default();
        let error = run(&input, &source, &target, &clock, &clock)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("`shop`.`coupons`"), "{error}");
    }

    #[tokio::test]
    async fn online_mode_without_a_finished_pass_is_invalid_input() {
        let source = FakeVerifier::with_rows(&[("shop", "orders", 10)]);
        let target = FakeVerifier::with_rows(&[("shop", "orders", 10)]);
        let clock = FakeClock::default();
        let error = run(&input("online"), &source, &target, &clock, &clock)
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), error_names::INVALID_INPUT);
        assert!(error.to_string().contains("$.verifyOnline"), "{error}");
    }
}
