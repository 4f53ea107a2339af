//! The states that do no work of their own: Pass, Choice, Succeed and Fail.

use serde_json::Value;

use super::{finish, Entry, Runtime, Step};
use crate::definition::{ChoiceState, FailField, FailState, PassState};
use crate::error::{names, StatesError};
use crate::path::Root;
use crate::template::Expr;

/// Pass: `Result` (a literal, never a template) or the `Parameters` payload, or the effective
/// input, placed by `ResultPath`.
pub(super) fn pass(
    rt: &Runtime,
    entry: &Entry<'_>,
    pass: &PassState,
    raw: Value,
) -> Result<Step, StatesError> {
    let ctx = rt.context(entry, 0);
    let effective = entry.state.input_path.apply(&raw, &ctx)?;
    let result = match (&pass.result, &pass.parameters) {
        (Some(result), _) => result.clone(),
        (None, Some(template)) => rt.with_rng(|rng| template.eval(&effective, &ctx, rng))?,
        (None, None) => effective,
    };
    rt.complete(entry.state, None, &pass.result_path, raw, result, &ctx)
}

/// Choice: the first rule that holds picks `Next`, else `Default`, else
/// `States.NoChoiceMatched`. The output is the effective input filtered by `OutputPath`.
pub(super) fn choice(
    rt: &Runtime,
    entry: &Entry<'_>,
    choice: &ChoiceState,
    raw: Value,
) -> Result<Step, StatesError> {
    let ctx = rt.context(entry, 0);
    let effective = entry.state.input_path.apply(&raw, &ctx)?;
    let mut next = None;
    for rule in &choice.choices {
        if rule.condition.eval(&effective, &ctx)? {
            next = Some(rule.next.clone());
            break;
        }
    }
    let next = next
        .or_else(|| choice.default.clone())
        .ok_or_else(|| StatesError::new(names::NO_CHOICE_MATCHED, None))?;
    let output = entry.state.output_path.apply(&effective, &ctx)?;
    Ok(Step::Next(next, output))
}

/// Succeed: the effective input filtered by `OutputPath`.
pub(super) fn succeed(rt: &Runtime, entry: &Entry<'_>, raw: Value) -> Result<Step, StatesError> {
    let ctx = rt.context(entry, 0);
    let effective = entry.state.input_path.apply(&raw, &ctx)?;
    let output = entry.state.output_path.apply(&effective, &ctx)?;
    Ok(finish(entry.state, output))
}

/// Fail: the error to raise, from literals or `ErrorPath`/`CausePath` (paths or intrinsics on
/// the state input). A path that selects nothing or a non-string is `States.Runtime`.
pub(super) fn fail(rt: &Runtime, entry: &Entry<'_>, fail: &FailState, raw: Value) -> StatesError {
    let ctx = rt.context(entry, 0);
    let resolve = |field: &FailField, name: &str| -> Result<Option<String>, StatesError> {
        match field {
            FailField::Absent => Ok(None),
            FailField::Literal(s) => Ok(Some(s.clone())),
            FailField::Dynamic(Expr::Path(path)) => match path.eval(&raw, &ctx) {
                Ok(Value::String(s)) => Ok(Some(s)),
                Ok(other) => Err(StatesError::runtime(format!(
                    "The {name}Path '{path}' must resolve to a string, got {other}"
                ))),
                // AWS's wording, with the document the path was applied to.
                Err(_) => Err(StatesError::runtime(format!(
                    "The JSONPath '{path}' specified for the field '{name}Path' could not be found in the input '{}'",
                    match path.root() {
                        Root::Input => &raw,
                        Root::Context => &ctx,
                    }
                ))),
            },
            FailField::Dynamic(expr) => match rt.with_rng(|rng| expr.eval(&raw, &ctx, rng))? {
                Value::String(s) => Ok(Some(s)),
                other => Err(StatesError::runtime(format!(
                    "The {name}Path '{}' must resolve to a string, got {other}",
                    expr.text()
                ))),
            },
        }
    };
    let error = match resolve(&fail.error, "Error") {
        Ok(e) => e,
        Err(e) => return e,
    };
    let cause = match resolve(&fail.cause, "Cause") {
        Ok(c) => c,
        Err(e) => return e,
    };
    StatesError::new(error.unwrap_or_default(), cause)
}
