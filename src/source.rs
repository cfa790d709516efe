//! Source specs: a string or JSON object in, a validated [`Source`] out.
//!
//! No I/O happens here, so every malformed spec is refused before the first
//! network call. The forms are those of SPEC §2: a secret NAME (optionally
//! `aws-secrets-manager.NAME`, Metaflow's spelling), a full secret ARN with
//! the ECS `valueFrom` tail, or Metaflow's dict form. Role and region
//! defaults are applied here too, so later steps see final values.

use serde_json::{Map, Value};

use crate::error::{Error, quote};

/// The backend type Metaflow writes in front of a name or in `"type"`.
const AWS_TYPE: &str = "aws-secrets-manager";

/// Role and region for sources that name none (flags, then environment).
#[derive(Debug, Default, Clone)]
pub struct Defaults {
    pub role: Option<String>,
    pub region: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// How messages name this source: the spec string, or a JSON spec's id.
    /// Never a whole JSON spec, which may one day carry inline values.
    pub label: String,
    pub secret_id: String,
    /// `None` means the AWS SDK's own region chain.
    pub region: Option<String>,
    pub role: Option<String>,
    pub version_stage: Option<String>,
    pub version_id: Option<String>,
    pub shape: Shape,
    /// Prepended to every variable name of this source (after sanitising).
    pub prefix: Option<String>,
}

/// How a secret value becomes variables (SPEC §3).
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A JSON object: one variable per key, or only `key` (ECS `json-key`).
    Json { key: Option<String> },
    /// One variable holding the whole value, named `var` or after the secret.
    Whole { var: Option<String> },
}

/// Parse one spec and apply the defaults. `index` (1-based) names a JSON
/// spec in messages when it has no usable id.
pub fn parse(spec: &str, index: usize, defaults: &Defaults) -> Result<Source, Error> {
    let trimmed = spec.trim();
    let mut source = if trimmed.starts_with('{') {
        parse_json(trimmed, index)?
    } else {
        parse_string(trimmed).map_err(|reason| Error::Spec {
            spec: quote(spec),
            reason,
        })?
    };
    if source.region.is_none() {
        source.region = defaults.region.clone();
    }
    if source.role.is_none() {
        source.role = defaults.role.clone();
    }
    Ok(source)
}

/// Specs from `SECRETEXEC_SOURCES`: a JSON list (of strings or objects), or
/// comma-separated specs. A name or ARN never holds a comma, so the split is
/// unambiguous; JSON object specs need the list form.
pub fn split_list(text: &str) -> Result<Vec<String>, Error> {
    let bad = |reason: String| Error::Spec {
        spec: "SECRETEXEC_SOURCES".into(),
        reason,
    };
    let text = text.trim();
    if text.starts_with('[') {
        let items: Vec<Value> = serde_json::from_str(text)
            .map_err(|e| bad(format!("not a JSON list ({})", json_error(&e))))?;
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s),
                Value::Object(_) => Ok(item.to_string()),
                _ => Err(bad(format!(
                    "item {} must be a spec string or a JSON object",
                    i + 1
                ))),
            })
            .collect()
    } else {
        Ok(text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect())
    }
}

fn parse_string(spec: &str) -> Result<Source, String> {
    if spec.is_empty() {
        return Err("empty spec (give a secret name or ARN)".into());
    }
    if spec.starts_with("arn:") {
        return parse_arn(spec);
    }
    // Metaflow's `TYPE.NAME`; only our known type is stripped, so a dotted
    // secret name (`team.db`) stays a name.
    let name = spec
        .strip_prefix(AWS_TYPE)
        .and_then(|rest| rest.strip_prefix('.'))
        .unwrap_or(spec);
    check_name(name)?;
    Ok(aws_source(quote(spec), name.to_string()))
}

fn aws_source(label: String, secret_id: String) -> Source {
    Source {
        label,
        secret_id,
        region: None,
        role: None,
        version_stage: None,
        version_id: None,
        shape: Shape::Json { key: None },
        prefix: None,
    }
}

