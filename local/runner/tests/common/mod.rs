//! Shared by the sandbox tests: whether MariaDB is there (a loud skip outside CI, a failure in
//! CI), and sandboxes that are always torn down.

#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;

use aurora_sandbox::{Sandbox, SandboxConfig};

/// `true` when the MariaDB programs are installed. Without them a test is skipped with a loud
/// message, except under CI (`CI` set), where it fails: there the tests must run.
pub(crate) fn mariadb_available(test: &str) -> bool {
    match aurora_sandbox::tools::Tools::locate() {
        Ok(_) => true,
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("{test}: MariaDB is required in CI: {e}")
        }
        Err(e) => {
            eprintln!(
                "\n!!!!!!!!!! SKIPPED {test}: {e} !!!!!!!!!!\n(install it with `{}`)\n",
                aurora_sandbox::INSTALL_COMMAND
            );
            false
        }
    }
}

/// A fresh sandbox under the system temp dir, named after the test.
pub(crate) fn sandbox(test: &str) -> Sandbox {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "aurora-local-test-{test}-{}-{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000
    ));
    let _ = std::fs::remove_dir_all(&dir);
    Sandbox::open(SandboxConfig::new(dir)).expect("the sandbox opens")
}

/// Runs `test` against `sandbox`, then destroys the sandbox whatever happened, then re-raises a
/// panic so the test fails with its own message.
pub(crate) async fn with_sandbox<F, Fut>(sandbox: Sandbox, test: F)
where
    F: FnOnce(Sandbox) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let outcome = tokio::spawn(test(sandbox.clone())).await;
    let destroyed = sandbox.destroy().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
    destroyed.expect("the sandbox is destroyed");
}
