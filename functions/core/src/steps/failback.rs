//! OpenFailbackWindow: after a DNS switchover with `failback.windowHours`, the run turns
//! around. Replication now goes from the new cluster back to the old one, so that a failback
//! (`aurora-encrypt failback`) is the forward switchover with the roles exchanged, and loses
//! nothing.
//!
//! This step does no I/O. It writes `$.reverse`, the state document's view of the run in
//! the reverse direction ([`ReverseView`]). The failback's Tasks pass `$.reverse` in place of
//! the forward keys, and the very same steps serve them:
//! - `restore` has its endpoints exchanged: the "source" is the new cluster and the "target"
//!   the old one;
//! - `replication` has its secrets exchanged: each side keeps its own user;
//! - `binlog` is the new writer's position when it took over (the drain's `targetPosition`):
//!   everything before it came from the old cluster, everything after it is the application's;
//! - `verifyOnline` is the forward online pass with its start moved to that position. Both
//!   sides were verified equal there, so the failback's fenced re-check compares only the rows
//!   written on the new cluster since.
//!
//! The old cluster stays fenced through the window: the forward fence is left in place, and only
//! the replication writes there.
//!
//! Input: `{"action": "open-failback-window", "document": <state document>}`. Output:
//! [`ReverseView`] at `$.reverse`. Errors: `InvalidInput` (no window, or the drain recorded
//! no target position).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::binlog::BinlogPosition;
use crate::error_names;
use crate::errors::{impl_diagnostic, NamedError};
use crate::ports::Clock;
use crate::spec::{FailbackSpec, ParitySpec, ReplicationSpec, SwitchoverSpec, VerifySpec};
use crate::state::{BinlogOutput, DnsSwapOutput, LagOutput, RestoreOutput};
use crate::steps::drain::DrainOutput;
use crate::steps::verify_online::OnlineOutput;

/// The `action` that asks the create-migration function to open the window.
pub const OPEN_WINDOW_ACTION: &str = "open-failback-window";

/// The window's lag polls: at least this far apart, and at most [`MAX_WINDOW_POLLS`] of them in
/// a window. Step Functions keeps 25,000 history events per execution; a poll costs 7.
pub const MIN_WINDOW_POLL_SECONDS: u32 = 300;
pub const MAX_WINDOW_POLLS: u32 = 500;

/// `direction` on the failback's Verify request: the sides are exchanged.
pub const FAILBACK_DIRECTION: &str = "failback";

pub fn is_open_window_request(payload: &Value) -> bool {
    payload.get("action").and_then(Value::as_str) == Some(OPEN_WINDOW_ACTION)
}

/// A request whose source and target are the failback's: the new cluster, then the old one.
pub fn is_failback_request(payload: &Value) -> bool {
    payload.get("direction").and_then(Value::as_str) == Some(FAILBACK_DIRECTION)
}

#[derive(Debug, Clone, Deserialize)]
pub struct OpenWindowRequest {
    pub document: OpenWindowDocument,
}

/// What the step reads of the state document.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenWindowDocument {
    pub source_cluster_id: String,
    #[serde(default)]
    pub failback: FailbackSpec,
    pub restore: RestoreOutput,
    pub replication: ReplicationSpec,
    pub drain: DrainOutput,
    /// Preflight's plan: its `engineMajorVersion` goes with the view (the native engine reads it).
    #[serde(default)]
    pub preflight: Option<Value>,
    #[serde(default)]
    pub verify_online: Option<OnlineOutput>,
    #[serde(default)]
    pub switchover: SwitchoverSpec,
    #[serde(default)]
    pub verify: VerifySpec,
    #[serde(default)]
    pub parity: ParitySpec,
    /// LowerDnsTtl's output, when it ran: the swap back uses the same TTL.
    #[serde(default)]
    pub dns_ttl: Option<Value>,
}

