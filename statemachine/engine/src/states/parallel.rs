//! Parallel: every branch runs concurrently on a copy of the effective input; the result is the
//! array of branch outputs in `Branches` order. The first branch failure cancels the others and
//! becomes the state's error, subject to its Retry and Catch.

use std::sync::Arc;

use serde_json::Value;
use tokio::task::JoinSet;

use super::{run_machine, Entry, Lane, Recovery, Runtime, Step};
use crate::definition::ParallelState;
use crate::error::StatesError;
use crate::history::EventType;
use crate::retry::RetryCounter;

pub(super) async fn run(
    rt: &Arc<Runtime>,
    entry: &Entry<'_>,
    parallel: &ParallelState,
    raw: Value,
    lane: &mut Lane,
) -> Result<Step, StatesError> {
    let mut counter = RetryCounter::default();
    let mut retry_count = 0;
    loop {
        let ctx = rt.context(entry, retry_count);
        let effective = entry.state.input_path.apply(&raw, &ctx)?;
        let input = match &parallel.parameters {
            Some(t) => rt.with_rng(|rng| t.eval(&effective, &ctx, rng))?,
            None => effective,
        };
        let started = rt.record(lane, EventType::ParallelStateStarted, Value::Null);
        match run_branches(rt, parallel, &input, started).await {
            Ok(outputs) => {
                rt.record(lane, EventType::ParallelStateSucceeded, Value::Null);
                return rt.complete(
                    entry.state,
                    parallel.result_selector.as_ref(),
                    &parallel.result_path,
                    raw,
                    Value::Array(outputs),
                    &ctx,
                );
            }
            Err(error) => {
                rt.record(lane, EventType::ParallelStateFailed, Value::Null);
                if error.is_terminal() {
                    return Err(error);
                }
                match rt
                    .recover(&parallel.retry, &parallel.catch, &mut counter, &raw, error)
                    .await
                {
                    Recovery::Retry => retry_count += 1,
                    Recovery::Caught(step) => return Ok(step),
                    Recovery::Failed(error) => return Err(error),
                }
            }
        }
    }
}

async fn run_branches(
    rt: &Arc<Runtime>,
    parallel: &ParallelState,
    input: &Value,
    started: u64,
) -> Result<Vec<Value>, StatesError> {
    let mut set = JoinSet::new();
    for (i, branch) in parallel.branches.iter().enumerate() {
        let run = run_machine(
            rt.clone(),
            branch.clone(),
            input.clone(),
            Lane { prev: started },
        );
        set.spawn(async move { (i, run.await.0) });
    }
    let mut outputs = vec![Value::Null; parallel.branches.len()];
    // Dropping the set on an early return aborts the branches still running.
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, Ok(output))) => outputs[i] = output,
            Ok((_, Err(error))) => return Err(error),
            Err(e) => {
                return Err(StatesError::runtime(format!(
                    "a branch stopped unexpectedly: {e}"
                )))
            }
        }
    }
    Ok(outputs)
}
