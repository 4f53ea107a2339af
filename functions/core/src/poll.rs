//! Poll hints: how long the state machine should wait before asking again. Waits grow while
//! nothing changes, so a four-hour catch-up costs tens of state transitions, not thousands.

/// Bounds of a polling loop, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollBounds {
    pub min: u32,
    pub max: u32,
}

/// A snapshot or restore: a quarter of the time already spent, within bounds. Needs no state, so
/// the step can compute it from the resource's own creation time.
pub const PROVISIONING: PollBounds = PollBounds { min: 15, max: 300 };
/// CDC lag while catching up.
pub const REPLICATION: PollBounds = PollBounds { min: 15, max: 600 };
/// Route 53 changes usually reach INSYNC within a minute.
pub const DNS_CHANGE: PollBounds = PollBounds { min: 5, max: 30 };
/// A re-targeted RDS Proxy: writes wait while it registers the cluster (about a minute), so it
/// is read often.
pub const PROXY_TARGET: PollBounds = PollBounds { min: 2, max: 15 };
/// A rename: RDS renames a cluster or an instance in seconds to minutes; writes wait.
pub const RENAME: PollBounds = PollBounds { min: 2, max: 15 };

impl PollBounds {
    /// A quarter of the elapsed time, clamped.
    pub fn from_elapsed(self, elapsed_seconds: i64) -> u32 {
        let quarter = u32::try_from(elapsed_seconds.max(0) / 4).unwrap_or(u32::MAX);
        quarter.clamp(self.min, self.max)
    }

    /// Doubles the previous wait while nothing changed; starts again at `min` after a change.
    pub fn next(self, previous: Option<u32>, changed: bool) -> u32 {
        match previous {
            Some(previous) if !changed => previous.saturating_mul(2).clamp(self.min, self.max),
            _ => self.min,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_grows_while_nothing_changes_and_is_bounded() {
        let mut wait = REPLICATION.next(None, false);
        assert_eq!(wait, 15);
        let mut seen = vec![wait];
        for _ in 0..10 {
            wait = REPLICATION.next(Some(wait), false);
            seen.push(wait);
        }
        assert_eq!(&seen[..7], &[15, 30, 60, 120, 240, 480, 600]);
        assert!(seen.iter().all(|w| *w <= 600));
        assert_eq!(REPLICATION.next(Some(600), true), 15);
    }

    #[test]
    fn provisioning_hint_follows_elapsed_time() {
        assert_eq!(PROVISIONING.from_elapsed(-5), 15);
        assert_eq!(PROVISIONING.from_elapsed(0), 15);
        assert_eq!(PROVISIONING.from_elapsed(400), 100);
        assert_eq!(PROVISIONING.from_elapsed(100_000), 300);
    }
}
