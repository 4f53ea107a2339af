//! The public entry point: configure an [`Engine`], [`start`](Engine::start) an [`Execution`]
//! (or [`run`](Engine::run) to completion), answer task tokens, read the history.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::child::StateMachines;
use crate::definition::{Definition, DefinitionError};
use crate::error::{names, StatesError};
use crate::history::{self, EventType, History, HistoryEvent};
use crate::intrinsics::uuid_v4;
use crate::registry::TaskRegistry;
use crate::states::{now_rfc3339, run_machine, Lane, Runtime};
use crate::tokens::{PendingTask, Signal, TokenBook, TokenError};

/// Runs executions of one definition.
#[derive(Debug, Clone)]
pub struct Engine {
    definition: Definition,
    registry: TaskRegistry,
    time_scale: f64,
    name: String,
    seed: Option<u64>,
    state_machines: StateMachines,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Reached a Succeed state or an `End`; holds the output.
    Succeeded(Value),
    /// Failed with an uncaught error.
    Failed {
        /// The error name; empty when a Fail state without `Error` ended the execution.
        error: String,
        /// The cause, when known.
        cause: Option<String>,
    },
    /// Stopped through [`Execution::stop`].
    Aborted,
}

/// The result of an execution.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// Every event recorded.
    pub history: Vec<HistoryEvent>,
    /// States entered (retries included): the billable unit of Step Functions Standard.
    pub state_transitions: u64,
}

impl Outcome {
    /// The output when the execution succeeded.
    pub fn output(&self) -> Option<&Value> {
        match &self.status {
            Status::Succeeded(v) => Some(v),
            _ => None,
        }
    }

    /// The history as JSON lines.
    pub fn history_json_lines(&self) -> String {
        history::to_json_lines(&self.history)
    }
}

impl Engine {
    /// An engine with no task handlers, real-time waits and the state machine name `local`.
    pub fn new(definition: Definition) -> Self {
        Self {
            definition,
            registry: TaskRegistry::new(),
            time_scale: 1.0,
            name: "local".into(),
            seed: None,
            state_machines: StateMachines::default(),
        }
    }

    /// Applies `DefinitionSubstitutions` (`${Name}` → value) to the definition.
    pub fn with_substitutions(
        mut self,
        substitutions: &HashMap<String, String>,
    ) -> Result<Self, DefinitionError> {
        self.definition = self.definition.substitute(substitutions)?;
        Ok(self)
    }

    /// The handlers Task states resolve their resources in.
    pub fn with_registry(mut self, registry: TaskRegistry) -> Self {
        self.registry = registry;
        self
    }

    /// Multiplies every Wait and Retry interval (e.g. `0.01` turns an hour into 36 s).
    /// Negative or non-finite values are treated as 0 (no waiting).
    pub fn with_time_scale(mut self, time_scale: f64) -> Self {
        self.time_scale = if time_scale.is_finite() && time_scale > 0.0 {
            time_scale
        } else {
            0.0
        };
        self
    }

    /// The state machine name (`$$.StateMachine.Name`, part of execution ids).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Seeds the random numbers (`States.MathRandom`, `States.UUID`, task tokens, retry
    /// jitter) so that runs are reproducible.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The (substituted) definition.
    pub fn definition(&self) -> &Definition {
        &self.definition
    }

    /// The state machines `startExecution` Tasks can start (shared with the children).
    pub fn with_state_machines(mut self, state_machines: StateMachines) -> Self {
        self.state_machines = state_machines;
        self
    }

    /// The state machines `startExecution` Tasks can start, and the children they ran.
    pub fn state_machines(&self) -> &StateMachines {
        &self.state_machines
    }

    /// Starts an execution on the current Tokio runtime.
    pub fn start(&self, input: Value) -> Execution {
        self.start_named(input, None)
    }

    /// Starts an execution with a given name (`StartExecution`'s `name`), a UUID when `None`.
    pub fn start_named(&self, input: Value, name: Option<String>) -> Execution {
        let mut rng = match self.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        let generated = uuid_v4(&mut rng);
        let execution_name = name.unwrap_or(generated);
        let account = "arn:aws:states:local:000000000000";
        let role_arn = "arn:aws:iam::000000000000:role/aurora-encrypt-local";
        let id = format!("{account}:execution:{}:{execution_name}", self.name);
        let rt = Arc::new(Runtime {
            registry: self.registry.clone(),
            state_machines: self.state_machines.clone(),
            time_scale: self.time_scale,
            history: History::default(),
            transitions: AtomicU64::new(0),
            tokens: TokenBook::default(),
            rng: Mutex::new(rng),
            execution: json!({
                "Id": id,
                "Input": input,
                "Name": execution_name,
                "RoleArn": role_arn,
                "StartTime": now_rfc3339(),
                "RedriveCount": 0,
            }),
            state_machine: json!({
                "Id": format!("{account}:stateMachine:{}", self.name),
                "Name": self.name,
            }),
        });
        let mut lane = Lane { prev: 0 };
        rt.record(
            &mut lane,
            EventType::ExecutionStarted,
            json!({"input": input.to_string(), "roleArn": role_arn}),
        );
        let machine = self.definition.machine.clone();
        let timeout = machine.timeout_seconds;
        let task_rt = rt.clone();
        let handle = tokio::spawn(async move {
            let run = run_machine(task_rt.clone(), machine, input, lane);
            let (result, mut lane) = match timeout {
                Some(secs) => match tokio::time::timeout(Duration::from_secs(secs), run).await {
                    Ok(done) => done,
                    Err(_) => {
                        let error = StatesError::new(
                            names::TIMEOUT,
                            Some(format!("the execution ran longer than {secs} seconds")),
                        );
                        let mut lane = Lane {
                            prev: last_event_id(&task_rt),
                        };
                        task_rt.record(
                            &mut lane,
                            EventType::ExecutionTimedOut,
                            error.event_details(),
                        );
                        return Err(error);
                    }
                },
                None => run.await,
            };
            match &result {
                Ok(output) => task_rt.record(
                    &mut lane,
                    EventType::ExecutionSucceeded,
                    json!({"output": output.to_string()}),
                ),
                Err(error) => {
                    task_rt.record(&mut lane, EventType::ExecutionFailed, error.event_details())
                }
            };
            result
        });
        Execution { rt, handle, id }
    }

