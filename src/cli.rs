//! The command line: argv in, raw options out, and the help text.
//!
//! argv is cut at the first `--` before pico-args sees it, because pico-args
//! searches every argument for its keys and would otherwise take the
//! command's own flags (`secretexec -- python -v`) as ours. Nothing here
//! reads the process environment or touches the network, so `--help` and
//! `--version` answer before anything can fail.

use std::ffi::OsString;
use std::time::Duration;

use crate::error::{Error, quote};
use crate::export::Format;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

pub const HELP: &str = "\
secretexec: fetch secrets from AWS Secrets Manager and SSM Parameter Store
into the environment, then execve COMMAND with them (it keeps secretexec's
PID).

Usage:
  secretexec [OPTIONS] -- COMMAND [ARG]...
  secretexec [OPTIONS] --dry-run [-- COMMAND [ARG]...]
  secretexec [OPTIONS] --export dotenv|shell|json

Options:
  -s, --source SPEC       secret to load; repeatable, order kept. SPEC is a
                          NAME, a secret ARN (ECS valueFrom tail allowed),
                          an SSM parameter ssm:/NAME, a path ssm:/PATH/ or
                          an SSM parameter ARN, file:PATH (JSON object or
                          dotenv file), or a JSON object {\"id\": ...,
                          \"type\": ..., \"role\": ..., \"options\": {...}}
      --role ARN          IAM role to assume for sources without their own
                          role [env: SECRETEXEC_ROLE]
      --region REGION     region for sources that name none
                          [env: SECRETEXEC_REGION; else the AWS SDK chain]
      --allow-override    let a secret replace a variable that is already set
      --allow-var NAME    let a secret set NAME even though it changes how
                          programs load (PATH, LD_*, PYTHONPATH, ...);
                          repeatable
      --pristine          give the command only the secrets (and --keep
                          variables), not the inherited environment
      --keep VAR          with --pristine, pass VAR through; repeatable
      --dry-run           fetch and check everything, print one line per
                          variable (NAME<TAB>source, never a value), run
                          nothing; a COMMAND given is looked up on PATH
      --export FORMAT     print the merged secrets as dotenv, shell or json
                          (the only output that shows values), run nothing
      --batch             fetch with BatchGetSecretValue, 20 secrets a call,
                          where no version is selected; falls back to single
                          calls when throttled or denied [env: SECRETEXEC_BATCH=1]
      --cache URL         read Secrets Manager values through the AWS Secrets
                          Manager Agent or Lambda extension at URL (e.g.
                          http://localhost:2773); direct calls when it cannot
                          answer [env: SECRETEXEC_CACHE]
      --cache-token-file PATH
                          the cache's token [default: AWS_TOKEN,
                          AWS_SESSION_TOKEN or AWS_CONTAINER_AUTHORIZATION_TOKEN]
      --from-env          replace every inherited variable whose value is a
                          secret ARN (ECS valueFrom tail allowed) or an SSM
                          parameter ARN by the value it names, keeping the
                          variable's name [env: SECRETEXEC_FROM_ENV=1]
      --files DIR         write each variable NAME to DIR/NAME (mode 0400) and
                          give the command NAME_FILE=DIR/NAME instead of
                          the value; DIR must be on tmpfs or ramfs
      --files-group GID   files 0440 and DIR 0750, owned by group GID
      --files-on-disk     allow the DIR of --files on a disk filesystem
      --init              run COMMAND as a child instead of becoming it:
                          forward TERM INT HUP QUIT USR1 USR2, reap zombies,
                          exit with its status (for PID 1 in containers)
      --watch INTERVAL    with --init, every INTERVAL (10s or more, plus up
                          to 10% jitter) check each source's version without
                          reading it; on a change fetch again, check every
                          rule, then act as --on-change says
      --on-change ACTION  restart (default: stop the command, start it with
                          the new values), signal:SIG (rewrite --files, then
                          send SIG, e.g. signal:HUP) or exit (stop it, exit 75)
      --stop-signal SIG   signal that stops the command [default: TERM]
      --stop-timeout DURATION
                          SIGKILL after this long [default: 10s]
      --timeout DURATION  bound on all fetching, e.g. 10s, 500ms, 2m
                          [default: 30s]
  -v, --verbose           say what is fetched from where, with timings
                          (names only, never values), on stderr
  -h, --help              print this help and exit
  -V, --version           print the version and exit

Environment:
  SECRETEXEC_SOURCES      more sources: a JSON list of specs, one JSON
                          object, or comma-separated specs (taken before
                          --source ones); other SECRETEXEC_* names are errors
  AWS_*                   credentials, profile, region and endpoints, as in
                          every AWS SDK (AWS_ENDPOINT_URL included), and
                          AWS_CA_BUNDLE, AWS_MAX_ATTEMPTS, AWS_RETRY_MODE
                          as in the aws CLI
  HTTPS_PROXY, NO_PROXY   proxies for every AWS call (HTTP_PROXY, ALL_PROXY
                          and lower case too), as in the aws CLI

Exit status:
  the command's own status (secretexec becomes the command), or
  125  secretexec failed (usage, source, AWS, value or merge error);
       the command was not started
  126  the command was found but could not be executed
  127  the command was not found
";

/// The `SECRETEXEC_*` variables secretexec reads.
pub const SETTINGS: &[&str] = &[
    "SECRETEXEC_SOURCES",
    "SECRETEXEC_ROLE",
    "SECRETEXEC_REGION",
    "SECRETEXEC_BATCH",
    "SECRETEXEC_FROM_ENV",
    "SECRETEXEC_CACHE",
];

/// An unknown `SECRETEXEC_*` variable is an error naming the nearest known
/// one: `SECRETEXEC_SOURCE=prod/db` must not start a job without its
/// secrets. `names` are the process environment's variable names.
pub fn check_settings<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), Error> {
    for name in names {
        if name.starts_with("SECRETEXEC_") && !SETTINGS.contains(&name) {
            let nearest = SETTINGS
                .iter()
                .min_by_key(|known| distance(name, known))
                .copied()
                .unwrap_or(SETTINGS[0]);
            return Err(Error::Usage(format!(
                "unknown setting {name} in the environment; did you mean {nearest}? \
                 (known: {})",
                SETTINGS.join(", ")
            )));
        }
    }
    Ok(())
}

