//! `--init`: the command runs as a child; signals are forwarded, zombies
//! reaped, and the child's status (128+N for a signal) is ours. Run for
//! real as PID 1 under `unshare --pid --fork`.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{BIN, Value, create, secretexec};

/// `secretexec --init -- sh -c SCRIPT`, optionally inside a new PID
/// namespace (where secretexec is PID 1).
fn init(script: &str, pid1: bool) -> Command {
    let mut cmd = if pid1 {
        let mut c = Command::new("unshare");
        c.args(["--pid", "--fork", "--mount-proc", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    cmd.args(["--init", "--", "sh", "-c", script]);
    cmd
}

/// [`init`] started with stdout piped.
fn spawn(script: &str, pid1: bool) -> Child {
    init(script, pid1)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The host PID of secretexec: the child itself, or unshare's only child.
fn supervisor_pid(child: &Child, pid1: bool) -> i32 {
    if !pid1 {
        return child.id() as i32;
    }
    let path = format!("/proc/{0}/task/{0}/children", child.id());
    for _ in 0..200 {
        if let Some(pid) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
        {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("unshare started no child");
}

#[test]
fn every_forwarded_signal_reaches_the_command() {
    let signals = [
        (libc::SIGTERM, "TERM"),
        (libc::SIGINT, "INT"),
        (libc::SIGHUP, "HUP"),
        (libc::SIGQUIT, "QUIT"),
        (libc::SIGUSR1, "USR1"),
        (libc::SIGUSR2, "USR2"),
    ];
    for pid1 in [false, true] {
        for (i, (signal, name)) in signals.iter().enumerate() {
            let code = 10 + i as i32;
            let script = format!(
                "trap 'echo got-{name}; exit {code}' {name}; echo ready; while :; do sleep 0.05; done"
            );
            let mut child = spawn(&script, pid1);
            let mut stdout = BufReader::new(child.stdout.take().unwrap());
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            assert_eq!(line, "ready\n", "{name}");
            unsafe { libc::kill(supervisor_pid(&child, pid1), *signal) };
            let status = child.wait().unwrap();
            let mut rest = String::new();
            stdout.read_to_string(&mut rest).unwrap();
            assert_eq!(rest, format!("got-{name}\n"), "{name} pid1={pid1}");
            assert_eq!(status.code(), Some(code), "{name} pid1={pid1}");
        }
    }
}

#[test]
fn exit_statuses_follow_the_child() {
    for pid1 in [false, true] {
        for (script, want) in [
            ("exit 0", 0),
            ("exit 3", 3),
            ("kill -KILL $$", 128 + 9),
            ("kill -TERM $$", 128 + 15),
        ] {
            let status = spawn(script, pid1).wait().unwrap();
            assert_eq!(status.code(), Some(want), "{script} pid1={pid1}");
        }
    }
    // Not found and not executable are reported as a plain run would.
    secretexec()
        .no_moto()
        .args(["--init", "--", "no-such-command-xyz"])
        .run()
        .code(127)
        .stderr_has("command not found");
}

#[test]
fn orphans_are_adopted_and_reaped() {
    // The subshell exits at once, orphaning `sleep`; it must be adopted by
    // secretexec (a subreaper, or PID 1) and reaped once it exits.
    let script = "(sleep 0.3 & echo $! > \"$DIR/orphan\"); sleep 0.1; o=$(cat \"$DIR/orphan\"); \
                  echo adopted-by=$(awk '/^PPid/ {print $2}' /proc/$o/status) me-by=$PPID; \
                  sleep 0.6; if [ -e /proc/$o ]; then grep State /proc/$o/status; else echo reaped; fi";
    for pid1 in [false, true] {
        let dir = common::tempdir("init-orphan");
        let out = init(script, pid1).env("DIR", &dir).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let (adopted, me) = lines[0].split_once(' ').unwrap();
        assert_eq!(
            adopted.trim_start_matches("adopted-by="),
            me.trim_start_matches("me-by="),
            "pid1={pid1}: {text}"
        );
        assert_eq!(lines[1], "reaped", "pid1={pid1}");
        if pid1 {
            assert_eq!(me, "me-by=1", "secretexec is PID 1 in the namespace");
        }
    }
}

#[test]
fn the_child_gets_the_secrets() {
    create("init/db", Value::Text(r#"{"INIT_VAR": "from-secret"}"#));
    let out = secretexec()
        .args([
            "--init",
            "-s",
            "init/db",
            "--",
            "sh",
            "-c",
            "echo $INIT_VAR $PPID",
        ])
        .run();
    out.ok();
    let text = out.stdout();
    let (value, parent) = text.trim().split_once(' ').unwrap();
    assert_eq!(value, "from-secret");
    assert_eq!(parent, out.pid.to_string(), "the command is our child");
}
