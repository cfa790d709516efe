//! The one error type of secretexec and its exit codes.
//!
//! Every failure of ours exits 125, the convention of `env(1)`, `chroot(1)`
//! and tini, so that it cannot be mistaken for the command's own status;
//! 126 and 127 follow the shell's meaning for "found but not executable" and
//! "not found". Messages carry names, sources and AWS error codes only:
//! nothing that reaches this type may hold a secret value.

use std::fmt;
use std::time::Duration;

#[derive(Debug)]
pub enum Error {
    /// A mistake on the command line; the message says how to write it.
    Usage(String),
    /// A source spec that cannot be used, found before any network call.
    Spec { spec: String, reason: String },
    /// Fetching a source failed; `source` is its label, unquoted (AWS error, credentials, region, STS).
    Fetch { source: String, reason: String },
    /// A fetched value cannot become variables (bad JSON, bad key, NUL).
    Value { source: String, reason: String },
    /// The merged environment breaks a rule (duplicate, collision, refused).
    Merge(String),
    /// `--init` could not set up its supervision.
    Init(String),
    /// Writing `--export` or `--dry-run` output failed.
    Output(String),
    /// `--timeout` ran out; names (unquoted labels) what was still pending.
    Timeout {
        after: Duration,
        pending: Vec<String>,
    },
    /// The command does not exist on the child's PATH.
    NotFound(String),
    /// The command exists but cannot be executed.
    NotExecutable { command: String, reason: String },
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::NotFound(_) => 127,
            Error::NotExecutable { .. } => 126,
            _ => 125,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(
                f,
                "{msg} (usage: secretexec [OPTIONS] -- COMMAND [ARG]...; see --help)"
            ),
            Error::Spec { spec, reason } => write!(f, "bad source {spec}: {reason}"),
            Error::Fetch { source, reason } | Error::Value { source, reason } => {
                write!(f, "source {}: {reason}", quote(source))
            }
            Error::Merge(msg) => f.write_str(msg),
            Error::Output(e) => write!(f, "cannot write the output: {e}"),
            Error::Init(e) => write!(f, "--init: {e}"),
            Error::Timeout { after, pending } => {
                write!(f, "timed out after {}", crate::cli::format_duration(*after))?;
                if !pending.is_empty() {
                    let pending: Vec<String> = pending.iter().map(|p| quote(p)).collect();
                    write!(f, " waiting for {}", pending.join(", "))?;
                }
                f.write_str(" (raise it with --timeout)")
            }
            Error::NotFound(cmd) => write!(f, "{cmd}: command not found"),
            Error::NotExecutable { command, reason } => {
                write!(f, "{command}: cannot execute: {reason}")
            }
        }
    }
}

/// Quote a user-supplied string for a message, escaping anything that could
/// break the one-line format (control characters, quotes).
pub fn quote(s: &str) -> String {
    format!("'{}'", s.escape_debug())
}
