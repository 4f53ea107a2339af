//! Prewarm: fills the target's buffer pools before the switchover gate, so that the application
//! does not meet a cold cluster right after the swap (a restored cluster starts with empty
//! buffer pools; until they fill, reads wait for storage).
//!
//! Runs when the spec has `prewarm`. It reads the source's `prewarm.topStatements` statements by
//! total time (`performance_schema`), keeps the plain SELECTs
//! ([`is_replayable_select`](crate::ports::is_replayable_select)), and replays them on the
//! target's writer and on each reader through its instance endpoint, read-only, all instances
//! at once; then reads the primary key of each of `prewarm.tables` in full. Everything stops at
//! `prewarm.timeBudgetSeconds`. Pre-warming is advice, not a gate: a statement that fails, or a
//! source without statement statistics or a user that may not read them (it needs `SELECT` on
//! `performance_schema`), is reported (`$.prewarmed`), and the run goes on. The
//! statements' texts carry the application's literals, so only their digests are reported.
//!
//! Input: `{"action": "prewarm", "document": <state document>}`. Output: [`PrewarmOutput`] at
//! `$.prewarmed` (`$.prewarm` holds the spec's settings). Errors: `InvalidInput` (the restore
//! reported no writer endpoint), `Transient`, `AccessDenied`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::errors::{PortError, Resource};
use crate::ports::{
    is_replayable_select, CacheWarmer, Clock, DatabaseEndpoint, InstanceWarmth, TopStatement,
};
use crate::spec::{PrewarmSpec, ReplicationSpec};
use crate::state::RestoreOutput;

/// The `action` that asks the verify function for the pre-warm.
pub const PREWARM_ACTION: &str = "prewarm";

/// Whether a payload of the verify function asks for the pre-warm.
pub fn is_prewarm_request(payload: &Value) -> bool {
    payload.get("action").and_then(Value::as_str) == Some(PREWARM_ACTION)
}

#[derive(Debug, Clone, Deserialize)]
pub struct PrewarmInput {
    pub document: PrewarmDocument,
}

/// What the pre-warm reads of the state document.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrewarmDocument {
    #[serde(default)]
    pub prewarm: Option<PrewarmSpec>,
    pub replication: ReplicationSpec,
    pub restore: RestoreOutput,
    #[serde(default)]
    pub preflight: Option<PreflightEndpoint>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreflightEndpoint {
    #[serde(default)]
    pub source_writer_endpoint: Option<DatabaseEndpoint>,
}

/// `$.prewarmed`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrewarmOutput {
    /// Why nothing was replayed, when nothing was (no `prewarm`, no statistics on the source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Statements read from the source, and of them the SELECTs replayed (by digest).
    pub statements_read: u32,
    pub replayed_digests: Vec<String>,
    /// Read but not replayed: not a plain SELECT, or no sample text kept.
    pub not_replayed: u32,
    pub instances: Vec<InstanceWarmth>,
    pub elapsed_ms: u64,
}

pub struct Deps<'a> {
    pub warmer: &'a dyn CacheWarmer,
    pub clock: &'a dyn Clock,
}

#[derive(Debug, thiserror::Error)]
pub enum PrewarmError {
    #[error("prewarm: {0}")]
    Invalid(String),
    #[error(transparent)]
    Port(#[from] PortError),
}

impl crate::errors::NamedError for PrewarmError {
    fn error_name(&self) -> &'static str {
        match self {
            PrewarmError::Invalid(_) => crate::error_names::INVALID_INPUT,
            PrewarmError::Port(e) => e.default_name(),
        }
    }
}

crate::errors::impl_diagnostic!(PrewarmError);

pub async fn run(input: &PrewarmInput, deps: &Deps<'_>) -> Result<PrewarmOutput, PrewarmError> {
    let doc = &input.document;
    let started = deps.clock.now();
    let Some(spec) = &doc.prewarm else {
        return Ok(PrewarmOutput {
            skipped: Some("no prewarm in the spec".into()),
            ..PrewarmOutput::default()
        });
    };
    let targets = targets(&doc.restore)?;
    let (source_secret, target_secret) = match &doc.replication {
        ReplicationSpec::Dms(d) => (&d.source_secret_arn, &d.target_secret_arn),
        ReplicationSpec::Native(n) => (&n.source_secret_arn, &n.target_secret_arn),
    };
    let source = doc
        .preflight
        .as_ref()
        .and_then(|p| p.source_writer_endpoint.clone())
        .or_else(|| doc.restore.source_endpoint.clone());

    let mut output = PrewarmOutput::default();
    let mut statements: Vec<TopStatement> = Vec::new();
    if spec.top_statements > 0 {
        let source = source.ok_or_else(|| {
            PrewarmError::Invalid("the state document has no source writer endpoint".into())
        })?;
        match deps
            .warmer
            .top_statements(&source, source_secret, spec.top_statements)
            .await
        {
            Ok(found) => statements = found,
            // No statistics (performance_schema off): nothing to replay, said so.
            Err(PortError::InvalidRequest(why)) => output.skipped = Some(why),
            // Advice, not a gate: a user that may not read them is named, the tables still load.
            Err(PortError::AccessDenied(why)) => {
                output.skipped = Some(format!(
                    "the source's statement statistics could not be read ({why}): grant SELECT ON performance_schema.* to the user of replication.sourceSecretArn"
                ))
            }
            Err(other) => return Err(other.into()),
        }
    }
    output.statements_read = statements.len() as u32;
    let replayable: Vec<TopStatement> = statements
        .into_iter()
        .filter(|s| s.text.as_deref().is_some_and(is_replayable_select))
        .collect();
    output.not_replayed = output.statements_read - replayable.len() as u32;
    output.replayed_digests = replayable.iter().map(|s| s.digest.clone()).collect();

    let budget = Duration::from_secs(spec.time_budget_seconds.into());
    let runs = targets.iter().map(|target| {
        deps.warmer
            .warm(target, target_secret, &replayable, &spec.tables, budget)
    });
    for result in futures_util::future::join_all(runs).await {
        output.instances.push(result?);
    }
    output.elapsed_ms = elapsed_ms(started, deps.clock.now());
    Ok(output)
}

