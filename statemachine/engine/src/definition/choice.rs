//! Choice rules: comparisons (`StringEquals`, `NumericLessThanPath`, `TimestampGreaterThan` …),
//! type tests (`IsNull`, `IsPresent`, `IsNumeric`, `IsString`, `IsBoolean`, `IsTimestamp`),
//! `StringMatches` globs and the `And`/`Or`/`Not` combinators.
//!
//! A comparison between values of the wrong type is simply false (AWS never coerces), but a
//! `Variable` (or `…Path` operand) that selects nothing is `States.Runtime`; only `IsPresent`
//! tolerates a missing value, so `And` short-circuits left to right to let it guard.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::{parse_timestamp, DefinitionError};
use crate::error::StatesError;
use crate::path::Path;

/// One entry of `Choices`: a condition and the state to go to when it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceRule {
    /// The Boolean expression.
    pub condition: Condition,
    /// The state to transition to.
    pub next: String,
}

/// A Boolean expression of a Choice rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// All must hold (evaluated left to right, stops at the first false).
    And(Vec<Condition>),
    /// At least one must hold (stops at the first true).
    Or(Vec<Condition>),
    /// Negation.
    Not(Box<Condition>),
    /// A test on the value the `Variable` path selects.
    Test {
        /// The `Variable` path.
        variable: Path,
        /// What to check.
        test: Test,
    },
}

/// The value kinds a comparison operator applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `String…`
    String,
    /// `Numeric…`
    Numeric,
    /// `Boolean…`
    Boolean,
    /// `Timestamp…` (RFC 3339 strings, compared as instants).
    Timestamp,
}

/// Comparison relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// `…Equals`
    Equals,
    /// `…LessThan`
    LessThan,
    /// `…GreaterThan`
    GreaterThan,
    /// `…LessThanEquals`
    LessThanEquals,
    /// `…GreaterThanEquals`
    GreaterThanEquals,
}

/// The right-hand side of a comparison: a literal, or a path for the `…Path` operators.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A literal from the definition.
    Literal(Value),
    /// A path evaluated against the state input.
    Path(Path),
}

/// A test on the `Variable` value.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// A typed comparison.
    Compare {
        /// Which kind of values it compares.
        kind: Kind,
        /// The relation.
        relation: Relation,
        /// The right-hand side.
        operand: Operand,
    },
    /// `StringMatches` with `*` wildcards.
    Matches(Pattern),
    /// `IsNull`
    IsNull(bool),
    /// `IsPresent`
    IsPresent(bool),
    /// `IsNumeric`
    IsNumeric(bool),
    /// `IsString`
    IsString(bool),
    /// `IsBoolean`
    IsBoolean(bool),
    /// `IsTimestamp`
    IsTimestamp(bool),
}

/// A `StringMatches` pattern: `*` matches any run of characters, `\*` a literal star and `\\` a
/// literal backslash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(Vec<Glob>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Glob {
    Star,
    Char(char),
}

impl Pattern {
    /// Compiles a pattern.
    pub fn parse(text: &str) -> Self {
        let mut out = Vec::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(Glob::Char(chars.next().unwrap_or('\\'))),
                '*' => out.push(Glob::Star),
                c => out.push(Glob::Char(c)),
            }
        }
        Self(out)
    }

    /// Whether the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let pattern = &self.0;
        // Classic greedy glob matching with a single backtrack point per star.
        let (mut p, mut t) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match pattern.get(p) {
                Some(Glob::Char(c)) if *c == text[t] => {
                    p += 1;
                    t += 1;
                }
                Some(Glob::Star) => {
                    star = Some((p, t));
                    p += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        pattern[p..].iter().all(|g| *g == Glob::Star)
    }
}

