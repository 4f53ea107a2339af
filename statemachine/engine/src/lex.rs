//! Literals lexed the same way in JSONPath filter expressions (`path`) and intrinsic function
//! arguments (`intrinsics`): numbers as JSON reads them, and `true`, `false`, `null`.

use serde_json::Value;

/// The number that starts at `chars[*pos]` (a `-` or a digit); `*pos` moves past it.
pub(crate) fn number(chars: &[char], pos: &mut usize) -> Result<Value, String> {
    let start = *pos;
    *pos += 1;
    while chars
        .get(*pos)
        .is_some_and(|c| c.is_ascii_digit() || ".eE+-".contains(*c))
    {
        *pos += 1;
    }
    let text: String = chars[start..*pos].iter().collect();
    serde_json::from_str::<Value>(&text)
        .ok()
        .filter(Value::is_number)
        .ok_or_else(|| format!("'{text}' is not a number"))
}

/// `true`, `false` or `null` at `chars[*pos..]`, if one is there; `*pos` moves past it.
pub(crate) fn keyword(chars: &[char], pos: &mut usize) -> Option<Value> {
    for (word, value) in [
        ("true", Value::Bool(true)),
        ("false", Value::Bool(false)),
        ("null", Value::Null),
    ] {
        let end = *pos + word.len();
        if chars
            .get(*pos..end)
            .is_some_and(|s| s.iter().copied().eq(word.chars()))
        {
            *pos = end;
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn numbers_end_at_the_first_character_json_does_not_continue_them_with() {
        let text = chars("-1.5e3, 2)");
        let mut pos = 0;
        assert_eq!(number(&text, &mut pos), Ok(json!(-1500.0)));
        assert_eq!(pos, 6);
        let mut pos = 8;
        assert_eq!(number(&text, &mut pos), Ok(json!(2)));
        assert_eq!(
            number(&chars("1-"), &mut 0),
            Err("'1-' is not a number".into())
        );
    }

    #[test]
    fn keywords_are_matched_whole_and_only_at_the_position() {
        let text = chars("null,true");
        let mut pos = 0;
        assert_eq!(keyword(&text, &mut pos), Some(Value::Null));
        assert_eq!(pos, 4);
        pos = 5;
        assert_eq!(keyword(&text, &mut pos), Some(json!(true)));
        assert_eq!(keyword(&chars("tru"), &mut 0), None);
    }
}
