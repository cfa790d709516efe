//! AWS Secrets Manager: `GetSecretValue` per source, or
//! `BatchGetSecretValue` for up to 20 sources of one (region, role) with
//! `--batch`, falling back to single calls when a batch is throttled or
//! denied as a whole.

use std::sync::Arc;
use std::time::Instant;

use aws_config::retry::RetryConfig;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::primitives::Blob;

use super::{Context, Fetched, as_role, denied};
use crate::error::{Error, quote};
use crate::secret::Raw;
use crate::source::{AwsSecret, Origin};

/// Sources (by their place in the context's `remote`) and their secrets.
pub(crate) type Unit = Vec<(usize, AwsSecret)>;

/// Fetch one unit of [`plan`]: a single source, or a batch.
pub(crate) async fn fetch(ctx: &Arc<Context>, unit: &Unit) -> Result<Vec<(usize, Fetched)>, Error> {
    match unit.as_slice() {
        [(i, secret)] => fetch_one(ctx, *i, secret).await.map(|f| vec![(*i, f)]),
        many => fetch_batch(ctx, many).await,
    }
}

/// How the sources are fetched: each unit is one `GetSecretValue` (one
/// source) or one `BatchGetSecretValue` (up to 20 sources of one region and
/// role with no version selection, when `--batch` asks for it).
pub(crate) fn plan(ctx: &Context, batch: bool, skip: &dyn Fn(usize) -> bool) -> Vec<Unit> {
    let mut units = Vec::new();
    let mut groups = super::Groups::default();
    for (i, r) in ctx.remote.iter().enumerate() {
        let Origin::Aws(secret) = &r.origin else {
            continue;
        };
        if skip(i) {
            continue;
        }
        let batchable = batch && secret.version_stage.is_none() && secret.version_id.is_none();
        if batchable {
            groups.add(ctx, i, secret.clone());
        } else {
            units.push(vec![(i, secret.clone())]);
        }
    }
    units.extend(groups.chunks(BATCH_SIZE));
    units
}

/// BatchGetSecretValue takes at most 20 secret ids per call.
const BATCH_SIZE: usize = 20;

/// One source by `GetSecretValue`.
async fn fetch_one(ctx: &Context, i: usize, secret: &AwsSecret) -> Result<Fetched, Error> {
    let r = &ctx.remote[i];
    let started = Instant::now();
    ctx.log.note(format_args!(
        "fetching {}: secret {} in {}{}",
        quote(&r.label),
        quote(&secret.secret_id),
        ctx.regions[i],
        as_role(r.role.as_deref())
    ));
    let client = ctx.secrets_manager_for(i).await?;
    let out = client
        .get_secret_value()
        .secret_id(&secret.secret_id)
        .set_version_stage(secret.version_stage.clone())
        .set_version_id(secret.version_id.clone())
        .customize()
        .interceptor(ctx.recorder(&[i]))
        .send()
        .await
        .map_err(|e| Error::Fetch {
            source: r.label.clone(),
            reason: ctx.reason(i, &e),
        })?;
    let fetched = value(
        &r.label,
        out.name().unwrap_or(&secret.secret_id),
        out.version_id(),
        out.secret_string(),
        out.secret_binary(),
    )?;
    ctx.log.note(format_args!(
        "fetched {} in {:.1} ms",
        quote(&r.label),
        started.elapsed().as_secs_f64() * 1e3
    ));
    Ok(fetched)
}

fn value(
    label: &str,
    name: &str,
    version: Option<&str>,
    string: Option<&str>,
    binary: Option<&Blob>,
) -> Result<Fetched, Error> {
    let raw = match (string, binary) {
        (Some(s), _) => Raw::String(s.to_string()),
        (None, Some(b)) => Raw::Binary(b.as_ref().to_vec()),
        (None, None) => {
            return Err(Error::Fetch {
                source: label.to_string(),
                reason: "the secret version holds no value".into(),
            });
        }
    };
    Ok(Fetched {
        name: name.to_string(),
        version: version.map(String::from),
        raw,
    })
}

