//! Sources in, raw secret values out: AWS configuration, roles, regions and
//! the concurrent `GetSecretValue` calls (SPEC §6).
//!
//! One client per (region, role), one `AssumeRole` per distinct role shared
//! by all its sources, every source fetched concurrently on one
//! current-thread runtime, and all of it bounded by `--timeout` (the SDK
//! sets no read timeout, so a server that never answers would otherwise
//! hang the job forever). Errors are built from `code()` and `message()`
//! only: the SDK's `Debug` and `DisplayErrorContext` of an unparseable
//! response include the raw body, which can hold a secret.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_secretsmanager::config::ConfigBag;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::config::{Credentials, Region};
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::primitives::Blob;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tokio::sync::OnceCell;
use tokio::task::JoinSet;

use crate::error::{Error, quote};
use crate::http::{NoRetryOnCertificateError, certificate_error};
use crate::log::Log;
use crate::secret::Raw;
use crate::source::{AwsSecret, Origin, Source};

/// A fetched value and the secret's name as AWS returned it.
#[derive(Debug)]
pub struct Fetched {
    pub name: String,
    pub raw: Raw,
}

pub struct Options<'a> {
    pub timeout: Duration,
    /// `--batch`: BatchGetSecretValue where it applies.
    pub batch: bool,
    /// `RoleSessionName` for AssumeRole: says in CloudTrail who called.
    pub session_name: &'a str,
    pub log: &'a Log,
}

/// Local files larger than this are refused: an environment cannot hold
/// much more anyway (Linux caps argv + envp at a quarter of the stack).
const MAX_FILE: u64 = 1 << 20;

/// A local source (`file:`, inline) read without any network, or `None`
/// for an AWS source. Callers read these first, so a local mistake is
/// reported before any network call.
pub fn read_local(source: &Source) -> Option<Result<Fetched, Error>> {
    match &source.origin {
        Origin::Inline(text) => Some(Ok(Fetched {
            name: source.label.clone(),
            raw: Raw::String(text.clone()),
        })),
        Origin::File(path) => Some(read_file(source, path)),
        Origin::Aws(_) => None,
    }
}

/// Fetch every AWS source concurrently; returns `(index in sources,
/// value)` pairs. Nothing AWS (runtime, configuration) is touched when no
/// source needs it.
pub fn fetch_remote(sources: &[Source], opts: &Options) -> Result<Vec<(usize, Fetched)>, Error> {
    let remote: Vec<Remote> = sources
        .iter()
        .enumerate()
        .filter_map(|(index, s)| match &s.origin {
            Origin::Aws(aws) => Some(Remote {
                index,
                label: s.label.clone(),
                aws: aws.clone(),
            }),
            _ => None,
        })
        .collect();
    if remote.is_empty() {
        return Ok(Vec::new());
    }
    crate::awsconfig::check_env_endpoints()?;
    fetch_with_timeout(&remote, opts)
}

fn read_file(source: &Source, path: &Path) -> Result<Fetched, Error> {
    let fail = |reason: String| Error::Fetch {
        source: source.label.clone(),
        reason,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE + 1).read_to_end(&mut bytes))
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(fail(format!("{} is larger than 1 MiB", path.display())));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| fail(format!("{} is not UTF-8 text", path.display())))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Fetched {
        name,
        raw: Raw::String(text),
    })
}

/// An AWS source and its place in the command line's order.
#[derive(Clone)]
struct Remote {
    index: usize,
    label: String,
    aws: AwsSecret,
}

