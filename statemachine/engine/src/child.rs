//! The Step Functions integration `arn:<partition>:states:::states:startExecution` (plain,
//! `.sync` and `.sync:2`): an execution of another state machine, run in-process.
//!
//! State machines are registered in [`StateMachines`] under their ARN (as the definition names
//! it after `DefinitionSubstitutions`), either as an [`Engine`] or as a factory that builds one
//! per input (so each child can get its own adapters). The Task's parameters are those of
//! `StartExecution`: `StateMachineArn`, `Input` (JSON, or a string holding JSON) and `Name`.
//!
//! As on AWS:
//! - plain: the result is `{ExecutionArn, StartDate}` and the child runs on;
//! - `.sync`/`.sync:2`: the task waits for the child and returns DescribeExecution's fields
//!   (`ExecutionArn`, `Input`, `InputDetails`, `Name`, `Output`, `OutputDetails`, `StartDate`,
//!   `StateMachineArn`, `Status`, `StopDate`; dates in epoch milliseconds), with `Input` and
//!   `Output` as JSON text for `.sync` and parsed for `.sync:2`;
//! - a child that fails, times out or is aborted fails the task with `States.TaskFailed`, the
//!   cause being those fields as JSON text with the child's `Error` and `Cause`;
//! - an unknown ARN is `StepFunctions.StateMachineDoesNotExistException`.
//!
//! A child still running when its Task stops waiting (the parent was stopped, timed out, or a
//! sibling failed) is stopped too.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::engine::{Engine, Outcome, Status, Stopper};
use crate::error::{names, StatesError};

/// The error of a `startExecution` whose state machine is not registered.
pub const STATE_MACHINE_DOES_NOT_EXIST: &str = "StepFunctions.StateMachineDoesNotExistException";
/// The error of a `startExecution` whose `Input` or `StateMachineArn` is unusable.
pub const INVALID_EXECUTION_INPUT: &str = "StepFunctions.InvalidExecutionInputException";

/// How a `startExecution` Task waits for its child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// Request-response: start and go on.
    Start,
    /// `.sync`: wait; `Input`/`Output` as JSON text.
    Sync,
    /// `.sync:2`: wait; `Input`/`Output` parsed.
    Sync2,
}

/// The pattern of a `states:startExecution` resource in any partition (`arn:aws:`,
/// `arn:aws-cn:`, or a `${Partition}` placeholder not substituted locally).
pub(crate) fn pattern(resource: &str) -> Option<Pattern> {
    match service_action(resource)? {
        ("states", "startExecution" | "startExecution.waitForTaskToken") => Some(Pattern::Start),
        ("states", "startExecution.sync") => Some(Pattern::Sync),
        ("states", "startExecution.sync:2") => Some(Pattern::Sync2),
        _ => None,
    }
}

/// `(service, action)` of an optimized integration `arn:<partition>:states:::<service>:<action>`.
pub(crate) fn service_action(resource: &str) -> Option<(&str, &str)> {
    let rest = resource.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    if partition.is_empty() {
        return None;
    }
    let rest = rest.strip_prefix("states:::")?;
    Some(rest.split_once(':').unwrap_or((rest, "")))
}

type Factory = Arc<dyn Fn(&Value) -> Engine + Send + Sync>;

#[derive(Clone)]
enum Registered {
    Engine(Box<Engine>),
    Factory(Factory),
}

/// A child execution that ended, as the parent's run left it.
#[derive(Debug, Clone)]
pub struct ChildExecution {
    /// `ExecutionArn`.
    pub execution_arn: String,
    /// The registered ARN it was started under.
    pub state_machine_arn: String,
    /// The effective input.
    pub input: Value,
    /// How it ended, with its history.
    pub outcome: Outcome,
    /// When it started and stopped.
    pub start: OffsetDateTime,
    pub stop: OffsetDateTime,
}

#[derive(Default)]
struct Book {
    machines: HashMap<String, Registered>,
    running: usize,
    peak_running: usize,
    finished: Vec<ChildExecution>,
}

/// The state machines `startExecution` tasks can start, by ARN, and the children they ran.
/// Clones share everything.
#[derive(Clone, Default)]
pub struct StateMachines {
    book: Arc<Mutex<Book>>,
}

impl fmt::Debug for StateMachines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let book = self.lock();
        let mut arns: Vec<&String> = book.machines.keys().collect();
        arns.sort();
        f.debug_struct("StateMachines")
            .field("arns", &arns)
            .field("running", &book.running)
            .finish()
    }
}

impl StateMachines {
    /// No state machines.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `engine` under `arn` (replacing what was there).
    pub fn register(&self, arn: impl Into<String>, engine: Engine) {
        self.lock()
            .machines
            .insert(arn.into(), Registered::Engine(Box::new(engine)));
    }

    /// Registers a factory under `arn` that builds the engine for each execution from its
    /// input: for children that need adapters of their own.
    pub fn register_with(
        &self,
        arn: impl Into<String>,
        factory: impl Fn(&Value) -> Engine + Send + Sync + 'static,
    ) {
        self.lock()
            .machines
            .insert(arn.into(), Registered::Factory(Arc::new(factory)));
    }

    /// The most children that ran at the same time so far.
    pub fn peak_running(&self) -> usize {
        self.lock().peak_running
    }

    /// Children running now.
    pub fn running(&self) -> usize {
        self.lock().running
    }