/// The writer, then each reader with an instance endpoint of its own, once each.
fn targets(restore: &RestoreOutput) -> Result<Vec<DatabaseEndpoint>, PrewarmError> {
    let writer = restore.target_endpoint.clone().ok_or_else(|| {
        PrewarmError::Port(PortError::NotFound {
            resource: Resource::Cluster,
            message: format!(
                "the restore reported no writer endpoint of `{}`",
                restore.target_cluster_id
            ),
        })
    })?;
    let mut targets = vec![writer.clone()];
    for reader in restore.instances.iter().filter(|i| !i.writer) {
        if let Some(host) = &reader.endpoint {
            let endpoint = DatabaseEndpoint {
                cluster_id: writer.cluster_id.clone(),
                host: host.clone(),
                port: writer.port,
            };
            if !targets.contains(&endpoint) {
                targets.push(endpoint);
            }
        }
    }
    Ok(targets)
}

fn elapsed_ms(from: time::OffsetDateTime, to: time::OffsetDateTime) -> u64 {
    u64::try_from((to - from).whole_milliseconds()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{self, FakeCacheWarmer, FakeClock};
    use serde_json::json;

    fn input(prewarm: serde_json::Value) -> PrewarmInput {
        let mut doc = fakes::state_document("orders", "exec-1");
        doc["prewarm"] = prewarm;
        doc["preflight"] = json!({"sourceWriterEndpoint": {"clusterId": "orders", "host": "orders.cluster-x.eu-west-1.rds.amazonaws.com", "port": 3306}});
        doc["restore"] = json!({
            "targetClusterId": "orders-encrypted", "targetClusterArn": null, "status": "available",
            "encrypted": true, "kmsKeyId": null, "restoreStartedAt": "2026-11-27T12:00:00Z",
            "writerInstanceId": "orders-encrypted-1",
            "instances": [
                {"instanceId": "orders-encrypted-1", "sourceInstanceId": "orders-1", "class": "db.r6g.large", "status": "available", "writer": true, "endpoint": "orders-encrypted-1.x.eu-west-1.rds.amazonaws.com"},
                {"instanceId": "orders-encrypted-2", "sourceInstanceId": "orders-2", "class": "db.r6g.large", "status": "available", "writer": false, "endpoint": "orders-encrypted-2.x.eu-west-1.rds.amazonaws.com"},
                {"instanceId": "orders-encrypted-3", "sourceInstanceId": "orders-3", "class": "db.r6g.large", "status": "available", "writer": false}
            ],
            "sourceEndpoint": null,
            "targetEndpoint": {"clusterId": "orders-encrypted", "host": "orders-encrypted.cluster-x.eu-west-1.rds.amazonaws.com", "port": 3306},
            "ready": true, "nextPollSeconds": 0
        });
        serde_json::from_value(json!({"action": "prewarm", "document": doc})).unwrap()
    }

    async fn run_with(warmer: &FakeCacheWarmer, input: &PrewarmInput) -> PrewarmOutput {
        let clock = FakeClock::default();
        run(
            input,
            &Deps {
                warmer,
                clock: &clock,
            },
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn only_selects_are_replayed_on_the_writer_and_each_reader_with_an_endpoint() {
        let warmer = FakeCacheWarmer::with_mixed_statements();
        let out = run_with(
            &warmer,
            &input(
                json!({"topStatements": 20, "tables": ["shop.orders"], "timeBudgetSeconds": 30}),
            ),
        )
        .await;
        assert_eq!(out.statements_read, 3);
        assert_eq!(out.replayed_digests, vec!["d1"]);
        assert_eq!(out.not_replayed, 2);
        assert_eq!(
            warmer.hosts(),
            vec![
                "orders-encrypted.cluster-x.eu-west-1.rds.amazonaws.com",
                "orders-encrypted-2.x.eu-west-1.rds.amazonaws.com"
            ]
        );
        assert!(warmer
            .warmed
            .lock()
            .unwrap()
            .iter()
            .all(|(_, digests, tables)| digests == &["d1"] && tables == &["shop.orders"]));
        // No statement text reaches the output.
        let text = serde_json::to_string(&out).unwrap();
        assert!(!text.contains("customer_id"), "{text}");
    }

    #[tokio::test]
    async fn a_source_without_statistics_still_loads_the_tables_and_says_why() {
        let warmer = FakeCacheWarmer {
            no_statistics: true,
            ..FakeCacheWarmer::default()
        };
        let out = run_with(
            &warmer,
            &input(
                json!({"topStatements": 20, "tables": ["shop.orders"], "timeBudgetSeconds": 30}),
            ),
        )
        .await;
        assert_eq!(out.skipped.as_deref(), Some("performance_schema is off"));
        assert_eq!(out.instances.len(), 2);
    }

    #[tokio::test]
    async fn without_prewarm_in_the_spec_nothing_runs() {
        let warmer = FakeCacheWarmer::with_mixed_statements();
        let mut input = input(json!(null));
        input.document.prewarm = None;
        let out = run_with(&warmer, &input).await;
        assert!(out.skipped.is_some());
        assert!(warmer.hosts().is_empty());
    }
}
