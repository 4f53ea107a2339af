//! Turns the JSON document into [`StateMachine`]s, checking every rule of the specification
//! that can be checked before running.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::choice::parse_rule;
use super::{
    parse_timestamp, ChoiceState, Concurrency, DefinitionError, FailField, FailState, MapState,
    ParallelState, PassState, Seconds, State, StateKind, StateMachine, TaskState, Tolerance,
    Transition, WaitFor,
};
use crate::io::{ResultPath, SelectPath};
use crate::path::Path;
use crate::retry::{parse_catch, parse_retry};
use crate::template::{Expr, Template};

/// ASL fields this engine knows but does not implement; named so the error says so plainly.
const UNSUPPORTED: &[&str] = &[
    "Assign",
    "Output",
    "Arguments",
    "Credentials",
    "ItemReader",
    "ItemBatcher",
    "ResultWriter",
];

const IO: &[&str] = &["InputPath", "OutputPath"];
const FLOW: &[&str] = &["Next", "End"];

fn fields_for(type_name: &str) -> Option<Vec<&'static str>> {
    let specific: &[&str] = match type_name {
        "Pass" => &["ResultPath", "Parameters", "Result"],
        "Task" => &[
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Resource",
            "Retry",
            "Catch",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
        ],
        "Choice" => &["Choices", "Default"],
        "Wait" => &["Seconds", "SecondsPath", "Timestamp", "TimestampPath"],
        "Succeed" => &[],
        "Fail" => &["Error", "ErrorPath", "Cause", "CausePath"],
        "Parallel" => &[
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Branches",
            "Retry",
            "Catch",
        ],
        "Map" => &[
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "ItemsPath",
            "ItemSelector",
            "Iterator",
            "ItemProcessor",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "Retry",
            "Catch",
            "ToleratedFailureCount",
            "ToleratedFailureCountPath",
            "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath",
            "Label",
        ],
        _ => return None,
    };
    let mut all = vec!["Type", "Comment", "QueryLanguage"];
    if type_name != "Fail" {
        all.extend_from_slice(IO);
    }
    if !matches!(type_name, "Choice" | "Succeed" | "Fail") {
        all.extend_from_slice(FLOW);
    }
    all.extend_from_slice(specific);
    Some(all)
}

fn check_fields(
    obj: &Map<String, Value>,
    allowed: &[&str],
    what: &str,
    at: &str,
) -> Result<(), DefinitionError> {
    for key in obj.keys() {
        if allowed.contains(&key.as_str()) {
            continue;
        }
        let message = if UNSUPPORTED.contains(&key.as_str()) {
            format!("field '{key}' is not supported by this engine")
        } else {
            format!("unknown field '{key}' for {what}")
        };
        return Err(DefinitionError::new(format!("{at}/{key}"), message));
    }
    Ok(())
}

fn check_query_language(obj: &Map<String, Value>, at: &str) -> Result<(), DefinitionError> {
    match obj.get("QueryLanguage") {
        None => Ok(()),
        Some(Value::String(s)) if s == "JSONPath" => Ok(()),
        Some(other) => Err(DefinitionError::new(
            format!("{at}/QueryLanguage"),
            format!("only the JSONPath query language is supported, not {other}"),
        )),
    }
}

/// Parses a machine (top level, Parallel branch or Map processor) at JSON pointer `at`.
pub(super) fn machine(value: &Value, at: &str) -> Result<StateMachine, DefinitionError> {
    machine_with(value, at, &[])
}

