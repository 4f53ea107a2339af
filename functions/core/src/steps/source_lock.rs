//! The per-source lock: one migration per source cluster at a time.
//!
//! - [`acquire`] (Preflight, after every check passed, so a refused run has created nothing):
//!   takes the lock of the source, keyed by its ARN, for this execution. A lock nobody holds, a
//!   released one, or one whose holder no longer runs ([`HolderStatus::Ended`]) is taken; a
//!   holder the backend cannot ask about ([`HolderStatus::Unknown`], e.g. a local run) keeps it
//!   only while its lease runs. A running holder keeps it however old its lease: an execution
//!   waiting days for approval still owns its source. Anything else is `SourceBusy`, naming the
//!   holder. A takeover is recorded in the result ([`HeldLock::taken_over`]), so it shows in the
//!   new execution's history.
//! - [`inspect`] (a dry run): what `acquire` would do, without writing.
//! - [`ensure_held`] (before FenceWrites, UnfenceWrites, SwapDns, Cleanup and retirement act on
//!   the source): the lock must still be this execution's; the check renews its lease. A stale or
//!   foreign execution is refused with `SourceBusy` and leaves the source alone.
//! - [`ensure_not_taken`] (putting the DNS TTL back, after the release): no other execution has
//!   taken the source since.
//! - [`release`] (when cleanup or rollback ends): lets go, only if this execution holds it. A
//!   failback window, when one exists, ends with `release` instead of Cleanup.
//!
//! Every write is conditional on the version read just before, so two executions racing for
//! one source cannot both win.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::error_names;
use crate::errors::{impl_diagnostic, NamedError, PortError};
use crate::ports::{HolderStatus, LockRecord, SourceLock};

/// DynamoDB item reads and conditional writes on the lock table.
pub const CHECK_IAM_ACTIONS: &[&str] = &["dynamodb:GetItem", "dynamodb:PutItem"];
/// Taking the lock also asks Step Functions whether the holder still runs.
pub const TAKE_IAM_ACTIONS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "states:DescribeExecution",
];

/// How long a holder keeps the lock without a check renewing it, where the backend cannot say
/// whether the holder still runs.
pub const LEASE: Duration = Duration::hours(1);

/// Conditional writes lost to another writer before giving up with what the winner wrote.
const ATTEMPTS: usize = 3;

/// The lock an execution holds: `$.lock` in its state document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldLock {
    /// The source cluster's ARN.
    pub resource: String,
    /// This execution's ARN.
    pub holder: String,
    #[serde(with = "time::serde::rfc3339")]
    pub lease_expires_at: OffsetDateTime,
    /// Set when this execution took the lock from an earlier holder that had not released it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_over: Option<Takeover>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Takeover {
    /// The execution that held it.
    pub from: String,
    pub reason: TakeoverReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TakeoverReason {
    /// The holder's execution is no longer running.
    HolderEnded,
    /// The backend cannot tell whether the holder runs, and its lease ran out.
    LeaseExpired,
}

/// What a dry run found: `$.preflight.lock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockReport {
    pub resource: String,
    /// A real run would take the lock now.
    pub free: bool,
    /// Who holds (or last held) it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_status: Option<HolderStatus>,
    /// Set when a real run would take it over from `holder`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub takeover: Option<TakeoverReason>,
}

/// Whether this execution still may release the lock (it may not if another took it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseOutcome {
    pub resource: String,
    pub released: bool,
    /// Who holds it now, when that is not this execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("source `{resource}` is being migrated by execution `{holder}` (lease until {lease_expires_at}); one migration per source at a time: wait for that execution to end (or stop it) and start again")]
    Busy {
        resource: String,
        holder: String,
        lease_expires_at: String,
    },
    #[error("execution `{me}` no longer holds the lock of source `{resource}` ({state}); refusing to change the source")]
    NotHeld {
        resource: String,
        me: String,
        state: String,
    },
    #[error("invalid input at `lock`: {0}")]
    Missing(&'static str),
    #[error(transparent)]
    Port(#[from] PortError),
}

impl NamedError for LockError {
    fn error_name(&self) -> &'static str {
        match self {
            LockError::Busy { .. } | LockError::NotHeld { .. } => error_names::SOURCE_BUSY,
            LockError::Missing(_) => error_names::INVALID_INPUT,
            LockError::Port(e) => e.default_name(),
        }
    }
}

impl_diagnostic!(LockError);

