//! The source's `binlog retention hours`.

use std::sync::Mutex;

use async_trait::async_trait;

use super::{lock, Failures};
use crate::errors::PortError;
use crate::ports::{BinlogRetention, DatabaseEndpoint, PortResult};

/// A fixed `binlog retention hours` (or an error), recording who asked.
#[derive(Default)]
pub struct FakeRetention {
    pub hours: Mutex<Option<u32>>,
    pub asked: Mutex<Vec<(String, String)>>,
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
}
