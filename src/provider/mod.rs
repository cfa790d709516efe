//! What the providers share: the fetched value, the AWS configuration and
//! settings, one client and one `AssumeRole` per (region, role), the record
//! of each call's attempts, and the one-line description of an SDK error.
//! Each backend is a module beside this one (`local`, `secretsmanager`,
//! `ssm`)
//! that turns the sources it owns into [`Fetched`] values; the shared
//! fetch layer above them (`crate::fetch`) owns the runtime, `--timeout`,
//! concurrency and all-or-nothing, and no provider imports it.
//!
//! Errors are built from `code()` and `message()` only: the SDK's `Debug`
//! and `DisplayErrorContext` of an unparseable response include the raw
//! body, which can hold a secret.

pub mod cache;
pub mod local;
pub mod secretsmanager;
pub mod ssm;

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::config::ConfigBag;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::config::{Credentials, Region};
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tokio::sync::OnceCell;

use crate::error::Error;
use crate::http::{NoRetryOnCertificateError, certificate_error};
use crate::log::Log;
use crate::secret::Raw;
use crate::source::Origin;

/// A fetched value, the name of what was read as its backend returned it
/// (a secret's name, a file's name), and the version read, when the
/// backend has versions.
#[derive(Debug)]
pub struct Fetched {
    pub name: String,
    pub version: Option<String>,
    pub raw: Raw,
}

/// An AWS source (either service) and its place in the command line's
/// order.
#[derive(Clone)]
pub(crate) struct Remote {
    pub(crate) index: usize,
    pub(crate) label: String,
    pub(crate) region: Option<String>,
    pub(crate) role: Option<String>,
    pub(crate) origin: Origin,
}

impl Remote {
    /// The AWS source of `sources[index]`, or `None` for a local one.
    pub(crate) fn of(index: usize, source: &crate::source::Source) -> Option<Remote> {
        let mut origin = source.origin.clone();
        let (region, role) = origin.aws_place()?;
        let (region, role) = (region.clone(), role.clone());
        Some(Remote {
            index,
            label: source.label.clone(),
            region,
            role,
            origin,
        })
    }
}

/// One call's worth of work for one backend: its sources (by their place
/// in the context's `remote`) and what each asks for.
pub(crate) enum Unit {
    Secrets(secretsmanager::Unit),
    Parameters(ssm::Unit),
    /// One secret through `--cache`, direct when the cache cannot answer.
    Cached(secretsmanager::Unit),
    /// One SSM parameter through `--cache`, the same way.
    CachedParameter(ssm::Unit),
}

impl Unit {
    pub(crate) fn members(&self) -> Vec<usize> {
        match self {
            Unit::Secrets(u) | Unit::Cached(u) => u.iter().map(|(i, _)| *i).collect(),
            Unit::Parameters(u) | Unit::CachedParameter(u) => u.iter().map(|(i, _)| *i).collect(),
        }
    }
}

/// Every AWS source of the context, cut into the calls each backend makes.
/// With `--cache`, each secret and single parameter in the cache's region
/// is its own unit, asked of the cache first.
pub(crate) fn plan(ctx: &Context, batch: bool) -> Vec<Unit> {
    let cached = |i: usize| {
        let r = &ctx.remote[i];
        let servable = match &r.origin {
            Origin::Aws(_) => true,
            Origin::Ssm(p) => !p.path,
            Origin::File(_) | Origin::Inline(_) => false,
        };
        servable
            && ctx.cache.as_ref().is_some_and(|(_, region)| {
                // A cache serves one region: a source elsewhere goes direct.
                r.region.is_none() || r.region.as_ref() == region.as_ref()
            })
    };
    let through_cache = ctx
        .remote
        .iter()
        .enumerate()
        .filter(|(i, _)| cached(*i))
        .filter_map(|(i, r)| match &r.origin {
            Origin::Aws(secret) => Some(Unit::Cached(vec![(i, secret.clone())])),
            Origin::Ssm(p) => Some(Unit::CachedParameter(vec![(i, p.clone())])),
            Origin::File(_) | Origin::Inline(_) => None,
        });
    let secrets = secretsmanager::plan(ctx, batch, &cached)
        .into_iter()
        .map(Unit::Secrets);
    let parameters = ssm::plan(ctx, &cached).into_iter().map(Unit::Parameters);
    through_cache.chain(secrets).chain(parameters).collect()
}

