//! The shared fetch layer: sources in, raw values out (SPEC §6). It owns
//! the current-thread runtime, the single `--timeout` over everything
//! (the SDK sets no read timeout, so a server that never answers would
//! otherwise hang the job forever), the AWS configuration, concurrency and
//! all-or-nothing; the backends are in `crate::provider`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_secretsmanager::config::Region;
use tokio::task::JoinSet;

use crate::error::Error;
use crate::log::Log;
use crate::provider::{self, Attempts, Context, Fetched, Remote, lock};
use crate::source::Source;

pub struct Options<'a> {
    pub timeout: Duration,
    /// `--batch`: BatchGetSecretValue where it applies.
    pub batch: bool,
    /// `RoleSessionName` for AssumeRole: says in CloudTrail who called.
    pub session_name: &'a str,
    pub log: &'a Log,
    /// `--cache`: Secrets Manager values through a node-local cache.
    pub cache: Option<&'a provider::cache::Cache>,
}

/// Fetch every AWS source concurrently; returns `(index in sources,
/// value)` pairs. Nothing AWS (runtime, configuration) is touched when no
/// source needs it.
pub fn fetch_remote(sources: &[Source], opts: &Options) -> Result<Vec<(usize, Fetched)>, Error> {
    let got = run(sources, opts, Job::Values, |_| true)?;
    Ok(got
        .into_iter()
        .filter_map(|(i, got)| match got {
            Got::Value(f) => Some((i, f)),
            Got::Version(_) => None,
        })
        .collect())
}

/// `--watch`: the current version of every AWS source that is not pinned
/// to one, read without any value (`DescribeSecret`, SSM without
/// decryption), as `(index in sources, version)` pairs.
pub fn current_versions(
    sources: &[Source],
    opts: &Options,
) -> Result<Vec<(usize, Option<String>)>, Error> {
    let got = run(sources, opts, Job::Versions, |s| {
        provider::watched(&s.origin)
    })?;
    Ok(got
        .into_iter()
        .filter_map(|(i, got)| match got {
            Got::Version(v) => Some((i, v)),
            Got::Value(_) => None,
        })
        .collect())
}

/// What a run of the fetch layer reads from each source.
#[derive(Clone, Copy, PartialEq)]
enum Job {
    Values,
    Versions,
}

enum Got {
    Value(Fetched),
    Version(Option<String>),
}

fn run(
    sources: &[Source],
    opts: &Options,
    job: Job,
    wanted: impl Fn(&Source) -> bool,
) -> Result<Vec<(usize, Got)>, Error> {
    let remote: Vec<Remote> = sources
        .iter()
        .enumerate()
        .filter(|(_, s)| wanted(s))
        .filter_map(|(index, s)| Remote::of(index, s))
        .collect();
    if remote.is_empty() {
        return Ok(Vec::new());
    }
    crate::awsconfig::check_env_endpoints()?;
    fetch_with_timeout(&remote, opts, job)
}

fn fetch_with_timeout(
    remote: &[Remote],
    opts: &Options,
    job: Job,
) -> Result<Vec<(usize, Got)>, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Fetch {
            source: remote[0].label.clone(),
            reason: format!("cannot start the async runtime: {e}"),
        })?;
    let mut done = vec![false; remote.len()];
    let attempts: Attempts = Arc::new((0..remote.len()).map(|_| Mutex::default()).collect());
    let outcome = runtime.block_on(async {
        let fetch = fetch_concurrently(remote, opts, &attempts, &mut done, job);
        tokio::time::timeout(opts.timeout, fetch).await
    });
    // Blocking DNS threads must not delay the exec.
    runtime.shutdown_background();
    match outcome {
        Ok(result) => result,
        Err(_) => {
            let pending: Vec<usize> = (0..remote.len()).filter(|&i| !done[i]).collect();
            Err(Error::Timeout {
                after: opts.timeout,
                pending: pending.iter().map(|&i| remote[i].label.clone()).collect(),
                last_failure: pending
                    .iter()
                    .find_map(|&i| lock(&attempts[i]).failure.clone()),
            })
        }
    }
}

