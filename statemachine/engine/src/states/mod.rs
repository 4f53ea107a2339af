//! The interpreter: runs a machine state by state, recording history, and dispatches each state
//! type to its module. Parallel branches and Map iterations run as Tokio tasks of their own.

mod fan_out;
mod flow;
mod map;
mod parallel;
mod task;
mod wait;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::child::StateMachines;
use crate::definition::{State, StateKind, StateMachine, Transition};
use crate::error::StatesError;
use crate::history::{EventType, History};
use crate::io::ResultPath;
use crate::registry::TaskRegistry;
use crate::retry::{find_catcher, Catcher, Retrier, RetryCounter};
use crate::template::Template;
use crate::tokens::TokenBook;

/// Everything the states of one execution share.
#[derive(Debug)]
pub(crate) struct Runtime {
    pub registry: TaskRegistry,
    pub state_machines: StateMachines,
    pub time_scale: f64,
    pub history: History,
    pub transitions: AtomicU64,
    pub tokens: TokenBook,
    pub rng: Mutex<fastrand::Rng>,
    /// `$$.Execution`
    pub execution: Value,
    /// `$$.StateMachine`
    pub state_machine: Value,
}

/// The thread of events of one machine run (top level, a branch or an iteration): each event
/// it records points back to the previous one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lane {
    pub prev: u64,
}

/// The state being executed, as the context object and error messages need it.
pub(crate) struct Entry<'a> {
    pub state: &'a State,
    pub entered_time: String,
}

/// Where execution continues after a state.
pub(crate) enum Step {
    Next(String, Value),
    End(Value),
}

pub(crate) fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

impl Runtime {
    pub(crate) fn record(&self, lane: &mut Lane, event_type: EventType, details: Value) -> u64 {
        let id = self.history.record(lane.prev, event_type, details);
        lane.prev = id;
        id
    }

    pub(crate) fn with_rng<R>(&self, f: impl FnOnce(&mut fastrand::Rng) -> R) -> R {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut rng)
    }

    /// Sleeps `seconds` of state-machine time, compressed by `time_scale`.
    pub(crate) async fn sleep(&self, seconds: f64) {
        let real = seconds * self.time_scale;
        if real.is_finite() && real > 0.0 {
            // Cap at ~31 years so that an absurd wait cannot overflow the timer.
            tokio::time::sleep(Duration::from_secs_f64(real.min(1e9))).await;
        }
    }

    /// The context object (`$$`) for a state.
    pub(crate) fn context(&self, entry: &Entry<'_>, retry_count: u32) -> Value {
        json!({
            "Execution": self.execution,
            "StateMachine": self.state_machine,
            "State": {
                "Name": entry.state.name,
                "EnteredTime": entry.entered_time,
                "RetryCount": retry_count,
            },
        })
    }

    /// Applies `ResultSelector`, `ResultPath` and `OutputPath` to a state's result.
    pub(crate) fn complete(
        &self,
        state: &State,
        selector: Option<&Template>,
        result_path: &ResultPath,
        raw_input: Value,
        result: Value,
        context: &Value,
    ) -> Result<Step, StatesError> {
        let result = match selector {
            Some(t) => self.with_rng(|rng| t.eval(&result, context, rng))?,
            None => result,
        };
        let combined = result_path.apply(raw_input, result)?;
        let output = state.output_path.apply(&combined, context)?;
        Ok(finish(state, output))
    }

    /// Decides what follows a failed attempt: wait and retry, continue at a catcher, or fail.
    pub(crate) async fn recover(
        &self,
        retriers: &[Retrier],
        catchers: &[Catcher],
        counter: &mut RetryCounter,
        raw_input: &Value,
        error: StatesError,
    ) -> Recovery {
        if let Some(delay) = self.with_rng(|rng| counter.next_delay(retriers, &error, rng)) {
            self.sleep(delay).await;
            // Step Functions bills each retry as a state transition.
            self.transitions.fetch_add(1, Ordering::Relaxed);
            return Recovery::Retry;
        }
        match find_catcher(catchers, &error) {
            Some(catcher) => match catcher
                .result_path
                .apply(raw_input.clone(), error.to_error_output())
            {
                Ok(output) => Recovery::Caught(Step::Next(catcher.next.clone(), output)),
                Err(e) => Recovery::Failed(e),
            },
            None => Recovery::Failed(error),
        }
    }
}

