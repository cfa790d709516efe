//! Source specs: a string or JSON object in, a validated [`Source`] out.
//!
//! No I/O happens here, so every malformed spec is refused before the first
//! network call. The forms are those of SPEC §2: a secret NAME (optionally
//! `aws-secrets-manager.NAME`, Metaflow's spelling), a full secret ARN with
//! the ECS `valueFrom` tail, an SSM parameter (`ssm:/path/name`, a path
//! `ssm:/path/`, an SSM ARN), `file:PATH`, or Metaflow's dict form (whose
//! `type` may also be `ssm` or `inline`). Role and region defaults are
//! applied here too, so later steps see final values.

use std::path::PathBuf;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::{Error, quote};
use crate::json;

/// The backend type Metaflow writes in front of a name or in `"type"`.
const AWS_TYPE: &str = "aws-secrets-manager";
const INLINE_TYPE: &str = "inline";
const SSM_TYPE: &str = "ssm";

/// Role and region for sources that name none (flags, then environment).
#[derive(Debug, Default, Clone)]
pub struct Defaults {
    pub role: Option<String>,
    pub region: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// How output names this source: the spec string, or a JSON spec's id.
    /// Never a whole JSON spec, which may carry inline values.
    pub label: String,
    pub origin: Origin,
    pub shape: Shape,
    /// Prepended to every variable name of this source (after sanitising).
    pub prefix: Option<String>,
    /// Variable names upper-cased after sanitising (chamber's naming).
    pub upper: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// A Secrets Manager secret.
    Aws(AwsSecret),
    /// An SSM Parameter Store parameter, or the parameters under a path.
    Ssm(SsmParameter),
    /// A local JSON object or dotenv file.
    File(PathBuf),
    /// Metaflow's `inline` type: the JSON text of `options.env_vars`.
    Inline(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct AwsSecret {
    pub secret_id: String,
    /// `None` means the AWS SDK's own region chain.
    pub region: Option<String>,
    pub role: Option<String>,
    pub version_stage: Option<String>,
    pub version_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SsmParameter {
    /// A name or ARN, with SSM's own `:VERSION` or `:LABEL` selector when
    /// given; for a path, the path with its trailing `/`.
    pub name: String,
    /// `ssm:/prod/app/`: every parameter directly under the path.
    pub path: bool,
    /// With `path`: nested parameters too, named by their relative path.
    pub recursive: bool,
    pub region: Option<String>,
    pub role: Option<String>,
}

impl Origin {
    /// Region and role of an AWS source (either service).
    pub fn aws_place(&mut self) -> Option<(&mut Option<String>, &mut Option<String>)> {
        match self {
            Origin::Aws(a) => Some((&mut a.region, &mut a.role)),
            Origin::Ssm(p) => Some((&mut p.region, &mut p.role)),
            Origin::File(_) | Origin::Inline(_) => None,
        }
    }
}

/// How a secret value becomes variables (SPEC §3).
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A JSON object (or a dotenv file): one variable per key, or only
    /// `key` (ECS `json-key`), named `var` when given. A `SecretBinary`
    /// is one base64 variable named `var` or after the secret (Metaflow).
    Json {
        key: Option<String>,
        var: Option<String>,
    },
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
    if let Some((region, role)) = source.origin.aws_place() {
        if region.is_none() {
            region.clone_from(&defaults.region);
        }
        if role.is_none() {
            role.clone_from(&defaults.role);
        }
    }
    Ok(source)
}

/// `--from-env` (secrets-init's mode): when the inherited variable `var`
/// holds a reference, the source that replaces it in place. A reference is
/// a Secrets Manager secret ARN (`...:secretsmanager:...:secret:...`, ECS
/// `valueFrom` tail allowed) or an SSM parameter ARN
/// (`...:ssm:...:parameter/...`); any other value, other ARNs included, is
/// `None` and stays as it is. A malformed reference is an error: the
/// variable would otherwise reach the command holding an ARN for a password.
pub fn reference(var: &str, value: &str, defaults: &Defaults) -> Option<Result<Source, Error>> {
    let parts: Vec<&str> = value.splitn(7, ':').collect();
    let referenced = match parts.as_slice() {
        ["arn", _, "secretsmanager", _, _, "secret", ..] => true,
        ["arn", _, "ssm", _, _, resource, ..] => resource.starts_with("parameter/"),
        _ => false,
    };
    if !referenced {
        return None;
    }
    let label = format!("${var}");
    let bad = |reason: String| Error::Spec {
        spec: quote(&label),
        reason: format!("{reason} (a reference, read with --from-env)"),
    };
    let mut source = match parse(value, 0, defaults) {
        Ok(source) => source,
        Err(Error::Spec { reason, .. }) => return Some(Err(bad(reason))),
        Err(e) => return Some(Err(e)),
    };
    source.label = label;
    // The whole value, or the ECS json-key's, under the variable's own name.
    let var = Some(var.to_string());
    source.shape = match source.shape {
        Shape::Json { key: Some(key), .. } => Shape::Json {
            key: Some(key),
            var,
        },
        _ => Shape::Whole { var },
    };
    Some(Ok(source))
}

/// Specs from `SECRETEXEC_SOURCES`: a JSON list (of strings or objects),
/// one JSON object, or comma-separated specs. A name or ARN never holds a comma, so the split is
/// unambiguous; JSON object specs need the list form.
pub fn split_list(text: &str) -> Result<Vec<String>, Error> {
    let bad = |reason: String| Error::Spec {
        spec: "SECRETEXEC_SOURCES".into(),
        reason,
    };
    let text = text.trim();
    // One JSON object is one spec, not split at its commas.
    if text.starts_with('{') {
        return Ok(vec![text.to_string()]);
    }
    if text.starts_with('[') {
        let items: Vec<&RawValue> = serde_json::from_str(text)
            .map_err(|e| bad(format!("not a JSON list ({})", json::error_text(&e))))?;
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match json::as_str(item).map_err(&bad)? {
                Some(s) => Ok(s),
                None if item.get().starts_with('{') => Ok(item.get().to_string()),
                None => Err(bad(format!(
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
    if let Some(path) = spec.strip_prefix("file:") {
        if path.is_empty() {
            return Err("file: needs a path (file:./dev.env)".into());
        }
        return Ok(Source {
            label: spec.to_string(),
            origin: Origin::File(PathBuf::from(path)),
            shape: Shape::Json {
                key: None,
                var: None,
            },
            prefix: None,
            upper: false,
        });
    }
    // A secret name holds no `:`, so `ssm:` is never a secret's name.
    if let Some(id) = spec.strip_prefix("ssm:") {
        let mut source = parse_ssm(id)?;
        source.label = spec.to_string();
        return Ok(source);
    }
    // Metaflow's `TYPE.NAME` (NAME may be an ARN); only our known type is
    // stripped, so a dotted secret name (`team.db`) stays a name.
    let name = spec
        .strip_prefix(AWS_TYPE)
        .and_then(|rest| rest.strip_prefix('.'))
        .unwrap_or(spec);
    if name.starts_with("arn:") {
        let mut source = if name.split(':').nth(2) == Some("ssm") {
            parse_ssm(name)?
        } else {
            parse_arn(name)?
        };
        source.label = spec.to_string();
        return Ok(source);
    }
    check_name(name)?;
    Ok(aws_source(spec, name.to_string()))
}

fn aws_source(label: &str, secret_id: String) -> Source {
    Source {
        label: label.to_string(),
        origin: Origin::Aws(AwsSecret {
            secret_id,
            region: None,
            role: None,
            version_stage: None,
            version_id: None,
        }),
        shape: Shape::Json {
            key: None,
            var: None,
        },
        prefix: None,
        upper: false,
    }
}

/// An SSM parameter: `NAME` (`/prod/app/db_password`, or a name without
/// `/`), with SSM's own `:VERSION` or `:LABEL` selector; a path `/prod/app/`
/// (trailing `/`); or `arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME`,
/// whose region beats every default. One parameter is one variable named
/// after the last segment of its name; a path is one variable per
/// parameter under it.
fn parse_ssm(id: &str) -> Result<Source, String> {
    let (name, region) = if id.starts_with("arn:") {
        let parts: Vec<&str> = id.splitn(6, ':').collect();
        let shape = "expected arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME";
        if parts.len() != 6 || parts[1].is_empty() || parts[2] != "ssm" {
            return Err(format!("not an SSM parameter ARN ({shape})"));
        }
        check_region(parts[3])?;
        if parts[4].is_empty() {
            return Err(format!("the ARN has no account ({shape})"));
        }
        let Some(name) = parts[5].strip_prefix("parameter/") else {
            return Err(format!("not an SSM parameter ARN ({shape})"));
        };
        if name.ends_with('/') {
            return Err(
                "an ARN names one parameter; for the parameters under a path write \
                        ssm:/PATH/ (with options.region for another region)"
                    .into(),
            );
        }
        (name, Some(parts[3].to_string()))
    } else {
        (id, None)
    };
    let path = name.ends_with('/');
    check_parameter(name, path)?;
    Ok(Source {
        label: id.to_string(),
        origin: Origin::Ssm(SsmParameter {
            name: id.to_string(),
            path,
            recursive: false,
            region,
            role: None,
        }),
        shape: if path {
            Shape::Json {
                key: None,
                var: None,
            }
        } else {
            Shape::Whole { var: None }
        },
        prefix: None,
        upper: false,
    })
}

/// Parameter names: `A-Za-z0-9_.-/`, at most 2048 characters; a path
/// starts with `/`; a selector (`:3`, `:label`) follows one parameter's name.
fn check_parameter(name: &str, path: bool) -> Result<(), String> {
    let (base, selector) = match name.rsplit_once(':') {
        Some((base, selector)) => (base, Some(selector)),
        None => (name, None),
    };
    let ok = |c: char| c.is_ascii_alphanumeric() || "_.-/".contains(c);
    if base.is_empty() || name.len() > 2048 || !base.chars().all(ok) {
        return Err(
            "not an SSM parameter name (A-Z a-z 0-9 _ . - /, e.g. ssm:/prod/app/db_password, \
             a path ssm:/prod/app/, or an SSM ARN)"
                .into(),
        );
    }
    if path && !name.starts_with('/') {
        return Err("a parameter path starts with / (ssm:/prod/app/)".into());
    }
    if let Some(selector) = selector {
        let version = !selector.is_empty() && selector.bytes().all(|b| b.is_ascii_digit());
        let label = selector.len() <= 100
            && selector.starts_with(|c: char| c.is_ascii_alphabetic() || "_.-".contains(c))
            && selector
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !version && !label {
            return Err(format!(
                "{} is neither a parameter version (:3) nor a label (:prod)",
                quote(selector)
            ));
        }
        if base.ends_with('/') {
            return Err("a path (ending in /) takes no version or label".into());
        }
    }
    Ok(())
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
    let mut source = aws_source(spec, parts[..7].join(":"));
    // ECS: a tail whose json-key is empty (`ARN:::`, `ARN::AWSPREVIOUS:`)
    // gives the whole value as one variable.
    source.shape = match part(7) {
        None if parts.len() > 7 => Shape::Whole { var: None },
        key => Shape::Json { key, var: None },
    };
    if let Origin::Aws(aws) = &mut source.origin {
        aws.region = Some(parts[3].to_string());
        aws.version_stage = part(8);
        aws.version_id = part(9);
    }
    Ok(source)
}

/// Secrets Manager names: 1–512 of `A-Za-z0-9/_+=.@-`.
fn check_name(name: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c);
    if name.is_empty() || name.len() > 512 || !name.chars().all(ok) {
        return Err(
            "not a secret name (1-512 of A-Z a-z 0-9 / _ + = . @ -), ARN, ssm:PARAMETER, \
                    file:PATH or JSON object"
                .into(),
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

/// Metaflow's dict form: `{"id", "type", "role", "options"}`.
fn parse_json(spec: &str, index: usize) -> Result<Source, Error> {
    // The spec is quoted (shortened) so the user sees which one; never
    // when it may carry inline values.
    let position = if spec.contains("env_vars") {
        format!("#{index} (JSON)")
    } else {
        let shown: String = spec.chars().take(60).collect();
        let more = if shown.len() < spec.len() { "..." } else { "" };
        format!("#{index} (JSON) {}{more}", quote(&shown))
    };
    let at_position = |reason: String| Error::Spec {
        spec: position.clone(),
        reason,
    };
    let entries =
        json::entries(spec).map_err(|e| at_position(format!("not a valid JSON object ({e})")))?;
    let get = |key: &str| entries.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
    let id = match get("id").map(json::as_str) {
        Some(Ok(Some(id))) if !id.is_empty() => id,
        _ => return Err(at_position("needs \"id\": a secret name or ARN".into())),
    };
    let label = quote(&id);
    let bad = |reason: String| Error::Spec {
        spec: label.clone(),
        reason,
    };
    check_keys(&entries, &["id", "type", "role", "options"], "key").map_err(&bad)?;
    let typ = string_or_null(get("type"), "type").map_err(&bad)?;
    let role = string_or_null(get("role"), "role").map_err(&bad)?;
    let options = match get("options") {
        None => Vec::new(),
        Some(raw) if raw.get() == "null" => Vec::new(),
        Some(raw) => {
            json::entries(raw.get()).map_err(|_| bad("\"options\" must be an object".into()))?
        }
    };

    let inline = match typ.as_deref() {
        None | Some(AWS_TYPE | SSM_TYPE) => false,
        Some(INLINE_TYPE) => true,
        Some(other) => {
            return Err(bad(format!(
                "unsupported type {} (known: {AWS_TYPE}, {SSM_TYPE}, {INLINE_TYPE})",
                quote(other)
            )));
        }
    };
    let mut source = if inline {
        let vars = options
            .iter()
            .find(|(k, _)| k == "env_vars")
            .map(|(_, v)| v.get())
            .filter(|v| v.starts_with('{'))
            .ok_or_else(|| bad("an inline source needs options.env_vars: an object".into()))?;
        if role.is_some() {
            return Err(bad("an inline source takes no role".into()));
        }
        Source {
            label: id.clone(),
            origin: Origin::Inline(vars.to_string()),
            shape: Shape::Json {
                key: None,
                var: None,
            },
            prefix: None,
            upper: false,
        }
    } else if typ.as_deref() == Some(SSM_TYPE) {
        // The id of an ssm source is a parameter name, path or ARN, with
        // or without `ssm:`.
        parse_ssm(id.strip_prefix("ssm:").unwrap_or(&id)).map_err(&bad)?
    } else {
        parse_string(&id).map_err(&bad)?
    };
    source.label = id.clone();
    let ssm = matches!(source.origin, Origin::Ssm(_));
    if ssm && typ.as_deref() == Some(AWS_TYPE) {
        return Err(bad(format!(
            "the id is an SSM parameter but the type is {AWS_TYPE}: write \"type\": \"{SSM_TYPE}\""
        )));
    }
    let path = matches!(&source.origin, Origin::Ssm(p) if p.path);

    let known: &[&str] = if inline {
        &["env_vars", "prefix", "uppercase"]
    } else if ssm {
        &[
            "json",
            "env_var_name",
            "region",
            "prefix",
            "uppercase",
            "recursive",
        ]
    } else {
        &[
            "json",
            "env_var_name",
            "region",
            "version_stage",
            "version_id",
            "prefix",
            "uppercase",
        ]
    };
    check_keys(&options, known, "option").map_err(&bad)?;
    // A secret is a JSON object unless said otherwise; a parameter is one
    // value unless said otherwise.
    let mut json = None;
    let mut env_var_name = None;
    for (key, raw) in &options {
        let value: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
        let string = || match &value {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            _ => Err(bad(format!(
                "option {} must be a non-empty string",
                quote(key)
            ))),
        };
        let boolean = || {
            value
                .as_bool()
                .ok_or_else(|| bad(format!("option {} must be true or false", quote(key))))
        };
        match key.as_str() {
            "json" => json = Some(boolean()?),
            // Sanitised like keys (`my-token.v1` -> `my_token_v1`), as
            // Metaflow does.
            "env_var_name" => {
                env_var_name =
                    Some(crate::secret::var_for("env_var_name", &string()?).map_err(&bad)?)
            }
            // The ARN's own region beats the option (SPEC §2).
            "region" => {
                let region = string()?;
                check_region(&region).map_err(&bad)?;
                let (place, _) = aws_place(&mut source, key).map_err(&bad)?;
                match place {
                    Some(arn_region) if *arn_region != region => {
                        return Err(bad(format!(
                            "option 'region' is {} but the ARN's region is {}",
                            quote(&region),
                            quote(arn_region)
                        )));
                    }
                    _ => *place = Some(region),
                }
            }
            "version_stage" => {
                aws_only(&mut source, key).map_err(&bad)?.version_stage = Some(string()?)
            }
            "version_id" => aws_only(&mut source, key).map_err(&bad)?.version_id = Some(string()?),
            "prefix" => source.prefix = Some(var_name(string()?, "prefix").map_err(&bad)?),
            "uppercase" => source.upper = boolean()?,
            "recursive" => match &mut source.origin {
                Origin::Ssm(p) if p.path => p.recursive = boolean()?,
                _ => {
                    return Err(bad(
                        "option 'recursive' applies to a parameter path (ssm:/prod/app/)".into(),
                    ));
                }
            },
            // env_vars (inline only); check_keys refused anything else.
            _ => {}
        }
    }
    if let Some(role) = role {
        check_role(&role).map_err(&bad)?;
        *aws_place(&mut source, "role").map_err(&bad)?.1 = Some(role);
    }
    if path {
        // A path is one variable per parameter; neither option would have
        // an effect.
        for (option, given) in [
            ("json", json.is_some()),
            ("env_var_name", env_var_name.is_some()),
        ] {
            if given {
                return Err(bad(format!(
                    "option {} applies to one parameter, not a path (one variable per parameter)",
                    quote(option)
                )));
            }
        }
        return Ok(source);
    }
    let json = json.unwrap_or(!ssm);
    source.shape = match (json, source.shape) {
        (false, Shape::Json { key: Some(_), .. }) => {
            return Err(bad("a JSON key in the ARN needs \"json\": true".into()));
        }
        // A parameter with "json": true is expanded like a secret.
        (true, Shape::Whole { .. }) if ssm => Shape::Json {
            key: None,
            var: env_var_name,
        },
        (false, _) | (true, Shape::Whole { .. }) => Shape::Whole { var: env_var_name },
        // With a json-key, env_var_name renames that one variable; on a
        // whole JSON object it names only a SecretBinary (and is an error
        // for a string value, where it would have no effect).
        (true, Shape::Json { key, .. }) => Shape::Json {
            key,
            var: env_var_name,
        },
    };
    Ok(source)
}

fn aws_only<'a>(source: &'a mut Source, option: &str) -> Result<&'a mut AwsSecret, String> {
    match &mut source.origin {
        Origin::Aws(aws) => Ok(aws),
        _ => Err(format!(
            "option {} applies only to AWS Secrets Manager sources",
            quote(option)
        )),
    }
}

/// The region and role of an AWS source, for an option or role to set.
fn aws_place<'a>(
    source: &'a mut Source,
    option: &str,
) -> Result<(&'a mut Option<String>, &'a mut Option<String>), String> {
    let what = match option {
        "role" => "a role".to_string(),
        option => format!("option {}", quote(option)),
    };
    source
        .origin
        .aws_place()
        .ok_or_else(|| format!("{what} applies only to AWS sources (Secrets Manager, SSM)"))
}

/// Refuse keys outside `known`, and keys given twice (JSON parsers differ
/// on which copy wins).
fn check_keys(entries: &[(String, &RawValue)], known: &[&str], noun: &str) -> Result<(), String> {
    for (i, (key, _)) in entries.iter().enumerate() {
        if !known.contains(&key.as_str()) {
            return Err(format!(
                "unknown {noun} {} (known: {})",
                quote(key),
                known.join(", ")
            ));
        }
        if entries[..i].iter().any(|(k, _)| k == key) {
            return Err(format!("{noun} {} is given twice", quote(key)));
        }
    }
    Ok(())
}

fn string_or_null(raw: Option<&RawValue>, what: &str) -> Result<Option<String>, String> {
    match raw {
        None => Ok(None),
        Some(raw) if raw.get() == "null" => Ok(None),
        Some(raw) => match json::as_str(raw)? {
            Some(s) => Ok(Some(s)),
            None => Err(format!("\"{what}\" must be a string")),
        },
    }
}

fn var_name(name: String, what: &str) -> Result<String, String> {
    if is_var_name(&name) {
        Ok(name)
    } else {
        Err(format!(
            "{what} {} is not a variable name ([A-Za-z_][A-Za-z0-9_]*)",
            quote(&name)
        ))
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // table cases read best as tuples
mod tests {
    use super::*;

    fn src(id: &str, region: Option<&str>, role: Option<&str>) -> Source {
        Source {
            label: String::new(),
            origin: Origin::Aws(AwsSecret {
                secret_id: id.into(),
                region: region.map(String::from),
                role: role.map(String::from),
                version_stage: None,
                version_id: None,
            }),
            shape: Shape::Json {
                key: None,
                var: None,
            },
            prefix: None,
            upper: false,
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
                "json dict region option agreeing with the arn",
                format!(r#"{{"id": "{ARN}", "options": {{"region": "eu-west-1"}}}}"#).leak(),
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
    fn ssm_specs() {
        let with = Defaults {
            role: Some(ROLE.into()),
            region: Some("us-west-2".into()),
        };
        let param = |name: &str, path: bool, recursive: bool, region: &str| SsmParameter {
            name: name.into(),
            path,
            recursive,
            region: Some(region.into()),
            role: Some(ROLE.into()),
        };
        let whole = Shape::Whole { var: None };
        let entries = Shape::Json {
            key: None,
            var: None,
        };
        let arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/prod/db:3";
        let cases: Vec<(&str, SsmParameter, Shape, bool)> = vec![
            (
                "ssm:/prod/app/db_password",
                param("/prod/app/db_password", false, false, "us-west-2"),
                whole.clone(),
                false,
            ),
            (
                "ssm:plain",
                param("plain", false, false, "us-west-2"),
                whole.clone(),
                false,
            ),
            (
                "ssm:/p:7",
                param("/p:7", false, false, "us-west-2"),
                whole.clone(),
                false,
            ),
            (
                "ssm:/p:live",
                param("/p:live", false, false, "us-west-2"),
                whole.clone(),
                false,
            ),
            (
                "ssm:/prod/app/",
                param("/prod/app/", true, false, "us-west-2"),
                entries.clone(),
                false,
            ),
            (
                arn,
                param(arn, false, false, "eu-west-1"),
                whole.clone(),
                false,
            ),
            (
                r#"{"type": "ssm", "id": "/prod/app/", "options": {"recursive": true, "uppercase": true}}"#,
                param("/prod/app/", true, true, "us-west-2"),
                entries.clone(),
                true,
            ),
            (
                r#"{"type": "ssm", "id": "ssm:/p", "options": {"json": true, "region": "ap-south-1"}}"#,
                param("/p", false, false, "ap-south-1"),
                entries.clone(),
                false,
            ),
            (
                r#"{"id": "ssm:/p", "options": {"env_var_name": "my-p"}}"#,
                param("/p", false, false, "us-west-2"),
                Shape::Whole {
                    var: Some("my_p".into()),
                },
                false,
            ),
        ];
        for (spec, want, shape, upper) in cases {
            let s = parsed(spec, &with);
            assert_eq!(s.origin, Origin::Ssm(want), "{spec}");
            assert_eq!(s.shape, shape, "{spec}");
            assert_eq!(s.upper, upper, "{spec}");
        }
    }

    #[test]
    fn shapes_and_options() {
        let none = Defaults::default();
        let cases: Vec<(&str, &str, Shape, Option<&str>, Option<&str>, Option<&str>)> = vec![
            (
                "default json",
                "x",
                Shape::Json {
                    key: None,
                    var: None,
                },
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
                "env_var_name kept with json true (for a SecretBinary)",
                r#"{"id": "x", "options": {"env_var_name": "TOKEN"}}"#,
                Shape::Json {
                    key: None,
                    var: Some("TOKEN".into()),
                },
                None,
                None,
                None,
            ),
            (
                "versions and prefix",
                r#"{"id": "x", "options": {"version_stage": "AWSPREVIOUS", "version_id": "v1", "prefix": "DB_"}}"#,
                Shape::Json {
                    key: None,
                    var: None,
                },
                Some("AWSPREVIOUS"),
                Some("v1"),
                Some("DB_"),
            ),
            (
                "ecs tail all parts",
                format!("{ARN}:password:AWSPREVIOUS:v1").leak(),
                Shape::Json {
                    key: Some("password".into()),
                    var: None,
                },
                Some("AWSPREVIOUS"),
                Some("v1"),
                None,
            ),
            (
                "ecs tail with an empty json-key: the whole value",
                format!("{ARN}::AWSPREVIOUS:").leak(),
                Shape::Whole { var: None },
                Some("AWSPREVIOUS"),
                None,
                None,
            ),
            (
                "ecs tail key only",
                format!("{ARN}:password::").leak(),
                Shape::Json {
                    key: Some("password".into()),
                    var: None,
                },
                None,
                None,
                None,
            ),
        ];
        for (name, spec, shape, stage, id, prefix) in cases {
            let s = parsed(spec, &none);
            assert_eq!(s.shape, shape, "{name}");
            assert_eq!(s.prefix.as_deref(), prefix, "{name}");
            let Origin::Aws(aws) = &s.origin else {
                panic!("{name}: not an AWS source")
            };
            assert_eq!(aws.version_stage.as_deref(), stage, "{name}");
            assert_eq!(aws.version_id.as_deref(), id, "{name}");
            if spec.starts_with("arn:") {
                assert_eq!(aws.secret_id, ARN, "{name}: tail is not part of the id");
            }
        }
    }

    #[test]
    fn local_sources() {
        let none = Defaults::default();
        let with = Defaults {
            role: Some(ROLE.into()),
            region: Some("us-west-2".into()),
        };
        let file = parsed("file:./dev.env", &with);
        assert_eq!(
            file.origin,
            Origin::File("./dev.env".into()),
            "defaults never apply"
        );
        let file = parsed(
            r#"{"id": "file:/run/x.json", "options": {"prefix": "X_", "json": false, "env_var_name": "ALL"}}"#,
            &none,
        );
        assert_eq!(file.origin, Origin::File("/run/x.json".into()));
        assert_eq!(
            file.shape,
            Shape::Whole {
                var: Some("ALL".into())
            }
        );
        assert_eq!(file.prefix.as_deref(), Some("X_"));
        let inline = parse(
            r#"{"type": "inline", "id": "dev", "options": {"env_vars": {"A": "1", "B": 2}, "prefix": "P_"}}"#,
            1,
            &with,
        )
        .unwrap();
        assert_eq!(inline.label, "dev");
        assert_eq!(
            inline.origin,
            Origin::Inline(r#"{"A": "1", "B": 2}"#.into())
        );
        assert_eq!(inline.prefix.as_deref(), Some("P_"));
    }

    #[test]
    fn rejected_specs() {
        let cases = [
            ("empty", "", "empty spec"),
            ("space in name", "my secret", "not a secret name"),
            ("colon in name", "db:x", "not a secret name"),
            ("empty file path", "file:", "file: needs a path"),
            (
                "repeated key",
                r#"{"id": "x", "id": "y"}"#,
                "key 'id' is given twice",
            ),
            (
                "repeated option",
                r#"{"id": "x", "options": {"json": true, "json": false}}"#,
                "option 'json' is given twice",
            ),
            (
                "aws option on a file",
                r#"{"id": "file:x.env", "options": {"region": "us-east-1"}}"#,
                "applies only to AWS",
            ),
            (
                "role on a file",
                r#"{"id": "file:x.env", "role": "arn:aws:iam::1:role/r"}"#,
                "role applies only to AWS",
            ),
            (
                "inline without env_vars",
                r#"{"id": "x", "type": "inline"}"#,
                "needs options.env_vars",
            ),
            (
                "inline env_vars not object",
                r#"{"id": "x", "type": "inline", "options": {"env_vars": ["SEKRIT"]}}"#,
                "needs options.env_vars",
            ),
            (
                "inline aws option",
                r#"{"id": "x", "type": "inline", "options": {"env_vars": {}, "json": false}}"#,
                "unknown option 'json'",
            ),
            (
                "inline with role",
                r#"{"id": "x", "type": "inline", "role": "arn:aws:iam::1:role/r", "options": {"env_vars": {}}}"#,
                "takes no role",
            ),
            ("bare backend", "aws-secrets-manager.", "not a secret name"),
            (
                "short arn",
                "arn:aws:secretsmanager:us-east-1:1:secret",
                "not a secret ARN",
            ),
            (
                "other service arn",
                "arn:aws:s3:us-east-1:1:secret:x",
                "not a Secrets Manager",
            ),
            (
                "ssm arn of something else",
                "arn:aws:ssm:us-east-1:1:parameter:x",
                "not an SSM parameter ARN",
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
            ("bad json", r#"{"id": "x""#, "not a valid JSON object"),
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
                "does not make a variable name",
            ),
            (
                "region option contradicting the arn",
                format!(r#"{{"id": "{ARN}", "options": {{"region": "ap-south-1"}}}}"#).leak(),
                "option 'region' is 'ap-south-1' but the ARN's region is 'eu-west-1'",
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
                    assert!(!e.to_string().contains("SEKRIT"), "{name}: {e}");
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
        assert!(
            e.to_string()
                .starts_with(r#"bad source #2 (JSON) '{\"bogus\":':"#),
            "{e}"
        );
        // Never quoted when it may hold inline values.
        let e = parse(r#"{"env_vars": {"A": "SEKRIT"}"#, 2, &Defaults::default()).unwrap_err();
        assert!(e.to_string().starts_with("bad source #2 (JSON):"), "{e}");
        let e = parse("a b", 2, &Defaults::default()).unwrap_err();
        assert!(e.to_string().starts_with("bad source 'a b':"), "{e}");
    }

    #[test]
    fn env_list() {
        let cases: &[(&str, &[&str])] = &[
            ("a, b ,,c", &["a", "b", "c"]),
            ("", &[]),
            (r#"["a", {"id": "b"}]"#, &["a", r#"{"id": "b"}"#]),
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
