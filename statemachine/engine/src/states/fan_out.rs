//! What Map and Parallel share: each attempt fans out into machines (iterations or branches)
//! whose outputs, in order, are the state's result, and a failed attempt is retried or caught.
//! One loop for both, so that their history events and Retry/Catch cannot drift apart.

use std::future::Future;

use serde_json::Value;

use super::{Entry, Lane, Recovery, Runtime, Step};
use crate::error::StatesError;
use crate::history::EventType;
use crate::io::ResultPath;
use crate::retry::{Catcher, Retrier, RetryCounter};
use crate::template::Template;

/// The fields of a Map or Parallel state that say how its attempts are recorded and ended.
pub(super) struct FanOut<'a> {
    pub started: EventType,
    pub succeeded: EventType,
    pub failed: EventType,
    pub result_selector: Option<&'a Template>,
    pub result_path: &'a ResultPath,
    pub retry: &'a [Retrier],
    pub catch: &'a [Catcher],
}

impl FanOut<'_> {
    /// Runs attempts until one succeeds or Retry and Catch give up on it.
    ///
    /// `prepare` turns the effective input into what one attempt runs and the details of its
    /// started event; like a bad `InputPath`, an error there fails the state without a retry.
    /// `machines` runs the prepared attempt, its machines' events following the started event.
    pub(super) async fn run<P, Fut>(
        &self,
        rt: &Runtime,
        entry: &Entry<'_>,
        raw: Value,
        lane: &mut Lane,
        prepare: impl Fn(Value, &Value) -> Result<(P, Value), StatesError>,
        machines: impl Fn(P, u64) -> Fut,
    ) -> Result<Step, StatesError>
    where
        Fut: Future<Output = Result<Vec<Value>, StatesError>>,
    {
        let mut counter = RetryCounter::default();
        let mut retry_count = 0;
        loop {
            let ctx = rt.context(entry, retry_count);
            let effective = entry.state.input_path.apply(&raw, &ctx)?;
            let (attempt, details) = prepare(effective, &ctx)?;
            let started = rt.record(lane, self.started, details);
            match machines(attempt, started).await {
                Ok(outputs) => {
                    rt.record(lane, self.succeeded, Value::Null);
                    return rt.complete(
                        entry.state,
                        self.result_selector,
                        self.result_path,
                        raw,
                        Value::Array(outputs),
                        &ctx,
                    );
                }
                Err(error) => {
                    rt.record(lane, self.failed, Value::Null);
                    if error.is_terminal() {
                        return Err(error);
                    }
                    match rt
                        .recover(self.retry, self.catch, &mut counter, &raw, error)
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
}