/// Fetch one unit of [`plan`].
pub(crate) async fn fetch(ctx: &Arc<Context>, unit: &Unit) -> Result<Vec<(usize, Fetched)>, Error> {
    match unit {
        Unit::Secrets(u) => secretsmanager::fetch(ctx, u).await,
        Unit::Parameters(u) => ssm::fetch(ctx, u).await,
        Unit::Cached(u) => {
            if let (Some((cache, _)), [(i, secret)]) = (&ctx.cache, u.as_slice())
                && let Some(fetched) = cached(ctx, *i, cache::fetch(ctx, cache, *i, secret).await?)
            {
                return Ok(vec![(*i, fetched)]);
            }
            secretsmanager::fetch(ctx, u).await
        }
        Unit::CachedParameter(u) => {
            if let (Some((cache, _)), [(i, p)]) = (&ctx.cache, u.as_slice())
                && let Some(fetched) =
                    cached(ctx, *i, cache::fetch_parameter(ctx, cache, *i, p).await?)
            {
                return Ok(vec![(*i, fetched)]);
            }
            ssm::fetch(ctx, u).await
        }
    }
}

/// The cache's value, or `None` after saying (`-v`) why the source goes
/// direct.
fn cached(ctx: &Context, i: usize, answer: cache::Answer) -> Option<Fetched> {
    match answer {
        cache::Answer::Value(fetched) => Some(fetched),
        cache::Answer::Direct(why) => {
            ctx.log.note(format_args!(
                "{}: {why}; fetching it directly",
                crate::error::quote(&ctx.remote[i].label)
            ));
            None
        }
    }
}

/// A call that takes several sources at once (`BatchGetSecretValue`,
/// `GetParameters`): the sources it serves, deduplicated ids, and what was
/// asked (`-v`), for the provider to make the call.
pub(crate) struct Several {
    pub(crate) first: usize,
    pub(crate) members: Vec<usize>,
    pub(crate) ids: Vec<String>,
}

impl Several {
    /// Say (`-v`) which sources `call` fetches, where and as whom.
    pub(crate) fn new<T>(
        ctx: &Context,
        call: &str,
        unit: &[(usize, T)],
        id: impl Fn(&T) -> &String,
    ) -> Self {
        let first = unit[0].0;
        let members: Vec<usize> = unit.iter().map(|(i, _)| *i).collect();
        let mut ids: Vec<String> = Vec::with_capacity(unit.len());
        for (_, item) in unit {
            if !ids.contains(id(item)) {
                ids.push(id(item).clone());
            }
        }
        ctx.log.note(format_args!(
            "fetching {} with {call} in {}{}",
            members
                .iter()
                .map(|&i| crate::error::quote(&ctx.remote[i].label))
                .collect::<Vec<_>>()
                .join(", "),
            ctx.regions[first],
            as_role(ctx.remote[first].role.as_deref())
        ));
        Several {
            first,
            members,
            ids,
        }
    }

    /// The call's answer; `None` (said with `-v`) when it was `refused` and
    /// the sources are to be fetched by `single` calls; else the failure as
    /// the first source's error.
    pub(crate) fn answer<O, E>(
        &self,
        ctx: &Context,
        call: &str,
        single: &str,
        answer: Result<O, SdkError<E, HttpResponse>>,
        refused: impl Fn(&SdkError<E, HttpResponse>) -> bool,
    ) -> Result<Option<O>, Error>
    where
        E: ProvideErrorMetadata + StdError + 'static,
    {
        match answer {
            Ok(out) => Ok(Some(out)),
            Err(e) if refused(&e) => {
                ctx.log.note(format_args!(
                    "{call} refused ({}); falling back to {single}",
                    describe(&e)
                ));
                Ok(None)
            }
            Err(e) => Err(Error::Fetch {
                source: ctx.remote[self.first].label.clone(),
                reason: format!("{call}: {}", ctx.reason(self.first, &e)),
            }),
        }
    }
}

