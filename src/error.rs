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
    /// The AWS configuration cannot be used (an endpoint without a scheme,
    /// an unreadable CA bundle, a bad retry setting).
    Config(String),
    /// `--init` could not set up its supervision.
    Init(String),
    /// Writing `--export` or `--dry-run` output failed.
    Output(String),
    /// `--files`: the directory or a file cannot be used or written.
    Files(String),
    /// `--timeout` ran out; names (unquoted labels) what was still pending.
    Timeout {
        after: Duration,
        pending: Vec<String>,
        /// How the last failed attempt of a pending source failed, if one did.
        last_failure: Option<String>,
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
            Error::Merge(msg) | Error::Config(msg) => f.write_str(msg),
            Error::Output(e) => write!(f, "cannot write the output: {e}"),
            Error::Init(e) => write!(f, "--init: {e}"),
            Error::Files(e) => write!(f, "--files: {e}"),
            Error::Timeout {
                after,
                pending,
                last_failure,
            } => {
                write!(f, "timed out after {}", crate::cli::format_duration(*after))?;
                if !pending.is_empty() {
                    let pending: Vec<String> = pending.iter().map(|p| quote(p)).collect();
                    write!(f, " waiting for {}", pending.join(", "))?;
                }
                match last_failure {
                    Some(failure) => write!(f, "; the last attempt failed: {failure}"),
                    None => f.write_str(" (raise it with --timeout)"),
                }
            }
            Error::NotFound(cmd) => write!(f, "{cmd}: command not found"),
            Error::NotExecutable { command, reason } => {
                write!(f, "{command}: cannot execute: {reason}")
            }
        }
    }
}

/// A message for the terminal with every control character escaped
/// (`\n`, `\u{1b}`, ...): AWS error messages, endpoints and OS errors come
/// from outside, and a newline or an escape sequence in them must not
/// break the one-line format or drive the terminal.
pub fn escape_controls(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// Quote a user-supplied string for a message, escaping anything that could
/// break the one-line format (control characters, quotes).
pub fn quote(s: &str) -> String {
    format!("'{}'", s.escape_debug())
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            escape_controls("a\nb\u{1b}[31mc\td é"),
            "a\\nb\\u{1b}[31mc\\td é"
        );
        assert_eq!(escape_controls("plain 'text'"), "plain 'text'");
    }
}
