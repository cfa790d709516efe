//! `--from-env` (secrets-init's mode): inherited variables holding a secret
//! or parameter ARN are replaced in place by the value they name; anything
//! else is left alone; a reference that cannot be resolved fails closed.

mod common;

use common::{Value, create, put_parameter, secretexec, tempdir};

#[test]
fn references_are_replaced_in_place() {
    let whole = create("fromenv/whole", Value::Text("PLANTED-whole-string"));
    let json = create(
        "fromenv/json",
        Value::Text(r#"{"password": "PLANTED-key", "user": "admin"}"#),
    );
    put_parameter("/fromenv/param", "PLANTED-param", "SecureString");
    let param = "arn:aws:ssm:us-east-1:123456789012:parameter/fromenv/param";
    let other = "arn:aws:s3:::my-bucket";
    let run = |cmd: common::Cmd| {
        cmd.env("DB_WHOLE", &whole)
            .env("DB_PASSWORD", format!("{json}:password::"))
            .env("DB_JSON", &json)
            .env("API_TOKEN", param)
            .env("BUCKET", other)
            .env("PLAIN", "not a reference")
            .args(["--", "env", "-0"])
            .run()
            .env()
    };
    for env in [
        run(secretexec().args(["--from-env"])),
        run(secretexec().env("SECRETEXEC_FROM_ENV", "1")),
    ] {
        assert_eq!(env["DB_WHOLE"], "PLANTED-whole-string");
        assert_eq!(env["DB_PASSWORD"], "PLANTED-key");
        // Without a json-key, the whole string, as secrets-init gives it.
        assert_eq!(
            env["DB_JSON"],
            r#"{"password": "PLANTED-key", "user": "admin"}"#
        );
        assert_eq!(env["API_TOKEN"], "PLANTED-param");
        assert_eq!(env["BUCKET"], other);
        assert_eq!(env["PLAIN"], "not a reference");
        assert!(!env.contains_key("password"), "no JSON expansion");
    }
    // Without the flag, references stay as they are.
    let env = secretexec()
        .env("DB_WHOLE", &whole)
        .args(["--", "env", "-0"])
        .run()
        .env();
    assert_eq!(env["DB_WHOLE"], whole);
    // --dry-run names the variable and its reference, never the value.
    let out = secretexec()
        .env("DB_WHOLE", &whole)
        .args(["--from-env", "--dry-run"])
        .run();
    out.ok().no_leak(&["PLANTED-whole-string"]);
    assert_eq!(out.stdout(), "DB_WHOLE\t$DB_WHOLE\n");
    // --from-env with sources: both apply, in one merge.
    create(
        "fromenv/source",
        Value::Text(r#"{"FROM_SOURCE": "PLANTED-src"}"#),
    );
    let env = secretexec()
        .env("DB_WHOLE", &whole)
        .args(["--from-env", "-s", "fromenv/source", "--", "env", "-0"])
        .run()
        .env();
    assert_eq!(env["DB_WHOLE"], "PLANTED-whole-string");
    assert_eq!(env["FROM_SOURCE"], "PLANTED-src");
}

#[test]
fn an_unresolvable_reference_fails_closed() {
    let marker = tempdir("fromenv-fail").join("ran");
    let touch = format!("touch {}", marker.display());
    create("fromenv/there", Value::Text(r#"{"k": "PLANTED-there"}"#));
    let cases = [
        (
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:fromenv/missing",
            "source '$REF': ResourceNotFoundException",
        ),
        (
            "arn:aws:ssm:us-east-1:123456789012:parameter/fromenv/missing",
            "source '$REF': ParameterNotFound",
        ),
        (
            "arn:aws:secretsmanager:us-east-1::secret:no-account",
            "bad source '$REF': the ARN has no account",
        ),
        (
            "arn:aws:ssm:us-east-1:123456789012:parameter/a/",
            "an ARN names one parameter",
        ),
    ];
    for (reference, want) in cases {
        secretexec()
            .env("REF", reference)
            .env("GOOD", "x")
            .args([
                "--from-env",
                "-s",
                "fromenv/there",
                "--",
                "sh",
                "-c",
                &touch,
            ])
            .run()
            .fails_with(want)
            .no_leak(&["PLANTED-there"]);
    }
    // A reference in a variable that makes programs load code is refused.
    secretexec()
        .env(
            "NODE_OPTIONS",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:fromenv/there",
        )
        .args(["--from-env", "--", "sh", "-c", &touch])
        .run()
        .fails_with("--allow-var NODE_OPTIONS");
    secretexec()
        .env("SECRETEXEC_FROM_ENV", "yes")
        .args(["--", "true"])
        .run()
        .fails_with("SECRETEXEC_FROM_ENV is 'yes': write 1 or 0");
    assert!(!marker.exists(), "the command ran");
}