/// `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME`, optionally
/// followed by ECS's `:json-key:version-stage:version-id` (parts may be
/// empty). The region of the ARN beats every default.
fn parse_arn(spec: &str) -> Result<Source, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let shape = "expected arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME\
                 [:JSON-KEY:VERSION-STAGE:VERSION-ID]";
    if parts.len() < 7 || parts.len() > 10 {
        return Err(format!("not a secret ARN ({shape})"));
    }
    if parts[1].is_empty() || parts[2] != "secretsmanager" || parts[5] != "secret" {
        return Err(format!("not a Secrets Manager secret ARN ({shape})"));
    }
    check_region(parts[3])?;
    if parts[4].is_empty() {
        return Err(format!("the ARN has no account ({shape})"));
    }
    check_name(parts[6])?;
    let part = |i: usize| {
        parts
            .get(i)
            .filter(|p| !p.is_empty())
            .map(|p| p.to_string())
    };
    let mut source = aws_source(quote(spec), parts[..7].join(":"));
    source.region = Some(parts[3].to_string());
    source.shape = Shape::Json { key: part(7) };
    source.version_stage = part(8);
    source.version_id = part(9);
    Ok(source)
}

/// Secrets Manager names: 1–512 of `A-Za-z0-9/_+=.@-`.
fn check_name(name: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c);
    if name.is_empty() || name.len() > 512 || !name.chars().all(ok) {
        return Err(
            "not a secret name (1-512 of A-Z a-z 0-9 / _ + = . @ -), ARN or JSON object".into(),
        );
    }
    Ok(())
}

fn check_region(region: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if region.is_empty() || !region.chars().all(ok) {
        return Err(format!("{} is not a region name", quote(region)));
    }
    Ok(())
}

fn check_role(role: &str) -> Result<(), String> {
    let parts: Vec<&str> = role.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "iam" || !parts[5].starts_with("role/")
    {
        return Err(format!(
            "role {} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
            quote(role)
        ));
    }
    Ok(())
}

/// Check a role or region given by flag or environment, so a bad default
/// is reported once, before any source is fetched.
pub fn check_defaults(defaults: &Defaults) -> Result<(), Error> {
    let usage = Error::Usage;
    if let Some(role) = &defaults.role {
        check_role(role).map_err(usage)?;
    }
    if let Some(region) = &defaults.region {
        check_region(region).map_err(usage)?;
    }
    Ok(())
}

/// `[A-Za-z_][A-Za-z0-9_]*`: what every shell and `env(1)` accept.
pub fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

const OPTIONS: &str = "json, env_var_name, region, version_stage, version_id, prefix";