fn machine_with(value: &Value, at: &str, extra: &[&str]) -> Result<StateMachine, DefinitionError> {
    let obj = value
        .as_object()
        .ok_or_else(|| DefinitionError::new(at, "a state machine must be a JSON object"))?;
    let mut allowed = vec![
        "StartAt",
        "States",
        "Comment",
        "Version",
        "TimeoutSeconds",
        "QueryLanguage",
    ];
    allowed.extend_from_slice(extra);
    check_fields(obj, &allowed, "a state machine", at)?;
    check_query_language(obj, at)?;
    let start_at = obj
        .get("StartAt")
        .and_then(Value::as_str)
        .ok_or_else(|| DefinitionError::new(at, "'StartAt' (a state name) is required"))?
        .to_string();
    let states_obj = obj
        .get("States")
        .and_then(Value::as_object)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| DefinitionError::new(at, "'States' must be a non-empty object"))?;
    let timeout_seconds = match obj.get("TimeoutSeconds") {
        None => None,
        Some(v) => Some(v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
            DefinitionError::new(format!("{at}/TimeoutSeconds"), "must be a positive integer")
        })?),
    };
    let mut states = BTreeMap::new();
    for (name, v) in states_obj {
        let state_at = format!("{at}/States/{name}");
        if name.is_empty() || name.chars().count() > 80 {
            return Err(DefinitionError::new(
                &state_at,
                "a state name must have 1 to 80 characters",
            ));
        }
        states.insert(name.clone(), state(name, v, &state_at)?);
    }
    if !states.contains_key(&start_at) {
        return Err(DefinitionError::new(
            format!("{at}/StartAt"),
            format!("'{start_at}' does not name a state in 'States'"),
        ));
    }
    for state in states.values() {
        for (field, target) in targets(state) {
            if !states.contains_key(target) {
                return Err(DefinitionError::new(
                    format!("{at}/States/{}/{field}", state.name),
                    format!("'{target}' does not name a state in this scope"),
                ));
            }
        }
    }
    let mut reached = BTreeSet::from([start_at.as_str()]);
    let mut queue = VecDeque::from([start_at.as_str()]);
    while let Some(name) = queue.pop_front() {
        for (_, target) in targets(&states[name]) {
            if reached.insert(target) {
                queue.push_back(target);
            }
        }
    }
    if let Some(unreached) = states.keys().find(|n| !reached.contains(n.as_str())) {
        return Err(DefinitionError::new(
            format!("{at}/States/{unreached}"),
            "state is not reachable from StartAt",
        ));
    }
    Ok(StateMachine {
        start_at,
        states,
        timeout_seconds,
    })
}

/// Every state name a state can transition to, with the field that names it.
fn targets(state: &State) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    if let Transition::Next(n) = &state.transition {
        out.push(("Next".to_string(), n.as_str()));
    }
    let catchers = match &state.kind {
        StateKind::Choice(c) => {
            for (i, rule) in c.choices.iter().enumerate() {
                out.push((format!("Choices/{i}/Next"), rule.next.as_str()));
            }
            if let Some(d) = &c.default {
                out.push(("Default".to_string(), d.as_str()));
            }
            &[][..]
        }
        StateKind::Task(t) => &t.catch[..],
        StateKind::Parallel(p) => &p.catch[..],
        StateKind::Map(m) => &m.catch[..],
        _ => &[][..],
    };
    for (i, c) in catchers.iter().enumerate() {
        out.push((format!("Catch/{i}/Next"), c.next.as_str()));
    }
    out
}

struct Fields<'a> {
    obj: &'a Map<String, Value>,
    at: &'a str,
}