/// Up to 20 sources of one (region, role) by one `BatchGetSecretValue`.
/// A call that is throttled or denied as a whole falls back to concurrent
/// `GetSecretValue` (the batch quota is only 100 calls/s per region, and
/// the caller may lack `secretsmanager:BatchGetSecretValue`); an error the
/// answer reports for one secret fails that source.
async fn fetch_batch(
    ctx: &Arc<Context>,
    unit: &[(usize, AwsSecret)],
) -> Result<Vec<(usize, Fetched)>, Error> {
    let started = Instant::now();
    let several = super::Several::new(ctx, "BatchGetSecretValue", unit, |s: &AwsSecret| {
        &s.secret_id
    });
    let first = several.first;
    let client = ctx.secrets_manager_for(first).await?;
    // One try: a throttled batch goes straight to the fallback, whose
    // single calls have the full retry budget.
    let answer = client
        .batch_get_secret_value()
        .set_secret_id_list(Some(several.ids.clone()))
        .customize()
        .config_override(
            aws_sdk_secretsmanager::config::Builder::default()
                .retry_config(RetryConfig::standard().with_max_attempts(1)),
        )
        .interceptor(ctx.recorder(&several.members))
        .send()
        .await;
    let Some(out) = several.answer(
        ctx,
        "BatchGetSecretValue",
        "GetSecretValue",
        answer,
        batch_refused,
    )?
    else {
        return each(ctx, unit).await;
    };
    for err in out.errors() {
        let named = unit
            .iter()
            .find(|(_, secret)| err.secret_id() == Some(secret.secret_id.as_str()));
        if let Some(&(i, _)) = named {
            return Err(Error::Fetch {
                source: ctx.remote[i].label.clone(),
                reason: match (err.error_code(), err.message()) {
                    (Some(code), Some(msg)) => format!("{code}: {msg}"),
                    (Some(code), None) => code.to_string(),
                    (None, _) => "BatchGetSecretValue reported an error without a code".into(),
                },
            });
        }
    }
    let mut fetched = Vec::with_capacity(unit.len());
    let mut missing = Vec::new();
    for (i, secret) in unit {
        let (i, id) = (*i, secret.secret_id.as_str());
        let mut entries = out
            .secret_values()
            .iter()
            .filter(|e| answers(id, e.name(), e.arn()));
        match (entries.next(), entries.next()) {
            (Some(e), None) => fetched.push((
                i,
                value(
                    &ctx.remote[i].label,
                    e.name().unwrap_or(id),
                    e.version_id(),
                    e.secret_string(),
                    e.secret_binary(),
                )?,
            )),
            _ => missing.push((i, secret.clone())),
        }
    }
    ctx.log.note(format_args!(
        "batch of {} fetched in {:.1} ms",
        unit.len(),
        started.elapsed().as_secs_f64() * 1e3
    ));
    // An id the answer did not cover (paged out, or named differently) or
    // covered ambiguously is fetched on its own rather than guessed.
    if !missing.is_empty() {
        fetched.extend(each(ctx, &missing).await?);
    }
    Ok(fetched)
}

/// The version id `AWSCURRENT` points at, by `DescribeSecret`: no value is
/// read (`--watch`).
pub(crate) async fn current_version(
    ctx: &Context,
    i: usize,
    secret: &AwsSecret,
) -> Result<Option<String>, Error> {
    let out = ctx
        .secrets_manager_for(i)
        .await?
        .describe_secret()
        .secret_id(&secret.secret_id)
        .customize()
        .interceptor(ctx.recorder(&[i]))
        .send()
        .await
        .map_err(|e| Error::Fetch {
            source: ctx.remote[i].label.clone(),
            reason: format!("DescribeSecret: {}", ctx.reason(i, &e)),
        })?;
    let current = out.version_ids_to_stages().and_then(|versions| {
        versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
            .map(|(id, _)| id.clone())
    });
    ctx.log.note(format_args!(
        "DescribeSecret {} in {}: AWSCURRENT is {}",
        quote(&secret.secret_id),
        ctx.regions[i],
        current.as_deref().unwrap_or("(none)")
    ));
    Ok(current)
}

