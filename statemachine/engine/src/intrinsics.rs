//! Intrinsic functions (`States.Format(...)`, `States.ArrayRange(...)` …) usable wherever a
//! `.$` field, `ErrorPath` or `CausePath` accepts a path.
//!
//! Arguments are string literals in single quotes (`\'`, `\\`, `\{`, `\}` escape the reserved
//! characters), numbers, `true`/`false`/`null`, paths (`$.x`, `$$.Execution.Input`) and nested
//! intrinsic calls. Any evaluation problem is a `States.Runtime` error, as on AWS.

use std::fmt::Write as _;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::StatesError;
use crate::path::{json_equal, Path};

/// The longest array `States.ArrayRange` may produce (a Step Functions limit).
const MAX_RANGE_ITEMS: usize = 1000;

/// A parsed intrinsic function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Intrinsic {
    text: String,
    call: Call,
}

#[derive(Debug, Clone, PartialEq)]
struct Call {
    function: Function,
    args: Vec<Arg>,
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// A quoted literal: `value` has the escapes resolved, `raw` keeps them so that
    /// `States.Format` can tell an escaped `\{` from a placeholder.
    Str {
        value: String,
        raw: String,
    },
    Literal(Value),
    Path(Path),
    Call(Call),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Function {
    const ALL: [(&'static str, Function, usize, usize); 18] = [
        ("States.Format", Function::Format, 1, usize::MAX),
        ("States.StringToJson", Function::StringToJson, 1, 1),
        ("States.JsonToString", Function::JsonToString, 1, 1),
        ("States.Array", Function::Array, 0, usize::MAX),
        ("States.ArrayPartition", Function::ArrayPartition, 2, 2),
        ("States.ArrayContains", Function::ArrayContains, 2, 2),
        ("States.ArrayRange", Function::ArrayRange, 3, 3),
        ("States.ArrayGetItem", Function::ArrayGetItem, 2, 2),
        ("States.ArrayLength", Function::ArrayLength, 1, 1),
        ("States.ArrayUnique", Function::ArrayUnique, 1, 1),
        ("States.Base64Encode", Function::Base64Encode, 1, 1),
        ("States.Base64Decode", Function::Base64Decode, 1, 1),
        ("States.Hash", Function::Hash, 2, 2),
        ("States.JsonMerge", Function::JsonMerge, 3, 3),
        ("States.MathRandom", Function::MathRandom, 2, 3),
        ("States.MathAdd", Function::MathAdd, 2, 2),
        ("States.StringSplit", Function::StringSplit, 2, 2),
        ("States.UUID", Function::Uuid, 0, 0),
    ];

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f, _, _)| *f == self)
            .map_or("States.?", |(n, _, _, _)| n)
    }
}

/// An intrinsic that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid intrinsic function '{text}': {reason}")]
pub struct IntrinsicSyntaxError {
    /// The expression as written.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Intrinsic {
    /// Whether a `.$` value is an intrinsic call rather than a path.
    pub fn is_intrinsic(text: &str) -> bool {
        text.starts_with("States.")
    }

