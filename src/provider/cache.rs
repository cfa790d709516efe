//! `--cache URL`: values read through a node-local cache that speaks the
//! AWS Secrets Manager Agent / Parameters and Secrets Lambda extension
//! protocol (`GET /secretsmanager/get?secretId=...` with the
//! `X-Aws-Parameters-Secrets-Token` header, answered with the
//! `GetSecretValue` JSON; the Lambda extension also answers
//! `GET /systemsmanager/parameters/get?name=...` with the `GetParameter`
//! JSON, which the agent does not serve).
//!
//! The cache is an optimisation, never an authority: an unreachable cache,
//! a refused token, a refused role or any other failure of the cache itself
//! sends that source to the direct call (`-v` says why); only an answer in
//! which AWS said the secret does not exist or is denied fails the run, as
//! the direct call would. The token is as secret as a value and never
//! appears in any output.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Context, Fetched};
use crate::error::{Error, quote};
use crate::secret::Raw;
use crate::source::{AwsSecret, SsmParameter};

/// Where the cache listens and the token it wants.
#[derive(Debug, Clone)]
pub struct Cache {
    /// `host:port` of the `http://` URL given.
    pub address: String,
    /// The URL as given, for messages.
    pub url: String,
    /// `None` when no token was found: every source goes direct.
    pub token: Option<String>,
}

/// The header the agent and the Lambda extension check.
const TOKEN_HEADER: &str = "X-Aws-Parameters-Secrets-Token";

/// The cache is on this host: an answer takes milliseconds, or the cache is
/// not working and the direct call is better.
const CACHE_TIMEOUT: Duration = Duration::from_secs(2);

/// An answer the agent's AWS call got, which the direct call would get too.
const AUTHORITATIVE: &[&str] = &[
    "ResourceNotFoundException",
    "AccessDeniedException",
    "DecryptionFailure",
    "InvalidRequestException",
    "ParameterNotFound",
    "ParameterVersionNotFound",
];

impl Cache {
    /// `--cache URL` (or `SECRETEXEC_CACHE`) and the token: `token_file`
    /// when given, else the first of `AWS_TOKEN`, `AWS_SESSION_TOKEN`,
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN` (`file://PATH` means the file's
    /// contents), as the agent itself looks for it.
    pub fn new(url: &str, token_file: Option<&str>) -> Result<Cache, Error> {
        let bad = |why: &str| Error::Usage(format!("--cache {}: {why}", quote(url)));
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("write http://HOST:PORT (the cache is on this host)"))?;
        let address = rest.trim_end_matches('/');
        if address.is_empty() || address.contains('/') || !address.contains(':') {
            return Err(bad("write http://HOST:PORT, e.g. http://localhost:2773"));
        }
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .map(|t| t.trim().to_string())
                .map_err(|e| Error::Usage(format!("cache token file {}: {e}", quote(path))))
        };
        let token = match token_file {
            Some(path) => Some(read(path)?),
            None => [
                "AWS_TOKEN",
                "AWS_SESSION_TOKEN",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            ]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
            .map(|v| match v.strip_prefix("file://") {
                Some(path) => read(path),
                None => Ok(v),
            })
            .transpose()?,
        };
        Ok(Cache {
            address: address.to_string(),
            url: url.to_string(),
            token: token.filter(|t| !t.is_empty()),
        })
    }
}

/// What the cache said about a source.
pub(crate) enum Answer {
    Value(Fetched),
    /// Go direct, for this reason (said with `-v`).
    Direct(String),
}

/// Secret `i` through the cache.
pub(crate) async fn fetch(
    ctx: &Context,
    cache: &Cache,
    i: usize,
    secret: &AwsSecret,
) -> Result<Answer, Error> {
    let mut query = format!("secretId={}", encode(&secret.secret_id));
    for (key, value) in [
        ("versionStage", &secret.version_stage),
        ("versionId", &secret.version_id),
        ("roleArn", &ctx.remote[i].role),
    ] {
        if let Some(value) = value {
            query.push_str(&format!("&{key}={}", encode(value)));
        }
    }
    Ok(
        match ask(ctx, cache, i, &format!("/secretsmanager/get?{query}")).await? {
            Asked::Json(json) => match value(&json, secret) {
                Some(fetched) => Answer::Value(fetched),
                None => Answer::Direct("the cache's answer is not a secret value".into()),
            },
            Asked::Direct(why) => Answer::Direct(why),
        },
    )
}

