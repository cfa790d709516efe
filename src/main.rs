//! secretexec: fetch secrets into the environment, then execve the command.
//!
//! The flow is `cli -> source -> fetch -> secret -> env -> exec`; this file
//! only wires the steps together and turns an error into a message and an
//! exit code, in one place.

#![no_main]

use std::ffi::{CStr, OsString};
use std::os::unix::ffi::OsStringExt;

use nix::libc::{c_char, c_int};
use secretexec::cli::{self, Parsed};
use secretexec::error::{self, Error};
use secretexec::{env, exec, export, fetch, init, log, provider, secret, source};

/// Our own C `main` rather than Rust's `fn main`: Rust's start-up code sets
/// SIGPIPE to ignored, and an ignored signal survives `execve`, so every
/// command would inherit it (`secretexec -- seq 1 1000000 | head -1` would
/// print "Broken pipe" and exit 1 instead of dying of SIGPIPE as under
/// `env`). Here the process keeps the dispositions it was started with.
/// Nothing else of Rust's start-up is needed: stdout is flushed by
/// [`print`], and a panic aborts.
#[unsafe(no_mangle)]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    // The kernel's argv: argc valid, NUL-terminated strings.
    let args = (1..usize::try_from(argc).unwrap_or(0))
        .map(|i| OsString::from_vec(unsafe { CStr::from_ptr(*argv.add(i)) }.to_bytes().to_vec()));
    match run(args) {
        Ok(status) => c_int::from(status),
        Err(e) => {
            eprintln!("secretexec: {}", error::escape_controls(&e.to_string()));
            c_int::from(e.exit_code())
        }
    }
}

/// The exit status for help, version, `--dry-run`, `--export` and `--init`;
/// a plain run ends in `execve`.
fn run(argv: impl IntoIterator<Item = OsString>) -> Result<u8, Error> {
    let args = match cli::parse(argv)? {
        Parsed::Help => return print(cli::HELP),
        Parsed::Version => return print(&format!("secretexec {}\n", env!("CARGO_PKG_VERSION"))),
        Parsed::Run(args) => args,
    };
    let log = log::Log::new(args.verbose);
    let names: Vec<String> = std::env::vars_os()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    cli::check_settings(names.iter().map(String::as_str))?;

    let defaults = source::Defaults {
        role: args.role.or(setting("SECRETEXEC_ROLE")?),
        region: args.region.or(setting("SECRETEXEC_REGION")?),
    };
    source::check_defaults(&defaults)?;
    let batch = match setting("SECRETEXEC_BATCH")?.as_deref() {
        None | Some("0" | "false") => args.batch,
        Some("1" | "true") => true,
        Some(other) => {
            return Err(Error::Usage(format!(
                "SECRETEXEC_BATCH is {}: write 1 or 0",
                error::quote(other)
            )));
        }
    };
    let mut specs = match setting("SECRETEXEC_SOURCES")? {
        Some(list) => source::split_list(&list)?,
        None => Vec::new(),
    };
    specs.extend(args.sources);
    let sources = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| source::parse(spec, i + 1, &defaults))
        .collect::<Result<Vec<_>, _>>()?;

    let program = match (&args.command, args.export) {
        (Some(command), _) => command[0].to_string_lossy().into_owned(),
        (None, Some(_)) => "export".into(),
        (None, None) => "dry-run".into(),
    };
    let to_vars = |s: &source::Source, f: provider::Fetched| {
        secret::to_vars(s, &f.name, &f.raw)
            .map(|vars| env::SourceVars {
                label: s.label.clone(),
                vars,
            })
            .map_err(|reason| Error::Value {
                source: s.label.clone(),
                reason,
            })
    };
    // Local sources first: their mistakes show before any network call.
    let mut vars: Vec<Option<env::SourceVars>> = Vec::with_capacity(sources.len());
    for s in &sources {
        vars.push(match provider::local::read(s) {
            Some(fetched) => Some(to_vars(s, fetched?)?),
            None => None,
        });
    }
    let options = fetch::Options {
        timeout: args.timeout.unwrap_or(cli::DEFAULT_TIMEOUT),
        batch,
        session_name: &session_name(&program),
        log: &log,
    };
    for (i, fetched) in fetch::fetch_remote(&sources, &options)? {
        vars[i] = Some(to_vars(&sources[i], fetched)?);
    }
    let vars: Vec<env::SourceVars> = vars.into_iter().flatten().collect();

    // --pristine: the command starts from the kept variables only.
    let base = std::env::vars_os()
        .filter(|(k, _)| !args.pristine || args.keep.iter().any(|keep| k == keep.as_str()))
        .collect();
    let policy = env::Policy {
        allow_override: args.allow_override,
        allow_vars: args.allow_vars,
    };
    let merged = env::merge(base, &vars, &policy)?;
    for (name, source) in &merged.added {
        log.note(format_args!("{name} from {}", error::quote(source)));
    }

    if let Some(format) = args.export {
        let pairs: Vec<(&str, &str)> = vars
            .iter()
            .flat_map(|s| s.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .collect();
        return print(&export::render(format, &pairs).map_err(Error::Output)?);
    }
    match args.command {
        Some(command) if args.init => {
            log.phase("spawn (--init)");
            init::run(&command, &merged.env)
        }
        Some(command) if !args.dry_run => {
            log.phase("exec");
            Err(exec::exec(&command, &merged.env))
        }
        command => {
            // --dry-run: every check a real run makes, the command's lookup
            // included, and one line per variable.
            if let Some(command) = command {
                let path = exec::resolve(&command, &merged.env)?;
                log.note(format_args!("would run {}", path.display()));
            }
            let lines: String = merged
                .added
                .iter()
                .map(|(name, source)| format!("{name}\t{}\n", source.escape_debug()))
                .collect();
            print(&lines)
        }
    }
}

/// Write to stdout and succeed; a closed pipe or full disk is our failure,
/// not silence.
fn print(text: &str) -> Result<u8, Error> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map(|()| 0)
        .map_err(|e| Error::Output(e.to_string()))
}

/// A `SECRETEXEC_*` setting; empty counts as unset, so an image can clear
/// one with `ENV SECRETEXEC_ROLE=`.
fn setting(name: &str) -> Result<Option<String>, Error> {
    match std::env::var_os(name) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => v
            .into_string()
            .map(Some)
            .map_err(|_| Error::Usage(format!("{name} is not valid UTF-8"))),
    }
}

/// `RoleSessionName` for AssumeRole, shown in CloudTrail: secretexec, the
/// command it runs and its PID (at most 64 of `[A-Za-z0-9+=,.@_-]`).
fn session_name(program: &str) -> String {
    let base = std::path::Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut name = format!("secretexec-{base}-{}", std::process::id());
    if name.len() > 64 {
        let pid = std::process::id().to_string();
        name = format!("secretexec-{}-{pid}", &base[..64 - 12 - 1 - pid.len()]);
    }
    name
}