/// Each `(source, item)` of `unit` by its own call, concurrently: the
/// fallback of a call that takes several (`BatchGetSecretValue`,
/// `GetParameters`) when it is refused or misses some.
pub(crate) async fn each<T, F, Fut>(
    ctx: &Arc<Context>,
    unit: &[(usize, T)],
    one: F,
) -> Result<Vec<(usize, Fetched)>, Error>
where
    T: Clone + Send + 'static,
    F: Fn(Arc<Context>, usize, T) -> Fut,
    Fut: std::future::Future<Output = Result<Fetched, Error>> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for (i, item) in unit.iter().cloned() {
        let call = one(Arc::clone(ctx), i, item);
        tasks.spawn(async move { call.await.map(|f| (i, f)) });
    }
    let mut fetched = Vec::with_capacity(unit.len());
    while let Some(joined) = tasks.join_next().await {
        fetched.push(joined.map_err(task_failed)??);
    }
    Ok(fetched)
}

/// Whether `--watch` checks a source: a source pinned to a version (a
/// version stage or id, an SSM `:version` or `:label`) never changes.
pub fn watched(origin: &Origin) -> bool {
    match origin {
        Origin::Aws(s) => s.version_stage.is_none() && s.version_id.is_none(),
        Origin::Ssm(p) => p.path || !parameter_selected(&p.name),
        Origin::File(_) | Origin::Inline(_) => false,
    }
}

/// `/name:3`, `/name:label`, `arn:...:parameter/name:3`: a selector follows
/// the parameter's name.
fn parameter_selected(name: &str) -> bool {
    let name = name
        .split_once(":parameter/")
        .map_or(name, |(_, rest)| rest);
    name.contains(':')
}

/// The current version of source `i` (`--watch`), read without its value.
pub(crate) async fn current_version(ctx: &Context, i: usize) -> Result<Option<String>, Error> {
    match &ctx.remote[i].origin {
        Origin::Aws(secret) => secretsmanager::current_version(ctx, i, secret).await,
        Origin::Ssm(parameter) => ssm::current_version(ctx, i, parameter).await,
        Origin::File(_) | Origin::Inline(_) => Ok(None),
    }
}

/// Sources grouped by (region, role) in first-seen order, for the calls
/// that take several at once (BatchGetSecretValue, GetParameters).
pub(crate) struct Groups<T> {
    groups: Vec<(ClientKey, Vec<(usize, T)>)>,
}

/// (region, role): what one client serves.
type ClientKey = (String, Option<String>);

impl<T> Default for Groups<T> {
    fn default() -> Self {
        Groups { groups: Vec::new() }
    }
}

impl<T: Clone> Groups<T> {
    pub(crate) fn add(&mut self, ctx: &Context, i: usize, item: T) {
        let key = (ctx.regions[i].clone(), ctx.remote[i].role.clone());
        match self.groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push((i, item)),
            None => self.groups.push((key, vec![(i, item)])),
        }
    }

    /// Each group cut into calls of at most `size` sources.
    pub(crate) fn chunks(self, size: usize) -> impl Iterator<Item = Vec<(usize, T)>> {
        self.groups.into_iter().flat_map(move |(_, members)| {
            members.chunks(size).map(<[_]>::to_vec).collect::<Vec<_>>()
        })
    }
}

/// One client of each service per (region, role), built on first use.
type Clients<C> = HashMap<ClientKey, OnceCell<C>>;

/// What the concurrent fetches share: the base configuration, the sources
/// and their regions, one lazily assumed set of credentials per role and
/// one client per (region, role).
pub(crate) struct Context {
    pub(crate) base: SdkConfig,
    pub(crate) settings: crate::awsconfig::Settings,
    pub(crate) remote: Vec<Remote>,
    pub(crate) regions: Vec<String>,
    pub(crate) session_name: String,
    pub(crate) log: Log,
    /// Role -> (region of its first source, where STS is called; creds).
    pub(crate) roles: HashMap<String, (String, OnceCell<Credentials>)>,
    pub(crate) secrets_manager: Clients<aws_sdk_secretsmanager::Client>,
    pub(crate) ssm: Clients<aws_sdk_ssm::Client>,
    /// Per source: where its last attempt went and how it failed.
    pub(crate) attempts: Attempts,
    /// `--cache`: the node-local cache to read Secrets Manager values
    /// through, and the region it serves.
    pub(crate) cache: Option<(cache::Cache, Option<String>)>,
}

