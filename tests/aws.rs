//! The real binary against a real moto_server: sources, values, merging,
//! roles, regions and the exec contract. Every secret name is unique to
//! its test, so tests share one server and still run in parallel.

#![allow(clippy::type_complexity)] // table cases read best as tuples

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::{Value, assume, create, create_in, env_of, put_version, secretexec, tempdir};

const ROLE: &str = "arn:aws:iam::111111111111:role/secretexec-reader";

fn pairs(v: &[(&str, &str)]) -> BTreeMap<String, String> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Only the variables the secrets added (the scrubbed base env is known).
fn added(env: BTreeMap<String, String>, names: &[&str]) -> BTreeMap<String, String> {
    env.into_iter()
        .filter(|(k, _)| names.contains(&k.as_str()))
        .collect()
}

// ------------------------------------------------------------ values

#[test]
fn json_object_becomes_one_variable_per_key() {
    create(
        "values/json",
        Value::Text(
            r#"{"user": "admin", "password": "p@ss w0rd $HOME \"q\"\n", "port": 5432,
                "tls": true, "none": null, "cfg": {"a": [1, 2]},
                "big": 123456789012345678901234567890, "ratio": 1.50, "db-host": "h",
                "a.b/c": "x", "unicode": "é漢🙂"}"#,
        ),
    );
    let env = env_of(&["-s", "values/json"]);
    let names = [
        "user", "password", "port", "tls", "none", "cfg", "big", "ratio", "db_host", "a_b_c",
        "unicode",
    ];
    assert_eq!(
        added(env, &names),
        pairs(&[
            ("user", "admin"),
            ("password", "p@ss w0rd $HOME \"q\"\n"),
            ("port", "5432"),
            ("tls", "true"),
            ("none", "null"),
            ("cfg", r#"{"a":[1,2]}"#),
            ("big", "123456789012345678901234567890"),
            ("ratio", "1.50"),
            ("db_host", "h"),
            ("a_b_c", "x"),
            ("unicode", "é漢🙂"),
        ])
    );
}