fn fetch_with_timeout(remote: &[Remote], opts: &Options) -> Result<Vec<(usize, Fetched)>, Error> {
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
        let fetch = fetch_concurrently(remote, opts, &attempts, &mut done);
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
) -> Result<Vec<(usize, Fetched)>, Error> {
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
        .all(|r| r.aws.region.is_some())
        .then(|| remote[0].aws.region.clone())
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
            .aws
            .region
            .clone()
            .or_else(|| base.region().map(|r| r.to_string()))
            .ok_or_else(|| Error::Fetch {
                source: r.label.clone(),
                reason: "no AWS region: pass --region, set SECRETEXEC_REGION or AWS_REGION, \
                         or name the secret by its ARN"
                    .into(),
            })?;
        regions.push(region);
    }

    let ctx = Arc::new(Context::new(
        base,
        settings,
        remote,
        regions,
        opts.session_name,
        log,
        attempts,
    ));
    let mut tasks = JoinSet::new();
    for unit in plan(&ctx, opts.batch) {
        let ctx = Arc::clone(&ctx);
        tasks.spawn(async move {
            let fetched = match unit.as_slice() {
                [one] => fetch_one(&ctx, *one).await.map(|f| vec![(*one, f)]),
                many => fetch_batch(&ctx, many).await,
            };
            (unit, fetched)
        });
    }
    let mut results = Vec::with_capacity(remote.len());
    while let Some(joined) = tasks.join_next().await {
        let (unit, fetched) = joined.map_err(task_failed)?;
        // All or nothing: the first failure ends every other fetch.
        for (i, f) in fetched? {
            results.push((remote[i].index, f));
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

/// How the sources are fetched: each unit is one `GetSecretValue` (one
/// source) or one `BatchGetSecretValue` (up to 20 sources of one region and
/// role with no version selection, when `--batch` asks for it).
fn plan(ctx: &Context, batch: bool) -> Vec<Vec<usize>> {
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

/// What the concurrent fetches share: the base configuration, the sources
/// and their regions, one lazily assumed set of credentials per role and
/// one client per (region, role).
struct Context {
    base: SdkConfig,
    settings: crate::awsconfig::Settings,
    remote: Vec<Remote>,
    regions: Vec<String>,
    session_name: String,
    log: Log,
    /// Role -> (region of its first source, where STS is called; creds).
    roles: HashMap<String, (String, OnceCell<Credentials>)>,
    clients: HashMap<(String, Option<String>), OnceCell<aws_sdk_secretsmanager::Client>>,
    /// Per source: where its last attempt went and how it failed.
    attempts: Attempts,
}

impl Context {
    fn new(
        base: SdkConfig,
        settings: crate::awsconfig::Settings,
        remote: &[Remote],
        regions: Vec<String>,
        session_name: &str,
        log: &Log,
        attempts: &Attempts,
    ) -> Self {
        let mut roles = HashMap::new();
        let mut clients = HashMap::new();
        for (r, region) in remote.iter().zip(&regions) {
            if let Some(role) = &r.aws.role {
                roles
                    .entry(role.clone())
                    .or_insert_with(|| (region.clone(), OnceCell::new()));
            }
            clients
                .entry((region.clone(), r.aws.role.clone()))
                .or_insert_with(OnceCell::new);
        }
        Context {
            base,
            settings,
            remote: remote.to_vec(),
            regions,
            session_name: session_name.to_string(),
            log: log.clone(),
            roles,
            clients,
            attempts: Arc::clone(attempts),
        }
    }

    /// An interceptor that records the attempts of the given sources.
    fn recorder(&self, members: &[usize]) -> Recorder {
        Recorder {
            attempts: Arc::clone(&self.attempts),
            members: members.to_vec(),
        }
    }

    /// The reason a call failed: the error, where the call went, and where
    /// trusted roots came from when the server's certificate was refused.
    fn reason<E>(&self, i: usize, err: &SdkError<E, HttpResponse>) -> String
    where
        E: ProvideErrorMetadata + StdError + 'static,
    {
        format!(
            "{}{}{}",
            describe(err),
            self.place(i, err.raw_response().is_some()),
            self.trust_hint(err)
        )
    }

    fn trust_hint<E: StdError + 'static>(&self, err: &SdkError<E, HttpResponse>) -> String {
        if certificate_error(err) {
            format!("; {}", self.settings.trust.describe())
        } else {
            String::new()
        }
    }

    /// Where a failed call went, for its message: the region, and the
    /// endpoint when it is not AWS's own (`AWS_ENDPOINT_URL`, a profile)
    /// or the call never got an answer.
    fn place(&self, i: usize, answered: bool) -> String {
        let region = &self.regions[i];
        let endpoint = lock(&self.attempts[i]).endpoint.clone();
        let configured = self.base.endpoint_url().is_some()
            || self.settings.secrets_manager_endpoint.is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_SECRETS_MANAGER").is_some();
        match endpoint {
            Some(endpoint) if configured || !answered => format!(" ({region}, {endpoint})"),
            _ => format!(" ({region})"),
        }
    }

    /// The client for source `i`, built (and its role assumed) on first use.
    async fn client_for(&self, i: usize) -> Result<&aws_sdk_secretsmanager::Client, Error> {
        let r = &self.remote[i];
        self.client(&self.regions[i], r.aws.role.as_deref())
            .await
            .map_err(|reason| Error::Fetch {
                source: r.label.clone(),
                reason,
            })
    }

    async fn client(
        &self,
        region: &str,
        role: Option<&str>,
    ) -> Result<&aws_sdk_secretsmanager::Client, String> {
        let cell = &self.clients[&(region.to_string(), role.map(String::from))];
        cell.get_or_try_init(|| async {
            let mut config = aws_sdk_secretsmanager::config::Builder::from(&self.base)
                .region(Region::new(region.to_string()))
                .retry_classifier(NoRetryOnCertificateError);
            if let Some(url) = &self.settings.secrets_manager_endpoint {
                config = config.endpoint_url(url);
            }
            if let Some(role) = role {
                config = config.credentials_provider(self.assume(role).await?.clone());
            }
            Ok(aws_sdk_secretsmanager::Client::from_conf(config.build()))
        })
        .await
    }

    async fn assume(&self, role: &str) -> Result<&Credentials, String> {
        let (region, cell) = &self.roles[role];
        cell.get_or_try_init(|| async {
            self.log.note(format_args!(
                "assuming role {role} as session {} (STS in {region})",
                self.session_name
            ));
            let sts = aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&self.base)
                    .region(Region::new(region.clone()))
                    .retry_classifier(NoRetryOnCertificateError)
                    .build(),
            );
            let out = sts
                .assume_role()
                .role_arn(role)
                .role_session_name(&self.session_name)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "cannot assume role {role}: {}{}",
                        describe(&e),
                        self.trust_hint(&e)
                    )
                })?;
            let c = out
                .credentials()
                .ok_or_else(|| format!("cannot assume role {role}: STS returned no credentials"))?;
            Ok(Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_string()),
                SystemTime::try_from(*c.expiration()).ok(),
                "secretexec AssumeRole",
            ))
        })
        .await
    }
}