/// Metaflow's dict form: `{"id", "type", "role", "options"}`.
fn parse_json(spec: &str, index: usize) -> Result<Source, Error> {
    let position = format!("#{index} (JSON)");
    let bad = |label: &str, reason: String| Error::Spec {
        spec: label.to_string(),
        reason,
    };
    let object: Map<String, Value> = match serde_json::from_str(spec) {
        Ok(Value::Object(o)) => o,
        Ok(_) => return Err(bad(&position, "not a JSON object".into())),
        Err(e) => {
            return Err(bad(
                &position,
                format!("not valid JSON ({})", json_error(&e)),
            ));
        }
    };
    let id = match object.get("id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        _ => return Err(bad(&position, "needs \"id\": a secret name or ARN".into())),
    };
    let label = quote(&id);
    let bad = |reason: String| bad(&label, reason);
    for key in object.keys() {
        if !["id", "type", "role", "options"].contains(&key.as_str()) {
            return Err(bad(format!(
                "unknown key {} (known: id, type, role, options)",
                quote(key)
            )));
        }
    }
    match object.get("type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t == AWS_TYPE => {}
        Some(Value::String(t)) => {
            return Err(bad(format!(
                "unsupported type {} (known: {AWS_TYPE})",
                quote(t)
            )));
        }
        Some(_) => return Err(bad("\"type\" must be a string".into())),
    }
    let mut source = parse_string(&id).map_err(&bad)?;
    source.label = label.clone();
    match object.get("role") {
        None | Some(Value::Null) => {}
        Some(Value::String(role)) => {
            check_role(role).map_err(&bad)?;
            source.role = Some(role.clone());
        }
        Some(_) => return Err(bad("\"role\" must be a string".into())),
    }
    let options = match object.get("options") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => return Err(bad("\"options\" must be an object".into())),
    };
    let mut json = true;
    let mut env_var_name = None;
    for (key, value) in &options {
        let string = || match value {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            _ => Err(bad(format!(
                "option {} must be a non-empty string",
                quote(key)
            ))),
        };
        match key.as_str() {
            "json" => {
                json = value
                    .as_bool()
                    .ok_or_else(|| bad("option 'json' must be true or false".into()))?
            }
            "env_var_name" => {
                let name = string()?;
                if !is_var_name(&name) {
                    return Err(bad(format!(
                        "env_var_name {} is not a variable name ([A-Za-z_][A-Za-z0-9_]*)",
                        quote(&name)
                    )));
                }
                env_var_name = Some(name);
            }
            // The ARN's own region beats the option (SPEC §2).
            "region" => {
                let region = string()?;
                check_region(&region).map_err(&bad)?;
                if source.region.is_none() {
                    source.region = Some(region);
                }
            }
            "version_stage" => source.version_stage = Some(string()?),
            "version_id" => source.version_id = Some(string()?),
            "prefix" => {
                let prefix = string()?;
                if !is_var_name(&prefix) {
                    return Err(bad(format!(
                        "prefix {} is not a variable name ([A-Za-z_][A-Za-z0-9_]*)",
                        quote(&prefix)
                    )));
                }
                source.prefix = Some(prefix);
            }
            _ => {
                return Err(bad(format!(
                    "unknown option {} (known: {OPTIONS})",
                    quote(key)
                )));
            }
        }
    }
    if !json {
        if let Shape::Json { key: Some(_) } = source.shape {
            return Err(bad("a JSON key in the ARN needs \"json\": true".into()));
        }
        // With json true, env_var_name is ignored, as in Metaflow.
        source.shape = Shape::Whole { var: env_var_name };
    }
    Ok(source)
}

/// serde_json's message for a syntax error names a position, and for a type
/// error may quote the input; only the position and kind are ever shown.
pub fn json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Syntax => "syntax error",
        Category::Eof => "unexpected end",
        Category::Data => "unexpected type",
        Category::Io => "read error",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // table cases read best as tuples
mod tests {
    use super::*;

    fn src(id: &str, region: Option<&str>, role: Option<&str>) -> Source {
        Source {
            label: String::new(),
            secret_id: id.into(),
            region: region.map(String::from),
            role: role.map(String::from),
            version_stage: None,
            version_id: None,
            shape: Shape::Json { key: None },
            prefix: None,
        }
    }

    const ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf";
    const ROLE: &str = "arn:aws:iam::123456789012:role/reader";

    fn parsed(spec: &str, defaults: &Defaults) -> Source {
        let mut s = parse(spec, 1, defaults).unwrap_or_else(|e| panic!("{spec}: {e}"));
        s.label.clear();
        s
    }

