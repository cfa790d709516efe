//! Strict reading of JSON objects, shared by source specs and secret
//! values: entries in written order with repeated keys kept (so they can be
//! refused), raw value text (so numbers keep their digits), and error
//! messages that give a position, never the input.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// One object's `(key, raw value)` entries, in order. `Err` is a message
/// that is safe to show: what went wrong and where.
pub fn entries(text: &str) -> Result<Vec<(String, &RawValue)>, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(Entries)
        .and_then(|entries| de.end().map(|()| entries))
        .map_err(|e| error_text(&e))
}

/// serde_json's message for a type error may quote the input; only the
/// kind and position are ever shown.
pub fn error_text(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    // serde_json stops at 128 levels rather than overflow the stack.
    if e.to_string().starts_with("recursion limit exceeded") {
        return format!(
            "nested too deeply at line {} column {}",
            e.line(),
            e.column()
        );
    }
    let what = match e.classify() {
        Category::Syntax => "syntax error",
        Category::Eof => "unexpected end",
        Category::Data => "unexpected type",
        Category::Io => "read error",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// A JSON string's text, or `None` when `raw` is not a string.
pub fn as_str(raw: &RawValue) -> Result<Option<String>, String> {
    if raw.get().starts_with('"') {
        serde_json::from_str(raw.get())
            .map(Some)
            .map_err(|e| error_text(&e))
    } else {
        Ok(None)
    }
}

/// Drop the whitespace between tokens of already-valid JSON text, keeping
/// everything else (number digits, string escapes, key order) as written.
pub fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

struct Entries;

impl<'de> Visitor<'de> for Entries {
    type Value = Vec<(String, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            entries.push((key, map.next_value::<&'de RawValue>()?));
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_order_and_repeats() {
        let e = entries(r#" {"b": 1, "a": {"x": [1, 2]}, "b": "s"} "#).unwrap();
        let got: Vec<(&str, &str)> = e.iter().map(|(k, v)| (k.as_str(), v.get())).collect();
        assert_eq!(
            got,
            [("b", "1"), ("a", r#"{"x": [1, 2]}"#), ("b", r#""s""#)]
        );
    }

    #[test]
    fn errors_never_quote_the_input() {
        for text in [
            r#""SEKRIT""#,
            "[\"SEKRIT\"]",
            "{\"a\": \"SEKRIT\"",
            "{\"a\": SEKRIT}",
            "{} SEKRIT",
        ] {
            let err = entries(text).unwrap_err();
            assert!(!err.contains("SEKRIT"), "{text}: {err}");
            assert!(err.contains("line 1 column"), "{text}: {err}");
        }
    }

    #[test]
    fn compact_keeps_strings_and_digits() {
        let cases = [
            ("{ \"a\" : [ 1 , 2 ] }", "{\"a\":[1,2]}"),
            ("\" spaced \\\" out \"", "\" spaced \\\" out \""),
            ("1.50", "1.50"),
            (
                "[ 123456789012345678901234567890 ]",
                "[123456789012345678901234567890]",
            ),
            ("{\"k\\\\\": \" \"}", "{\"k\\\\\":\" \"}"),
        ];
        for (text, want) in cases {
            assert_eq!(compact(text), want, "{text}");
        }
    }
}
