//! CheckParity: before the switchover gate, compares what binlog replication does not carry
//! between source and target, and runs the spec's smoke queries on the target.
//!
//! Why: the target is a restored snapshot kept current by binlog replication, which carries
//! rows but not the configuration around them. A parameter group value set on the source's
//! group only, a user created or re-granted during catch-up (Aurora MySQL 3 replicates neither
//! the `mysql` schema nor CREATE USER, GRANT or REVOKE) leave a target that serves the
//! application differently once it is switched over. Found here, before the fence, the run
//! rolls back with the source untouched and the operator fixes the target or says the
//! difference is expected (`parity.ignore`).
//!
//! Each side's settings ([`crate::ports::Verifier::settings`]: global variables, events,
//! triggers, routines, views, time zone tables) and accounts are read concurrently and compared
//! by [`crate::parity::compare`]. The fenced Verify runs the same [`check`] again, so a change
//! made on the source during catch-up is caught after the fence too. `parity.enabled: false`
//! skips the settings; the accounts are still compared under the fence.
//!
//! Then each `smoke.queries` entry runs on the target's writer in a read-only transaction,
//! bounded by `smoke.timeoutSeconds`; the first that fails stops the run.
//!
//! Input: `{"action": "parity", "document": <state document>}` (`parity`, `smoke`). Output:
//! [`ParityOutput`] at `$.parity`, where the spec's `parity` is: the output repeats `enabled`
//! and `ignore`, so the document keeps them. Errors: `ParityMismatch` (each setting named with both
//! values, never a credential), `SmokeQueryFailed` (the query's index and the server's
//! message), `InvalidInput`, `Transient`, `AccessDenied`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error_names;
use crate::errors::Resource;
use crate::errors::{impl_diagnostic, NamedError, PortError};
use crate::parity::{compare, control_plane_settings, Comparison, Difference};
use crate::ports::{Clock, Clusters, PortResult, ServerSettings, SmokeOutcome, Verifier};
use crate::spec::{ParitySpec, SmokeSpec};
use crate::state::RestoreOutput;

/// The `action` that asks the verify function for the parity check.
pub const PARITY_ACTION: &str = "parity";

/// Differences the error message names; the rest are counted.
const NAMED_IN_ERROR: usize = 20;

/// Ignored differences kept in the output (the state document is limited to 256 KiB).
const IGNORED_IN_OUTPUT: usize = 50;

/// Whether a payload of the verify function asks for the parity check.
pub fn is_parity_request(payload: &Value) -> bool {
    payload.get("action").and_then(Value::as_str) == Some(PARITY_ACTION)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParityInput {
    pub document: ParityDocument,
}

/// What the check reads of the state document.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParityDocument {
    #[serde(default)]
    pub parity: ParitySpec,
    #[serde(default)]
    pub smoke: Option<SmokeSpec>,
    /// The two clusters and the target's instances with the source instance each stands for,
    /// for the control plane's settings.
    #[serde(default)]
    pub source_cluster_id: Option<String>,
    #[serde(default)]
    pub target_cluster_id: Option<String>,
    #[serde(default)]
    pub instance_class: Option<String>,
    #[serde(default)]
    pub restore: Option<RestoreOutput>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParityOutput {
    /// `enabled` and `ignore` as the spec has them: the result is written where the spec keeps
    /// them (`$.parity`), and the fenced Verify (or CheckParity again) reads them there.
    #[serde(flatten)]
    pub spec: ParitySpec,
    /// `parity.enabled` was false: no setting was compared.
    pub skipped: bool,
    /// Settings and accounts compared.
    pub compared: usize,
    /// Always empty in a result: a difference fails the step.
    pub differences: Vec<Difference>,
    /// Differences `parity.ignore` allowed (the first few).
    pub ignored: Vec<Difference>,
    /// How many differences `parity.ignore` allowed.
    pub ignored_count: usize,
    /// Smoke queries run, when the spec has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoke: Option<SmokeReport>,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmokeReport {
    pub queries: usize,
    /// Rows the queries returned, in order.
    pub rows: Vec<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ParityError {
    #[error("source and target differ in {count} setting(s) that replication does not carry: {named}{hint}; allow an expected difference with parity.ignore")]
    Differ {
        count: usize,
        named: String,
        hint: &'static str,
        differences: Vec<Difference>,
    },
    #[error("smoke query {index} failed on the target: {message}")]
    SmokeFailed { index: usize, message: String },
    #[error("{side}: {error}")]
    Port {
        side: &'static str,
        error: PortError,
    },
}

impl ParityError {
    fn differ(differences: Vec<Difference>) -> Self {
        let mut named = differences
            .iter()
            .take(NAMED_IN_ERROR)
            .map(Difference::describe)
            .collect::<Vec<_>>()
            .join(", ");
        if differences.len() > NAMED_IN_ERROR {
            named.push_str(&format!(" and {} more", differences.len() - NAMED_IN_ERROR));
        }
        let hint = if differences
            .iter()
            .any(|d| d.setting.starts_with("account:"))
        {
            " (binlog replication does not carry CREATE USER, GRANT or REVOKE: repeat the change on the target)"
        } else {
            ""
        };
        ParityError::Differ {
            count: differences.len(),
            named,
            hint,
            differences,
        }
    }
}

impl NamedError for ParityError {
    fn error_name(&self) -> &'static str {
        match self {
            ParityError::Differ { .. } => error_names::PARITY_MISMATCH,
            ParityError::SmokeFailed { .. } => error_names::SMOKE_QUERY_FAILED,
            ParityError::Port { error, .. } => error.default_name(),
        }
    }
}

impl_diagnostic!(ParityError);

/// What CheckParity runs over: the two sides (smoke queries run on `target`), and the control
/// plane (`None`: its settings are not compared, and the output says so).
pub struct Deps<'a> {
    pub source: &'a dyn Verifier,
    pub target: &'a dyn Verifier,
    pub clusters: Option<&'a dyn Clusters>,
    pub clock: &'a dyn Clock,
}

