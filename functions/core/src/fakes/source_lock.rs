//! The source's lock: records in memory, with a racing writer on demand.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{lock, Failures};
use crate::errors::PortError;
use crate::ports::{HolderStatus, LockRecord, PortResult, SourceLock};

/// Lock records in memory; holders are `Running` unless told otherwise.
#[derive(Default)]
pub struct FakeSourceLock {
    records: Mutex<BTreeMap<String, LockRecord>>,
    statuses: Mutex<BTreeMap<String, HolderStatus>>,
    /// Written just before the next conditional write is evaluated: another execution's racing
    /// write.
    interleaved: Mutex<Option<LockRecord>>,
    writes: Mutex<Vec<LockRecord>>,
    failures: Failures,
}

impl FakeSourceLock {
    pub fn set_status(&self, holder: &str, status: HolderStatus) {
        lock(&self.statuses).insert(holder.to_string(), status);
    }

    pub fn record(&self, resource: &str) -> Option<LockRecord> {
        lock(&self.records).get(resource).cloned()
    }

    /// Stores `record` as it is, as another execution (or a test's history) would have.
    pub fn put(&self, record: LockRecord) {
        lock(&self.records).insert(record.resource.clone(), record);
    }

    pub fn interleave_before_next_write(&self, record: LockRecord) {
        *lock(&self.interleaved) = Some(record);
    }

    /// Every successful write, in order.
    pub fn writes(&self) -> Vec<LockRecord> {
        lock(&self.writes).clone()
    }

    pub fn fail_next(&self, method: &'static str, error: PortError) {
        self.failures.push(method, error);
    }
}

#[async_trait]
impl SourceLock for FakeSourceLock {
    async fn read(&self, resource: &str) -> PortResult<Option<LockRecord>> {
        self.failures.take("read")?;
        Ok(self.record(resource))
    }

    async fn write_if(
        &self,
        record: &LockRecord,
        expected_version: Option<u64>,
    ) -> PortResult<bool> {
        self.failures.take("write_if")?;
        if let Some(racing) = lock(&self.interleaved).take() {
            self.put(racing);
        }
        let mut records = lock(&self.records);
        if records.get(&record.resource).map(|r| r.version) != expected_version {
            return Ok(false);
        }
        records.insert(record.resource.clone(), record.clone());
        lock(&self.writes).push(record.clone());
        Ok(true)
    }

    async fn holder_status(&self, holder: &str) -> PortResult<HolderStatus> {
        self.failures.take("holder_status")?;
        Ok(lock(&self.statuses)
            .get(holder)
            .copied()
            .unwrap_or(HolderStatus::Running))
    }
}
