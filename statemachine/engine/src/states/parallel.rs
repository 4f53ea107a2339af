//! Parallel: every branch runs concurrently on a copy of the effective input; the result is the
//! array of branch outputs in `Branches` order. The first branch failure cancels the others and
//! becomes the state's error, subject to its Retry and Catch.

use std::sync::Arc;

use serde_json::Value;
use tokio::task::JoinSet;

use super::fan_out::FanOut;
use super::{run_machine, Entry, Lane, Runtime, Step};
use crate::definition::ParallelState;
use crate::error::StatesError;
use crate::history::EventType;

pub(super) async fn run(
    rt: &Arc<Runtime>,
    entry: &Entry<'_>,
    parallel: &ParallelState,
    raw: Value,
    lane: &mut Lane,
) -> Result<Step, StatesError> {
    let fan_out = FanOut {
        started: EventType::ParallelStateStarted,
        succeeded: EventType::ParallelStateSucceeded,
        failed: EventType::ParallelStateFailed,
        result_selector: parallel.result_selector.as_ref(),
        result_path: &parallel.result_path,
        retry: &parallel.retry,
        catch: &parallel.catch,
    };
    let prepare = |effective: Value, ctx: &Value| {
        let input = match &parallel.parameters {
            Some(t) => rt.with_rng(|rng| t.eval(&effective, ctx, rng))?,
            None => effective,
        };
        Ok((input, Value::Null))
    };
    let branches = |input, started| run_branches(rt, parallel, input, started);
    fan_out.run(rt, entry, raw, lane, prepare, branches).await
}

async fn run_branches(
    rt: &Arc<Runtime>,
    parallel: &ParallelState,
    input: Value,
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