fn side(side: &'static str) -> impl Fn(PortError) -> ParityError {
    move |error| ParityError::Port { side, error }
}

/// What [`check`] compared.
#[derive(Debug, Clone)]
pub struct Checked {
    pub comparison: Comparison,
    /// The source's accounts.
    pub accounts: usize,
}

/// Reads both sides and compares them: the settings when `spec.enabled`, the accounts always.
/// Fails with every difference `spec.ignore` does not allow.
pub async fn check(
    source: &dyn Verifier,
    target: &dyn Verifier,
    spec: &ParitySpec,
    control_plane: (ServerSettings, ServerSettings),
) -> Result<Checked, ParityError> {
    let (ss, ts, sa, ta) = tokio::join!(
        settings(source, spec.enabled),
        settings(target, spec.enabled),
        source.accounts(),
        target.accounts()
    );
    let (mut ss, sa) = (ss.map_err(side("source"))?, sa.map_err(side("source"))?);
    let (mut ts, ta) = (ts.map_err(side("target"))?, ta.map_err(side("target"))?);
    ss.extend(control_plane.0);
    ts.extend(control_plane.1);
    let comparison = compare(&ss, &ts, &sa, &ta, &spec.ignore);
    if !comparison.differences.is_empty() {
        return Err(ParityError::differ(comparison.differences));
    }
    Ok(Checked {
        comparison,
        accounts: sa.len(),
    })
}

async fn settings(side: &dyn Verifier, enabled: bool) -> PortResult<ServerSettings> {
    if enabled {
        side.settings().await
    } else {
        Ok(ServerSettings::new())
    }
}

/// Runs each smoke query on `target`; the first that fails stops.
async fn smoke(target: &dyn Verifier, spec: &SmokeSpec) -> Result<SmokeReport, ParityError> {
    let timeout = Duration::from_secs(u64::from(spec.timeout_seconds));
    let mut rows = Vec::with_capacity(spec.queries.len());
    for (index, query) in spec.queries.iter().enumerate() {
        match target
            .smoke_query(query, timeout)
            .await
            .map_err(side("target"))?
        {
            SmokeOutcome::Rows(n) => rows.push(n),
            SmokeOutcome::Failed(message) => {
                return Err(ParityError::SmokeFailed { index, message })
            }
        }
    }
    Ok(SmokeReport {
        queries: rows.len(),
        rows,
    })
}

