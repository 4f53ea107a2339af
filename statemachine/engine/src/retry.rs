//! `Retry` and `Catch`: which errors a retrier or catcher handles, how long to wait before the
//! next attempt, and where a caught error goes.
//!
//! The delay before retry *n* (1-based) is `IntervalSeconds × BackoffRate^(n-1)`, capped by
//! `MaxDelaySeconds`; `JitterStrategy: FULL` picks uniformly in `[0, delay]`. Only the first
//! retrier whose `ErrorEquals` matches is consulted, and each retrier counts its own attempts.

use serde_json::Value;

use crate::definition::DefinitionError;
use crate::error::{names, StatesError};
use crate::io::ResultPath;
use crate::path::Path;

/// How the computed delay is randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// Exactly the computed delay.
    #[default]
    None,
    /// Uniform in `[0, computed delay]`.
    Full,
}

/// One entry of `Retry`.
#[derive(Debug, Clone, PartialEq)]
pub struct Retrier {
    /// Error names handled (`States.ALL`, `States.TaskFailed` are wildcards).
    pub error_equals: Vec<String>,
    /// First delay, seconds (default 1).
    pub interval_seconds: f64,
    /// Retries allowed (default 3; 0 means never retry).
    pub max_attempts: u32,
    /// Multiplier per retry (default 2.0).
    pub backoff_rate: f64,
    /// Upper bound of a delay, seconds.
    pub max_delay_seconds: Option<f64>,
    /// Randomisation.
    pub jitter: Jitter,
}

impl Retrier {
    /// The un-jittered delay in seconds before retry number `retry` (1-based).
    pub fn base_delay(&self, retry: u32) -> f64 {
        let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let delay = self.interval_seconds * self.backoff_rate.powi(exponent);
        match self.max_delay_seconds {
            Some(max) => delay.min(max),
            None => delay,
        }
    }

    /// The delay in seconds before retry number `retry` (1-based), jitter applied.
    pub fn delay(&self, retry: u32, rng: &mut fastrand::Rng) -> f64 {
        let base = self.base_delay(retry);
        match self.jitter {
            Jitter::None => base,
            Jitter::Full => base * rng.f64(),
        }
    }
}

/// One entry of `Catch`.
#[derive(Debug, Clone, PartialEq)]
pub struct Catcher {
    /// Error names handled.
    pub error_equals: Vec<String>,
    /// Where the error output (`{"Error","Cause"}`) goes in the raw state input.
    pub result_path: ResultPath,
    /// The state to continue with.
    pub next: String,
}

/// Whether an `ErrorEquals` list handles `error`.
///
/// `States.Runtime` is never handled (AWS always fails the execution on it); `States.ALL`
/// matches everything else except `States.DataLimitExceeded`; `States.TaskFailed` matches
/// everything `States.ALL` does except `States.Timeout`.
pub fn matches(error_equals: &[String], error: &StatesError) -> bool {
    if error.error == names::RUNTIME {
        return false;
    }
    error_equals.iter().any(|name| {
        name == &error.error
            || (name == names::ALL && error.error != names::DATA_LIMIT_EXCEEDED)
            || (name == names::TASK_FAILED
                && error.error != names::TIMEOUT
                && error.error != names::DATA_LIMIT_EXCEEDED)
    })
}

/// The attempts used so far by each retrier of one state.
#[derive(Debug, Clone, Default)]
pub struct RetryCounter {
    used: Vec<u32>,
}

impl RetryCounter {
    /// The delay (seconds) before retrying `error`, or `None` when the first matching retrier
    /// is exhausted or none matches; consumes one attempt of that retrier.
    pub fn next_delay(
        &mut self,
        retriers: &[Retrier],
        error: &StatesError,
        rng: &mut fastrand::Rng,
    ) -> Option<f64> {
        if self.used.len() < retriers.len() {
            self.used.resize(retriers.len(), 0);
        }
        let i = retriers
            .iter()
            .position(|r| matches(&r.error_equals, error))?;
        if self.used[i] >= retriers[i].max_attempts {
            return None;
        }
        self.used[i] += 1;
        Some(retriers[i].delay(self.used[i], rng))
    }
}

/// The first catcher that handles `error`.
pub fn find_catcher<'c>(catchers: &'c [Catcher], error: &StatesError) -> Option<&'c Catcher> {
    catchers.iter().find(|c| matches(&c.error_equals, error))
}

fn error_equals(v: Option<&Value>, at: &str) -> Result<Vec<String>, DefinitionError> {
    let at = format!("{at}/ErrorEquals");
    let names: Vec<String> = v
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| DefinitionError::new(&at, "must be a non-empty array of error names"))?
        .iter()
        .map(|n| {
            n.as_str()
                .map(str::to_string)
                .ok_or_else(|| DefinitionError::new(&at, "error names must be strings"))
        })
        .collect::<Result<_, _>>()?;
    if names.iter().any(|n| n == names::ALL) && names.len() > 1 {
        return Err(DefinitionError::new(
            &at,
            "States.ALL must appear alone in ErrorEquals",
        ));
    }
    Ok(names)
}

