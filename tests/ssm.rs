//! SSM Parameter Store sources against moto_server: every form and option,
//! paths and their pages, selectors, ARNs in another region, roles,
//! GetParameters batching counted through the test proxy, and each error
//! path (exit 125, nothing runs, no value in any output).

mod common;

use std::collections::BTreeMap;

use common::proxy::{Fault, Proxy};
use common::{
    Creds, Value, assume, create, env_of, label_parameter, moto_addr, put_parameter,
    put_parameter_in, secretexec, tempdir,
};

/// The variables of `env` whose names are in `names`.
fn only(env: &BTreeMap<String, String>, names: &[&str]) -> Vec<(String, String)> {
    names
        .iter()
        .map(|n| (n.to_string(), env.get(*n).cloned().unwrap_or_default()))
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn one_parameter_is_one_variable_named_after_its_last_segment() {
    put_parameter(
        "/ps1/app/db_password",
        "PLANTED-secure 'q' $HOME",
        "SecureString",
    );
    put_parameter("/ps1/app/db-host", "PLANTED-host", "String");
    put_parameter("/ps1/app/hosts", "a,b,c", "StringList");
    put_parameter("ps1-plain.name", "PLANTED-plain", "String");
    let env = env_of(&[
        "-s",
        "ssm:/ps1/app/db_password",
        "-s",
        "ssm:/ps1/app/db-host",
        "-s",
        "ssm:/ps1/app/hosts",
        "-s",
        "ssm:ps1-plain.name",
    ]);
    assert_eq!(
        only(&env, &["db_password", "db_host", "hosts", "ps1_plain_name"]),
        pairs(&[
            // SecureString decrypted, StringList as stored.
            ("db_password", "PLANTED-secure 'q' $HOME"),
            ("db_host", "PLANTED-host"),
            ("hosts", "a,b,c"),
            ("ps1_plain_name", "PLANTED-plain"),
        ])
    );
}

#[test]
fn versions_and_labels_select_what_ssm_selects() {
    let name = "/ps2/token";
    let v1 = put_parameter(name, "PLANTED-v1", "SecureString");
    put_parameter(name, "PLANTED-v2", "SecureString");
    label_parameter(name, v1, "previous");
    for (spec, want) in [
        ("ssm:/ps2/token", "PLANTED-v2"),
        ("ssm:/ps2/token:1", "PLANTED-v1"),
        ("ssm:/ps2/token:2", "PLANTED-v2"),
        ("ssm:/ps2/token:previous", "PLANTED-v1"),
    ] {
        assert_eq!(env_of(&["-s", spec])["token"], want, "{spec}");
    }
    secretexec()
        .args(["-s", "ssm:/ps2/token:9", "--", "true"])
        .run()
        .fails_with("source 'ssm:/ps2/token:9': ParameterVersionNotFound")
        .stderr_has("(us-east-1")
        .no_leak(&["PLANTED-v1", "PLANTED-v2"]);
    secretexec()
        .args(["-s", "ssm:/ps2/token:nolabel", "--", "true"])
        .run()
        .fails_with("ParameterNotFound");
}

#[test]
fn a_path_gives_the_parameters_under_it_every_page() {
    // More than 10: GetParametersByPath answers 10 to a page.
    for i in 0..13 {
        put_parameter(
            &format!("/ps3/svc/key-{i:02}"),
            &format!("PLANTED-{i}"),
            "SecureString",
        );
    }
    put_parameter("/ps3/svc/nested/deep.one", "PLANTED-deep", "String");
    put_parameter("/ps3/other", "PLANTED-other", "String");
    let out = secretexec()
        .args(["-v", "-s", "ssm:/ps3/svc/", "--", "env", "-0"])
        .run();
    let env = out.env();
    for i in 0..13 {
        assert_eq!(env[&format!("key_{i:02}")], format!("PLANTED-{i}"));
    }
    // Directly under the path only, and nothing outside it.
    assert!(!env.contains_key("nested_deep_one") && !env.contains_key("other"));
    out.stderr_has("in 2 page(s)");
    assert!(!out.stderr.contains("PLANTED"), "{}", out.stderr);

    // recursive: nested ones too, named by their relative path; chamber's
    // upper case and a prefix.
    let spec = r#"{"type": "ssm", "id": "/ps3/svc/", "options": {"recursive": true, "uppercase": true, "prefix": "SVC_"}}"#;
    let env = env_of(&["-s", spec]);
    assert_eq!(env["SVC_NESTED_DEEP_ONE"], "PLANTED-deep");
    assert_eq!(env["SVC_KEY_12"], "PLANTED-12");
    assert!(!env.contains_key("key_12"));
}

#[test]
fn an_empty_or_missing_path_fails_closed() {
    let marker = tempdir("ssm-empty").join("ran");
    let touch = format!("touch {}", marker.display());
    put_parameter("/ps4/only/nested/x", "PLANTED-x", "String");
    secretexec()
        .args(["-s", "ssm:/ps4/only/", "--", "sh", "-c", &touch])
        .run()
        .fails_with(
            "no parameters under '/ps4/only/' (nested ones need \"recursive\": true) (us-east-1",
        )
        .no_leak(&["PLANTED-x"]);
    secretexec()
        .args(["-s", "ssm:/ps4/nothing/", "--", "sh", "-c", &touch])
        .run()
        .fails_with("no parameters under");
    assert!(!marker.exists(), "the command ran");
}

#[test]
fn an_arn_takes_its_region_and_a_role_its_account() {
    put_parameter_in(
        "eu-west-1",
        &Creds::default(),
        "/ps5/far",
        "PLANTED-eu",
        "String",
    );
    let arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/ps5/far";
    // The default region is us-east-1, where the parameter does not exist.
    assert_eq!(env_of(&["-s", arn])["far"], "PLANTED-eu");
    assert_eq!(env_of(&["-s", &format!("ssm:{arn}")])["far"], "PLANTED-eu");
    secretexec()
        .args(["-s", "ssm:/ps5/far", "--", "true"])
        .run()
        .fails_with("ParameterNotFound")
        .stderr_has("(us-east-1");
    // A region option that contradicts the ARN is refused before any call.
    let contradiction =
        format!(r#"{{"type": "ssm", "id": "{arn}", "options": {{"region": "us-west-2"}}}}"#);
    secretexec()
        .no_moto()
        .args(["-s", &contradiction, "--", "true"])
        .run()
        .fails_with("the ARN's region is 'eu-west-1'");
    // The region option moves a name to another region.
    let moved = r#"{"type": "ssm", "id": "/ps5/far", "options": {"region": "eu-west-1"}}"#;
    assert_eq!(env_of(&["-s", moved])["far"], "PLANTED-eu");

    // moto files what a role's credentials create under the role's account.
    let role = "arn:aws:iam::111111111111:role/ssm-reader";
    put_parameter_in(
        "us-east-1",
        &assume(role),
        "/ps5/role-only",
        "PLANTED-role",
        "SecureString",
    );
    secretexec()
        .args(["-s", "ssm:/ps5/role-only", "--", "true"])
        .run()
        .fails_with("ParameterNotFound");
    let dict = format!(r#"{{"type": "ssm", "id": "/ps5/role-only", "role": "{role}"}}"#);
    assert_eq!(env_of(&["-s", &dict])["role_only"], "PLANTED-role");
    assert_eq!(
        env_of(&["--role", role, "-s", "ssm:/ps5/role-only"])["role_only"],
        "PLANTED-role"
    );
}

#[test]
fn the_dict_form_names_and_expands() {
    put_parameter(
        "/ps6/db",
        r#"{"user": "admin", "password": "PLANTED-json"}"#,
        "SecureString",
    );
    let named = r#"{"type": "ssm", "id": "/ps6/db", "options": {"env_var_name": "DB_JSON"}}"#;
    assert_eq!(
        env_of(&["-s", named])["DB_JSON"],
        r#"{"user": "admin", "password": "PLANTED-json"}"#
    );
    let expanded =
        r#"{"type": "ssm", "id": "ssm:/ps6/db", "options": {"json": true, "prefix": "DB_"}}"#;
    let env = env_of(&["-s", expanded]);
    assert_eq!(
        only(&env, &["DB_user", "DB_password"]),
        pairs(&[("DB_user", "admin"), ("DB_password", "PLANTED-json")])
    );
    put_parameter("/ps6/not-json", "PLANTED-text", "String");
    let bad = r#"{"type": "ssm", "id": "/ps6/not-json", "options": {"json": true}}"#;
    secretexec()
        .args(["-s", bad, "--", "true"])
        .run()
        .fails_with("not a JSON object")
        .no_leak(&["PLANTED-text"]);
}

/// Plain names of one (region, role) go 10 to a GetParameters call; a
/// selector or a path goes alone. Counted at the test proxy.
#[test]
fn plain_names_are_fetched_ten_to_a_call() {
    let mut args = Vec::new();
    for i in 0..12 {
        put_parameter(&format!("/ps7/p{i:02}"), &format!("PLANTED-{i}"), "String");
        args.extend(["-s".to_string(), format!("ssm:/ps7/p{i:02}")]);
    }
    put_parameter("/ps7/p00", "PLANTED-0", "String");
    args.extend(["-s".to_string(), "ssm:/ps7/p00:1".to_string()]);
    args.extend(["--pristine".to_string(), "--allow-override".to_string()]);
    let batches = Proxy::start_for(moto_addr(), "GetParameters", vec![], Fault::Forward);
    let singles = Proxy::start_for(
        batches.endpoint().trim_start_matches("http://").to_string(),
        "GetParameter",
        vec![],
        Fault::Forward,
    );
    // p00 twice (plain and :1) would collide; rename the selected one.
    let last = args.len() - 3;
    args[last] =
        r#"{"type": "ssm", "id": "/ps7/p00:1", "options": {"env_var_name": "FIRST"}}"#.into();
    let env = secretexec()
        .no_moto()
        .env("AWS_ENDPOINT_URL", singles.endpoint())
        .args(&args)
        .args(["--", "env", "-0"])
        .run()
        .env();
    for i in 0..12 {
        assert_eq!(env[&format!("p{i:02}")], format!("PLANTED-{i}"));
    }
    assert_eq!(env["FIRST"], "PLANTED-0");
    assert_eq!(batches.requests(), 2, "12 names: 10 + 2");
    assert_eq!(singles.requests(), 1, "only the selected version alone");
}

#[test]
fn a_denied_get_parameters_falls_back_to_single_calls() {
    let mut args = Vec::new();
    for i in 0..3 {
        put_parameter(&format!("/ps8/p{i}"), &format!("PLANTED-{i}"), "String");
        args.extend(["-s".to_string(), format!("ssm:/ps8/p{i}")]);
    }
    let p = Proxy::start_for(
        moto_addr(),
        "GetParameters",
        vec![],
        Fault::Error(400, "AccessDeniedException"),
    );
    let out = secretexec()
        .no_moto()
        .env("AWS_ENDPOINT_URL", p.endpoint())
        .args(["-v"])
        .args(&args)
        .args(["--", "env", "-0"])
        .run();
    let env = out.env();
    for i in 0..3 {
        assert_eq!(env[&format!("p{i}")], format!("PLANTED-{i}"));
    }
    out.stderr_has("falling back to GetParameter");
    assert_eq!(p.requests(), 1);
    // Any other failure of the call fails closed.
    let p = Proxy::start_for(
        moto_addr(),
        "GetParameters",
        vec![],
        Fault::Error(400, "InvalidKeyId"),
    );
    secretexec()
        .no_moto()
        .env("AWS_ENDPOINT_URL", p.endpoint())
        .args(&args)
        .args(["--", "true"])
        .run()
        .fails_with("GetParameters: InvalidKeyId");
}

#[test]
fn errors_name_the_parameter_region_and_code() {
    put_parameter("/ps9/there", "PLANTED-there", "SecureString");
    let marker = tempdir("ssm-errors").join("ran");
    let touch = format!("touch {}", marker.display());
    // Alone (GetParameter) and among others (GetParameters' InvalidParameters).
    for args in [
        vec!["-s", "ssm:/ps9/missing"],
        vec!["-s", "ssm:/ps9/there", "-s", "ssm:/ps9/missing"],
    ] {
        secretexec()
            .args(&args)
            .args(["--", "sh", "-c", &touch])
            .run()
            .fails_with("source 'ssm:/ps9/missing': ParameterNotFound")
            .stderr_has("(us-east-1")
            .no_leak(&["PLANTED-there"]);
    }
    // A decryption failure is one line with its code.
    let p = Proxy::start_for(
        moto_addr(),
        "GetParameter",
        vec![],
        Fault::Error(400, "InvalidKeyId"),
    );
    secretexec()
        .no_moto()
        .env("AWS_ENDPOINT_URL", p.endpoint())
        .args(["-s", "ssm:/ps9/there:1", "--", "sh", "-c", &touch])
        .run()
        .fails_with("source 'ssm:/ps9/there:1': InvalidKeyId");
    // Malformed specs are refused before any call.
    for (spec, want) in [
        ("ssm:", "not an SSM parameter name"),
        ("ssm:/a b", "not an SSM parameter name"),
        ("ssm:rel/path/", "a parameter path starts with /"),
        (
            "ssm:/a/:3",
            "a path (ending in /) takes no version or label",
        ),
        ("ssm:/a:3x", "neither a parameter version"),
        (
            "arn:aws:ssm:us-east-1:1:parameter/a/",
            "an ARN names one parameter",
        ),
        (
            r#"{"type": "ssm", "id": "/a/", "options": {"json": true}}"#,
            "applies to one parameter",
        ),
        (
            r#"{"type": "ssm", "id": "/a", "options": {"recursive": true}}"#,
            "applies to a parameter path",
        ),
        (
            r#"{"type": "ssm", "id": "/a", "options": {"version_stage": "x"}}"#,
            "unknown option",
        ),
        (
            r#"{"type": "aws-secrets-manager", "id": "ssm:/a"}"#,
            "write \"type\": \"ssm\"",
        ),
    ] {
        secretexec()
            .no_moto()
            .args(["-s", spec, "--", "sh", "-c", &touch])
            .run()
            .fails_with(want);
    }
    assert!(!marker.exists(), "the command ran");
}

#[test]
fn merge_dry_run_and_export_follow_the_rules_for_secrets() {
    put_parameter("/ps10/api_key", "PLANTED-api", "SecureString");
    create("ssm10-secret", Value::Text(r#"{"api_key": "PLANTED-sm"}"#));
    // The same variable from a secret and a parameter is an error.
    secretexec()
        .args([
            "-s",
            "ssm10-secret",
            "-s",
            "ssm:/ps10/api_key",
            "--",
            "true",
        ])
        .run()
        .fails_with("api_key is set by both source")
        .no_leak(&["PLANTED-api", "PLANTED-sm"]);
    // A parameter may not set a variable that makes programs load code.
    put_parameter("/ps10/LD_PRELOAD", "/tmp/PLANTED.so", "String");
    secretexec()
        .args(["-s", "ssm:/ps10/LD_PRELOAD", "--", "true"])
        .run()
        .fails_with("--allow-var LD_PRELOAD");
    let out = secretexec()
        .args(["-s", "ssm:/ps10/api_key", "--dry-run"])
        .run();
    out.ok().no_leak(&["PLANTED-api"]);
    assert_eq!(out.stdout(), "api_key\tssm:/ps10/api_key\n");
    let out = secretexec()
        .args(["-s", "ssm:/ps10/api_key", "--export", "dotenv"])
        .run();
    assert_eq!(out.stdout(), "api_key='PLANTED-api'\n");
}
