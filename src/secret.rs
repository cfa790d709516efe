//! One fetched secret value in, ordered `(name, value)` pairs out (SPEC §3).
//!
//! The value is hostile input: it may be huge, malformed, repeat a key or
//! hold a NUL. Every error names keys and the source, never a value.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::error::quote;
use crate::source::{Origin, Shape, Source, is_var_name};
use crate::{dotenv, json};

/// A secret value as Secrets Manager returns it (or a local source holds),
/// or the parameters under an SSM path: (name relative to the path, value).
pub enum Raw {
    String(String),
    Binary(Vec<u8>),
    Entries(Vec<(String, String)>),
}

/// `Debug` shows the kind and size, never the bytes, so that a stray
/// `{:?}` cannot print a secret.
impl fmt::Debug for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Raw::String(s) => write!(f, "SecretString({} bytes)", s.len()),
            Raw::Binary(b) => write!(f, "SecretBinary({} bytes)", b.len()),
            Raw::Entries(e) => write!(f, "Parameters({})", e.len()),
        }
    }
}

/// Turn a value into variables. `name` is the secret's name as AWS
/// returned it (a file's name for `file:`), used for `json: false` without
/// `env_var_name`. Errors are reasons; the caller adds the source.
pub fn to_vars(source: &Source, name: &str, raw: &Raw) -> Result<Vec<(String, String)>, String> {
    let upper = source.upper;
    let pairs = match (&source.shape, raw) {
        // The parameters under a path: one variable per parameter, named
        // by its path relative to the listed one.
        (_, Raw::Entries(entries)) => key_vars(entries.clone(), None, upper)?,
        // SecretBinary is one base64 variable whatever `json` says, as in
        // Metaflow.
        (Shape::Whole { var }, raw) | (Shape::Json { var, .. }, raw @ Raw::Binary(_)) => {
            let value = match raw {
                Raw::String(s) => s.clone(),
                Raw::Binary(b) => base64(b),
                Raw::Entries(_) => unreachable!("matched above"),
            };
            let var = match var {
                Some(var) => var.clone(),
                None => sanitize(name).map(|n| cased(n, upper)).ok_or_else(|| {
                    format!(
                        "secret name {} does not make a variable name; set options.env_var_name",
                        quote(name)
                    )
                })?,
            };
            vec![(var, value)]
        }
        (
            Shape::Json {
                key: None,
                var: Some(_),
            },
            Raw::String(_),
        ) => {
            return Err(
                "env_var_name has no effect on a JSON object (one variable per key); drop it, \
                 or use \"json\": false or an ECS json-key"
                    .into(),
            );
        }
        (Shape::Json { key, var }, Raw::String(text)) => {
            let entries = if text.trim_start().starts_with('{') {
                json_entries(text)?
            } else if let Origin::File(_) = source.origin {
                dotenv::parse(text).map_err(|e| format!("not a dotenv file ({e})"))?
            } else {
                return Err(
                    "the value is not a JSON object; use \"json\": false for the whole \
                            string, or select a key (ECS json-key)"
                        .into(),
                );
            };
            let mut pairs = key_vars(entries, key.as_deref(), upper)?;
            // A selected key named by env_var_name.
            if let (Some(var), [(name, _)]) = (var, pairs.as_mut_slice()) {
                name.clone_from(var);
            }
            pairs
        }
    };
    let prefix = source.prefix.as_deref().unwrap_or("");
    let mut out = Vec::with_capacity(pairs.len());
    for (name, value) in pairs {
        if value.contains('\0') {
            return Err(format!(
                "the value for {} contains a NUL byte",
                quote(&name)
            ));
        }
        out.push((format!("{prefix}{name}"), value));
    }
    Ok(out)
}

/// A JSON object's keys with their values as text: strings as they are,
/// anything else as compact JSON as written (numbers keep their digits).
fn json_entries(text: &str) -> Result<Vec<(String, String)>, String> {
    let entries =
        json::entries(text).map_err(|e| format!("the value is not a valid JSON object ({e})"))?;
    entries
        .into_iter()
        .map(|(key, raw)| {
            let value = match json::as_str(raw) {
                Ok(Some(s)) => s,
                Ok(None) => json::compact(raw.get()),
                Err(e) => return Err(format!("the value is not valid JSON ({e})")),
            };
            Ok((key, value))
        })
        .collect()
}

