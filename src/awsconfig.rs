//! The AWS settings that the aws CLI honours and the Rust SDK, with our own
//! HTTP client and retry defaults, would drop (SPEC §6): `AWS_CA_BUNDLE`
//! and a profile's `ca_bundle`, `AWS_MAX_ATTEMPTS`/`AWS_RETRY_MODE` and a
//! profile's `max_attempts`/`retry_mode`, and a profile's `[services]
//! secrets_manager` and `ssm` endpoints. Proxies are read by the HTTP client itself
//! (`src/http.rs`). Precedence is the CLI's: environment, then profile.
//!
//! Every setting is checked here, before any network call, and a bad one
//! is one line naming it; a CA bundle is read and checked by the HTTP
//! client on the first `https` request, so that runs without TLS never
//! parse it.

use std::time::Duration;

use aws_config::profile::ProfileSet;
use aws_config::retry::RetryConfig;
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_runtime::env_config::property::PropertiesKey;
use aws_types::os_shim_internal::{Env, Fs};

use crate::error::{Error, quote};
use crate::http::Trust;

/// Our retry default: up to 8 tries, backoff from 100 ms capped at 4 s
/// (about 10 s of backoff at worst). With the 2 s connect timeout, 8 tries
/// of an unreachable endpoint end in about 26 s, inside the default 30 s
/// `--timeout`, so the user sees the last error rather than a bare timeout.
const MAX_ATTEMPTS: u32 = 8;
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Settings {
    pub trust: Trust,
    pub retry: RetryConfig,
    /// `[services NAME] secrets_manager = endpoint_url = ...` of the
    /// selected profile, when no endpoint variable overrides it.
    pub secrets_manager_endpoint: Option<String>,
    /// The same for `[services NAME] ssm`.
    pub ssm_endpoint: Option<String>,
}

/// Read the settings: the environment, then the selected profile of the
/// shared config files (read once here; absent files cost two failed opens).
pub async fn load() -> Result<Settings, Error> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let profile = load_profile().await;
    let from_profile = |key: &str| {
        profile.as_ref().and_then(|p| p.get(key)).map(|v| {
            (
                v.to_string(),
                format!("{key} of profile {}", profile_name(&profile)),
            )
        })
    };
    let setting = |var: &str, key: &str| {
        env(var)
            .map(|v| (v, var.to_string()))
            .or_else(|| from_profile(key))
    };

    // `aws login` profiles need aws-config's credentials-login feature,
    // which we leave out (README, "AWS behaviour"); say what works instead
    // of the SDK's message about a build feature.
    if let Some(profile) = &profile
        && profile.get("login_session").is_some()
        && env("AWS_ACCESS_KEY_ID").is_none()
    {
        let name = profile.selected_profile();
        return Err(Error::Config(format!(
            "profile {} uses `aws login` (login_session), which secretexec does not read; \
             use a profile with credential_process = aws configure export-credentials \
             --profile {name} --format process",
            quote(name)
        )));
    }

    let trust = match setting("AWS_CA_BUNDLE", "ca_bundle") {
        Some((path, origin)) => Trust::Bundle { origin, path },
        None => Trust::System,
    };

    let attempts = match setting("AWS_MAX_ATTEMPTS", "max_attempts") {
        Some((n, origin)) => match n.trim().parse::<u32>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(Error::Config(format!(
                    "{origin} is {}: write a whole number of tries, 1 or more",
                    quote(&n)
                )));
            }
        },
        None => MAX_ATTEMPTS,
    };
    let retry = match setting("AWS_RETRY_MODE", "retry_mode") {
        // The Rust SDK has no legacy mode; standard is its successor.
        None => RetryConfig::standard(),
        Some((mode, origin)) => match mode.trim().to_ascii_lowercase().as_str() {
            "standard" | "legacy" => RetryConfig::standard(),
            "adaptive" => RetryConfig::adaptive(),
            _ => {
                return Err(Error::Config(format!(
                    "{origin} is {}: write standard, adaptive or legacy",
                    quote(&mode)
                )));
            }
        },
    };
    let retry = retry
        .with_max_attempts(attempts)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(4));

    let ignored =
        env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let endpoint = |var: &str, key: &str| -> Result<Option<String>, Error> {
        let configured = [var, "AWS_ENDPOINT_URL"].iter().any(|v| env(v).is_some());
        let url = match &profile {
            Some(profile) if !configured && !ignored => service_endpoint(profile, key),
            _ => None,
        };
        if let Some(url) = &url {
            check_endpoint(
                url,
                &format!("the [services] {key} endpoint_url of the profile"),
            )?;
        }
        Ok(url)
    };
    let secrets_manager_endpoint = endpoint("AWS_ENDPOINT_URL_SECRETS_MANAGER", "secrets_manager")?;
    let ssm_endpoint = endpoint("AWS_ENDPOINT_URL_SSM", "ssm")?;
    Ok(Settings {
        trust,
        retry,
        secrets_manager_endpoint,
        ssm_endpoint,
    })
}

/// The shared config and credentials files as aws-config reads them
/// (`AWS_CONFIG_FILE`, `AWS_PROFILE`, ...); `None` when there are none.
async fn load_profile() -> Option<ProfileSet> {
    let set =
        aws_config::profile::load(&Fs::real(), &Env::real(), &EnvConfigFiles::default(), None)
            .await
            .ok()?;
    set.get_profile(set.selected_profile())?;
    Some(set)
}

fn profile_name(profile: &Option<ProfileSet>) -> String {
    profile
        .as_ref()
        .map(|p| quote(p.selected_profile()))
        .unwrap_or_default()
}

/// `services = NAME` in the profile, then `[services NAME]` with
/// `secrets_manager =` and an indented `endpoint_url = ...` under it (the
/// key the aws CLI documents; the Rust SDK looks for another spelling).
fn service_endpoint(profile: &ProfileSet, service: &str) -> Option<String> {
    let section = profile.get("services")?;
    let key = PropertiesKey::builder()
        .section_key("services")
        .section_name(section)
        .property_name(service)
        .sub_property_name("endpoint_url")
        .build()
        .ok()?;
    profile.other_sections().get(&key).cloned()
}

/// The environment's endpoints, checked before anything is loaded.
pub fn check_env_endpoints() -> Result<(), Error> {
    for name in [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        "AWS_ENDPOINT_URL_SSM",
        "AWS_ENDPOINT_URL_STS",
    ] {
        if let Some(value) = std::env::var_os(name) {
            check_endpoint(&value.to_string_lossy(), name)?;
        }
    }
    Ok(())
}

/// An endpoint needs its scheme; without one the SDK fails with a dump of
/// the whole request.
pub fn check_endpoint(value: &str, origin: &str) -> Result<(), Error> {
    let lower = value.to_ascii_lowercase();
    if value.is_empty() || lower.starts_with("http://") || lower.starts_with("https://") {
        return Ok(());
    }
    Err(Error::Config(format!(
        "{origin} is {}: an endpoint needs its scheme, e.g. https://{}",
        quote(value),
        value.escape_debug()
    )))
}
