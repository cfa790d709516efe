//! `--watch` (with `--init`): a rotated secret restarts or signals the
//! command, or ends the run with status 75; a failing check leaves the
//! command alone; one `DescribeSecret` per source per check and no value
//! read while nothing changes; pinned sources are never checked; memory
//! does not grow over a hundred checks. Debug builds (these tests) allow
//! intervals down to 100 ms; timings have generous margins.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::proxy::{Fault, Proxy};
use common::{Value, create, moto_addr, put_version, secretexec, tempdir};

/// Wait until `f` holds, or fail after `secs` seconds.
fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn files(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = tempdir(name);
    (dir.join("out"), dir.join("stdout"), dir.join("stderr"))
}

/// The command appends "PID VALUE" to `out` when it starts, then sleeps.
fn recorder(out: &Path) -> String {
    format!("echo \"$$ $TOK\" >> {}; exec sleep 60", out.display())
}

#[test]
fn a_rotated_secret_restarts_the_command_with_the_new_value() {
    create("watch/restart", Value::Text(r#"{"TOK": "PLANTED-one"}"#));
    let (out, stdout, stderr) = files("watch-restart");
    let mut child = secretexec()
        .args(["--init", "--watch", "200ms", "-s", "watch/restart"])
        .args(["--", "sh", "-c", &recorder(&out)])
        .spawn(&stdout, &stderr);
    wait_for(10, "the first start", || read(&out).lines().count() == 1);
    put_version(
        "watch/restart",
        r#"{"TOK": "PLANTED-two"}"#,
        &["AWSCURRENT"],
    );
    wait_for(10, "the restart", || read(&out).lines().count() == 2);
    let lines: Vec<String> = read(&out).lines().map(String::from).collect();
    let (first, second) = (
        lines[0].split_once(' ').unwrap(),
        lines[1].split_once(' ').unwrap(),
    );
    assert_eq!((first.1, second.1), ("PLANTED-one", "PLANTED-two"));
    assert_ne!(first.0, second.0, "a new process");
    // A command that exits on its own ends secretexec with its status.
    unsafe { libc::kill(second.0.parse().unwrap(), libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
    let err = read(&stderr);
    assert!(
        err.contains("'watch/restart' changed; restarting the command"),
        "{err}"
    );
    assert!(!err.contains("PLANTED"), "{err}");
}

#[test]
fn a_changed_parameter_restarts_the_command() {
    common::put_parameter("/watch/param", "PLANTED-p1", "SecureString");
    let (out, stdout, stderr) = files("watch-param");
    let script = format!("echo \"$$ $param\" >> {}; exec sleep 60", out.display());
    let mut child = secretexec()
        .args(["-v", "--init", "--watch", "200ms", "-s", "ssm:/watch/param"])
        .args(["--", "sh", "-c", &script])
        .spawn(&stdout, &stderr);
    wait_for(10, "the first start", || read(&out).lines().count() == 1);
    common::put_parameter("/watch/param", "PLANTED-p2", "SecureString");
    wait_for(10, "the restart", || read(&out).lines().count() == 2);
    assert!(read(&out).lines().nth(1).unwrap().ends_with(" PLANTED-p2"));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    let err = read(&stderr);
    assert!(
        err.contains("GetParameter '/watch/param' in us-east-1 (no decryption): version 2"),
        "{err}"
    );
    assert!(!err.contains("PLANTED"), "{err}");
}

#[test]
fn signal_mode_rewrites_the_files_then_signals_the_same_process() {
    create("watch/signal", Value::Text(r#"{"TOK": "PLANTED-one"}"#));
    let (out, stdout, stderr) = files("watch-signal");
    let dir = PathBuf::from(format!("/dev/shm/secretexec-watch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let script = format!(
        "trap 'echo \"$$ $(cat \"$TOK_FILE\")\" >> {out}' HUP; echo \"$$ $(cat \"$TOK_FILE\")\" >> {out}; \
         while :; do sleep 0.05; done",
        out = out.display()
    );
    let mut child = secretexec()
        .args(["--init", "--watch", "200ms", "--on-change", "signal:HUP"])
        .args(["--files", dir.to_str().unwrap(), "-s", "watch/signal"])
        .args(["--", "sh", "-c", &script])
        .spawn(&stdout, &stderr);
    wait_for(10, "the first start", || read(&out).lines().count() == 1);
    put_version("watch/signal", r#"{"TOK": "PLANTED-two"}"#, &["AWSCURRENT"]);
    wait_for(10, "the signal", || read(&out).lines().count() == 2);
    let lines: Vec<String> = read(&out).lines().map(String::from).collect();
    let (first, second) = (
        lines[0].split_once(' ').unwrap(),
        lines[1].split_once(' ').unwrap(),
    );
    assert_eq!(first.0, second.0, "the same process");
    assert_eq!((first.1, second.1), ("PLANTED-one", "PLANTED-two"));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    assert!(!dir.join("TOK").exists(), "files left behind");
}

#[test]
fn exit_mode_stops_the_command_and_exits_75() {
    create("watch/exit", Value::Text(r#"{"TOK": "PLANTED-one"}"#));
    let (out, stdout, stderr) = files("watch-exit");
    let mut child = secretexec()
        .args(["--init", "--watch", "200ms", "--on-change", "exit"])
        .args(["--stop-signal", "INT", "-s", "watch/exit"])
        .args(["--", "sh", "-c", &recorder(&out)])
        .spawn(&stdout, &stderr);
    wait_for(10, "the first start", || read(&out).lines().count() == 1);
    put_version("watch/exit", r#"{"TOK": "PLANTED-two"}"#, &["AWSCURRENT"]);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(75));
    assert_eq!(read(&out).lines().count(), 1, "not started again");
}

/// A check that fails (AWS errors) leaves the command running with its
/// values, says so in one line, and the next check tries again. While
/// nothing changes, each check is one DescribeSecret per watched source and
/// no value is read; a pinned source is never checked.
#[test]
fn checks_are_cheap_and_a_failing_check_leaves_the_command_alone() {
    create("watch/cheap", Value::Text(r#"{"TOK": "PLANTED-one"}"#));
    create(
        "watch/pinned",
        Value::Text(r#"{"PINNED": "PLANTED-pinned"}"#),
    );
    let (out, stdout, stderr) = files("watch-cheap");
    // Every DescribeSecret fails after the first 4, through this proxy; a
    // second one in front counts GetSecretValue.
    let describe = Proxy::start_for(
        moto_addr(),
        "DescribeSecret",
        vec![Fault::Forward; 4],
        Fault::Error(400, "AccessDeniedException"),
    );
    let gets = Proxy::start_for(
        describe
            .endpoint()
            .trim_start_matches("http://")
            .to_string(),
        "GetSecretValue",
        vec![],
        Fault::Forward,
    );
    let pinned = r#"{"id": "watch/pinned", "options": {"version_stage": "AWSCURRENT"}}"#;
    let mut child = secretexec()
        .no_moto()
        .env("AWS_ENDPOINT_URL", gets.endpoint())
        .args([
            "-v",
            "--init",
            "--watch",
            "200ms",
            "-s",
            "watch/cheap",
            "-s",
            pinned,
        ])
        .args(["--", "sh", "-c", &recorder(&out)])
        .spawn(&stdout, &stderr);
    // Now every check fails; the command keeps running, untouched.
    wait_for(10, "a failed check", || {
        read(&stderr).contains("the command keeps running")
    });
    let failure = read(&stderr)
        .lines()
        .find(|l| l.contains("the command keeps running"))
        .unwrap()
        .to_string();
    assert!(
        failure.starts_with(
            "secretexec: --watch: source 'watch/cheap': DescribeSecret: AccessDeniedException"
        ),
        "{failure}"
    );
    assert_eq!(read(&out).lines().count(), 1, "the command was disturbed");
    assert!(child.try_wait().unwrap().is_none());
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    let err = read(&stderr);
    // Four checks answered, each one DescribeSecret; each failed check one
    // more (a denial is not retried); values were read only at start.
    let answered = err.matches("--watch: 'watch/cheap' at version").count();
    let failed = err.matches("the command keeps running").count();
    assert_eq!(answered, 4, "{err}");
    assert_eq!(
        describe.requests(),
        answered + failed,
        "one DescribeSecret per check"
    );
    assert!(
        !err.contains("'watch/pinned' at version"),
        "a pinned source was checked"
    );
    assert_eq!(gets.requests(), 2, "values read only at start");
    assert!(!err.contains("PLANTED"));
}

/// A hundred checks in under 1 GiB of address space, and no growth from
/// the 10th check to the 100th.
#[test]
fn memory_does_not_grow_over_a_hundred_checks() {
    create("watch/memory", Value::Text(r#"{"TOK": "PLANTED-one"}"#));
    let (out, stdout, stderr) = files("watch-memory");
    let mut child = secretexec()
        .limit_memory(1 << 30)
        .args(["-v", "--init", "--watch", "100ms", "-s", "watch/memory"])
        .args(["--", "sh", "-c", &recorder(&out)])
        .spawn(&stdout, &stderr);
    let checks = || read(&stderr).matches("versions checked").count();
    let rss = || {
        let status = read(Path::new(&format!("/proc/{}/status", child.id())));
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap()
    };
    wait_for(30, "10 checks", || checks() >= 10);
    let at_10 = rss();
    wait_for(120, "100 checks", || checks() >= 100);
    let at_100 = rss();
    assert!(child.try_wait().unwrap().is_none(), "secretexec ended");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    eprintln!("RSS {at_10} kB at check 10, {at_100} kB at check 100");
    // Allocator noise is a few hundred KiB; a leak per check would be more.
    assert!(
        at_100 <= at_10 + 512,
        "RSS {at_10} kB at check 10, {at_100} kB at check 100"
    );
}

#[test]
fn watch_options_are_checked_before_anything_runs() {
    for (args, want) in [
        (
            vec!["--watch", "1s", "-s", "x", "--", "true"],
            "--watch needs --init",
        ),
        (
            vec!["--init", "--watch", "10ms", "-s", "x", "--", "true"],
            "is too often",
        ),
        (
            vec!["--on-change", "exit", "-s", "x", "--", "true"],
            "apply only with --watch",
        ),
        (
            vec![
                "--init",
                "--watch",
                "1s",
                "--on-change",
                "reload",
                "-s",
                "x",
                "--",
                "true",
            ],
            "write restart, exit or signal:SIG",
        ),
        (
            vec![
                "--init",
                "--watch",
                "1s",
                "--on-change",
                "signal:NOPE",
                "-s",
                "x",
                "--",
                "true",
            ],
            "is not a signal",
        ),
        (
            vec![
                "--init",
                "--watch",
                "1s",
                "-s",
                "file:/dev/null",
                "--",
                "true",
            ],
            "no source can change",
        ),
    ] {
        secretexec().no_moto().args(&args).run().fails_with(want);
    }
}
