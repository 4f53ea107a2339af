//! A parsed, validated state machine definition.
//!
//! [`Definition::parse`] accepts any Amazon States Language document using the JSONPath query
//! language and rejects invalid ones with a [`DefinitionError`] naming where the problem is
//! (`/States/Check/Next: …`): unknown state types or fields, missing `Next`/`End`, a `StartAt`
//! or `Next` that names no state, unreachable states, malformed paths, templates, intrinsics,
//! choice rules, retriers and catchers.

pub mod choice;
mod parse;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use self::choice::ChoiceRule;
use crate::io::{ResultPath, SelectPath};
use crate::path::Path;
use crate::retry::{Catcher, Retrier};
use crate::template::{Expr, Template};

/// Why a definition was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct DefinitionError {
    /// Where in the document, as a JSON pointer (`/States/Check/Choices/0`).
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl DefinitionError {
    pub(crate) fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        let location = location.into();
        Self {
            location: if location.is_empty() {
                "/".into()
            } else {
                location
            },
            message: message.into(),
        }
    }
}

/// A validated state machine definition, ready to run.
#[derive(Debug, Clone)]
pub struct Definition {
    pub(crate) machine: Arc<StateMachine>,
    source: Value,
}

impl Definition {
    /// Parses and validates an ASL document.
    pub fn parse(text: &str) -> Result<Self, DefinitionError> {
        let source: Value = serde_json::from_str(text)
            .map_err(|e| DefinitionError::new("/", format!("not valid JSON: {e}")))?;
        Self::from_value(source)
    }

    /// Validates an ASL document already parsed as JSON.
    pub fn from_value(source: Value) -> Result<Self, DefinitionError> {
        let machine = parse::machine(&source, "")?;
        Ok(Self {
            machine: Arc::new(machine),
            source,
        })
    }

    /// Replaces `${Name}` in every string of the document with the substitution for `Name`
    /// (as SAM's `DefinitionSubstitutions` does) and validates the result. Placeholders with
    /// no substitution are left as they are.
    pub fn substitute(
        &self,
        substitutions: &HashMap<String, String>,
    ) -> Result<Self, DefinitionError> {
        Self::from_value(substitute_value(&self.source, substitutions))
    }

    /// The JSON document this definition was parsed from.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// The `StartAt` state of the top-level machine.
    pub fn start_at(&self) -> &str {
        &self.machine.start_at
    }

    /// The names of the top-level states, sorted.
    pub fn state_names(&self) -> Vec<&str> {
        self.machine.states.keys().map(String::as_str).collect()
    }

    /// Every distinct Task `Resource` in the definition, branches and iterators included.
    pub fn task_resources(&self) -> Vec<String> {
        fn walk(machine: &StateMachine, out: &mut Vec<String>) {
            for state in machine.states.values() {
                match &state.kind {
                    StateKind::Task(t) if !out.contains(&t.resource) => {
                        out.push(t.resource.clone())
                    }
                    StateKind::Parallel(p) => p.branches.iter().for_each(|b| walk(b, out)),
                    StateKind::Map(m) => walk(&m.processor, out),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.machine, &mut out);
        out
    }
}

fn substitute_value(value: &Value, subs: &HashMap<String, String>) -> Value {
    match value {
        Value::String(s) if s.contains("${") => {
            let mut out = s.clone();
            for (name, replacement) in subs {
                out = out.replace(&format!("${{{name}}}"), replacement);
            }
            Value::String(out)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| substitute_value(v, subs)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute_value(v, subs)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A machine: the top level, a Parallel branch or a Map item processor.
#[derive(Debug)]
pub(crate) struct StateMachine {
    pub start_at: String,
    pub states: BTreeMap<String, State>,
    pub timeout_seconds: Option<u64>,
}

/// One state with the fields every state type shares.
#[derive(Debug)]
pub(crate) struct State {
    pub name: String,
    pub input_path: SelectPath,
    pub output_path: SelectPath,
    pub transition: Transition,
    pub kind: StateKind,
}

/// Where a non-branching state goes next.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Transition {
    Next(String),
    End,
}

#[derive(Debug)]
pub(crate) enum StateKind {
    Pass(PassState),
    Task(Box<TaskState>),
    Choice(ChoiceState),
    Wait(WaitFor),
    Succeed,
    Fail(FailState),
    Parallel(Box<ParallelState>),
    Map(Box<MapState>),
}

#[derive(Debug)]
pub(crate) struct PassState {
    pub parameters: Option<Template>,
    pub result: Option<Value>,
    pub result_path: ResultPath,
}

/// A number of seconds given literally or by a path into the effective input.
#[derive(Debug, Clone)]
pub(crate) enum Seconds {
    Fixed(u64),
    Path(Path),
}

#[derive(Debug)]
pub(crate) struct TaskState {
    pub resource: String,
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    pub result_path: ResultPath,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub timeout: Option<Seconds>,
    pub heartbeat: Option<Seconds>,
}

#[derive(Debug)]
pub(crate) struct ChoiceState {
    pub choices: Vec<ChoiceRule>,
    pub default: Option<String>,
}

/// Parses a timestamp of Wait (`Timestamp…`) or Choice (`Timestamp…` operators, `IsTimestamp`)
/// the way Step Functions does: an ISO-8601 extended offset date-time with `T` between date and
/// time (RFC 3339 also allows a space, AWS does not), seconds present, a fraction of any length,
/// `Z` or a numeric offset, no leap second.
pub(crate) fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    let bytes = text.as_bytes();
    if !matches!(bytes.get(10), Some(b'T' | b't')) || bytes.get(17..19) == Some(b"60") {
        return None;
    }
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

#[derive(Debug)]
pub(crate) enum WaitFor {
    Seconds(u64),
    SecondsPath(Path),
    Timestamp(OffsetDateTime),
    TimestampPath(Path),
}

/// `Error`/`Cause` of a Fail state: absent, literal, or from `ErrorPath`/`CausePath`.
#[derive(Debug)]
pub(crate) enum FailField {
    Absent,
    Literal(String),
    Dynamic(Expr),
}

#[derive(Debug)]
pub(crate) struct FailState {
    pub error: FailField,
    pub cause: FailField,
}

#[derive(Debug)]
pub(crate) struct ParallelState {
    pub branches: Vec<Arc<StateMachine>>,
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    pub result_path: ResultPath,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

#[derive(Debug)]
pub(crate) enum Concurrency {
    Fixed(u64),
    Path(Path),
}

/// A tolerated failure count or percentage given literally or by a path.
#[derive(Debug)]
pub(crate) enum Tolerance {
    Fixed(f64),
    Path(Path),
}

#[derive(Debug)]
pub(crate) struct MapState {
    /// `ToleratedFailureCount`/`…Path`: absent means no failure is tolerated.
    pub tolerated_count: Option<Tolerance>,
    /// `ToleratedFailurePercentage`/`…Path`.
    pub tolerated_percentage: Option<Tolerance>,
    pub processor: Arc<StateMachine>,
    pub items_path: SelectPath,
    pub item_selector: Option<Template>,
    pub max_concurrency: Concurrency,
    pub result_selector: Option<Template>,
    pub result_path: ResultPath,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

#[cfg(test)]
mod tests;