/// Per source (by its place in `Remote`s): the endpoint its last attempt
/// went to and, if that attempt failed, how. Kept outside the fetch so a
/// `--timeout` that ends it can still say what was going wrong.
type Attempts = Arc<Vec<Mutex<Attempt>>>;

#[derive(Debug, Default)]
struct Attempt {
    endpoint: Option<String>,
    failure: Option<String>,
}

fn lock(slot: &Mutex<Attempt>) -> MutexGuard<'_, Attempt> {
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Records each attempt of a call into the slots of the sources it serves.
/// Only the kind of failure, the HTTP status and the endpoint are kept:
/// never a response body.
#[derive(Debug)]
struct Recorder {
    attempts: Attempts,
    members: Vec<usize>,
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "secretexec::Recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let endpoint = endpoint_of(context.request().uri());
        for &i in &self.members {
            lock(&self.attempts[i]).endpoint = Some(endpoint.clone());
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let status = context.response().map(|r| r.status().as_u16());
        let failure = match context.output_or_error() {
            Some(Err(e)) => Some(match (e.as_connector_error(), status) {
                (Some(c), _) if c.is_timeout() => format!("connection timed out: {}", chain(c)),
                (Some(c), _) => format!("connection failed: {}", chain(c)),
                (None, Some(status)) => format!("HTTP {status}"),
                (None, None) if e.is_timeout_error() => "the request timed out".into(),
                (None, None) => "no answer".into(),
            }),
            _ => None,
        };
        for &i in &self.members {
            let mut slot = lock(&self.attempts[i]);
            slot.failure = match (&failure, &slot.endpoint) {
                (Some(f), Some(endpoint)) => Some(format!("{f} ({endpoint})")),
                _ => failure.clone(),
            };
        }
        Ok(())
    }
}

