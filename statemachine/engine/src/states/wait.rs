//! Wait: for `Seconds`/`SecondsPath`, or until `Timestamp`/`TimestampPath` (immediately when it
//! is in the past). The wait is compressed by the engine's time scale. A negative, non-integer or
//! missing `SecondsPath`, a `TimestampPath` that is not an ISO-8601 date-time with `T` and an
//! offset, or a delay beyond 2^31 - 1 seconds is `States.Runtime` with the cause AWS reports.

use serde_json::Value;
use time::OffsetDateTime;

use super::{finish, Entry, Runtime, Step};
use crate::definition::{parse_timestamp, WaitFor};
use crate::error::StatesError;

pub(super) async fn run(
    rt: &Runtime,
    entry: &Entry<'_>,
    wait: &WaitFor,
    raw: Value,
) -> Result<Step, StatesError> {
    let ctx = rt.context(entry, 0);
    let effective = entry.state.input_path.apply(&raw, &ctx)?;
    let until = |at: OffsetDateTime| (at - OffsetDateTime::now_utc()).as_seconds_f64().max(0.0);
    let seconds = match wait {
        WaitFor::Seconds(s) => *s as f64,
        WaitFor::Timestamp(at) => until(*at),
        WaitFor::SecondsPath(path) => {
            let value = path.eval(&effective, &ctx).map_err(|_| {
                StatesError::runtime(format!(
                    "The SecondsPath parameter does not reference an input value: {path}"
                ))
            })?;
            match value.as_i64() {
                Some(n) if n < 0 => {
                    return Err(StatesError::runtime(format!(
                        "The SecondsPath parameter references a negative value: {path} == {value}"
                    )))
                }
                Some(n) => n as f64,
                None => {
                    let shown = value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_string);
                    return Err(StatesError::runtime(format!(
                        "The SecondsPath parameter cannot be parsed as a long value: {path} == {shown}"
                    )));
                }
            }
        }
        WaitFor::TimestampPath(path) => {
            let value = path
                .eval(&effective, &ctx)
                .map_err(|e| StatesError::runtime(e.to_string()))?;
            let at = value.as_str().and_then(parse_timestamp).ok_or_else(|| {
                let shown = value.as_str().map_or_else(|| value.to_string(), str::to_string);
                StatesError::runtime(format!(
                    "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {path} == {shown}"
                ))
            })?;
            until(at)
        }
    };
    // AWS keeps a wait's delay in a signed 32-bit count of seconds (about 68 years).
    if seconds > f64::from(i32::MAX) {
        return Err(StatesError::runtime("Wait state delay is too long."));
    }
    rt.sleep(seconds).await;
    let output = entry.state.output_path.apply(&effective, &ctx)?;
    Ok(finish(entry.state, output))
}
