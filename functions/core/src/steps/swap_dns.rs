//! SwapDns: points the application's CNAME at the target's writer endpoint (UPSERT with the
//! spec's TTL), or back at the source with `revert`, and reports when Route 53 has the change in
//! sync on all its servers.
//!
//! It refuses to touch a record that points anywhere but the two clusters: that record is not the
//! one the application uses for this source. A record already at the desired value is a no-op,
//! which makes re-runs and reverts idempotent.
//!
//! The TTL is the switchover TTL LowerDnsTtl set (`dnsTtl.switchoverTtlSeconds`), or the spec's
//! `dns.ttlSeconds` when the record was not lowered (a revert, which passes only `dns`).
//!
//! Input: the spec (`dns`), `restore` (endpoints), optional `revert`, optional `dnsTtl`, and the
//! previous `dnsSwap` while polling. Output: [`DnsSwapOutput`]. Errors: `DnsRecordNotOnSource`, `InvalidInput`,
//! `Transient`, and `SourceBusy` from [`run_holding_lock`] (as wired): the swap and its revert
//! act only while this execution holds the source's lock (`lock`).

use serde::Deserialize;
use time::OffsetDateTime;

use crate::error_names;
use crate::errors::{impl_diagnostic, NamedError, PortError};
use crate::poll;
use crate::ports::{ChangeStatus, Clock, Dns, SourceLock};
use crate::spec::DnsSpec;
use crate::state::{DnsSwapOutput, DnsTtlOutput, RestoreOutput};
use crate::steps::source_lock::{self, HeldLock, LockError};

/// The swap-dns function's: this step's and the TTL steps', and those of the RDS Proxy steps
/// (`swap_proxy`) and of the renames (`rename`), which it serves too.
pub const IAM_ACTIONS: &[&str] = &[
    "route53:ListResourceRecordSets",
    "route53:ChangeResourceRecordSets",
    "route53:GetChange",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "rds:DescribeDBProxies",
    "rds:DescribeDBProxyTargets",
    "rds:RegisterDBProxyTargets",
    "rds:DeregisterDBProxyTargets",
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
    "rds:DescribeDBClusterEndpoints",
    "rds:ModifyDBCluster",
    "rds:ModifyDBInstance",
    "rds:DeleteDBClusterEndpoint",
    "rds:CreateDBClusterEndpoint",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwapDnsInput {
    #[serde(default)]
    pub dns: Option<DnsSpec>,
    pub restore: RestoreOutput,
    /// Put the source back (after a failed switchover).
    #[serde(default)]
    pub revert: bool,
    /// This step's previous output, while polling for INSYNC.
    #[serde(default)]
    pub dns_swap: Option<DnsSwapOutput>,
    /// LowerDnsTtl's output: the TTL the record carries through the switchover.
    #[serde(default)]
    pub dns_ttl: Option<DnsTtlOutput>,
    /// The source's lock this execution took in Preflight (`$.lock`).
    #[serde(default)]
    pub lock: Option<HeldLock>,
    /// FenceWrites' output (`$.fence`): when writes stopped, for the fenced window.
    #[serde(default)]
    pub fence: Option<FencedAt>,
}

/// The one field of `$.fence` the swap reads.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FencedAt {
    #[serde(with = "time::serde::rfc3339")]
    pub fenced_at: OffsetDateTime,
}

