//! Error values of the engine: the runtime error every state can raise ([`StatesError`], named
//! like a Step Functions error so Retry/Catch can match it) and the reserved `States.*` names.

use serde_json::{json, Value};

/// The `States.*` error names the engine raises or interprets in `ErrorEquals`.
pub mod names {
    /// Wildcard in `ErrorEquals`: every error except [`RUNTIME`] and [`DATA_LIMIT_EXCEEDED`].
    pub const ALL: &str = "States.ALL";
    /// Wildcard in `ErrorEquals` for Task failures: every error except [`TIMEOUT`] (and the
    /// terminal ones [`ALL`] leaves out).
    pub const TASK_FAILED: &str = "States.TaskFailed";
    /// A Task ran longer than `TimeoutSeconds` or missed its `HeartbeatSeconds`.
    pub const TIMEOUT: &str = "States.Timeout";
    /// Raised by the interpreter for a bad path, a bad intrinsic argument, a negative wait …;
    /// never retried or caught: it always fails the execution, as on AWS.
    pub const RUNTIME: &str = "States.Runtime";
    /// A Choice state matched no rule and has no `Default`.
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    /// A payload larger than the service limit; like [`RUNTIME`], not matched by [`ALL`].
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    /// The execution was stopped through the API.
    pub const ABORTED: &str = "States.Aborted";
    /// A Map's failed iterations exceeded its `ToleratedFailureCount`/`…Percentage`.
    pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
}

/// A named error with an optional cause, the unit Step Functions moves between states: what a
/// Task handler returns, what a Fail state raises, and what Retry/Catch match on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}{}", cause.as_ref().map(|c| format!(": {c}")).unwrap_or_default())]
pub struct StatesError {
    /// The error name (`errorType` of a Lambda, `Error` of a Fail state, or `States.*`); empty
    /// for a Fail state without `Error`.
    pub error: String,
    /// Free-text detail.
    pub cause: Option<String>,
}

impl StatesError {
    /// An error with a name and an optional cause.
    pub fn new(error: impl Into<String>, cause: Option<String>) -> Self {
        Self {
            error: error.into(),
            cause,
        }
    }

    /// A `States.Runtime` error with the given detail.
    pub fn runtime(cause: impl Into<String>) -> Self {
        Self::new(names::RUNTIME, Some(cause.into()))
    }

    /// Whether this is the interpreter's own terminal error, which no Retry or Catch handles.
    pub fn is_terminal(&self) -> bool {
        self.error == names::RUNTIME || self.error == names::DATA_LIMIT_EXCEEDED
    }

    /// Whether the error has a name: a Fail state without `Error` raises one without, and AWS
    /// then reports no error field at all (an empty [`error`](Self::error) stands for that).
    pub fn has_name(&self) -> bool {
        !self.error.is_empty()
    }

    /// The error output a Catch passes on: `{"Error": …, "Cause": …}`, each only when known.
    pub fn to_error_output(&self) -> Value {
        let mut out = json!({});
        if self.has_name() {
            out["Error"] = json!(self.error);
        }
        if let Some(cause) = &self.cause {
            out["Cause"] = json!(cause);
        }
        out
    }

    /// The `error`/`cause` details of a failure event, each only when known, as in the
    /// history of Step Functions.
    pub(crate) fn event_details(&self) -> Value {
        let mut out = json!({});
        if self.has_name() {
            out["error"] = json!(self.error);
        }
        if let Some(cause) = &self.cause {
            out["cause"] = json!(cause);
        }
        out
    }

    /// Prefixes a runtime error's cause with the state it happened in, the way AWS words it, so
    /// that a failure deep in a branch still says where it came from. Other errors are unchanged.
    pub(crate) fn located(mut self, state: &str, entered_event_id: u64) -> Self {
        const PREFIX: &str = "An error occurred while executing the state";
        if self.error == names::RUNTIME
            && !self.cause.as_deref().is_some_and(|c| c.starts_with(PREFIX))
        {
            let detail = self.cause.take().unwrap_or_default();
            self.cause = Some(format!(
                "{PREFIX} '{state}' (entered at the event id #{entered_event_id}). {detail}"
            ));
        }
        self
    }
}
