//! What secretexec says when something is wrong: one line, with the
//! control characters of outside text escaped, the region and endpoint a
//! failed call went to, and fail-closed settings (SPEC §1, §4).

mod common;

use common::proxy::Fault;
use common::{Value, create, endpoint, proxy, secretexec, tempdir};

/// An AWS error message holding a newline and a terminal escape sequence
/// is shown on one line with both escaped.
#[test]
fn aws_error_messages_are_escaped() {
    let body = r#"{"__type":"ResourceNotFoundException","message":"first line\nsecond \u001b[31mred\u001b[0m"}"#;
    let p = proxy(
        vec![Fault::Raw(400, "application/x-amz-json-1.1", body.into())],
        Fault::Forward,
    );
    let (out, ran) = common::run_through(&p, "msg/escaped", &[]);
    assert!(!ran);
    out.fails_with("ResourceNotFoundException: first line\\nsecond \\u{1b}[31mred");
    assert!(!out.stderr.contains('\u{1b}'), "{:?}", out.stderr);
}

/// `AWS_ENDPOINT_URL=127.0.0.1:4566` (no scheme) is one line saying so,
/// not the SDK's dump of the request.
#[test]
fn an_endpoint_without_scheme_is_one_line() {
    for var in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER"] {
        let out = secretexec()
            .no_moto()
            .env(var, "127.0.0.1:4566")
            .args(["-s", "msg/any", "--", "true"])
            .run();
        out.fails_with(&format!(
            "{var} is '127.0.0.1:4566': an endpoint needs its scheme"
        ));
        assert!(!out.stderr.contains("Request {"), "{}", out.stderr);
    }
}

/// Not found says where it looked: the region, and the endpoint when one
/// is configured.
#[test]
fn not_found_names_region_and_endpoint() {
    secretexec()
        .args(["-s", "msg/does-not-exist", "--", "true"])
        .run()
        .fails_with(&format!(
            "ResourceNotFoundException: Secrets Manager can't find the specified secret. \
             (us-east-1, {})",
            endpoint()
        ));
    secretexec()
        .args([
            "--region",
            "eu-west-1",
            "-s",
            "msg/does-not-exist",
            "--",
            "true",
        ])
        .run()
        .fails_with("(eu-west-1, http://127.0.0.1:");
}

/// A connection that fails names the endpoint; when --timeout ends the
/// retries, the message gives the last failure, not only "raise it".
#[test]
fn connection_failures_name_the_endpoint() {
    // A port nothing listens on, held so that no other test takes it.
    let (_held, port) = common::refusing_port();
    let url = format!("http://127.0.0.1:{port}");
    // Enough attempts that their backoff always outlasts the 2 s timeout:
    // with the default 3, the jittered backoff ran out first now and then
    // (twice in nine runs), and the failure was not the timeout checked here.
    let out = secretexec()
        .no_moto()
        .env("AWS_ENDPOINT_URL", &url)
        .env("AWS_MAX_ATTEMPTS", "20")
        .args(["--timeout", "2s", "-s", "msg/refused", "--", "true"])
        .run();
    out.fails_with(
        "timed out after 2s waiting for 'msg/refused'; the last attempt failed: connection failed",
    )
    .stderr_has("Connection refused")
    .stderr_has(&format!("({url})"));
    let out = secretexec()
        .no_moto()
        .env("AWS_ENDPOINT_URL", &url)
        .env("AWS_MAX_ATTEMPTS", "2")
        .args(["-s", "msg/refused", "--", "true"])
        .run();
    out.fails_with("source 'msg/refused': connection failed")
        .stderr_has(&format!("(us-east-1, {url})"));
}

/// A misspelt `SECRETEXEC_*` variable fails closed, naming the right one.
#[test]
fn unknown_settings_fail_closed() {
    let flag = tempdir("messages").join("ran");
    secretexec()
        .no_moto()
        .env("SECRETEXEC_SOURCE", "msg/typo")
        .args(["--", "touch"])
        .args([&flag])
        .run()
        .fails_with("unknown setting SECRETEXEC_SOURCE in the environment; did you mean SECRETEXEC_SOURCES?");
    assert!(!flag.exists());
}

/// `SECRETEXEC_SOURCES` holding one JSON object is that one spec.
#[test]
fn one_json_object_in_secretexec_sources() {
    create("msg/one-object", Value::Text(r#"{"A": "1", "B": "2"}"#));
    let env = secretexec()
        .env(
            "SECRETEXEC_SOURCES",
            r#"{"id": "msg/one-object", "options": {"prefix": "OBJ_"}}"#,
        )
        .args(["--", "env", "-0"])
        .run()
        .env();
    assert_eq!(env["OBJ_A"], "1");
    assert_eq!(env["OBJ_B"], "2");
}