/// `$.reverse`: the run seen from the new cluster. The failback's Tasks write their results
/// into it (`migration`, `lag`, `fence`, `drain`, `verify`, `dnsSwap`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReverseView {
    pub window_hours: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    /// When the window ends: the `WaitOutWindow` state's timestamp, shown by `watch` and in
    /// the notifications.
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    /// Seconds between two reads of the replication back's lag during the window
    /// (`WaitBeforeReversePoll`): a fixed interval, so that a long window stays well within
    /// the execution's history.
    pub poll_seconds: u32,
    /// The new cluster: the failback's source.
    pub source_cluster_id: String,
    /// The old cluster: the failback's target.
    pub target_cluster_id: String,
    pub restore: RestoreOutput,
    pub replication: ReplicationSpec,
    pub binlog: BinlogOutput,
    pub preflight: Value,
    /// The spec's sections the failback's Tasks read, with their defaults filled in: a Task's
    /// Parameters cannot name a key the input left out.
    pub switchover: SwitchoverSpec,
    /// The spec's `verify` (`verify` under `reverse` is VerifyReverse's result).
    pub verify_spec: VerifySpec,
    pub parity: ParitySpec,
    pub dns_ttl: Value,
    #[serde(default)]
    pub verify_online: Option<OnlineOutput>,
    /// Written by the window's lag polls; `null` until the first.
    #[serde(default)]
    pub lag: Option<LagOutput>,
    /// Written by the failback's swap; `null` until then (the swap's first call reads it).
    #[serde(default)]
    pub dns_swap: Option<DnsSwapOutput>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenWindowError {
    #[error("failback.windowHours is 0: there is no failback window to open")]
    NoWindow,
    #[error("the drain recorded no target position (drain.targetPosition): the replication back cannot start exactly where the new cluster took over")]
    NoTakeoverPosition,
    #[error("restore output lacks the {0} endpoint")]
    MissingEndpoint(&'static str),
}

impl NamedError for OpenWindowError {
    fn error_name(&self) -> &'static str {
        error_names::INVALID_INPUT
    }
}

impl_diagnostic!(OpenWindowError);

pub fn open_window(
    request: &OpenWindowRequest,
    clock: &dyn Clock,
) -> Result<ReverseView, OpenWindowError> {
    let doc = &request.document;
    if !doc.failback.enabled() {
        return Err(OpenWindowError::NoWindow);
    }
    let takeover = doc
        .drain
        .target_position
        .clone()
        .ok_or(OpenWindowError::NoTakeoverPosition)?;
    let forward = &doc.restore;
    let old = forward
        .source_endpoint
        .clone()
        .ok_or(OpenWindowError::MissingEndpoint("source"))?;
    let new = forward
        .target_endpoint
        .clone()
        .ok_or(OpenWindowError::MissingEndpoint("target"))?;
    let opened_at = clock.now();
    let restore = RestoreOutput {
        target_cluster_id: old.cluster_id.clone(),
        target_cluster_arn: None,
        encrypted: false,
        kms_key_id: None,
        writer_instance_id: None,
        instances: Vec::new(),
        source_endpoint: Some(new.clone()),
        target_endpoint: Some(old.clone()),
        parameter_group_usable_at: None,
        ..forward.clone()
    };
    Ok(ReverseView {
        window_hours: doc.failback.window_hours,
        opened_at,
        ends_at: opened_at + time::Duration::hours(i64::from(doc.failback.window_hours)),
        poll_seconds: poll_seconds(doc.failback.window_hours),
        source_cluster_id: new.cluster_id.clone(),
        target_cluster_id: doc.source_cluster_id.clone(),
        restore,
        replication: reversed(&doc.replication),
        binlog: BinlogOutput {
            start_position: takeover.start_position(),
            position: takeover.clone(),
            instance_id: forward.writer_instance_id.clone().unwrap_or_default(),
            event_time: opened_at,
        },
        preflight: doc.preflight.clone().unwrap_or(Value::Null),
        switchover: doc.switchover.clone(),
        verify_spec: doc.verify.clone(),
        parity: doc.parity.clone(),
        dns_ttl: doc.dns_ttl.clone().unwrap_or(Value::Null),
        verify_online: doc
            .verify_online
            .as_ref()
            .map(|forward| from_takeover(forward, &takeover)),
        lag: None,
        dns_swap: None,
    })
}

fn poll_seconds(window_hours: u32) -> u32 {
    (window_hours * 3600 / MAX_WINDOW_POLLS).max(MIN_WINDOW_POLL_SECONDS)
}

/// The replication settings with the two sides' secrets exchanged: each cluster is still
/// reached with its own user (the old cluster's admin runs its replication procedures).
fn reversed(replication: &ReplicationSpec) -> ReplicationSpec {
    let mut reversed = replication.clone();
    match &mut reversed {
        ReplicationSpec::Dms(dms) => {
            std::mem::swap(&mut dms.source_secret_arn, &mut dms.target_secret_arn)
        }
        ReplicationSpec::Native(native) => {
            std::mem::swap(&mut native.source_secret_arn, &mut native.target_secret_arn)
        }
    }
    reversed
}

