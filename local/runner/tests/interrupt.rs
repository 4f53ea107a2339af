//! Ctrl-C at any moment of the demo stops every server it started, including one still starting
//! when the interrupt arrives, and leaves no directory behind: no `mariadbd` keeps running on a
//! deleted directory.

// A test panics with what failed: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use asl_engine::history::{EventType, HistoryEvent};
use aurora_local::demo::{run_demo, DemoError, DemoOptions, TARGET};

/// The processes whose command line names `dir` (every server and tool the sandbox runs is
/// given `--defaults-file=<dir>/clusters/<id>/my.cnf` or a path under `dir`).
fn processes_under(dir: &Path) -> Vec<String> {
    let needle = dir.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) && aurora_sandbox::server::process_alive(pid) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

/// When to press Ctrl-C.
#[derive(Clone, Copy, Debug)]
enum Moment {
    /// As soon as the encrypted target's server process exists, before it answers: the start
    /// that once leaked a server.
    TargetServerStarting,
    /// When the state machine schedules this state's task.
    Scheduled(&'static str),
}

async fn interrupt_at(moment: Moment) {
    let dir = std::env::temp_dir()
        .join(format!(
            "aurora-interrupt-{}-{moment:?}",
            std::process::id()
        ))
        .to_string_lossy()
        .replace(['(', ')', '"', ' '], "");
    let dir = PathBuf::from(dir);
    let _ = std::fs::remove_dir_all(&dir);
    let options = DemoOptions {
        rows: 300,
        writers: 2,
        rate: 100.0,
        time_scale: 0.01,
        warmup: Duration::from_millis(200),
        cooldown: Duration::from_millis(200),
        dir: Some(dir.clone()),
        ..DemoOptions::default()
    };
    let scheduled = Arc::new(AtomicBool::new(false));
    let observe = {
        let scheduled = scheduled.clone();
        move |events: &[HistoryEvent]| {
            if let Moment::Scheduled(state) = moment {
                let mut current = None;
                for event in events {
                    if event.event_type == EventType::TaskStateEntered {
                        current = event.state_name().map(str::to_string);
                    }
                    if event.event_type == EventType::TaskScheduled
                        && current.as_deref() == Some(state)
                    {
                        scheduled.store(true, Ordering::SeqCst);
                    }
                }
            }
        }
    };
    let target_dir = dir.join("clusters").join(TARGET);
    let interrupt = {
        let scheduled = scheduled.clone();
        async move {
            loop {
                let now = match moment {
                    Moment::TargetServerStarting => processes_under(&target_dir)
                        .iter()
                        .any(|p| p.contains("mariadbd")),
                    Moment::Scheduled(_) => scheduled.load(Ordering::SeqCst),
                };
                if now {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let outcome = tokio::time::timeout(
        Duration::from_secs(240),
        run_demo(options, observe, interrupt),
    )
    .await
    .expect("the demo ends");
    assert!(
        matches!(outcome, Err(DemoError::Interrupted)),
        "{moment:?}: not interrupted: {:?}",
        outcome.map(|o| o.report.status)
    );
    // A killed server is reaped asynchronously: give it a moment to go.
    let mut left = processes_under(&dir);
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = processes_under(&dir);
    }
    assert!(left.is_empty(), "{moment:?}: still running: {left:#?}");
    assert!(!dir.exists(), "{moment:?}: {} is left", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ctrl_c_while_the_target_server_starts_stops_it() {
    if !common::mariadb_available("interrupt while starting") {
        return;
    }
    interrupt_at(Moment::TargetServerStarting).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ctrl_c_at_each_phase_stops_every_server_and_removes_the_sandbox() {
    if !common::mariadb_available("interrupt at each phase") {
        return;
    }
    for state in ["Snapshot", "Restore", "CreateMigration", "FenceWrites"] {
        interrupt_at(Moment::Scheduled(state)).await;
    }
}