/// Levenshtein distance, for suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    Help,
    Version,
    Run(Box<Args>),
}

/// Options as written, before the environment and defaults are applied.
#[derive(Debug, PartialEq, Default)]
pub struct Args {
    pub sources: Vec<String>,
    pub role: Option<String>,
    pub region: Option<String>,
    pub allow_override: bool,
    pub allow_vars: Vec<String>,
    pub timeout: Option<Duration>,
    pub verbose: bool,
    pub pristine: bool,
    pub keep: Vec<String>,
    pub dry_run: bool,
    pub export: Option<Format>,
    pub batch: bool,
    pub from_env: bool,
    pub cache: Option<String>,
    pub cache_token_file: Option<String>,
    pub files: Option<std::path::PathBuf>,
    pub files_group: Option<u32>,
    pub files_on_disk: bool,
    pub init: bool,
    pub watch: Option<Duration>,
    pub on_change: Option<String>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<Duration>,
    /// Everything after the first `--`, verbatim; `None` without a `--`.
    pub command: Option<Vec<OsString>>,
}

pub fn parse(argv: impl IntoIterator<Item = OsString>) -> Result<Parsed, Error> {
    let mut ours: Vec<OsString> = Vec::new();
    let mut command = None;
    let mut argv = argv.into_iter();
    for arg in argv.by_ref() {
        if arg == "--" {
            command = Some(argv.by_ref().collect::<Vec<_>>());
            break;
        }
        // pico-args collects each key's values separately, so `-s` is
        // spelled out to keep `-s a --source b` in the order written.
        ours.push(if arg == "-s" { "--source".into() } else { arg });
    }

    // Help and version win over every other word, even a malformed one.
    if ours.iter().any(|a| a == "-h" || a == "--help") {
        return Ok(Parsed::Help);
    }
    if ours.iter().any(|a| a == "-V" || a == "--version") {
        return Ok(Parsed::Version);
    }

    let mut p = pico_args::Arguments::from_vec(ours);
    let usage = |e: pico_args::Error| {
        Error::Usage(match e {
            pico_args::Error::OptionWithoutAValue(key) => format!("{key} needs a value"),
            pico_args::Error::Utf8ArgumentParsingFailed { cause, .. } => cause,
            pico_args::Error::ArgumentParsingFailed { cause } => cause,
            other => other.to_string(),
        })
    };
    let args = Args {
        sources: p.values_from_str("--source").map_err(usage)?,
        role: last(p.values_from_str("--role").map_err(usage)?),
        region: last(p.values_from_str("--region").map_err(usage)?),
        allow_override: p.contains("--allow-override"),
        allow_vars: p.values_from_str("--allow-var").map_err(usage)?,
        timeout: last(
            p.values_from_fn("--timeout", parse_duration)
                .map_err(usage)?,
        ),
        verbose: count(&mut p, ["-v", "--verbose"]) > 0,
        pristine: p.contains("--pristine"),
        keep: p.values_from_str("--keep").map_err(usage)?,
        dry_run: p.contains("--dry-run"),
        export: last(p.values_from_str("--export").map_err(usage)?),
        batch: p.contains("--batch"),
        from_env: p.contains("--from-env"),
        cache: last(p.values_from_str("--cache").map_err(usage)?),
        cache_token_file: last(p.values_from_str("--cache-token-file").map_err(usage)?),
        files: last(p.values_from_str("--files").map_err(usage)?),
        files_group: last(p.values_from_str("--files-group").map_err(usage)?),
        files_on_disk: p.contains("--files-on-disk"),
        init: p.contains("--init"),
        watch: last(p.values_from_fn("--watch", parse_duration).map_err(usage)?),
        on_change: last(p.values_from_str("--on-change").map_err(usage)?),
        stop_signal: last(p.values_from_str("--stop-signal").map_err(usage)?),
        stop_timeout: last(
            p.values_from_fn("--stop-timeout", parse_duration)
                .map_err(usage)?,
        ),
        command,
    };
    if let Some(extra) = p.finish().first() {
        let extra = extra.to_string_lossy();
        return Err(Error::Usage(if extra.starts_with('-') {
            format!("unknown option {}", quote(&extra))
        } else {
            format!(
                "unexpected argument {}: put the command after '--'",
                quote(&extra)
            )
        }));
    }
    let usage = |msg: &str| Err(Error::Usage(msg.into()));
    if args.dry_run && args.export.is_some() {
        return usage("--dry-run and --export cannot be combined");
    }
    if args.init && (args.dry_run || args.export.is_some()) {
        return usage("--init applies only when running a command");
    }
    if args.files.is_none() && (args.files_group.is_some() || args.files_on_disk) {
        return usage("--files-group and --files-on-disk apply only with --files DIR");
    }
    if args.files.is_some() && args.export.is_some() {
        return usage("--export prints values; --files writes them: use one");
    }
    let watching =
        args.on_change.is_some() || args.stop_signal.is_some() || args.stop_timeout.is_some();
    if watching && args.watch.is_none() {
        return usage("--on-change, --stop-signal and --stop-timeout apply only with --watch");
    }
    if let Some(interval) = args.watch {
        if !args.init {
            return usage(
                "--watch needs --init: secretexec stays to check and restart the command",
            );
        }
        if interval < MIN_WATCH {
            return Err(Error::Usage(format!(
                "--watch {} is too often: {} at least",
                format_duration(interval),
                format_duration(MIN_WATCH)
            )));
        }
    }
    if !args.keep.is_empty() && !args.pristine {
        return usage("--keep only applies with --pristine");
    }
    if let Some(bad) = args.keep.iter().find(|v| v.is_empty() || v.contains('=')) {
        return Err(Error::Usage(format!(
            "--keep {} is not a variable name",
            quote(bad)
        )));
    }
    match &args.command {
        Some(_) if args.export.is_some() => {
            usage("--export prints the variables and runs no command; drop '-- COMMAND'")
        }
        None if !args.dry_run && args.export.is_none() => usage("missing '--' before the command"),
        Some(cmd) if cmd.is_empty() => usage("no command after '--'"),
        _ => Ok(Parsed::Run(Box::new(args))),
    }
}

