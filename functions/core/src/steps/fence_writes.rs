//! FenceWrites / UnfenceWrites: stops application writes on the source for the switchover, and
//! puts back exactly what was there afterwards (on rollback).
//!
//! `fence` records the source's security groups and `read_only` value, saves that record with
//! the cluster, then moves the cluster onto the fence security group and/or sets `read_only=1`
//! in its own cluster parameter group. A retried fence finds the saved record and re-applies it,
//! so the fenced state is never recorded as the original. `unfence` restores the saved record
//! (or, if none is saved, the one in its input) and forgets it. Both are idempotent.
//!
//! Input (ASL Parameters):
//! - fence: `{"action": "fence", "sourceClusterId", "switchover", "execution"}`
//! - unfence: `{"action": "unfence", "sourceClusterId", "fence"?}`; without `fence`, the record
//!   saved with the cluster is used, so a rollback can unfence even when FenceWrites failed
//!   half-way and left no `$.fence`.
//!
//! The control-plane half above stops new connections (security group) and sets `read_only` (a
//! parameter group change that reaches the writer asynchronously), but neither ends a session
//! that is already open, and `read_only` does not bind users with `CONNECTION_ADMIN`. So the
//! fence then runs its SQL half ([`FenceSql`]): ends every application session until none is
//! left, confirms on the writer (`read_only` reads 1 when it is a method, no application session,
//! an ordinary write fails), writes the marker row the drain waits for, and reads the writer's
//! binlog position. Only then is the output `fenced: true`; a fence not confirmed within
//! [`FenceSettings::confirm_timeout`] fails with `FenceNotConfirmed` and the state machine unfences.
//!
//! Output: [`FenceOutput`] (the [`FenceRecord`], `fenced`, and after a fence its
//! [`FenceConfirmation`]), at `$.fence` / `$.unfence`.
//! Errors: `SharedParameterGroup` (the group `read_only` would be set in is a default group or
//! used by another cluster), `FenceNotConfirmed`, `InvalidInput`, `SourceNotFound`, `Transient`,
//! and `SourceBusy` from [`run_holding_lock`] (as wired): both actions act only while this
//! execution holds the source's lock (`lock`), so a stale or foreign rollback never unfences a
//! source another execution has switched over.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error_names;
use crate::errors::{impl_diagnostic, NamedError, PortError, Resource};
use crate::ports::{
    Clock, ClusterParameters, FenceConfirmation, FenceRecord, FenceSql, SessionFenceOutcome,
    SessionFenceRequest, Sleeper, SourceLock, WriteFence,
};
use crate::spec::{FenceMethod, SwitchoverSpec};
use crate::state::ExecutionRef;
use crate::steps::source_lock::{self, HeldLock, LockError};