async fn fetch_concurrently(
    remote: &[Remote],
    opts: &Options<'_>,
    attempts: &Attempts,
    done: &mut [bool],
    job: Job,
) -> Result<Vec<(usize, Got)>, Error> {
    let log = opts.log;
    let settings = crate::awsconfig::load().await?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(settings.retry.clone())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(crate::awsconfig::CONNECT_TIMEOUT)
                .build(),
        )
        .http_client(crate::http::client(settings.trust.clone()));
    // When every source already has a region, give it to the loader so the
    // SDK's region chain (profile files, instance metadata) is never asked.
    if let Some(Some(first)) = remote
        .iter()
        .all(|r| r.region.is_some())
        .then(|| remote[0].region.clone())
    {
        loader = loader.region(Region::new(first));
    }
    // The environment is the first link of the SDK's credential chain; when
    // it has credentials, the chain (which builds an STS client for web
    // identity, a fifth of our instructions for one secret) is not needed.
    let env_creds = EnvironmentVariableCredentialsProvider::new();
    if env_creds.provide_credentials().await.is_ok() {
        loader = loader.credentials_provider(env_creds);
    }
    let base = loader.load().await;
    log.phase("AWS configuration loaded");

    let mut regions = Vec::with_capacity(remote.len());
    for r in remote {
        let region = r
            .region
            .clone()
            .or_else(|| base.region().map(|r| r.to_string()))
            .ok_or_else(|| Error::Fetch {
                source: r.label.clone(),
                reason: "no AWS region: pass --region, set SECRETEXEC_REGION or AWS_REGION, \
                         or name the secret or parameter by its ARN"
                    .into(),
            })?;
        regions.push(region);
    }

    let mut ctx = Context::new(
        base,
        settings,
        remote,
        regions,
        opts.session_name,
        log,
        attempts,
    );
    // The cache's region: the environment's, as the agent beside us reads it.
    let cache_region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|r| !r.is_empty()));
    ctx.cache = opts.cache.map(|c| (c.clone(), cache_region));
    let ctx = Arc::new(ctx);
    if job == Job::Versions {
        return versions(&ctx, done).await;
    }
    let mut tasks = JoinSet::new();
    for unit in provider::plan(&ctx, opts.batch) {
        let ctx = Arc::clone(&ctx);
        tasks.spawn(async move {
            let fetched = provider::fetch(&ctx, &unit).await;
            (unit.members(), fetched)
        });
    }
    let mut results = Vec::with_capacity(remote.len());
    while let Some(joined) = tasks.join_next().await {
        let (unit, fetched) = joined.map_err(provider::task_failed)?;
        // All or nothing: the first failure ends every other fetch.
        for (i, f) in fetched? {
            results.push((remote[i].index, Got::Value(f)));
        }
        for i in unit {
            done[i] = true;
        }
    }
    log.phase("all sources fetched");
    // The process is about to become the command: tearing down clients,
    // connection pools and endpoint tables would be wasted work.
    std::mem::forget(ctx);
    Ok(results)
}

/// Every source's current version, concurrently; the context is dropped,
/// since `--watch` asks again and again.
async fn versions(ctx: &Arc<Context>, done: &mut [bool]) -> Result<Vec<(usize, Got)>, Error> {
    let mut tasks = JoinSet::new();
    for i in 0..ctx.remote.len() {
        let ctx = Arc::clone(ctx);
        tasks.spawn(async move { (i, provider::current_version(&ctx, i).await) });
    }
    let mut results = Vec::with_capacity(ctx.remote.len());
    while let Some(joined) = tasks.join_next().await {
        let (i, version) = joined.map_err(provider::task_failed)?;
        results.push((ctx.remote[i].index, Got::Version(version?)));
        done[i] = true;
    }
    ctx.log.phase("versions checked");
    Ok(results)
}
