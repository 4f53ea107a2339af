//! Input and output processing: `InputPath` → (`Parameters`) → the state's work →
//! (`ResultSelector`) → `ResultPath` → `OutputPath`.
//!
//! `InputPath`/`OutputPath` absent mean `$`; `null` means `{}`. `ResultPath` absent means the
//! result replaces the input, `null` means the result is discarded and the raw input passes
//! through, a path places the result inside the raw input (creating missing objects).

use serde_json::{json, Value};

use crate::error::StatesError;
use crate::path::Path;

/// `InputPath` or `OutputPath`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum SelectPath {
    /// Field absent: the whole document (`$`).
    #[default]
    Whole,
    /// `null`: an empty object.
    Empty,
    /// A path selecting part of the document.
    Path(Path),
}

impl SelectPath {
    /// Applies the selection; a definite path that matches nothing is `States.Runtime`.
    pub fn apply(&self, document: &Value, context: &Value) -> Result<Value, StatesError> {
        match self {
            SelectPath::Whole => Ok(document.clone()),
            SelectPath::Empty => Ok(json!({})),
            SelectPath::Path(path) => path
                .eval(document, context)
                .map_err(|e| StatesError::runtime(e.to_string())),
        }
    }
}

/// `ResultPath`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ResultPath {
    /// Field absent (or `$`): the result becomes the output.
    #[default]
    Replace,
    /// `null`: the result is discarded and the raw input is the output.
    Discard,
    /// A reference path inside the raw input.
    Path(Path),
}

impl ResultPath {
    /// Combines the raw state input with the state's result.
    pub fn apply(&self, raw_input: Value, result: Value) -> Result<Value, StatesError> {
        match self {
            ResultPath::Replace => Ok(result),
            ResultPath::Discard => Ok(raw_input),
            ResultPath::Path(path) => path.set(raw_input, result).map_err(StatesError::runtime),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(p: &str) -> ResultPath {
        ResultPath::Path(Path::parse_reference(p).unwrap())
    }

    #[test]
    fn absent_input_path_passes_everything_and_null_gives_empty_object() {
        let doc = json!({"a": 1});
        assert_eq!(SelectPath::Whole.apply(&doc, &json!({})), Ok(doc.clone()));
        assert_eq!(SelectPath::Empty.apply(&doc, &json!({})), Ok(json!({})));
    }

    #[test]
    fn select_path_that_matches_nothing_is_a_runtime_error() {
        let p = SelectPath::Path(Path::parse("$.missing").unwrap());
        let err = p.apply(&json!({}), &json!({})).unwrap_err();
        assert_eq!(err.error, "States.Runtime");
    }

    #[test]
    fn result_path_variants() {
        let raw = json!({"a": 1});
        assert_eq!(
            ResultPath::Replace.apply(raw.clone(), json!(2)),
            Ok(json!(2))
        );
        assert_eq!(
            ResultPath::Discard.apply(raw.clone(), json!(2)),
            Ok(raw.clone())
        );
        assert_eq!(
            reference("$.b.c").apply(raw.clone(), json!(2)),
            Ok(json!({"a": 1, "b": {"c": 2}}))
        );
        assert_eq!(reference("$.a").apply(raw, json!(3)), Ok(json!({"a": 3})));
    }

    #[test]
    fn result_path_into_a_non_object_input_is_a_runtime_error() {
        let err = reference("$.b").apply(json!("text"), json!(1)).unwrap_err();
        assert_eq!(err.error, "States.Runtime");
    }
}