impl Context {
    pub(crate) fn new(
        base: SdkConfig,
        settings: crate::awsconfig::Settings,
        remote: &[Remote],
        regions: Vec<String>,
        session_name: &str,
        log: &Log,
        attempts: &Attempts,
    ) -> Self {
        let mut roles = HashMap::new();
        let (mut secrets_manager, mut ssm) = (HashMap::new(), HashMap::new());
        for (r, region) in remote.iter().zip(&regions) {
            if let Some(role) = &r.role {
                roles
                    .entry(role.clone())
                    .or_insert_with(|| (region.clone(), OnceCell::new()));
            }
            let key = (region.clone(), r.role.clone());
            if let Origin::Ssm(_) = r.origin {
                ssm.entry(key).or_insert_with(OnceCell::new);
            } else {
                secrets_manager.entry(key).or_insert_with(OnceCell::new);
            }
        }
        Context {
            base,
            settings,
            remote: remote.to_vec(),
            regions,
            session_name: session_name.to_string(),
            log: log.clone(),
            roles,
            secrets_manager,
            ssm,
            attempts: Arc::clone(attempts),
            cache: None,
        }
    }

    /// An interceptor that records the attempts of the given sources.
    pub(crate) fn recorder(&self, members: &[usize]) -> Recorder {
        Recorder {
            attempts: Arc::clone(&self.attempts),
            members: members.to_vec(),
        }
    }

    /// The reason a call failed: the error, where the call went, and where
    /// trusted roots came from when the server's certificate was refused.
    pub(crate) fn reason<E>(&self, i: usize, err: &SdkError<E, HttpResponse>) -> String
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

    /// Where source `i`'s calls go, for a message about an answer: the
    /// region, and the endpoint when it is not AWS's own.
    pub(crate) fn located(&self, i: usize) -> String {
        self.place(i, true)
    }

