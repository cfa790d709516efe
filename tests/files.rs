//! `--files DIR`: values as files (byte-exact, binary too), modes, the
//! tmpfs rule, never replacing a file secretexec did not write, atomic
//! replacement, cleanup with `--init` however the command ends, and no
//! value in the command's environment.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Value, create, secretexec, tempdir};

/// A fresh directory path on tmpfs (/dev/shm), not yet created.
fn shm(name: &str) -> PathBuf {
    let dir = PathBuf::from(format!(
        "/dev/shm/secretexec-test-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn values_become_files_and_names_become_name_file() {
    let bytes: Vec<u8> = (0..=255u8).chain([0, 0xff, b'\n']).collect();
    create("files/bin", Value::Bytes(&bytes));
    create(
        "files/json",
        Value::Text(r#"{"DB_PASSWORD": "PLANTED-pw\nline 2 'q' $HOME", "DB_USER": "admin"}"#),
    );
    let dir = shm("values");
    let out = secretexec()
        .args(["--files", dir.to_str().unwrap()])
        .args([
            "-s",
            "files/json",
            "-s",
            r#"{"id": "files/bin", "options": {"env_var_name": "KEYSTORE"}}"#,
        ])
        .args(["--", "env", "-0"])
        .run();
    // The command's environment holds paths, never the values.
    out.no_leak(&["PLANTED-pw", "admin"]);
    let env = out.env();
    for name in ["DB_PASSWORD", "DB_USER", "KEYSTORE"] {
        assert!(!env.contains_key(name), "{name} in the environment");
        assert_eq!(
            env[&format!("{name}_FILE")],
            dir.join(name).to_str().unwrap()
        );
        assert_eq!(mode(&dir.join(name)), 0o400, "{name}");
    }
    assert_eq!(
        std::fs::read(dir.join("DB_PASSWORD")).unwrap(),
        b"PLANTED-pw\nline 2 'q' $HOME"
    );
    assert_eq!(std::fs::read(dir.join("DB_USER")).unwrap(), b"admin");
    // SecretBinary: its raw bytes, not base64.
    assert_eq!(std::fs::read(dir.join("KEYSTORE")).unwrap(), bytes);
    assert_eq!(mode(&dir), 0o700);
    // No temporary file left behind.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [".secretexec", "DB_PASSWORD", "DB_USER", "KEYSTORE"]);

    // A group: 0440 files, a 0750 directory, owned by it.
    let dir = shm("group");
    secretexec()
        .args(["--files", dir.to_str().unwrap(), "--files-group", "4321"])
        .args(["-s", "files/json", "--", "true"])
        .run()
        .ok();
    assert_eq!(mode(&dir), 0o750);
    assert_eq!(mode(&dir.join("DB_USER")), 0o440);
    assert_eq!(std::fs::metadata(dir.join("DB_USER")).unwrap().gid(), 4321);
    assert_eq!(std::fs::metadata(&dir).unwrap().gid(), 4321);
}

#[test]
fn a_disk_directory_and_foreign_files_are_refused() {
    create(
        "files/refuse",
        Value::Text(r#"{"REFUSED": "PLANTED-refused"}"#),
    );
    let marker = tempdir("files-refuse").join("ran");
    let touch = format!("touch {}", marker.display());
    // The test's target directory is on a disk filesystem.
    let disk = tempdir("files-disk").join("secrets");
    secretexec()
        .args(["--files", disk.to_str().unwrap(), "-s", "files/refuse"])
        .args(["--", "sh", "-c", &touch])
        .run()
        .fails_with("not on tmpfs or ramfs")
        .no_leak(&["PLANTED-refused"]);
    assert!(!disk.join("REFUSED").exists());
    // ... unless the user says so.
    secretexec()
        .args(["--files", disk.to_str().unwrap(), "--files-on-disk"])
        .args(["-s", "files/refuse", "--", "true"])
        .run()
        .ok();
    assert_eq!(
        std::fs::read(disk.join("REFUSED")).unwrap(),
        b"PLANTED-refused"
    );

    // A file secretexec did not write is never replaced, and nothing runs.
    let dir = shm("foreign");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("REFUSED"), "someone else's").unwrap();
    secretexec()
        .args(["--files", dir.to_str().unwrap(), "-s", "files/refuse"])
        .args(["--", "sh", "-c", &touch])
        .run()
        .fails_with("REFUSED exists and was not written by secretexec");
    assert_eq!(
        std::fs::read(dir.join("REFUSED")).unwrap(),
        b"someone else's"
    );
    // NAME_FILE already set is a collision like any other.
    secretexec()
        .env("REFUSED_FILE", "/etc/passwd")
        .args([
            "--files",
            shm("set").to_str().unwrap(),
            "-s",
            "files/refuse",
        ])
        .args(["--", "sh", "-c", &touch])
        .run()
        .fails_with("REFUSED_FILE");
    assert!(!marker.exists(), "the command ran");
    // Flags that need --files, and --files with --export.
    secretexec()
        .no_moto()
        .args(["--files-on-disk", "--", "true"])
        .run()
        .fails_with("apply only with --files DIR");
    secretexec()
        .no_moto()
        .args(["--files", "/dev/shm/x", "--export", "dotenv"])
        .run()
        .fails_with("use one");
}

/// A second run rewrites its own files; a reader never sees half a file.
#[test]
fn files_are_replaced_atomically() {
    let a = "a".repeat(256 * 1024);
    let b = "b".repeat(256 * 1024);
    create(
        "files/atomic-a",
        Value::Text(&format!(r#"{{"BIG": "{a}"}}"#)),
    );
    create(
        "files/atomic-b",
        Value::Text(&format!(r#"{{"BIG": "{b}"}}"#)),
    );
    let dir = shm("atomic");
    let write = |secret: &str| {
        secretexec()
            .args(["--files", dir.to_str().unwrap(), "-s", secret, "--", "true"])
            .run()
            .ok();
    };
    write("files/atomic-a");
    let path = dir.join("BIG");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (path, stop, a, b) = (path.clone(), stop.clone(), a.clone(), b.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(
                    text == a || text == b,
                    "a torn read of {} bytes",
                    text.len()
                );
                reads += 1;
            }
            reads
        })
    };
    for i in 0..10 {
        write(if i % 2 == 0 {
            "files/atomic-b"
        } else {
            "files/atomic-a"
        });
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 10);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), a);
}

/// With `--init`, the files go when the command ends, however it ends.
#[test]
fn init_removes_the_files_however_the_command_ends() {
    create("files/init", Value::Text(r#"{"TOKEN": "PLANTED-init"}"#));
    let init = |dir: &Path| {
        secretexec().args([
            "--init",
            "--files",
            dir.to_str().unwrap(),
            "-s",
            "files/init",
        ])
    };
    // A normal exit, with the command's status.
    let dir = shm("init-exit");
    let out = init(&dir)
        .args([
            "--",
            "sh",
            "-c",
            "test \"$(cat \"$TOKEN_FILE\")\" = PLANTED-init && exit 7",
        ])
        .run();
    out.code(7);
    assert!(!dir.exists(), "files left after a normal exit");

    // SIGTERM to secretexec (forwarded), and the command killed outright.
    for (case, signal_secretexec) in [("term", true), ("kill", false)] {
        let dir = shm(&format!("init-{case}"));
        let ready = dir.join("TOKEN");
        let scratch = tempdir(&format!("files-init-{case}"));
        let mut child = init(&dir)
            .args([
                "--",
                "sh",
                "-c",
                "echo $$ > \"$TOKEN_FILE.pid\"; exec sleep 60",
            ])
            .spawn(&scratch.join("stdout"), &scratch.join("stderr"));
        // The .pid file is written by the command; wait for it.
        let pid_file = PathBuf::from(format!("{}.pid", ready.display()));
        let started = Instant::now();
        while std::fs::read_to_string(&pid_file).map_or(true, |p| p.trim().is_empty()) {
            assert!(started.elapsed() < Duration::from_secs(20), "never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(ready.exists());
        let command: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let (pid, signal) = if signal_secretexec {
            (child.id() as i32, libc::SIGTERM)
        } else {
            (command, libc::SIGKILL)
        };
        unsafe { libc::kill(pid, signal) };
        let status = child.wait().unwrap();
        assert!(status.code().is_some(), "{case}: {status:?}");
        assert!(!ready.exists(), "{case}: the file is left");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn without_init_the_files_stay_for_the_command() {
    create("files/stay", Value::Text(r#"{"STAY": "PLANTED-stay"}"#));
    let dir = shm("stay");
    let out = secretexec()
        .args(["--files", dir.to_str().unwrap(), "-s", "files/stay"])
        .args(["--", "sh", "-c", "cat \"$STAY_FILE\""])
        .run();
    out.ok();
    assert_eq!(out.stdout(), "PLANTED-stay");
    assert!(dir.join("STAY").exists());
    // A command that cannot start leaves no file behind.
    let dir = shm("missing");
    secretexec()
        .args(["--files", dir.to_str().unwrap(), "-s", "files/stay"])
        .args(["--", "/nonexistent/command"])
        .run()
        .code(127);
    assert!(!dir.join("STAY").exists());
    // --dry-run checks the directory and writes nothing.
    let dir = shm("dry");
    let out = secretexec()
        .args([
            "--files",
            dir.to_str().unwrap(),
            "-s",
            "files/stay",
            "--dry-run",
        ])
        .run();
    out.ok().no_leak(&["PLANTED-stay"]);
    assert_eq!(out.stdout(), "STAY_FILE\tfiles/stay\n");
    assert!(!dir.join("STAY").exists());
}