/// Both clusters' control-plane settings ([`control_plane_settings`]), each target instance
/// named after the source instance Restore created it for.
async fn control_plane(
    document: &ParityDocument,
    clusters: &dyn Clusters,
) -> Result<(ServerSettings, ServerSettings), ParityError> {
    let (Some(source_id), Some(target_id), Some(restore)) = (
        &document.source_cluster_id,
        &document.target_cluster_id,
        &document.restore,
    ) else {
        return Ok(Default::default());
    };
    let describe = |id: &str, which: &'static str| {
        let id = id.to_string();
        async move {
            clusters
                .describe_cluster(&id)
                .await
                .map_err(side(which))?
                .ok_or(ParityError::Port {
                    side: which,
                    error: PortError::NotFound {
                        resource: Resource::Cluster,
                        message: id,
                    },
                })
        }
    };
    let (source, target) = (
        describe(source_id, "source").await?,
        describe(target_id, "target").await?,
    );
    let mut source_instances = Vec::new();
    let mut target_instances = Vec::new();
    for pair in &restore.instances {
        for (id, which, into) in [
            (&pair.source_instance_id, "source", &mut source_instances),
            (&pair.instance_id, "target", &mut target_instances),
        ] {
            if let Some(instance) = clusters.describe_instance(id).await.map_err(side(which))? {
                into.push((pair.source_instance_id.clone(), instance));
            }
        }
    }
    let compare_class = document.instance_class.is_none();
    Ok((
        control_plane_settings(&source, &source_instances, compare_class),
        control_plane_settings(&target, &target_instances, compare_class),
    ))
}