/// Keys to variable names: refuse a key given twice (parsers differ on
/// which copy wins) and keys that sanitise to the same name; select one
/// key when asked.
fn key_vars(
    entries: Vec<(String, String)>,
    only: Option<&str>,
    upper: bool,
) -> Result<Vec<(String, String)>, String> {
    let mut seen: HashSet<&str> = HashSet::with_capacity(entries.len());
    for (key, _) in &entries {
        if !seen.insert(key) {
            return Err(format!("key {} appears more than once", quote(key)));
        }
    }
    if let Some(only) = only {
        let (_, value) = entries
            .into_iter()
            .find(|(k, _)| k == only)
            .ok_or_else(|| format!("JSON key {} is not in the secret", quote(only)))?;
        return Ok(vec![(cased(var_for("key", only)?, upper), value)]);
    }
    let mut by_var: HashMap<String, String> = HashMap::with_capacity(entries.len());
    let mut out = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let var = cased(var_for("key", &key)?, upper);
        if let Some(other) = by_var.insert(var.clone(), key.clone()) {
            return Err(format!(
                "keys {} and {} both become {var}",
                quote(&other),
                quote(&key)
            ));
        }
        out.push((var, value));
    }
    Ok(out)
}

/// `key` sanitised into a variable name, or why it cannot be one; `what`
/// names it in the message (`key`, `env_var_name`).
pub fn var_for(what: &str, key: &str) -> Result<String, String> {
    sanitize(key).ok_or_else(|| {
        format!(
            "{what} {} does not make a variable name ([A-Za-z_][A-Za-z0-9_]* after - . / become _)",
            quote(key)
        )
    })
}

/// chamber's naming (`uppercase`): a sanitised name in upper case.
fn cased(name: String, upper: bool) -> String {
    if upper {
        name.to_ascii_uppercase()
    } else {
        name
    }
}

/// `-`, `.` and `/` become `_`; the result must be a variable name.
pub fn sanitize(key: &str) -> Option<String> {
    let name: String = key
        .chars()
        .map(|c| if matches!(c, '-' | '.' | '/') { '_' } else { c })
        .collect();
    is_var_name(&name).then_some(name)
}

/// Standard padded base64 (RFC 4648 §4), as the AWS CLI prints
/// `SecretBinary`.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // table cases read best as tuples
mod tests {
    use super::*;

    fn source(shape: Shape, prefix: Option<&str>) -> Source {
        Source {
            label: "s".into(),
            origin: Origin::Inline(String::new()),
            shape,
            prefix: prefix.map(String::from),
            upper: false,
        }
    }

    fn json() -> Source {
        source(
            Shape::Json {
                key: None,
                var: None,
            },
            None,
        )
    }