#[derive(Debug, thiserror::Error)]
pub enum SwapDnsError {
    #[error("the spec has no `dns` section: nothing to swap")]
    NoDnsSpec,
    #[error("restore output lacks the {0} endpoint")]
    MissingEndpoint(&'static str),
    #[error("record `{record}` {found}; expected a CNAME to `{expected}`")]
    NotOnSource {
        record: String,
        found: String,
        expected: String,
    },
    #[error(transparent)]
    Port(#[from] PortError),
    #[error(transparent)]
    Lock(#[from] LockError),
}

impl NamedError for SwapDnsError {
    fn error_name(&self) -> &'static str {
        match self {
            SwapDnsError::NoDnsSpec | SwapDnsError::MissingEndpoint(_) => {
                error_names::INVALID_INPUT
            }
            SwapDnsError::NotOnSource { .. } => error_names::DNS_RECORD_NOT_ON_SOURCE,
            SwapDnsError::Port(e) => e.default_name(),
            SwapDnsError::Lock(e) => e.error_name(),
        }
    }
}

impl_diagnostic!(SwapDnsError);

/// DNS names compare case-insensitively, with or without the root's trailing dot.
fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// What SwapDns runs over.
pub struct Deps<'a> {
    pub dns: &'a dyn Dns,
    pub clock: &'a dyn Clock,
    /// Checked by [`run_holding_lock`].
    pub lock: &'a dyn SourceLock,
}

/// [`run`], once the source's lock is confirmed to be this execution's (and renewed).
pub async fn run_holding_lock(
    input: &SwapDnsInput,
    deps: &Deps<'_>,
) -> Result<DnsSwapOutput, SwapDnsError> {
    source_lock::ensure_held(deps.lock, input.lock.as_ref(), deps.clock.now()).await?;
    run(input, deps).await
}

pub async fn run(input: &SwapDnsInput, deps: &Deps<'_>) -> Result<DnsSwapOutput, SwapDnsError> {
    // When this invocation runs: the end of the fenced window once the swap is in sync.
    let (dns, now) = (deps.dns, deps.clock.now());
    let spec = input.dns.as_ref().ok_or(SwapDnsError::NoDnsSpec)?;
    let source = &input
        .restore
        .source_endpoint
        .as_ref()
        .ok_or(SwapDnsError::MissingEndpoint("source"))?
        .host;
    let target = &input
        .restore
        .target_endpoint
        .as_ref()
        .ok_or(SwapDnsError::MissingEndpoint("target"))?
        .host;
    let (from, to) = if input.revert {
        (target, source)
    } else {
        (source, target)
    };

    let record = dns.resolve(&spec.hosted_zone_id, &spec.record_name).await?;
    let current = match &record {
        Some(r) if r.record_type == "CNAME" => r.value.clone().unwrap_or_default(),
        Some(r) => {
            return Err(SwapDnsError::NotOnSource {
                record: spec.record_name.clone(),
                found: format!(
                    "is a {} record{}",
                    r.record_type,
                    if r.value.is_none() { " (alias)" } else { "" }
                ),
                expected: from.clone(),
            })
        }
        None => {
            return Err(SwapDnsError::NotOnSource {
                record: spec.record_name.clone(),
                found: "does not exist".into(),
                expected: from.clone(),
            })
        }
    };

    let ttl_seconds = input
        .dns_ttl
        .as_ref()
        .map_or(spec.ttl_seconds, |t| t.switchover_ttl_seconds);
    let mut output = DnsSwapOutput {
        record_name: spec.record_name.clone(),
        previous_value: current.clone(),
        value: to.clone(),
        ttl_seconds,
        change_id: None,
        status: ChangeStatus::Insync,
        in_sync: true,
        next_poll_seconds: 0,
        fenced_window_ms: None,
    };
    if same_name(&current, to) {
        // Already swapped: by us (poll the change we made) or before this run (nothing to do).
        if let Some(previous) = input.dns_swap.as_ref().filter(|p| same_name(&p.value, to)) {
            output.previous_value = previous.previous_value.clone();
            if let Some(change_id) = &previous.change_id {
                output.change_id = Some(change_id.clone());
                output.status = dns.change_status(change_id).await?;
            }
        }
    } else if same_name(&current, from) {
        let change = dns
            .upsert_cname(&spec.hosted_zone_id, &spec.record_name, to, ttl_seconds)
            .await?;
        output.change_id = Some(change.id);
        output.status = change.status;
    } else {
        return Err(SwapDnsError::NotOnSource {
            record: spec.record_name.clone(),
            found: format!("points at `{current}`"),
            expected: from.clone(),
        });
    }
    output.in_sync = output.status == ChangeStatus::Insync;
    output.next_poll_seconds = if output.in_sync {
        0
    } else {
        poll::DNS_CHANGE.min
    };
    output.fenced_window_ms = input
        .fence
        .filter(|_| output.in_sync)
        .map(|f| u64::try_from((now - f.fenced_at).whole_milliseconds()).unwrap_or(0));
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{self, FakeClock, FakeDns, FakeSourceLock, EPOCH};

    /// SwapDns over the fakes at `now`, without the lock.
    async fn run(
        input: &SwapDnsInput,
        dns: &FakeDns,
        now: OffsetDateTime,
    ) -> Result<DnsSwapOutput, SwapDnsError> {
        let clock = FakeClock::at(now);
        let lock = FakeSourceLock::default();
        let deps = Deps {
            dns,
            clock: &clock,
            lock: &lock,
        };
        super::run(input, &deps).await
    }

    const SOURCE: &str = "orders.cluster-abc.eu-west-1.rds.amazonaws.com";
    const TARGET: &str = "orders-encrypted.cluster-abc.eu-west-1.rds.amazonaws.com";

    fn input(revert: bool) -> SwapDnsInput {
        let mut doc = fakes::state_document("orders", "e");
        doc["restore"] = serde_json::json!({
            "targetClusterId": "orders-encrypted", "targetClusterArn": null, "status": "available", "encrypted": true,
            "kmsKeyId": null, "restoreStartedAt": "2026-11-27T12:00:00Z", "writerInstanceId": "w", "instances": [],
            "sourceEndpoint": { "clusterId": "orders", "host": SOURCE, "port": 3306 },
            "targetEndpoint": { "clusterId": "orders-encrypted", "host": TARGET, "port": 3306 },
            "ready": true, "nextPollSeconds": 0
        });
        doc["revert"] = revert.into();
        serde_json::from_value(doc).unwrap()
    }

    #[tokio::test]
    async fn swaps_the_cname_with_the_requested_ttl_and_polls_until_insync() {
        let dns = FakeDns::with_record(
            "db.example.com",
            "CNAME",
            Some(&format!("{}.", SOURCE.to_uppercase())),
        );
        let mut inp = input(false);
        let out = run(&inp, &dns, EPOCH).await.unwrap();
        assert_eq!(
            dns.mutations(),
            vec![format!(
                "upsert Z0123456789ABCDEFGHIJ db.example.com CNAME {TARGET} ttl=30"
            )]
        );
        assert!(!out.in_sync);
        assert_eq!(out.next_poll_seconds, 5);
        inp.dns_swap = Some(out);
        let out = run(&inp, &dns, EPOCH).await.unwrap();
        assert!(!out.in_sync, "still pending");
        dns.sync_all();
        inp.dns_swap = Some(out);
        let out = run(&inp, &dns, EPOCH).await.unwrap();
        assert!(out.in_sync);
        assert_eq!(out.change_id.as_deref(), Some("C0001"));
        assert_eq!(out.previous_value, format!("{}.", SOURCE.to_uppercase()));
        assert_eq!(dns.mutations().len(), 1, "polling changes nothing");
    }

    #[tokio::test]
    async fn the_swap_uses_the_switchover_ttl_the_record_was_lowered_to() {
        let dns = FakeDns::with_record("db.example.com", "CNAME", Some(SOURCE));
        let mut inp = input(false);
        inp.dns_ttl = Some(serde_json::from_value(serde_json::json!({
            "recordName": "db.example.com", "originalTtlSeconds": 300, "switchoverTtlSeconds": 10,
            "changeId": "C0001", "status": "INSYNC", "inSync": true, "loweredAt": "2026-11-27T12:00:00Z",
            "switchoverNotBefore": "2026-11-27T12:05:00Z", "nextPollSeconds": 0
        })).unwrap());
        let out = run(&inp, &dns, EPOCH).await.unwrap();
        assert_eq!(out.ttl_seconds, 10);
        assert_eq!(dns.record("db.example.com").unwrap().ttl, Some(10));
    }

    #[tokio::test]
    async fn the_fenced_window_ends_when_the_swap_is_in_sync() {
        let dns = FakeDns::with_record("db.example.com", "CNAME", Some(SOURCE));
        let mut inp = input(false);
        inp.fence = Some(FencedAt {
            fenced_at: EPOCH - time::Duration::milliseconds(1500),
        });
        let out = run(&inp, &dns, EPOCH).await.unwrap();
        assert!(!out.in_sync);
        assert_eq!(out.fenced_window_ms, None, "not over while pending");
        dns.sync_all();
        inp.dns_swap = Some(out);
        let later = EPOCH + time::Duration::seconds(5);
        let out = run(&inp, &dns, later).await.unwrap();
        assert_eq!(out.fenced_window_ms, Some(6500));
        assert_eq!(serde_json::to_value(&out).unwrap()["fencedWindowMs"], 6500);

        // A revert after a failed swap carries no fence and ends no fenced window; a
        // failback's swap back carries the failback's fence and ends its window.
        let dns = FakeDns::with_record("db.example.com", "CNAME", Some(SOURCE));
        let out = run(&input(true), &dns, later).await.unwrap();
        assert!(out.in_sync);
        assert_eq!(out.fenced_window_ms, None, "a revert ends no fenced window");
        let mut back = input(true);
        back.fence = inp.fence;
        let out = run(&back, &dns, later).await.unwrap();
        assert_eq!(out.fenced_window_ms, Some(6500));
    }

    #[tokio::test]
    async fn record_already_on_target_is_a_no_op() {
        let dns = FakeDns::with_record("db.example.com", "CNAME", Some(TARGET));
        let out = run(&input(false), &dns, EPOCH).await.unwrap();
        assert!(out.in_sync);
        assert_eq!(out.change_id, None);
        assert!(dns.mutations().is_empty());
    }

    #[tokio::test]
    async fn revert_puts_the_source_back() {
        let dns = FakeDns::with_record("db.example.com", "CNAME", Some(TARGET));
        run(&input(true), &dns, EPOCH).await.unwrap();
        assert_eq!(
            dns.record("db.example.com").unwrap().value.as_deref(),
            Some(SOURCE)
        );
    }

    #[tokio::test]
    async fn record_pointing_elsewhere_is_refused_and_untouched() {
        for dns in [
            FakeDns::with_record(
                "db.example.com",
                "CNAME",
                Some("other.cluster-abc.eu-west-1.rds.amazonaws.com"),
            ),
            FakeDns::with_record("db.example.com", "A", Some("10.0.0.1")),
            FakeDns::with_record("db.example.com", "A", None),
            FakeDns::default(),
        ] {
            let err = run(&input(false), &dns, EPOCH).await.unwrap_err();
            assert_eq!(err.error_name(), "DnsRecordNotOnSource", "{err}");
            assert!(dns.mutations().is_empty());
        }
    }

    #[tokio::test]
    async fn throttled_upsert_is_transient() {
        let dns = FakeDns::with_record("db.example.com", "CNAME", Some(SOURCE));
        dns.fail_next(
            "upsert_cname",
            PortError::Transient("PriorRequestNotComplete".into()),
        );
        let err = run(&input(false), &dns, EPOCH).await.unwrap_err();
        assert_eq!(err.error_name(), "Transient");
    }
}