fn check_all_is_last(lists: &[&[String]], at: &str) -> Result<(), DefinitionError> {
    if let Some(pos) = lists.iter().position(|l| l.iter().any(|n| n == names::ALL)) {
        if pos + 1 != lists.len() {
            return Err(DefinitionError::new(
                at,
                "the entry with States.ALL must be the last one",
            ));
        }
    }
    Ok(())
}

fn check_fields(
    obj: &serde_json::Map<String, Value>,
    allowed: &[&str],
    at: &str,
) -> Result<(), DefinitionError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(DefinitionError::new(at, format!("unknown field '{k}'"))),
        None => Ok(()),
    }
}

/// Parses a `Retry` array.
pub(crate) fn parse_retry(v: &Value, at: &str) -> Result<Vec<Retrier>, DefinitionError> {
    let list = v
        .as_array()
        .ok_or_else(|| DefinitionError::new(at, "Retry must be an array"))?;
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let at = format!("{at}/{i}");
        let obj = item
            .as_object()
            .ok_or_else(|| DefinitionError::new(&at, "a retrier must be an object"))?;
        check_fields(
            obj,
            &[
                "ErrorEquals",
                "IntervalSeconds",
                "MaxAttempts",
                "BackoffRate",
                "MaxDelaySeconds",
                "JitterStrategy",
                "Comment",
            ],
            &at,
        )?;
        let positive_int = |key: &str, min: u64| -> Result<Option<u64>, DefinitionError> {
            match obj.get(key) {
                None => Ok(None),
                Some(v) => v.as_u64().filter(|n| *n >= min).map(Some).ok_or_else(|| {
                    DefinitionError::new(
                        format!("{at}/{key}"),
                        format!("must be an integer >= {min}"),
                    )
                }),
            }
        };
        let interval = positive_int("IntervalSeconds", 1)?.unwrap_or(1);
        let max_attempts = positive_int("MaxAttempts", 0)?.unwrap_or(3);
        let max_delay = positive_int("MaxDelaySeconds", 1)?;
        let backoff_rate = match obj.get("BackoffRate") {
            None => 2.0,
            Some(v) => v.as_f64().filter(|r| *r >= 1.0).ok_or_else(|| {
                DefinitionError::new(format!("{at}/BackoffRate"), "must be a number >= 1.0")
            })?,
        };
        let jitter = match obj.get("JitterStrategy").map(|v| v.as_str()) {
            None | Some(Some("NONE")) => Jitter::None,
            Some(Some("FULL")) => Jitter::Full,
            Some(_) => {
                return Err(DefinitionError::new(
                    format!("{at}/JitterStrategy"),
                    "must be FULL or NONE",
                ))
            }
        };
        out.push(Retrier {
            error_equals: error_equals(obj.get("ErrorEquals"), &at)?,
            interval_seconds: interval as f64,
            max_attempts: u32::try_from(max_attempts).unwrap_or(u32::MAX),
            backoff_rate,
            max_delay_seconds: max_delay.map(|d| d as f64),
            jitter,
        });
    }
    let lists: Vec<&[String]> = out.iter().map(|r| r.error_equals.as_slice()).collect();
    check_all_is_last(&lists, at)?;
    Ok(out)
}