impl Condition {
    /// Evaluates the condition against the effective state input.
    pub fn eval(&self, input: &Value, context: &Value) -> Result<bool, StatesError> {
        match self {
            Condition::And(all) => {
                for c in all {
                    if !c.eval(input, context)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Condition::Or(any) => {
                for c in any {
                    if c.eval(input, context)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Condition::Not(inner) => Ok(!inner.eval(input, context)?),
            Condition::Test { variable, test } => {
                if let Test::IsPresent(expected) = test {
                    return Ok(variable.is_present(input, context) == *expected);
                }
                let value = variable
                    .eval(input, context)
                    .map_err(|e| StatesError::runtime(e.to_string()))?;
                Ok(match test {
                    Test::IsPresent(_) => unreachable!("handled above"),
                    Test::IsNull(b) => value.is_null() == *b,
                    Test::IsNumeric(b) => value.is_number() == *b,
                    Test::IsString(b) => value.is_string() == *b,
                    Test::IsBoolean(b) => value.is_boolean() == *b,
                    Test::IsTimestamp(b) => {
                        value.as_str().and_then(parse_timestamp).is_some() == *b
                    }
                    Test::Matches(pattern) => value.as_str().is_some_and(|s| pattern.matches(s)),
                    Test::Compare {
                        kind,
                        relation,
                        operand,
                    } => {
                        let right = match operand {
                            Operand::Literal(v) => v.clone(),
                            Operand::Path(p) => p
                                .eval(input, context)
                                .map_err(|e| StatesError::runtime(e.to_string()))?,
                        };
                        compare(*kind, &value, &right).is_some_and(|ord| holds(*relation, ord))
                    }
                })
            }
        }
    }
}

fn holds(relation: Relation, ord: Ordering) -> bool {
    match relation {
        Relation::Equals => ord == Ordering::Equal,
        Relation::LessThan => ord == Ordering::Less,
        Relation::GreaterThan => ord == Ordering::Greater,
        Relation::LessThanEquals => ord != Ordering::Greater,
        Relation::GreaterThanEquals => ord != Ordering::Less,
    }
}

/// Orders two values of the given kind; `None` when either is not of that kind.
fn compare(kind: Kind, left: &Value, right: &Value) -> Option<Ordering> {
    match kind {
        Kind::String => Some(left.as_str()?.cmp(right.as_str()?)),
        Kind::Numeric => {
            let (Value::Number(l), Value::Number(r)) = (left, right) else {
                return None;
            };
            l.as_f64()?.partial_cmp(&r.as_f64()?)
        }
        Kind::Boolean => {
            let (l, r) = (left.as_bool()?, right.as_bool()?);
            // Booleans only support equality; any difference is "not equal".
            Some(if l == r {
                Ordering::Equal
            } else {
                Ordering::Less
            })
        }
        Kind::Timestamp => {
            let l = parse_timestamp(left.as_str()?)?;
            let r = parse_timestamp(right.as_str()?)?;
            Some(l.cmp(&r))
        }
    }
}

const KINDS: [(&str, Kind); 4] = [
    ("String", Kind::String),
    ("Numeric", Kind::Numeric),
    ("Boolean", Kind::Boolean),
    ("Timestamp", Kind::Timestamp),
];
const RELATIONS: [(&str, Relation); 5] = [
    ("Equals", Relation::Equals),
    ("LessThan", Relation::LessThan),
    ("GreaterThan", Relation::GreaterThan),
    ("LessThanEquals", Relation::LessThanEquals),
    ("GreaterThanEquals", Relation::GreaterThanEquals),
];

/// Whether `key` names a comparison or test operator.
fn operator(key: &str) -> Option<(Kind, Relation, bool)> {
    let (base, is_path) = match key.strip_suffix("Path") {
        Some(base) => (base, true),
        None => (key, false),
    };
    KINDS.iter().find_map(|(kname, kind)| {
        let rest = base.strip_prefix(kname)?;
        let (_, relation) = RELATIONS.iter().find(|(r, _)| *r == rest)?;
        if *kind == Kind::Boolean && *relation != Relation::Equals {
            return None;
        }
        Some((*kind, *relation, is_path))
    })
}

const TESTS: [&str; 7] = [
    "IsNull",
    "IsPresent",
    "IsNumeric",
    "IsString",
    "IsBoolean",
    "IsTimestamp",
    "StringMatches",
];

/// Parses one entry of `Choices` (which must have `Next`).
pub(crate) fn parse_rule(value: &Value, at: &str) -> Result<ChoiceRule, DefinitionError> {
    let map = value
        .as_object()
        .ok_or_else(|| DefinitionError::new(at, "a choice rule must be an object"))?;
    let next = match map.get("Next") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            return Err(DefinitionError::new(
                at,
                "a choice rule needs a string 'Next'",
            ))
        }
    };
    let condition = parse_condition(map, at, true)?;
    Ok(ChoiceRule { condition, next })
}

fn parse_condition(
    map: &Map<String, Value>,
    at: &str,
    top: bool,
) -> Result<Condition, DefinitionError> {
    let allowed_extra: &[&str] = if top {
        &["Next", "Comment"]
    } else {
        &["Comment"]
    };
    if !top && map.contains_key("Next") {
        return Err(DefinitionError::new(
            at,
            "'Next' is only allowed on a top-level choice rule",
        ));
    }
    let keys: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !allowed_extra.contains(k))
        .collect();
    for combinator in ["And", "Or", "Not"] {
        if let Some(inner) = map.get(combinator) {
            if keys.len() != 1 {
                return Err(DefinitionError::new(
                    at,
                    format!("'{combinator}' cannot be combined with other operators"),
                ));
            }
            let at = format!("{at}/{combinator}");
            return if combinator == "Not" {
                let inner = inner
                    .as_object()
                    .ok_or_else(|| DefinitionError::new(&at, "'Not' must hold a rule object"))?;
                Ok(Condition::Not(Box::new(parse_condition(
                    inner, &at, false,
                )?)))
            } else {
                let list = inner
                    .as_array()
                    .filter(|l| !l.is_empty())
                    .ok_or_else(|| DefinitionError::new(&at, "must be a non-empty array"))?;
                let parts = list
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let at = format!("{at}/{i}");
                        let obj = v.as_object().ok_or_else(|| {
                            DefinitionError::new(&at, "a choice rule must be an object")
                        })?;
                        parse_condition(obj, &at, false)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if combinator == "And" {
                    Condition::And(parts)
                } else {
                    Condition::Or(parts)
                })
            };
        }
    }
    let variable = match map.get("Variable") {
        Some(Value::String(s)) => Path::parse(s)
            .map_err(|e| DefinitionError::new(format!("{at}/Variable"), e.to_string()))?,
        _ => {
            return Err(DefinitionError::new(
                at,
                "a choice rule needs 'Variable' (a path) or one of And, Or, Not",
            ))
        }
    };
    let operators: Vec<&str> = keys.into_iter().filter(|k| *k != "Variable").collect();
    let [op] = operators.as_slice() else {
        return Err(DefinitionError::new(
            at,
            format!(
                "a choice rule needs exactly one comparison operator, found {}",
                if operators.is_empty() {
                    "none".to_string()
                } else {
                    operators.join(", ")
                }
            ),
        ));
    };
    let operand = &map[*op];
    let op_at = format!("{at}/{op}");
    let test = if let Some((kind, relation, is_path)) = operator(op) {
        let operand = if is_path {
            let text = operand
                .as_str()
                .ok_or_else(|| DefinitionError::new(&op_at, "must be a path string"))?;
            Operand::Path(
                Path::parse(text).map_err(|e| DefinitionError::new(&op_at, e.to_string()))?,
            )
        } else {
            let ok = match kind {
                Kind::String => operand.is_string(),
                Kind::Numeric => operand.is_number(),
                Kind::Boolean => operand.is_boolean(),
                Kind::Timestamp => operand.as_str().and_then(parse_timestamp).is_some(),
            };
            if !ok {
                return Err(DefinitionError::new(
                    &op_at,
                    format!("{operand} is not a valid {kind:?} operand"),
                ));
            }
            Operand::Literal(operand.clone())
        };
        Test::Compare {
            kind,
            relation,
            operand,
        }
    } else if TESTS.contains(op) {
        if *op == "StringMatches" {
            let text = operand
                .as_str()
                .ok_or_else(|| DefinitionError::new(&op_at, "must be a string pattern"))?;
            Test::Matches(Pattern::parse(text))
        } else {
            let b = operand
                .as_bool()
                .ok_or_else(|| DefinitionError::new(&op_at, "must be true or false"))?;
            match *op {
                "IsNull" => Test::IsNull(b),
                "IsPresent" => Test::IsPresent(b),
                "IsNumeric" => Test::IsNumeric(b),
                "IsString" => Test::IsString(b),
                "IsBoolean" => Test::IsBoolean(b),
                _ => Test::IsTimestamp(b),
            }
        }
    } else {
        return Err(DefinitionError::new(
            &op_at,
            format!("unknown comparison operator '{op}'"),
        ));
    };
    Ok(Condition::Test { variable, test })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(rule: Value, input: Value) -> Result<bool, StatesError> {
        let mut rule = rule;
        rule["Next"] = json!("X");
        parse_rule(&rule, "/r")
            .unwrap()
            .condition
            .eval(&input, &json!({}))
    }