    /// The children that ended (or were stopped), in the order they ended.
    pub fn finished(&self) -> Vec<ChildExecution> {
        self.lock().finished.clone()
    }

    fn engine_for(&self, arn: &str, input: &Value) -> Option<Engine> {
        let registered = self.lock().machines.get(arn).cloned()?;
        let engine = match registered {
            Registered::Engine(engine) => *engine,
            Registered::Factory(factory) => factory(input),
        };
        // A child may start children of its own.
        Some(engine.with_state_machines(self.clone()))
    }

    fn started(&self) {
        let mut book = self.lock();
        book.running += 1;
        book.peak_running = book.peak_running.max(book.running);
    }

    fn ended(&self, child: ChildExecution) {
        let mut book = self.lock();
        book.running = book.running.saturating_sub(1);
        book.finished.push(child);
    }
}

fn epoch_millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Stops the child, and records it as aborted, if the task stops waiting before it ends.
struct StopOnDrop {
    stopper: Option<Stopper>,
    machines: StateMachines,
    arn: String,
    input: Value,
    start: OffsetDateTime,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(stopper) = self.stopper.take() {
            let outcome = stopper.stop();
            self.machines.ended(ChildExecution {
                execution_arn: stopper.id().to_string(),
                state_machine_arn: self.arn.clone(),
                input: self.input.clone(),
                outcome,
                start: self.start,
                stop: OffsetDateTime::now_utc(),
            });
        }
    }
}

/// Runs the integration; `submitted` is called once the child has started (for `TaskSubmitted`).
pub(crate) async fn start_execution(
    machines: &StateMachines,
    pattern: Pattern,
    parameters: &Value,
    submitted: impl FnOnce(&Value),
) -> Result<Value, StatesError> {
    let arn = parameters
        .get("StateMachineArn")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            StatesError::new(
                INVALID_EXECUTION_INPUT,
                Some("StateMachineArn (a string) is required".into()),
            )
        })?
        .to_string();
    let input = match parameters.get("Input") {
        None | Some(Value::Null) => json!({}),
        Some(Value::String(text)) => serde_json::from_str(text).map_err(|e| {
            StatesError::new(
                INVALID_EXECUTION_INPUT,
                Some(format!("Invalid State Machine Execution Input: '{e}'")),
            )
        })?,
        Some(other) => other.clone(),
    };
    let name = parameters
        .get("Name")
        .and_then(Value::as_str)
        .map(str::to_string);
    let engine = machines.engine_for(&arn, &input).ok_or_else(|| {
        StatesError::new(
            STATE_MACHINE_DOES_NOT_EXIST,
            Some(format!("State Machine Does Not Exist: '{arn}'")),
        )
    })?;
    let start = OffsetDateTime::now_utc();
    let execution = engine.start_named(input.clone(), name);
    let execution_arn = execution.id().to_string();
    let execution_name = execution_arn
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    machines.started();
    let started = json!({"ExecutionArn": execution_arn, "StartDate": epoch_millis(start)});
    submitted(&started);
    if pattern == Pattern::Start {
        // The child runs on by itself; only its end is recorded.
        let machines = machines.clone();
        let execution_arn = execution_arn.clone();
        tokio::spawn(async move {
            let outcome = execution.wait().await;
            machines.ended(ChildExecution {
                execution_arn,
                state_machine_arn: arn,
                input,
                outcome,
                start,
                stop: OffsetDateTime::now_utc(),
            });
        });
        return Ok(started);
    }
    let mut guard = StopOnDrop {
        stopper: Some(execution.stopper()),
        machines: machines.clone(),
        arn: arn.clone(),
        input: input.clone(),
        start,
    };
    let outcome = execution.wait().await;
    guard.stopper = None;
    let stop = OffsetDateTime::now_utc();
    let text = |v: &Value| match pattern {
        Pattern::Sync2 => v.clone(),
        _ => Value::String(v.to_string()),
    };
    let mut described = json!({
        "ExecutionArn": execution_arn,
        "Input": text(&input),
        "InputDetails": {"Included": true},
        "Name": execution_name,
        "StartDate": epoch_millis(start),
        "StateMachineArn": arn,
        "StopDate": epoch_millis(stop),
    });
    let result = match &outcome.status {
        Status::Succeeded(output) => {
            described["Output"] = text(output);
            described["OutputDetails"] = json!({"Included": true});
            described["Status"] = json!("SUCCEEDED");
            Ok(described)
        }
        Status::Failed { error, cause } => {
            let status = if error == names::TIMEOUT {
                "TIMED_OUT"
            } else {
                "FAILED"
            };
            described["Status"] = json!(status);
            if !error.is_empty() {
                described["Error"] = json!(error);
            }
            if let Some(cause) = cause {
                described["Cause"] = json!(cause);
            }
            Err(failed(described, &input))
        }
        Status::Aborted => {
            described["Status"] = json!("ABORTED");
            Err(failed(described, &input))
        }
    };
    machines.ended(ChildExecution {
        execution_arn,
        state_machine_arn: arn,
        input,
        outcome,
        start,
        stop,
    });
    result
}

/// `States.TaskFailed` with the child's description as the cause, `Input` as JSON text as AWS
/// records it.
fn failed(mut described: Value, input: &Value) -> StatesError {
    described["Input"] = Value::String(input.to_string());
    StatesError::new(names::TASK_FAILED, Some(described.to_string()))
}
#[cfg(test)]
mod tests;