    /// Parses `States.Name(arg, …)`; unknown functions and wrong argument counts are errors.
    pub fn parse(text: &str) -> Result<Self, IntrinsicSyntaxError> {
        let mut parser = Parser {
            chars: text.chars().collect(),
            pos: 0,
        };
        let call = parser
            .call()
            .and_then(|call| {
                parser.skip_ws();
                if parser.pos < parser.chars.len() {
                    Err(format!(
                        "unexpected text after the closing parenthesis at {}",
                        parser.pos
                    ))
                } else {
                    Ok(call)
                }
            })
            .map_err(|reason| IntrinsicSyntaxError {
                text: text.to_string(),
                reason,
            })?;
        Ok(Self {
            text: text.to_string(),
            call,
        })
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Evaluates the call; `input` is `$`, `context` is `$$`, `rng` serves `MathRandom`/`UUID`.
    pub fn eval(
        &self,
        input: &Value,
        context: &Value,
        rng: &mut fastrand::Rng,
    ) -> Result<Value, StatesError> {
        eval_call(&self.call, input, context, rng).map_err(|reason| {
            StatesError::runtime(format!(
                "The function '{}' had the following error: {reason}",
                self.text
            ))
        })
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn rest_starts_with(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(i, c)| self.chars.get(self.pos + i) == Some(&c))
    }

    fn call(&mut self) -> Result<Call, String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
        {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        let (_, function, min, max) = Function::ALL
            .iter()
            .find(|(n, ..)| *n == name)
            .copied()
            .ok_or_else(|| format!("unknown function '{name}'"))?;
        self.skip_ws();
        if self.peek() != Some('(') {
            return Err(format!("expected '(' after {name}"));
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                args.push(self.arg()?);
                self.skip_ws();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(format!("expected ',' or ')' in the arguments of {name}")),
                }
            }
        }
        if args.len() < min || args.len() > max {
            return Err(format!(
                "{name} takes {} arguments, got {}",
                if min == max {
                    min.to_string()
                } else if max == usize::MAX {
                    format!("at least {min}")
                } else {
                    format!("{min} to {max}")
                },
                args.len()
            ));
        }
        Ok(Call { function, args })
    }

    fn arg(&mut self) -> Result<Arg, String> {
        match self.peek() {
            Some('\'') => self.string(),
            Some('$') => {
                // A path runs to the next ',' or ')' outside brackets and quotes.
                let start = self.pos;
                let (mut depth, mut quote) = (0usize, None::<char>);
                while let Some(c) = self.peek() {
                    match (quote, c) {
                        (Some(q), c) if c == q => quote = None,
                        (Some(_), '\\') => self.pos += 1,
                        (Some(_), _) => {}
                        (None, '\'' | '"') => quote = Some(c),
                        (None, '[' | '(') => depth += 1,
                        (None, ']') => depth = depth.saturating_sub(1),
                        (None, ')') if depth > 0 => depth -= 1,
                        (None, ',' | ')') if depth == 0 => break,
                        _ => {}
                    }
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                Path::parse(text.trim_end())
                    .map(Arg::Path)
                    .map_err(|e| e.to_string())
            }
            Some('S') if self.rest_starts_with("States.") => self.call().map(Arg::Call),
            Some(c) if c == '-' || c.is_ascii_digit() => {
                crate::lex::number(&self.chars, &mut self.pos).map(Arg::Literal)
            }
            _ => {
                if let Some(value) = crate::lex::keyword(&self.chars, &mut self.pos) {
                    return Ok(Arg::Literal(value));
                }
                Err(format!("unexpected argument at position {}", self.pos))
            }
        }
    }

    fn string(&mut self) -> Result<Arg, String> {
        self.pos += 1;
        let (mut value, mut raw) = (String::new(), String::new());
        loop {
            match self.peek() {
                None => return Err("unterminated string literal".into()),
                Some('\\') => {
                    let escaped = self
                        .chars
                        .get(self.pos + 1)
                        .copied()
                        .ok_or("unterminated string literal")?;
                    value.push(escaped);
                    raw.push('\\');
                    raw.push(escaped);
                    self.pos += 2;
                }
                Some('\'') => {
                    self.pos += 1;
                    return Ok(Arg::Str { value, raw });
                }
                Some(c) => {
                    value.push(c);
                    raw.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

fn eval_arg(
    arg: &Arg,
    input: &Value,
    context: &Value,
    rng: &mut fastrand::Rng,
) -> Result<Value, String> {
    match arg {
        Arg::Str { value, .. } => Ok(Value::String(value.clone())),
        Arg::Literal(v) => Ok(v.clone()),
        Arg::Path(p) => p.eval(input, context).map_err(|e| e.to_string()),
        Arg::Call(c) => eval_call(c, input, context, rng),
    }
}

fn as_array(v: &Value, what: &str) -> Result<Vec<Value>, String> {
    v.as_array()
        .cloned()
        .ok_or_else(|| format!("{what} must be an array, got {v}"))
}

fn as_str<'v>(v: &'v Value, what: &str) -> Result<&'v str, String> {
    v.as_str()
        .ok_or_else(|| format!("{what} must be a string, got {v}"))
}

/// A number rounded half up (towards positive infinity, like Java's `Math.round`): what AWS
/// does to each `States.MathAdd` operand, although its guide asks for integers.
fn as_rounded_int(v: &Value, what: &str) -> Result<i64, String> {
    if let Some(n) = v.as_i64() {
        return Ok(n);
    }
    v.as_f64()
        .filter(|f| f.abs() < 9e15)
        .map(|f| {
            let rounded = if f.fract().abs() == 0.5 {
                f.ceil()
            } else {
                f.round()
            };
            rounded as i64
        })
        .ok_or_else(|| format!("{what} must be a number, got {v}"))
}

fn as_int(v: &Value, what: &str) -> Result<i64, String> {
    v.as_i64()
        .or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                .map(|f| f as i64)
        })
        .ok_or_else(|| format!("{what} must be an integer, got {v}"))
}

fn eval_call(
    call: &Call,
    input: &Value,
    context: &Value,
    rng: &mut fastrand::Rng,
) -> Result<Value, String> {
    let args = call
        .args
        .iter()
        .map(|a| eval_arg(a, input, context, rng))
        .collect::<Result<Vec<_>, _>>()?;
    let name = call.function.name();
    match call.function {
        Function::Format => {
            let template = match &call.args[0] {
                Arg::Str { raw, .. } => raw.clone(),
                // A template read from the input carries no intrinsic escapes.
                _ => as_str(&args[0], "the template")?.replace('\\', "\\\\"),
            };
            format(&template, &args[1..])
        }
        Function::StringToJson => {
            let text = as_str(&args[0], "the argument")?;
            // AWS answers null for a blank string rather than failing on it.
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            serde_json::from_str(text).map_err(|e| format!("'{text}' is not valid JSON: {e}"))
        }
        Function::JsonToString => serde_json::to_string(&args[0])
            .map(Value::String)
            .map_err(|e| e.to_string()),
        Function::Array => Ok(Value::Array(args)),
        Function::ArrayPartition => {
            let items = as_array(&args[0], "the first argument")?;
            let size = as_int(&args[1], "the chunk size")?;
            if size < 1 {
                return Err(format!("the chunk size must be positive, got {size}"));
            }
            Ok(Value::Array(
                items
                    .chunks(size as usize)
                    .map(|c| Value::Array(c.to_vec()))
                    .collect(),
            ))
        }
        Function::ArrayContains => {
            let items = as_array(&args[0], "the first argument")?;
            Ok(Value::Bool(items.iter().any(|v| json_equal(v, &args[1]))))
        }
        Function::ArrayRange => {
            let start = as_int(&args[0], "the start")?;
            let end = as_int(&args[1], "the end")?;
            let step = as_int(&args[2], "the step")?;
            if step == 0 {
                return Err("the step must not be 0".into());
            }
            let mut out = Vec::new();
            let mut i = start;
            while (step > 0 && i <= end) || (step < 0 && i >= end) {
                if out.len() == MAX_RANGE_ITEMS {
                    return Err(format!("the range exceeds {MAX_RANGE_ITEMS} items"));
                }
                out.push(Value::from(i));
                i += step;
            }
            Ok(Value::Array(out))
        }
        Function::ArrayGetItem => {
            let items = as_array(&args[0], "the first argument")?;
            let index = as_int(&args[1], "the index")?;
            usize::try_from(index)
                .ok()
                .and_then(|i| items.get(i).cloned())
                .ok_or_else(|| format!("index {index} is out of bounds"))
        }
        Function::ArrayLength => Ok(Value::from(as_array(&args[0], "the argument")?.len())),
        Function::ArrayUnique => {
            let mut out: Vec<Value> = Vec::new();
            for item in as_array(&args[0], "the argument")? {
                if !out.iter().any(|seen| json_equal(seen, &item)) {
                    out.push(item);
                }
            }
            Ok(Value::Array(out))
        }
        Function::Base64Encode => Ok(Value::String(
            base64::engine::general_purpose::STANDARD.encode(as_str(&args[0], "the argument")?),
        )),
        Function::Base64Decode => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(as_str(&args[0], "the argument")?)
                .map_err(|e| format!("not valid base64: {e}"))?;
            String::from_utf8(bytes)
                .map(Value::String)
                .map_err(|_| "the decoded data is not UTF-8 text".into())
        }
        Function::Hash => {
            let data = as_str(&args[0], "the data")?;
            let algorithm = as_str(&args[1], "the algorithm")?;
            hash(data.as_bytes(), algorithm).map(Value::String)
        }
        Function::JsonMerge => {
            let (Value::Object(left), Value::Object(right)) = (&args[0], &args[1]) else {
                return Err("both values to merge must be JSON objects".into());
            };
            if args[2] != Value::Bool(false) {
                // Step Functions only implements the shallow mode and rejects `true`.
                return Err(
                    "only shallow merging is supported: the third argument must be false".into(),
                );
            }
            let mut merged: Map<String, Value> = left.clone();
            merged.extend(right.clone());
            Ok(Value::Object(merged))
        }
        Function::MathRandom => {
            let start = as_int(&args[0], "the start")?;
            let end = as_int(&args[1], "the end")?;
            if start >= end {
                return Err(format!("the start ({start}) must be below the end ({end})"));
            }
            let value = match args.get(2) {
                Some(seed) => {
                    fastrand::Rng::with_seed(as_int(seed, "the seed")? as u64).i64(start..end)
                }
                None => rng.i64(start..end),
            };
            Ok(Value::from(value))
        }
        Function::MathAdd => {
            let a = as_rounded_int(&args[0], "the first operand")?;
            let b = as_rounded_int(&args[1], "the second operand")?;
            a.checked_add(b)
                .map(Value::from)
                .ok_or_else(|| "integer overflow".into())
        }
        Function::StringSplit => {
            let text = as_str(&args[0], "the string")?;
            let delimiters: Vec<char> = as_str(&args[1], "the delimiter")?.chars().collect();
            Ok(Value::Array(
                text.split(|c| delimiters.contains(&c))
                    .filter(|part| !part.is_empty())
                    .map(|part| Value::String(part.to_string()))
                    .collect(),
            ))
        }
        Function::Uuid => Ok(Value::String(uuid_v4(rng))),
    }
    .map_err(|reason: String| format!("{name}: {reason}"))
}