    #[test]
    fn string_comparisons_are_lexicographic() {
        let input = json!({"a": "A", "b": "AB"});
        assert_eq!(
            check(
                json!({"Variable": "$.a", "StringLessThanPath": "$.b"}),
                input.clone()
            ),
            Ok(true)
        );
        assert_eq!(
            check(
                json!({"Variable": "$.b", "StringLessThan": "A"}),
                input.clone()
            ),
            Ok(false)
        );
        assert_eq!(
            check(
                json!({"Variable": "$.a", "StringEquals": "A"}),
                input.clone()
            ),
            Ok(true)
        );
        assert_eq!(
            check(
                json!({"Variable": "$.b", "StringGreaterThanEquals": "AB"}),
                input
            ),
            Ok(true)
        );
    }

    #[test]
    fn numeric_comparisons_treat_int_and_float_alike_and_ignore_other_types() {
        assert_eq!(
            check(
                json!({"Variable": "$.v", "NumericEquals": 1.0}),
                json!({"v": 1})
            ),
            Ok(true)
        );
        assert_eq!(
            check(
                json!({"Variable": "$.v", "NumericEquals": 1}),
                json!({"v": true})
            ),
            Ok(false)
        );
        assert_eq!(
            check(
                json!({"Variable": "$.v", "NumericEquals": 0}),
                json!({"v": "0"})
            ),
            Ok(false)
        );
        assert_eq!(
            check(
                json!({"Variable": "$.v", "NumericLessThanEquals": 2}),
                json!({"v": 2})
            ),
            Ok(true)
        );
        assert_eq!(
            check(
                json!({"Variable": "$.v", "NumericGreaterThan": 2}),
                json!({"v": 2.5})
            ),
            Ok(true)
        );
        assert_eq!(
            check(
                json!({"Variable": "$.v", "NumericEqualsPath": "$.w"}),
                json!({"v": null, "w": 0})
            ),
            Ok(false)
        );
    }

