//! Runs `encrypt-cluster.asl.json` on the local engine with every step in-process, streams the
//! history to an observer as it grows, answers the approval gate, and stops on request.

use std::future::Future;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use asl_engine::{Definition, Engine, HistoryEvent, Outcome, PendingTask};
use aurora_pipeline::{local_substitutions, registry, Notifications, Ports, ENCRYPT_CLUSTER_ASL};
use serde_json::{json, Value};

/// How the approval gate (`AwaitApproval`, switchover mode `approval`) is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    /// Approved as soon as it is asked (`--auto-approve`).
    Auto,
    /// Asked on the terminal: `yes` switches over, anything else (or end of input) rolls back.
    Prompt,
}

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Multiplies every Wait and Retry interval of the definition.
    pub time_scale: f64,
    pub approval: Approval,
    /// How often the history is read for the observer.
    pub poll_interval: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            time_scale: 1.0,
            approval: Approval::Auto,
            poll_interval: Duration::from_millis(50),
        }
    }
}

/// A finished local execution.
#[derive(Debug)]
pub struct LocalRun {
    pub outcome: Outcome,
    /// From start to the end of the execution.
    pub wall: Duration,
    /// Stopped by the caller's interrupt (the execution's status is `Aborted`).
    pub interrupted: bool,
    /// The messages the state machine published.
    pub notifications: Vec<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the state machine definition is unusable: {0}")]
    Definition(String),
}

/// The engine for `ENCRYPT_CLUSTER_ASL` over `ports`.
pub fn engine(
    ports: Ports,
    notifications: Notifications,
    time_scale: f64,
) -> Result<Engine, RunError> {
    let definition =
        Definition::parse(ENCRYPT_CLUSTER_ASL).map_err(|e| RunError::Definition(e.to_string()))?;
    Ok(Engine::new(definition)
        .with_name("encrypt-cluster")
        .with_substitutions(&local_substitutions())
        .map_err(|e| RunError::Definition(e.to_string()))?
        .with_registry(registry(Arc::new(ports), notifications))
        .with_time_scale(time_scale))
}

/// Runs one execution with `input` to its end. `observe` gets every new history event, in
/// order, shortly after it is recorded; `interrupt` resolving stops the execution (no rollback:
/// like `StopExecution`).
pub async fn run_local(
    ports: Ports,
    input: Value,
    options: RunOptions,
    mut observe: impl FnMut(&[HistoryEvent]),
    interrupt: impl Future<Output = ()>,
) -> Result<LocalRun, RunError> {
    let notifications = Notifications::default();
    let engine = engine(ports, notifications.clone(), options.time_scale)?;
    let started = Instant::now();
    let execution = engine.start(input);
    let mut seen = 0;
    let mut interrupted = false;
    let mut prompt: Option<tokio::task::JoinHandle<bool>> = None;
    tokio::pin!(interrupt);
    loop {
        let history = execution.history();
        if history.len() > seen {
            observe(&history[seen..]);
            seen = history.len();
        }
        if execution.is_finished() {
            break;
        }
        if let Some(task) = execution.pending_tasks().into_iter().next() {
            match options.approval {
                Approval::Auto => {
                    let _ = execution.send_task_success(
                        &task.token,
                        json!({"approved": true, "by": "aurora-encrypt run --auto-approve"}),
                    );
                }
                Approval::Prompt => {
                    let answer = prompt.get_or_insert_with(|| ask(&task));
                    if answer.is_finished() {
                        let approved = answer.await.unwrap_or(false);
                        prompt = None;
                        let _ = if approved {
                            execution.send_task_success(
                                &task.token,
                                json!({"approved": true, "by": "aurora-encrypt run (prompt)"}),
                            )
                        } else {
                            execution.send_task_failure(
                                &task.token,
                                "Aborted",
                                Some("refused at the aurora-encrypt run prompt".into()),
                            )
                        };
                    }
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(options.poll_interval) => {}
            () = &mut interrupt => {
                interrupted = true;
                execution.stop();
                break;
            }
        }
    }
    let outcome = execution.wait().await;
    let wall = started.elapsed();
    if outcome.history.len() > seen {
        observe(&outcome.history[seen..]);
    }
    Ok(LocalRun {
        outcome,
        wall,
        interrupted,
        notifications: notifications.all(),
    })
}

/// Asks on the terminal whether to switch over; `false` on anything but `yes`.
fn ask(task: &PendingTask) -> tokio::task::JoinHandle<bool> {
    let state = task.state_name.clone();
    tokio::task::spawn_blocking(move || {
        let mut stderr = std::io::stderr();
        let _ = writeln!(
            stderr,
            "\n{state}: the target is in sync. Type `yes` to fence the source and switch over; anything else rolls back."
        );
        if !std::io::stdin().is_terminal() {
            let _ = writeln!(stderr, "(reading the answer from standard input)");
        }
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(_) => line.trim().eq_ignore_ascii_case("yes"),
            Err(_) => false,
        }
    })
}
