//! `CacheWarmer`: what the source spends its time on, and replaying the reads of it on the
//! target so that its buffer pools are warm when the application arrives. A restored cluster
//! starts with empty buffer pools, and until they fill every read waits for storage: users see
//! that as slowness right after the swap.
//!
//! Implemented over SQL: the source's `performance_schema.events_statements_summary_by_digest`
//! (with each digest's sample text), and the SELECTs replayed read-only on each target instance.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{DatabaseEndpoint, PortResult};

/// One of the source's most expensive statements by total time. `text` is a sample with its
/// literals: it is replayed, never written to the execution's output.
#[derive(Debug, Clone, PartialEq)]
pub struct TopStatement {
    pub digest: String,
    /// The default database it ran in.
    pub schema: Option<String>,
    /// A sample of the statement as the server received it, when the server kept one.
    pub text: Option<String>,
    pub executions: u64,
    pub total_ms: f64,
}

/// What warming one instance did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceWarmth {
    /// `host:port`.
    pub endpoint: String,
    pub statements_run: u32,
    /// Digests of the statements that failed (a truncated sample, a table since dropped …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statements_failed: Vec<String>,
    pub tables_loaded: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables_failed: Vec<String>,
    pub rows_read: u64,
    pub elapsed_ms: u64,
    /// The time budget ran out before everything ran.
    pub stopped_by_budget: bool,
}

#[async_trait]
pub trait CacheWarmer: Send + Sync {
    /// The `limit` statements the server at `source` spent most time on, most first, logged in
    /// with the user in the secret `secret_arn`. `InvalidRequest` when the server keeps no
    /// statement statistics (`performance_schema` off).
    async fn top_statements(
        &self,
        source: &DatabaseEndpoint,
        secret_arn: &str,
        limit: u32,
    ) -> PortResult<Vec<TopStatement>>;

    /// Runs `statements` (SELECTs only; anything else is refused unrun) and reads the primary
    /// key of each of `tables` (`database.table`) in full on the server at `target`, in a
    /// read-only session, until `budget` runs out.
    async fn warm(
        &self,
        target: &DatabaseEndpoint,
        secret_arn: &str,
        statements: &[TopStatement],
        tables: &[String],
        budget: Duration,
    ) -> PortResult<InstanceWarmth>;
}

/// Whether `text` is one plain SELECT the pre-warm may replay: it starts with `SELECT` (after
/// comments and blanks), is a single statement, and neither locks rows nor writes
/// (`FOR UPDATE`, `LOCK IN SHARE MODE`, `FOR SHARE`, `INTO`). The session is read-only as well;
/// this keeps anything else from being sent at all.
pub fn is_replayable_select(text: &str) -> bool {
    let body = strip_leading_comments(text)
        .trim_end()
        .trim_end_matches(';');
    let upper = body.to_ascii_uppercase();
    let starts = upper
        .strip_prefix("SELECT")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_whitespace() || c == '*' || c == '('));
    let words: Vec<&str> = upper
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let has = |pair: &[&str]| words.windows(pair.len()).any(|w| w == pair);
    starts
        && !body.contains(';')
        && !has(&["FOR", "UPDATE"])
        && !has(&["FOR", "SHARE"])
        && !has(&["LOCK", "IN", "SHARE", "MODE"])
        && !words.contains(&"INTO")
}

fn strip_leading_comments(text: &str) -> &str {
    let mut rest = text.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("/*") {
            match after.find("*/") {
                Some(end) => rest = after[end + 2..].trim_start(),
                None => return "",
            }
        } else if rest.starts_with("--") || rest.starts_with('#') {
            match rest.find('\n') {
                Some(end) => rest = rest[end + 1..].trim_start(),
                None => return "",
            }
        } else {
            return rest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_selects_are_replayable() {
        for ok in [
            "SELECT * FROM shop.orders WHERE id = 42",
            "  /* app */ select id, total from orders where customer_id = 7;",
            "-- report\nSELECT COUNT(*) FROM items",
            "SELECT(1)",
        ] {
            assert!(is_replayable_select(ok), "{ok}");
        }
        for refused in [
            "UPDATE orders SET total = 0",
            "DELETE FROM orders",
            "INSERT INTO t SELECT * FROM u",
            "SELECT * FROM orders FOR UPDATE",
            "select * from orders lock in share mode",
            "SELECT * FROM orders FOR SHARE",
            "SELECT id INTO @x FROM orders",
            "SELECT 1; DROP TABLE orders",
            // Literals are not parsed: a statement that might lock is skipped, not guessed at.
            "SELECT * FROM t WHERE note = 'for update later'",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "SELECTED",
            "/* unterminated SELECT 1",
            "CALL mysql.rds_kill(1)",
            "",
        ] {
            assert!(!is_replayable_select(refused), "{refused}");
        }
    }
}
