//! Runs `encrypt-cluster.asl.json` on the local engine with every step in-process, streams the
//! history to an observer as it grows, answers the approval gate, and stops on request.

use std::future::Future;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use asl_engine::{Definition, Engine, HistoryEvent, Outcome, PendingTask};
use aurora_pipeline::{local_substitutions, registry, Notifications, Ports, ENCRYPT_CLUSTER_ASL};
use serde_json::{json, Value};

use crate::approval_box::{ApprovalBox, PendingApproval};

/// How the approval gate (`AwaitApproval`, switchover mode `approval`) is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    /// Approved as soon as it is asked (`--auto-approve`).
    Auto,
    /// Asked on the terminal: `yes` switches over, anything else rolls back. Closed standard
    /// input answers nothing: the run waits for the mailbox, if it has one.
    Prompt,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Multiplies every Wait and Retry interval of the definition.
    pub time_scale: f64,
    pub approval: Approval,
    /// Where `aurora-encrypt approve --local` can answer the gate from another terminal.
    pub mailbox: Option<ApprovalBox>,
    /// How often the history is read for the observer.
    pub poll_interval: Duration,
    /// At a failback window, fail back this long after it opened, once the replication back is
    /// in sync (the demo's `--failback`). `None`: the window runs its time unless `aurora-encrypt
    /// failback --local` (or `approve --local`, which closes it) answers through the mailbox;
    /// `--auto-approve` never answers it.
    pub failback_after: Option<Duration>,
}

/// Whether the failback window's last lag poll found the replication back in sync: when an
/// operator watching the window would fail back.
fn reverse_in_sync(history: &[HistoryEvent]) -> bool {
    history
        .iter()
        .rev()
        .find(|e| {
            e.event_type == asl_engine::EventType::TaskStateExited
                && e.state_name() == Some("PollReverse")
        })
        .and_then(|e| serde_json::from_str::<Value>(e.details.get("output")?.as_str()?).ok())
        .and_then(|output| output.pointer("/reverse/lag/inSync")?.as_bool())
        .unwrap_or(false)
}

/// The state that waits for an operator during a failback window.
pub const FAILBACK_DECISION: &str = "AwaitFailbackDecision";

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            time_scale: 1.0,
            approval: Approval::Auto,
            mailbox: None,
            poll_interval: Duration::from_millis(50),
            failback_after: None,
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
    let mut prompt: Option<tokio::task::JoinHandle<Option<bool>>> = None;
    let mut published = false;
    let mut stdin_closed = false;
    let mut window_opened: Option<Instant> = None;
    let mut published_window = false;
    if let Some(mailbox) = &options.mailbox {
        mailbox.clear();
    }
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
        let pending = execution.pending_tasks();
        let (windows, gates): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|t| t.state_name == FAILBACK_DECISION);
        if let Some(task) = windows.first() {
            let opened = *window_opened.get_or_insert_with(Instant::now);
            if let (Some(mailbox), false) = (&options.mailbox, published_window) {
                published_window = mailbox
                    .publish(&PendingApproval {
                        execution: execution.id().to_string(),
                        state: task.state_name.clone(),
                    })
                    .is_ok();
            }
            let answer = match (options.failback_after, options.mailbox.as_ref()) {
                (Some(after), _) if opened.elapsed() >= after && reverse_in_sync(&history) => {
                    Some(json!({"failback": true, "by": "aurora-encrypt demo --failback"}))
                }
                (_, Some(mailbox)) => mailbox.take_answer().map(|a| {
                    json!({"failback": a.failback, "approved": a.approved, "comment": a.note,
                           "by": "aurora-encrypt failback/approve --local"})
                }),
                _ => None,
            };
            if let Some(answer) = answer {
                if let Some(mailbox) = &options.mailbox {
                    mailbox.clear();
                }
                let _ = execution.send_task_success(&task.token, answer);
            }
        }
        if let Some(task) = gates.into_iter().next() {
            match options.approval {
                Approval::Auto => {
                    let _ = execution.send_task_success(
                        &task.token,
                        json!({"approved": true, "by": "aurora-encrypt run --auto-approve"}),
                    );
                }
                Approval::Prompt => {
                    if let (Some(mailbox), false) = (&options.mailbox, published) {
                        published = mailbox
                            .publish(&PendingApproval {
                                execution: execution.id().to_string(),
                                state: task.state_name.clone(),
                            })
                            .is_ok();
                    }
                    let mut answer = options
                        .mailbox
                        .as_ref()
                        .and_then(ApprovalBox::take_answer)
                        .map(|a| (a.approved, a.note, "aurora-encrypt approve --local"));
                    if prompt.is_none() && !stdin_closed {
                        prompt = Some(ask(&task, options.mailbox.as_ref()));
                    }
                    if let Some(asked) = prompt.take_if(|p| answer.is_none() && p.is_finished()) {
                        match asked.await {
                            Ok(Some(approved)) => {
                                answer = Some((approved, None, "aurora-encrypt run (prompt)"));
                            }
                            // Closed standard input: only the mailbox can answer now.
                            _ if options.mailbox.is_some() => stdin_closed = true,
                            _ => {
                                let why = "standard input closed and no other way to approve";
                                answer = Some((false, Some(why.into()), "aurora-encrypt run"));
                            }
                        }
                    }
                    if let Some((approved, note, by)) = answer {
                        prompt = None;
                        published = false;
                        if let Some(mailbox) = &options.mailbox {
                            mailbox.clear();
                        }
                        let _ = if approved {
                            execution.send_task_success(
                                &task.token,
                                json!({"approved": true, "by": by, "comment": note}),
                            )
                        } else {
                            execution.send_task_failure(
                                &task.token,
                                "Aborted",
                                Some(note.unwrap_or_else(|| format!("refused by {by}"))),
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

/// Asks on the terminal whether to switch over: `Some(true)` on `yes`, `Some(false)` on any
/// other line, `None` when standard input is closed (nobody will answer there).
fn ask(task: &PendingTask, mailbox: Option<&ApprovalBox>) -> tokio::task::JoinHandle<Option<bool>> {
    let state = task.state_name.clone();
    let elsewhere = mailbox.map(|m| {
        let sandbox = m.dir().parent().unwrap_or(m.dir());
        format!(
            " Or, from another terminal: aurora-encrypt approve --local --sandbox-dir {} (abort --local to refuse).",
            sandbox.display()
        )
    });
    tokio::task::spawn_blocking(move || {
        let mut stderr = std::io::stderr();
        let _ = writeln!(
            stderr,
            "\n{state}: the target is in sync. Type `yes` to fence the source and switch over; anything else rolls back.{}",
            elsewhere.as_deref().unwrap_or_default()
        );
        if !std::io::stdin().is_terminal() {
            let _ = writeln!(stderr, "(reading the answer from standard input)");
        }
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => {
                let _ = writeln!(
                    stderr,
                    "standard input is closed: waiting for an answer from another terminal"
                );
                None
            }
            Ok(_) => Some(line.trim().eq_ignore_ascii_case("yes")),
        }
    })
}