pub(crate) enum Recovery {
    Retry,
    Caught(Step),
    Failed(StatesError),
}

/// The step a state's `Next`/`End` leads to.
pub(crate) fn finish(state: &State, output: Value) -> Step {
    match &state.transition {
        Transition::Next(next) => Step::Next(next.clone(), output),
        Transition::End => Step::End(output),
    }
}

fn state_events(kind: &StateKind) -> (EventType, Option<EventType>) {
    use EventType::*;
    match kind {
        StateKind::Pass(_) => (PassStateEntered, Some(PassStateExited)),
        StateKind::Task(_) => (TaskStateEntered, Some(TaskStateExited)),
        StateKind::Choice(_) => (ChoiceStateEntered, Some(ChoiceStateExited)),
        StateKind::Wait(_) => (WaitStateEntered, Some(WaitStateExited)),
        StateKind::Succeed => (SucceedStateEntered, Some(SucceedStateExited)),
        StateKind::Fail(_) => (FailStateEntered, None),
        StateKind::Parallel(_) => (ParallelStateEntered, Some(ParallelStateExited)),
        StateKind::Map(_) => (MapStateEntered, Some(MapStateExited)),
    }
}

/// A boxed machine run, so that Parallel and Map can recurse into branches.
pub(crate) type MachineRun =
    Pin<Box<dyn Future<Output = (Result<Value, StatesError>, Lane)> + Send>>;

/// Runs a machine from `StartAt` to a terminal state.
pub(crate) fn run_machine(
    rt: Arc<Runtime>,
    machine: Arc<StateMachine>,
    input: Value,
    mut lane: Lane,
) -> MachineRun {
    Box::pin(async move {
        let result = run_states(&rt, &machine, input, &mut lane).await;
        (result, lane)
    })
}

async fn run_states(
    rt: &Arc<Runtime>,
    machine: &StateMachine,
    mut input: Value,
    lane: &mut Lane,
) -> Result<Value, StatesError> {
    let mut name = machine.start_at.clone();
    loop {
        let state = machine
            .states
            .get(&name)
            .ok_or_else(|| StatesError::runtime(format!("no state named '{name}'")))?;
        rt.transitions.fetch_add(1, Ordering::Relaxed);
        let (entered, exited) = state_events(&state.kind);
        let entered_time = now_rfc3339();
        let entered_id = rt.record(
            lane,
            entered,
            json!({"name": state.name, "input": input.to_string()}),
        );
        let entry = Entry {
            state,
            entered_time,
        };
        let step = run_state(rt, &entry, input, lane)
            .await
            .map_err(|e| e.located(&state.name, entered_id))?;
        let (next, output) = match step {
            Step::Next(next, output) => (Some(next), output),
            Step::End(output) => (None, output),
        };
        if let Some(exited) = exited {
            rt.record(
                lane,
                exited,
                json!({"name": state.name, "output": output.to_string()}),
            );
        }
        match next {
            Some(next) => {
                name = next;
                input = output;
            }
            None => return Ok(output),
        }
    }
}

async fn run_state(
    rt: &Arc<Runtime>,
    entry: &Entry<'_>,
    input: Value,
    lane: &mut Lane,
) -> Result<Step, StatesError> {
    match &entry.state.kind {
        StateKind::Pass(p) => flow::pass(rt, entry, p, input),
        StateKind::Choice(c) => flow::choice(rt, entry, c, input),
        StateKind::Succeed => flow::succeed(rt, entry, input),
        StateKind::Fail(f) => Err(flow::fail(rt, entry, f, input)),
        StateKind::Wait(w) => wait::run(rt, entry, w, input).await,
        StateKind::Task(t) => task::run(rt, entry, t, input, lane).await,
        StateKind::Parallel(p) => parallel::run(rt, entry, p, input, lane).await,
        StateKind::Map(m) => map::run(rt, entry, m, input, lane).await,
    }
}
