//! `Clock`: time, injected.

use time::OffsetDateTime;

/// Time, injected so polling hints and "since" windows are testable.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}
