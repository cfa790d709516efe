//! Resolve the command on the child's PATH and `execve` it with the built
//! environment, so the command keeps secretexec's PID, receives signals
//! directly and its exit status is the job's.
//!
//! The search is done here, not by `execvpe`: glibc's `execvpe` searches the
//! caller's PATH, while `env(1)` (and users) expect the PATH the command
//! will run with. Like `execvp`, a file that is not a binary and has no `#!`
//! line (ENOEXEC) is run by `/bin/sh`. The same [`Program`] is used by a
//! plain run and by `--init`'s child, so both run and fail alike.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::libc::{self, c_char};

use crate::error::Error;

/// glibc's `confstr(_CS_PATH)`, what `execvp` uses when PATH is unset.
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// A command ready to be executed: every string and pointer array built in
/// advance, so that [`Program::exec`] allocates nothing and is safe to call
/// between `fork` and `exec` (`--init`), where another thread may hold the
/// allocator's lock.
pub struct Program {
    shown: String,
    candidates: Vec<CString>,
    _strings: (Vec<CString>, Vec<CString>, CString),
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
    /// `/bin/sh CANDIDATE ARG...`, for a file the kernel cannot run
    /// (ENOEXEC): slot 1 is set to each candidate in turn.
    sh_argv: Vec<*const c_char>,
}

/// Why a command could not start; small and `Copy` so the child of
/// `--init` can send it to its parent through a pipe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Failure {
    NotFound,
    /// A candidate exists, but the interpreter its `#!` line names does not.
    BadInterpreter,
    Errno(i32),
}

impl Program {
    pub fn new(command: &[OsString], env: &[(OsString, OsString)]) -> Self {
        let (argv, envp) = c_args(command, env);
        let sh = cstring(b"/bin/sh");
        let candidates: Vec<CString> = candidates(&command[0], env)
            .iter()
            .map(|c| cstring(c.as_os_str().as_bytes()))
            .collect();
        let pointers = |v: &[CString]| {
            v.iter()
                .map(|s| s.as_ptr())
                .chain([std::ptr::null()])
                .collect::<Vec<_>>()
        };
        let argv_p = pointers(&argv);
        let envp_p = pointers(&envp);
        let mut sh_argv = vec![sh.as_ptr(), std::ptr::null()];
        sh_argv.extend(argv_p.iter().skip(1));
        Program {
            shown: command[0].to_string_lossy().into_owned(),
            candidates,
            _strings: (argv, envp, sh),
            argv: argv_p,
            envp: envp_p,
            sh_argv,
        }
    }

    /// Replace this process with the command, trying each candidate as
    /// `execvp` does. Returns only on failure. Allocates nothing.
    pub fn exec(&mut self) -> Failure {
        let mut remembered = None;
        for candidate in &self.candidates {
            let errno = unsafe {
                libc::execve(candidate.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr());
                match Errno::last() {
                    // Neither a binary nor a `#!` script: sh runs it, as
                    // execvp does.
                    Errno::ENOEXEC => {
                        self.sh_argv[1] = candidate.as_ptr();
                        libc::execve(self.sh_argv[0], self.sh_argv.as_ptr(), self.envp.as_ptr());
                        Errno::last()
                    }
                    errno => errno,
                }
            };
            match errno {
                // The file is there, so what is missing is its interpreter.
                Errno::ENOENT if unsafe { libc::access(candidate.as_ptr(), libc::F_OK) } == 0 => {
                    remembered.get_or_insert(Failure::BadInterpreter);
                }
                Errno::ENOENT | Errno::ENOTDIR => {}
                // As execvp does: remember, keep searching, report it if
                // nothing else on PATH runs.
                Errno::EACCES => {
                    remembered.get_or_insert(Failure::Errno(errno as i32));
                }
                errno => return Failure::Errno(errno as i32),
            }
        }
        remembered.unwrap_or(Failure::NotFound)
    }

    pub fn error(&self, failure: Failure) -> Error {
        let command = self.shown.clone();
        match failure {
            Failure::NotFound => Error::NotFound(command),
            Failure::BadInterpreter => Error::NotExecutable {
                command,
                reason: "bad interpreter: the program its #! line names does not exist".into(),
            },
            Failure::Errno(errno) => Error::NotExecutable {
                command,
                reason: Errno::from_raw(errno).desc().to_lowercase(),
            },
        }
    }
}

impl Failure {
    /// Five bytes: a tag and the errno.
    pub fn encode(self) -> [u8; 5] {
        let (tag, errno) = match self {
            Failure::NotFound => (0, 0),
            Failure::BadInterpreter => (1, 0),
            Failure::Errno(e) => (2, e),
        };
        let e = errno.to_le_bytes();
        [tag, e[0], e[1], e[2], e[3]]
    }

    pub fn decode(bytes: [u8; 5]) -> Self {
        match bytes[0] {
            0 => Failure::NotFound,
            1 => Failure::BadInterpreter,
            _ => Failure::Errno(i32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]])),
        }
    }

    /// The shell's convention: 127 not found, 126 found but not runnable.
    pub fn exit_code(self) -> i32 {
        match self {
            Failure::NotFound => 127,
            _ => 126,
        }
    }
}

/// Replace this process with `command`. Returns only on failure.
pub fn exec(command: &[OsString], env: &[(OsString, OsString)]) -> Error {
    let mut program = Program::new(command, env);
    let failure = program.exec();
    program.error(failure)
}

/// argv and envp as C strings, built before any fork or exec.
fn c_args(command: &[OsString], env: &[(OsString, OsString)]) -> (Vec<CString>, Vec<CString>) {
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