/// Parameter `i` through the cache (the Lambda extension's
/// `/systemsmanager/parameters/get`; a cache without it, as the Secrets
/// Manager Agent, answers 404 and the parameter goes direct). The protocol
/// takes no role: such a source goes direct without asking.
pub(crate) async fn fetch_parameter(
    ctx: &Context,
    cache: &Cache,
    i: usize,
    parameter: &SsmParameter,
) -> Result<Answer, Error> {
    if ctx.remote[i].role.is_some() {
        return Ok(Answer::Direct(
            "the cache's parameter protocol takes no role".into(),
        ));
    }
    // `name:3` and `name:label` are the protocol's version= and label=.
    let (name, selector) = match parameter.name.rsplit_once(':') {
        Some((name, sel)) if !parameter.name.starts_with("arn:") => (name, Some(sel)),
        _ => (parameter.name.as_str(), None),
    };
    let mut query = format!("name={}&withDecryption=true", encode(name));
    match selector {
        Some(v) if v.bytes().all(|b| b.is_ascii_digit()) => {
            query.push_str(&format!("&version={v}"))
        }
        Some(label) => query.push_str(&format!("&label={}", encode(label))),
        None => {}
    }
    let path = format!("/systemsmanager/parameters/get?{query}");
    Ok(match ask(ctx, cache, i, &path).await? {
        Asked::Json(json) => {
            let p = json.get("Parameter");
            match p.and_then(|p| p.get("Value")).and_then(Value::as_str) {
                Some(text) => Answer::Value(Fetched {
                    name: super::ssm::last_segment(&parameter.name).to_string(),
                    version: p
                        .and_then(|p| p.get("Version"))
                        .and_then(Value::as_i64)
                        .map(|v| v.to_string()),
                    raw: Raw::String(text.to_string()),
                }),
                None => Answer::Direct("the cache's answer is not a parameter".into()),
            }
        }
        Asked::Direct(why) => Answer::Direct(why),
    })
}

/// What the cache said to one question.
enum Asked {
    Json(Value),
    /// Go direct, for this reason.
    Direct(String),
}

/// One question to the cache: its JSON answer, a reason to go direct, or
/// AWS's own refusal as the source's error.
async fn ask(ctx: &Context, cache: &Cache, i: usize, path: &str) -> Result<Asked, Error> {
    let r = &ctx.remote[i];
    let Some(token) = &cache.token else {
        return Ok(Asked::Direct(
            "no cache token (AWS_TOKEN, AWS_SESSION_TOKEN, AWS_CONTAINER_AUTHORIZATION_TOKEN or \
             --cache-token-file)"
                .into(),
        ));
    };
    ctx.log.note(format_args!(
        "fetching {} through the cache at {}",
        quote(&r.label),
        cache.url
    ));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\n{TOKEN_HEADER}: {token}\r\n\
         Connection: close\r\n\r\n",
        cache.address
    );
    let answer = tokio::time::timeout(CACHE_TIMEOUT, get(&cache.address, request.as_bytes())).await;
    let (status, body) = match answer {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => return Ok(Asked::Direct(format!("the cache cannot be reached: {e}"))),
        Err(_) => return Ok(Asked::Direct("the cache did not answer in 2 s".into())),
    };
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    if status == 200 {
        return Ok(match json {
            Some(json) => Asked::Json(json),
            None => Asked::Direct("the cache's answer is not JSON".into()),
        });
    }
    let code = json
        .as_ref()
        .and_then(|v| v.get("__type"))
        .and_then(Value::as_str)
        .map(|c| c.rsplit('#').next().unwrap_or(c).to_string());
    match code {
        Some(code) if AUTHORITATIVE.contains(&code.as_str()) => {
            let message = json
                .as_ref()
                .and_then(|v| v.get("message").or_else(|| v.get("Message")))
                .and_then(Value::as_str)
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            Err(Error::Fetch {
                source: r.label.clone(),
                reason: format!("{code}{message} (through the cache at {})", cache.url),
            })
        }
        Some(code) => Ok(Asked::Direct(format!("the cache answered {status} {code}"))),
        None if status == 403 => Ok(Asked::Direct(
            "the cache refused the token (HTTP 403)".into(),
        )),
        None => Ok(Asked::Direct(format!("the cache answered HTTP {status}"))),
    }
}

/// The `GetSecretValue` JSON as a value; `None` when it is not one.
fn value(v: &Value, secret: &AwsSecret) -> Option<Fetched> {
    let raw = match (v.get("SecretString"), v.get("SecretBinary")) {
        (Some(Value::String(s)), _) => Raw::String(s.clone()),
        (_, Some(Value::String(b))) => Raw::Binary(base64_simd::STANDARD.decode_to_vec(b).ok()?),
        _ => return None,
    };
    Some(Fetched {
        name: v
            .get("Name")
            .and_then(Value::as_str)
            .unwrap_or(&secret.secret_id)
            .to_string(),
        version: v.get("VersionId").and_then(Value::as_str).map(String::from),
        raw,
    })
}

/// One HTTP/1.1 exchange on a new connection: the status and the body.
async fn get(address: &str, request: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream.write_all(request).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP answer");
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = std::str::from_utf8(&answer[..end]).map_err(|_| bad())?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = answer[end + 4..].to_vec();
    Ok((
        status,
        if chunked {
            unchunk(&body).ok_or_else(bad)?
        } else {
            body
        },
    ))
}

/// A chunked body's data.
fn unchunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// Percent-encoding for a query value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{encode, unchunk};

    #[test]
    fn query_values_and_chunked_bodies() {
        assert_eq!(
            encode("arn:aws:secretsmanager:us-east-1:1:secret:a/b+c=d@e"),
            "arn%3Aaws%3Asecretsmanager%3Aus-east-1%3A1%3Asecret%3Aa%2Fb%2Bc%3Dd%40e"
        );
        assert_eq!(
            unchunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
        assert!(unchunk(b"9\r\nabc").is_none());
    }
}