impl Fields<'_> {
    fn loc(&self, key: &str) -> String {
        format!("{}/{key}", self.at)
    }

    fn err(&self, key: &str, message: impl Into<String>) -> DefinitionError {
        DefinitionError::new(self.loc(key), message)
    }

    fn string(&self, key: &str) -> Result<Option<&str>, DefinitionError> {
        match self.obj.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(key, "must be a string")),
        }
    }

    fn path(&self, key: &str) -> Result<Option<Path>, DefinitionError> {
        self.string(key)?
            .map(|s| Path::parse(s).map_err(|e| self.err(key, e.to_string())))
            .transpose()
    }

    fn select_path(&self, key: &str) -> Result<SelectPath, DefinitionError> {
        match self.obj.get(key) {
            None => Ok(SelectPath::Whole),
            Some(Value::Null) => Ok(SelectPath::Empty),
            Some(Value::String(s)) => Path::parse(s)
                .map(SelectPath::Path)
                .map_err(|e| self.err(key, e.to_string())),
            Some(_) => Err(self.err(key, "must be a path or null")),
        }
    }

    fn result_path(&self) -> Result<ResultPath, DefinitionError> {
        match self.obj.get("ResultPath") {
            None => Ok(ResultPath::Replace),
            Some(Value::Null) => Ok(ResultPath::Discard),
            Some(Value::String(s)) => Path::parse_reference(s)
                .map(ResultPath::Path)
                .map_err(|e| self.err("ResultPath", e.to_string())),
            Some(_) => Err(self.err("ResultPath", "must be a reference path or null")),
        }
    }

    fn template(&self, key: &str) -> Result<Option<Template>, DefinitionError> {
        self.obj
            .get(key)
            .map(|v| Template::parse(v).map_err(|e| self.err(key, e)))
            .transpose()
    }

    fn non_negative(&self, key: &str, min: u64) -> Result<Option<u64>, DefinitionError> {
        match self.obj.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|n| *n >= min)
                .map(Some)
                .ok_or_else(|| self.err(key, format!("must be an integer >= {min}"))),
        }
    }

    fn seconds(&self, key: &str) -> Result<Option<Seconds>, DefinitionError> {
        let path_key = format!("{key}Path");
        match (self.non_negative(key, 1)?, self.path(&path_key)?) {
            (Some(_), Some(_)) => Err(self.err(key, format!("cannot be combined with {path_key}"))),
            (Some(n), None) => Ok(Some(Seconds::Fixed(n))),
            (None, Some(p)) => Ok(Some(Seconds::Path(p))),
            (None, None) => Ok(None),
        }
    }

    fn fail_field(&self, key: &str) -> Result<FailField, DefinitionError> {
        let path_key = format!("{key}Path");
        match (self.string(key)?, self.string(&path_key)?) {
            (Some(_), Some(_)) => Err(self.err(key, format!("cannot be combined with {path_key}"))),
            (Some(s), None) => Ok(FailField::Literal(s.to_string())),
            (None, Some(p)) => Expr::parse(p)
                .map(FailField::Dynamic)
                .map_err(|e| self.err(&path_key, e)),
            (None, None) => Ok(FailField::Absent),
        }
    }
}

