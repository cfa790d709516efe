//! What the providers share: the fetched value, the AWS configuration and
//! settings, one client and one `AssumeRole` per (region, role), the record
//! of each call's attempts, and the one-line description of an SDK error.
//! Each backend is a module beside this one (`local`, `secretsmanager`)
//! that turns the sources it owns into [`Fetched`] values; the shared
//! fetch layer above them (`crate::fetch`) owns the runtime, `--timeout`,
//! concurrency and all-or-nothing, and no provider imports it.
//!
//! Errors are built from `code()` and `message()` only: the SDK's `Debug`
//! and `DisplayErrorContext` of an unparseable response include the raw
//! body, which can hold a secret.

pub mod local;
pub mod secretsmanager;

use std::collections::HashMap;
use std::error::Error as StdError;
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
use crate::source::AwsSecret;

/// A fetched value, the name of what was read as its backend returned it
/// (a secret's name, a file's name), and the version read, when the
/// backend has versions.
#[derive(Debug)]
pub struct Fetched {
    pub name: String,
    pub version: Option<String>,
    pub raw: Raw,
}

/// An AWS source and its place in the command line's order.
#[derive(Clone)]
pub(crate) struct Remote {
    pub(crate) index: usize,
    pub(crate) label: String,
    pub(crate) aws: AwsSecret,
}

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
    pub(crate) clients: HashMap<(String, Option<String>), OnceCell<aws_sdk_secretsmanager::Client>>,
    /// Per source: where its last attempt went and how it failed.
    pub(crate) attempts: Attempts,
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
    pub(crate) async fn client_for(
        &self,
        i: usize,
    ) -> Result<&aws_sdk_secretsmanager::Client, Error> {
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