    #[test]
    fn boolean_equals_does_not_coerce_numbers() {
        assert_eq!(
            check(
                json!({"Variable": "$.v", "BooleanEquals": false}),
                json!({"v": 0})
            ),
            Ok(false)
        );
        assert_eq!(
            check(
                json!({"Variable": "$.v", "BooleanEquals": false}),
                json!({"v": false})
            ),
            Ok(true)
        );
        assert_eq!(
            check(
                json!({"Variable": "$.v", "BooleanEqualsPath": "$.w"}),
                json!({"v": true, "w": true})
            ),
            Ok(true)
        );
    }

    #[test]
    fn timestamps_compare_as_instants_and_invalid_ones_are_false() {
        let rule = json!({"Variable": "$.t", "TimestampLessThan": "2012-10-09T19:00:56Z"});
        assert_eq!(
            check(rule.clone(), json!({"t": "2012-10-09T19:00:55Z"})),
            Ok(true)
        );
        assert_eq!(
            check(rule, json!({"t": "2012-10-09T21:00:55+02:00"})),
            Ok(true)
        );
        let eq = json!({"Variable": "$.t", "TimestampEquals": "2012-10-09T19:00:55Z"});
        assert_eq!(
            check(eq, json!({"t": "2023-02-24 12:15:56.832957"})),
            Ok(false)
        );
    }