/// Whether a batch answer entry is the secret `id` asked for: by name, by
/// full ARN, or by partial ARN only when what follows is exactly AWS's `-`
/// and six-character suffix and the entry's name is the rest of the ARN
/// (`...:secret:app` must not take `app-config`).
/// The caller takes an entry only when exactly one answers.
fn answers(id: &str, name: Option<&str>, arn: Option<&str>) -> bool {
    if !id.starts_with("arn:") {
        return name == Some(id);
    }
    let partial = |arn: &str| {
        arn.strip_prefix(id).is_some_and(|rest| {
            rest.len() == 7
                && rest.starts_with('-')
                && rest[1..].bytes().all(|b| b.is_ascii_alphanumeric())
        }) && id.split_once(":secret:").map(|(_, n)| n) == name
    };
    arn.is_some_and(|arn| arn == id || partial(arn))
}

/// Throttled or denied as a whole (or not offered by the endpoint), or a
/// transient failure (no answer, a 5xx): the batch had one try, and the
/// single calls have the whole retry budget. Only an AWS error about the
/// request itself fails the run.
fn batch_refused<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    let status = err.raw_response().map(|r| r.status().as_u16());
    if denied(err) || status.is_some_and(|s| s == 429 || s >= 500) {
        return true;
    }
    match err {
        SdkError::ServiceError(e) => matches!(
            e.err().code(),
            Some(
                "ThrottlingException"
                    | "Throttling"
                    | "TooManyRequestsException"
                    | "RequestLimitExceeded"
                    | "UnknownOperationException"
            )
        ),
        // No answer, or one that could not be read: connection reset,
        // timeout, a truncated body.
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            true
        }
        _ => false,
    }
}

/// The given sources by concurrent single calls.
async fn each(
    ctx: &Arc<Context>,
    unit: &[(usize, AwsSecret)],
) -> Result<Vec<(usize, Fetched)>, Error> {
    super::each(ctx, unit, |ctx, i, item| async move {
        fetch_one(&ctx, i, &item).await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::answers;

    #[test]
    fn batch_entries_answer_exactly_the_id_asked_for() {
        let p = "arn:aws:secretsmanager:us-east-1:123456789012:secret:";
        let arn = |name: &str| format!("{p}{name}");
        let cases: &[(&str, &str, &str, bool)] = &[
            // (id asked for, entry name, entry ARN, answers)
            ("app", "app", "app-AbCdEf", true),
            ("app", "app-config", "app-config-AbCdEf", false),
            (
                "prod/db",
                "prod/db-readonly",
                "prod/db-readonly-AbCdEf",
                false,
            ),
            ("ARN:app-AbCdEf", "app", "app-AbCdEf", true),
            ("ARN:app", "app", "app-AbCdEf", true),
            ("ARN:app", "app-config", "app-config-AbCdEf", false),
            ("ARN:app", "app-config", "app-config", false),
            ("ARN:app", "app-x", "app-x-AbCdEf", false),
            (
                "ARN:prod/db",
                "prod/db-readonly",
                "prod/db-readonly-AbCdEf",
                false,
            ),
            ("ARN:app", "app", "app-AbC-Ef", false),
            ("ARN:app", "app", "app-AbCdEfG", false),
        ];
        for (id, name, entry_arn, want) in cases {
            let id = id.strip_prefix("ARN:").map(arn).unwrap_or(id.to_string());
            let got = answers(&id, Some(name), Some(&arn(entry_arn)));
            assert_eq!(got, *want, "{id} vs {name}");
        }
    }
}
