//! In-memory ports for tests: a tiny RDS, replication engine, DNS zone and clock, each recording
//! the calls that change something so tests can assert "nothing was created".
//!
//! A file per fake, named like the port it fakes in `ports/` (`FakeClock` is both `Clock` and
//! `Sleeper`, so sleeping moves its time). What they share lives here: the epoch, a valid state
//! document and the failure queue.
//!
//! Compiled for this crate's tests and, with the `fakes` feature, for other crates' tests.

mod clock;
mod clusters;
mod dns;
mod fence;
mod fence_sql;
mod kms;
mod parameters;
mod prewarm;
mod proxy;
mod replication;
mod retention;
mod retirement;
mod source_lock;
mod verify;

pub use clock::FakeClock;
pub use clusters::FakeClusters;
pub use dns::FakeDns;
pub use fence::FakeFence;
pub use fence_sql::FakeFenceSql;
pub use kms::{key_arn, FakeKms};
pub use parameters::FakeParameters;
pub use prewarm::{FakeCacheWarmer, Warmed};
pub use proxy::{FakeIdentity, FakeProxies};
pub use replication::{FakeLagMetrics, FakeReplication};
pub use retention::FakeRetention;
pub use retirement::FakeRetirement;
pub use source_lock::FakeSourceLock;
pub use verify::FakeVerifier;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde_json::{json, Value};
use time::macros::datetime;
use time::OffsetDateTime;

use crate::errors::PortError;
use crate::ports::PortResult;

/// The fakes' "now" at start: resources created by the fakes carry this creation time.
pub const EPOCH: OffsetDateTime = datetime!(2026-11-27 12:00 UTC);

/// A valid state document (spec + execution) for a DMS migration of `source`.
pub fn state_document(source: &str, execution: &str) -> Value {
    json!({
        "sourceClusterId": source,
        "replication": {
            "engine": "dms",
            "serviceRoleArn": "arn:aws:iam::123456789012:role/dms-data-migration",
            "sourceSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:source-AbCdEf",
            "targetSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:target-AbCdEf",
            "instanceProfile": { "subnetGroupIdentifier": "dms-private", "vpcSecurityGroupIds": ["sg-0123456789abcdef0"] }
        },
        "switchover": { "mode": "auto" },
        "dns": { "hostedZoneId": "Z0123456789ABCDEFGHIJ", "recordName": "db.example.com", "ttlSeconds": 30 },
        "execution": { "name": execution }
    })
}

/// Failures to inject, per method name, consumed in order.
#[derive(Default)]
/// Per method, what its next calls do: fail with an error, or (`None`) succeed, in order.
struct Failures(Mutex<HashMap<&'static str, VecDeque<Option<PortError>>>>);

impl Failures {
    fn push(&self, method: &'static str, error: PortError) {
        lock(&self.0)
            .entry(method)
            .or_default()
            .push_back(Some(error));
    }
    /// The next call of `method` succeeds (so that a failure queued after it hits a later one).
    fn pass(&self, method: &'static str) {
        lock(&self.0).entry(method).or_default().push_back(None);
    }
    fn take(&self, method: &'static str) -> PortResult<()> {
        match lock(&self.0).get_mut(method).and_then(VecDeque::pop_front) {
            Some(Some(error)) => Err(error),
            _ => Ok(()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
