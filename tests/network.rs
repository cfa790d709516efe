//! Production networks (SPEC §6): proxies from the environment through a
//! real forward proxy, CA bundles against moto serving TLS with a CA made
//! for the test, retry settings, and the profile's `[services]` endpoint.
//! The forward proxy refuses anything outside 127.0.0.1, so a request that
//! ignores a setting fails instead of leaving loopback.

mod common;

use common::forward::ForwardProxy;
use common::proxy::{Fault, Proxy};
use common::{Value, create, create_tls, endpoint, moto_addr, secretexec, tempdir, tls_moto};

/// `secretexec -s NAME -- env -0` against the TLS moto.
fn over_tls(name: &str) -> common::Cmd {
    let (url, _) = tls_moto();
    secretexec()
        .no_moto()
        .env("AWS_ENDPOINT_URL", url)
        .args(["-s", name, "--", "env", "-0"])
}

fn ca() -> String {
    tls_moto().1.display().to_string()
}

// ------------------------------------------------------------- proxies

#[test]
fn https_goes_through_the_proxy_by_connect() {
    create_tls("net/https-proxy", r#"{"NET_HTTPS": "via-connect"}"#);
    let port = tls_moto().0.rsplit(':').next().unwrap().to_string();
    for var in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"] {
        let proxy = ForwardProxy::start();
        let env = over_tls("net/https-proxy")
            .env("AWS_CA_BUNDLE", ca())
            .env(var, proxy.url())
            .run()
            .env();
        assert_eq!(env["NET_HTTPS"], "via-connect", "{var}");
        assert_eq!(
            proxy.log(),
            vec![format!("CONNECT 127.0.0.1:{port}")],
            "{var}"
        );
    }
}