/// Fills `{}` placeholders left to right; `\{`, `\}`, `\'` and `\\` are literal characters.
fn format(template: &str, args: &[Value]) -> Result<Value, String> {
    let mut out = String::new();
    let mut next = args.iter();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().ok_or("the template ends with '\\'")?),
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                let arg = next
                    .next()
                    .ok_or("the template has more placeholders than arguments")?;
                java_text(arg, &mut out);
            }
            '{' | '}' => return Err(format!("unescaped '{c}' in the template")),
            c => out.push(c),
        }
    }
    if next.next().is_some() {
        return Err("the template has fewer placeholders than arguments".into());
    }
    Ok(Value::String(out))
}

/// How AWS renders a `States.Format` argument: its Java `toString`, so strings appear bare,
/// objects as `{k=v, k2=v2}` and arrays as `[a, b]` (not as JSON), e.g. `{Arg1=1, Arg2=[]}`.
fn java_text(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                java_text(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(key);
                out.push('=');
                java_text(item, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn hash(data: &[u8], algorithm: &str) -> Result<String, String> {
    use sha2::Digest as _;
    Ok(match algorithm {
        "MD5" => hex(&md5::Md5::digest(data)),
        "SHA-1" => hex(&sha1::Sha1::digest(data)),
        "SHA-256" => hex(&sha2::Sha256::digest(data)),
        "SHA-384" => hex(&sha2::Sha384::digest(data)),
        "SHA-512" => hex(&sha2::Sha512::digest(data)),
        other => {
            return Err(format!(
                "unsupported algorithm '{other}' (MD5, SHA-1, SHA-256, SHA-384, SHA-512)"
            ))
        }
    })
}

/// A random (version 4) UUID.
pub(crate) fn uuid_v4(rng: &mut fastrand::Rng) -> String {
    let mut b = [0u8; 16];
    rng.fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(expr: &str, input: Value) -> Result<Value, StatesError> {
        let ctx = json!({"Execution": {"Input": {"k": "ctx"}}});
        Intrinsic::parse(expr)
            .unwrap()
            .eval(&input, &ctx, &mut fastrand::Rng::with_seed(7))
    }

    #[test]
    fn format_fills_placeholders_from_literals_and_paths() {
        let input = json!({"name": "Arnav", "t": "Hi {}."});
        assert_eq!(
            run(
                "States.Format('Hello, {}. Year {}', $.name, 2020)",
                input.clone()
            ),
            Ok(json!("Hello, Arnav. Year 2020"))
        );
        assert_eq!(
            run("States.Format($.t, $.name)", input),
            Ok(json!("Hi Arnav."))
        );
    }

    #[test]
    fn format_honours_escapes() {
        assert_eq!(
            run(r"States.Format('{}\'s \{x\} a\\b', 'Jane')", json!({})),
            Ok(json!(r"Jane's {x} a\b"))
        );
    }

    #[test]
    fn format_rejects_placeholder_count_mismatch() {
        assert!(run("States.Format('{} {}', 'a')", json!({})).is_err());
        assert!(run("States.Format('{}', 'a', 'b')", json!({})).is_err());
    }

    #[test]
    fn string_to_json_and_back() {
        let input = json!({"s": "{\"number\": 20}", "j": {"name": "Foo", "year": 2020}});
        assert_eq!(
            run("States.StringToJson($.s)", input.clone()),
            Ok(json!({"number": 20}))
        );
        assert_eq!(
            run("States.JsonToString($.j)", input),
            Ok(json!("{\"name\":\"Foo\",\"year\":2020}"))
        );
    }

    #[test]
    fn array_builds_from_mixed_arguments() {
        assert_eq!(
            run(
                "States.Array('Foo', 2020, $.o, null, true)",
                json!({"o": {"a": 1}})
            ),
            Ok(json!(["Foo", 2020, {"a": 1}, null, true]))
        );
        assert_eq!(run("States.Array()", json!({})), Ok(json!([])));
    }

    #[test]
    fn array_partition_contains_get_item_length_unique() {
        let input = json!({"a": [1, 2, 3, 4, 5, 6, 7, 8, 9], "dup": [1, 2, 2, 1, 3]});
        assert_eq!(
            run("States.ArrayPartition($.a, 4)", input.clone()),
            Ok(json!([[1, 2, 3, 4], [5, 6, 7, 8], [9]]))
        );
        assert_eq!(
            run("States.ArrayContains($.a, 5)", input.clone()),
            Ok(json!(true))
        );
        assert_eq!(
            run("States.ArrayContains($.a, 10)", input.clone()),
            Ok(json!(false))
        );
        assert_eq!(
            run("States.ArrayGetItem($.a, 5)", input.clone()),
            Ok(json!(6))
        );
        assert!(run("States.ArrayGetItem($.a, 9)", input.clone()).is_err());
        assert_eq!(run("States.ArrayLength($.a)", input.clone()), Ok(json!(9)));
        assert_eq!(
            run("States.ArrayUnique($.dup)", input),
            Ok(json!([1, 2, 3]))
        );
    }

    #[test]
    fn array_range_is_inclusive_and_bounded() {
        assert_eq!(
            run("States.ArrayRange(1, 9, 2)", json!({})),
            Ok(json!([1, 3, 5, 7, 9]))
        );
        assert_eq!(
            run("States.ArrayRange(0, 10, 3)", json!({})),
            Ok(json!([0, 3, 6, 9]))
        );
        assert_eq!(
            run("States.ArrayRange(3, 1, -1)", json!({})),
            Ok(json!([3, 2, 1]))
        );
        assert!(run("States.ArrayRange(0, 5000, 1)", json!({})).is_err());
        assert!(run("States.ArrayRange(0, 5, 0)", json!({})).is_err());
    }

    #[test]
    fn base64_round_trip() {
        assert_eq!(
            run("States.Base64Encode('Data to encode')", json!({})),
            Ok(json!("RGF0YSB0byBlbmNvZGU="))
        );
        assert_eq!(
            run("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", json!({})),
            Ok(json!("Data to encode"))
        );
    }

    #[test]
    fn hash_supports_every_algorithm() {
        let cases = [
            ("MD5", "900150983cd24fb0d6963f7d28e17f72"),
            ("SHA-1", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            ("SHA-256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            ("SHA-384", "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"),
            ("SHA-512", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
        ];
        for (alg, expected) in cases {
            let expr = format!("States.Hash('abc', '{alg}')");
            assert_eq!(run(&expr, json!({})), Ok(json!(expected)), "{alg}");
        }
        assert!(run("States.Hash('abc', 'CRC32')", json!({})).is_err());
    }

    #[test]
    fn json_merge_is_shallow_and_rejects_deep_mode() {
        let input = json!({"a": {"x": {"p": 1}, "b": 2}, "b": {"x": {"q": 1}, "c": 3}});
        assert_eq!(
            run("States.JsonMerge($.a, $.b, false)", input.clone()),
            Ok(json!({"x": {"q": 1}, "b": 2, "c": 3}))
        );
        assert!(run("States.JsonMerge($.a, $.b, true)", input).is_err());
    }

    #[test]
    fn math_add_and_seeded_random() {
        assert_eq!(run("States.MathAdd(111, -1)", json!({})), Ok(json!(110)));
        let first = run("States.MathRandom(1, 1000, 42)", json!({})).unwrap();
        let again = run("States.MathRandom(1, 1000, 42)", json!({})).unwrap();
        assert_eq!(first, again);
        let v = first.as_i64().unwrap();
        assert!((1..1000).contains(&v));
        assert!(run("States.MathRandom(5, 5)", json!({})).is_err());
    }

    #[test]
    fn string_split_uses_every_delimiter_character() {
        assert_eq!(
            run(
                "States.StringSplit('This.is+a,test=string', '.+,=')",
                json!({})
            ),
            Ok(json!(["This", "is", "a", "test", "string"]))
        );
    }

    #[test]
    fn uuid_is_version_4() {
        let id = run("States.UUID()", json!({})).unwrap();
        let id = id.as_str().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }

    #[test]
    fn nested_calls_and_context_paths() {
        assert_eq!(
            run(
                r#"States.JsonMerge(States.StringToJson('{"a": "1"}'), $$.Execution.Input, false)"#,
                json!({})
            ),
            Ok(json!({"a": "1", "k": "ctx"}))
        );
    }

    #[test]
    fn missing_path_argument_is_a_runtime_error() {
        let err = run("States.ArrayLength($.nope)", json!({})).unwrap_err();
        assert_eq!(err.error, "States.Runtime");
    }

    #[test]
    fn unknown_functions_and_bad_arity_do_not_parse() {
        assert!(Intrinsic::parse("States.Nope(1)").is_err());
        assert!(Intrinsic::parse("States.MathAdd(1)").is_err());
        assert!(Intrinsic::parse("States.MathAdd(1, 2").is_err());
        assert!(Intrinsic::parse("States.Format('unterminated)").is_err());
    }
}
