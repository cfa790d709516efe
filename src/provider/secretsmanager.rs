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
use tokio::task::JoinSet;

use super::{Context, Fetched, as_role, describe, task_failed};
use crate::error::{Error, quote};
use crate::secret::Raw;

/// Fetch one unit of [`plan`]: a single source, or a batch.
pub(crate) async fn fetch(
    ctx: &Arc<Context>,
    unit: &[usize],
) -> Result<Vec<(usize, Fetched)>, Error> {
    match unit {
        [one] => fetch_one(ctx, *one).await.map(|f| vec![(*one, f)]),
        many => fetch_batch(ctx, many).await,
    }
}

/// How the sources are fetched: each unit is one `GetSecretValue` (one
/// source) or one `BatchGetSecretValue` (up to 20 sources of one region and
/// role with no version selection, when `--batch` asks for it).
pub(crate) fn plan(ctx: &Context, batch: bool) -> Vec<Vec<usize>> {
    let mut units = Vec::new();
    // (region, role) -> members, in first-seen order.
    type Group<'a> = ((&'a str, Option<&'a str>), Vec<usize>);
    let mut groups: Vec<Group> = Vec::new();
    for (i, r) in ctx.remote.iter().enumerate() {
        let batchable = batch && r.aws.version_stage.is_none() && r.aws.version_id.is_none();
        if !batchable {
            units.push(vec![i]);
            continue;
        }
        let key = (ctx.regions[i].as_str(), r.aws.role.as_deref());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    for (_, members) in groups {
        units.extend(members.chunks(BATCH_SIZE).map(<[usize]>::to_vec));
    }
    units
}

/// BatchGetSecretValue takes at most 20 secret ids per call.
const BATCH_SIZE: usize = 20;

/// One source by `GetSecretValue`.
async fn fetch_one(ctx: &Context, i: usize) -> Result<Fetched, Error> {
    let r = &ctx.remote[i];
    let started = Instant::now();
    ctx.log.note(format_args!(
        "fetching {}: secret {} in {}{}",
        quote(&r.label),
        quote(&r.aws.secret_id),
        ctx.regions[i],
        as_role(r.aws.role.as_deref())
    ));
    let client = ctx.client_for(i).await?;
    let out = client
        .get_secret_value()
        .secret_id(&r.aws.secret_id)
        .set_version_stage(r.aws.version_stage.clone())
        .set_version_id(r.aws.version_id.clone())
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
        out.name().unwrap_or(&r.aws.secret_id),
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
async fn fetch_batch(ctx: &Arc<Context>, unit: &[usize]) -> Result<Vec<(usize, Fetched)>, Error> {
    let started = Instant::now();
    let first = &ctx.remote[unit[0]];
    let mut ids: Vec<String> = Vec::with_capacity(unit.len());
    for &i in unit {
        let id = &ctx.remote[i].aws.secret_id;
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    ctx.log.note(format_args!(
        "fetching {} with BatchGetSecretValue in {}{}",
        unit.iter()
            .map(|&i| quote(&ctx.remote[i].label))
            .collect::<Vec<_>>()
            .join(", "),
        ctx.regions[unit[0]],
        as_role(first.aws.role.as_deref())
    ));
    let client = ctx.client_for(unit[0]).await?;
    // One try: a throttled batch goes straight to the fallback, whose
    // single calls have the full retry budget.
    let answer = client
        .batch_get_secret_value()
        .set_secret_id_list(Some(ids))
        .customize()
        .config_override(
            aws_sdk_secretsmanager::config::Builder::default()
                .retry_config(RetryConfig::standard().with_max_attempts(1)),
        )
        .interceptor(ctx.recorder(unit))
        .send()
        .await;
    let out = match answer {
        Ok(out) => out,
        Err(e) if batch_refused(&e) => {
            ctx.log.note(format_args!(
                "BatchGetSecretValue refused ({}); falling back to GetSecretValue",
                describe(&e)
            ));
            return fetch_each(ctx, unit).await;
        }
        Err(e) => {
            return Err(Error::Fetch {
                source: first.label.clone(),
                reason: format!("BatchGetSecretValue: {}", ctx.reason(unit[0], &e)),
            });
        }
    };
    for err in out.errors() {
        let named = unit
            .iter()
            .find(|&&i| err.secret_id() == Some(ctx.remote[i].aws.secret_id.as_str()));
        if let Some(&i) = named {
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
    for &i in unit {
        let id = ctx.remote[i].aws.secret_id.as_str();
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
            _ => missing.push(i),
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
        fetched.extend(fetch_each(ctx, &missing).await?);
    }
    Ok(fetched)
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

/// The given sources by concurrent `GetSecretValue`.
async fn fetch_each(ctx: &Arc<Context>, unit: &[usize]) -> Result<Vec<(usize, Fetched)>, Error> {
    let mut tasks = JoinSet::new();
    for &i in unit {
        let ctx = Arc::clone(ctx);
        tasks.spawn(async move { fetch_one(&ctx, i).await.map(|f| (i, f)) });
    }
    let mut fetched = Vec::with_capacity(unit.len());
    while let Some(joined) = tasks.join_next().await {
        fetched.push(joined.map_err(task_failed)??);
    }
    Ok(fetched)
}

/// Throttled or denied as a whole (or not offered by the endpoint).
fn batch_refused<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    let status = err.raw_response().map(|r| r.status().as_u16());
    match err.as_service_error().and_then(|e| e.code()) {
        Some(code) => matches!(
            code,
            "ThrottlingException"
                | "Throttling"
                | "TooManyRequestsException"
                | "RequestLimitExceeded"
                | "AccessDeniedException"
                | "AccessDenied"
                | "UnknownOperationException"
        ),
        None => matches!(status, Some(403 | 429)),
    }
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
