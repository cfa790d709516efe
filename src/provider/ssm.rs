//! SSM Parameter Store: `GetParameter` for one parameter (a version or
//! label selector, or an ARN), `GetParameters` for up to 10 plain names of
//! one (region, role), and `GetParametersByPath`, every page, for a path.
//! Always decrypted (`WithDecryption`); `StringList` values as stored.

use std::sync::Arc;
use std::time::Instant;

use aws_sdk_ssm::types::Parameter;

use super::{Context, Fetched, as_role, denied};
use crate::error::{Error, quote};
use crate::secret::Raw;
use crate::source::{Origin, SsmParameter};

/// Sources (by their place in the context's `remote`) and their parameters.
pub(crate) type Unit = Vec<(usize, SsmParameter)>;

/// GetParameters takes at most 10 names per call.
const BATCH_SIZE: usize = 10;

/// How the parameters are fetched: a path is one paged listing; a name
/// with a selector or an ARN is one `GetParameter`; other names of one
/// (region, role) go together, 10 to a `GetParameters` call.
pub(crate) fn plan(ctx: &Context, skip: &dyn Fn(usize) -> bool) -> Vec<Unit> {
    let mut units = Vec::new();
    let mut groups = super::Groups::default();
    for (i, r) in ctx.remote.iter().enumerate() {
        let Origin::Ssm(parameter) = &r.origin else {
            continue;
        };
        if skip(i) {
            continue;
        }
        let alone = parameter.path || parameter.name.contains(':');
        if alone {
            units.push(vec![(i, parameter.clone())]);
        } else {
            groups.add(ctx, i, parameter.clone());
        }
    }
    units.extend(groups.chunks(BATCH_SIZE));
    units
}

/// Fetch one unit of [`plan`].
pub(crate) async fn fetch(ctx: &Arc<Context>, unit: &Unit) -> Result<Vec<(usize, Fetched)>, Error> {
    match unit.as_slice() {
        [(i, p)] if p.path => by_path(ctx, *i, p).await.map(|f| vec![(*i, f)]),
        [(i, p)] => fetch_one(ctx, *i, p).await.map(|f| vec![(*i, f)]),
        many => fetch_many(ctx, many).await,
    }
}

/// One parameter by `GetParameter`.
async fn fetch_one(ctx: &Context, i: usize, parameter: &SsmParameter) -> Result<Fetched, Error> {
    let r = &ctx.remote[i];
    let started = Instant::now();
    ctx.log.note(format_args!(
        "fetching {}: parameter {} in {}{}",
        quote(&r.label),
        quote(&parameter.name),
        ctx.regions[i],
        as_role(r.role.as_deref())
    ));
    let out = ctx
        .ssm_for(i)
        .await?
        .get_parameter()
        .name(&parameter.name)
        .with_decryption(true)
        .customize()
        .interceptor(ctx.recorder(&[i]))
        .send()
        .await
        .map_err(|e| Error::Fetch {
            source: r.label.clone(),
            reason: ctx.reason(i, &e),
        })?;
    let fetched = match out.parameter() {
        Some(p) => value(ctx, i, parameter, p)?,
        None => return Err(no_value(ctx, i)),
    };
    ctx.log.note(format_args!(
        "fetched {} in {:.1} ms",
        quote(&r.label),
        started.elapsed().as_secs_f64() * 1e3
    ));
    Ok(fetched)
}

