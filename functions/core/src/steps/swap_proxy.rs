//! SwapProxy: moves the application's RDS Proxy (`proxy`, `switchover.method: proxy`) from the
//! source cluster to the target, or back with `revert`, and reports when the new cluster's
//! writer is available behind it; CheckProxy ([`check`]) and ConfirmProxy ([`confirm`]) come
//! before and after it.
//!
//! An Aurora cluster is registered with a proxy's default target group as a whole (one
//! `TRACKED_CLUSTER` target, and one `RDS_INSTANCE` target per instance), and a target group
//! tracks one cluster. So the step, once writes are fenced and drained, deregisters the cluster
//! being left and registers the other (RegisterDBProxyTargets / DeregisterDBProxyTargets); RDS
//! Proxy queues the application's new connections while no target is available (up to the
//! target group's `ConnectionBorrowTimeout`). Each later invocation reads the writer instance's
//! target health until it is `AVAILABLE`; a proxy that does not get there within
//! `proxy.timeoutSeconds` fails the step (`ProxyTargetUnavailable`, with the health's reason),
//! and the state machine moves it back. Then [`confirm`] (ConfirmProxy, in the verify function,
//! which speaks SQL from the clusters' VPC) opens a session through the proxy endpoint with
//! `proxy.secretArn`: it must reach the same server as one opened at the target's writer
//! endpoint (compared by [`ServerIdentity`]) before the swap counts as done.
//!
//! Once the target is `AVAILABLE` behind the proxy the application may write to it, so moving
//! the proxy back could lose those writes: after that point only a session shown to reach
//! another server (`ProxyTargetUnavailable`) moves it back; any other failure of ConfirmProxy
//! is a failure after the switchover, for a person.
//!
//! It refuses a proxy that tracks any cluster but these two (`ProxyNotOnSource`): that proxy is
//! not the one the application uses for this source. A proxy already on the wanted cluster is
//! only checked, which makes re-runs and the revert idempotent.
//!
//! Input: `{"action": "proxy", "revert"?: true, "document": <state document>}`, of which it reads
//! `proxy`, `restore` (endpoints), the previous `proxySwap` while polling, `lock`. Output:
//! [`ProxySwapOutput`]. Errors: `ProxyNotOnSource`, `ProxyTargetUnavailable`, `InvalidInput`,
//! `Transient`, and `SourceBusy` from [`run_holding_lock`].

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error_names;
use crate::errors::{impl_diagnostic, NamedError, PortError};
use crate::poll;
use crate::ports::{
    Clock, DatabaseEndpoint, ProxyTarget, ProxyTargets, ServerIdentity, SourceLock, RDS_INSTANCE,
    READ_WRITE, TARGET_AVAILABLE, TRACKED_CLUSTER,
};
use crate::spec::ProxySpec;
use crate::state::RestoreOutput;
use crate::steps::source_lock::{self, HeldLock, LockError};
use crate::steps::swap_dns::FencedAt;

/// The `action` of the swap and its revert (the swap-dns function serves them).
pub const ACTION: &str = "proxy";
/// The `action` of [`check`], right after Preflight.
pub const CHECK_ACTION: &str = "proxy-check";
/// The `action` of [`confirm`] (the verify function serves it).
pub const CONFIRM_ACTION: &str = "proxy-confirm";

/// Whether a verify invocation is [`confirm`].
pub fn is_confirm_request(payload: &serde_json::Value) -> bool {
    payload.get("action").and_then(serde_json::Value::as_str) == Some(CONFIRM_ACTION)
}

/// Whether a swap-dns invocation is a proxy swap or its check.
pub fn is_proxy_request(payload: &serde_json::Value) -> bool {
    matches!(
        payload.get("action").and_then(serde_json::Value::as_str),
        Some(ACTION | CHECK_ACTION)
    )
}

/// Whether a swap-dns invocation is [`check`].
pub fn is_check_request(payload: &serde_json::Value) -> bool {
    payload.get("action").and_then(serde_json::Value::as_str) == Some(CHECK_ACTION)
}

/// [`check`]'s input: `sourceClusterId` and `proxy` from the state document.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckProxyInput {
    pub source_cluster_id: String,
    #[serde(default)]
    pub proxy: Option<ProxySpec>,
}

