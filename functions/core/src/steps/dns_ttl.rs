//! The application record's TTL around the switchover, served by the swap-dns function (same
//! Route 53 calls) when its input carries an `action`:
//!
//! - `lower-ttl` (LowerDnsTtl, early in the run): UPSERTs the record with its current value and
//!   the switchover TTL (`dns.ttlSeconds`), then polls the change until INSYNC. Clients cache an
//!   answer for the TTL it came with, so an answer fetched just before the lowering lives for the
//!   original TTL: the output's `switchoverNotBefore` is the time the change was first seen in
//!   sync plus that TTL, and the state machine waits for it (`DnsTtlGate`) before it fences.
//! - `restore-ttl` (CleanupDnsTtl after cleanup, CleanupDnsTtlOnRollback): UPSERTs the record,
//!   at whatever it points to now, with the original TTL again. A record that is gone or no
//!   longer a CNAME is left alone: someone else changed it.
//!
//! The original TTL comes from preflight's plan (`preflight.dnsTtlSeconds`), never from the
//! record at the time of the call, so a retried or repeated lowering cannot mistake the lowered
//! TTL for the original. A record whose TTL is already at or below the switchover TTL is not
//! changed, and its gate is open at once.
//!
//! Input: `{"action": "lower-ttl" | "restore-ttl", "document": <state document>}` (the document
//! supplies `dns`, `preflight.dnsTtlSeconds` and, while polling, the previous `dnsTtl`). Output:
//! [`DnsTtlOutput`] or [`DnsTtlRestoredOutput`]. Errors: `DnsRecordNotOnSource` (lowering a record
//! that is gone or not a CNAME), `InvalidInput`, `Transient`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error_names;
use crate::errors::{impl_diagnostic, NamedError, PortError};
use crate::poll;
use crate::ports::{ChangeStatus, Clock, Dns, SourceLock};
use crate::spec::DnsSpec;
use crate::state::{DnsTtlOutput, DnsTtlRestoredOutput};
use crate::steps::source_lock::{self, HeldLock, LockError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DnsTtlAction {
    LowerTtl,
    RestoreTtl,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsTtlInput {
    pub action: DnsTtlAction,
    pub document: DnsTtlDocument,
}

/// The parts of the state document these actions read.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsTtlDocument {
    #[serde(default)]
    pub dns: Option<DnsSpec>,
    pub preflight: PreflightTtl,
    /// LowerDnsTtl's previous output, while polling.
    #[serde(default)]
    pub dns_ttl: Option<DnsTtlOutput>,
    /// The source's lock this execution took in Preflight (`$.lock`).
    #[serde(default)]
    pub lock: Option<HeldLock>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreflightTtl {
    #[serde(default)]
    pub dns_ttl_seconds: Option<i64>,
}

/// What either action returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum DnsTtlResult {
    Lowered(DnsTtlOutput),
    Restored(DnsTtlRestoredOutput),
}

#[derive(Debug, thiserror::Error)]
pub enum DnsTtlError {
    #[error("the spec has no `dns` section: no TTL to change")]
    NoDnsSpec,
    #[error("preflight recorded no TTL for `{0}`: run the execution from the start")]
    NoOriginalTtl(String),
    #[error("record `{record}` {found}; expected the CNAME preflight checked")]
    NotACname { record: String, found: String },
    #[error(transparent)]
    Port(#[from] PortError),
    #[error(transparent)]
    Lock(#[from] LockError),
}

impl NamedError for DnsTtlError {
    fn error_name(&self) -> &'static str {
        match self {
            DnsTtlError::NoDnsSpec | DnsTtlError::NoOriginalTtl(_) => error_names::INVALID_INPUT,
            DnsTtlError::NotACname { .. } => error_names::DNS_RECORD_NOT_ON_SOURCE,
            DnsTtlError::Port(e) => e.default_name(),
            DnsTtlError::Lock(e) => e.error_name(),
        }
    }
}

impl_diagnostic!(DnsTtlError);

/// Whether a swap-dns function input asks for a TTL action rather than the swap.
pub fn is_ttl_request(payload: &Value) -> bool {
    payload.get("action").is_some_and(|a| !a.is_null())
}

/// What the TTL actions run over.
pub struct Deps<'a> {
    pub dns: &'a dyn Dns,
    pub clock: &'a dyn Clock,
    /// Checked by [`run_holding_lock`].
    pub lock: &'a dyn SourceLock,
}

/// [`run`], checked against the source's lock: lowering needs it held by this execution;
/// putting the TTL back (after cleanup or a rollback released it) needs only that no other
/// execution has taken it since, so a foreign or stale rollback never changes the TTL of a
/// record another execution has switched over.
pub async fn run_holding_lock(
    input: &DnsTtlInput,
    deps: &Deps<'_>,
) -> Result<DnsTtlResult, DnsTtlError> {
    let held = input.document.lock.as_ref();
    match input.action {
        DnsTtlAction::LowerTtl => {
            source_lock::ensure_held(deps.lock, held, deps.clock.now()).await?
        }
        DnsTtlAction::RestoreTtl => source_lock::ensure_not_taken(deps.lock, held).await?,
    }
    run(input, deps).await
}

pub async fn run(input: &DnsTtlInput, deps: &Deps<'_>) -> Result<DnsTtlResult, DnsTtlError> {
    let (dns, clock) = (deps.dns, deps.clock);
    match input.action {
        DnsTtlAction::LowerTtl => lower(&input.document, dns, clock)
            .await
            .map(DnsTtlResult::Lowered),
        DnsTtlAction::RestoreTtl => restore(&input.document, dns)
            .await
            .map(DnsTtlResult::Restored),
    }
}

fn settings(doc: &DnsTtlDocument) -> Result<(&DnsSpec, i64), DnsTtlError> {
    let spec = doc.dns.as_ref().ok_or(DnsTtlError::NoDnsSpec)?;
    let original = doc
        .preflight
        .dns_ttl_seconds
        .ok_or_else(|| DnsTtlError::NoOriginalTtl(spec.record_name.clone()))?;
    Ok((spec, original))
}

async fn lower(
    doc: &DnsTtlDocument,
    dns: &dyn Dns,
    clock: &dyn Clock,
) -> Result<DnsTtlOutput, DnsTtlError> {
    let (spec, original) = settings(doc)?;
    let open_gate = |mut output: DnsTtlOutput| {
        let now = clock.now();
        output.status = ChangeStatus::Insync;
        output.in_sync = true;
        output.lowered_at = Some(now);
        output.switchover_not_before = Some(now + time::Duration::seconds(original));
        output.next_poll_seconds = 0;
        output
    };

    if let Some(previous) = &doc.dns_ttl {
        if previous.in_sync {
            return Ok(previous.clone());
        }
        if let Some(change_id) = &previous.change_id {
            return Ok(match dns.change_status(change_id).await? {
                ChangeStatus::Insync => open_gate(previous.clone()),
                ChangeStatus::Pending => previous.clone(),
            });
        }
    }

    let switchover = spec.ttl_seconds.min(original);
    let mut output = DnsTtlOutput {
        record_name: spec.record_name.clone(),
        original_ttl_seconds: original,
        switchover_ttl_seconds: switchover,
        change_id: None,
        status: ChangeStatus::Pending,
        in_sync: false,
        lowered_at: None,
        switchover_not_before: None,
        next_poll_seconds: poll::DNS_CHANGE.min,
    };
    if original <= spec.ttl_seconds {
        // Answers already expire as fast as the switchover needs: nothing to change or wait for.
        let mut output = open_gate(output);
        output.switchover_not_before = output.lowered_at;
        return Ok(output);
    }
    let record = dns.resolve(&spec.hosted_zone_id, &spec.record_name).await?;
    let value = match record {
        Some(r) if r.record_type == "CNAME" && r.value.is_some() => r.value.unwrap_or_default(),
        Some(r) => {
            return Err(DnsTtlError::NotACname {
                record: spec.record_name.clone(),
                found: format!("is now a {} record", r.record_type),
            })
        }
        None => {
            return Err(DnsTtlError::NotACname {
                record: spec.record_name.clone(),
                found: "no longer exists".into(),
            })
        }
    };
    let change = dns
        .upsert_cname(&spec.hosted_zone_id, &spec.record_name, &value, switchover)
        .await?;
    output.change_id = Some(change.id);
    Ok(match change.status {
        ChangeStatus::Insync => open_gate(output),
        ChangeStatus::Pending => output,
    })
}

async fn restore(doc: &DnsTtlDocument, dns: &dyn Dns) -> Result<DnsTtlRestoredOutput, DnsTtlError> {
    let (spec, original) = settings(doc)?;
    let mut output = DnsTtlRestoredOutput {
        record_name: spec.record_name.clone(),
        ttl_seconds: None,
        previous_ttl_seconds: None,
        change_id: None,
        skipped: None,
    };
    let record = dns.resolve(&spec.hosted_zone_id, &spec.record_name).await?;
    let (value, ttl) = match record {
        Some(r) if r.record_type == "CNAME" && r.value.is_some() => {
            (r.value.unwrap_or_default(), r.ttl)
        }
        Some(r) => {
            output.skipped = Some(format!("the record is now a {} record", r.record_type));
            return Ok(output);
        }
        None => {
            output.skipped = Some("the record no longer exists".into());
            return Ok(output);
        }
    };
    output.previous_ttl_seconds = ttl;
    output.ttl_seconds = Some(original);
    if ttl != Some(original) {
        let change = dns
            .upsert_cname(&spec.hosted_zone_id, &spec.record_name, &value, original)
            .await?;
        output.change_id = Some(change.id);
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{self, FakeClock, FakeDns, FakeSourceLock};
    use serde_json::json;

    /// The TTL actions over the fakes, without the lock.
    async fn run(
        input: &DnsTtlInput,
        dns: &FakeDns,
        clock: &FakeClock,
    ) -> Result<DnsTtlResult, DnsTtlError> {
        let lock = FakeSourceLock::default();
        super::run(
            input,
            &Deps {
                dns,
                clock,
                lock: &lock,
            },
        )
        .await
    }

    const SOURCE: &str = "orders.cluster-abc.eu-west-1.rds.amazonaws.com";

    fn input(action: &str, original: Option<i64>) -> DnsTtlInput {
        let mut doc = fakes::state_document("orders", "e");
        doc["preflight"] = json!({ "dnsTtlSeconds": original });
        serde_json::from_value(json!({ "action": action, "document": doc })).unwrap()
    }

    fn lowered(result: DnsTtlResult) -> DnsTtlOutput {
        match result {
            DnsTtlResult::Lowered(output) => output,
            other => panic!("{other:?}"),
        }
    }

    fn restored(result: DnsTtlResult) -> DnsTtlRestoredOutput {
        match result {
            DnsTtlResult::Restored(output) => output,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn lowering_keeps_the_value_and_opens_the_gate_one_original_ttl_after_insync() {
        let dns = FakeDns::with_record("db.example.com", "CNAME", Some(SOURCE));
        let clock = FakeClock::default();
        let mut inp = input("lower-ttl", Some(300));
        let out = lowered(run(&inp, &dns, &clock).await.unwrap());
        assert_eq!(
            dns.mutations(),
            vec![format!(
                "upsert Z0123456789ABCDEFGHIJ db.example.com CNAME {SOURCE} ttl=30"
            )]
        );
        assert!(!out.in_sync);
        assert_eq!(out.switchover_not_before, None);
        assert_eq!(
            (out.original_ttl_seconds, out.switchover_ttl_seconds),
            (300, 30)
        );

        clock.advance(5);
        inp.document.dns_ttl = Some(out);
        let out = lowered(run(&inp, &dns, &clock).await.unwrap());
        assert!(!out.in_sync, "still pending");
        dns.sync_all();
        clock.advance(5);
        inp.document.dns_ttl = Some(out);
        let out = lowered(run(&inp, &dns, &clock).await.unwrap());
        assert!(out.in_sync);
        let insync_at = clock.now();
        assert_eq!(out.lowered_at, Some(insync_at));
        assert_eq!(
            out.switchover_not_before,
            Some(insync_at + time::Duration::seconds(300))
        );

        clock.advance(60);
        inp.document.dns_ttl = Some(out.clone());
        assert_eq!(lowered(run(&inp, &dns, &clock).await.unwrap()), out);
        assert_eq!(dns.mutations().len(), 1, "polling changes nothing");
    }

    #[tokio::test]
    async fn a_repeated_lowering_keeps_the_original_from_preflight() {
        let dns = FakeDns::with_record("db.example.com", "CNAME", Some(SOURCE));
        let clock = FakeClock::default();
        let inp = input("lower-ttl", Some(300));
        run(&inp, &dns, &clock).await.unwrap();
        let again = lowered(run(&inp, &dns, &clock).await.unwrap());
        assert_eq!(again.original_ttl_seconds, 300);
        assert_eq!(dns.record("db.example.com").unwrap().ttl, Some(30));
    }

    #[tokio::test]
    async fn a_record_already_low_is_not_changed_and_its_gate_is_open() {
        let dns = FakeDns::with_record("db.example.com", "CNAME", Some(SOURCE));
        let clock = FakeClock::default();
        let out = lowered(
            run(&input("lower-ttl", Some(10)), &dns, &clock)
                .await
                .unwrap(),
        );
        assert!(out.in_sync);
        assert_eq!(out.switchover_ttl_seconds, 10);
        assert_eq!(out.switchover_not_before, Some(clock.now()));
        assert!(dns.mutations().is_empty());
    }

    #[tokio::test]
    async fn lowering_a_record_that_is_no_longer_a_cname_is_refused() {
        for dns in [
            FakeDns::with_record("db.example.com", "A", Some("10.0.0.1")),
            FakeDns::default(),
        ] {
            let err = run(&input("lower-ttl", Some(300)), &dns, &FakeClock::default())
                .await
                .unwrap_err();
            assert_eq!(err.error_name(), "DnsRecordNotOnSource", "{err}");
            assert!(dns.mutations().is_empty());
        }
    }

    #[tokio::test]
    async fn without_the_original_ttl_nothing_is_changed() {
        let dns = FakeDns::with_record("db.example.com", "CNAME", Some(SOURCE));
        for action in ["lower-ttl", "restore-ttl"] {
            let err = run(&input(action, None), &dns, &FakeClock::default())
                .await
                .unwrap_err();
            assert_eq!(err.error_name(), "InvalidInput", "{err}");
        }
        assert!(dns.mutations().is_empty());
    }

    #[tokio::test]
    async fn restoring_puts_the_original_back_wherever_the_record_points_and_is_idempotent() {
        let target = "orders-encrypted.cluster-abc.eu-west-1.rds.amazonaws.com";
        let dns = FakeDns::with_record("db.example.com", "CNAME", Some(SOURCE));
        dns.upsert_cname("Z0123456789ABCDEFGHIJ", "db.example.com", target, 30)
            .await
            .unwrap();
        let inp = input("restore-ttl", Some(300));
        let out = restored(run(&inp, &dns, &FakeClock::default()).await.unwrap());
        assert_eq!(out.ttl_seconds, Some(300));
        assert_eq!(out.previous_ttl_seconds, Some(30));
        assert!(out.change_id.is_some());
        let record = dns.record("db.example.com").unwrap();
        assert_eq!(
            (record.value.as_deref(), record.ttl),
            (Some(target), Some(300))
        );

        let again = restored(run(&inp, &dns, &FakeClock::default()).await.unwrap());
        assert_eq!(again.change_id, None);
        assert_eq!(
            dns.mutations().len(),
            2,
            "the second restore changes nothing"
        );
    }

    #[tokio::test]
    async fn restoring_leaves_a_record_someone_replaced_alone() {
        let dns = FakeDns::with_record("db.example.com", "A", Some("10.0.0.1"));
        let out = restored(
            run(
                &input("restore-ttl", Some(300)),
                &dns,
                &FakeClock::default(),
            )
            .await
            .unwrap(),
        );
        assert!(out.skipped.is_some());
        assert!(dns.mutations().is_empty());
    }

    #[tokio::test]
    async fn throttled_lowering_is_transient() {
        let dns = FakeDns::with_record("db.example.com", "CNAME", Some(SOURCE));
        dns.fail_next(
            "upsert_cname",
            PortError::Transient("PriorRequestNotComplete".into()),
        );
        let err = run(&input("lower-ttl", Some(300)), &dns, &FakeClock::default())
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "Transient");
    }

    #[test]
    fn only_inputs_with_an_action_are_ttl_requests() {
        assert!(is_ttl_request(
            &json!({"action": "lower-ttl", "document": {}})
        ));
        assert!(!is_ttl_request(&fakes::state_document("orders", "e")));
    }
}
