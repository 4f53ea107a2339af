//! The clock and sleeper: time stands still until a test (or a sleep) moves it.

use std::sync::Mutex;

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use super::{lock, EPOCH};
use crate::ports::{Clock, Sleeper};

#[derive(Default)]
pub struct FakeClock(Mutex<Option<OffsetDateTime>>);

impl FakeClock {
    /// A clock that reads `now` until moved.
    pub fn at(now: OffsetDateTime) -> Self {
        Self(Mutex::new(Some(now)))
    }

    /// Reads `now` from here on.
    pub fn set(&self, now: OffsetDateTime) {
        *lock(&self.0) = Some(now);
    }

    pub fn advance(&self, seconds: i64) {
        let mut now = lock(&self.0);
        *now = Some(now.unwrap_or(EPOCH) + Duration::seconds(seconds));
    }
}

impl Clock for FakeClock {
    fn now(&self) -> OffsetDateTime {
        lock(&self.0).unwrap_or(EPOCH)
    }
}

/// Sleeping on the fake clock returns at once and moves the clock on by the duration.
#[async_trait]
impl Sleeper for FakeClock {
    async fn sleep(&self, duration: std::time::Duration) {
        let mut now = lock(&self.0);
        *now = Some(now.unwrap_or(EPOCH) + duration);
    }
}