/// `scheme://host[:port]` of a request URI: where the call went.
fn endpoint_of(uri: &str) -> String {
    let after_scheme = uri.find("://").map_or(0, |i| i + 3);
    let end = uri[after_scheme..]
        .find('/')
        .map_or(uri.len(), |i| after_scheme + i);
    uri[..end].to_string()
}

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

fn as_role(role: Option<&str>) -> String {
    role.map(|role| format!(" as {role}")).unwrap_or_default()
}

fn value(
    label: &str,
    name: &str,
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

/// A task only ends early by panicking, and panic = "abort" in release; in
/// a debug build, surface it as our own failure.
fn task_failed(e: tokio::task::JoinError) -> Error {
    Error::Fetch {
        source: "(internal)".into(),
        reason: format!("fetch task failed: {e}"),
    }
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

/// One line about an SDK error: the AWS error code and message, or what
/// kind of failure it was. Never `Debug` or `DisplayErrorContext`: an
/// unparseable response carries the raw body.
fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let status = err
        .raw_response()
        .map(|r| format!(" (HTTP {})", r.status().as_u16()))
        .unwrap_or_default();
    let success = err.raw_response().is_some_and(|r| r.status().is_success());
    match err {
        SdkError::ServiceError(e) => {
            let e = e.err();
            match (e.code(), e.message()) {
                (Some(code), Some(msg)) => format!("{code}: {msg}"),
                (Some(code), None) => code.to_string(),
                // An answer the SDK could not parse lands here as an
                // error without a code; its body is never shown.
                (None, _) if success => format!("unreadable response from AWS{status}"),
                (None, _) => format!("request refused{status} without an AWS error code"),
            }
        }
        _ if is_no_credentials(err) => "no AWS credentials found (tried environment, profile, \
             web identity, container and instance metadata): set AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run where a role provides them"
            .into(),
        SdkError::TimeoutError(_) => "the request timed out".into(),
        SdkError::ResponseError(_) => format!("unreadable response from AWS{status}"),
        SdkError::DispatchFailure(e) if e.is_timeout() => {
            format!("connection timed out: {}", chain(err))
        }
        SdkError::DispatchFailure(_) if certificate_error(err) => {
            format!(
                "the server's TLS certificate is not trusted: {}",
                chain(err)
            )
        }
        SdkError::DispatchFailure(e) if e.is_io() => format!("connection failed: {}", chain(err)),
        _ => chain(err),
    }
}

/// The messages of an error's sources, outermost first. Used only for
/// errors that did not come from an AWS response body.
fn chain(err: &dyn StdError) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = err.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p == &text) {
            parts.push(text);
        }
        next = e.source();
    }
    if parts.is_empty() {
        parts.push(err.to_string());
    }
    // Some providers write multi-line messages; ours are one line.
    parts
        .join(": ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_no_credentials(err: &dyn StdError) -> bool {
    use aws_credential_types::provider::error::CredentialsError;
    let mut next = err.source();
    while let Some(e) = next {
        if let Some(CredentialsError::CredentialsNotLoaded(_)) =
            e.downcast_ref::<CredentialsError>()
        {
            return true;
        }
        next = e.source();
    }
    false
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
