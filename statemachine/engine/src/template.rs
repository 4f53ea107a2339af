//! Payload templates (`Parameters`, `ResultSelector`, `ItemSelector`) and the dynamic
//! expressions they contain.
//!
//! A field whose name ends in `.$` takes its value from a path (`$.x`, `$$.Map.Item.Index`) or
//! an intrinsic function, and loses the `.$` suffix; every other value is copied as is.
//! Templates are compiled when the definition is parsed, so a bad path is a definition error.

use serde_json::{Map, Value};

use crate::error::StatesError;
use crate::intrinsics::Intrinsic;
use crate::path::Path;

/// A path or an intrinsic function call: what a `.$` field, `ErrorPath` or `CausePath` holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A JSONPath (`$…` or `$$…`).
    Path(Path),
    /// An intrinsic function call (`States.…(…)`).
    Intrinsic(Intrinsic),
}

impl Expr {
    /// Parses a path or an intrinsic call.
    pub fn parse(text: &str) -> Result<Self, String> {
        if Intrinsic::is_intrinsic(text) {
            Intrinsic::parse(text)
                .map(Expr::Intrinsic)
                .map_err(|e| e.to_string())
        } else {
            Path::parse(text).map(Expr::Path).map_err(|e| e.to_string())
        }
    }

    /// Evaluates against `input` (`$`) and `context` (`$$`).
    pub fn eval(
        &self,
        input: &Value,
        context: &Value,
        rng: &mut fastrand::Rng,
    ) -> Result<Value, StatesError> {
        match self {
            Expr::Path(path) => path
                .eval(input, context)
                .map_err(|e| StatesError::runtime(e.to_string())),
            Expr::Intrinsic(f) => f.eval(input, context, rng),
        }
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        match self {
            Expr::Path(p) => p.text(),
            Expr::Intrinsic(f) => f.text(),
        }
    }
}

/// A compiled payload template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(Node);

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Static(Value),
    Object(Vec<(String, Node)>),
    Array(Vec<Node>),
    Dynamic { field: String, expr: Expr },
}

impl Template {
    /// Compiles a template; the error names the offending field.
    pub fn parse(value: &Value) -> Result<Self, String> {
        compile(value).map(Template)
    }

    /// Builds the payload from `input` (`$`) and `context` (`$$`).
    pub fn eval(
        &self,
        input: &Value,
        context: &Value,
        rng: &mut fastrand::Rng,
    ) -> Result<Value, StatesError> {
        render(&self.0, input, context, rng)
    }
}

fn has_dynamic(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(k, v)| k.ends_with(".$") || has_dynamic(v)),
        Value::Array(items) => items.iter().any(has_dynamic),
        _ => false,
    }
}

fn compile(value: &Value) -> Result<Node, String> {
    if !has_dynamic(value) {
        return Ok(Node::Static(value.clone()));
    }
    match value {
        Value::Object(map) => {
            let mut fields = Vec::with_capacity(map.len());
            for (key, v) in map {
                if let Some(name) = key.strip_suffix(".$") {
                    let text = v.as_str().ok_or_else(|| {
                        format!(
                            "the value of field '{key}' must be a path or an intrinsic function"
                        )
                    })?;
                    let expr = Expr::parse(text).map_err(|e| format!("field '{key}': {e}"))?;
                    fields.push((
                        name.to_string(),
                        Node::Dynamic {
                            field: key.clone(),
                            expr,
                        },
                    ));
                } else {
                    fields.push((key.clone(), compile(v)?));
                }
            }
            Ok(Node::Object(fields))
        }
        Value::Array(items) => items
            .iter()
            .map(compile)
            .collect::<Result<_, _>>()
            .map(Node::Array),
        other => Ok(Node::Static(other.clone())),
    }
}

fn render(
    node: &Node,
    input: &Value,
    context: &Value,
    rng: &mut fastrand::Rng,
) -> Result<Value, StatesError> {
    match node {
        Node::Static(v) => Ok(v.clone()),
        Node::Array(items) => items
            .iter()
            .map(|n| render(n, input, context, rng))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        Node::Object(fields) => {
            let mut out = Map::new();
            for (name, n) in fields {
                out.insert(name.clone(), render(n, input, context, rng)?);
            }
            Ok(Value::Object(out))
        }
        Node::Dynamic { field, expr } => match expr {
            Expr::Path(path) => path.eval(input, context).map_err(|_| {
                StatesError::runtime(format!(
                    "The JSONPath '{}' specified for the field '{field}' could not be found in the input '{}'",
                    path.text(),
                    match path.root() {
                        crate::path::Root::Input => input,
                        crate::path::Root::Context => context,
                    }
                ))
            }),
            Expr::Intrinsic(f) => f.eval(input, context, rng),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: Value, input: Value) -> Result<Value, StatesError> {
        Template::parse(&template).unwrap().eval(
            &input,
            &json!({"State": {"Name": "S"}}),
            &mut fastrand::Rng::with_seed(1),
        )
    }

    #[test]
    fn dollar_fields_are_evaluated_and_renamed_static_fields_copied() {
        let out = render(
            json!({"a.$": "$.x", "nested": {"n.$": "$$.State.Name", "k": "v"}, "s": 1}),
            json!({"x": [1]}),
        );
        assert_eq!(
            out,
            Ok(json!({"a": [1], "nested": {"n": "S", "k": "v"}, "s": 1}))
        );
    }

    #[test]
    fn objects_inside_arrays_are_templates_too() {
        let out = render(json!({"list": [{"v.$": "$.x"}, 2]}), json!({"x": "y"}));
        assert_eq!(out, Ok(json!({"list": [{"v": "y"}, 2]})));
    }

    #[test]
    fn intrinsic_fields_are_called() {
        let out = render(json!({"n.$": "States.MathAdd($.x, 1)"}), json!({"x": 1}));
        assert_eq!(out, Ok(json!({"n": 2})));
    }

    #[test]
    fn missing_path_is_a_runtime_error_naming_the_field() {
        let err = render(json!({"value.$": "$.nope"}), json!({})).unwrap_err();
        assert_eq!(err.error, "States.Runtime");
        assert!(err.cause.unwrap().contains("'value.$'"));
    }

    #[test]
    fn non_string_or_bad_path_values_do_not_compile() {
        assert!(Template::parse(&json!({"a.$": 1})).is_err());
        assert!(Template::parse(&json!({"a.$": "x"})).is_err());
        assert!(Template::parse(&json!({"a.$": "States.Nope()"})).is_err());
    }
}
