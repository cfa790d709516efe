//! First contact: `make demo` installs only what the demo needs, and every
//! install step works for a user who is not root (or says, in one line,
//! what to install). The installers are run against stand-in `python3`
//! and `apt-get` commands that record what they were asked to do.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A bin directory whose `python3` says every module is missing and logs
/// `pip install` calls, and whose `apt-get` logs what it would install.
fn stand_ins(name: &str) -> (PathBuf, PathBuf) {
    // Under /tmp, which the unprivileged user can reach wherever the
    // checkout is.
    let dir =
        std::env::temp_dir().join(format!("secretexec-scripts-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // World-writable, so the unprivileged user can log too.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let log = dir.join("log");
    let script = |file: &str, body: &str| {
        let path = dir.join(file);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    script(
        "python3",
        &format!(
            "case \"$1 $2\" in '-m pip') echo \"pip $*\" >> {0}; exit 0;; esac; exit 1",
            log.display()
        ),
    );
    script(
        "apt-get",
        &format!("echo \"apt-get $*\" >> {}", log.display()),
    );
    std::fs::copy(
        Path::new(ROOT).join("scripts/install.sh"),
        dir.join("install.sh"),
    )
    .unwrap();
    (dir, log)
}

fn run(dir: &Path, as_nobody: bool, script: &str) -> Output {
    let path = format!("{}:/usr/bin:/bin", dir.display());
    let mut cmd = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "bash",
            "-c",
        ]);
        c
    } else {
        let mut c = Command::new("bash");
        c.arg("-c");
        c
    };
    cmd.arg(script)
        .current_dir(if as_nobody { dir } else { Path::new(ROOT) })
        .env("PATH", path)
        .env("HOME", dir)
        .output()
        .unwrap()
}

#[test]
fn the_demo_installs_only_moto() {
    let (dir, log) = stand_ins("demo");
    let out = run(&dir, false, "scripts/test-deps.sh demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(log).unwrap();
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(log.contains("moto[server]"), "{log}");
    for not_needed in ["maturin", "wheel", "dotenv", "rpm"] {
        assert!(!log.contains(not_needed), "{log}");
    }
}

#[test]
fn installs_work_without_root() {
    if unsafe { libc::geteuid() } != 0 {
        return; // setpriv needs root to drop to another user
    }
    let (dir, log) = stand_ins("nobody");
    // pip: into the user's site.
    let out = run(&dir, true, ". ./install.sh; pip_install 'moto[server]'");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("install --quiet --user moto[server]"),
        "{logged}"
    );
    // apt: no root and no sudo, so one line naming the package.
    let out = run(&dir, true, ". ./install.sh; apt_install rpm");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "secretexec: missing Debian package(s) rpm: install them (apt-get install rpm) and run this again\n"
    );
    assert!(!std::fs::read_to_string(&log).unwrap().contains("apt-get"));
}
