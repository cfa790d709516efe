//! Every way users name and shape secrets, against a real moto_server:
//! versions, the ECS valueFrom tail, prefixes, file: and inline sources,
//! configuration from the environment, --pristine, --dry-run and --export
//! (with real round trips through sh, bash, python-dotenv and json).

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{Value, create, env_of, put_version, secretexec, tempdir};

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

// ------------------------------------------------------------ versions

#[test]
fn version_stages_and_ids_select_the_right_value() {
    create("versions/db", Value::Text(r#"{"V": "one"}"#));
    let two = put_version("versions/db", r#"{"V": "two"}"#, &["AWSCURRENT"]);
    let pending = put_version("versions/db", r#"{"V": "pending"}"#, &["AWSPENDING"]);
    put_version("versions/db", r#"{"V": "blue"}"#, &["BLUE"]);
    let spec = |options: &str| format!(r#"{{"id": "versions/db", "options": {{{options}}}}}"#);
    let cases = [
        (spec(""), "two"),
        (spec(r#""version_stage": "AWSCURRENT""#), "two"),
        (spec(r#""version_stage": "AWSPREVIOUS""#), "one"),
        (spec(r#""version_stage": "AWSPENDING""#), "pending"),
        (spec(r#""version_stage": "BLUE""#), "blue"),
        (spec(&format!(r#""version_id": "{pending}""#)), "pending"),
        (
            spec(&format!(
                r#""version_id": "{two}", "version_stage": "AWSCURRENT""#
            )),
            "two",
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(env_of(&["-s", &spec])["V"], want, "{spec}");
    }
    for options in [
        r#""version_stage": "NO-SUCH-STAGE""#,
        r#""version_id": "00000000-0000-0000-0000-000000000000""#,
    ] {
        secretexec()
            .args(["-s", &spec(options), "--", "true"])
            .run()
            .fails_with("source 'versions/db': ResourceNotFoundException")
            .no_leak(&["one", "two", "pending", "blue"]);
    }
}

// ------------------------------------------------------------ ECS valueFrom

#[test]
fn ecs_value_from_tail() {
    let arn = create(
        "ecs/db",
        Value::Text(r#"{"username": "u1", "password": "PLANTED-p1"}"#),
    );
    let v2 = put_version(
        "ecs/db",
        r#"{"username": "u2", "password": "PLANTED-p2"}"#,
        &["AWSCURRENT"],
    );
    let pick = |tail: &str, names: &[&str]| {
        let env = env_of(&["-s", &format!("{arn}{tail}")]);
        names
            .iter()
            .map(|n| env.get(*n).cloned().unwrap_or_else(|| "<unset>".into()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        pick(":password::", &["password", "username"]),
        ["PLANTED-p2", "<unset>"]
    );
    // An empty json-key: the whole value of that version, as ECS gives it.
    assert_eq!(
        pick("::AWSPREVIOUS:", &["ecs_db", "password"]),
        [r#"{"username": "u1", "password": "PLANTED-p1"}"#, "<unset>"]
    );
    assert_eq!(
        pick(":username:AWSPREVIOUS:", &["username", "password"]),
        ["u1", "<unset>"]
    );
    assert_eq!(
        pick(&format!(":password::{v2}"), &["password"]),
        ["PLANTED-p2"]
    );
    assert_eq!(
        pick(":::", &["ecs_db", "password"]),
        [r#"{"username": "u2", "password": "PLANTED-p2"}"#, "<unset>"]
    );
    secretexec()
        .args(["-s", &format!("{arn}:nokey::"), "--", "true"])
        .run()
        .fails_with("JSON key 'nokey' is not in the secret")
        .no_leak(&["PLANTED"]);
}

// ------------------------------------------------------------ prefix

#[test]
fn prefixes_let_two_services_with_the_same_keys_coexist() {
    create(
        "prefix/orders",
        Value::Text(r#"{"host": "orders-db", "pass-word": "a"}"#),
    );
    create(
        "prefix/billing",
        Value::Text(r#"{"host": "billing-db", "pass-word": "b"}"#),
    );
    let env = env_of(&[
        "-s",
        r#"{"id": "prefix/orders", "options": {"prefix": "ORDERS_"}}"#,
        "-s",
        r#"{"id": "prefix/billing", "options": {"prefix": "BILLING_"}}"#,
    ]);
    assert_eq!(env["ORDERS_host"], "orders-db");
    assert_eq!(env["ORDERS_pass_word"], "a");
    assert_eq!(env["BILLING_host"], "billing-db");
    assert_eq!(env["BILLING_pass_word"], "b");
    // Without the prefixes they collide.
    secretexec()
        .args(["-s", "prefix/orders", "-s", "prefix/billing", "--", "true"])
        .run()
        .fails_with("host is set by both source 'prefix/orders' and source 'prefix/billing'");
}

// ------------------------------------------------------------ local sources

#[test]
fn file_sources_json_and_dotenv_without_any_secrets_manager() {
    let dir = tempdir("files");
    let json = write(
        &dir,
        "dev.json",
        r#"{"JSON_USER": "u", "JSON_PORT": 5432, "json-key": "k"}"#,
    );
    let dotenv = write(
        &dir,
        "dev.env",
        "# local settings\nexport DOT_A=plain value # comment\nDOT_B='it\\'s $HOME'\nDOT_C=\"line1\\nline2\"\nDOT_D=\"multi\nline\"\n\nDOT_E=\n",
    );
    // No endpoint that answers: local sources need none.
    let env = secretexec()
        .no_moto()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .args([
            "-s",
            &format!("file:{json}"),
            "-s",
            &format!("file:{dotenv}"),
        ])
        .args(["--", "env", "-0"])
        .run()
        .env();
    let want = [
        ("JSON_USER", "u"),
        ("JSON_PORT", "5432"),
        ("json_key", "k"),
        ("DOT_A", "plain value"),
        ("DOT_B", "it's $HOME"),
        ("DOT_C", "line1\nline2"),
        ("DOT_D", "multi\nline"),
        ("DOT_E", ""),
    ];
    for (k, v) in want {
        assert_eq!(env.get(k).map(String::as_str), Some(v), "{k}");
    }
    // The dict form adds a prefix or takes the whole file.
    let env = secretexec()
        .no_moto()
        .args(["-s", &format!(r#"{{"id": "file:{json}", "options": {{"prefix": "DEV_"}}}}"#)])
        .args(["-s", &format!(r#"{{"id": "file:{dotenv}", "options": {{"json": false, "env_var_name": "WHOLE"}}}}"#)])
        .args(["--", "env", "-0"])
        .run()
        .env();
    assert_eq!(env["DEV_JSON_USER"], "u");
    assert!(env["WHOLE"].starts_with("# local settings\n"));
}

#[test]
fn inline_sources_follow_the_same_rules() {
    let env = secretexec()
        .no_moto()
        .args(["-s", r#"{"type": "inline", "id": "dev", "options": {"env_vars": {"IN_A": "a", "IN_N": 1.50}}}"#])
        .args(["--", "env", "-0"])
        .run()
        .env();
    assert_eq!(env["IN_A"], "a");
    assert_eq!(env["IN_N"], "1.50");
    secretexec()
        .no_moto()
        .args(["-s", r#"{"type": "inline", "id": "dev", "options": {"env_vars": {"LD_PRELOAD": "PLANTED.so"}}}"#])
        .args(["--", "true"])
        .run()
        .fails_with("source 'dev' sets LD_PRELOAD")
        .no_leak(&["PLANTED"]);
    secretexec()
        .no_moto()
        .args(["-s", r#"{"type": "inline", "id": "dev", "options": {"env_vars": {"K": "PLANTED-1", "K": "PLANTED-2"}}}"#])
        .args(["--", "true"])
        .run()
        .fails_with("key 'K' appears more than once")
        .no_leak(&["PLANTED"]);
}

#[test]
fn bad_local_input_fails_before_any_network_call() {
    let dir = tempdir("bad-files");
    let bad_dotenv = write(&dir, "bad.env", "A=1\nB='PLANTED-unclosed\n");
    let no_equals = write(&dir, "noeq.env", "A=1\n\nPLANTED_LINE\n");
    let not_object = write(&dir, "list.json", r#"{"a": "PLANTED" "#);
    let binary = dir.join("binary.env");
    std::fs::write(&binary, b"A=\xff\xfe").unwrap();
    let missing = dir.join("missing.env");
    let cases = [
        (
            format!("file:{bad_dotenv}"),
            "not a dotenv file (line 2: the quoted value is never closed)",
        ),
        (
            format!("file:{no_equals}"),
            "not a dotenv file (line 3: expected KEY=VALUE)",
        ),
        (format!("file:{not_object}"), "not a valid JSON object"),
        (format!("file:{}", binary.display()), "is not UTF-8 text"),
        (
            format!("file:{}", missing.display()),
            "No such file or directory",
        ),
    ];
    for (spec, want) in cases {
        // A secret that would be fetched, at an endpoint that answers
        // nothing: the local error must come first, and fast.
        secretexec()
            .no_moto()
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .args([
                "--timeout",
                "60s",
                "-s",
                "some/aws/secret",
                "-s",
                &spec,
                "--",
                "true",
            ])
            .run()
            .fails_with(want)
            .stderr_has(&format!("source '{spec}'"))
            .no_leak(&["PLANTED"]);
    }
}

#[test]
fn duplicates_across_file_and_aws_sources() {
    create(
        "local/aws-side",
        Value::Text(r#"{"SHARED_KEY": "PLANTED-aws"}"#),
    );
    let dir = tempdir("dup");
    let file = write(&dir, "local.env", "SHARED_KEY=PLANTED-file\n");
    secretexec()
        .args([
            "-s",
            &format!("file:{file}"),
            "-s",
            "local/aws-side",
            "--",
            "true",
        ])
        .run()
        .fails_with(&format!(
            "SHARED_KEY is set by both source 'file:{file}' and source 'local/aws-side'"
        ))
        .no_leak(&["PLANTED"]);
}

// ------------------------------------------------------------ environment

#[test]
fn container_entrypoint_configured_from_the_environment() {
    // ENTRYPOINT ["secretexec", "--"], CMD ["env", "-0"], and ENV lines.
    let arn = create("entry/db", Value::Text(r#"{"ENTRY_DB": "db"}"#));
    create("entry/api", Value::Text(r#"{"ENTRY_API": "api"}"#));
    let env = secretexec()
        .env(
            "SECRETEXEC_SOURCES",
            format!(r#"["{arn}", {{"id": "entry/api", "options": {{"prefix": "X_"}}}}]"#),
        )
        .env("SECRETEXEC_REGION", "us-east-1")
        .env_remove("AWS_REGION")
        .args(["--", "env", "-0"])
        .run()
        .env();
    assert_eq!(env["ENTRY_DB"], "db");
    assert_eq!(env["X_ENTRY_API"], "api");
    secretexec()
        .env("SECRETEXEC_SOURCES", "[1, 2]")
        .args(["--", "true"])
        .run()
        .fails_with("bad source SECRETEXEC_SOURCES: item 1 must be");
}

// ------------------------------------------------------------ --pristine

#[test]
fn pristine_gives_only_secrets_and_kept_variables() {
    create(
        "pristine/db",
        Value::Text(r#"{"P_USER": "u", "P_HOME": "h"}"#),
    );
    let out = secretexec()
        .env("NOT_KEPT", "x")
        .env("KEPT", "y")
        .args([
            "--pristine",
            "--keep",
            "KEPT",
            "-s",
            "pristine/db",
            "--",
            "/usr/bin/env",
            "-0",
        ])
        .run();
    let env = out.env();
    let want: BTreeMap<String, String> = [("KEPT", "y"), ("P_USER", "u"), ("P_HOME", "h")]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
    assert_eq!(env, want);
    // Without PATH, the command is looked up on /bin:/usr/bin.
    secretexec().args(["--pristine", "--", "env"]).run().ok();
    // A kept variable is still protected.
    secretexec()
        .env("P_USER", "mine")
        .args([
            "--pristine",
            "--keep",
            "P_USER",
            "-s",
            "pristine/db",
            "--",
            "true",
        ])
        .run()
        .fails_with("sets P_USER, which is already set");
}

// ------------------------------------------------------------ --dry-run

#[test]
fn dry_run_lists_names_and_sources_and_runs_nothing() {
    create(
        "dry/db",
        Value::Text(r#"{"DRY_USER": "PLANTED-u", "DRY_PASS": "PLANTED-p"}"#),
    );
    let out = secretexec()
        .args(["--dry-run", "-s", "dry/db", "-s"])
        .args([r#"{"type": "inline", "id": "local", "options": {"env_vars": {"DRY_LOCAL": "PLANTED-l"}}}"#])
        .run();
    out.ok().no_leak(&["PLANTED"]);
    assert_eq!(
        out.stdout(),
        "DRY_USER\tdry/db\nDRY_PASS\tdry/db\nDRY_LOCAL\tlocal\n"
    );
    assert_eq!(out.stderr, "");

    // With a command: it is looked up, not run.
    let dir = tempdir("dry");
    let flag = dir.join("ran");
    let out = secretexec()
        .args(["--dry-run", "-s", "dry/db", "--", "touch"])
        .args([&flag])
        .run();
    out.ok();
    assert!(!flag.exists());

    // Every error a real run would hit is hit here too.
    create("dry/path", Value::Text(r#"{"PATH": "PLANTED-path"}"#));
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["-s", "dry/missing"], 125, "ResourceNotFoundException"),
        (
            vec!["-s", "dry/db", "-s", "dry/db"],
            125,
            "DRY_USER is set by both",
        ),
        (vec!["-s", "dry/path"], 125, "--allow-var PATH"),
        (
            vec!["-s", "dry/db", "--", "no-such-command-xyz"],
            127,
            "command not found",
        ),
    ];
    for (args, code, want) in cases {
        let out = secretexec().args(["--dry-run"]).args(&args).run();
        out.code(code).stderr_has(want).no_leak(&["PLANTED"]);
        assert_eq!(out.stdout(), "", "{args:?}");
    }
    let out = secretexec()
        .env("DRY_USER", "set")
        .args(["--dry-run", "-s", "dry/db"])
        .run();
    out.fails_with("already set").no_leak(&["PLANTED"]);
}

// ------------------------------------------------------------ --export

const HOSTILE: &str = "sp ace 'single' \"double\" $HOME ${HOME} `id` $(id) \\ back\\n\nnew line\r\ttab é漢🙂 # hash ! * ?";

fn seed_hostile(name: &str) {
    let hostile = serde_json::Value::from(HOSTILE).to_string();
    let value = format!(r#"{{"EXP_HOSTILE": {hostile}, "EXP_EMPTY": "", "EXP_NUM": 7}}"#);
    create(name, Value::Text(&value));
}

fn export(name: &str, format: &str) -> String {
    let out = secretexec().args(["-s", name, "--export", format]).run();
    out.ok();
    assert_eq!(out.stderr, "");
    out.stdout()
}

/// Run `script` under `shell` with the exported text in `$EXPORTED`, and
/// return what it prints.
fn shell(shell: &str, script: &str, exported: &str) -> Vec<u8> {
    let out = Command::new(shell)
        .args(["-c", script])
        .env("EXPORTED", exported)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{shell}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn export_shell_round_trips_in_sh_and_bash() {
    seed_hostile("export/shell");
    let text = export("export/shell", "shell");
    for sh in ["sh", "bash"] {
        let got = shell(
            sh,
            r#"eval "$EXPORTED"; printf '%s\0%s\0%s' "$EXP_HOSTILE" "$EXP_EMPTY" "$EXP_NUM""#,
            &text,
        );
        assert_eq!(got, format!("{HOSTILE}\0\x007").as_bytes(), "{sh}");
        // Exported, not just set: a child sees them.
        let got = shell(
            sh,
            r#"eval "$EXPORTED"; sh -c 'printf %s "$EXP_HOSTILE"'"#,
            &text,
        );
        assert_eq!(got, HOSTILE.as_bytes(), "{sh} child");
    }
}

/// Values the shared dotenv dialect carries: each must read back exactly
/// in python-dotenv (default settings, interpolation on), node's dotenv and
/// our own `file:` reader.
const DOTENV_PORTABLE: &[(&str, &str)] = &[
    ("D_PLAIN", "plain"),
    ("D_EMPTY", ""),
    ("D_SPACES", "  lead and trail  "),
    ("D_SINGLE", "it's"),
    ("D_DOUBLE", "say \"hi\""),
    ("D_BACKSLASH", "C:\\dir\\n-not-a-newline"),
    ("D_SHELL", "$HOME $(id) `id` ${unclosed ! * ?"),
    ("D_LINES", "first\nsecond\n"),
    ("D_MIXED", "tab\there # not a comment = é漢🙂"),
    ("D_SINGLE_LINES", "it's\nmulti $HOME"),
];

/// Values no common dialect carries alike: refused, never written wrong.
const DOTENV_REFUSED: &[&str] = &[
    "cr\rhere",
    "${HOME}",
    "it's \"both\"",
    "it's C:\\dir",
    "two\\\\backslashes",
    "trailing\\",
];

#[test]
fn export_dotenv_round_trips_through_python_node_and_our_reader() {
    let object: serde_json::Map<String, serde_json::Value> = DOTENV_PORTABLE
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    create(
        "export/dotenv",
        Value::Text(&serde_json::Value::Object(object).to_string()),
    );
    let text = export("export/dotenv", "dotenv");
    let dir = tempdir("export-dotenv");
    let path = write(&dir, "exported.env", &text);
    let want: BTreeMap<String, String> = DOTENV_PORTABLE
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();

    let read_by = |program: &str, script: &str| -> BTreeMap<String, String> {
        let out = Command::new(program)
            .args(["-e", script, &path])
            .env("NODE_PATH", node_modules())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{program}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let all: BTreeMap<String, String> = serde_json::from_slice(&out.stdout).unwrap();
        all.into_iter()
            .filter(|(k, _)| k.starts_with("D_"))
            .collect()
    };
    let python = Command::new("python3")
        .args([
            "-c",
            "import dotenv, json, sys; print(json.dumps(dotenv.dotenv_values(sys.argv[1])))",
            &path,
        ])
        .env("HOME", "/home/planted")
        .output()
        .unwrap();
    assert!(
        python.status.success(),
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );
    let python: BTreeMap<String, String> = serde_json::from_slice(&python.stdout).unwrap();
    assert_eq!(python, want, "python-dotenv\n{text}");
    let node = read_by(
        "node",
        "const fs = require('fs'); const d = require('dotenv'); \
         console.log(JSON.stringify(d.parse(fs.readFileSync(process.argv[1]))))",
    );
    assert_eq!(node, want, "node dotenv\n{text}");
    let ours = secretexec()
        .no_moto()
        .args([
            "--pristine",
            "-s",
            &format!("file:{path}"),
            "--",
            "/usr/bin/env",
            "-0",
        ])
        .run()
        .env();
    assert_eq!(
        ours.into_iter().collect::<BTreeMap<_, _>>(),
        want,
        "file:\n{text}"
    );
}

#[test]
fn export_dotenv_refuses_what_it_cannot_write_exactly() {
    let dir = tempdir("export-dotenv");
    for (i, value) in DOTENV_REFUSED.iter().enumerate() {
        // A local source: the same export path, with any value.
        let planted = format!("PLANTED{i}-{value}");
        let file = dir.join(format!("refused{i}.json"));
        std::fs::write(&file, serde_json::json!({ "R": planted }).to_string()).unwrap();
        let out = secretexec()
            .no_moto()
            .args([
                "-s",
                &format!("file:{}", file.display()),
                "--export",
                "dotenv",
            ])
            .run();
        out.fails_with("the value of R ")
            .stderr_has("use --export json or --export shell")
            .no_leak(&[&format!("PLANTED{i}")]);
        assert!(out.stdout.is_empty(), "{value:?}: nothing is printed");
        // json and shell carry it.
        secretexec()
            .no_moto()
            .args([
                "-s",
                &format!("file:{}", file.display()),
                "--export",
                "json",
            ])
            .run()
            .ok();
    }
}

/// node's dotenv, installed by scripts/test-deps.sh.
fn node_modules() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-deps/node_modules");
    assert!(
        std::path::Path::new(dir).join("dotenv").exists(),
        "node's dotenv is missing: run scripts/test-deps.sh"
    );
    dir.to_string()
}

#[test]
fn export_json_round_trips_through_json_loads() {
    seed_hostile("export/json");
    let text = export("export/json", "json");
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys; d = json.loads(sys.stdin.read()); sys.stdout.buffer.write(d['EXP_HOSTILE'].encode() + b'\\0' + json.dumps(list(d)).encode())",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    let expected = format!("{HOSTILE}\0[\"EXP_HOSTILE\", \"EXP_EMPTY\", \"EXP_NUM\"]");
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

#[test]
fn export_applies_the_same_rules() {
    create(
        "export/refused",
        Value::Text(r#"{"LD_PRELOAD": "PLANTED-x"}"#),
    );
    secretexec()
        .args(["-s", "export/refused", "--export", "shell"])
        .run()
        .fails_with("--allow-var LD_PRELOAD")
        .no_leak(&["PLANTED"]);
}

/// ECS `valueFrom` forms users copy from task definitions, and Metaflow's
/// spellings: an empty json-key gives the whole value; env_var_name renames
/// a selected key; `aws-secrets-manager.ARN` works; a region option that
/// contradicts the ARN is refused.
#[test]
fn forms_users_copy_from_ecs_and_metaflow() {
    let arn = create(
        "forms/ecs-copy",
        Value::Text(r#"{"password": "p", "user": "u"}"#),
    );
    // ARN::: (and ARN::STAGE:) is the whole value, one variable named
    // after the secret or env_var_name.
    let env = secretexec()
        .args(["-s", &format!("{arn}:::"), "--", "env", "-0"])
        .run()
        .env();
    assert_eq!(env["forms_ecs_copy"], r#"{"password": "p", "user": "u"}"#);
    let env = secretexec()
        .args(["-s", &format!("{arn}::AWSCURRENT:"), "--", "env", "-0"])
        .run()
        .env();
    assert_eq!(env["forms_ecs_copy"], r#"{"password": "p", "user": "u"}"#);
    // env_var_name next to a json-key renames that variable.
    let spec = format!(r#"{{"id": "{arn}:password::", "options": {{"env_var_name": "DB_PASS"}}}}"#);
    let env = secretexec()
        .args(["-s", &spec, "--", "env", "-0"])
        .run()
        .env();
    assert_eq!(env["DB_PASS"], "p");
    assert!(!env.contains_key("password"));
    // Metaflow's string form with an ARN.
    let env = secretexec()
        .args([
            "-s",
            &format!("aws-secrets-manager.{arn}"),
            "--",
            "env",
            "-0",
        ])
        .run()
        .env();
    assert_eq!(env["password"], "p");
    // A region option contradicting the ARN has no effect: refused.
    let spec = format!(r#"{{"id": "{arn}", "options": {{"region": "eu-west-1"}}}}"#);
    secretexec()
        .args(["-s", &spec, "--", "true"])
        .run()
        .fails_with("option 'region' is 'eu-west-1' but the ARN's region is 'us-east-1'");
}
