//! The source's `binlog retention hours`, and the original a run records before changing it.

use std::sync::Mutex;

use async_trait::async_trait;

use super::{lock, Failures};
use crate::errors::PortError;
use crate::ports::{BinlogRetention, DatabaseEndpoint, PortResult, RetentionChange};

/// A `binlog retention hours` (or an error) that `raise_retention` changes, recording who asked.
#[derive(Default)]
pub struct FakeRetention {
    pub hours: Mutex<Option<u32>>,
    pub asked: Mutex<Vec<(String, String)>>,
    /// The original `raise_retention` recorded, as the server would keep it.
    pub recorded: Mutex<Option<RetentionChange>>,
    /// Every change: `raise_retention`'s and `put_back_retention` call, in order (`set 24`, `put back`).
    pub changes: Mutex<Vec<String>>,
    failures: Failures,
}

impl FakeRetention {
    pub fn hours(hours: Option<u32>) -> Self {
        let fake = Self::default();
        *lock(&fake.hours) = hours;
        fake
    }

    pub fn fail_next(&self, error: PortError) {
        self.failures.push("retention_hours", error);
    }

    /// The next `raise_retention` or `put_back_retention` fails with `error`.
    pub fn fail_next_change(&self, error: PortError) {
        self.failures.push("change", error);
    }
}

#[async_trait]
impl BinlogRetention for FakeRetention {
    async fn retention_hours(
        &self,
        endpoint: &DatabaseEndpoint,
        secret_arn: &str,
    ) -> PortResult<Option<u32>> {
        self.failures.take("retention_hours")?;
        lock(&self.asked).push((endpoint.host.clone(), secret_arn.to_string()));
        Ok(*lock(&self.hours))
    }

    async fn raise_retention(
        &self,
        _endpoint: &DatabaseEndpoint,
        _secret_arn: &str,
        hours: u32,
        _execution: &str,
    ) -> PortResult<Option<RetentionChange>> {
        self.failures.take("change")?;
        let current = *lock(&self.hours);
        let mut recorded = lock(&self.recorded);
        if recorded.is_none() && current.is_some_and(|h| h >= hours) {
            return Ok(None);
        }
        let change = recorded
            .get_or_insert(RetentionChange {
                original_hours: current,
                set_hours: hours,
            })
            .clone();
        if current.is_none_or(|h| h < hours) {
            lock(&self.changes).push(format!("set {hours}"));
            *lock(&self.hours) = Some(hours);
        }
        Ok(Some(change))
    }

    async fn put_back_retention(
        &self,
        _endpoint: &DatabaseEndpoint,
        _secret_arn: &str,
    ) -> PortResult<Option<RetentionChange>> {
        self.failures.take("change")?;
        lock(&self.changes).push("put back".into());
        let recorded = lock(&self.recorded).take();
        if let Some(change) = &recorded {
            *lock(&self.hours) = change.original_hours;
        }
        Ok(recorded)
    }
}
