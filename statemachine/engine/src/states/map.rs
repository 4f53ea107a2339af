//! Map (inline): runs the item processor once per element of the array `ItemsPath` selects from
//! the effective input, at most `MaxConcurrency` at a time (0 = unbounded). Each iteration's
//! input is the item, or the `ItemSelector` (legacy `Parameters`) payload built from the
//! effective input with `$$.Map.Item.Index`/`$$.Map.Item.Value` in the context. The result is
//! the array of iteration outputs in item order. The first failed iteration fails the state,
//! unless `ToleratedFailureCount`/`ToleratedFailurePercentage` (or their `…Path` forms) allow
//! it: then the Map fails with `States.ExceedToleratedFailureThreshold` only once the failures
//! exceed the tolerance, and a tolerated failure's error output takes the item's place.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::fan_out::FanOut;
use super::{run_machine, Entry, Lane, Runtime, Step};
use crate::definition::{Concurrency, MapState, Tolerance};
use crate::error::{names, StatesError};
use crate::history::EventType;
use crate::path::Path;

pub(super) async fn run(
    rt: &Arc<Runtime>,
    entry: &Entry<'_>,
    map: &MapState,
    raw: Value,
    lane: &mut Lane,
) -> Result<Step, StatesError> {
    let fan_out = FanOut {
        started: EventType::MapStateStarted,
        succeeded: EventType::MapStateSucceeded,
        failed: EventType::MapStateFailed,
        result_selector: map.result_selector.as_ref(),
        result_path: &map.result_path,
        retry: &map.retry,
        catch: &map.catch,
    };
    let prepare = |effective: Value, ctx: &Value| {
        let iterations = Iterations::prepare(rt, map, &effective, ctx)?;
        let details = json!({"length": iterations.inputs.len()});
        Ok((iterations, details))
    };
    let iterate =
        |iterations, started| run_iterations(rt, &entry.state.name, map, iterations, started);
    fan_out.run(rt, entry, raw, lane, prepare, iterate).await
}

/// One attempt's iterations: their inputs and how many may run at once or fail.
struct Iterations {
    inputs: Vec<Value>,
    limit: u64,
    tolerated: Tolerated,
}

impl Iterations {
    fn prepare(
        rt: &Runtime,
        map: &MapState,
        effective: &Value,
        ctx: &Value,
    ) -> Result<Self, StatesError> {
        let items = match map.items_path.apply(effective, ctx)? {
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
                    .eval(effective, ctx)
                    .map_err(|e| StatesError::runtime(e.to_string()))?;
                value
                    .as_u64()
                    .ok_or_else(|| not_valid("MaxConcurrencyPath", path, &value, "integer"))?
            }
        };
        let tolerated = Tolerated::resolve(map, effective, ctx)?;
        let mut inputs = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            inputs.push(match &map.item_selector {
                Some(selector) => {
                    let mut item_ctx = ctx.clone();
                    item_ctx["Map"] = json!({"Item": {"Index": index, "Value": item}});
                    rt.with_rng(|rng| selector.eval(effective, &item_ctx, rng))?
                }
                None => item,
            });
        }
        Ok(Self {
            inputs,
            limit,
            tolerated,
        })
    }
}

/// The cause AWS gives when a `…Path` field of a Map selects a value of the wrong kind.
fn not_valid(field: &str, path: &Path, value: &Value, kind: &str) -> StatesError {
    let shown = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string);
    StatesError::runtime(format!(
        "The {field} field refers to value \"{shown}\" which is not a valid {kind}: {path}"
    ))
}

/// How many failed iterations a Map tolerates (`ToleratedFailureCount`/`…Percentage` and their
/// `…Path` forms), resolved for one run. With neither field, the first failure fails the Map.
#[derive(Debug, Clone, Copy, Default)]
struct Tolerated {
    count: Option<u64>,
    percentage: Option<f64>,
}

impl Tolerated {
    fn resolve(map: &MapState, input: &Value, ctx: &Value) -> Result<Self, StatesError> {
        let select = |path: &Path| {
            path.eval(input, ctx)
                .map_err(|e| StatesError::runtime(e.to_string()))
        };
        let count = match &map.tolerated_count {
            None => None,
            Some(Tolerance::Fixed(n)) => Some(*n as u64),
            Some(Tolerance::Path(path)) => {
                let value = select(path)?;
                let n = value
                    .as_i64()
                    .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
                    .ok_or_else(|| {
                        not_valid("ToleratedFailureCountPath", path, &value, "integer")
                    })?;
                Some(u64::try_from(n).map_err(|_| {
                    StatesError::runtime("ToleratedFailureCount cannot be negative.")
                })?)
            }
        };
        let percentage = match &map.tolerated_percentage {
            None => None,
            Some(Tolerance::Fixed(p)) => Some(*p),
            Some(Tolerance::Path(path)) => {
                let value = select(path)?;
                let p = value
                    .as_f64()
                    .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
                    .ok_or_else(|| {
                        not_valid("ToleratedFailurePercentagePath", path, &value, "float")
                    })?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(StatesError::runtime(
                        "ToleratedFailurePercentage must be between 0 and 100.",
                    ));
                }
                Some(p)
            }
        };
        Ok(Self { count, percentage })
    }

    fn any(&self) -> bool {
        self.count.is_some() || self.percentage.is_some()
    }

    /// Whether `failed` failures out of `total` items exceed what is tolerated: exceeding
    /// either threshold is enough when both are given.
    fn exceeded(&self, failed: usize, total: usize) -> bool {
        let share = failed as f64 * 100.0 / total.max(1) as f64;
        self.count.is_some_and(|n| failed as u64 > n) || self.percentage.is_some_and(|p| share > p)
    }
}

async fn run_iterations(
    rt: &Arc<Runtime>,
    name: &str,
    map: &MapState,
    iterations: Iterations,
    started: u64,
) -> Result<Vec<Value>, StatesError> {
    let Iterations {
        inputs,
        limit,
        tolerated,
    } = iterations;
    let limit = match usize::try_from(limit) {
        Ok(0) | Err(_) => usize::MAX,
        Ok(n) => n,
    };
    let total = inputs.len();
    let mut failed = 0;
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
            Some(Ok((i, Err(error)))) if tolerated.any() && !error.is_terminal() => {
                failed += 1;
                if tolerated.exceeded(failed, total) {
                    return Err(StatesError::new(
                        names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                        Some("The specified tolerated failure threshold was exceeded".into()),
                    ));
                }
                // A tolerated failure leaves its error output in the item's place.
                outputs[i] = error.to_error_output();
            }
            Some(Ok((_, Err(error)))) => return Err(error),
            Some(Err(e)) => {
                return Err(StatesError::runtime(format!(
                    "an iteration stopped unexpectedly: {e}"
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests;
