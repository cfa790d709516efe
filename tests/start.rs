//! The command starts as a shell would start it (SPEC §5), in a plain run
//! and under `--init`: the signal dispositions and mask of the caller, no
//! descriptor of ours, the same lookup (scripts without `#!` run by
//! `/bin/sh`), and a one-line `secretexec:` error with 126/127 when it
//! cannot start. Each case is compared with `env(1)` started the same way.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use common::{BIN, tempdir};

/// How the caller starts us: SIGINT and SIGHUP ignored (as `nohup` or a
/// background job in sh would), SIGUSR2 blocked, and fd 7 left open.
fn caller(program: &str, args: &[&str]) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("SECRETEXEC_SOURCES")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR2);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            // An inherited descriptor the command must still see.
            libc::dup2(2, 7);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {:?}", out.status);
    String::from_utf8(out.stdout).unwrap()
}

const SIGNALS: &[&str] = &["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"];
const FDS: &[&str] = &["ls", "/proc/self/fd"];

#[test]
fn signal_dispositions_and_mask_are_the_callers() {
    let by_env = caller("env", SIGNALS);
    // SIGHUP and SIGINT ignored, SIGUSR2 blocked, as the caller set them.
    assert!(by_env.contains("SigBlk:\t0000000000000800"), "{by_env}");
    assert!(by_env.trim_end().ends_with('3'), "{by_env}");
    for mode in [&["--"][..], &["--init", "--"]] {
        let args: Vec<&str> = mode.iter().chain(SIGNALS).copied().collect();
        assert_eq!(caller(BIN, &args), by_env, "secretexec {mode:?}");
    }
}

#[test]
fn no_descriptor_of_ours_reaches_the_command() {
    let by_env = caller("env", FDS);
    assert!(by_env.lines().any(|fd| fd == "7"), "{by_env}");
    for mode in [&["--"][..], &["--init", "--"]] {
        let args: Vec<&str> = mode.iter().chain(FDS).copied().collect();
        assert_eq!(caller(BIN, &args), by_env, "secretexec {mode:?}");
    }
}

/// `set -o pipefail` scripts see the command die of SIGPIPE (141), as
/// with `env`, not print "Broken pipe" and exit 1.
#[test]
fn a_closed_pipe_ends_the_command_by_sigpipe() {
    for prefix in [
        "env".to_string(),
        format!("{BIN} --"),
        format!("{BIN} --init --"),
    ] {
        let script = format!("set -o pipefail; {prefix} seq 1 1000000 | head -1; echo status=$?");
        let out = Command::new("bash")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "1\nstatus=141\n",
            "{prefix}: stderr {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{prefix}");
    }
}

fn script(dir: &std::path::Path, name: &str, text: &str, mode: u32) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn init_runs_a_script_without_shebang_by_sh() {
    let dir = tempdir("start");
    let path = script(&dir, "no-shebang", "echo ran-by-sh \"$1\"\n", 0o755);
    for mode in [&["--"][..], &["--init", "--"]] {
        let out = common::secretexec()
            .no_moto()
            .args(mode)
            .args([&path, "arg1"])
            .run();
        out.ok();
        assert_eq!(out.stdout(), "ran-by-sh arg1\n", "{mode:?}");
    }
}

/// A command that cannot start gives the same status and one clear line in
/// a plain run and under `--init`.
#[test]
fn spawn_failures_say_why_with_126_or_127() {
    let dir = tempdir("start");
    let bad_interpreter = script(&dir, "bad-interp", "#!/nonexistent/python3\n", 0o755);
    let not_executable = script(&dir, "not-exec", "echo hi\n", 0o644);
    // One 200 KB variable: over the kernel's 128 KiB limit per string, so
    // execve fails with E2BIG.
    let huge = dir.join("huge.env");
    std::fs::write(&huge, format!("HUGE={}\n", "x".repeat(200_000))).unwrap();
    let huge = format!("file:{}", huge.display());
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["no-such-command-xyz"],
            127,
            "no-such-command-xyz: command not found",
        ),
        (vec![&bad_interpreter], 126, "bad interpreter"),
        (vec![&not_executable], 126, "permission denied"),
        (
            vec!["-s", &huge, "--", "true"],
            126,
            "argument list too long",
        ),
    ];
    for (command, code, want) in &cases {
        for mode in [&[][..], &["--init"]] {
            let command = match command.iter().position(|a| *a == "--") {
                Some(_) => command.clone(),
                None => [&["--"][..], command].concat(),
            };
            let out = common::secretexec()
                .no_moto()
                .args(mode)
                .args(&command)
                .run();
            out.code(*code);
            let lines: Vec<&str> = out.stderr.lines().collect();
            assert!(
                lines.len() == 1 && lines[0].starts_with("secretexec: ") && lines[0].contains(want),
                "{mode:?} {command:?}: {:?}",
                out.stderr
            );
        }
    }
}