    #[test]
    fn type_tests() {
        let input = json!({"n": null, "i": 1, "s": "x", "b": true, "t": "2020-01-01T00:00:00Z"});
        assert_eq!(
            check(json!({"Variable": "$.n", "IsNull": true}), input.clone()),
            Ok(true)
        );
        assert_eq!(
            check(json!({"Variable": "$.i", "IsNull": false}), input.clone()),
            Ok(true)
        );
        assert_eq!(
            check(json!({"Variable": "$.i", "IsNumeric": true}), input.clone()),
            Ok(true)
        );
        assert_eq!(
            check(json!({"Variable": "$.s", "IsString": true}), input.clone()),
            Ok(true)
        );
        assert_eq!(
            check(json!({"Variable": "$.b", "IsBoolean": true}), input.clone()),
            Ok(true)
        );
        assert_eq!(
            check(
                json!({"Variable": "$.t", "IsTimestamp": true}),
                input.clone()
            ),
            Ok(true)
        );
        assert_eq!(
            check(
                json!({"Variable": "$.s", "IsTimestamp": true}),
                input.clone()
            ),
            Ok(false)
        );
        assert_eq!(
            check(json!({"Variable": "$.zz", "IsPresent": false}), input),
            Ok(true)
        );
    }

    #[test]
    fn missing_variable_is_a_runtime_error_except_for_is_present() {
        let err = check(json!({"Variable": "$.zz", "StringEquals": "a"}), json!({})).unwrap_err();
        assert_eq!(err.error, "States.Runtime");
    }

    #[test]
    fn and_short_circuits_so_is_present_can_guard() {
        let rule = json!({"And": [
            {"Variable": "$.k", "IsPresent": true},
            {"Variable": "$.k", "StringEquals": "foo"}
        ]});
        assert_eq!(check(rule.clone(), json!({})), Ok(false));
        assert_eq!(check(rule, json!({"k": "foo"})), Ok(true));
    }

    #[test]
    fn or_and_not() {
        let or = json!({"Or": [
            {"Variable": "$.v", "NumericLessThan": 2},
            {"Variable": "$.v", "NumericGreaterThan": 8}
        ]});
        assert_eq!(check(or.clone(), json!({"v": 1})), Ok(true));
        assert_eq!(check(or, json!({"v": 5})), Ok(false));
        let not = json!({"Not": {"Variable": "$.t", "StringEquals": "Private"}});
        assert_eq!(check(not, json!({"t": "Public"})), Ok(true));
    }

    #[test]
    fn string_matches_wildcards_and_escapes() {
        let cases = [
            ("foo*.log", "foo23.log", true),
            ("*.log", "zebra.log", true),
            ("foo*.*", "foobar.zebra", true),
            ("foo*.log", "foo23.txt", false),
            ("log-*.txt", "log-.txt", true),
            (r"log-\*.txt", "log-*.txt", true),
            (r"log-\*.txt", "log-1.txt", false),
            (r"C:\\dir\\*", r"C:\dir\file", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b", "ab_", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                Pattern::parse(pattern).matches(text),
                expected,
                "{pattern} vs {text}"
            );
        }
    }

    #[test]
    fn malformed_rules_are_rejected() {
        let bad = [
            json!({"Variable": "$.a", "Next": "X"}),
            json!({"Variable": "$.a", "StringEquals": 1, "Next": "X"}),
            json!({"Variable": "$.a", "NumericEquals": 1, "StringEquals": "a", "Next": "X"}),
            json!({"Variable": "$.a", "BooleanLessThan": true, "Next": "X"}),
            json!({"Variable": "$.a", "TimestampEquals": "yesterday", "Next": "X"}),
            json!({"Variable": "a", "IsNull": true, "Next": "X"}),
            json!({"And": [], "Next": "X"}),
            json!({"Not": {"Variable": "$.a", "IsNull": true, "Next": "Y"}, "Next": "X"}),
            json!({"Variable": "$.a", "IsNull": true}),
        ];
        for rule in bad {
            assert!(
                parse_rule(&rule, "/r").is_err(),
                "{rule} should be rejected"
            );
        }
    }
}