pub async fn run(input: &ParityInput, deps: &Deps<'_>) -> Result<ParityOutput, ParityError> {
    let started = deps.clock.now();
    let document = &input.document;
    let spec = &document.parity;
    let (skipped, comparison) = if spec.enabled {
        let control_plane = match deps.clusters {
            Some(clusters) => control_plane(document, clusters).await?,
            None => Default::default(),
        };
        (
            false,
            check(deps.source, deps.target, spec, control_plane)
                .await?
                .comparison,
        )
    } else {
        (true, Comparison::default())
    };
    let smoke = match &document.smoke {
        Some(s) if !s.queries.is_empty() => Some(smoke(deps.target, s).await?),
        _ => None,
    };
    let ignored_count = comparison.ignored.len();
    let mut ignored = comparison.ignored;
    ignored.truncate(IGNORED_IN_OUTPUT);
    Ok(ParityOutput {
        spec: spec.clone(),
        skipped,
        compared: comparison.compared,
        differences: comparison.differences,
        ignored,
        ignored_count,
        smoke,
        elapsed_ms: u64::try_from((deps.clock.now() - started).whole_milliseconds()).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{FakeClock, FakeVerifier};
    use serde_json::json;

    fn input(document: Value) -> ParityInput {
        serde_json::from_value(json!({"action": "parity", "document": document})).unwrap()
    }

    async fn run(
        input: &ParityInput,
        source: &FakeVerifier,
        target: &FakeVerifier,
    ) -> Result<ParityOutput, ParityError> {
        let clock = FakeClock::default();
        let deps = Deps {
            source,
            target,
            clusters: None,
            clock: &clock,
        };
        super::run(input, &deps).await
    }

    fn set(v: &FakeVerifier, name: &str, value: &str) {
        v.settings.lock().unwrap().insert(name.into(), value.into());
    }

    #[test]
    fn the_action_names_the_request() {
        assert!(is_parity_request(
            &json!({"action": "parity", "document": {}})
        ));
        assert!(!is_parity_request(&json!({"action": "online"})));
    }

    #[tokio::test]
    async fn equal_sides_pass_and_count_what_was_compared() {
        let (source, target) = (FakeVerifier::with(&[]), FakeVerifier::with(&[]));
        for v in [&source, &target] {
            set(v, "variable:sql_mode", "STRICT_TRANS_TABLES");
            set(v, "view:shop.v", "definer=app@% body=sha256:1");
        }
        let out = run(&input(json!({})), &source, &target).await.unwrap();
        assert!(!out.skipped);
        assert_eq!(out.compared, 3, "two settings and the application user");
        assert!(out.differences.is_empty());
        assert_eq!(out.smoke, None);
    }

    #[tokio::test]
    async fn a_difference_fails_naming_the_setting_and_both_values() {
        let (source, target) = (FakeVerifier::with(&[]), FakeVerifier::with(&[]));
        set(&source, "variable:sql_mode", "STRICT_TRANS_TABLES");
        set(&target, "variable:sql_mode", "");
        set(&source, "variable:max_allowed_packet", "67108864");
        set(&target, "variable:max_allowed_packet", "67108864");
        let error = run(&input(json!({})), &source, &target).await.unwrap_err();
        assert_eq!(error.error_name(), "ParityMismatch");
        assert_eq!(
            error.to_string(),
            "source and target differ in 1 setting(s) that replication does not carry: \
             variable:sql_mode (source: STRICT_TRANS_TABLES, target: ); allow an expected \
             difference with parity.ignore"
        );
    }

    #[tokio::test]
    async fn an_ignored_difference_passes_and_is_reported() {
        let (source, target) = (FakeVerifier::with(&[]), FakeVerifier::with(&[]));
        set(&source, "variable:innodb_io_capacity", "200");
        set(&target, "variable:innodb_io_capacity", "2000");
        let out = run(
            &input(json!({"parity": {"ignore": ["variable:innodb_*"]}})),
            &source,
            &target,
        )
        .await
        .unwrap();
        assert_eq!(out.ignored_count, 1);
        assert_eq!(out.ignored[0].setting, "variable:innodb_io_capacity");
        // Written at `$.parity`, the result still holds the spec for the fenced Verify.
        let written = serde_json::to_value(&out).unwrap();
        let again: ParityDocument = serde_json::from_value(json!({ "parity": written })).unwrap();
        assert_eq!(again.parity.ignore, vec!["variable:innodb_*".to_string()]);
    }

    #[tokio::test]
    async fn a_user_created_on_the_source_is_named_with_the_hint() {
        use crate::ports::Account;
        let (source, target) = (FakeVerifier::with(&[]), FakeVerifier::with(&[]));
        source.accounts.lock().unwrap().push(Account {
            user: "reporting".into(),
            host: "%".into(),
            authentication_digest: "secret-digest".into(),
            grants: vec![],
        });
        let error = run(&input(json!({})), &source, &target).await.unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("account:'reporting'@'%' (source: exists, target: missing)"),
            "{text}"
        );
        assert!(text.contains("CREATE USER"), "{text}");
        assert!(!text.contains("secret-digest"), "{text}");
    }

    #[tokio::test]
    async fn disabled_compares_nothing_but_still_runs_smoke_queries() {
        let (source, target) = (FakeVerifier::with(&[]), FakeVerifier::with(&[]));
        set(&source, "variable:sql_mode", "A");
        let out = run(
            &input(json!({"parity": {"enabled": false}, "smoke": {"queries": ["SELECT 1"]}})),
            &source,
            &target,
        )
        .await
        .unwrap();
        assert!(out.skipped);
        assert_eq!(out.smoke.unwrap().queries, 1);
        assert!(source.smoke_queries.lock().unwrap().is_empty());
        assert_eq!(target.smoke_queries.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_failing_smoke_query_is_named_by_index_with_the_server_message() {
        let (source, target) = (FakeVerifier::with(&[]), FakeVerifier::with(&[]));
        target.smoke_failures.lock().unwrap().insert(
            "SELECT * FROM shop.gone".into(),
            "Table 'shop.gone' doesn't exist".into(),
        );
        let error = run(
            &input(json!({"smoke": {"queries": ["SELECT 1", "SELECT * FROM shop.gone", "SELECT 2"], "timeoutSeconds": 5}})),
            &source,
            &target,
        )
        .await
        .unwrap_err();
        assert_eq!(error.error_name(), "SmokeQueryFailed");
        assert_eq!(
            error.to_string(),
            "smoke query 1 failed on the target: Table 'shop.gone' doesn't exist"
        );
        let asked = target.smoke_queries.lock().unwrap().clone();
        assert_eq!(asked.len(), 2, "stops at the first failure");
        assert_eq!(asked[1].1, Duration::from_secs(5));
    }

    #[tokio::test]
    async fn an_unreadable_side_is_named() {
        let (source, target) = (FakeVerifier::with(&[]), FakeVerifier::with(&[]));
        target.fail_settings(PortError::AccessDenied("admin@target".into()));
        let error = run(&input(json!({})), &source, &target).await.unwrap_err();
        assert_eq!(error.error_name(), "AccessDenied");
        assert!(error.to_string().starts_with("target:"), "{error}");
    }
}