/// The shortest `--watch` interval: a fleet checking more often costs more
/// than it saves. Debug builds (the test suite) allow 100 ms, so that a
/// hundred checks fit in a test.
pub const MIN_WATCH: Duration = if cfg!(debug_assertions) {
    Duration::from_millis(100)
} else {
    Duration::from_secs(10)
};

/// A signal by name (`HUP`, `SIGHUP`) or number.
pub fn parse_signal(text: &str) -> Result<nix::sys::signal::Signal, String> {
    use nix::sys::signal::Signal;
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .ok()
        .or_else(|| {
            text.parse::<i32>()
                .ok()
                .and_then(|n| Signal::try_from(n).ok())
        })
        .ok_or_else(|| {
            format!(
                "{} is not a signal to send (write TERM, HUP, USR1, ...)",
                quote(text)
            )
        })
}

/// Repeating a single-valued option keeps the last, as most tools do.
fn last<T>(mut v: Vec<T>) -> Option<T> {
    v.pop()
}

fn count<const N: usize>(p: &mut pico_args::Arguments, keys: [&'static str; N]) -> usize {
    let mut n = 0;
    for key in keys {
        while p.contains(key) {
            n += 1;
        }
    }
    n
}

/// `30s`, `500ms`, `2m`, `1h`, `1.5s`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{} is not a duration (write e.g. 30s, 500ms, 2m)", quote(s));
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().map_err(|_| bad())?;
    let scale = match unit {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    let d = Duration::try_from_secs_f64(num * scale).map_err(|_| bad())?;
    if d.is_zero() {
        return Err(format!("{} must be more than zero", quote(s)));
    }
    Ok(d)
}

pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn unknown_settings_suggest_the_nearest() {
        let cases: &[(&[&str], Option<&str>)] = &[
            (&["SECRETEXEC_SOURCES", "HOME", "SECRETEXEC_BATCH"], None),
            (
                &["SECRETEXEC_SOURCE"],
                Some("did you mean SECRETEXEC_SOURCES?"),
            ),
            (
                &["SECRETEXEC_REGOIN"],
                Some("did you mean SECRETEXEC_REGION?"),
            ),
            (&["SECRETEXEC_ROLES"], Some("did you mean SECRETEXEC_ROLE?")),
            (
                &["SECRETEXEC_BACTH"],
                Some("did you mean SECRETEXEC_BATCH?"),
            ),
            (&["SECRETEXECSOURCES"], None),
        ];
        for (names, want) in cases {
            let got = check_settings(names.iter().copied())
                .err()
                .map(|e| e.to_string());
            match want {
                None => assert_eq!(got, None, "{names:?}"),
                Some(want) => assert!(got.as_deref().unwrap_or("").contains(want), "{got:?}"),
            }
        }
    }

    use super::*;

    fn args(v: &[&str]) -> Result<Parsed, Error> {
        parse(v.iter().map(OsString::from))
    }

    fn run(v: &[&str]) -> Args {
        match args(v) {
            Ok(Parsed::Run(a)) => *a,
            other => panic!("{v:?} gave {other:?}"),
        }
    }

    fn os(v: &[&str]) -> Option<Vec<OsString>> {
        Some(v.iter().map(OsString::from).collect())
    }

    #[test]
    fn command_after_dash_dash_is_verbatim() {
        let a = run(&["-s", "a", "--", "python", "-h", "--", "-s", "x"]);
        assert_eq!(a.sources, ["a"]);
        assert_eq!(a.command, os(&["python", "-h", "--", "-s", "x"]));
    }

    #[test]
    fn sources_keep_order_across_short_and_long() {
        let a = run(&["--source", "a", "-s", "b", "--source=c", "--", "true"]);
        assert_eq!(a.sources, ["a", "b", "c"]);
    }

    #[test]
    fn options() {
        let a = run(&[
            "--role",
            "r1",
            "--role",
            "r2",
            "--region",
            "eu-west-1",
            "--allow-override",
            "--allow-var",
            "PATH",
            "--allow-var",
            "LD_PRELOAD",
            "--timeout",
            "1.5s",
            "-v",
            "--",
            "true",
        ]);
        assert_eq!(a.role.as_deref(), Some("r2"));
        assert_eq!(a.region.as_deref(), Some("eu-west-1"));
        assert!(a.allow_override && a.verbose);
        assert_eq!(a.allow_vars, ["PATH", "LD_PRELOAD"]);
        assert_eq!(a.timeout, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn modes() {
        let a = run(&["--dry-run", "-s", "a"]);
        assert!(a.dry_run && a.command.is_none());
        let a = run(&["--dry-run", "--", "python", "x.py"]);
        assert!(a.dry_run && a.command.is_some());
        let a = run(&["--export", "shell"]);
        assert_eq!(a.export, Some(Format::Shell));
        let a = run(&[
            "--pristine",
            "--keep",
            "HOME",
            "--keep",
            "PATH",
            "--",
            "true",
        ]);
        assert!(a.pristine);
        assert_eq!(a.keep, ["HOME", "PATH"]);
    }

    #[test]
    fn zero_sources_is_allowed() {
        assert_eq!(
            run(&["--", "true"]),
            Args {
                command: os(&["true"]),
                ..Args::default()
            }
        );
    }

    #[test]
    fn help_and_version_win() {
        let cases: &[(&[&str], Parsed)] = &[
            (&["-h"], Parsed::Help),
            (&["--help"], Parsed::Help),
            (&["--bogus", "--help"], Parsed::Help),
            (&["-V"], Parsed::Version),
            (&["--version", "--timeout", "nope"], Parsed::Version),
        ];
        for (argv, want) in cases {
            assert_eq!(&args(argv).unwrap(), want, "{argv:?}");
        }
        // After `--` they belong to the command.
        assert_eq!(run(&["--", "ls", "--help"]).command, os(&["ls", "--help"]));
    }

    #[test]
    fn usage_errors() {
        let cases: &[(&[&str], &str)] = &[
            (&["-s", "a"], "missing '--'"),
            (&["-s", "a", "--"], "no command after '--'"),
            (&["--bogus", "--", "true"], "unknown option '--bogus'"),
            (&["python", "--", "true"], "unexpected argument 'python'"),
            (&["--source"], "--source"),
            (&["--timeout", "soon", "--", "true"], "is not a duration"),
            (&["--timeout", "0s", "--", "true"], "more than zero"),
            (&["--dry-run", "--export", "json"], "cannot be combined"),
            (&["--export", "json", "--", "true"], "runs no command"),
            (&["--export", "yaml"], "dotenv, shell or json"),
            (
                &["--keep", "HOME", "--", "true"],
                "only applies with --pristine",
            ),
            (
                &["--pristine", "--keep", "A=B", "--", "true"],
                "not a variable name",
            ),
            (&["--dry-run", "--"], "no command after '--'"),
        ];
        for (argv, want) in cases {
            match args(argv) {
                Err(e @ Error::Usage(_)) => {
                    assert!(e.to_string().contains(want), "{argv:?}: {e}");
                    assert_eq!(e.exit_code(), 125);
                }
                other => panic!("{argv:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn durations() {
        let cases = [
            ("30", 30_000),
            ("30s", 30_000),
            ("500ms", 500),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("0.25s", 250),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
        for bad in ["", "s", "1d", "-1s", "1.2.3s", "0", "1e400"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }
}
