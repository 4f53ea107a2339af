//! Where an execution's time went, read from its history (whose events carry timestamps):
//!
//! - **handler** time: from `TaskScheduled` to the task's `TaskSucceeded`/`TaskFailed`/
//!   `TaskTimedOut`, for every step function (Lambda) task: the steps' work, which is almost
//!   all waiting on the databases;
//! - **wait** time: `WaitStateEntered` to `WaitStateExited` (poll intervals, time-scaled) plus
//!   retry back-off (a task's failure to its next `TaskScheduled` in the same state);
//! - **approval** time: a `.waitForTaskToken` task waiting for its answer;
//! - **orchestration overhead**: the execution's wall time minus all of the above: the engine's
//!   own work (state transitions, path processing, history) and the in-process notifications.
//!
//! Executions here are sequential (the definition has no Parallel or Map), so the intervals do
//! not overlap and the subtraction is exact.

use std::collections::BTreeMap;

use asl_engine::HistoryEvent;
use serde::Serialize;
use time::OffsetDateTime;

/// Time spent in one Task state's handler over all its invocations.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepTime {
    pub state: String,
    pub invocations: u32,
    pub total_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timing {
    pub wall_ms: f64,
    pub handler_ms: f64,
    pub wait_ms: f64,
    pub approval_ms: f64,
    pub overhead_ms: f64,
    /// In order of first invocation.
    pub steps: Vec<StepTime>,
}

fn ms(from: OffsetDateTime, to: OffsetDateTime) -> f64 {
    ((to - from).whole_microseconds() as f64 / 1000.0).max(0.0)
}

fn kind(event: &HistoryEvent) -> &'static str {
    event.event_type.as_str()
}