fn busy(record: &LockRecord) -> LockError {
    LockError::Busy {
        resource: record.resource.clone(),
        holder: record.holder.clone(),
        lease_expires_at: rfc3339(record.lease_expires_at),
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

/// Whether `me` may take the lock `current`, and whether that takes it from a live holder.
async fn decide(
    lock: &dyn SourceLock,
    current: Option<&LockRecord>,
    me: &str,
    now: OffsetDateTime,
) -> Result<Decision, LockError> {
    let Some(record) = current else {
        return Ok(Decision::Take(None));
    };
    if record.holder == me || record.released {
        return Ok(Decision::Take(None));
    }
    let status = lock.holder_status(&record.holder).await?;
    Ok(match status {
        HolderStatus::Ended => Decision::Take(Some(TakeoverReason::HolderEnded)),
        HolderStatus::Unknown if record.lease_expires_at <= now => {
            Decision::Take(Some(TakeoverReason::LeaseExpired))
        }
        status => Decision::Refuse(status),
    })
}

enum Decision {
    Take(Option<TakeoverReason>),
    Refuse(HolderStatus),
}

/// Takes the lock of `resource` for execution `me`, or fails with `SourceBusy` naming the holder.
/// Taking it again as its holder renews it (a retried Preflight).
pub async fn acquire(
    lock: &dyn SourceLock,
    resource: &str,
    me: &str,
    now: OffsetDateTime,
) -> Result<HeldLock, LockError> {
    let mut current = lock.read(resource).await?;
    for _ in 0..ATTEMPTS {
        let reason = match decide(lock, current.as_ref(), me, now).await? {
            Decision::Take(reason) => reason,
            Decision::Refuse(_) => {
                return Err(current.as_ref().map_or_else(
                    || PortError::Other(format!("no lock of `{resource}` to refuse")).into(),
                    busy,
                ))
            }
        };
        let record = LockRecord {
            resource: resource.to_string(),
            holder: me.to_string(),
            lease_expires_at: now + LEASE,
            released: false,
            version: current.as_ref().map_or(1, |r| r.version + 1),
        };
        if lock
            .write_if(&record, current.as_ref().map(|r| r.version))
            .await?
        {
            return Ok(HeldLock {
                resource: record.resource,
                holder: record.holder,
                lease_expires_at: record.lease_expires_at,
                taken_over: reason.zip(current).map(|(reason, previous)| Takeover {
                    from: previous.holder,
                    reason,
                }),
            });
        }
        // Another execution wrote in between: decide again on what it wrote.
        current = lock.read(resource).await?;
    }
    match current {
        Some(record) => Err(busy(&record)),
        None => Err(PortError::Transient(format!(
            "the lock of `{resource}` kept changing while it was being taken"
        ))
        .into()),
    }
}

/// What [`acquire`] would do now, without writing anything.
pub async fn inspect(
    lock: &dyn SourceLock,
    resource: &str,
    me: &str,
    now: OffsetDateTime,
) -> Result<LockReport, LockError> {
    let current = lock.read(resource).await?;
    let active = current.as_ref().filter(|r| !r.released);
    let (free, holder_status, takeover) = match decide(lock, current.as_ref(), me, now).await? {
        Decision::Take(reason) => {
            let status = match (active, reason) {
                (Some(_), Some(TakeoverReason::HolderEnded)) => Some(HolderStatus::Ended),
                (Some(_), Some(TakeoverReason::LeaseExpired)) => Some(HolderStatus::Unknown),
                _ => None,
            };
            (true, status, reason)
        }
        Decision::Refuse(status) => (false, Some(status), None),
    };
    Ok(LockReport {
        resource: resource.to_string(),
        free,
        holder: active.map(|r| r.holder.clone()),
        holder_status,
        takeover,
    })
}

/// A state document without `$.lock`: Preflight had not taken it.
const NO_LOCK: LockError = LockError::Missing(
    "the state document carries no lock: Preflight takes it before any step changes the source",
);

/// Succeeds only while `held` is still the lock's current holder, and renews its lease.
pub async fn ensure_held(
    lock: &dyn SourceLock,
    held: Option<&HeldLock>,
    now: OffsetDateTime,
) -> Result<(), LockError> {
    let held = held.ok_or(NO_LOCK)?;
    let not_held = |state: String| LockError::NotHeld {
        resource: held.resource.clone(),
        me: held.holder.clone(),
        state,
    };
    let mut current = lock.read(&held.resource).await?;
    for _ in 0..ATTEMPTS {
        let record = match current {
            None => return Err(not_held("no execution holds it".into())),
            Some(record) if record.holder != held.holder => {
                return Err(not_held(format!("execution `{}` holds it", record.holder)))
            }
            Some(record) if record.released => {
                return Err(not_held("it was released".into()));
            }
            Some(record) => record,
        };
        let renewed = LockRecord {
            lease_expires_at: now + LEASE,
            version: record.version + 1,
            ..record.clone()
        };
        if lock.write_if(&renewed, Some(record.version)).await? {
            return Ok(());
        }
        current = lock.read(&held.resource).await?;
    }
    Err(not_held("it kept changing while being checked".into()))
}

/// Succeeds unless another execution holds the lock now: for steps that run after this
/// execution released it (putting the DNS TTL back after cleanup or a rollback) but must never
/// act on a source someone else has taken since.
pub async fn ensure_not_taken(
    lock: &dyn SourceLock,
    held: Option<&HeldLock>,
) -> Result<(), LockError> {
    let held = held.ok_or(NO_LOCK)?;
    match lock.read(&held.resource).await? {
        Some(record) if record.holder != held.holder && !record.released => {
            Err(LockError::NotHeld {
                resource: held.resource.clone(),
                me: held.holder.clone(),
                state: format!("execution `{}` holds it", record.holder),
            })
        }
        _ => Ok(()),
    }
}

/// Lets go of the lock if `held` still holds it; otherwise leaves it to whoever does.
pub async fn release(lock: &dyn SourceLock, held: &HeldLock) -> Result<ReleaseOutcome, LockError> {
    let mut current = lock.read(&held.resource).await?;
    for _ in 0..ATTEMPTS {
        let record = match current {
            Some(record) if record.holder == held.holder && !record.released => record,
            other => {
                return Ok(ReleaseOutcome {
                    resource: held.resource.clone(),
                    released: false,
                    held_by: other
                        .filter(|r| !r.released && r.holder != held.holder)
                        .map(|r| r.holder),
                })
            }
        };
        let released = LockRecord {
            released: true,
            version: record.version + 1,
            ..record.clone()
        };
        if lock.write_if(&released, Some(record.version)).await? {
            return Ok(ReleaseOutcome {
                resource: held.resource.clone(),
                released: true,
                held_by: None,
            });
        }
        current = lock.read(&held.resource).await?;
    }
    Err(PortError::Transient(format!(
        "the lock of `{}` kept changing while being released",
        held.resource
    ))
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{FakeSourceLock, EPOCH};

    const SOURCE: &str = "arn:aws:rds:eu-west-1:123456789012:cluster:orders";
    const A: &str = "arn:aws:states:eu-west-1:123456789012:execution:encrypt:a";
    const B: &str = "arn:aws:states:eu-west-1:123456789012:execution:encrypt:b";

    fn held(holder: &str) -> HeldLock {
        HeldLock {
            resource: SOURCE.into(),
            holder: holder.into(),
            lease_expires_at: EPOCH + LEASE,
            taken_over: None,
        }
    }

    #[tokio::test]
    async fn a_second_execution_is_refused_naming_the_holder() {
        let lock = FakeSourceLock::default();
        lock.set_status(A, HolderStatus::Running);
        let first = acquire(&lock, SOURCE, A, EPOCH).await.unwrap();
        assert_eq!(first.taken_over, None);
        let error = acquire(&lock, SOURCE, B, EPOCH).await.unwrap_err();
        assert_eq!(error.error_name(), "SourceBusy");
        assert!(error.to_string().contains(A), "{error}");
        assert_eq!(lock.record(SOURCE).unwrap().holder, A);
    }

    #[tokio::test]
    async fn a_running_holder_keeps_the_lock_after_its_lease() {
        let lock = FakeSourceLock::default();
        lock.set_status(A, HolderStatus::Running);
        acquire(&lock, SOURCE, A, EPOCH).await.unwrap();
        let later = EPOCH + LEASE * 48;
        assert_eq!(
            acquire(&lock, SOURCE, B, later)
                .await
                .unwrap_err()
                .error_name(),
            "SourceBusy"
        );
    }

    #[tokio::test]
    async fn an_ended_holder_is_taken_over_and_the_takeover_is_recorded() {
        let lock = FakeSourceLock::default();
        acquire(&lock, SOURCE, A, EPOCH).await.unwrap();
        lock.set_status(A, HolderStatus::Ended);
        let taken = acquire(&lock, SOURCE, B, EPOCH).await.unwrap();
        assert_eq!(
            taken.taken_over,
            Some(Takeover {
                from: A.into(),
                reason: TakeoverReason::HolderEnded
            })
        );
        assert_eq!(lock.record(SOURCE).unwrap().holder, B);
    }

    #[tokio::test]
    async fn an_unknown_holder_keeps_it_only_while_its_lease_runs() {
        let lock = FakeSourceLock::default();
        acquire(&lock, SOURCE, A, EPOCH).await.unwrap();
        lock.set_status(A, HolderStatus::Unknown);
        let within = EPOCH + LEASE - Duration::seconds(1);
        assert!(acquire(&lock, SOURCE, B, within).await.is_err());
        let taken = acquire(&lock, SOURCE, B, EPOCH + LEASE).await.unwrap();
        assert_eq!(
            taken.taken_over.map(|t| t.reason),
            Some(TakeoverReason::LeaseExpired)
        );
    }

    #[tokio::test]
    async fn a_released_lock_is_taken_without_asking_about_the_holder() {
        let lock = FakeSourceLock::default();
        lock.set_status(A, HolderStatus::Running);
        let first = acquire(&lock, SOURCE, A, EPOCH).await.unwrap();
        assert!(release(&lock, &first).await.unwrap().released);
        let second = acquire(&lock, SOURCE, B, EPOCH).await.unwrap();
        assert_eq!(second.taken_over, None);
    }

    #[tokio::test]
    async fn taking_it_again_as_its_holder_renews_it() {
        let lock = FakeSourceLock::default();
        acquire(&lock, SOURCE, A, EPOCH).await.unwrap();
        let later = EPOCH + Duration::minutes(5);
        let again = acquire(&lock, SOURCE, A, later).await.unwrap();
        assert_eq!(again.lease_expires_at, later + LEASE);
        assert_eq!(again.taken_over, None);
    }

    #[tokio::test]
    async fn a_write_lost_to_a_racing_execution_ends_busy() {
        let lock = FakeSourceLock::default();
        lock.set_status(B, HolderStatus::Running);
        // B writes between A's read and A's conditional write.
        lock.interleave_before_next_write(LockRecord {
            resource: SOURCE.into(),
            holder: B.into(),
            lease_expires_at: EPOCH + LEASE,
            released: false,
            version: 1,
        });
        let error = acquire(&lock, SOURCE, A, EPOCH).await.unwrap_err();
        assert!(error.to_string().contains(B), "{error}");
        assert_eq!(lock.record(SOURCE).unwrap().holder, B);
    }

    #[tokio::test]
    async fn ensure_held_refuses_a_foreign_or_released_lock_and_renews_its_own() {
        let lock = FakeSourceLock::default();
        let mine = acquire(&lock, SOURCE, A, EPOCH).await.unwrap();
        let later = EPOCH + Duration::minutes(30);
        ensure_held(&lock, Some(&mine), later).await.unwrap();
        assert_eq!(lock.record(SOURCE).unwrap().lease_expires_at, later + LEASE);

        let error = ensure_held(&lock, Some(&held(B)), later).await.unwrap_err();
        assert_eq!(error.error_name(), "SourceBusy");
        assert!(error.to_string().contains(A), "{error}");

        release(&lock, &mine).await.unwrap();
        let error = ensure_held(&lock, Some(&mine), later).await.unwrap_err();
        assert!(error.to_string().contains("released"), "{error}");
        assert_eq!(
            ensure_held(&lock, None, later)
                .await
                .unwrap_err()
                .error_name(),
            "InvalidInput"
        );
    }

    #[tokio::test]
    async fn release_leaves_another_holders_lock_alone() {
        let lock = FakeSourceLock::default();
        lock.set_status(B, HolderStatus::Running);
        acquire(&lock, SOURCE, B, EPOCH).await.unwrap();
        let outcome = release(&lock, &held(A)).await.unwrap();
        assert!(!outcome.released);
        assert_eq!(outcome.held_by.as_deref(), Some(B));
        let record = lock.record(SOURCE).unwrap();
        assert_eq!((record.holder.as_str(), record.released), (B, false));
    }

    #[tokio::test]
    async fn inspect_reports_without_writing() {
        let lock = FakeSourceLock::default();
        let report = inspect(&lock, SOURCE, A, EPOCH).await.unwrap();
        assert!(report.free && report.holder.is_none());
        lock.set_status(B, HolderStatus::Running);
        acquire(&lock, SOURCE, B, EPOCH).await.unwrap();
        let writes = lock.writes();
        let report = inspect(&lock, SOURCE, A, EPOCH).await.unwrap();
        assert_eq!(
            (report.free, report.holder.as_deref(), report.holder_status),
            (false, Some(B), Some(HolderStatus::Running))
        );
        lock.set_status(B, HolderStatus::Ended);
        let report = inspect(&lock, SOURCE, A, EPOCH).await.unwrap();
        assert_eq!(
            (report.free, report.takeover),
            (true, Some(TakeoverReason::HolderEnded))
        );
        assert_eq!(lock.writes(), writes);
    }
}
