//! Helpers shared by the sandbox's integration tests: a sandbox in a fresh temporary directory
//! that is torn down (servers stopped, directory removed) even when a test fails.

#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use aurora_sandbox::{Sandbox, SandboxConfig};

/// A fresh sandbox under the system temp dir, named after the test.
pub(crate) fn sandbox(test: &str) -> Sandbox {
    let dir = std::env::temp_dir().join(format!(
        "aurora-sandbox-test-{test}-{}-{}",
        std::process::id(),
        fastrand_suffix()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    Sandbox::open(SandboxConfig::new(dir)).expect("MariaDB is installed (see README)")
}

fn fastrand_suffix() -> u64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as u64 % 1_000_000
}

/// Runs `test` against `sandbox`, then destroys the sandbox whatever happened, then re-raises a
/// panic so the test fails with its own message.
pub(crate) async fn with_sandbox<F, Fut>(sandbox: Sandbox, test: F)
where
    F: FnOnce(Sandbox) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir: PathBuf = sandbox.dir().to_path_buf();
    let outcome = tokio::spawn(test(sandbox.clone())).await;
    let destroyed = sandbox.destroy().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
    destroyed.unwrap_or_else(|e| panic!("destroying {}: {e}", dir.display()));
}

/// Polls `check` until it returns `Some`, every 100 ms up to `timeout`.
pub(crate) async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = tokio::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
