//! The JSONPath subset of the Amazon States Language.
//!
//! A path starts at `$` (the state's input) or `$$` (the context object) and continues with
//! `.field`, `['field']`, `[n]`, `[-n]` (from the end), `[a:b]`/`[a:b:step]` slices, `[*]`/`.*`,
//! unions `[0,1]`/`['a','b']`, `..` descendants and filters such as `[?(@.a >= 5)]`.
//!
//! A *definite* path (only fields and indices) selects one value and fails when nothing is
//! there; an *indefinite* one collects every match into an array, possibly empty, as Jayway's
//! JSONPath (the library behind Step Functions) does. *Reference paths* (`ResultPath`) must be
//! definite and rooted at `$`.

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Map, Value};

/// A parsed JSONPath.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    text: String,
    root: Root,
    segments: Vec<Segment>,
}

/// Which document a path starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `$`: the state's input (or whatever document the path is applied to).
    Input,
    /// `$$`: the context object.
    Context,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Field(String),
    Index(i64),
    Slice {
        start: Option<i64>,
        end: Option<i64>,
        step: i64,
    },
    Wildcard,
    Descendants(Box<Segment>),
    Union(Vec<Segment>),
    Filter(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare(Operand, CmpOp, Operand),
    Exists(Operand),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// `@…`: relative to the element being filtered.
    Current(Vec<Segment>),
    /// `$…`: from the document root.
    Root(Vec<Segment>),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A path that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSONPath '{path}': {reason}")]
pub struct PathSyntaxError {
    /// The path text as written.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A definite path that selected nothing; the message is the one Step Functions reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid path '{path}' : No results for path: {normalized}")]
pub struct PathNotFound {
    /// The path text as written.
    pub path: String,
    /// The path in bracket notation, e.g. `$['a'][0]`.
    pub normalized: String,
}

impl Path {
    /// Parses a path such as `$.a.b[0]` or `$$.Execution.Input`.
    pub fn parse(text: &str) -> Result<Self, PathSyntaxError> {
        let fail = |reason: String| PathSyntaxError {
            path: text.to_string(),
            reason,
        };
        let chars: Vec<char> = text.chars().collect();
        let (root, start) = match chars.as_slice() {
            ['$', '$', ..] => (Root::Context, 2),
            ['$', ..] => (Root::Input, 1),
            _ => return Err(fail("a path must start with '$'".into())),
        };
        let mut cursor = Cursor { chars, pos: start };
        let segments = cursor.segments(|_| false).map_err(fail)?;
        if !cursor.at_end() {
            return Err(fail(format!("unexpected '{}'", cursor.chars[cursor.pos])));
        }
        Ok(Self {
            text: text.to_string(),
            root,
            segments,
        })
    }

    /// Parses a reference path (`ResultPath`): definite and rooted at `$`.
    pub fn parse_reference(text: &str) -> Result<Self, PathSyntaxError> {
        let path = Self::parse(text)?;
        if path.root == Root::Context || !path.is_definite() {
            return Err(PathSyntaxError {
                path: text.to_string(),
                reason: "a reference path may only use '$', fields and array indices".into(),
            });
        }
        Ok(path)
    }

    /// The path as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The document the path starts from.
    pub fn root(&self) -> Root {
        self.root
    }

    /// True when the path can select at most one value (fields and indices only).
    pub fn is_definite(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Field(_) | Segment::Index(_)))
    }

    /// Evaluates the path. `input` is `$`, `context` is `$$`.
    ///
    /// A definite path returns the selected value or [`PathNotFound`]; an indefinite path
    /// returns an array of every match (empty when nothing matches).
    pub fn eval(&self, input: &Value, context: &Value) -> Result<Value, PathNotFound> {
        let root = match self.root {
            Root::Input => input,
            Root::Context => context,
        };
        if self.is_definite() {
            return lookup(root, &self.segments)
                .cloned()
                .ok_or_else(|| PathNotFound {
                    path: self.text.clone(),
                    normalized: self.normalized(),
                });
        }
        let found = select_all(root, &self.segments);
        Ok(Value::Array(found.into_iter().cloned().collect()))
    }

    /// Whether the path selects something (for `IsPresent`): a definite path must resolve, an
    /// indefinite one must match at least one value.
    pub fn is_present(&self, input: &Value, context: &Value) -> bool {
        let root = match self.root {
            Root::Input => input,
            Root::Context => context,
        };
        if self.is_definite() {
            lookup(root, &self.segments).is_some()
        } else {
            !select_all(root, &self.segments).is_empty()
        }
    }

    /// Writes `value` at this reference path inside `target`, creating missing intermediate
    /// objects (`$.a.b` on `{}` gives `{"a":{"b":…}}`). Fails when an existing node on the way
    /// is not an object (for a field) or not an array long enough (for an index).
    pub fn set(&self, mut target: Value, value: Value) -> Result<Value, String> {
        set_in(&mut target, &self.segments, value).map_err(|reason| {
            format!(
                "Unable to apply ResultPath '{}' to the input: {reason}",
                self.text
            )
        })?;
        Ok(target)
    }

    fn normalized(&self) -> String {
        let mut out = String::from(match self.root {
            Root::Input => "$",
            Root::Context => "$$",
        });
        for segment in &self.segments {
            match segment {
                Segment::Field(name) => out.push_str(&format!("['{name}']")),
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
                _ => out.push_str("[*]"),
            }
        }
        out
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn index_of(len: usize, i: i64) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let i = if i < 0 { len + i } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

fn lookup<'v>(root: &'v Value, segments: &[Segment]) -> Option<&'v Value> {
    segments
        .iter()
        .try_fold(root, |node, segment| match segment {
            Segment::Field(name) => node.as_object()?.get(name),
            Segment::Index(i) => {
                let items = node.as_array()?;
                items.get(index_of(items.len(), *i)?)
            }
            _ => None,
        })
}

