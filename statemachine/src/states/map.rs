//! Map (inline): runs the item processor once per element of the array `ItemsPath` selects from
//! the effective input, at most `MaxConcurrency` at a time (0 = unbounded). Each iteration's
//! input is the item, or the `ItemSelector` (legacy `Parameters`) payload built from the
//! effective input with `$$.Map.Item.Index`/`$$.Map.Item.Value` in the context. The result is
//! the array of iteration outputs in item order; the first failed iteration fails the state.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::{run_machine, Entry, Lane, Recovery, Runtime, Step};
use crate::definition::{Concurrency, MapState};
use crate::error::StatesError;
use crate::history::EventType;
use crate::retry::RetryCounter;

pub(super) async fn run(
    rt: &Arc<Runtime>,
    entry: &Entry<'_>,
    map: &MapState,
    raw: Value,
    lane: &mut Lane,
) -> Result<Step, StatesError> {
    let mut counter = RetryCounter::default();
    let mut retry_count = 0;
    loop {
        let ctx = rt.context(entry, retry_count);
        let effective = entry.state.input_path.apply(&raw, &ctx)?;
        let items = match map.items_path.apply(&effective, &ctx)? {
            Value::Array(items) => items,
            other => {
                return Err(StatesError::runtime(format!(
                    "The ItemsPath must select a JSON array, got {other}"
                )))
            }
        };
        let limit = match &map.max_concurrency {
            Concurrency::Fixed(n) => *n,
            Concurrency::Path(path) => {
                let value = path
                    .eval(&effective, &ctx)
                    .map_err(|e| StatesError::runtime(e.to_string()))?;
                value.as_u64().ok_or_else(|| {
                    StatesError::runtime(format!(
                        "The MaxConcurrencyPath must select a non-negative integer: {path} == {value}"
                    ))
                })?
            }
        };
        let mut inputs = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            inputs.push(match &map.item_selector {
                Some(selector) => {
                    let mut item_ctx = ctx.clone();
                    item_ctx["Map"] = json!({"Item": {"Index": index, "Value": item}});
                    rt.with_rng(|rng| selector.eval(&effective, &item_ctx, rng))?
                }
                None => item,
            });
        }
        let started = rt.record(
            lane,
            EventType::MapStateStarted,
            json!({"length": inputs.len()}),
        );
        match run_iterations(rt, &entry.state.name, map, inputs, limit, started).await {
            Ok(outputs) => {
                rt.record(lane, EventType::MapStateSucceeded, Value::Null);
                return rt.complete(
                    entry.state,
                    map.result_selector.as_ref(),
                    &map.result_path,
                    raw,
                    Value::Array(outputs),
                    &ctx,
                );
            }
            Err(error) => {
                rt.record(lane, EventType::MapStateFailed, Value::Null);
                if error.is_terminal() {
                    return Err(error);
                }
                match rt
                    .recover(&map.retry, &map.catch, &mut counter, &raw, error)
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

async fn run_iterations(
    rt: &Arc<Runtime>,
    name: &str,
    map: &MapState,
    inputs: Vec<Value>,
    limit: u64,
    started: u64,
) -> Result<Vec<Value>, StatesError> {
    let limit = match usize::try_from(limit) {
        Ok(0) | Err(_) => usize::MAX,
        Ok(n) => n,
    };
    let mut outputs = vec![Value::Null; inputs.len()];
    let mut waiting = inputs.into_iter().enumerate();
    let mut running = JoinSet::new();
    loop {
        // Start iterations in item order, never more than `limit` at once.
        while running.len() < limit {
            let Some((index, input)) = waiting.next() else {
                break;
            };
            let (rt, processor) = (rt.clone(), map.processor.clone());
            let details = json!({"name": name, "index": index});
            running.spawn(async move {
                let mut lane = Lane { prev: started };
                rt.record(&mut lane, EventType::MapIterationStarted, details.clone());
                let (result, mut lane) = run_machine(rt.clone(), processor, input, lane).await;
                let event = if result.is_ok() {
                    EventType::MapIterationSucceeded
                } else {
                    EventType::MapIterationFailed
                };
                rt.record(&mut lane, event, details);
                (index, result)
            });
        }
        // Dropping the set on an early return aborts the iterations still running.
        match running.join_next().await {
            None => return Ok(outputs),
            Some(Ok((i, Ok(output)))) => outputs[i] = output,
            Some(Ok((_, Err(error)))) => return Err(error),
            Some(Err(e)) => {
                return Err(StatesError::runtime(format!(
                    "an iteration stopped unexpectedly: {e}"
                )))
            }
        }
    }
}