/// Up to 10 plain names of one (region, role) by one `GetParameters`. A
/// name the answer lists as invalid fails its source; one the answer does
/// not cover is fetched on its own; a call denied as a whole (a policy
/// that grants only `ssm:GetParameter`) falls back to single calls.
async fn fetch_many(
    ctx: &Arc<Context>,
    unit: &[(usize, SsmParameter)],
) -> Result<Vec<(usize, Fetched)>, Error> {
    let started = Instant::now();
    let several = super::Several::new(ctx, "GetParameters", unit, |p: &SsmParameter| &p.name);
    let answer = ctx
        .ssm_for(several.first)
        .await?
        .get_parameters()
        .set_names(Some(several.ids.clone()))
        .with_decryption(true)
        .customize()
        .interceptor(ctx.recorder(&several.members))
        .send()
        .await;
    let Some(out) = several.answer(ctx, "GetParameters", "GetParameter", answer, denied)? else {
        return each(ctx, unit).await;
    };
    if let Some((i, _)) = unit
        .iter()
        .find(|(_, p)| out.invalid_parameters().contains(&p.name))
    {
        return Err(Error::Fetch {
            source: ctx.remote[*i].label.clone(),
            reason: format!("ParameterNotFound: no such parameter{}", ctx.located(*i)),
        });
    }
    let mut fetched = Vec::with_capacity(unit.len());
    let mut missing = Vec::new();
    for (i, parameter) in unit {
        let mut answers = out
            .parameters()
            .iter()
            .filter(|p| p.name() == Some(parameter.name.as_str()));
        match (answers.next(), answers.next()) {
            (Some(p), None) => fetched.push((*i, value(ctx, *i, parameter, p)?)),
            _ => missing.push((*i, parameter.clone())),
        }
    }
    ctx.log.note(format_args!(
        "{} parameters fetched in {:.1} ms",
        unit.len(),
        started.elapsed().as_secs_f64() * 1e3
    ));
    if !missing.is_empty() {
        fetched.extend(each(ctx, &missing).await?);
    }
    Ok(fetched)
}

/// The parameters under a path by `GetParametersByPath`, every page; each
/// is named by its name relative to the path. A path with no parameters is
/// an error, as a missing name is: a mistyped path must not start the
/// command without its configuration.
async fn by_path(ctx: &Context, i: usize, parameter: &SsmParameter) -> Result<Fetched, Error> {
    let r = &ctx.remote[i];
    let started = Instant::now();
    let path = parameter.name.as_str();
    ctx.log.note(format_args!(
        "fetching {}: parameters under {}{} in {}{}",
        quote(&r.label),
        quote(path),
        if parameter.recursive {
            " (recursive)"
        } else {
            ""
        },
        ctx.regions[i],
        as_role(r.role.as_deref())
    ));
    let fail = |reason: String| Error::Fetch {
        source: r.label.clone(),
        reason,
    };
    let mut entries = Vec::new();
    let mut versions = Vec::new();
    let (listed, pages) = list(ctx, i, parameter, true).await?;
    for p in &listed {
        let name = p.name().unwrap_or_default();
        let relative = name.strip_prefix(path).unwrap_or(name);
        let Some(text) = p.value() else {
            return Err(fail(format!("parameter {} holds no value", quote(name))));
        };
        entries.push((relative.to_string(), text.to_string()));
        versions.push(format!("{name}:{}", p.version()));
    }
    if entries.is_empty() {
        return Err(fail(format!(
            "no parameters under {}{}{}",
            quote(path),
            if parameter.recursive {
                ""
            } else {
                " (nested ones need \"recursive\": true)"
            },
            ctx.located(i)
        )));
    }
    ctx.log.note(format_args!(
        "fetched {} parameters under {} in {pages} page(s), {:.1} ms",
        entries.len(),
        quote(path),
        started.elapsed().as_secs_f64() * 1e3
    ));
    Ok(Fetched {
        name: path.to_string(),
        version: Some(fingerprint(versions)),
        raw: Raw::Entries(entries),
    })
}

/// Every page of `GetParametersByPath` under the source's path, and how
/// many pages that took; every name is checked to be under the path.
async fn list(
    ctx: &Context,
    i: usize,
    parameter: &SsmParameter,
    decrypt: bool,
) -> Result<(Vec<Parameter>, usize), Error> {
    let path = parameter.name.as_str();
    let fail = |reason: String| Error::Fetch {
        source: ctx.remote[i].label.clone(),
        reason,
    };
    let client = ctx.ssm_for(i).await?;
    let mut listed = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = client
            .get_parameters_by_path()
            .path(path)
            .recursive(parameter.recursive)
            .with_decryption(decrypt)
            .set_next_token(token.clone())
            .customize()
            .interceptor(ctx.recorder(&[i]))
            .send()
            .await
            .map_err(|e| fail(ctx.reason(i, &e)))?;
        pages += 1;
        for p in out.parameters() {
            let name = p.name().unwrap_or_default();
            if name.strip_prefix(path).is_none_or(str::is_empty) {
                return Err(fail(format!(
                    "the answer holds parameter {}, which is not under the path",
                    quote(name)
                )));
            }
            listed.push(p.clone());
        }
        match out.next_token() {
            Some(next) if !next.is_empty() => {
                // A server that hands back the same token would page forever.
                if token.as_deref() == Some(next) {
                    return Err(fail("the listing repeats its page token".into()));
                }
                token = Some(next.to_string());
            }
            _ => break,
        }
    }
    Ok((listed, pages))
}