fn state(name: &str, value: &Value, at: &str) -> Result<State, DefinitionError> {
    let obj = value
        .as_object()
        .ok_or_else(|| DefinitionError::new(at, "a state must be a JSON object"))?;
    let type_name = match obj.get("Type") {
        Some(Value::String(t)) => t.as_str(),
        _ => return Err(DefinitionError::new(at, "'Type' (a string) is required")),
    };
    let allowed = fields_for(type_name).ok_or_else(|| {
        DefinitionError::new(
            format!("{at}/Type"),
            format!("unknown state type '{type_name}' (expected Pass, Task, Choice, Wait, Succeed, Fail, Parallel or Map)"),
        )
    })?;
    check_fields(obj, &allowed, &format!("a {type_name} state"), at)?;
    check_query_language(obj, at)?;
    let f = Fields { obj, at };

    let terminal_kind = matches!(type_name, "Choice" | "Succeed" | "Fail");
    let transition = if terminal_kind {
        Transition::End
    } else {
        let next = f.string("Next")?;
        let end = match obj.get("End") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(f.err("End", "must be a boolean")),
        };
        match (next, end) {
            (Some(_), true) => {
                return Err(DefinitionError::new(
                    at,
                    "a state cannot have both 'Next' and 'End: true'",
                ))
            }
            (Some(n), false) => Transition::Next(n.to_string()),
            (None, true) => Transition::End,
            (None, false) => {
                return Err(DefinitionError::new(
                    at,
                    format!("a {type_name} state needs 'Next' or 'End: true'"),
                ))
            }
        }
    };

    let kind = match type_name {
        "Pass" => StateKind::Pass(PassState {
            parameters: f.template("Parameters")?,
            result: obj.get("Result").cloned(),
            result_path: f.result_path()?,
        }),
        "Task" => {
            let resource = f
                .string("Resource")?
                .ok_or_else(|| DefinitionError::new(at, "a Task state needs a 'Resource'"))?
                .to_string();
            let timeout = f.seconds("TimeoutSeconds")?;
            let heartbeat = f.seconds("HeartbeatSeconds")?;
            if let (Some(Seconds::Fixed(t)), Some(Seconds::Fixed(h))) = (&timeout, &heartbeat) {
                if h >= t {
                    return Err(f.err("HeartbeatSeconds", "must be smaller than TimeoutSeconds"));
                }
            }
            StateKind::Task(Box::new(TaskState {
                resource,
                parameters: f.template("Parameters")?,
                result_selector: f.template("ResultSelector")?,
                result_path: f.result_path()?,
                retry: retry(&f)?,
                catch: catch(&f)?,
                timeout,
                heartbeat,
            }))
        }
        "Choice" => {
            let list = obj
                .get("Choices")
                .and_then(Value::as_array)
                .filter(|l| !l.is_empty())
                .ok_or_else(|| {
                    f.err(
                        "Choices",
                        "a Choice state needs a non-empty 'Choices' array",
                    )
                })?;
            let choices = list
                .iter()
                .enumerate()
                .map(|(i, rule)| parse_rule(rule, &format!("{at}/Choices/{i}")))
                .collect::<Result<_, _>>()?;
            StateKind::Choice(ChoiceState {
                choices,
                default: f.string("Default")?.map(str::to_string),
            })
        }
        "Wait" => {
            let present: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
                .into_iter()
                .filter(|k| obj.contains_key(*k))
                .collect();
            let [which] = present.as_slice() else {
                return Err(DefinitionError::new(
                    at,
                    "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath",
                ));
            };
            StateKind::Wait(match *which {
                "Seconds" => WaitFor::Seconds(f.non_negative("Seconds", 0)?.unwrap_or(0)),
                "SecondsPath" => WaitFor::SecondsPath(
                    f.path("SecondsPath")?
                        .ok_or_else(|| f.err("SecondsPath", "must be a path"))?,
                ),
                "Timestamp" => {
                    let text = f.string("Timestamp")?.unwrap_or_default();
                    WaitFor::Timestamp(parse_timestamp(text).ok_or_else(|| {
                        f.err(
                            "Timestamp",
                            format!("'{text}' is not an RFC 3339 timestamp"),
                        )
                    })?)
                }
                _ => WaitFor::TimestampPath(
                    f.path("TimestampPath")?
                        .ok_or_else(|| f.err("TimestampPath", "must be a path"))?,
                ),
            })
        }
        "Succeed" => StateKind::Succeed,
        "Fail" => StateKind::Fail(FailState {
            error: f.fail_field("Error")?,
            cause: f.fail_field("Cause")?,
        }),
        "Parallel" => {
            let list = obj
                .get("Branches")
                .and_then(Value::as_array)
                .filter(|l| !l.is_empty())
                .ok_or_else(|| {
                    f.err(
                        "Branches",
                        "a Parallel state needs a non-empty 'Branches' array",
                    )
                })?;
            let branches = list
                .iter()
                .enumerate()
                .map(|(i, b)| machine(b, &format!("{at}/Branches/{i}")).map(Arc::new))
                .collect::<Result<_, _>>()?;
            StateKind::Parallel(Box::new(ParallelState {
                branches,
                parameters: f.template("Parameters")?,
                result_selector: f.template("ResultSelector")?,
                result_path: f.result_path()?,
                retry: retry(&f)?,
                catch: catch(&f)?,
            }))
        }
        "Map" => StateKind::Map(Box::new(map_state(&f)?)),
        _ => unreachable!("fields_for accepted only known types"),
    };
    Ok(State {
        name: name.to_string(),
        input_path: f.select_path("InputPath")?,
        output_path: f.select_path("OutputPath")?,
        transition,
        kind,
    })
}

fn retry(f: &Fields<'_>) -> Result<Vec<crate::retry::Retrier>, DefinitionError> {
    f.obj
        .get("Retry")
        .map(|v| parse_retry(v, &f.loc("Retry")))
        .transpose()
        .map(Option::unwrap_or_default)
}

fn catch(f: &Fields<'_>) -> Result<Vec<crate::retry::Catcher>, DefinitionError> {
    f.obj
        .get("Catch")
        .map(|v| parse_catch(v, &f.loc("Catch")))
        .transpose()
        .map(Option::unwrap_or_default)
}