fn select_all<'v>(root: &'v Value, segments: &[Segment]) -> Vec<&'v Value> {
    segments.iter().fold(vec![root], |nodes, segment| {
        let mut next = Vec::new();
        for node in nodes {
            apply(segment, node, root, &mut next);
        }
        next
    })
}

fn children(node: &Value) -> Vec<&Value> {
    match node {
        Value::Array(items) => items.iter().collect(),
        Value::Object(map) => map.values().collect(),
        _ => Vec::new(),
    }
}

fn apply<'v>(segment: &Segment, node: &'v Value, root: &'v Value, out: &mut Vec<&'v Value>) {
    match segment {
        Segment::Field(name) => {
            if let Some(v) = node.as_object().and_then(|m| m.get(name)) {
                out.push(v);
            }
        }
        Segment::Index(i) => {
            if let Some(items) = node.as_array() {
                if let Some(v) = index_of(items.len(), *i).and_then(|i| items.get(i)) {
                    out.push(v);
                }
            }
        }
        Segment::Slice { start, end, step } => {
            if let Some(items) = node.as_array() {
                let len = items.len() as i64;
                let clamp = |v: i64| (if v < 0 { len + v } else { v }).clamp(0, len);
                let from = start.map_or(0, clamp);
                let to = end.map_or(len, clamp);
                let mut i = from;
                while i < to {
                    out.push(&items[i as usize]);
                    i += step;
                }
            }
        }
        Segment::Wildcard => out.extend(children(node)),
        Segment::Union(parts) => {
            for part in parts {
                apply(part, node, root, out);
            }
        }
        Segment::Filter(filter) => out.extend(
            children(node)
                .into_iter()
                .filter(|item| filter_matches(filter, item, root)),
        ),
        Segment::Descendants(inner) => {
            let mut stack = vec![node];
            while let Some(current) = stack.pop() {
                apply(inner, current, root, out);
                // Push in reverse so that the traversal is pre-order, document order.
                let mut kids: Vec<&Value> = children(current)
                    .into_iter()
                    .filter(|v| v.is_array() || v.is_object())
                    .collect();
                kids.reverse();
                stack.extend(kids);
            }
        }
    }
}

