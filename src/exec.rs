//! Resolve the command on the child's PATH and `execve` it with the built
//! environment, so the command keeps secretexec's PID, receives signals
//! directly and its exit status is the job's.
//!
//! The search is done here, not by `execvpe`: glibc's `execvpe` searches the
//! caller's PATH, while `env(1)` (and users) expect the PATH the command
//! will run with. Like `execvp`, a file that is not a binary and has no `#!`
//! line (ENOEXEC) is run by `/bin/sh`.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::unistd::execve;

use crate::error::Error;

/// glibc's `confstr(_CS_PATH)`, what `execvp` uses when PATH is unset.
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// Replace this process with `command`. Returns only on failure.
pub fn exec(command: &[OsString], env: &[(OsString, OsString)]) -> Error {
    let program = &command[0];
    let shown = program.to_string_lossy().into_owned();
    let (argv, envp) = c_args(command, env);

    let mut denied = None;
    for candidate in candidates(program, env) {
        let path = cstring(candidate.as_os_str().as_bytes());
        let errno = match execve(&path, &argv, &envp) {
            Err(Errno::ENOEXEC) => run_by_shell(&path, &argv, &envp),
            Err(errno) => errno,
        };
        match errno {
            Errno::ENOENT | Errno::ENOTDIR => continue,
            // As execvp does: remember, keep searching, report it if
            // nothing else on PATH runs.
            Errno::EACCES => denied = Some(errno),
            errno => {
                return Error::NotExecutable {
                    command: shown,
                    reason: errno.desc().to_lowercase(),
                };
            }
        }
    }
    match denied {
        Some(errno) => Error::NotExecutable {
            command: shown,
            reason: errno.desc().to_lowercase(),
        },
        None => Error::NotFound(shown),
    }
}

/// argv and envp as C strings, built before any fork or exec.
pub fn c_args(command: &[OsString], env: &[(OsString, OsString)]) -> (Vec<CString>, Vec<CString>) {
    let argv = command.iter().map(|a| cstring(a.as_bytes())).collect();
    let envp = env
        .iter()
        .map(|(k, v)| cstring(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
        .collect();
    (argv, envp)
}

/// Where `command` would be found, for `--dry-run`: the first candidate
/// that is a file with an execute bit, by the same search as [`exec`].
pub fn resolve(command: &[OsString], env: &[(OsString, OsString)]) -> Result<PathBuf, Error> {
    use std::os::unix::fs::PermissionsExt;
    let program = &command[0];
    let shown = program.to_string_lossy().into_owned();
    let mut denied = false;
    for candidate in candidates(program, env) {
        match std::fs::metadata(&candidate) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => return Ok(candidate),
            Ok(_) => denied = true,
            Err(_) => {}
        }
    }
    Err(if denied {
        Error::NotExecutable {
            command: shown,
            reason: "permission denied".into(),
        }
    } else {
        Error::NotFound(shown)
    })
}

fn run_by_shell(path: &CString, argv: &[CString], envp: &[CString]) -> Errno {
    let mut sh_argv = vec![cstring(b"/bin/sh"), path.clone()];
    sh_argv.extend(argv.iter().skip(1).cloned());
    match execve(&sh_argv[0], &sh_argv, envp) {
        Err(errno) => errno,
    }
}

/// Where to look for `program`: itself when it holds a `/`, else each
/// directory of the child's PATH (an empty entry is the current directory).
fn candidates(program: &OsStr, env: &[(OsString, OsString)]) -> Vec<PathBuf> {
    if program.is_empty() {
        return Vec::new();
    }
    if program.as_bytes().contains(&b'/') {
        return vec![program.into()];
    }
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| DEFAULT_PATH.into());
    path.as_bytes()
        .split(|&b| b == b':')
        .map(|dir| {
            let dir = if dir.is_empty() { b".".as_slice() } else { dir };
            Path::new(OsStr::from_bytes(dir)).join(program)
        })
        .collect()
}

/// Arguments and environment entries come from the OS or passed the NUL
/// check of `secret`, so they hold no NUL; were one there, it would cut
/// the string short rather than let us panic.
fn cstring(bytes: &[u8]) -> CString {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    CString::new(bytes[..end].to_vec()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    fn env(path: Option<&str>) -> Vec<(OsString, OsString)> {
        path.map(|p| vec![("PATH".into(), p.into())])
            .unwrap_or_default()
    }

    #[test]
    fn candidate_paths() {
        let cases: &[(&str, Option<&str>, &[&str])] = &[
            ("ls", Some("/a:/b"), &["/a/ls", "/b/ls"]),
            ("ls", Some("/a::/b"), &["/a/ls", "./ls", "/b/ls"]),
            ("ls", None, &["/bin/ls", "/usr/bin/ls"]),
            ("./x", Some("/a"), &["./x"]),
            ("/usr/bin/env", Some("/a"), &["/usr/bin/env"]),
            ("", Some("/a"), &[]),
        ];
        for (program, path, want) in cases {
            let got = candidates(OsStr::new(program), &env(*path));
            let want: Vec<std::path::PathBuf> = want.iter().map(Into::into).collect();
            assert_eq!(got, want, "{program} {path:?}");
        }
    }

    #[test]
    fn cstring_stops_at_nul() {
        assert_eq!(cstring(b"a=b\0c").as_bytes(), b"a=b");
        assert_eq!(OsString::from_vec(cstring(b"x").into_bytes()), "x");
    }
}