    #[test]
    fn accepted_specs() {
        let none = Defaults::default();
        let with = Defaults {
            role: Some("arn:aws:iam::1:role/default".into()),
            region: Some("us-west-2".into()),
        };
        let role = Some("arn:aws:iam::1:role/default");
        let cases: Vec<(&str, &str, &Defaults, Source)> = vec![
            ("plain name", "prod-db", &none, src("prod-db", None, None)),
            (
                "all name characters",
                "a/b_c+d=e.f@g-h",
                &none,
                src("a/b_c+d=e.f@g-h", None, None),
            ),
            (
                "dotted name is not a backend",
                "team.db",
                &none,
                src("team.db", None, None),
            ),
            (
                "metaflow backend prefix",
                "aws-secrets-manager.team.db",
                &none,
                src("team.db", None, None),
            ),
            (
                "defaults apply",
                "prod-db",
                &with,
                src("prod-db", Some("us-west-2"), role),
            ),
            (
                "arn region beats default",
                ARN,
                &with,
                src(ARN, Some("eu-west-1"), role),
            ),
            (
                "china partition",
                "arn:aws-cn:secretsmanager:cn-north-1:1:secret:x",
                &none,
                src(
                    "arn:aws-cn:secretsmanager:cn-north-1:1:secret:x",
                    Some("cn-north-1"),
                    None,
                ),
            ),
            (
                "json dict with role and region",
                r#"{"id": "prod-db", "type": "aws-secrets-manager", "role": "arn:aws:iam::123456789012:role/reader", "options": {"region": "ap-south-1"}}"#,
                &with,
                src("prod-db", Some("ap-south-1"), Some(ROLE)),
            ),
            (
                "json dict arn region beats option",
                format!(r#"{{"id": "{ARN}", "options": {{"region": "ap-south-1"}}}}"#).leak(),
                &none,
                src(ARN, Some("eu-west-1"), None),
            ),
            (
                "json dict null role takes default",
                r#"{"id": "x", "role": null, "options": null}"#,
                &with,
                src("x", Some("us-west-2"), role),
            ),
        ];
        for (name, spec, defaults, want) in cases {
            assert_eq!(parsed(spec, defaults), want, "{name}");
        }
    }

    #[test]
    fn shapes_and_options() {
        let none = Defaults::default();
        let cases: Vec<(&str, &str, Shape, Option<&str>, Option<&str>, Option<&str>)> = vec![
            (
                "default json",
                "x",
                Shape::Json { key: None },
                None,
                None,
                None,
            ),
            (
                "json false names after the secret",
                r#"{"id": "x", "options": {"json": false}}"#,
                Shape::Whole { var: None },
                None,
                None,
                None,
            ),
            (
                "json false with env_var_name",
                r#"{"id": "x", "options": {"json": false, "env_var_name": "TOKEN"}}"#,
                Shape::Whole {
                    var: Some("TOKEN".into()),
                },
                None,
                None,
                None,
            ),
            (
                "env_var_name ignored with json true",
                r#"{"id": "x", "options": {"env_var_name": "TOKEN"}}"#,
                Shape::Json { key: None },
                None,
                None,
                None,
            ),
            (
                "versions and prefix",
                r#"{"id": "x", "options": {"version_stage": "AWSPREVIOUS", "version_id": "v1", "prefix": "DB_"}}"#,
                Shape::Json { key: None },
                Some("AWSPREVIOUS"),
                Some("v1"),
                Some("DB_"),
            ),
            (
                "ecs tail all parts",
                format!("{ARN}:password:AWSPREVIOUS:v1").leak(),
                Shape::Json {
                    key: Some("password".into()),
                },
                Some("AWSPREVIOUS"),
                Some("v1"),
                None,
            ),
            (
                "ecs tail empty parts",
                format!("{ARN}::AWSPREVIOUS:").leak(),
                Shape::Json { key: None },
                Some("AWSPREVIOUS"),
                None,
                None,
            ),
            (
                "ecs tail key only",
                format!("{ARN}:password::").leak(),
                Shape::Json {
                    key: Some("password".into()),
                },
                None,
                None,
                None,
            ),
        ];
        for (name, spec, shape, stage, id, prefix) in cases {
            let s = parsed(spec, &none);
            assert_eq!(s.shape, shape, "{name}");
            assert_eq!(s.version_stage.as_deref(), stage, "{name}");
            assert_eq!(s.version_id.as_deref(), id, "{name}");
            assert_eq!(s.prefix.as_deref(), prefix, "{name}");
            if spec.starts_with("arn:") {
                assert_eq!(s.secret_id, ARN, "{name}: tail is not part of the id");
            }
        }
    }

    #[test]
    fn rejected_specs() {
        let cases = [
            ("empty", "", "empty spec"),
            ("space in name", "my secret", "not a secret name"),
            ("colon in name", "file:x", "not a secret name"),
            ("bare backend", "aws-secrets-manager.", "not a secret name"),
            (
                "short arn",
                "arn:aws:secretsmanager:us-east-1:1:secret",
                "not a secret ARN",
            ),
            (
                "other service arn",
                "arn:aws:ssm:us-east-1:1:parameter:x",
                "not a Secrets Manager",
            ),
            (
                "bad arn region",
                "arn:aws:secretsmanager:US_EAST:1:secret:x",
                "not a region",
            ),
            (
                "arn without account",
                "arn:aws:secretsmanager:us-east-1::secret:x",
                "no account",
            ),
            (
                "too long arn tail",
                format!("{ARN}:a:b:c:d").leak(),
                "not a secret ARN",
            ),
            ("bad json", r#"{"id": "x""#, "not valid JSON"),
            (
                "no id",
                r#"{"type": "aws-secrets-manager"}"#,
                "needs \"id\"",
            ),
            ("empty id", r#"{"id": ""}"#, "needs \"id\""),
            (
                "unknown key",
                r#"{"id": "x", "secret": 1}"#,
                "unknown key 'secret'",
            ),
            (
                "unknown type",
                r#"{"id": "x", "type": "vault"}"#,
                "unsupported type 'vault'",
            ),
            (
                "bad role",
                r#"{"id": "x", "role": "reader"}"#,
                "not an IAM role ARN",
            ),
            (
                "role not string",
                r#"{"id": "x", "role": 5}"#,
                "must be a string",
            ),
            (
                "unknown option",
                r#"{"id": "x", "options": {"jsn": false}}"#,
                "unknown option 'jsn'",
            ),
            (
                "json not bool",
                r#"{"id": "x", "options": {"json": "no"}}"#,
                "true or false",
            ),
            (
                "bad env_var_name",
                r#"{"id": "x", "options": {"json": false, "env_var_name": "1X"}}"#,
                "not a variable name",
            ),
            (
                "bad prefix",
                r#"{"id": "x", "options": {"prefix": "A-"}}"#,
                "not a variable name",
            ),
            (
                "bad option region",
                r#"{"id": "x", "options": {"region": "Mars 1"}}"#,
                "not a region",
            ),
            (
                "options not object",
                r#"{"id": "x", "options": []}"#,
                "must be an object",
            ),
            ("bad id", r#"{"id": "a b"}"#, "not a secret name"),
            (
                "json key needs json",
                format!(r#"{{"id": "{ARN}:k::", "options": {{"json": false}}}}"#).leak(),
                "needs \"json\": true",
            ),
        ];
        for (name, spec, want) in cases {
            match parse(spec, 3, &Defaults::default()) {
                Err(e @ Error::Spec { .. }) => {
                    assert!(e.to_string().contains(want), "{name}: {e}");
                    assert_eq!(e.exit_code(), 125);
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn messages_name_json_specs_by_id_or_position() {
        let e = parse(r#"{"id": "db", "bogus": 1}"#, 2, &Defaults::default()).unwrap_err();
        assert!(e.to_string().starts_with("bad source 'db':"), "{e}");
        let e = parse(r#"{"bogus": "#, 2, &Defaults::default()).unwrap_err();
        assert!(e.to_string().starts_with("bad source #2 (JSON):"), "{e}");
        let e = parse("a b", 2, &Defaults::default()).unwrap_err();
        assert!(e.to_string().starts_with("bad source 'a b':"), "{e}");
    }

    #[test]
    fn env_list() {
        let cases: &[(&str, &[&str])] = &[
            ("a, b ,,c", &["a", "b", "c"]),
            ("", &[]),
            (r#"["a", {"id": "b"}]"#, &["a", r#"{"id":"b"}"#]),
        ];
        for (text, want) in cases {
            assert_eq!(split_list(text).unwrap(), *want, "{text}");
        }
        for bad in ["[1]", "[\"a\""] {
            assert!(split_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_are_checked() {
        let bad_role = Defaults {
            role: Some("reader".into()),
            region: None,
        };
        assert!(check_defaults(&bad_role).is_err());
        let bad_region = Defaults {
            role: None,
            region: Some("Mars".into()),
        };
        assert!(check_defaults(&bad_region).is_err());
        let good = Defaults {
            role: Some(ROLE.into()),
            region: Some("eu-west-1".into()),
        };
        assert!(check_defaults(&good).is_ok());
    }

    #[test]
    fn var_names() {
        for good in ["A", "_", "a_1", "DB_PASSWORD"] {
            assert!(is_var_name(good), "{good}");
        }
        for bad in ["", "1A", "A-B", "A.B", "É", "A B", "A=B"] {
            assert!(!is_var_name(bad), "{bad}");
        }
    }
}