fn operand_value(operand: &Operand, current: &Value, root: &Value) -> Option<Value> {
    let (base, segments) = match operand {
        Operand::Literal(v) => return Some(v.clone()),
        Operand::Current(s) => (current, s),
        Operand::Root(s) => (root, s),
    };
    if segments
        .iter()
        .all(|s| matches!(s, Segment::Field(_) | Segment::Index(_)))
    {
        lookup(base, segments).cloned()
    } else {
        let all = select_all(base, segments);
        (!all.is_empty()).then(|| Value::Array(all.into_iter().cloned().collect()))
    }
}

fn filter_matches(filter: &Filter, current: &Value, root: &Value) -> bool {
    match filter {
        Filter::Or(a, b) => filter_matches(a, current, root) || filter_matches(b, current, root),
        Filter::And(a, b) => filter_matches(a, current, root) && filter_matches(b, current, root),
        Filter::Not(inner) => !filter_matches(inner, current, root),
        Filter::Exists(operand) => operand_value(operand, current, root).is_some(),
        Filter::Compare(left, op, right) => {
            let (Some(l), Some(r)) = (
                operand_value(left, current, root),
                operand_value(right, current, root),
            ) else {
                return false;
            };
            match op {
                CmpOp::Eq => json_equal(&l, &r),
                CmpOp::Ne => !json_equal(&l, &r),
                CmpOp::Lt => compare(&l, &r) == Some(Ordering::Less),
                CmpOp::Le => matches!(compare(&l, &r), Some(Ordering::Less | Ordering::Equal)),
                CmpOp::Gt => compare(&l, &r) == Some(Ordering::Greater),
                CmpOp::Ge => matches!(compare(&l, &r), Some(Ordering::Greater | Ordering::Equal)),
            }
        }
    }
}

/// JSON equality where numbers compare by value (`1 == 1.0`).
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn set_in(node: &mut Value, segments: &[Segment], value: Value) -> Result<(), String> {
    let Some((first, rest)) = segments.split_first() else {
        *node = value;
        return Ok(());
    };
    match first {
        Segment::Field(name) => {
            if node.is_null() {
                *node = Value::Object(Map::new());
            }
            let Value::Object(map) = node else {
                return Err(format!("cannot set field '{name}' on a non-object value"));
            };
            let child = map.entry(name.clone()).or_insert(Value::Null);
            set_in(child, rest, value)
        }
        Segment::Index(i) => {
            let Value::Array(items) = node else {
                return Err(format!("cannot set index {i} on a non-array value"));
            };
            let at =
                index_of(items.len(), *i).ok_or_else(|| format!("index {i} is out of bounds"))?;
            set_in(&mut items[at], rest, value)
        }
        _ => Err("a reference path may only use fields and indices".into()),
    }
}

struct Cursor {
    chars: Vec<char>,
    pos: usize,
}

