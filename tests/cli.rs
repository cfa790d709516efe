//! The user-facing text, snapshotted: `--help`, `--version` and every usage
//! error. A change to any of it shows up as a diff of `tests/golden/`;
//! regenerate with `UPDATE_GOLDEN=1 cargo test --test cli`.

mod common;

use common::secretexec;

fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert!(
        expected == actual,
        "{name} differs from the golden file; if intended, run UPDATE_GOLDEN=1\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

#[test]
fn help_goes_to_stdout_and_wins_over_everything() {
    let mut seen = None;
    for args in [
        &["--help"][..],
        &["-h"],
        &["--bogus", "-h"],
        &["-s", "not a valid spec", "--help", "--", "cmd"],
    ] {
        // No AWS environment at all: help needs none.
        let out = secretexec()
            .no_moto()
            .env_remove("AWS_REGION")
            .args(args)
            .run();
        out.ok();
        assert_eq!(out.stderr, "", "{args:?}");
        let text = out.stdout();
        if let Some(first) = &seen {
            assert_eq!(&text, first, "{args:?}");
        }
        seen = Some(text);
    }
    golden("help.txt", &seen.unwrap());
}

#[test]
fn version_goes_to_stdout() {
    for flag in ["--version", "-V"] {
        let out = secretexec().no_moto().args([flag]).run();
        out.ok();
        assert_eq!(
            out.stdout(),
            format!("secretexec {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn help_after_dash_dash_belongs_to_the_command() {
    let out = secretexec()
        .no_moto()
        .args(["--", "sh", "-c", "echo child got $1", "sh", "--help"])
        .run();
    out.ok();
    assert_eq!(out.stdout(), "child got --help\n");
}

#[test]
fn usage_errors() {
    let cases: &[&[&str]] = &[
        &[],
        &["-s", "db"],
        &["-s", "db", "--"],
        &["--bogus", "--", "true"],
        &["python", "step.py"],
        &["--source"],
        &["--timeout", "soon", "--", "true"],
        &["--region", "Mars 1", "--", "true"],
        &["--role", "reader", "--", "true"],
        &["-s", "my secret", "--", "true"],
        &[
            "-s",
            "{\"id\": \"db\", \"options\": {\"jsn\": false}}",
            "--",
            "true",
        ],
        &["-s", "{\"id\": \"db\"", "--", "true"],
        &["--export", "yaml"],
        &["--export", "json", "--", "true"],
        &["--dry-run", "--export", "json"],
        &["--keep", "HOME", "--", "true"],
        &["-s", "file:", "--", "true"],
    ];
    let mut transcript = String::new();
    for args in cases {
        let out = secretexec().no_moto().args(*args).run();
        out.code(125);
        assert_eq!(out.stdout(), "", "{args:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        transcript.push_str(&format!(
            "$ secretexec {}\n{}\n",
            args.join(" "),
            out.stderr
        ));
    }
    golden("usage.txt", &transcript);
}