/// `$.proxyCheck`: the proxy as CheckProxy found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyCheckOutput {
    pub proxy_name: String,
    pub proxy_arn: String,
    pub endpoint: String,
    pub port: i32,
    pub tracked_cluster_id: String,
    /// What the switchover will do, for the plan.
    pub plan: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwapProxyInput {
    #[serde(default)]
    pub proxy: Option<ProxySpec>,
    pub restore: RestoreOutput,
    /// Put the source back (after a failed switchover): the request's, not the document's.
    #[serde(skip)]
    pub revert: bool,
    /// This step's previous output, while polling.
    #[serde(default)]
    pub proxy_swap: Option<ProxySwapOutput>,
    #[serde(default)]
    pub lock: Option<HeldLock>,
}

/// SwapProxy's and RevertProxy's input: `{"action": "proxy", "revert"?: true, "document": <state
/// document>}`.
#[derive(Debug, Clone, Deserialize)]
pub struct SwapProxyRequest {
    #[serde(default)]
    pub revert: bool,
    pub document: SwapProxyInput,
}

impl SwapProxyRequest {
    pub fn into_input(self) -> SwapProxyInput {
        SwapProxyInput {
            revert: self.revert,
            ..self.document
        }
    }
}

/// ConfirmProxy's input: `{"action": "proxy-confirm", "document": <state document>}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ConfirmProxyRequest {
    pub document: ConfirmProxyInput,
}

/// `$.proxySwap`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxySwapOutput {
    pub proxy_name: String,
    /// The cluster the proxy tracked before this step changed it.
    pub previous_cluster_id: String,
    /// The cluster it tracks now.
    pub cluster_id: String,
    /// The writer instance's target health (`REGISTERING`, `AVAILABLE`, …), or `none` while RDS
    /// lists no instance target yet.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When this step first moved the proxy (for `proxy.timeoutSeconds`).
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// The writer's target is `AVAILABLE`.
    pub ready: bool,
    pub next_poll_seconds: u32,
}

/// [`confirm`]'s input: the state document.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmProxyInput {
    #[serde(default)]
    pub proxy: Option<ProxySpec>,
    pub restore: RestoreOutput,
    /// CheckProxy's output: the proxy's endpoint.
    pub proxy_check: ProxyCheckOutput,
    #[serde(default)]
    pub fence: Option<FencedAt>,
}

/// `$.proxyConfirmed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyConfirmation {
    /// The server a session through the proxy reached, the same as the target writer's.
    pub server: String,
    /// From `fence.fencedAt` to the confirmation: how long writes were fenced before the
    /// application could write again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fenced_window_ms: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum SwapProxyError {
    #[error("the spec has no `proxy` section: nothing to re-target")]
    NoProxySpec,
    #[error("restore output lacks the {0} endpoint")]
    MissingEndpoint(&'static str),
    #[error("RDS Proxy `{proxy}` {found}; expected it to track `{expected}`")]
    NotOnSource {
        proxy: String,
        found: String,
        expected: String,
    },
    #[error("proxy.secretArn `{secret}` is not one of RDS Proxy `{proxy}`'s secrets ({known}): sessions through the proxy log in only as its own users")]
    NotProxySecret {
        proxy: String,
        secret: String,
        known: String,
    },
    #[error("RDS Proxy `{proxy}` did not reach `{cluster}`'s writer within {seconds} s: {why}")]
    Unavailable {
        proxy: String,
        cluster: String,
        seconds: u32,
        why: String,
    },
    #[error(transparent)]
    Port(#[from] PortError),
    #[error(transparent)]
    Lock(#[from] LockError),
}

impl NamedError for SwapProxyError {
    fn error_name(&self) -> &'static str {
        match self {
            Self::NoProxySpec | Self::MissingEndpoint(_) | Self::NotProxySecret { .. } => {
                error_names::INVALID_INPUT
            }
            Self::NotOnSource { .. } => error_names::PROXY_NOT_ON_SOURCE,
            Self::Unavailable { .. } => error_names::PROXY_TARGET_UNAVAILABLE,
            Self::Port(e) => e.default_name(),
            Self::Lock(e) => e.error_name(),
        }
    }
}

impl_diagnostic!(SwapProxyError);

/// What SwapProxy runs over.
pub struct Deps<'a> {
    pub proxies: &'a dyn ProxyTargets,
    pub clock: &'a dyn Clock,
    /// Checked by [`run_holding_lock`].
    pub lock: &'a dyn SourceLock,
}

