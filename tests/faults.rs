//! Error shapes and transient faults, through a fault proxy in front of a
//! real moto_server: every failure exits 125 with one line that names the
//! source and the AWS error code, the command never starts, and no planted
//! value shows.

mod common;

use common::proxy::Fault;
use common::{Value, create, proxy, run_through, secretexec};

const PLANTED: &str = "PLANTED-fault-value";

/// A secret holding the planted value, for a test-specific name.
fn seed(name: &str) {
    create(
        name,
        Value::Text(&format!(r#"{{"FAULT_VAR": "{PLANTED}"}}"#)),
    );
}

#[test]
fn permanent_aws_errors_fail_at_once_with_their_code() {
    for (kind, status) in [
        ("AccessDeniedException", 400),
        ("DecryptionFailure", 400),
        ("ResourceNotFoundException", 400),
        ("InvalidRequestException", 400),
    ] {
        let name = format!("faults/permanent-{kind}");
        seed(&name);
        let p = proxy(vec![Fault::Error(status, kind)], Fault::Forward);
        let (out, ran) = run_through(&p, &name, &[]);
        out.fails_with(&format!("source '{name}': {kind}: injected {kind}"))
            .no_leak(&[PLANTED]);
        assert!(!ran, "{kind}: the command ran");
        assert_eq!(p.requests(), 1, "{kind} must not be retried");
    }
}

#[test]
fn throttling_is_retried_until_it_clears() {
    seed("faults/throttled-then-ok");
    let p = proxy(
        vec![
            Fault::Error(400, "ThrottlingException"),
            Fault::Error(400, "ThrottlingException"),
        ],
        Fault::Forward,
    );
    let out = secretexec()
        .no_moto()
        .env("AWS_ENDPOINT_URL", p.endpoint())
        .args(["-s", "faults/throttled-then-ok", "--", "env", "-0"])
        .run();
    assert_eq!(out.env()["FAULT_VAR"], PLANTED);
    assert_eq!(p.requests(), 3);
    // Said once, without -v, so a slow start is explained.
    assert_eq!(
        out.stderr,
        "secretexec: AWS is throttling these calls (ThrottlingException); retrying with \
         backoff (for a fleet starting at once, see --batch and --cache)\n"
    );
}

#[test]
fn throttling_that_never_clears_fails_with_its_code() {
    seed("faults/always-throttled");
    let p = proxy(vec![], Fault::Error(400, "ThrottlingException"));
    let (out, ran) = run_through(&p, "faults/always-throttled", &[]);
    out.code(125).no_leak(&[PLANTED]);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert!(lines[0].starts_with("secretexec: AWS is throttling these calls"));
    assert!(lines[1].starts_with(
        "secretexec: source 'faults/always-throttled': ThrottlingException: injected"
    ));
    assert!(!ran);
    assert_eq!(p.requests(), 8, "the retry budget is 8 tries");
}

#[test]
fn a_denial_without_an_error_code_says_so() {
    // moto's IAM enforcement answers 403 with an XML body, which the JSON
    // protocol cannot read as an error code.
    seed("faults/denied-xml");
    let body =
        "<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>".to_string();
    let p = proxy(vec![Fault::Raw(403, "text/xml", body)], Fault::Forward);
    let (out, ran) = run_through(&p, "faults/denied-xml", &[]);
    out.fails_with("source 'faults/denied-xml': request refused (HTTP 403)");
    assert!(!ran);
}

#[test]
fn an_unreadable_answer_never_shows_its_body() {
    seed("faults/unreadable");
    // A 200 whose body is cut inside the secret value: the SDK keeps the
    // raw body in its error, which must not be printed.
    let body =
        format!(r#"{{"Name":"faults/unreadable","SecretString":"{{\"FAULT_VAR\": \"{PLANTED}"#);
    let p = proxy(
        vec![Fault::Raw(200, "application/x-amz-json-1.1", body)],
        Fault::Raw(
            200,
            "application/x-amz-json-1.1",
            format!("not json {PLANTED}"),
        ),
    );
    let (out, ran) = run_through(&p, "faults/unreadable", &[]);
    out.fails_with("source 'faults/unreadable': unreadable response from AWS (HTTP 200)")
        .no_leak(&[PLANTED]);
    assert!(!ran);
}
