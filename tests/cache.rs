//! `--cache`: reading through the real AWS Secrets Manager Agent (crate
//! `aws_secretsmanager_agent`, pinned and installed by
//! `scripts/test-deps.sh`), run in front of moto_server with a counting
//! proxy between the two. Values match direct reads; a warm cache makes no
//! call to AWS; a rotation shows after the TTL; a stopped agent, a bad
//! token, a refused role or another region go direct; a missing secret
//! fails as it does directly; neither a value nor the token is ever shown.

mod common;

use std::time::Duration;

use common::agent::{Agent, TOKEN};
use common::proxy::{Fault, Proxy};
use common::{Value, create, create_in, moto_addr, put_version, secretexec, tempdir};

/// AWS calls the agent makes, counted: (proxy between agent and moto).
fn counted() -> Proxy {
    Proxy::start_for(moto_addr(), "GetSecretValue", vec![], Fault::Forward)
}

/// `cmd -v --cache URL -s SPEC -- env -0`, run.
fn via(cmd: common::Cmd, url: &str, spec: &str) -> common::Out {
    cmd.args(["-v", "--cache", url, "-s", spec, "--", "env", "-0"])
        .run()
}

fn through(agent: &Agent, args: &[&str]) -> common::Out {
    secretexec()
        .env("AWS_TOKEN", TOKEN)
        .args(["-v", "--cache", &agent.url])
        .args(args)
        .args(["--", "env", "-0"])
        .run()
}