#[test]
fn http_goes_through_the_proxy_in_absolute_form() {
    create(
        "net/http-proxy",
        Value::Text(r#"{"NET_HTTP": "via-proxy"}"#),
    );
    for var in ["HTTP_PROXY", "http_proxy"] {
        let proxy = ForwardProxy::start();
        let env = secretexec()
            .env(var, proxy.url())
            .args(["-s", "net/http-proxy", "--", "env", "-0"])
            .run()
            .env();
        assert_eq!(env["NET_HTTP"], "via-proxy");
        assert_eq!(proxy.log(), vec![format!("POST {}/", endpoint())], "{var}");
    }
}

#[test]
fn no_proxy_bypasses_the_proxy() {
    create("net/no-proxy", Value::Text(r#"{"NET_DIRECT": "direct"}"#));
    for var in ["NO_PROXY", "no_proxy"] {
        let proxy = ForwardProxy::start();
        let env = secretexec()
            .env("HTTP_PROXY", proxy.url())
            .env(var, "127.0.0.1")
            .args(["-s", "net/no-proxy", "--", "env", "-0"])
            .run()
            .env();
        assert_eq!(env["NET_DIRECT"], "direct");
        assert!(proxy.log().is_empty(), "{:?}", proxy.log());
    }
}

/// STS is an AWS call like any other: AssumeRole goes through the proxy too.
#[test]
fn sts_goes_through_the_proxy() {
    let role = "arn:aws:iam::111111111111:role/net-reader";
    let creds = common::assume(role);
    common::create_in(
        "us-east-1",
        &creds,
        "net/role-secret",
        Value::Text(r#"{"NET_ROLE": "by-role"}"#),
    );
    let proxy = ForwardProxy::start();
    let env = secretexec()
        .env("HTTP_PROXY", proxy.url())
        .args(["--role", role, "-s", "net/role-secret", "--", "env", "-0"])
        .run()
        .env();
    assert_eq!(env["NET_ROLE"], "by-role");
    // AssumeRole, then GetSecretValue.
    assert_eq!(proxy.log().len(), 2, "{:?}", proxy.log());
}

// ------------------------------------------------------------- CA bundles

#[test]
fn aws_ca_bundle_replaces_the_roots() {
    create_tls("net/ca-env", r#"{"NET_CA": "trusted"}"#);
    let env = over_tls("net/ca-env")
        .env("AWS_CA_BUNDLE", ca())
        .run()
        .env();
    assert_eq!(env["NET_CA"], "trusted");
    // SSL_CERT_FILE, read by the system trust path, still works.
    let env = over_tls("net/ca-env")
        .env("SSL_CERT_FILE", ca())
        .run()
        .env();
    assert_eq!(env["NET_CA"], "trusted");
}

/// No setting at all: the bundle file OpenSSL's probe finds
/// (/etc/ssl/certs/ca-certificates.crt here), a block in it that is not a
/// certificate skipped as rustls-native-certs skips it; an untrusted
/// server names that file; with no bundle file, the directory.
#[test]
fn the_systems_roots_are_trusted_without_any_setting() {
    create_tls("net/system", r#"{"NET_SYSTEM": "trusted"}"#);
    let junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let pem = std::fs::read_to_string(ca()).unwrap();
    let host = tempdir("system-certs");
    std::fs::write(host.join("ca-certificates.crt"), format!("{junk}{pem}")).unwrap();
    let env = over_tls("net/system").system_certs(&host).run().env();
    assert_eq!(env["NET_SYSTEM"], "trusted");

    let other = tempdir("system-certs-other");
    let other_ca = common::new_ca(&other, "other");
    std::fs::rename(other_ca, other.join("ca-certificates.crt")).unwrap();
    over_tls("net/system")
        .system_certs(&other)
        .run()
        .fails_with("the server's TLS certificate is not trusted")
        .stderr_has(
            "the roots trusted are the system's (/etc/ssl/certs/ca-certificates.crt); set \
             AWS_CA_BUNDLE",
        );

    let dir_only = tempdir("system-certs-dir");
    std::fs::write(dir_only.join("test-ca.pem"), &pem).unwrap();
    let env = over_tls("net/system").system_certs(&dir_only).run().env();
    assert_eq!(env["NET_SYSTEM"], "trusted");
    // SSL_CERT_DIR names the directories to read, as before.
    let env = over_tls("net/system")
        .env("SSL_CERT_DIR", &dir_only)
        .run()
        .env();
    assert_eq!(env["NET_SYSTEM"], "trusted");
}

/// AWS keeps connections alive: many sources share a few TLS connections
/// (at most `TLS_LANES`) instead of one handshake each.
#[test]
fn tls_connections_are_reused() {
    let n = 12;
    let mut args = Vec::new();
    for i in 0..n {
        let name = format!("net/reuse-{i}");
        create(
            &name,
            Value::Text(&format!(r#"{{"NET_REUSE_{i}": "v{i}"}}"#)),
        );
        args.extend(["-s".to_string(), name]);
    }
    let dir = std::path::Path::new(&ca()).parent().unwrap().to_path_buf();
    let front = common::keepalive::KeepAlive::start(moto_addr(), &dir);
    let env = secretexec()
        .no_moto()
        .env("AWS_ENDPOINT_URL", front.endpoint())
        .env("AWS_CA_BUNDLE", ca())
        .args(args)
        .args(["--", "env", "-0"])
        .run()
        .env();
    for i in 0..n {
        assert_eq!(env[&format!("NET_REUSE_{i}")], format!("v{i}"));
    }
    assert_eq!(front.requests(), n);
    let connections = front.connections();
    assert!(
        (1..=secretexec::http::TLS_LANES).contains(&connections),
        "{n} calls on {connections} connections"
    );
}

#[test]
fn a_profile_ca_bundle_is_honoured() {
    create_tls("net/ca-profile", r#"{"NET_CA_PROFILE": "trusted"}"#);
    let config = tempdir("network").join("config");
    std::fs::write(&config, format!("[profile ci]\nca_bundle = {}\n", ca())).unwrap();
    let env = over_tls("net/ca-profile")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", "ci")
        .run()
        .env();
    assert_eq!(env["NET_CA_PROFILE"], "trusted");
}

#[test]
fn bad_bundles_are_one_line_before_any_connection() {
    let dir = tempdir("network");
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let garbage = dir.join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    create(
        "net/plain-with-bundle",
        Value::Text(r#"{"NET_PLAIN": "1"}"#),
    );
    let cases = [
        (dir.join("missing.pem"), "which cannot be read"),
        (empty, "which holds no PEM certificate"),
        (
            garbage,
            "which holds a certificate (#1) that cannot be parsed",
        ),
    ];
    for (path, want) in cases {
        let proxy = ForwardProxy::start();
        over_tls("net/any")
            .env("AWS_CA_BUNDLE", &path)
            .env("HTTPS_PROXY", proxy.url())
            .run()
            .fails_with(&format!("AWS_CA_BUNDLE names '{}', {want}", path.display()));
        assert!(proxy.log().is_empty());
        // Read on the first https request only: a plain endpoint never
        // parses it.
        secretexec()
            .env("AWS_CA_BUNDLE", &path)
            .args(["-s", "net/plain-with-bundle", "--", "true"])
            .run()
            .ok();
    }
}

/// An untrusted certificate fails on the first try (one connection, not
/// eight), naming where the trusted roots came from.
#[test]
fn an_untrusted_certificate_fails_at_once() {
    // A valid CA that did not sign moto's certificate.
    let other = common::new_ca(&tempdir("network"), "other");
    for (var, want) in [
        (
            "AWS_CA_BUNDLE",
            format!(
                "the roots trusted are those of AWS_CA_BUNDLE={}",
                other.display()
            ),
        ),
        (
            "SSL_CERT_FILE",
            format!(
                "the roots trusted are those of SSL_CERT_FILE={}; set AWS_CA_BUNDLE",
                other.display()
            ),
        ),
    ] {
        let proxy = ForwardProxy::start();
        over_tls("net/untrusted")
            .env(var, &other)
            .env("HTTPS_PROXY", proxy.url())
            .run()
            .fails_with("the server's TLS certificate is not trusted")
            .stderr_has(&want);
        assert_eq!(proxy.log().len(), 1, "{var}: {:?}", proxy.log());
    }
}

// ------------------------------------------------------------- retries

/// Always throttled: the number of tries is the user's setting when there
/// is one (environment, then profile), else ours (8).
#[test]
fn retry_settings_are_honoured() {
    let dir = tempdir("network");
    let config = dir.join("config");
    std::fs::write(
        &config,
        "[default]\nmax_attempts = 3\nretry_mode = adaptive\n",
    )
    .unwrap();
    let cases: Vec<(Vec<(&str, String)>, usize)> = vec![
        (vec![("AWS_MAX_ATTEMPTS", "2".into())], 2),
        (
            vec![
                ("AWS_MAX_ATTEMPTS", "1".into()),
                ("AWS_RETRY_MODE", "adaptive".into()),
            ],
            1,
        ),
        (
            vec![
                ("AWS_MAX_ATTEMPTS", "2".into()),
                ("AWS_RETRY_MODE", "legacy".into()),
            ],
            2,
        ),
        (vec![("AWS_CONFIG_FILE", config.display().to_string())], 3),
        (
            vec![
                ("AWS_CONFIG_FILE", config.display().to_string()),
                ("AWS_MAX_ATTEMPTS", "1".into()),
            ],
            1,
        ),
    ];
    for (env, tries) in cases {
        let p = Proxy::start(
            moto_addr(),
            vec![],
            Fault::Error(400, "ThrottlingException"),
        );
        let mut cmd = secretexec().no_moto().env("AWS_ENDPOINT_URL", p.endpoint());
        for (k, v) in &env {
            cmd = cmd.env(k, v);
        }
        cmd.args(["-s", "net/throttled", "--", "true"])
            .run()
            .fails_with("ThrottlingException");
        assert_eq!(p.requests(), tries, "{env:?}");
    }
}

#[test]
fn bad_retry_settings_are_one_line() {
    for (var, value, want) in [
        (
            "AWS_MAX_ATTEMPTS",
            "0",
            "AWS_MAX_ATTEMPTS is '0': write a whole number of tries",
        ),
        ("AWS_MAX_ATTEMPTS", "many", "AWS_MAX_ATTEMPTS is 'many'"),
        (
            "AWS_RETRY_MODE",
            "fast",
            "AWS_RETRY_MODE is 'fast': write standard, adaptive or legacy",
        ),
    ] {
        secretexec()
            .env(var, value)
            .args(["-s", "net/any", "--", "true"])
            .run()
            .fails_with(want);
    }
}

// ------------------------------------------------------------- endpoints

/// `[services NAME] secrets_manager = endpoint_url = ...` (and `ssm =`),
/// the spelling the aws CLI documents; the environment's endpoint still
/// wins over it.
#[test]
fn the_profile_services_endpoint_is_honoured() {
    create(
        "net/services",
        Value::Text(r#"{"NET_SERVICES": "from-profile-endpoint"}"#),
    );
    common::put_parameter("/net/services-param", "ssm-from-profile-endpoint", "String");
    let config = tempdir("network").join("config");
    std::fs::write(
        &config,
        format!(
            "[default]\nservices = local\n\n[services local]\nsecrets_manager =\n  endpoint_url = {}\nssm =\n  endpoint_url = {}\n",
            endpoint(),
            endpoint()
        ),
    )
    .unwrap();
    // A proxy that refuses anything off loopback: were the profile
    // ignored, the call to AWS would be refused here, never sent.
    let proxy = ForwardProxy::start();
    let env = secretexec()
        .no_moto()
        .env("AWS_CONFIG_FILE", &config)
        .env("HTTPS_PROXY", proxy.url())
        .env("HTTP_PROXY", proxy.url())
        .args(["-s", "net/services", "-s", "ssm:/net/services-param"])
        .args(["--", "env", "-0"])
        .run()
        .env();
    assert_eq!(env["NET_SERVICES"], "from-profile-endpoint");
    assert_eq!(env["services_param"], "ssm-from-profile-endpoint");
    // AWS_ENDPOINT_URL_SSM is the SSM endpoint alone.
    let env = secretexec()
        .no_moto()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ENDPOINT_URL_SSM", endpoint())
        .args(["-s", "ssm:/net/services-param", "--", "env", "-0"])
        .run()
        .env();
    assert_eq!(env["services_param"], "ssm-from-profile-endpoint");
    // AWS_ENDPOINT_URL beats the profile.
    let dead = "http://127.0.0.1:9";
    secretexec()
        .no_moto()
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_ENDPOINT_URL", dead)
        .env("AWS_MAX_ATTEMPTS", "1")
        .args(["-s", "net/services", "--", "true"])
        .run()
        .fails_with(&format!("(us-east-1, {dead})"));
}

// ------------------------------------------------------------- credentials

/// A profile made by `aws login` (`login_session`) is not read (the SDK
/// feature costs 212 KiB); the message says what works instead, not that
/// a build feature is missing.
#[test]
fn an_aws_login_profile_is_understood() {
    let dir = tempdir("network");
    let config = dir.join("config");
    std::fs::write(
        &config,
        "[default]\nlogin_session = arn:aws:iam::123456789012:user/dev\n",
    )
    .unwrap();
    secretexec()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", &config)
        .env("HOME", &dir)
        .args(["-s", "net/login", "--", "true"])
        .run()
        .fails_with(
            "profile 'default' uses `aws login` (login_session), which secretexec does not \
             read; use a profile with credential_process = aws configure export-credentials \
             --profile default --format process",
        );
}