impl Cursor {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        self.skip_ws();
        if self.eat(c) {
            Ok(())
        } else {
            Err(match self.peek() {
                Some(found) => format!("expected '{c}' but found '{found}'"),
                None => format!("expected '{c}' but the path ended"),
            })
        }
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i) == Some(c))
    }

    /// Reads segments until the end or until `stop` says a character ends the path (used for
    /// relative paths inside filters, which end at an operator or a parenthesis).
    fn segments(&mut self, stop: fn(char) -> bool) -> Result<Vec<Segment>, String> {
        let mut segments = Vec::new();
        while let Some(c) = self.peek() {
            if stop(c) {
                break;
            }
            match c {
                '.' if self.peek_at(1) == Some('.') => {
                    self.pos += 2;
                    let inner = match self.peek() {
                        Some('[') => {
                            self.pos += 1;
                            self.bracket()?
                        }
                        Some('*') => {
                            self.pos += 1;
                            Segment::Wildcard
                        }
                        _ => Segment::Field(self.name(stop)?),
                    };
                    segments.push(Segment::Descendants(Box::new(inner)));
                }
                '.' => {
                    self.pos += 1;
                    if self.eat('*') {
                        segments.push(Segment::Wildcard);
                    } else {
                        segments.push(Segment::Field(self.name(stop)?));
                    }
                }
                '[' => {
                    self.pos += 1;
                    segments.push(self.bracket()?);
                }
                other => return Err(format!("unexpected '{other}'")),
            }
        }
        Ok(segments)
    }

    fn name(&mut self, stop: fn(char) -> bool) -> Result<String, String> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == '.' || c == '[' || stop(c) {
                break;
            }
            self.pos += 1;
        }
        if start == self.pos {
            return Err("empty field name".into());
        }
        Ok(self.chars[start..self.pos].iter().collect())
    }

    fn quoted(&mut self) -> Result<String, String> {
        let quote = self.peek().ok_or("expected a quoted string")?;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err("unterminated string".into()),
                Some('\\') => {
                    let escaped = self.peek_at(1).ok_or("unterminated string")?;
                    out.push(escaped);
                    self.pos += 2;
                }
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// A quoted field name in bracket notation. As in the JSONPath library behind Step
    /// Functions, a backslash only stops the next character from ending the name: the text
    /// between the quotes is the key, backslashes included (`$['a\"b']` selects the key
    /// `a\"b`), as recorded executions on AWS show.
    fn quoted_verbatim(&mut self) -> Result<String, String> {
        let quote = self.peek().ok_or("expected a quoted string")?;
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek() {
                None => return Err("unterminated string".into()),
                Some('\\') => {
                    self.peek_at(1).ok_or("unterminated string")?;
                    self.pos += 2;
                }
                Some(c) if c == quote => {
                    let name = self.chars[start..self.pos].iter().collect();
                    self.pos += 1;
                    return Ok(name);
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    fn integer(&mut self) -> Result<Option<i64>, String> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if start == self.pos {
            return Ok(None);
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        text.parse()
            .map(Some)
            .map_err(|_| format!("'{text}' is not an integer"))
    }

    /// Parses what follows a `[` up to and including the closing `]`.
    fn bracket(&mut self) -> Result<Segment, String> {
        self.skip_ws();
        let segment = match self.peek() {
            Some('*') => {
                self.pos += 1;
                Segment::Wildcard
            }
            Some('?') => {
                self.pos += 1;
                self.expect('(')?;
                let filter = self.filter_or()?;
                self.expect(')')?;
                Segment::Filter(Box::new(filter))
            }
            Some('\'' | '"') => {
                let mut names = vec![Segment::Field(self.quoted_verbatim()?)];
                loop {
                    self.skip_ws();
                    if !self.eat(',') {
                        break;
                    }
                    self.skip_ws();
                    names.push(Segment::Field(self.quoted_verbatim()?));
                }
                if names.len() == 1 {
                    names.remove(0)
                } else {
                    Segment::Union(names)
                }
            }
            _ => {
                let first = self.integer()?;
                self.skip_ws();
                if self.eat(':') {
                    let end = self.integer()?;
                    self.skip_ws();
                    let step = if self.eat(':') {
                        self.integer()?.unwrap_or(1)
                    } else {
                        1
                    };
                    if step < 1 {
                        return Err("slice step must be a positive integer".into());
                    }
                    Segment::Slice {
                        start: first,
                        end,
                        step,
                    }
                } else {
                    let first =
                        first.ok_or("expected an index, a slice, '*', a name or a filter")?;
                    let mut indices = vec![Segment::Index(first)];
                    loop {
                        self.skip_ws();
                        if !self.eat(',') {
                            break;
                        }
                        let next = self.integer()?.ok_or("expected an index after ','")?;
                        indices.push(Segment::Index(next));
                    }
                    if indices.len() == 1 {
                        indices.remove(0)
                    } else {
                        Segment::Union(indices)
                    }
                }
            }
        };
        self.expect(']')?;
        Ok(segment)
    }

    fn filter_or(&mut self) -> Result<Filter, String> {
        let mut left = self.filter_and()?;
        loop {
            self.skip_ws();
            if !self.starts_with("||") {
                return Ok(left);
            }
            self.pos += 2;
            let right = self.filter_and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
    }

    fn filter_and(&mut self) -> Result<Filter, String> {
        let mut left = self.filter_unary()?;
        loop {
            self.skip_ws();
            if !self.starts_with("&&") {
                return Ok(left);
            }
            self.pos += 2;
            let right = self.filter_unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
    }

    fn filter_unary(&mut self) -> Result<Filter, String> {
        self.skip_ws();
        if self.peek() == Some('!') && self.peek_at(1) != Some('=') {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.filter_unary()?)));
        }
        if self.eat('(') {
            let inner = self.filter_or()?;
            self.expect(')')?;
            return Ok(inner);
        }
        let left = self.operand()?;
        self.skip_ws();
        let op = [
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<=", CmpOp::Le),
            (">=", CmpOp::Ge),
            ("<", CmpOp::Lt),
            (">", CmpOp::Gt),
        ]
        .into_iter()
        .find(|(text, _)| self.starts_with(text));
        match op {
            Some((text, op)) => {
                self.pos += text.len();
                let right = self.operand()?;
                Ok(Filter::Compare(left, op, right))
            }
            None => Ok(Filter::Exists(left)),
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        fn ends_relative(c: char) -> bool {
            c.is_whitespace() || "=!<>&|)".contains(c)
        }
        self.skip_ws();
        match self.peek() {
            Some('@') => {
                self.pos += 1;
                Ok(Operand::Current(self.segments(ends_relative)?))
            }
            Some('$') => {
                self.pos += 1;
                Ok(Operand::Root(self.segments(ends_relative)?))
            }
            Some('\'' | '"') => Ok(Operand::Literal(Value::String(self.quoted()?))),
            Some(c) if c == '-' || c.is_ascii_digit() => {
                crate::lex::number(&self.chars, &mut self.pos).map(Operand::Literal)
            }
            _ => {
                if let Some(value) = crate::lex::keyword(&self.chars, &mut self.pos) {
                    return Ok(Operand::Literal(value));
                }
                Err("expected '@', '$' or a literal in the filter".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(path: &str, input: Value) -> Result<Value, PathNotFound> {
        Path::parse(path).unwrap().eval(&input, &json!({"Ctx": 1}))
    }

    #[test]
    fn dollar_selects_the_whole_input() {
        assert_eq!(eval("$", json!({"a": 1})), Ok(json!({"a": 1})));
    }

    #[test]
    fn dotted_and_bracketed_fields_select_the_same_node() {
        let input = json!({"a": {"b-c": 2}});
        assert_eq!(eval("$.a.b-c", input.clone()), Ok(json!(2)));
        assert_eq!(eval("$['a'][\"b-c\"]", input), Ok(json!(2)));
    }

    #[test]
    fn negative_index_counts_from_the_end() {
        assert_eq!(eval("$.v[-1]", json!({"v": [1, 2, 3]})), Ok(json!(3)));
        assert_eq!(eval("$.v[0]", json!({"v": [1, 2, 3]})), Ok(json!(1)));
    }

    #[test]
    fn slices_follow_python_bounds() {
        let input = json!({"v": [0, 10, 20, 30, 40, 50]});
        assert_eq!(eval("$.v[-3:]", input.clone()), Ok(json!([30, 40, 50])));
        assert_eq!(eval("$.v[1:3]", input.clone()), Ok(json!([10, 20])));
        assert_eq!(eval("$.v[:2]", input.clone()), Ok(json!([0, 10])));
        assert_eq!(eval("$.v[::2]", input), Ok(json!([0, 20, 40])));
    }

    #[test]
    fn wildcard_collects_and_missing_indefinite_path_is_empty() {
        let input = json!({"items": [{"v": 1}, {"w": 2}, {"v": 3}]});
        assert_eq!(eval("$.items[*].v", input), Ok(json!([1, 3])));
        assert_eq!(eval("$.items[*].itemValue", json!({})), Ok(json!([])));
    }

    #[test]
    fn filter_keeps_matching_elements() {
        let input = json!({"jar": [{"a": 1}, {"a": 5}, {"a": 7}, {"b": 9}]});
        assert_eq!(
            eval("$.jar[?(@.a >= 5)]", input.clone()),
            Ok(json!([{"a": 5}, {"a": 7}]))
        );
        assert_eq!(
            eval("$.jar[?(@.a == 1 || @.b)]", input.clone()),
            Ok(json!([{"a": 1}, {"b": 9}]))
        );
        assert_eq!(
            eval("$.jar[?(@.a < 6 && @.a != 1)].a", input),
            Ok(json!([5]))
        );
    }

    #[test]
    fn filter_compares_strings() {
        let input = json!([{"n": "x"}, {"n": "y"}]);
        assert_eq!(eval("$[?(@.n == 'y')]", input), Ok(json!([{"n": "y"}])));
    }

    #[test]
    fn descendants_find_nested_fields_in_document_order() {
        let input = json!({"a": {"id": 1, "b": [{"id": 2}]}, "id": 0});
        assert_eq!(eval("$..id", input), Ok(json!([0, 1, 2])));
    }

    #[test]
    fn unions_select_several_indices() {
        assert_eq!(
            eval("$[0,2]", json!(["a", "b", "c"])),
            Ok(json!(["a", "c"]))
        );
    }

    #[test]
    fn missing_definite_path_reports_normalized_path() {
        let err = eval("$.NoSuch", json!({})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid path '$.NoSuch' : No results for path: $['NoSuch']"
        );
    }

    #[test]
    fn context_root_reads_the_context_object() {
        assert_eq!(eval("$$.Ctx", json!({})), Ok(json!(1)));
    }

    #[test]
    fn malformed_paths_are_rejected() {
        for bad in [
            "a.b",
            "$.",
            "$[",
            "$.a[x]",
            "$..",
            "$[?(@.a >)]",
            "$[1:2:0]",
        ] {
            assert!(Path::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn reference_paths_must_be_definite_and_on_the_input() {
        assert!(Path::parse_reference("$.a[0].b").is_ok());
        assert!(Path::parse_reference("$.a[*]").is_err());
        assert!(Path::parse_reference("$$.Execution").is_err());
    }

    #[test]
    fn set_creates_intermediate_objects() {
        let path = Path::parse_reference("$.master.result.sum").unwrap();
        let out = path.set(json!({"master": {"d": 1}}), json!(6)).unwrap();
        assert_eq!(out, json!({"master": {"d": 1, "result": {"sum": 6}}}));
    }

    #[test]
    fn set_into_a_scalar_fails() {
        let path = Path::parse_reference("$.a.b").unwrap();
        assert!(path.set(json!({"a": "text"}), json!(1)).is_err());
        assert!(path.set(json!("text"), json!(1)).is_err());
    }

    #[test]
    fn set_at_root_replaces_the_document() {
        let path = Path::parse_reference("$").unwrap();
        assert_eq!(path.set(json!({"a": 1}), json!(2)), Ok(json!(2)));
    }

    #[test]
    fn is_present_distinguishes_missing_from_null() {
        let p = Path::parse("$.k").unwrap();
        assert!(p.is_present(&json!({"k": null}), &json!({})));
        assert!(!p.is_present(&json!({}), &json!({})));
    }
}
