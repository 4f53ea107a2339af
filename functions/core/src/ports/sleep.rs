//! `Sleeper`: waiting, injected, so a step that polls inside one invocation (drain) is testable
//! without real time passing.

use async_trait::async_trait;
use std::time::Duration;

#[async_trait]
pub trait Sleeper: Send + Sync {
    async fn sleep(&self, duration: Duration);
}

/// Real time, on the tokio timer.
pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}