/// The breakdown of `history` (a whole execution, or its prefix so far).
pub fn timing(history: &[HistoryEvent]) -> Timing {
    let mut handler = 0.0;
    let mut wait = 0.0;
    let mut approval = 0.0;
    let mut steps: Vec<StepTime> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut state = String::new();
    // (scheduled at, is a step function, waits for a token)
    let mut open: Option<(OffsetDateTime, bool, bool)> = None;
    let mut failed_at: Option<OffsetDateTime> = None;
    let mut wait_entered: Option<OffsetDateTime> = None;
    for event in history {
        match kind(event) {
            "TaskStateEntered" => {
                state = event.state_name().unwrap_or_default().to_string();
                failed_at = None;
            }
            "TaskScheduled" => {
                if let Some(failed) = failed_at.take() {
                    wait += ms(failed, event.timestamp);
                }
                let resource = event
                    .details
                    .get("resource")
                    .and_then(|r| r.as_str())
                    .unwrap_or_default();
                let resource_type = event
                    .details
                    .get("resourceType")
                    .and_then(|r| r.as_str())
                    .unwrap_or_default();
                let token = resource.ends_with(".waitForTaskToken");
                let function = resource_type == "lambda" || resource.contains("function");
                open = Some((event.timestamp, function, token));
            }
            "TaskSucceeded" | "TaskFailed" | "TaskTimedOut" => {
                if let Some((at, function, token)) = open.take() {
                    let spent = ms(at, event.timestamp);
                    if token {
                        approval += spent;
                    } else if function {
                        handler += spent;
                        let i = *index.entry(state.clone()).or_insert_with(|| {
                            steps.push(StepTime {
                                state: state.clone(),
                                invocations: 0,
                                total_ms: 0.0,
                            });
                            steps.len() - 1
                        });
                        steps[i].invocations += 1;
                        steps[i].total_ms += spent;
                    }
                }
                if kind(event) != "TaskSucceeded" {
                    failed_at = Some(event.timestamp);
                }
            }
            "TaskStateExited" => failed_at = None,
            "WaitStateEntered" => wait_entered = Some(event.timestamp),
            "WaitStateExited" => {
                if let Some(at) = wait_entered.take() {
                    wait += ms(at, event.timestamp);
                }
            }
            _ => {}
        }
    }
    let wall = match (history.first(), history.last()) {
        (Some(first), Some(last)) => ms(first.timestamp, last.timestamp),
        _ => 0.0,
    };
    for step in &mut steps {
        step.total_ms = round(step.total_ms);
    }
    Timing {
        wall_ms: round(wall),
        handler_ms: round(handler),
        wait_ms: round(wait),
        approval_ms: round(approval),
        overhead_ms: round((wall - handler - wait - approval).max(0.0)),
        steps,
    }
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// When the first invocation of Task state `state` was scheduled.
pub fn first_scheduled(history: &[HistoryEvent], state: &str) -> Option<OffsetDateTime> {
    let mut current = "";
    for event in history {
        if kind(event) == "TaskStateEntered" {
            current = event.state_name().unwrap_or_default();
        } else if kind(event) == "TaskScheduled" && current == state {
            return Some(event.timestamp);
        }
    }
    None
}

/// When the source was fenced: `fencedAt` in the last FenceWrites result (taken after its
/// catch-up, just before the fence goes on); `None` if it never succeeded.
pub fn fenced_at(history: &[HistoryEvent]) -> Option<OffsetDateTime> {
    fenced_at_by(history, "FenceWrites")
}

/// `fencedAt` in the last result of the fencing Task state `state` (`FenceNewCluster` fences
/// the new cluster for a failback).
pub fn fenced_at_by(history: &[HistoryEvent], state: &str) -> Option<OffsetDateTime> {
    let mut current = "";
    let mut found = None;
    for event in history {
        if kind(event) == "TaskStateEntered" {
            current = event.state_name().unwrap_or_default();
        } else if kind(event) == "TaskSucceeded" && current == state {
            found = event
                .details
                .get("output")
                .and_then(serde_json::Value::as_str)
                .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
                .and_then(|o| {
                    o.get("fencedAt")
                        .and_then(|t| t.as_str().map(str::to_string))
                })
                .and_then(|t| {
                    OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok()
                })
                .or(found);
        }
    }
    found
}

/// Real time spent in Wait state `state`, over all its visits (`None` if never entered).
pub fn wait_state_ms(history: &[HistoryEvent], state: &str) -> Option<f64> {
    let mut entered = None;
    let mut total = None;
    for event in history {
        match kind(event) {
            "WaitStateEntered" if event.state_name() == Some(state) => {
                entered = Some(event.timestamp);
            }
            "WaitStateExited" if event.state_name() == Some(state) => {
                if let Some(at) = entered.take() {
                    *total.get_or_insert(0.0) += ms(at, event.timestamp);
                }
            }
            _ => {}
        }
    }
    total
}

/// The state document `state` was last entered with (a failed execution has no output: the
/// document its last states saw stands in for it).
pub fn document_entering(history: &[HistoryEvent], state: &str) -> Option<serde_json::Value> {
    history
        .iter()
        .rev()
        .filter(|e| kind(e).ends_with("StateEntered") && e.state_name() == Some(state))
        .find_map(|e| serde_json::from_str(e.details.get("input")?.as_str()?).ok())
}

/// When Task state `state` last succeeded.
pub fn last_succeeded(history: &[HistoryEvent], state: &str) -> Option<OffsetDateTime> {
    let mut current = "";
    let mut found = None;
    for event in history {
        if kind(event) == "TaskStateEntered" {
            current = event.state_name().unwrap_or_default();
        } else if kind(event) == "TaskSucceeded" && current == state {
            found = Some(event.timestamp);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use asl_engine::EventType;
    use serde_json::json;

    fn event(
        id: u64,
        at_ms: i64,
        event_type: EventType,
        details: serde_json::Value,
    ) -> HistoryEvent {
        HistoryEvent {
            id,
            previous_event_id: id.saturating_sub(1),
            timestamp: OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(at_ms),
            event_type,
            details,
        }
    }

    #[test]
    fn fenced_at_is_read_from_the_last_fence_result_not_the_task_start() {
        use EventType::*;
        let output =
            |at: &str| json!({"output": json!({"fencedAt": at, "fenced": true}).to_string()});
        let history = vec![
            event(1, 0, TaskStateEntered, json!({"name": "FenceWrites"})),
            event(2, 1, TaskScheduled, json!({})),
            event(3, 900, TaskSucceeded, output("1970-01-01T00:00:00.800Z")),
            event(4, 901, TaskStateEntered, json!({"name": "Drain"})),
            event(5, 950, TaskSucceeded, output("1970-01-01T00:00:00.001Z")),
        ];
        assert_eq!(
            fenced_at(&history),
            Some(OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(800))
        );
        assert_eq!(fenced_at(&history[..2]), None);
    }

    #[test]
    fn overhead_is_wall_time_minus_handlers_waits_retries_and_approvals() {
        use EventType::*;
        let lambda = json!({"resourceType": "lambda", "resource": "function:drain"});
        let token = json!({"resourceType": "sns", "resource": "publish.waitForTaskToken"});
        let history = vec![
            event(1, 0, ExecutionStarted, json!({})),
            event(2, 1, TaskStateEntered, json!({"name": "Drain"})),
            event(3, 2, TaskScheduled, lambda.clone()),
            event(4, 12, TaskFailed, json!({})),
            // retry back-off of 20 ms
            event(5, 32, TaskScheduled, lambda.clone()),
            event(6, 42, TaskSucceeded, json!({})),
            event(7, 43, TaskStateExited, json!({"name": "Drain"})),
            event(8, 44, WaitStateEntered, json!({"name": "WaitForDrain"})),
            event(9, 144, WaitStateExited, json!({"name": "WaitForDrain"})),
            event(10, 145, TaskStateEntered, json!({"name": "AwaitApproval"})),
            event(11, 146, TaskScheduled, token),
            event(12, 346, TaskSucceeded, json!({})),
            event(13, 350, ExecutionSucceeded, json!({})),
        ];
        let t = timing(&history);
        assert_eq!(t.wall_ms, 350.0);
        assert_eq!(t.handler_ms, 20.0);
        assert_eq!(t.wait_ms, 120.0);
        assert_eq!(t.approval_ms, 200.0);
        assert_eq!(t.overhead_ms, 10.0);
        assert_eq!(
            t.steps,
            vec![StepTime {
                state: "Drain".into(),
                invocations: 2,
                total_ms: 20.0
            }]
        );
        assert_eq!(
            first_scheduled(&history, "Drain"),
            Some(OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(2))
        );
        assert_eq!(
            last_succeeded(&history, "Drain"),
            Some(OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(42))
        );
    }
}