#[test]
fn json_false_takes_the_whole_string() {
    create("values/whole-text", Value::Text("not json at all"));
    create("values/whole-json", Value::Text(r#"{"a": 1}"#));
    let env = env_of(&[
        "-s",
        r#"{"id": "values/whole-text", "options": {"json": false}}"#,
        "-s",
        r#"{"id": "values/whole-json", "options": {"json": false, "env_var_name": "RAW"}}"#,
    ]);
    assert_eq!(env["values_whole_text"], "not json at all");
    assert_eq!(env["RAW"], r#"{"a": 1}"#);
}

/// SPEC §3: an option that would have no effect is an error, never
/// silently ignored (env_var_name on an object expanded key by key).
#[test]
fn env_var_name_on_an_expanded_object_is_an_error() {
    create("values/ignored-name", Value::Text(r#"{"K": "PLANTED-v"}"#));
    secretexec()
        .args([
            "-s",
            r#"{"id": "values/ignored-name", "options": {"env_var_name": "X"}}"#,
            "--",
            "true",
        ])
        .run()
        .fails_with("env_var_name has no effect on a JSON object")
        .no_leak(&["PLANTED"]);
}

#[test]
fn secret_binary_becomes_base64() {
    create(
        "values/binary",
        Value::Bytes(&[0x00, 0xff, 0xfe, b'\n', 0x80, 0x41]),
    );
    let env = env_of(&[
        "-s",
        r#"{"id": "values/binary", "options": {"json": false, "env_var_name": "BLOB"}}"#,
    ]);
    assert_eq!(env["BLOB"], "AP/+CoBB");
    // Whatever json says, as Metaflow does: named after the secret, or
    // env_var_name (sanitised like keys).
    let env = env_of(&["-s", "values/binary"]);
    assert_eq!(env["values_binary"], "AP/+CoBB");
    let env = env_of(&[
        "-s",
        r#"{"id": "values/binary", "options": {"env_var_name": "my-blob.v1"}}"#,
    ]);
    assert_eq!(env["my_blob_v1"], "AP/+CoBB");
}

#[test]
fn bad_values_fail_closed_without_leaking() {
    let cases = [
        (
            "bad/not-object",
            r#""PLANTED-string-1""#,
            "not a JSON object",
        ),
        ("bad/array", r#"["PLANTED-array-2"]"#, "not a JSON object"),
        ("bad/text", "PLANTED-text-3", "not a JSON object"),
        ("bad/truncated", r#"{"a": "PLANTED-trunc-4"#, "valid JSON"),
        (
            "bad/dup-key",
            r#"{"k": "PLANTED-dup-5", "k": "PLANTED-dup-6"}"#,
            "key 'k' appears more than once",
        ),
        (
            "bad/collide",
            r#"{"a-b": "PLANTED-col-7", "a_b": "PLANTED-col-8"}"#,
            "both become a_b",
        ),
        (
            "bad/key",
            r#"{"a b": "PLANTED-key-9"}"#,
            "key 'a b' does not make",
        ),
        ("bad/key-eq", r#"{"a=b": "PLANTED-key-10"}"#, "key 'a=b'"),
        (
            "bad/nul",
            r#"{"a": "PLANTED\u0000nul-11"}"#,
            "contains a NUL byte",
        ),
    ];
    for (name, value, _) in cases {
        create(name, Value::Text(value));
    }
    for (name, value, want) in cases {
        let marker = "touched-by-command";
        let dir = tempdir("aws");
        let flag = dir.join(marker);
        secretexec()
            .args(["-s", name, "--", "touch"])
            .args([&flag])
            .run()
            .fails_with(want)
            .stderr_has(&format!("source '{name}'"))
            .no_leak(&[value, "PLANTED"]);
        assert!(!flag.exists(), "{name}: the command ran");
    }
}

#[test]
fn nul_in_whole_string_is_refused() {
    create("bad/nul-whole", Value::Text("PLANTED\0nul"));
    secretexec()
        .args([
            "-s",
            r#"{"id": "bad/nul-whole", "options": {"json": false}}"#,
            "--",
            "true",
        ])
        .run()
        .fails_with("NUL byte")
        .no_leak(&["PLANTED"]);
}

// ------------------------------------------------------------ merging

#[test]
fn sources_merge_in_order() {
    create("merge/a", Value::Text(r#"{"A1": "1", "A2": "2"}"#));
    create("merge/b", Value::Text(r#"{"B1": "3"}"#));
    let env = env_of(&["-s", "merge/a", "--source", "merge/b"]);
    assert_eq!(
        added(env, &["A1", "A2", "B1"]),
        pairs(&[("A1", "1"), ("A2", "2"), ("B1", "3")])
    );
}

#[test]
fn same_variable_from_two_sources_is_refused_even_with_override() {
    create("merge/dup-1", Value::Text(r#"{"SAME": "PLANTED-dup-a"}"#));
    create("merge/dup-2", Value::Text(r#"{"SAME": "PLANTED-dup-b"}"#));
    for extra in [&[][..], &["--allow-override"][..]] {
        secretexec()
            .args(extra)
            .args(["-s", "merge/dup-1", "-s", "merge/dup-2", "--", "true"])
            .run()
            .fails_with("SAME is set by both source 'merge/dup-1' and source 'merge/dup-2'")
            .no_leak(&["PLANTED"]);
    }
}

#[test]
fn existing_variable_needs_allow_override() {
    create(
        "merge/existing",
        Value::Text(r#"{"ALREADY": "PLANTED-new"}"#),
    );
    for old in ["old", ""] {
        secretexec()
            .env("ALREADY", old)
            .args(["-s", "merge/existing", "--", "true"])
            .run()
            .fails_with("sets ALREADY, which is already set; pass --allow-override")
            .no_leak(&["PLANTED"]);
        let env = secretexec()
            .env("ALREADY", old)
            .args([
                "--allow-override",
                "-s",
                "merge/existing",
                "--",
                "env",
                "-0",
            ])
            .run()
            .env();
        assert_eq!(env["ALREADY"], "PLANTED-new");
    }
}

#[test]
fn loader_variables_are_refused_unless_allowed() {
    create(
        "merge/loader",
        Value::Text(r#"{"LD_PRELOAD": "/tmp/PLANTED.so"}"#),
    );
    create("merge/path", Value::Text(r#"{"PATH": "/PLANTED/bin"}"#));
    create(
        "merge/pythonpath",
        Value::Text(r#"{"PYTHONPATH": "/PLANTED/py"}"#),
    );
    for (name, var) in [
        ("merge/loader", "LD_PRELOAD"),
        ("merge/path", "PATH"),
        ("merge/pythonpath", "PYTHONPATH"),
    ] {
        secretexec()
            .args(["--allow-override", "-s", name, "--", "true"])
            .run()
            .fails_with(&format!("allow it with --allow-var {var}"))
            .no_leak(&["PLANTED"]);
    }
    let env = env_of(&["--allow-var", "PYTHONPATH", "-s", "merge/pythonpath"]);
    assert_eq!(env["PYTHONPATH"], "/PLANTED/py");
}

/// One variable of each family of SPEC §4's refused list, from a local
/// source (the same merge as any secret): refused, naming --allow-var.
#[test]
fn every_family_of_code_running_variables_is_refused() {
    let dir = tempdir("aws");
    for (_, names) in secretexec::env::FAMILIES {
        for pattern in *names {
            let name = pattern.replace('*', "X");
            let file = dir.join("refused.env");
            std::fs::write(&file, format!("{name}=PLANTED-{name}\n")).unwrap();
            secretexec()
                .no_moto()
                .args(["--pristine", "-s"])
                .args([format!("file:{}", file.display())])
                .args(["--", "true"])
                .run()
                .fails_with(&format!("allow it with --allow-var {name}"))
                .no_leak(&["PLANTED"]);
        }
    }
}

/// Why git's variables are on the list: GIT_CONFIG_COUNT/KEY/VALUE make
/// `git status` run a command. Refused by default; with --allow-var for
/// each, the command really runs (so the refusal is what stops it).
#[test]
fn git_config_variables_would_run_a_command_under_git_status() {
    let dir = tempdir("aws");
    let repo = dir.join("repo");
    std::fs::create_dir(&repo).unwrap();
    let flag = dir.join("ran");
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(&repo)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q", "."]);
    let file = dir.join("git.env");
    std::fs::write(
        &file,
        format!(
            "GIT_CONFIG_COUNT=1\nGIT_CONFIG_KEY_0=core.fsmonitor\nGIT_CONFIG_VALUE_0='touch {}; false'\n",
            flag.display()
        ),
    )
    .unwrap();
    let run = |allow: &[&str]| {
        let mut cmd = secretexec().no_moto();
        for name in allow {
            cmd = cmd.args(["--allow-var", name]);
        }
        cmd.args(["-s"])
            .args([format!("file:{}", file.display())])
            .args(["--", "git", "-C"])
            .args([&repo])
            .args(["status"])
            .run()
    };
    run(&[]).fails_with("GIT_CONFIG_COUNT, which changes how programs load or start");
    assert!(!flag.exists());
    run(&["GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0"]).ok();
    assert!(flag.exists(), "git ran the configured command");
}

#[test]
fn allowed_path_is_the_path_the_command_is_found_on() {
    let dir = tempdir("aws");
    let tool = dir.join("only-here-tool");
    std::fs::write(&tool, "#!/bin/sh\necho found-on-secret-path\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", dir.display());
    create(
        "merge/path-allowed",
        Value::Text(&format!(r#"{{"PATH": "{path}"}}"#)),
    );
    let out = secretexec()
        .args([
            "--allow-var",
            "PATH",
            "--allow-override",
            "-s",
            "merge/path-allowed",
            "--",
            "only-here-tool",
        ])
        .run();
    out.ok();
    assert_eq!(out.stdout(), "found-on-secret-path\n");
}

#[test]
fn zero_sources_runs_the_command_with_the_env_unchanged() {
    let out = secretexec()
        .env("KEEP_ME", "kept")
        .no_moto()
        .args(["--", "env", "-0"])
        .run();
    assert_eq!(out.env()["KEEP_ME"], "kept");
}

// ------------------------------------------------------------ source forms

#[test]
fn name_arn_and_dict_forms() {
    let arn = create("forms/by-all", Value::Text(r#"{"FORM": "ok"}"#));
    for spec in [
        "forms/by-all".to_string(),
        "aws-secrets-manager.forms/by-all".to_string(),
        arn.clone(),
        format!(r#"{{"id": "{arn}"}}"#),
        r#"{"id": "forms/by-all", "type": "aws-secrets-manager", "role": null, "options": {"json": true}}"#.into(),
    ] {
        assert_eq!(env_of(&["-s", &spec])["FORM"], "ok", "{spec}");
    }
}

#[test]
fn dotted_name_is_a_name() {
    create("team.db", Value::Text(r#"{"DOTTED": "yes"}"#));
    assert_eq!(env_of(&["-s", "team.db"])["DOTTED"], "yes");
}

#[test]
fn two_regions() {
    let east = create("regions/db", Value::Text(r#"{"WHERE": "us-east-1"}"#));
    let west = create_in(
        "eu-west-1",
        &Default::default(),
        "regions/db",
        Value::Text(r#"{"WHERE": "eu-west-1"}"#),
    );
    assert!(west.contains(":eu-west-1:"), "{west}");
    let cases: Vec<(Vec<&str>, Vec<(&str, &str)>, &str)> = vec![
        (vec!["-s", "regions/db"], vec![], "us-east-1"),
        (
            vec!["--region", "eu-west-1", "-s", "regions/db"],
            vec![],
            "eu-west-1",
        ),
        (
            vec!["-s", "regions/db"],
            vec![("SECRETEXEC_REGION", "eu-west-1")],
            "eu-west-1",
        ),
        (
            vec!["--region", "us-east-1", "-s", "regions/db"],
            vec![("SECRETEXEC_REGION", "eu-west-1")],
            "us-east-1",
        ),
        (vec!["-s", &west], vec![], "eu-west-1"),
        (
            vec!["--region", "us-east-1", "-s", &west],
            vec![],
            "eu-west-1",
        ),
        (
            vec!["--region", "eu-west-1", "-s", &east],
            vec![],
            "us-east-1",
        ),
        (
            vec![
                "-s",
                r#"{"id": "regions/db", "options": {"region": "eu-west-1"}}"#,
            ],
            vec![],
            "eu-west-1",
        ),
    ];
    for (args, env, want) in cases {
        let mut cmd = secretexec().args(&args).args(["--", "env", "-0"]);
        for (k, v) in &env {
            cmd = cmd.env(k, v);
        }
        assert_eq!(cmd.run().env()["WHERE"], want, "{args:?} {env:?}");
    }
    // Both regions at once: the same key from each is a collision.
    secretexec()
        .args(["-s", &east, "-s", &west, "--", "true"])
        .run()
        .fails_with("WHERE is set by both source");
}

#[test]
fn malformed_specs_fail_before_any_network_call() {
    // No server at all: a spec error must come first.
    for (spec, want) in [
        ("my secret", "bad source 'my secret'"),
        (
            "arn:aws:secretsmanager:us-east-1:1:secret",
            "not a secret ARN",
        ),
        (
            r#"{"id": "x", "options": {"bogus": 1}}"#,
            "unknown option 'bogus'",
        ),
        (
            r#"{"id": "x""#,
            r#"bad source #1 (JSON) '{\"id\": \"x\"': not a valid JSON object"#,
        ),
    ] {
        secretexec()
            .no_moto()
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .args(["-s", spec, "--", "true"])
            .run()
            .fails_with(want);
    }
}

#[test]
fn secretexec_sources_from_the_environment() {
    create("envsrc/a", Value::Text(r#"{"ENV_A": "a"}"#));
    create("envsrc/b", Value::Text(r#"{"ENV_B": "b"}"#));
    create("envsrc/c", Value::Text(r#"{"ENV_C": "c"}"#));
    for list in ["envsrc/a, envsrc/b", r#"["envsrc/a", {"id": "envsrc/b"}]"#] {
        let env = secretexec()
            .env("SECRETEXEC_SOURCES", list)
            .args(["-s", "envsrc/c", "--", "env", "-0"])
            .run()
            .env();
        assert_eq!(
            added(env, &["ENV_A", "ENV_B", "ENV_C"]),
            pairs(&[("ENV_A", "a"), ("ENV_B", "b"), ("ENV_C", "c")]),
            "{list}"
        );
    }
}

// ------------------------------------------------------------ roles

#[test]
fn a_role_is_required_to_read_the_role_accounts_secret() {
    let creds = assume(ROLE);
    let arn = create_in(
        "us-east-1",
        &creds,
        "roles/only-via-role",
        Value::Text(r#"{"ROLE_SECRET": "PLANTED-role"}"#),
    );
    assert!(arn.contains(":111111111111:"), "{arn}");

    // Without the role, the default account has no such secret.
    secretexec()
        .args(["-s", "roles/only-via-role", "--", "true"])
        .run()
        .fails_with("ResourceNotFoundException")
        .no_leak(&["PLANTED"]);

    let role_dict = format!(r#"{{"id": "roles/only-via-role", "role": "{ROLE}"}}"#);
    let cases: Vec<(Vec<&str>, Vec<(&str, &str)>)> = vec![
        (vec!["--role", ROLE, "-s", "roles/only-via-role"], vec![]),
        (
            vec!["-s", "roles/only-via-role"],
            vec![("SECRETEXEC_ROLE", ROLE)],
        ),
        (vec!["-s", &role_dict], vec![]),
        (vec!["-s", &arn, "--role", ROLE], vec![]),
    ];
    for (args, env) in cases {
        let mut cmd = secretexec().args(&args).args(["--", "env", "-0"]);
        for (k, v) in &env {
            cmd = cmd.env(k, v);
        }
        assert_eq!(
            cmd.run().env()["ROLE_SECRET"],
            "PLANTED-role",
            "{args:?} {env:?}"
        );
    }
}

#[test]
fn one_assume_role_per_distinct_role() {
    let creds = assume(ROLE);
    for i in 0..3 {
        create_in(
            "us-east-1",
            &creds,
            &format!("roles/shared-{i}"),
            Value::Text(&format!(r#"{{"SHARED_{i}": "v{i}"}}"#)),
        );
    }
    create("roles/no-role", Value::Text(r#"{"NO_ROLE": "x"}"#));
    let out = secretexec()
        .args(["-v", "--role", ROLE])
        .args([
            "-s",
            "roles/shared-0",
            "-s",
            "roles/shared-1",
            "-s",
            "roles/shared-2",
        ])
        .args([
            "-s",
            r#"{"id": "roles/no-role", "role": "arn:aws:iam::123456789012:role/other"}"#,
        ])
        .args(["--", "env", "-0"])
        .run();
    let env = out.env();
    assert_eq!(
        added(env, &["SHARED_0", "SHARED_1", "SHARED_2"]),
        pairs(&[("SHARED_0", "v0"), ("SHARED_1", "v1"), ("SHARED_2", "v2")])
    );
    let assumed: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("assuming role"))
        .collect();
    assert_eq!(assumed.len(), 2, "{}", out.stderr);
    assert!(
        assumed
            .iter()
            .all(|l| l.contains("as session secretexec-env-")),
        "{assumed:?}"
    );
    assert_eq!(
        assumed.iter().filter(|l| l.contains(ROLE)).count(),
        1,
        "{assumed:?}"
    );
}

#[test]
fn malformed_role_is_a_usage_error() {
    secretexec()
        .no_moto()
        .args(["--role", "reader", "--", "true"])
        .run()
        .fails_with("not an IAM role ARN");
}

// ------------------------------------------------------------ errors

#[test]
fn aws_errors_name_the_source_and_code() {
    secretexec()
        .args(["-s", "errors/does-not-exist", "--", "true"])
        .run()
        .fails_with("source 'errors/does-not-exist': ResourceNotFoundException: ");
    // A failing source stops the others: all or nothing.
    create("errors/good", Value::Text(r#"{"GOOD": "PLANTED-good"}"#));
    let dir = tempdir("aws");
    let flag = dir.join("ran");
    secretexec()
        .args([
            "-s",
            "errors/good",
            "-s",
            "errors/does-not-exist",
            "--",
            "touch",
        ])
        .args([&flag])
        .run()
        .fails_with("ResourceNotFoundException")
        .no_leak(&["PLANTED"]);
    assert!(!flag.exists());
}

#[test]
fn unknown_version_stage_names_the_source() {
    create("errors/versions", Value::Text(r#"{"V": "PLANTED-v"}"#));
    put_version("errors/versions", r#"{"V": "PLANTED-v2"}"#, &["AWSCURRENT"]);
    secretexec()
        .args([
            "-s",
            r#"{"id": "errors/versions", "options": {"version_stage": "NOPE"}}"#,
            "--",
            "true",
        ])
        .run()
        .fails_with("source 'errors/versions': ResourceNotFoundException")
        .no_leak(&["PLANTED"]);
}

#[test]
fn no_credentials_says_how_to_provide_them() {
    let started = Instant::now();
    secretexec()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["-s", "errors/any", "--", "true"])
        .run()
        .fails_with("no AWS credentials found")
        .stderr_has("AWS_PROFILE");
    // Generous bound: it must not sit in metadata-service timeouts.
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn no_region_says_how_to_provide_one() {
    secretexec()
        .env_remove("AWS_REGION")
        .args(["-s", "errors/any", "--", "true"])
        .run()
        .fails_with("no AWS region: pass --region");
}

#[test]
fn timeout_bounds_a_server_that_never_answers() {
    // Accepts connections and never replies.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            let mut c = conn;
            let mut buf = [0u8; 1024];
            let _ = c.set_read_timeout(Some(Duration::from_millis(10)));
            let _ = c.read(&mut buf);
            held.push(c);
        }
    });
    let started = Instant::now();
    let dir = tempdir("aws");
    let flag = dir.join("ran");
    secretexec()
        .no_moto()
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .args(["--timeout", "1s", "-s", "errors/stalled", "--", "touch"])
        .args([&flag])
        .run()
        .fails_with("timed out after 1s waiting for 'errors/stalled'");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(!flag.exists());
}

#[test]
fn verbose_names_sources_and_phases_never_values() {
    create(
        "verbose/db",
        Value::Text(r#"{"VERBOSE_USER": "PLANTED-user", "VERBOSE_PASS": "PLANTED-pass"}"#),
    );
    let out = secretexec()
        .args(["-v", "-s", "verbose/db", "--", "true"])
        .run();
    out.ok().no_leak(&["PLANTED"]);
    for want in [
        "fetching 'verbose/db': secret 'verbose/db' in us-east-1",
        "fetched 'verbose/db' in",
        "VERBOSE_USER from 'verbose/db'",
        "VERBOSE_PASS from 'verbose/db'",
        "AWS configuration loaded",
        "] exec",
    ] {
        out.stderr_has(want);
    }
}

// ------------------------------------------------------------ exec contract

#[test]
fn the_command_keeps_our_pid() {
    create("exec/pid", Value::Text(r#"{"PID_TEST": "1"}"#));
    let out = secretexec()
        .args(["-s", "exec/pid", "--", "sh", "-c", "echo $$"])
        .run();
    out.ok();
    assert_eq!(out.stdout().trim(), out.pid.to_string());
}

#[test]
fn exit_statuses() {
    let dir = tempdir("aws");
    let not_exec = dir.join("not-executable");
    std::fs::write(&not_exec, "#!/bin/sh\ntrue\n").unwrap();
    std::fs::set_permissions(&not_exec, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["true"], 0, ""),
        (vec!["sh", "-c", "exit 3"], 3, ""),
        (
            vec!["definitely-not-a-command-xyz"],
            127,
            "definitely-not-a-command-xyz: command not found",
        ),
        (vec!["./definitely/missing"], 127, "command not found"),
        (
            vec![not_exec.to_str().unwrap()],
            126,
            "cannot execute: permission denied",
        ),
        (vec![dir.to_str().unwrap()], 126, "cannot execute"),
    ];
    for (command, code, msg) in cases {
        let out = secretexec().no_moto().arg_list(&command).run();
        out.code(code);
        if !msg.is_empty() {
            out.stderr_has(msg);
        }
    }
    create("exec/fails", Value::Text("PLANTED-x"));
    secretexec()
        .args(["-s", "exec/fails", "--", "true"])
        .run()
        .code(125);
}

#[test]
fn argv_passes_verbatim() {
    let args = ["-h", "--", "--source", "x", "a b", "", "-v", "--help", "ü"];
    let out = secretexec()
        .no_moto()
        .args([
            "--",
            "sh",
            "-c",
            r#"for a; do printf '[%s]' "$a"; done"#,
            "sh",
        ])
        .args(args)
        .run();
    out.ok();
    assert_eq!(out.stdout(), "[-h][--][--source][x][a b][][-v][--help][ü]");
}

#[test]
fn a_script_without_shebang_runs_by_sh() {
    let dir = tempdir("aws");
    let script = dir.join("no-shebang");
    std::fs::write(&script, "echo ran-by-sh \"$1\"\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = secretexec()
        .no_moto()
        .args(["--"])
        .args([&script])
        .args(["arg1"])
        .run();
    out.ok();
    assert_eq!(out.stdout(), "ran-by-sh arg1\n");
}

// ------------------------------------------------------------ helpers

trait ArgList {
    fn arg_list(self, command: &[&str]) -> Self;
}

impl ArgList for common::Cmd {
    fn arg_list(self, command: &[&str]) -> Self {
        self.args(["--"]).args(command)
    }
}
