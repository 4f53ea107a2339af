//! Execution history, recorded with the event names and detail fields of Step Functions'
//! `GetExecutionHistory`, so tooling written against AWS can read a local run.
//!
//! Inputs, outputs and parameters are stored as JSON *text* in the details, as AWS does.

use std::fmt;
use std::sync::Mutex;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

macro_rules! event_types {
    ($($name:ident),* $(,)?) => {
        /// The `type` of a history event.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum EventType { $($name),* }

        impl EventType {
            /// The Step Functions name, e.g. `TaskStateEntered`.
            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$name => stringify!($name)),* }
            }
        }
    };
}

event_types!(
    ExecutionStarted,
    ExecutionSucceeded,
    ExecutionFailed,
    ExecutionAborted,
    ExecutionTimedOut,
    TaskStateEntered,
    TaskStateExited,
    TaskScheduled,
    TaskStarted,
    TaskSucceeded,
    TaskFailed,
    TaskTimedOut,
    ChoiceStateEntered,
    ChoiceStateExited,
    WaitStateEntered,
    WaitStateExited,
    PassStateEntered,
    PassStateExited,
    SucceedStateEntered,
    SucceedStateExited,
    FailStateEntered,
    ParallelStateEntered,
    ParallelStateStarted,
    ParallelStateSucceeded,
    ParallelStateFailed,
    ParallelStateExited,
    MapStateEntered,
    MapStateStarted,
    MapStateSucceeded,
    MapStateFailed,
    MapStateExited,
    MapIterationStarted,
    MapIterationSucceeded,
    MapIterationFailed,
    TaskSubmitted,
);

impl EventType {
    /// The field holding this event's details, e.g. `stateEnteredEventDetails`.
    pub fn details_key(self) -> String {
        let name = self.as_str();
        if name.ends_with("StateEntered") {
            return "stateEnteredEventDetails".into();
        }
        if name.ends_with("StateExited") {
            return "stateExitedEventDetails".into();
        }
        let mut chars = name.chars();
        let first = chars.next().map(|c| c.to_ascii_lowercase());
        first.into_iter().chain(chars).collect::<String>() + "EventDetails"
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event of an execution history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    /// 1-based position in the history.
    pub id: u64,
    /// The event this one follows from (0 for the first).
    pub previous_event_id: u64,
    /// When it was recorded.
    pub timestamp: OffsetDateTime,
    /// What happened.
    pub event_type: EventType,
    /// The details object (`Value::Null` when the event has none).
    pub details: Value,
}

impl HistoryEvent {
    /// The state name in the details of a state or iteration event.
    pub fn state_name(&self) -> Option<&str> {
        self.details.get("name").and_then(Value::as_str)
    }
}

impl Serialize for HistoryEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("previousEventId", &self.previous_event_id)?;
        let ts = self
            .timestamp
            .format(&Rfc3339)
            .map_err(serde::ser::Error::custom)?;
        map.serialize_entry("timestamp", &ts)?;
        map.serialize_entry("type", self.event_type.as_str())?;
        if !self.details.is_null() {
            map.serialize_entry(&self.event_type.details_key(), &self.details)?;
        }
        map.end()
    }
}

/// Renders events as JSON lines (one event per line), the format of `--history` files.
pub fn to_json_lines(events: &[HistoryEvent]) -> String {
    events
        .iter()
        .filter_map(|e| serde_json::to_string(e).ok())
        .map(|line| line + "\n")
        .collect()
}

/// The history being recorded; shared by all branches of an execution.
#[derive(Debug, Default)]
pub(crate) struct History {
    events: Mutex<Vec<HistoryEvent>>,
}

impl History {
    /// Appends an event and returns its id.
    pub(crate) fn record(&self, previous: u64, event_type: EventType, details: Value) -> u64 {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let id = events.len() as u64 + 1;
        events.push(HistoryEvent {
            id,
            previous_event_id: previous,
            timestamp: OffsetDateTime::now_utc(),
            event_type,
            details,
        });
        id
    }

    pub(crate) fn snapshot(&self) -> Vec<HistoryEvent> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn details_keys_follow_the_step_functions_names() {
        assert_eq!(
            EventType::PassStateEntered.details_key(),
            "stateEnteredEventDetails"
        );
        assert_eq!(
            EventType::MapStateExited.details_key(),
            "stateExitedEventDetails"
        );
        assert_eq!(
            EventType::TaskScheduled.details_key(),
            "taskScheduledEventDetails"
        );
        assert_eq!(
            EventType::ExecutionFailed.details_key(),
            "executionFailedEventDetails"
        );
        assert_eq!(
            EventType::MapIterationStarted.details_key(),
            "mapIterationStartedEventDetails"
        );
    }

    #[test]
    fn events_serialise_as_json_lines_with_ids_and_type() {
        let history = History::default();
        let first = history.record(0, EventType::ExecutionStarted, json!({"input": "{}"}));
        history.record(
            first,
            EventType::ExecutionSucceeded,
            json!({"output": "{}"}),
        );
        let text = to_json_lines(&history.snapshot());
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["id"], 2);
        assert_eq!(lines[1]["previousEventId"], 1);
        assert_eq!(lines[1]["type"], "ExecutionSucceeded");
        assert_eq!(lines[1]["executionSucceededEventDetails"]["output"], "{}");
        assert!(lines[0]["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}