#[test]
fn values_come_through_the_cache_and_a_warm_cache_calls_no_aws() {
    create(
        "cache/db",
        Value::Text(r#"{"DB_USER": "admin", "DB_PASSWORD": "PLANTED-db"}"#),
    );
    create("cache/bin", Value::Bytes(b"\x00\xffPLANTED-bin"));
    let aws = counted();
    let agent = Agent::start("cache-warm", &aws.endpoint(), 300);
    let specs = [
        "-s",
        "cache/db",
        "-s",
        r#"{"id": "cache/bin", "options": {"env_var_name": "BIN"}}"#,
    ];
    let direct = secretexec()
        .args(specs)
        .args(["--", "env", "-0"])
        .run()
        .env();
    let out = through(&agent, &specs);
    let cached = out.env();
    for name in ["DB_USER", "DB_PASSWORD", "BIN"] {
        assert_eq!(cached[name], direct[name], "{name}");
    }
    assert!(
        !out.stderr.contains("fetching it directly"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(TOKEN) && !out.stderr.contains("PLANTED"));
    assert_eq!(aws.requests(), 2, "the first run fills the cache");
    // 20 more processes: all from the cache, not one call to AWS.
    let runs: Vec<_> = (0..20)
        .map(|_| {
            let url = agent.url.clone();
            std::thread::spawn(move || {
                secretexec()
                    .env("AWS_TOKEN", TOKEN)
                    .args(["--cache", &url, "-s", "cache/db", "--", "env", "-0"])
                    .run()
                    .env()["DB_PASSWORD"]
                    .clone()
            })
        })
        .collect();
    for run in runs {
        assert_eq!(run.join().unwrap(), "PLANTED-db");
    }
    assert_eq!(aws.requests(), 2, "a warm cache calls no AWS");
}

#[test]
fn a_rotation_shows_after_the_ttl() {
    create("cache/rotating", Value::Text(r#"{"TOK": "PLANTED-old"}"#));
    let aws = counted();
    let agent = Agent::start("cache-ttl", &aws.endpoint(), 2);
    assert_eq!(
        through(&agent, &["-s", "cache/rotating"]).env()["TOK"],
        "PLANTED-old"
    );
    put_version(
        "cache/rotating",
        r#"{"TOK": "PLANTED-new"}"#,
        &["AWSCURRENT"],
    );
    // Within the TTL the cache answers the old value, as the agent documents.
    assert_eq!(
        through(&agent, &["-s", "cache/rotating"]).env()["TOK"],
        "PLANTED-old"
    );
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        through(&agent, &["-s", "cache/rotating"]).env()["TOK"],
        "PLANTED-new"
    );
}

#[test]
fn without_a_working_cache_sources_go_direct() {
    create("cache/fallback", Value::Text(r#"{"FB": "PLANTED-fb"}"#));
    let aws = counted();
    let agent = Agent::start("cache-fallback", &aws.endpoint(), 300);
    // A wrong token: the agent refuses it, the source goes direct.
    let out = via(
        secretexec().env("AWS_TOKEN", "PLANTED-wrong-token"),
        &agent.url,
        "cache/fallback",
    );
    assert_eq!(out.env()["FB"], "PLANTED-fb");
    out.stderr_has(
        "'cache/fallback': the cache refused the token (HTTP 403); fetching it directly",
    );
    assert!(!out.stderr.contains("PLANTED"), "{}", out.stderr);
    // The token from a file (as the agent's installer writes it).
    let file = tempdir("cache-token").join("awssmatoken");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    for cmd in [
        secretexec().env("AWS_TOKEN", format!("file://{}", file.display())),
        secretexec().args(["--cache-token-file", file.to_str().unwrap()]),
    ] {
        let out = via(cmd, &agent.url, "cache/fallback");
        assert_eq!(out.env()["FB"], "PLANTED-fb");
        assert!(!out.stderr.contains("directly"), "{}", out.stderr);
    }
    // A source in another region goes direct (a cache serves one region).
    create_in(
        "eu-west-1",
        &Default::default(),
        "cache/far",
        Value::Text(r#"{"FAR": "PLANTED-far"}"#),
    );
    let far = r#"{"id": "cache/far", "options": {"region": "eu-west-1"}}"#;
    let out = through(&agent, &["-s", far]);
    assert_eq!(out.env()["FAR"], "PLANTED-far");
    assert!(!out.stderr.contains("through the cache"), "{}", out.stderr);
    // The agent stopped: the same values, directly.
    let url = agent.url.clone();
    drop(agent);
    let out = via(secretexec().env("AWS_TOKEN", TOKEN), &url, "cache/fallback");
    assert_eq!(out.env()["FB"], "PLANTED-fb");
    out.stderr_has("'cache/fallback': the cache cannot be reached");
    assert!(!out.stderr.contains(TOKEN));
}

#[test]
fn what_aws_refuses_fails_as_it_does_directly() {
    let aws = counted();
    let agent = Agent::start("cache-missing", &aws.endpoint(), 300);
    let marker = tempdir("cache-missing-run").join("ran");
    secretexec()
        .env("AWS_TOKEN", TOKEN)
        .args(["--cache", &agent.url, "-s", "cache/nope"])
        .args(["--", "touch", marker.to_str().unwrap()])
        .run()
        .fails_with("source 'cache/nope': ResourceNotFoundException")
        .stderr_has("through the cache at")
        .no_leak(&[TOKEN]);
    assert!(!marker.exists());
}

#[test]
fn a_role_is_passed_to_the_agent() {
    let role = "arn:aws:iam::111111111111:role/cache-reader";
    create_in(
        "us-east-1",
        &common::assume(role),
        "cache/role-only",
        Value::Text(r#"{"ROLE_TOK": "PLANTED-role"}"#),
    );
    let aws = counted();
    let agent = Agent::start("cache-role", &aws.endpoint(), 300);
    let out = through(&agent, &["--role", role, "-s", "cache/role-only"]);
    assert_eq!(out.env()["ROLE_TOK"], "PLANTED-role");
    // The agent (2.x) assumed the role itself: no fallback.
    assert!(
        !out.stderr.contains("fetching it directly"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("PLANTED"), "{}", out.stderr);
}

/// SSM parameters: the Secrets Manager Agent does not serve them (404), so
/// they go direct; a cache that does (the Lambda extension's
/// `/systemsmanager/parameters/get`, played here by a stand-in that checks
/// the documented request) answers them.
#[test]
fn parameters_go_through_a_cache_that_serves_them() {
    common::put_parameter("/cache/param", "PLANTED-param", "SecureString");
    let aws = counted();
    let agent = Agent::start("cache-ssm", &aws.endpoint(), 300);
    let out = through(&agent, &["-s", "ssm:/cache/param"]);
    assert_eq!(out.env()["param"], "PLANTED-param");
    out.stderr_has("'ssm:/cache/param': the cache answered HTTP 404; fetching it directly");

    // The Lambda extension's protocol, answered by a stand-in.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        use std::io::Write;
        for mut conn in listener.incoming().flatten() {
            let request = common::proxy::read_request(&mut conn).unwrap_or_default();
            let head = String::from_utf8_lossy(&request).to_string();
            let line = head.lines().next().unwrap_or_default().to_string();
            let token_ok = head
                .lines()
                .any(|l| l == format!("X-Aws-Parameters-Secrets-Token: {TOKEN}"));
            log.lock().unwrap().push(line.clone());
            let (status, body) = if !token_ok {
                (403, "Bad Token".to_string())
            } else if line.contains("name=%2Fext%2Fparam&withDecryption=true&version=3 ") {
                (200, r#"{"Parameter":{"Name":"/ext/param","Type":"SecureString","Value":"PLANTED-ext","Version":3}}"#.to_string())
            } else {
                (
                    400,
                    r#"{"__type":"ParameterNotFound","message":"not here"}"#.to_string(),
                )
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let url = format!("http://127.0.0.1:{port}");
    let out = secretexec()
        .no_moto()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_SESSION_TOKEN", TOKEN)
        .args([
            "-v",
            "--cache",
            &url,
            "-s",
            "ssm:/ext/param:3",
            "--",
            "env",
            "-0",
        ])
        .run();
    assert_eq!(out.env()["param"], "PLANTED-ext");
    assert!(
        !out.stderr.contains("directly") && !out.stderr.contains(TOKEN),
        "{}",
        out.stderr
    );
    assert_eq!(
        seen.lock().unwrap()[0],
        "GET /systemsmanager/parameters/get?name=%2Fext%2Fparam&withDecryption=true&version=3 HTTP/1.1"
    );
    // AWS's refusal, through the cache, fails as it would directly.
    secretexec()
        .no_moto()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_SESSION_TOKEN", TOKEN)
        .args(["--cache", &url, "-s", "ssm:/ext/missing", "--", "true"])
        .run()
        .fails_with("source 'ssm:/ext/missing': ParameterNotFound: not here (through the cache at");
}