/// [`run`], once the source's lock is confirmed to be this execution's (and renewed).
pub async fn run_holding_lock(
    input: &SwapProxyInput,
    deps: &Deps<'_>,
) -> Result<ProxySwapOutput, SwapProxyError> {
    source_lock::ensure_held(deps.lock, input.lock.as_ref(), deps.clock.now()).await?;
    run(input, deps).await
}

pub async fn run(
    input: &SwapProxyInput,
    deps: &Deps<'_>,
) -> Result<ProxySwapOutput, SwapProxyError> {
    let now = deps.clock.now();
    let spec = input.proxy.as_ref().ok_or(SwapProxyError::NoProxySpec)?;
    let endpoint =
        |e: &Option<DatabaseEndpoint>, side| e.clone().ok_or(SwapProxyError::MissingEndpoint(side));
    let source = endpoint(&input.restore.source_endpoint, "source")?;
    let target = endpoint(&input.restore.target_endpoint, "target")?;
    let (from, to) = if input.revert {
        (target, source)
    } else {
        (source, target)
    };
    let not_on_source = |found: String| SwapProxyError::NotOnSource {
        proxy: spec.name.clone(),
        found,
        expected: from.cluster_id.clone(),
    };

    if deps.proxies.describe_proxy(&spec.name).await?.is_none() {
        return Err(not_on_source("does not exist".into()));
    }
    let tracked = tracked_clusters(deps.proxies, &spec.name).await?;
    if let Some(foreign) = tracked
        .iter()
        .find(|c| **c != from.cluster_id && **c != to.cluster_id)
    {
        return Err(not_on_source(format!("tracks `{foreign}`")));
    }
    // The earlier invocation's record, when it moved this proxy the same way.
    let previous = input
        .proxy_swap
        .as_ref()
        .filter(|p| p.proxy_name == spec.name && p.cluster_id == to.cluster_id);
    let previous_cluster_id = previous.map_or_else(
        || {
            if tracked.contains(&to.cluster_id) && !tracked.contains(&from.cluster_id) {
                to.cluster_id.clone()
            } else {
                from.cluster_id.clone()
            }
        },
        |p| p.previous_cluster_id.clone(),
    );
    let started_at = previous.map_or(now, |p| p.started_at);
    // A target group tracks one cluster: the one being left goes first.
    if tracked.contains(&from.cluster_id) {
        deps.proxies
            .deregister_cluster(&spec.name, &from.cluster_id)
            .await?;
    }
    if !tracked.contains(&to.cluster_id) {
        match deps
            .proxies
            .register_cluster(&spec.name, &to.cluster_id)
            .await
        {
            Ok(()) | Err(PortError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }

    let targets = deps.proxies.targets(&spec.name).await?;
    let writer = writer_target(&targets, &to.cluster_id);
    let state = writer
        .and_then(|t| t.state.clone())
        .unwrap_or_else(|| "none".into());
    let reason = writer.and_then(|t| t.reason.clone());
    let mut output = ProxySwapOutput {
        proxy_name: spec.name.clone(),
        previous_cluster_id,
        cluster_id: to.cluster_id.clone(),
        state: state.clone(),
        reason: reason.clone(),
        started_at,
        ready: state == TARGET_AVAILABLE,
        next_poll_seconds: poll::PROXY_TARGET.min,
    };
    if output.ready {
        output.next_poll_seconds = 0;
        return Ok(output);
    }
    if now - started_at >= time::Duration::seconds(i64::from(spec.timeout_seconds)) {
        let why = match (&reason, writer.and_then(|t| t.description.as_deref())) {
            (Some(reason), Some(text)) => {
                format!("the writer's target is {state} ({reason}: {text})")
            }
            (Some(reason), None) => format!("the writer's target is {state} ({reason})"),
            _ => format!("the writer's target is {state}"),
        };
        return Err(SwapProxyError::Unavailable {
            proxy: spec.name.clone(),
            cluster: to.cluster_id.clone(),
            seconds: spec.timeout_seconds,
            why,
        });
    }
    Ok(output)
}

/// ConfirmProxy: a session opened through the proxy reaches the target's writer, the same
/// server as a session opened at its writer endpoint; health alone could be a stale report.
pub async fn confirm(
    input: &ConfirmProxyInput,
    identity: &dyn ServerIdentity,
    clock: &dyn Clock,
) -> Result<ProxyConfirmation, SwapProxyError> {
    let spec = input.proxy.as_ref().ok_or(SwapProxyError::NoProxySpec)?;
    let target = input
        .restore
        .target_endpoint
        .clone()
        .ok_or(SwapProxyError::MissingEndpoint("target"))?;
    let through = DatabaseEndpoint {
        cluster_id: target.cluster_id.clone(),
        host: input.proxy_check.endpoint.clone(),
        port: input.proxy_check.port,
    };
    let unavailable = |why: String| SwapProxyError::Unavailable {
        proxy: spec.name.clone(),
        cluster: target.cluster_id.clone(),
        seconds: spec.timeout_seconds,
        why,
    };
    // A session that fails proves nothing either way: the proxy reports the target available,
    // so the application may be writing there; only a session shown to reach another server
    // (below) says the proxy is not on the target, and only then is it moved back.
    let writer = identity.identity(&target, &spec.secret_arn).await?;
    let reached = identity.identity(&through, &spec.secret_arn).await?;
    if reached != writer {
        return Err(unavailable(format!(
            "a session through it reached server `{reached}`, not the writer `{writer}`"
        )));
    }
    let now = clock.now();
    Ok(ProxyConfirmation {
        server: reached,
        fenced_window_ms: input
            .fence
            .map(|f| u64::try_from((now - f.fenced_at).whole_milliseconds()).unwrap_or(0)),
    })
}

/// CheckProxy: the proxy exists, is an `available` MySQL proxy whose default target group
/// tracks the source, and `proxy.secretArn` is one of its secrets. Runs right after Preflight,
/// before anything is created, and only reads.
pub async fn check(
    input: &CheckProxyInput,
    proxies: &dyn ProxyTargets,
) -> Result<ProxyCheckOutput, SwapProxyError> {
    let spec = input.proxy.as_ref().ok_or(SwapProxyError::NoProxySpec)?;
    let not_on_source = |found: String| SwapProxyError::NotOnSource {
        proxy: spec.name.clone(),
        found,
        expected: input.source_cluster_id.clone(),
    };
    let proxy = proxies
        .describe_proxy(&spec.name)
        .await?
        .ok_or_else(|| not_on_source("does not exist".into()))?;
    if proxy.engine_family != "MYSQL" {
        return Err(not_on_source(format!("is a {} proxy", proxy.engine_family)));
    }
    if proxy.status != "available" {
        return Err(not_on_source(format!("is {}", proxy.status)));
    }
    let tracked = tracked_clusters(proxies, &spec.name).await?;
    match tracked.as_slice() {
        [cluster] if *cluster == input.source_cluster_id => {}
        [] => return Err(not_on_source("tracks no cluster".into())),
        other => return Err(not_on_source(format!("tracks `{}`", other.join("`, `")))),
    }
    if !proxy.auth_secret_arns.contains(&spec.secret_arn) {
        return Err(SwapProxyError::NotProxySecret {
            proxy: spec.name.clone(),
            secret: spec.secret_arn.clone(),
            known: proxy.auth_secret_arns.join(", "),
        });
    }
    Ok(ProxyCheckOutput {
        plan: format!(
            "while fenced and drained: deregister {} from RDS Proxy {}'s default target group, register the target, wait until a session through it reaches the target's writer (at most {} s); the rollback moves it back",
            input.source_cluster_id, spec.name, spec.timeout_seconds
        ),
        proxy_name: proxy.name,
        proxy_arn: proxy.arn,
        endpoint: proxy.endpoint.unwrap_or_default(),
        port: proxy.port,
        tracked_cluster_id: input.source_cluster_id.clone(),
    })
}

/// The writer instance's target of `cluster`, once RDS lists it.
/// The clusters the proxy's default target group tracks (its `TRACKED_CLUSTER` targets).
async fn tracked_clusters(
    proxies: &dyn ProxyTargets,
    name: &str,
) -> Result<Vec<String>, SwapProxyError> {
    Ok(proxies
        .targets(name)
        .await?
        .into_iter()
        .filter(|t| t.kind == TRACKED_CLUSTER)
        .filter_map(|t| t.cluster_id)
        .collect())
}

fn writer_target<'a>(targets: &'a [ProxyTarget], cluster: &str) -> Option<&'a ProxyTarget> {
    targets.iter().find(|t| {
        t.kind == RDS_INSTANCE
            && t.cluster_id.as_deref() == Some(cluster)
            && t.role.as_deref() == Some(READ_WRITE)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{FakeClock, FakeIdentity, FakeProxies, FakeSourceLock, EPOCH};
    use crate::spec::ProxySpec;
    use serde_json::json;

    const SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-app-AbCdEf";

    fn input(revert: bool, previous: Option<ProxySwapOutput>) -> SwapProxyInput {
        let restore = serde_json::from_value(json!({
            "targetClusterId": "orders-encrypted",
            "status": "available",
            "encrypted": true,
            "restoreStartedAt": "2026-11-30T12:00:00Z",
            "instances": [],
            "sourceEndpoint": {"clusterId": "orders", "host": "orders.cluster-abc.eu-west-1.rds.amazonaws.com", "port": 3306},
            "targetEndpoint": {"clusterId": "orders-encrypted", "host": "orders-encrypted.cluster-abc.eu-west-1.rds.amazonaws.com", "port": 3306},
            "ready": true,
            "nextPollSeconds": 0
        }))
        .unwrap();
        SwapProxyInput {
            proxy: Some(ProxySpec {
                name: "orders-proxy".into(),
                secret_arn: SECRET.into(),
                timeout_seconds: 300,
            }),
            restore,
            revert,
            proxy_swap: previous,
            lock: None,
        }
    }

    async fn step(
        input: &SwapProxyInput,
        proxies: &FakeProxies,
        clock: &FakeClock,
    ) -> Result<ProxySwapOutput, SwapProxyError> {
        let lock = FakeSourceLock::default();
        let deps = Deps {
            proxies,
            clock,
            lock: &lock,
        };
        run(input, &deps).await
    }

    fn confirm_input() -> ConfirmProxyInput {
        let swap = input(false, None);
        ConfirmProxyInput {
            proxy: swap.proxy,
            restore: swap.restore,
            fence: Some(FencedAt {
                fenced_at: EPOCH - time::Duration::seconds(42),
            }),
            proxy_check: ProxyCheckOutput {
                proxy_name: "orders-proxy".into(),
                proxy_arn: "arn:aws:rds:eu-west-1:123456789012:db-proxy:prx-1".into(),
                endpoint: "orders-proxy.proxy-abc.eu-west-1.rds.amazonaws.com".into(),
                port: 3306,
                tracked_cluster_id: "orders".into(),
                plan: String::new(),
            },
        }
    }

    #[tokio::test]
    async fn the_proxy_leaves_the_source_for_the_target_and_is_proven_by_a_session() {
        let proxies = FakeProxies::tracking("orders-proxy", "orders");
        let identity = FakeIdentity::default();
        let clock = FakeClock::at(EPOCH);
        let first = step(&input(false, None), &proxies, &clock).await.unwrap();
        assert!(!first.ready);
        assert_eq!(first.previous_cluster_id, "orders");
        assert_eq!(first.state, "REGISTERING");
        assert_eq!(
            proxies.mutations(),
            vec![
                "deregister orders-proxy orders",
                "register orders-proxy orders-encrypted"
            ]
        );

        proxies.become_available("orders-proxy");
        clock.advance(40);
        let done = step(&input(false, Some(first)), &proxies, &clock)
            .await
            .unwrap();
        assert!(done.ready, "{done:?}");
        assert_eq!(done.previous_cluster_id, "orders");
        assert_eq!(proxies.mutations().len(), 2, "nothing moved twice");

        let confirmed = confirm(&confirm_input(), &identity, &clock).await.unwrap();
        assert_eq!(
            confirmed.server,
            "orders-encrypted.cluster-abc.eu-west-1.rds.amazonaws.com"
        );
        assert_eq!(
            confirmed.fenced_window_ms,
            Some(82_000),
            "fenced 42 s before the swap began"
        );
        assert_eq!(
            identity.probed(),
            vec![
                "orders-encrypted.cluster-abc.eu-west-1.rds.amazonaws.com",
                "orders-proxy.proxy-abc.eu-west-1.rds.amazonaws.com"
            ]
        );
    }

    #[tokio::test]
    async fn a_proxy_whose_sessions_reach_another_server_is_not_confirmed() {
        let identity = FakeIdentity::default();
        identity.route(
            "orders-proxy.proxy-abc.eu-west-1.rds.amazonaws.com",
            "orders.cluster-abc.eu-west-1.rds.amazonaws.com",
        );
        let err = confirm(&confirm_input(), &identity, &FakeClock::at(EPOCH))
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "ProxyTargetUnavailable");
        assert!(err.to_string().contains("not the writer"), "{err}");
        // A session that fails proves nothing: not a reason to move the proxy back.
        let refused = FakeIdentity::default();
        refused.refuse("orders-proxy.proxy-abc.eu-west-1.rds.amazonaws.com");
        let err = confirm(&confirm_input(), &refused, &FakeClock::at(EPOCH))
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "AccessDenied");
    }

    #[tokio::test]
    async fn a_target_that_never_becomes_available_fails_with_its_reason() {
        let proxies = FakeProxies::tracking("orders-proxy", "orders");
        proxies.fail_health("AUTH_FAILURE", "the secret's password is wrong");
        let clock = FakeClock::at(EPOCH);
        let out = step(&input(false, None), &proxies, &clock).await.unwrap();
        assert_eq!(out.reason.as_deref(), Some("AUTH_FAILURE"));
        clock.advance(300);
        let err = step(&input(false, Some(out)), &proxies, &clock)
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "ProxyTargetUnavailable");
        assert!(err.to_string().contains("AUTH_FAILURE"), "{err}");
    }

    #[tokio::test]
    async fn the_revert_moves_it_back_and_a_second_revert_changes_nothing() {
        let proxies = FakeProxies::tracking("orders-proxy", "orders-encrypted");
        proxies.become_available_on_register();
        let clock = FakeClock::at(EPOCH);
        let out = step(&input(true, None), &proxies, &clock).await.unwrap();
        assert!(out.ready);
        assert_eq!(out.cluster_id, "orders");
        let again = step(&input(true, Some(out)), &proxies, &clock)
            .await
            .unwrap();
        assert!(again.ready);
        assert_eq!(proxies.mutations().len(), 2);
    }

    #[tokio::test]
    async fn the_check_refuses_a_proxy_not_on_the_source_or_a_secret_not_its_own() {
        let check_with = |proxy: &str, secret: &str| CheckProxyInput {
            source_cluster_id: "orders".into(),
            proxy: Some(ProxySpec {
                name: proxy.into(),
                secret_arn: secret.into(),
                timeout_seconds: 300,
            }),
        };
        let proxies = FakeProxies::tracking("orders-proxy", "orders");
        let found = check(&check_with("orders-proxy", SECRET), &proxies)
            .await
            .unwrap();
        assert_eq!(found.tracked_cluster_id, "orders");
        assert!(found.plan.contains("deregister orders"), "{}", found.plan);

        let other = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-repl-AbCdEf";
        let err = check(&check_with("orders-proxy", other), &proxies)
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "InvalidInput");
        assert!(err.to_string().contains("orders-app-AbCdEf"), "{err}");

        let err = check(&check_with("billing-proxy", SECRET), &proxies)
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "ProxyNotOnSource");
        let billing = FakeProxies::tracking("orders-proxy", "billing");
        let err = check(&check_with("orders-proxy", SECRET), &billing)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("tracks `billing`"), "{err}");
        assert!(proxies.mutations().is_empty() && billing.mutations().is_empty());
    }

    #[tokio::test]
    async fn a_proxy_on_another_cluster_or_missing_is_refused_untouched() {
        let proxies = FakeProxies::tracking("orders-proxy", "billing");
        let clock = FakeClock::at(EPOCH);
        let err = step(&input(false, None), &proxies, &clock)
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "ProxyNotOnSource");
        assert!(err.to_string().contains("tracks `billing`"), "{err}");
        let missing = FakeProxies::default();
        let err = step(&input(false, None), &missing, &clock)
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "ProxyNotOnSource");
        assert!(proxies.mutations().is_empty() && missing.mutations().is_empty());
    }
}
