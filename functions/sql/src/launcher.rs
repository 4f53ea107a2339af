//! Starting and stopping `mariadbd`: the one launcher that both the sandbox's clusters and the
//! throw-away servers of the SQL tests use (feature `launcher`; no Lambda links it).
//!
//! A server belongs to [`start_server`] until it answers: if the call is abandoned (an
//! interrupted demo, an aborted restore, a test that times out), or the server never becomes
//! ready, it is killed, so no `mariadbd` is left running on a directory its owner then deletes.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::{Child, Command};

/// Why a server did not start.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("{program} failed to start: {source}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("{program} exited with {status} during start-up")]
    Exited { program: String, status: String },
    #[error("{program} did not accept connections within {} s", timeout.as_secs())]
    NotReady { program: String, timeout: Duration },
}

/// Where MariaDB's programs are looked for: `PATH`, then the `sbin` directories Debian installs
/// the server to (often not on a user's `PATH`).
pub fn search_dirs() -> Vec<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .collect()
}

/// The first of `names` (MariaDB's name first, the MySQL-compatible one after) found as an
/// executable in `dirs`.
pub fn find_program(dirs: &[PathBuf], names: &[&str]) -> Option<PathBuf> {
    names.iter().find_map(|name| {
        dirs.iter()
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Starts `program --defaults-file=<defaults_file>` (MariaDB reads that option only as the
/// first argument) in its own process group, so that a Ctrl-C in the terminal reaches only the
/// process that decides what to stop, and polls `ready` until it answers `true`, backing off
/// from 50 to 500 ms, for at most `timeout`. The server is killed if it exits, is not ready in
/// time, or this future is dropped first.
pub async fn start_server<F, Fut>(
    program: &Path,
    defaults_file: &Path,
    timeout: Duration,
    mut ready: F,
) -> Result<Child, LaunchError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let name = || program.display().to_string();
    let child = Command::new(program)
        .arg(format!("--defaults-file={}", defaults_file.display()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|source| LaunchError::Spawn {
            program: name(),
            source,
        })?;
    let mut starting = KillUnlessHandedOver(Some(child));
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        if let Some(Ok(Some(status))) = starting.0.as_mut().map(Child::try_wait) {
            return Err(LaunchError::Exited {
                program: name(),
                status: status.to_string(),
            });
        }
        if ready().await {
            if let Some(child) = starting.0.take() {
                return Ok(child);
            }
        }
        if started.elapsed() > timeout {
            // `starting` kills it.
            return Err(LaunchError::NotReady {
                program: name(),
                timeout,
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

/// A server being started: killed when dropped before [`start_server`] hands it over. It holds
/// the child itself, not its pid, so that a server that already exited (and was reaped) is never
/// signalled by a pid another process may have been given since; tokio reaps a dropped child in
/// the background.
struct KillUnlessHandedOver(Option<Child>);

impl Drop for KillUnlessHandedOver {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// Whether this process runs as root (mariadbd then needs `user=root` to agree to run).
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `pid` is a live process (not a zombie).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

/// Sends `signal` to `pid`; a pid that is gone (or out of range) is left alone.
pub fn signal(pid: u32, signal: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pid > 0 {
        // SAFETY: kill has no memory-safety preconditions; a stale pid yields ESRCH.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Waits until `pid` is gone; `false` if it is still there after `timeout`.
pub async fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let started = tokio::time::Instant::now();
    while process_alive(pid) {
        if started.elapsed() > timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// [`wait_gone`] for `Drop` implementations, which cannot await.
pub fn wait_gone_blocking(pid: u32, timeout: Duration) -> bool {
    let started = std::time::Instant::now();
    while process_alive(pid) {
        if started.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in "server": a shell script that ignores its arguments and sleeps.
    fn sleeper(dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("fake-mariadbd");
        std::fs::write(&path, "#!/bin/sh\nexec sleep 60\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("aurora-launcher-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn a_server_that_never_answers_is_killed_at_the_timeout() {
        let dir = scratch("timeout");
        let program = sleeper(&dir);
        let pid = std::sync::Mutex::new(None);
        let error = start_server(
            &program,
            &dir.join("my.cnf"),
            Duration::from_millis(300),
            || {
                // The newest child of this process is the one just started.
                *pid.lock().unwrap() = newest_child();
                async { false }
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(error, LaunchError::NotReady { .. }), "{error}");
        let pid = pid.lock().unwrap().expect("the server was started");
        assert!(
            wait_gone(pid, Duration::from_secs(5)).await,
            "pid {pid} killed"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn an_abandoned_start_kills_the_server() {
        let dir = scratch("abandoned");
        let program = sleeper(&dir);
        let pid = std::sync::Mutex::new(None);
        let defaults = dir.join("my.cnf");
        let start = start_server(&program, &defaults, Duration::from_secs(60), || {
            *pid.lock().unwrap() = newest_child();
            async { false }
        });
        // Abandoned (as a Ctrl-C abandons a demo) while the server is still starting.
        let _ = tokio::time::timeout(Duration::from_millis(200), start).await;
        let pid = pid.lock().unwrap().expect("the server was started");
        assert!(
            wait_gone(pid, Duration::from_secs(5)).await,
            "pid {pid} killed"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_server_that_answers_is_handed_over_running() {
        let dir = scratch("ready");
        let program = sleeper(&dir);
        let mut child = start_server(
            &program,
            &dir.join("my.cnf"),
            Duration::from_secs(5),
            || async { true },
        )
        .await
        .unwrap();
        let pid = child.id().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(process_alive(pid), "handed over, not killed");
        child.kill().await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The highest pid among this process's children (any thread may have spawned it).
    fn newest_child() -> Option<u32> {
        std::fs::read_dir("/proc/self/task")
            .ok()?
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("children")).ok())
            .flat_map(|text| {
                text.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .max()
    }
}