    fn vars(source: &Source, name: &str, raw: Raw) -> Result<Vec<(String, String)>, String> {
        to_vars(source, name, &raw)
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn values_become_variables() {
        let obj = json();
        let whole = source(Shape::Whole { var: None }, None);
        let named = source(
            Shape::Whole {
                var: Some("TOKEN".into()),
            },
            None,
        );
        let key = source(
            Shape::Json {
                key: Some("pass-word".into()),
                var: None,
            },
            None,
        );
        let prefixed = source(
            Shape::Json {
                key: None,
                var: None,
            },
            Some("DB_"),
        );
        let s = |t: &str| Raw::String(t.into());
        let cases: Vec<(&str, &Source, &str, Raw, Vec<(String, String)>)> = vec![
            (
                "object keys in order",
                &obj,
                "n",
                s(r#"{"user": "admin", "host": "db"}"#),
                pairs(&[("user", "admin"), ("host", "db")]),
            ),
            (
                "non-strings as compact json",
                &obj,
                "n",
                s(
                    r#"{"port": 5432, "tls": true, "x": null, "nested": { "a" : [1, 2], "b": " s p " }}"#,
                ),
                pairs(&[
                    ("port", "5432"),
                    ("tls", "true"),
                    ("x", "null"),
                    ("nested", r#"{"a":[1,2],"b":" s p "}"#),
                ]),
            ),
            (
                "numbers keep their digits",
                &obj,
                "n",
                s(r#"{"big": 123456789012345678901234567890, "f": 1.50, "e": 1E+2}"#),
                pairs(&[
                    ("big", "123456789012345678901234567890"),
                    ("f", "1.50"),
                    ("e", "1E+2"),
                ]),
            ),
            (
                "string escapes decode",
                &obj,
                "n",
                s(r#"{"a": "line1\nline2 \"q\" \u00e9 \\ $HOME"}"#),
                pairs(&[("a", "line1\nline2 \"q\" é \\ $HOME")]),
            ),
            (
                "key sanitising",
                &obj,
                "n",
                s(r#"{"db-host": "h", "a.b/c": "x", "_ok": ""}"#),
                pairs(&[("db_host", "h"), ("a_b_c", "x"), ("_ok", "")]),
            ),
            ("empty object", &obj, "n", s("{}"), vec![]),
            (
                "whole string named after secret",
                &whole,
                "prod/db-creds.v1",
                s("not json"),
                pairs(&[("prod_db_creds_v1", "not json")]),
            ),
            (
                "whole string env_var_name",
                &named,
                "n",
                s("{\"a\":1}"),
                pairs(&[("TOKEN", "{\"a\":1}")]),
            ),
            (
                "binary as base64",
                &named,
                "n",
                Raw::Binary(vec![0, 1, 2, 253, 254, 255, 10]),
                pairs(&[("TOKEN", "AAEC/f7/Cg==")]),
            ),
            (
                "json key selects one",
                &key,
                "n",
                s(r#"{"user": "u", "pass-word": "p"}"#),
                pairs(&[("pass_word", "p")]),
            ),
            (
                "prefix after sanitising",
                &prefixed,
                "n",
                s(r#"{"user-name": "u"}"#),
                pairs(&[("DB_user_name", "u")]),
            ),
        ];
        for (name, src, secret_name, raw, want) in cases {
            assert_eq!(vars(src, secret_name, raw), Ok(want), "{name}");
        }
    }

    #[test]
    fn bad_values_are_refused_without_their_content() {
        let obj = json();
        let whole = source(Shape::Whole { var: None }, None);
        let key = source(
            Shape::Json {
                key: Some("missing".into()),
                var: None,
            },
            None,
        );
        let s = |t: &str| Raw::String(t.into());
        let cases: Vec<(&str, &Source, &str, Raw, &str)> = vec![
            (
                "not an object",
                &obj,
                "n",
                s("\"SEKRIT\""),
                "not a JSON object",
            ),
            ("array", &obj, "n", s("[\"SEKRIT\"]"), "not a JSON object"),
            ("plain text", &obj, "n", s("SEKRIT"), "not a JSON object"),
            ("truncated", &obj, "n", s("{\"a\": \"SEKRIT"), "valid JSON"),
            (
                "trailing garbage",
                &obj,
                "n",
                s("{\"a\": \"SEKRIT\"} x"),
                "valid JSON",
            ),
            (
                "repeated key",
                &obj,
                "n",
                s(r#"{"a": "SEKRIT", "a": "SEKRIT2"}"#),
                "key 'a' appears more than once",
            ),
            (
                "keys collide",
                &obj,
                "n",
                s(r#"{"a-b": "SEKRIT", "a_b": "SEKRIT"}"#),
                "keys 'a-b' and 'a_b' both become a_b",
            ),
            (
                "bad key",
                &obj,
                "n",
                s(r#"{"a b": "SEKRIT"}"#),
                "key 'a b' does not make",
            ),
            (
                "key starting with digit",
                &obj,
                "n",
                s(r#"{"1a": "SEKRIT"}"#),
                "key '1a'",
            ),
            ("unicode key", &obj, "n", s(r#"{"é": "SEKRIT"}"#), "key 'é'"),
            (
                "key with equals",
                &obj,
                "n",
                s(r#"{"a=b": "SEKRIT"}"#),
                "key 'a=b'",
            ),
            (
                "nul in value",
                &obj,
                "n",
                s(r#"{"a": "SEK\u0000RIT"}"#),
                "'a' contains a NUL byte",
            ),
            (
                "nul in key",
                &obj,
                "n",
                s(r#"{"a\u0000": "SEKRIT"}"#),
                "key 'a\\0'",
            ),
            (
                "nul in whole string",
                &whole,
                "name",
                s("SEK\0RIT"),
                "contains a NUL byte",
            ),
            (
                "lone surrogate",
                &obj,
                "n",
                s(r#"{"a": "\ud800SEKRIT"}"#),
                "valid JSON",
            ),
            (
                "missing json key",
                &key,
                "n",
                s(r#"{"a": "SEKRIT"}"#),
                "JSON key 'missing' is not in the secret",
            ),
            (
                "secret name not a variable",
                &whole,
                "my+secret",
                s("SEKRIT"),
                "set options.env_var_name",
            ),
        ];
        for (name, src, secret_name, raw, want) in cases {
            let err = vars(src, secret_name, raw).expect_err(name);
            assert!(err.contains(want), "{name}: {err}");
            assert!(!err.contains("SEKRIT"), "{name} leaks the value: {err}");
        }
    }

    #[test]
    fn files_may_be_dotenv_other_sources_may_not() {
        let file = Source {
            origin: Origin::File("dev.env".into()),
            ..json()
        };
        let text = Raw::String("A=1\nb-c='x y'\n".into());
        assert_eq!(
            to_vars(&file, "dev.env", &text),
            Ok(pairs(&[("A", "1"), ("b_c", "x y")]))
        );
        let json_file = Raw::String(" {\"A\": 1}".into());
        assert_eq!(
            to_vars(&file, "dev.json", &json_file),
            Ok(pairs(&[("A", "1")]))
        );
        let bad = Raw::String("A=1\nSEKRIT".into());
        let err = to_vars(&file, "dev.env", &bad).unwrap_err();
        assert_eq!(err, "not a dotenv file (line 2: expected KEY=VALUE)");
        let repeated = Raw::String("A=1\nA=SEKRIT".into());
        assert!(
            to_vars(&file, "dev.env", &repeated)
                .unwrap_err()
                .contains("'A' appears more than once")
        );
        assert!(
            to_vars(&json(), "n", &text)
                .unwrap_err()
                .contains("not a JSON object")
        );
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn debug_never_shows_the_value() {
        let shown = format!(
            "{:?} {:?}",
            Raw::String("SEKRIT".into()),
            Raw::Binary(b"SEKRIT".to_vec())
        );
        assert!(!shown.contains("SEKRIT"), "{shown}");
    }

    #[test]
    fn metaflow_and_ecs_shapes() {
        let binary = || Raw::Binary(b"\x00\xffab".to_vec());
        // SecretBinary is base64 whatever json says, named after the
        // secret or env_var_name.
        let json = source(
            Shape::Json {
                key: None,
                var: None,
            },
            None,
        );
        assert_eq!(
            vars(&json, "my-cert.v1", binary()).unwrap(),
            [("my_cert_v1".into(), "AP9hYg==".into())]
        );
        let named = source(
            Shape::Json {
                key: None,
                var: Some("CERT".into()),
            },
            None,
        );
        assert_eq!(
            vars(&named, "x", binary()).unwrap(),
            [("CERT".into(), "AP9hYg==".into())]
        );
        // env_var_name on an expanded object would do nothing: refused.
        let err = vars(&named, "x", Raw::String(r#"{"A": "SEKRIT"}"#.into())).unwrap_err();
        assert!(err.contains("env_var_name has no effect"), "{err}");
        assert!(!err.contains("SEKRIT"));
        // With a json-key, env_var_name renames that variable.
        let key = source(
            Shape::Json {
                key: Some("pass".into()),
                var: Some("DB_PASS".into()),
            },
            None,
        );
        assert_eq!(
            vars(
                &key,
                "x",
                Raw::String(r#"{"pass": "p", "user": "u"}"#.into())
            )
            .unwrap(),
            [("DB_PASS".into(), "p".into())]
        );
    }
}
