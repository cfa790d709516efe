//! Completions and the man page are written by hand; these tests keep them
//! in step with `--help`: every flag the help shows appears in each, the
//! bash completion parses, and `man -l` renders the page.

mod common;

use std::path::Path;
use std::process::Command;

use common::secretexec;

/// Every `--flag` (and `-x` short flag) of the Options section of --help.
fn help_flags() -> Vec<String> {
    let out = secretexec().no_moto().args(["--help"]).run();
    out.ok();
    let help = out.stdout();
    let options = help
        .split("Options:")
        .nth(1)
        .and_then(|rest| rest.split("Environment:").next())
        .expect("an Options section");
    let mut flags: Vec<String> = options
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| (w.starts_with("--") && w.len() > 2) || (w.len() == 2 && w.starts_with('-')))
        .map(String::from)
        .collect();
    flags.sort();
    flags.dedup();
    assert!(flags.len() >= 15, "{flags:?}");
    flags
}

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

#[test]
fn every_help_flag_is_in_each_completion_and_the_man_page() {
    let files = [
        "packaging/completions/secretexec.bash",
        "packaging/completions/_secretexec",
        "packaging/completions/secretexec.fish",
        "packaging/man/secretexec.1",
    ];
    for flag in help_flags() {
        for file in files {
            let text = read(file);
            let found = if file.ends_with(".fish") {
                // fish names flags without dashes: `-l dry-run`, `-s v`.
                let (kind, name) = match flag.strip_prefix("--") {
                    Some(long) => ("-l", long.to_string()),
                    None => ("-s", flag[1..].to_string()),
                };
                text.contains(&format!("{kind} {name}"))
            } else if file.ends_with(".1") {
                text.contains(&flag.replace('-', "\\-"))
            } else if file.contains("/_") && !flag.starts_with("--") {
                // zsh lists short and long together: {-v,--verbose}.
                text.contains(&format!("{{{flag},"))
            } else {
                text.contains(&flag)
            };
            assert!(found, "{flag} is missing from {file}");
        }
    }
}

#[test]
fn the_bash_completion_parses_and_completes() {
    let script = format!(
        "source {}; COMP_WORDS=(secretexec --dr); COMP_CWORD=1; _secretexec; echo \"${{COMPREPLY[@]}}\"",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("packaging/completions/secretexec.bash")
            .display()
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "--dry-run");
}

#[test]
fn the_man_page_renders() {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/man/secretexec.1");
    let out = Command::new("man")
        .args(["-l", "-P", "cat"])
        .arg(&page)
        .env("MANWIDTH", "80")
        .output()
        .expect("man is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for section in ["NAME", "SYNOPSIS", "OPTIONS", "ENVIRONMENT", "EXIT STATUS"] {
        assert!(text.contains(section), "{section} missing:\n{text}");
    }
    assert!(text.contains("--dry-run") && text.contains("125"), "{text}");
}