    /// Where a failed call went, for its message: the region, and the
    /// endpoint when it is not AWS's own (`AWS_ENDPOINT_URL`, a profile)
    /// or the call never got an answer.
    fn place(&self, i: usize, answered: bool) -> String {
        let region = &self.regions[i];
        let endpoint = lock(&self.attempts[i]).endpoint.clone();
        let (profile, var) = match self.remote[i].origin {
            Origin::Ssm(_) => (&self.settings.ssm_endpoint, "AWS_ENDPOINT_URL_SSM"),
            _ => (
                &self.settings.secrets_manager_endpoint,
                "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            ),
        };
        let configured = self.base.endpoint_url().is_some()
            || profile.is_some()
            || std::env::var_os(var).is_some();
        match endpoint {
            Some(endpoint) if configured || !answered => format!(" ({region}, {endpoint})"),
            _ => format!(" ({region})"),
        }
    }

    /// The Secrets Manager client for source `i`, built (and its role
    /// assumed) on first use.
    pub(crate) async fn secrets_manager_for(
        &self,
        i: usize,
    ) -> Result<&aws_sdk_secretsmanager::Client, Error> {
        self.client(i, &self.secrets_manager, |credentials| {
            let mut config = aws_sdk_secretsmanager::config::Builder::from(&self.base)
                .region(Region::new(self.regions[i].clone()))
                .retry_classifier(NoRetryOnCertificateError);
            if let Some(url) = &self.settings.secrets_manager_endpoint {
                config = config.endpoint_url(url);
            }
            if let Some(credentials) = credentials {
                config = config.credentials_provider(credentials);
            }
            aws_sdk_secretsmanager::Client::from_conf(config.build())
        })
        .await
    }

    /// The SSM client for source `i`, built (and its role assumed) on
    /// first use.
    pub(crate) async fn ssm_for(&self, i: usize) -> Result<&aws_sdk_ssm::Client, Error> {
        self.client(i, &self.ssm, |credentials| {
            let mut config = aws_sdk_ssm::config::Builder::from(&self.base)
                .region(aws_sdk_ssm::config::Region::new(self.regions[i].clone()))
                .retry_classifier(NoRetryOnCertificateError);
            if let Some(url) = &self.settings.ssm_endpoint {
                config = config.endpoint_url(url);
            }
            if let Some(credentials) = credentials {
                config = config.credentials_provider(credentials);
            }
            aws_sdk_ssm::Client::from_conf(config.build())
        })
        .await
    }

    /// Source `i`'s client from `clients`, built by `build` with the
    /// credentials of its role (`None`: the base configuration's).
    async fn client<'a, C>(
        &'a self,
        i: usize,
        clients: &'a Clients<C>,
        build: impl FnOnce(Option<Credentials>) -> C,
    ) -> Result<&'a C, Error> {
        let r = &self.remote[i];
        let cell = &clients[&(self.regions[i].clone(), r.role.clone())];
        cell.get_or_try_init(|| async {
            Ok(build(match &r.role {
                Some(role) => Some(self.assume(role).await?.clone()),
                None => None,
            }))
        })
        .await
        .map_err(|reason| Error::Fetch {
            source: r.label.clone(),
            reason,
        })
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
pub(crate) type Attempts = Arc<Vec<Mutex<Attempt>>>;

#[derive(Debug, Default)]
pub(crate) struct Attempt {
    pub(crate) endpoint: Option<String>,
    pub(crate) failure: Option<String>,
}

pub(crate) fn lock(slot: &Mutex<Attempt>) -> MutexGuard<'_, Attempt> {
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Records each attempt of a call into the slots of the sources it serves.
/// Only the kind of failure, the HTTP status and the endpoint are kept:
/// never a response body.
#[derive(Debug)]
pub(crate) struct Recorder {
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
        let endpoint = crate::http::endpoint_of(context.request().uri());
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
        let error_type = context.response().and_then(error_type);
        if let Some(code) = throttled(status, error_type.as_deref())
            && !THROTTLE_SAID.swap(true, Ordering::Relaxed)
        {
            // Once per run, without -v: a start that takes seconds is explained.
            eprintln!(
                "secretexec: AWS is throttling these calls ({code}); retrying with backoff \
                 (for a fleet starting at once, see --batch and --cache)"
            );
        }
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

/// Said once per run: AWS throttles and the calls are being retried.
static THROTTLE_SAID: AtomicBool = AtomicBool::new(false);

/// The throttling code of an answer, as a name of ours (never text from
/// the answer itself).
fn throttled(status: Option<u16>, error_type: Option<&str>) -> Option<&'static str> {
    const CODES: &[&str] = &[
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ThrottledException",
    ];
    match error_type.and_then(|t| CODES.iter().find(|c| **c == t)) {
        Some(code) => Some(code),
        None if status == Some(429) => Some("HTTP 429"),
        None => None,
    }
}

/// An error answer's type: the `x-amzn-errortype` header, else the JSON
/// body's `__type` (`aws.protocol#ThrottlingException` -> the last part).
fn error_type(response: &HttpResponse) -> Option<String> {
    if response.status().is_success() {
        return None;
    }
    let short = |t: &str| {
        let t = t.split(':').next().unwrap_or(t);
        t.rsplit('#').next().unwrap_or(t).to_string()
    };
    if let Some(t) = response.headers().get("x-amzn-errortype") {
        return Some(short(t));
    }
    let body: serde_json::Value = serde_json::from_slice(response.body().bytes()?).ok()?;
    body.get("__type").and_then(|t| t.as_str()).map(short)
}

pub(crate) fn as_role(role: Option<&str>) -> String {
    role.map(|role| format!(" as {role}")).unwrap_or_default()
}

/// A task only ends early by panicking, and panic = "abort" in release; in
/// a debug build, surface it as our own failure.
pub(crate) fn task_failed(e: tokio::task::JoinError) -> Error {
    Error::Fetch {
        source: "(internal)".into(),
        reason: format!("fetch task failed: {e}"),
    }
}

/// A call refused for lack of permission (an error code, or a bare 403).
pub(crate) fn denied<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err.as_service_error().and_then(|e| e.code()) {
        Some(code) => matches!(code, "AccessDeniedException" | "AccessDenied"),
        None => err.raw_response().map(|r| r.status().as_u16()) == Some(403),
    }
}

/// One line about an SDK error: the AWS error code and message, or what
/// kind of failure it was. Never `Debug` or `DisplayErrorContext`: an
/// unparseable response carries the raw body.
pub(crate) fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
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