    /// Runs an execution to completion.
    pub async fn run(&self, input: Value) -> Outcome {
        self.start(input).wait().await
    }
}

fn last_event_id(rt: &Runtime) -> u64 {
    rt.history.snapshot().last().map_or(0, |e| e.id)
}

/// A running (or finished) execution.
#[derive(Debug)]
pub struct Execution {
    rt: Arc<Runtime>,
    handle: JoinHandle<Result<Value, StatesError>>,
    id: String,
}

impl Execution {
    /// `$$.Execution.Id`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The events recorded so far.
    pub fn history(&self) -> Vec<HistoryEvent> {
        self.rt.history.snapshot()
    }

    /// States entered so far (retries included).
    pub fn state_transitions(&self) -> u64 {
        self.rt.transitions.load(Ordering::Relaxed)
    }

    /// Whether the execution has ended.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// The `.waitForTaskToken` tasks currently waiting for an answer.
    pub fn pending_tasks(&self) -> Vec<PendingTask> {
        self.rt.tokens.pending()
    }

    /// Waits until some task waits for a token and returns it.
    pub async fn next_pending_task(&self) -> PendingTask {
        self.rt.tokens.next_pending().await
    }

    /// Completes a waiting task with `output` as its result (`SendTaskSuccess`).
    pub fn send_task_success(&self, token: &str, output: Value) -> Result<(), TokenError> {
        self.rt.tokens.send(token, Signal::Success(output))
    }

    /// Fails a waiting task with an error name and cause (`SendTaskFailure`); Retry and Catch
    /// of the Task state apply as for any task error.
    pub fn send_task_failure(
        &self,
        token: &str,
        error: impl Into<String>,
        cause: Option<String>,
    ) -> Result<(), TokenError> {
        self.rt
            .tokens
            .send(token, Signal::Failure(StatesError::new(error, cause)))
    }

    /// Resets the `HeartbeatSeconds` clock of a waiting task (`SendTaskHeartbeat`).
    pub fn send_task_heartbeat(&self, token: &str) -> Result<(), TokenError> {
        self.rt.tokens.send(token, Signal::Heartbeat)
    }

    /// Stops the execution (`StopExecution`); [`wait`](Self::wait) then reports
    /// [`Status::Aborted`].
    pub fn stop(&self) {
        self.handle.abort();
    }

    /// A handle that stops this execution from elsewhere.
    pub(crate) fn stopper(&self) -> Stopper {
        Stopper {
            abort: self.handle.abort_handle(),
            rt: self.rt.clone(),
            id: self.id.clone(),
        }
    }

    /// Waits for the end of the execution.
    pub async fn wait(self) -> Outcome {
        let status = match self.handle.await {
            Ok(Ok(output)) => Status::Succeeded(output),
            Ok(Err(e)) => Status::Failed {
                error: e.error,
                cause: e.cause,
            },
            Err(join) if join.is_cancelled() => {
                let mut lane = Lane {
                    prev: last_event_id(&self.rt),
                };
                self.rt
                    .record(&mut lane, EventType::ExecutionAborted, Value::Null);
                Status::Aborted
            }
            Err(join) => {
                let cause = format!("the interpreter stopped unexpectedly: {join}");
                let mut lane = Lane {
                    prev: last_event_id(&self.rt),
                };
                self.rt.record(
                    &mut lane,
                    EventType::ExecutionFailed,
                    json!({"error": names::RUNTIME, "cause": cause}),
                );
                Status::Failed {
                    error: names::RUNTIME.into(),
                    cause: Some(cause),
                }
            }
        };
        Outcome {
            status,
            history: self.rt.history.snapshot(),
            state_transitions: self.rt.transitions.load(Ordering::Relaxed),
        }
    }
}

/// Stops an execution whose [`Execution`] is being waited on elsewhere.
pub(crate) struct Stopper {
    abort: tokio::task::AbortHandle,
    rt: Arc<Runtime>,
    id: String,
}

impl Stopper {
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Stops the execution and returns it as aborted, with its history so far.
    pub(crate) fn stop(&self) -> Outcome {
        self.abort.abort();
        let mut lane = Lane {
            prev: last_event_id(&self.rt),
        };
        self.rt
            .record(&mut lane, EventType::ExecutionAborted, Value::Null);
        Outcome {
            status: Status::Aborted,
            history: self.rt.history.snapshot(),
            state_transitions: self.rt.transitions.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests;
