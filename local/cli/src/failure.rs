//! How a command reports that it could not do its job: a named error and cause as one JSON line
//! on stderr (for scripts), a sentence for people, and an exit code.
//!
//! Exit codes: 1 when the request was refused or failed (an AWS error, no pending approval, an
//! execution that did not succeed), 2 when the input cannot be used (an invalid spec, a missing
//! or unreadable file).

use std::process::ExitCode;

use aurora_core::errors::InvalidInput;
use serde_json::json;

/// The request failed or was refused.
pub(crate) const FAILED: u8 = 1;
/// The input cannot be used.
pub(crate) const BAD_INPUT: u8 = 2;

/// A command's failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// A stable PascalCase name (`InvalidInput`, an AWS error code, `NoPendingApproval`…).
    pub error: String,
    pub cause: String,
    /// What to tell a person, when more helpful than the cause.
    pub hint: Option<String>,
    pub exit_code: u8,
}

impl Failure {
    pub(crate) fn new(error: impl Into<String>, cause: impl Into<String>, exit_code: u8) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
            hint: None,
            exit_code,
        }
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Prints the failure on stderr and returns its exit code.
    pub(crate) fn report(&self) -> ExitCode {
        // `error` first, as Step Functions and the Lambda runtime print it.
        eprintln!(
            "{{\"error\":{},\"cause\":{}}}",
            json!(self.error),
            json!(self.cause)
        );
        eprintln!("error: {}", self.hint.as_deref().unwrap_or(&self.cause));
        ExitCode::from(self.exit_code)
    }
}

impl From<InvalidInput> for Failure {
    fn from(error: InvalidInput) -> Self {
        let hint = format!("the spec is not valid: `{}` {}", error.field, error.reason);
        Failure::new(
            aurora_core::error_names::INVALID_INPUT,
            error.to_string(),
            BAD_INPUT,
        )
        .with_hint(hint)
    }
}