/// The forward online pass, settled, starting at the takeover: the forward fenced re-check
/// found both sides equal there, so only rows written on the new cluster since can differ.
fn from_takeover(forward: &OnlineOutput, takeover: &BinlogPosition) -> OnlineOutput {
    OnlineOutput {
        start_position: Some(takeover.clone()),
        done: true,
        pending: Vec::new(),
        unsettled: Vec::new(),
        unsettled_tables: Vec::new(),
        recheck_marker: None,
        marker_written_at: None,
        ..forward.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{self, FakeClock, EPOCH};
    use serde_json::json;

    fn document(window_hours: u32, target_position: Option<BinlogPosition>) -> Value {
        let mut doc = fakes::state_document("orders", "e");
        doc["failback"] = json!({ "windowHours": window_hours });
        doc["restore"] = json!({
            "targetClusterId": "orders-encrypted", "targetClusterArn": "arn:aws:rds:eu-west-1:123456789012:cluster:orders-encrypted",
            "status": "available", "encrypted": true, "kmsKeyId": "k", "restoreStartedAt": "2026-11-27T12:00:00Z",
            "writerInstanceId": "orders-encrypted-1", "instances": [], "ready": true, "nextPollSeconds": 0,
            "sourceEndpoint": { "clusterId": "orders", "host": "orders.example", "port": 3306 },
            "targetEndpoint": { "clusterId": "orders-encrypted", "host": "orders-encrypted.example", "port": 3306 }
        });
        doc["drain"] = json!({
            "drained": true, "markerArrived": true, "lagSeconds": 0, "waitedMs": 10, "reads": 1,
            "deadline": "2026-11-27T13:00:00Z", "nextPollSeconds": 0, "targetPosition": target_position
        });
        doc["preflight"] = json!({ "engineMajorVersion": 3 });
        doc
    }

    fn open(doc: Value) -> Result<ReverseView, OpenWindowError> {
        let request: OpenWindowRequest =
            serde_json::from_value(json!({ "action": OPEN_WINDOW_ACTION, "document": doc }))
                .unwrap();
        open_window(&request, &FakeClock::at(EPOCH))
    }

    #[test]
    fn the_view_runs_from_the_new_cluster_to_the_old_from_the_takeover_position() {
        let takeover = BinlogPosition::new("mysql-bin-changelog.000002", 4242);
        let view = open(document(24, Some(takeover.clone()))).unwrap();
        assert_eq!(view.source_cluster_id, "orders-encrypted");
        assert_eq!(view.target_cluster_id, "orders");
        assert_eq!(view.restore.target_cluster_id, "orders");
        let endpoints = (
            view.restore.source_endpoint.unwrap().cluster_id,
            view.restore.target_endpoint.unwrap().cluster_id,
        );
        assert_eq!(endpoints, ("orders-encrypted".into(), "orders".into()));
        assert_eq!(view.binlog.position, takeover);
        assert_eq!(
            view.binlog.start_position,
            "mysql-bin-changelog.000002:4242"
        );
        assert_eq!(view.ends_at - view.opened_at, time::Duration::hours(24));
        assert_eq!(view.poll_seconds, MIN_WINDOW_POLL_SECONDS);
        assert_eq!(poll_seconds(720), 5184, "500 polls in 30 days");
        assert_eq!(view.preflight["engineMajorVersion"], 3);
        // Each side keeps its own user.
        let forward: ReplicationSpec =
            serde_json::from_value(fakes::state_document("orders", "e")["replication"].clone())
                .unwrap();
        assert_eq!(
            view.replication.source_secret_arn(),
            forward.target_secret_arn()
        );
        assert_eq!(
            view.replication.target_secret_arn(),
            forward.source_secret_arn()
        );
    }

    #[test]
    fn the_reverse_online_pass_starts_at_the_takeover_settled() {
        let takeover = BinlogPosition::new("mysql-bin-changelog.000002", 4242);
        let mut doc = document(1, Some(takeover.clone()));
        doc["verifyOnline"] = json!({
            "mode": "online", "skipped": false, "done": true, "caughtUp": true,
            "startPosition": {"file": "mysql-bin-changelog.000001", "position": 4},
            "tables": [], "rowsVerified": 10, "chunksVerified": 1, "rechecks": 3, "tablesVerified": 1,
            "activeMs": 5, "rowsPerSecond": 2000, "startedAt": "2026-11-27T12:00:00Z", "nextPollSeconds": 0,
            "unsettled": [{"table": 0, "range": {}, "rechecks": 3,
                "source": {"rows": 1, "digest": "a"}, "target": {"rows": 1, "digest": "b"}}]
        });
        let Ok(view) = open(doc) else {
            panic!("the window opens")
        };
        let online = view.verify_online.unwrap();
        assert_eq!(online.start_position, Some(takeover));
        assert!(online.done && online.unsettled.is_empty());
    }

    #[test]
    fn no_window_or_no_takeover_position_is_invalid_input_before_anything_starts() {
        let position = BinlogPosition::new("mysql-bin-changelog.000002", 4242);
        for (doc, says) in [
            (document(0, Some(position)), "windowHours is 0"),
            (document(2, None), "targetPosition"),
        ] {
            let error = open(doc).unwrap_err();
            assert_eq!(error.error_name(), error_names::INVALID_INPUT);
            assert!(error.to_string().contains(says), "{error}");
        }
    }
}