fn map_state(f: &Fields<'_>) -> Result<MapState, DefinitionError> {
    let processor = match (f.obj.get("ItemProcessor"), f.obj.get("Iterator")) {
        (Some(_), Some(_)) => {
            return Err(f.err(
                "Iterator",
                "use either ItemProcessor or the legacy Iterator, not both",
            ))
        }
        // AWS accepts a ProcessorConfig in the legacy Iterator as well.
        (Some(p), None) => processor(p, &f.loc("ItemProcessor"))?,
        (None, Some(it)) => processor(it, &f.loc("Iterator"))?,
        (None, None) => {
            return Err(DefinitionError::new(
                f.at,
                "a Map state needs an 'ItemProcessor' (or legacy 'Iterator')",
            ))
        }
    };
    let item_selector = match (f.template("ItemSelector")?, f.template("Parameters")?) {
        (Some(_), Some(_)) => {
            return Err(f.err(
                "Parameters",
                "use either ItemSelector or the legacy Parameters, not both",
            ))
        }
        (a, b) => a.or(b),
    };
    let max_concurrency = match (
        f.non_negative("MaxConcurrency", 0)?,
        f.path("MaxConcurrencyPath")?,
    ) {
        (Some(_), Some(_)) => {
            return Err(f.err(
                "MaxConcurrency",
                "cannot be combined with MaxConcurrencyPath",
            ))
        }
        (Some(n), None) => Concurrency::Fixed(n),
        (None, Some(p)) => Concurrency::Path(p),
        (None, None) => Concurrency::Fixed(0),
    };
    let tolerated_count = match (
        f.non_negative("ToleratedFailureCount", 0)?,
        f.path("ToleratedFailureCountPath")?,
    ) {
        (Some(_), Some(_)) => {
            return Err(f.err(
                "ToleratedFailureCount",
                "cannot be combined with ToleratedFailureCountPath",
            ))
        }
        (Some(n), None) => Some(Tolerance::Fixed(n as f64)),
        (None, Some(p)) => Some(Tolerance::Path(p)),
        (None, None) => None,
    };
    let percentage = match f.obj.get("ToleratedFailurePercentage") {
        None => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|p| (0.0..=100.0).contains(p))
                .ok_or_else(|| {
                    f.err(
                        "ToleratedFailurePercentage",
                        "must be a number from 0 to 100",
                    )
                })?,
        ),
    };
    let tolerated_percentage = match (percentage, f.path("ToleratedFailurePercentagePath")?) {
        (Some(_), Some(_)) => {
            return Err(f.err(
                "ToleratedFailurePercentage",
                "cannot be combined with ToleratedFailurePercentagePath",
            ))
        }
        (Some(p), None) => Some(Tolerance::Fixed(p)),
        (None, Some(p)) => Some(Tolerance::Path(p)),
        (None, None) => None,
    };
    if let Some(label) = f.string("Label")? {
        check_label(label).map_err(|e| f.err("Label", e))?;
    }
    Ok(MapState {
        tolerated_count,
        tolerated_percentage,
        processor: Arc::new(processor),
        items_path: f.select_path("ItemsPath")?,
        item_selector,
        max_concurrency,
        result_selector: f.template("ResultSelector")?,
        result_path: f.result_path()?,
        retry: retry(f)?,
        catch: catch(f)?,
    })
}

/// An `ItemProcessor` (or legacy `Iterator`): a machine with an optional `ProcessorConfig`.
fn processor(value: &Value, at: &str) -> Result<StateMachine, DefinitionError> {
    if let Some(mode) = value.pointer("/ProcessorConfig/Mode") {
        if mode != "INLINE" && mode != "DISTRIBUTED" {
            return Err(DefinitionError::new(
                format!("{at}/ProcessorConfig/Mode"),
                "must be INLINE or DISTRIBUTED",
            ));
        }
    }
    machine_with(value, at, &["ProcessorConfig"])
}

/// A Map run's `Label`: 1 to 40 characters, none of them whitespace, a control character, a
/// quote or backquote, or one of `? * < > { } [ ] : ; , \ | ^ ~ $ # % &` (the characters Step
/// Functions refuses in names).
fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() || label.chars().count() > 40 {
        return Err("must have 1 to 40 characters".into());
    }
    match label
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "?*<>{}[]:;,\\|^~$#%&`\"".contains(*c))
    {
        Some(c) => Err(format!("contains the invalid character {c:?}")),
        None => Ok(()),
    }
}