pub const IAM_ACTIONS: &[&str] = &[
    "rds:DescribeDBClusters",
    "rds:DescribeDBClusterParameters",
    "rds:ModifyDBCluster",
    "rds:ModifyDBClusterParameterGroup",
    "rds:ResetDBClusterParameterGroup",
    "rds:AddTagsToResource",
    "rds:RemoveTagsFromResource",
    "secretsmanager:GetSecretValue",
    "kms:Decrypt",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FenceAction {
    Fence,
    Unfence,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FenceWritesInput {
    pub action: FenceAction,
    pub source_cluster_id: String,
    /// The target, caught up with before the fence; without it the fence does not wait.
    #[serde(default)]
    pub target_cluster_id: Option<String>,
    /// Required to fence.
    #[serde(default)]
    pub switchover: Option<SwitchoverSpec>,
    #[serde(default)]
    pub execution: Option<ExecutionRef>,
    /// The fence's output, to unfence.
    #[serde(default)]
    pub fence: Option<FenceOutput>,
    /// The source's lock this execution took in Preflight (`$.lock`).
    #[serde(default)]
    pub lock: Option<HeldLock>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FenceOutput {
    #[serde(flatten)]
    pub record: FenceRecord,
    /// True after `fence`, false after `unfence`.
    pub fenced: bool,
    /// The proof the SQL half gathered on the writer (after `fence`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<FenceConfirmation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FenceSettings {
    /// The bound on ending the sessions and confirming the fence. A parameter group change
    /// reaches Aurora's writer within seconds to a minute; a session that will not end is no
    /// better for waiting longer.
    pub confirm_timeout: Duration,
    /// How long the target may take to show a marker written just before the fence. CDC
    /// latency is coarse (DMS refreshes it about once a minute), so a target that reads
    /// "in sync" may still be seconds behind; fencing only once it has caught up keeps that
    /// backlog out of the write pause.
    pub catch_up_timeout: Duration,
    /// Pause between two reads of the target while catching up.
    pub catch_up_interval: Duration,
}

impl Default for FenceSettings {
    fn default() -> Self {
        Self {
            confirm_timeout: Duration::from_secs(120),
            catch_up_timeout: Duration::from_secs(60),
            catch_up_interval: Duration::from_millis(100),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FenceError {
    #[error("invalid input at `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("source cluster `{0}` not found")]
    SourceNotFound(String),
    #[error("source cluster `{cluster}` is already on the fence security group `{group}` only, but no fence record is saved: it was fenced outside this run; restore its security groups by hand and start again")]
    FencedWithoutRecord { cluster: String, group: String },
    #[error("refusing to set read_only in cluster parameter group `{group}`: {reason}; attach a group used by this cluster alone or fence with `security-group` only")]
    SharedParameterGroup { group: String, reason: String },
    #[error("the fence on `{cluster}` was not confirmed within {timeout:?} ({rounds} rounds): {reason}; it is being lifted")]
    NotConfirmed {
        cluster: String,
        timeout: Duration,
        rounds: u32,
        reason: String,
    },
    #[error("the target `{target}` did not show a marker written on the source within {timeout:?}: it is behind, so the source was not fenced")]
    TargetBehind { target: String, timeout: Duration },
    #[error(transparent)]
    Port(PortError),
    #[error(transparent)]
    Lock(#[from] LockError),
}

impl From<PortError> for FenceError {
    fn from(error: PortError) -> Self {
        match error {
            PortError::NotFound {
                resource: Resource::Cluster,
                message,
            } => FenceError::SourceNotFound(message),
            other => FenceError::Port(other),
        }
    }
}

impl NamedError for FenceError {
    fn error_name(&self) -> &'static str {
        match self {
            FenceError::Invalid { .. } | FenceError::FencedWithoutRecord { .. } => {
                error_names::INVALID_INPUT
            }
            FenceError::SourceNotFound(_) => error_names::SOURCE_NOT_FOUND,
            FenceError::SharedParameterGroup { .. } => error_names::SHARED_PARAMETER_GROUP,
            FenceError::NotConfirmed { .. } => error_names::FENCE_NOT_CONFIRMED,
            FenceError::TargetBehind { .. } => error_names::LAG_NOT_CONVERGING,
            FenceError::Port(e) => e.default_name(),
            FenceError::Lock(e) => e.error_name(),
        }
    }
}

impl_diagnostic!(FenceError);

/// What FenceWrites runs over: the control-plane half (`fence`, `parameters`), the SQL half
/// (`sql`), the source's lock and the settings.
pub struct Deps<'a> {
    pub fence: &'a dyn WriteFence,
    /// Re-checks, at fence time, that the `read_only` group is this cluster's alone (preflight
    /// checked it, but hours may have passed).
    pub parameters: &'a dyn ClusterParameters,
    pub sql: &'a dyn FenceSql,
    pub clock: &'a dyn Clock,
    pub sleeper: &'a dyn Sleeper,
    /// Checked by [`run_holding_lock`].
    pub lock: &'a dyn SourceLock,
    pub settings: FenceSettings,
}

/// Fences (the control-plane half, then the SQL half) or unfences, without checking the
/// source's lock: [`run_holding_lock`] is the entry point the state machine's Tasks use.
pub async fn run(input: &FenceWritesInput, deps: &Deps<'_>) -> Result<FenceOutput, FenceError> {
    match input.action {
        FenceAction::Fence => {
            let execution = input.execution.as_ref().ok_or(FenceError::Invalid {
                field: "execution",
                reason: "is required to fence (the marker row names the execution)".into(),
            })?;
            let record = apply(input, deps, &execution.name).await?;
            let confirmation = confirm(&execution.name, &record, deps.sql, deps.settings).await?;
            Ok(FenceOutput {
                record,
                fenced: true,
                confirmation: Some(confirmation),
            })
        }
        FenceAction::Unfence => lift(input, deps.fence, deps.clock).await,
    }
}

/// [`run`], once the source's lock is confirmed to be this execution's (and renewed).
pub async fn run_holding_lock(
    input: &FenceWritesInput,
    deps: &Deps<'_>,
) -> Result<FenceOutput, FenceError> {
    source_lock::ensure_held(deps.lock, input.lock.as_ref(), deps.clock.now()).await?;
    run(input, deps).await
}

/// The SQL half: sessions ended, the fence confirmed on the writer, the marker written.
async fn confirm(
    execution: &str,
    record: &FenceRecord,
    sql: &dyn FenceSql,
    settings: FenceSettings,
) -> Result<FenceConfirmation, FenceError> {
    let request = SessionFenceRequest {
        cluster_id: record.cluster_id.clone(),
        read_only: record.methods.contains(&FenceMethod::ReadOnly),
        new_connections_refused: record.methods.contains(&FenceMethod::SecurityGroup),
        execution: execution.to_string(),
        timeout: settings.confirm_timeout,
    };
    match sql.end_sessions_and_confirm(&request).await? {
        SessionFenceOutcome::Confirmed(confirmation) => Ok(confirmation),
        SessionFenceOutcome::NotConfirmed { reason, rounds } => Err(FenceError::NotConfirmed {
            cluster: record.cluster_id.clone(),
            timeout: settings.confirm_timeout,
            rounds,
            reason,
        }),
    }
}

/// Before writes stop: the SQL half's DDL, then a marker written on the source and waited for on
/// the target, so that neither the DDL nor a replication backlog is part of the write pause.
async fn ready(
    input: &FenceWritesInput,
    deps: &Deps<'_>,
    execution: &str,
) -> Result<(), FenceError> {
    let settings = deps.settings;
    let cluster = &input.source_cluster_id;
    deps.sql.prepare(cluster).await?;
    let Some(target) = &input.target_cluster_id else {
        return Ok(());
    };
    let marker = deps.sql.write_marker(cluster, execution).await?;
    let timeout = settings.catch_up_timeout;
    let deadline = deps.clock.now() + timeout;
    loop {
        if deps.sql.marker_arrived(target, &marker).await? {
            return Ok(());
        }
        let now = deps.clock.now();
        if now >= deadline {
            return Err(FenceError::TargetBehind {
                target: target.clone(),
                timeout,
            });
        }
        let left = Duration::try_from(deadline - now).unwrap_or_default();
        deps.sleeper
            .sleep(settings.catch_up_interval.min(left))
            .await;
    }
}

/// The control-plane half; returns the record saved with the cluster. Once every check has
/// passed, the source is made [`ready`] while writes still flow.
async fn apply(
    input: &FenceWritesInput,
    deps: &Deps<'_>,
    execution: &str,
) -> Result<FenceRecord, FenceError> {
    let (fence, parameters, clock) = (deps.fence, deps.parameters, deps.clock);
    let cluster = &input.source_cluster_id;
    if let Some(saved) = fence.saved_record(cluster).await? {
        // An earlier attempt saved the originals (and may have applied part of the fence).
        ready(input, deps, execution).await?;
        fence.apply(&saved).await?;
        return Ok(saved);
    }
    let switchover = input.switchover.as_ref().ok_or(FenceError::Invalid {
        field: "switchover",
        reason: "is required to fence".into(),
    })?;
    let methods = {
        let mut methods = switchover.fence.clone();
        methods.sort();
        methods.dedup();
        methods
    };
    if methods.is_empty() {
        return Err(FenceError::Invalid {
            field: "switchover.fence",
            reason: "needs at least one method".into(),
        });
    }
    let current = fence.current(cluster).await?;
    let by_group = methods.contains(&FenceMethod::SecurityGroup);
    let by_read_only = methods.contains(&FenceMethod::ReadOnly);
    let fence_group = if by_group {
        let group = switchover
            .fence_security_group_id
            .clone()
            .ok_or(FenceError::Invalid {
                field: "switchover.fenceSecurityGroupId",
                reason: "is required when fence includes `security-group`".into(),
            })?;
        if current.security_group_ids == [group.clone()] {
            return Err(FenceError::FencedWithoutRecord {
                cluster: cluster.clone(),
                group,
            });
        }
        Some(group)
    } else {
        None
    };
    if by_read_only {
        if let Some(group) = &current.parameter_group {
            check_group_is_ours(cluster, group, parameters).await?;
        }
    }
    // Made ready first, so that `fencedAt` (and the drain's deadline from it) starts when
    // writes stop, not before the catch-up.
    ready(input, deps, execution).await?;
    let record = FenceRecord {
        cluster_id: cluster.clone(),
        methods,
        original_security_group_ids: by_group.then(|| current.security_group_ids.clone()),
        fence_security_group_id: fence_group,
        parameter_group: current.parameter_group.clone().filter(|_| by_read_only),
        original_read_only: current.read_only.clone().filter(|_| by_read_only),
        fenced_at: clock.now(),
    };
    fence.apply(&record).await?;
    Ok(record)
}

async fn check_group_is_ours(
    cluster: &str,
    group: &str,
    parameters: &dyn ClusterParameters,
) -> Result<(), FenceError> {
    if group.starts_with("default.") {
        return Err(FenceError::SharedParameterGroup {
            group: group.into(),
            reason: "it is an AWS default group".into(),
        });
    }
    let others: Vec<String> = parameters
        .clusters_using(group)
        .await?
        .into_iter()
        .filter(|c| c != cluster)
        .collect();
    if others.is_empty() {
        Ok(())
    } else {
        Err(FenceError::SharedParameterGroup {
            group: group.into(),
            reason: format!("clusters {others:?} use it too"),
        })
    }
}

async fn lift(
    input: &FenceWritesInput,
    fence: &dyn WriteFence,
    clock: &dyn Clock,
) -> Result<FenceOutput, FenceError> {
    let cluster = &input.source_cluster_id;
    // The saved record is the one written before anything changed: it wins over the input.
    let record = match fence.saved_record(cluster).await? {
        Some(saved) => Some(saved),
        None => input.fence.as_ref().map(|f| f.record.clone()),
    };
    let Some(record) = record.filter(|r| !r.methods.is_empty()) else {
        return Ok(FenceOutput {
            record: FenceRecord {
                cluster_id: cluster.clone(),
                methods: Vec::new(),
                original_security_group_ids: None,
                fence_security_group_id: None,
                parameter_group: None,
                original_read_only: None,
                fenced_at: clock.now(),
            },
            fenced: false,
            confirmation: None,
        });
    };
    if record.cluster_id != *cluster {
        return Err(FenceError::Invalid {
            field: "fence.clusterId",
            reason: format!(
                "the fence record is for `{}`, not `{cluster}`",
                record.cluster_id
            ),
        });
    }
    fence.lift(&record).await?;
    Ok(FenceOutput {
        record,
        fenced: false,
        confirmation: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{FakeClock, FakeFence, FakeFenceSql, FakeParameters, FakeSourceLock};
    use crate::ports::FenceState;
    use serde_json::json;

    /// FenceWrites over the fakes, with a SQL half that confirms every fence. `parameters`
    /// `None`: no other cluster uses the source's parameter group (nothing to refuse).
    async fn run(
        input: &FenceWritesInput,
        fence: &FakeFence,
        parameters: Option<&FakeParameters>,
        clock: &FakeClock,
    ) -> Result<FenceOutput, FenceError> {
        run_with(input, fence, parameters, clock, &FakeFenceSql::default()).await
    }

    async fn run_with(
        input: &FenceWritesInput,
        fence: &FakeFence,
        parameters: Option<&FakeParameters>,
        clock: &FakeClock,
        sql: &FakeFenceSql,
    ) -> Result<FenceOutput, FenceError> {
        let unshared = FakeParameters::default();
        let lock = FakeSourceLock::default();
        let deps = Deps {
            fence,
            parameters: parameters.unwrap_or(&unshared),
            sql,
            clock,
            sleeper: clock,
            lock: &lock,
            settings: FenceSettings::default(),
        };
        super::run(input, &deps).await
    }

    fn fence_input(methods: serde_json::Value) -> FenceWritesInput {
        serde_json::from_value(json!({
            "action": "fence",
            "sourceClusterId": "orders",
            "switchover": {"fence": methods, "fenceSecurityGroupId": "sg-0fe0ce0000000000f"},
            "execution": {"name": "exec-1"}
        }))
        .unwrap()
    }

    fn unfence_input(fence: Option<&FenceOutput>) -> FenceWritesInput {
        let mut input = json!({"action": "unfence", "sourceClusterId": "orders"});
        if let Some(fence) = fence {
            input["fence"] = serde_json::to_value(fence).unwrap();
        }
        serde_json::from_value(input).unwrap()
    }

    fn original() -> FenceState {
        FenceState {
            security_group_ids: vec!["sg-0aaaaaaaaaaaaaaaa".into(), "sg-0bbbbbbbbbbbbbbbb".into()],
            parameter_group: Some("orders-params".into()),
            read_only: None,
        }
    }

    fn both() -> serde_json::Value {
        json!(["security-group", "read-only"])
    }

    #[tokio::test]
    async fn fence_then_unfence_restores_the_exact_original() {
        let fence = FakeFence::default();
        fence.set_state("orders", original());
        let params = FakeParameters::for_source("orders");
        let clock = FakeClock::default();

        let fenced = run(&fence_input(both()), &fence, Some(&params), &clock)
            .await
            .unwrap();
        assert!(fenced.fenced);
        assert_eq!(
            fence.state("orders").unwrap(),
            FenceState {
                security_group_ids: vec!["sg-0fe0ce0000000000f".into()],
                parameter_group: Some("orders-params".into()),
                read_only: Some("1".into()),
            }
        );
        assert_eq!(
            fenced.record.original_security_group_ids,
            Some(original().security_group_ids)
        );

        let lifted = run(&unfence_input(Some(&fenced)), &fence, None, &clock)
            .await
            .unwrap();
        assert!(!lifted.fenced);
        assert_eq!(fence.state("orders").unwrap(), original());
        assert_eq!(fence.saved("orders"), None);
    }

    #[tokio::test]
    async fn an_explicit_read_only_value_is_restored_not_reset() {
        let fence = FakeFence::default();
        fence.set_state(
            "orders",
            FenceState {
                read_only: Some("0".into()),
                ..original()
            },
        );
        let clock = FakeClock::default();
        let fenced = run(&fence_input(json!(["read-only"])), &fence, None, &clock)
            .await
            .unwrap();
        assert_eq!(fenced.record.original_read_only.as_deref(), Some("0"));
        assert_eq!(fenced.record.original_security_group_ids, None);
        run(&unfence_input(Some(&fenced)), &fence, None, &clock)
            .await
            .unwrap();
        assert_eq!(
            fence.state("orders").unwrap().read_only.as_deref(),
            Some("0")
        );
    }

    #[tokio::test]
    async fn fencing_twice_changes_nothing_more_and_keeps_the_first_record() {
        let fence = FakeFence::default();
        fence.set_state("orders", original());
        let clock = FakeClock::default();
        let first = run(&fence_input(both()), &fence, None, &clock)
            .await
            .unwrap();
        let changes = fence.mutations().len();
        clock.advance(30);
        let second = run(&fence_input(both()), &fence, None, &clock)
            .await
            .unwrap();
        assert_eq!(second.record, first.record);
        assert_eq!(fence.mutations().len(), changes);
    }

    #[tokio::test]
    async fn a_retry_after_a_partial_fence_keeps_the_true_originals() {
        let fence = FakeFence::default();
        fence.set_state("orders", original());
        let clock = FakeClock::default();
        fence.fail_next("apply", PortError::Transient("Throttling".into()));
        let error = run(&fence_input(both()), &fence, None, &clock)
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), "Transient");
        // The crashed attempt had already moved the cluster onto the fence group.
        fence.set_state(
            "orders",
            FenceState {
                security_group_ids: vec!["sg-0fe0ce0000000000f".into()],
                ..original()
            },
        );

        let retried = run(&fence_input(both()), &fence, None, &clock)
            .await
            .unwrap();
        assert_eq!(
            retried.record.original_security_group_ids,
            Some(original().security_group_ids)
        );
        run(&unfence_input(Some(&retried)), &fence, None, &clock)
            .await
            .unwrap();
        assert_eq!(fence.state("orders").unwrap(), original());
    }

    #[tokio::test]
    async fn unfence_is_idempotent_and_needs_no_input_record() {
        let fence = FakeFence::default();
        fence.set_state("orders", original());
        let clock = FakeClock::default();
        run(&fence_input(both()), &fence, None, &clock)
            .await
            .unwrap();

        // Rollback after a FenceWrites that failed: no `$.fence`, the saved record suffices.
        let lifted = run(&unfence_input(None), &fence, None, &clock)
            .await
            .unwrap();
        assert_eq!(lifted.record.methods.len(), 2);
        assert_eq!(fence.state("orders").unwrap(), original());
        let changes = fence.mutations().len();

        let again = run(&unfence_input(Some(&lifted)), &fence, None, &clock)
            .await
            .unwrap();
        assert!(!again.fenced);
        assert_eq!(fence.state("orders").unwrap(), original());
        assert_eq!(fence.mutations().len(), changes, "{:?}", fence.mutations());
    }

    #[tokio::test]
    async fn unfencing_a_cluster_never_fenced_changes_nothing() {
        let fence = FakeFence::default();
        fence.set_state("orders", original());
        let out = run(&unfence_input(None), &fence, None, &FakeClock::default())
            .await
            .unwrap();
        assert!(!out.fenced);
        assert!(out.record.methods.is_empty());
        assert!(fence.mutations().is_empty());
    }

    #[tokio::test]
    async fn read_only_in_a_shared_group_is_refused_before_any_change() {
        let fence = FakeFence::default();
        fence.set_state("orders", original());
        let params = FakeParameters::for_source("orders");
        params.use_group("payments", "orders-params");
        let sql = FakeFenceSql::default();
        let error = run_with(
            &fence_input(both()),
            &fence,
            Some(&params),
            &FakeClock::default(),
            &sql,
        )
        .await
        .unwrap_err();
        assert_eq!(error.error_name(), "SharedParameterGroup");
        assert!(fence.mutations().is_empty());
        assert!(
            sql.prepared().is_empty(),
            "no schema made for a refused fence"
        );
    }

    fn with_target(mut input: FenceWritesInput) -> FenceWritesInput {
        input.target_cluster_id = Some("orders-encrypted".into());
        input
    }

    #[tokio::test]
    async fn the_target_catches_up_with_a_marker_before_writes_stop() {
        let fence = FakeFence::default();
        fence.set_state("orders", original());
        let sql = FakeFenceSql::default();
        sql.replicate("orders", "orders-encrypted");
        let out = run_with(
            &with_target(fence_input(both())),
            &fence,
            None,
            &FakeClock::default(),
            &sql,
        )
        .await
        .unwrap();
        // Marker 1 was seen on the target before the fence; the drain waits for marker 2.
        let markers = sql.markers("orders");
        assert_eq!(markers.len(), 2);
        assert_eq!(out.confirmation.unwrap().marker, markers[1]);
    }

    #[tokio::test]
    async fn a_target_that_does_not_catch_up_is_lag_not_converging_and_nothing_is_fenced() {
        let fence = FakeFence::default();
        fence.set_state("orders", original());
        let sql = FakeFenceSql::default();
        let clock = FakeClock::default();
        let error = run_with(
            &with_target(fence_input(both())),
            &fence,
            None,
            &clock,
            &sql,
        )
        .await
        .unwrap_err();
        assert_eq!(error.error_name(), "LagNotConverging", "{error}");
        assert!(fence.mutations().is_empty(), "the source was never fenced");
        assert!(sql.requests().is_empty(), "no session was ended");
        assert!(
            clock.now() >= crate::fakes::EPOCH + FenceSettings::default().catch_up_timeout,
            "it waited out the bound"
        );
    }

    #[tokio::test]
    async fn a_cluster_fenced_outside_this_run_is_refused() {
        let fence = FakeFence::default();
        fence.set_state(
            "orders",
            FenceState {
                security_group_ids: vec!["sg-0fe0ce0000000000f".into()],
                ..original()
            },
        );
        let error = run(&fence_input(both()), &fence, None, &FakeClock::default())
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), "InvalidInput");
        assert!(fence.mutations().is_empty());
    }

    #[tokio::test]
    async fn a_missing_source_is_source_not_found() {
        let fence = FakeFence::default();
        let error = run(&fence_input(both()), &fence, None, &FakeClock::default())
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), "SourceNotFound");
    }

    #[tokio::test]
    async fn output_is_the_record_plus_fenced() {
        let fence = FakeFence::default();
        fence.set_state("orders", original());
        let out = run(&fence_input(both()), &fence, None, &FakeClock::default())
            .await
            .unwrap();
        let json = serde_json::to_value(&out).unwrap();
        assert_eq!(json["fenced"], true);
        assert_eq!(json["clusterId"], "orders");
        assert_eq!(json["methods"], both());
        assert_eq!(json["fenceSecurityGroupId"], "sg-0fe0ce0000000000f");
        assert_eq!(json["fencedAt"], "2026-11-27T12:00:00Z");
        let back: FenceOutput = serde_json::from_value(json).unwrap();
        assert_eq!(back, out);
    }

    #[tokio::test]
    async fn fenced_only_once_the_sql_half_confirms_and_with_its_marker_and_position() {
        let fence = FakeFence::default();
        fence.set_state("orders", original());
        let sql = FakeFenceSql::default();
        let out = run_with(
            &fence_input(both()),
            &fence,
            None,
            &FakeClock::default(),
            &sql,
        )
        .await
        .unwrap();
        let confirmation = out.confirmation.expect("confirmation");
        assert_eq!(confirmation.marker.execution, "exec-1");
        assert_eq!(confirmation.marker.sequence, 1);
        // The SQL half's DDL ran ahead of the fence, outside the write pause.
        assert_eq!(sql.prepared(), vec!["orders".to_string()]);
        assert_eq!(confirmation.ordinary_write_refused, Some(true));
        let requests = sql.requests();
        assert_eq!(requests.len(), 1);
        assert!(requests[0].read_only);
        assert!(requests[0].new_connections_refused);
        assert_eq!(requests[0].cluster_id, "orders");
        assert_eq!(
            requests[0].timeout,
            FenceSettings::default().confirm_timeout
        );
        // A retried fence writes a new marker: the drain waits for the last one.
        let again = run_with(
            &fence_input(both()),
            &fence,
            None,
            &FakeClock::default(),
            &sql,
        )
        .await
        .unwrap();
        assert_eq!(again.confirmation.unwrap().marker.sequence, 2);
    }

    #[tokio::test]
    async fn a_fence_not_confirmed_is_fence_not_confirmed_and_leaves_the_record_to_unfence() {
        let fence = FakeFence::default();
        fence.set_state("orders", original());
        let sql = FakeFenceSql::default();
        sql.refuse_confirmation("session 42 (app@10.0.0.9) still open");
        let clock = FakeClock::default();
        let error = run_with(&fence_input(both()), &fence, None, &clock, &sql)
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), "FenceNotConfirmed");
        assert!(error.to_string().contains("session 42"), "{error}");
        // UnfenceAfterFailedFence finds the saved record and restores the original.
        run(&unfence_input(None), &fence, None, &clock)
            .await
            .unwrap();
        assert_eq!(fence.state("orders").unwrap(), original());
    }

    #[tokio::test]
    async fn a_fence_without_an_execution_is_refused() {
        let fence = FakeFence::default();
        fence.set_state("orders", original());
        let mut input = fence_input(both());
        input.execution = None;
        let error = run(&input, &fence, None, &FakeClock::default())
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), "InvalidInput");
        assert!(fence.mutations().is_empty());
    }
}