/// A path's version: its parameters' names and versions, in order.
fn fingerprint(mut versions: Vec<String>) -> String {
    versions.sort();
    versions.join(",")
}

/// The current version of a parameter, or of everything under a path, read
/// without decrypting any value (`--watch`).
pub(crate) async fn current_version(
    ctx: &Context,
    i: usize,
    parameter: &SsmParameter,
) -> Result<Option<String>, Error> {
    if parameter.path {
        let (listed, pages) = list(ctx, i, parameter, false).await?;
        let versions = listed
            .iter()
            .map(|p| format!("{}:{}", p.name().unwrap_or_default(), p.version()))
            .collect();
        ctx.log.note(format_args!(
            "GetParametersByPath {} in {} (no decryption, {pages} page(s)): {} parameters",
            quote(&parameter.name),
            ctx.regions[i],
            listed.len()
        ));
        return Ok(Some(fingerprint(versions)));
    }
    let out = ctx
        .ssm_for(i)
        .await?
        .get_parameter()
        .name(&parameter.name)
        .with_decryption(false)
        .customize()
        .interceptor(ctx.recorder(&[i]))
        .send()
        .await
        .map_err(|e| Error::Fetch {
            source: ctx.remote[i].label.clone(),
            reason: ctx.reason(i, &e),
        })?;
    let version = out.parameter().map(|p| p.version().to_string());
    ctx.log.note(format_args!(
        "GetParameter {} in {} (no decryption): version {}",
        quote(&parameter.name),
        ctx.regions[i],
        version.as_deref().unwrap_or("(none)")
    ));
    Ok(version)
}

/// A parameter's value, named after the last segment of the name asked for
/// (`/prod/app/db_password` -> `db_password`, as a secret is named).
fn value(ctx: &Context, i: usize, asked: &SsmParameter, p: &Parameter) -> Result<Fetched, Error> {
    let Some(text) = p.value() else {
        return Err(no_value(ctx, i));
    };
    Ok(Fetched {
        name: last_segment(&asked.name).to_string(),
        version: Some(p.version().to_string()),
        raw: Raw::String(text.to_string()),
    })
}

fn no_value(ctx: &Context, i: usize) -> Error {
    Error::Fetch {
        source: ctx.remote[i].label.clone(),
        reason: format!("the parameter holds no value{}", ctx.located(i)),
    }
}

/// `arn:...:parameter/prod/app/db_password:3` -> `db_password`.
pub(crate) fn last_segment(name: &str) -> &str {
    let name = name
        .split_once(":parameter/")
        .map_or(name, |(_, rest)| rest);
    let name = name.split(':').next().unwrap_or(name);
    name.rsplit('/').next().unwrap_or(name)
}

/// The given sources by concurrent single calls.
async fn each(
    ctx: &Arc<Context>,
    unit: &[(usize, SsmParameter)],
) -> Result<Vec<(usize, Fetched)>, Error> {
    super::each(ctx, unit, |ctx, i, item| async move {
        fetch_one(&ctx, i, &item).await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::last_segment;

    #[test]
    fn parameters_are_named_after_their_last_segment() {
        for (name, want) in [
            ("/prod/app/db_password", "db_password"),
            ("/prod/app/db_password:3", "db_password"),
            ("/prod/app/db_password:live", "db_password"),
            ("plain", "plain"),
            ("plain:2", "plain"),
            (
                "arn:aws:ssm:eu-west-1:1:parameter/prod/app/db.url",
                "db.url",
            ),
            ("arn:aws:ssm:eu-west-1:1:parameter/plain:label", "plain"),
        ] {
            assert_eq!(last_segment(name), want, "{name}");
        }
    }
}