/// Parses a `Catch` array (target states are checked by the caller).
pub(crate) fn parse_catch(v: &Value, at: &str) -> Result<Vec<Catcher>, DefinitionError> {
    let list = v
        .as_array()
        .ok_or_else(|| DefinitionError::new(at, "Catch must be an array"))?;
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let at = format!("{at}/{i}");
        let obj = item
            .as_object()
            .ok_or_else(|| DefinitionError::new(&at, "a catcher must be an object"))?;
        check_fields(obj, &["ErrorEquals", "ResultPath", "Next", "Comment"], &at)?;
        let next = obj
            .get("Next")
            .and_then(Value::as_str)
            .ok_or_else(|| DefinitionError::new(&at, "a catcher needs a string 'Next'"))?;
        let result_path = match obj.get("ResultPath") {
            None => ResultPath::Replace,
            Some(Value::Null) => ResultPath::Discard,
            Some(Value::String(p)) => ResultPath::Path(
                Path::parse_reference(p)
                    .map_err(|e| DefinitionError::new(format!("{at}/ResultPath"), e.to_string()))?,
            ),
            Some(_) => {
                return Err(DefinitionError::new(
                    format!("{at}/ResultPath"),
                    "must be a path or null",
                ))
            }
        };
        out.push(Catcher {
            error_equals: error_equals(obj.get("ErrorEquals"), &at)?,
            result_path,
            next: next.to_string(),
        });
    }
    let lists: Vec<&[String]> = out.iter().map(|c| c.error_equals.as_slice()).collect();
    check_all_is_last(&lists, at)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(name: &str) -> StatesError {
        StatesError::new(name, None)
    }

    fn retrier(v: Value) -> Retrier {
        parse_retry(&json!([v]), "/Retry").unwrap().remove(0)
    }

    #[test]
    fn defaults_are_one_second_three_attempts_rate_two() {
        let r = retrier(json!({"ErrorEquals": ["X"]}));
        assert_eq!(
            (r.interval_seconds, r.max_attempts, r.backoff_rate),
            (1.0, 3, 2.0)
        );
        assert_eq!(
            [r.base_delay(1), r.base_delay(2), r.base_delay(3)],
            [1.0, 2.0, 4.0]
        );
    }

    #[test]
    fn backoff_is_capped_by_max_delay() {
        let r = retrier(
            json!({"ErrorEquals": ["X"], "IntervalSeconds": 3, "BackoffRate": 3, "MaxDelaySeconds": 20}),
        );
        assert_eq!(
            [r.base_delay(1), r.base_delay(2), r.base_delay(3)],
            [3.0, 9.0, 20.0]
        );
    }

    #[test]
    fn full_jitter_stays_within_the_computed_delay() {
        let r =
            retrier(json!({"ErrorEquals": ["X"], "IntervalSeconds": 10, "JitterStrategy": "FULL"}));
        let mut rng = fastrand::Rng::with_seed(3);
        let delays: Vec<f64> = (0..20).map(|_| r.delay(2, &mut rng)).collect();
        assert!(delays.iter().all(|d| (0.0..=20.0).contains(d)));
        assert!(
            delays.iter().any(|d| *d < 19.0),
            "jitter must vary the delay"
        );
    }

    #[test]
    fn counter_stops_after_max_attempts_of_the_first_matching_retrier() {
        let retriers = parse_retry(
            &json!([
                {"ErrorEquals": ["A"], "MaxAttempts": 2},
                {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}
            ]),
            "/Retry",
        )
        .unwrap();
        let mut counter = RetryCounter::default();
        let mut rng = fastrand::Rng::with_seed(1);
        assert_eq!(
            counter.next_delay(&retriers, &err("A"), &mut rng),
            Some(1.0)
        );
        assert_eq!(
            counter.next_delay(&retriers, &err("A"), &mut rng),
            Some(2.0)
        );
        // Exhausted: the States.ALL retrier is not consulted for "A".
        assert_eq!(counter.next_delay(&retriers, &err("A"), &mut rng), None);
        assert_eq!(
            counter.next_delay(&retriers, &err("B"), &mut rng),
            Some(1.0)
        );
    }

    #[test]
    fn max_attempts_zero_never_retries() {
        let retriers =
            parse_retry(&json!([{"ErrorEquals": ["A"], "MaxAttempts": 0}]), "/R").unwrap();
        let mut rng = fastrand::Rng::with_seed(1);
        assert_eq!(
            RetryCounter::default().next_delay(&retriers, &err("A"), &mut rng),
            None
        );
    }

    #[test]
    fn wildcards_and_runtime_errors() {
        let all = vec!["States.ALL".to_string()];
        let task = vec!["States.TaskFailed".to_string()];
        assert!(matches(&all, &err("Anything")));
        assert!(matches(&all, &err("States.Timeout")));
        assert!(!matches(&all, &err("States.Runtime")));
        assert!(!matches(
            &["States.Runtime".to_string()],
            &err("States.Runtime")
        ));
        assert!(matches(&task, &err("Lambda.ServiceException")));
        assert!(!matches(&task, &err("States.Timeout")));
    }

    #[test]
    fn catcher_parses_result_path_and_next() {
        let catchers = parse_catch(
            &json!([{"ErrorEquals": ["A"], "ResultPath": "$.error", "Next": "Handle"}]),
            "/Catch",
        )
        .unwrap();
        let c = find_catcher(&catchers, &err("A")).unwrap();
        assert_eq!(c.next, "Handle");
        assert_eq!(
            c.result_path.apply(json!({"x": 1}), json!({"Error": "A"})),
            Ok(json!({"x": 1, "error": {"Error": "A"}}))
        );
        assert!(find_catcher(&catchers, &err("B")).is_none());
    }

    #[test]
    fn states_all_must_be_last_and_alone() {
        assert!(parse_retry(
            &json!([{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["A"]}]),
            "/R"
        )
        .is_err());
        assert!(parse_catch(
            &json!([{"ErrorEquals": ["States.ALL", "A"], "Next": "N"}]),
            "/C"
        )
        .is_err());
        assert!(parse_retry(&json!([{"ErrorEquals": []}]), "/R").is_err());
        assert!(parse_retry(&json!([{"ErrorEquals": ["A"], "BackoffRate": 0.5}]), "/R").is_err());
        assert!(parse_retry(
            &json!([{"ErrorEquals": ["A"], "JitterStrategy": "SOME"}]),
            "/R"
        )
        .is_err());
    }
}
