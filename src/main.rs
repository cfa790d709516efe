//! secretexec: fetch secrets into the environment, then execve the command.
//!
//! The flow is `cli -> source -> fetch -> secret -> env -> exec`; this file
//! only wires the steps together and turns an error into a message and an
//! exit code, in one place.

#![no_main]

use std::ffi::{CStr, OsString};
use std::os::unix::ffi::OsStringExt;
use std::time::Duration;

use nix::libc::{c_char, c_int};
use secretexec::cli::{self, Parsed};
use secretexec::error::{self, Error};
use secretexec::{env, exec, export, fetch, files, init, log, provider, secret, source};

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
        Parsed::Run(args) => *args,
    };
    let log = log::Log::new(args.verbose);
    // The environment is read once: settings, references and the base.
    let inherited: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let names: Vec<String> = inherited
        .iter()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    cli::check_settings(names.iter().map(String::as_str))?;

    let defaults = source::Defaults {
        role: args.role.or(setting("SECRETEXEC_ROLE")?),
        region: args.region.or(setting("SECRETEXEC_REGION")?),
    };
    source::check_defaults(&defaults)?;
    let batch = switch("SECRETEXEC_BATCH", args.batch)?;
    let from_env = switch("SECRETEXEC_FROM_ENV", args.from_env)?;
    let mut specs = match setting("SECRETEXEC_SOURCES")? {
        Some(list) => source::split_list(&list)?,
        None => Vec::new(),
    };
    specs.extend(args.sources);
    let mut sources = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| source::parse(spec, i + 1, &defaults))
        .collect::<Result<Vec<_>, _>>()?;
    // --from-env: variables holding a reference are replaced in place.
    let mut references: Vec<OsString> = Vec::new();
    if from_env {
        let mut text: Vec<(&str, &str)> = inherited
            .iter()
            .filter_map(|(k, v)| Some((k.to_str()?, v.to_str()?)))
            .collect();
        text.sort();
        for (name, value) in text {
            if let Some(reference) = source::reference(name, value, &defaults) {
                sources.push(reference?);
                references.push(name.into());
            }
        }
    }

    if args.watch.is_some() && !sources.iter().any(|s| provider::watched(&s.origin)) {
        return Err(Error::Usage(
            "--watch: no source can change (each is local or pinned to a version)".into(),
        ));
    }
    let on_change = match args.on_change.as_deref() {
        None | Some("restart") => init::OnChange::Restart,
        Some("exit") => init::OnChange::Exit,
        Some(other) => match other.strip_prefix("signal:") {
            Some(signal) => {
                init::OnChange::Signal(cli::parse_signal(signal).map_err(Error::Usage)?)
            }
            None => {
                return Err(Error::Usage(format!(
                    "--on-change {}: write restart, exit or signal:SIG (signal:HUP)",
                    error::quote(other)
                )));
            }
        },
    };
    let stop_signal = match args.stop_signal.as_deref() {
        None => nix::sys::signal::Signal::SIGTERM,
        Some(signal) => cli::parse_signal(signal).map_err(Error::Usage)?,
    };

    let program = match (&args.command, args.export) {
        (Some(command), _) => command[0].to_string_lossy().into_owned(),
        (None, Some(_)) => "export".into(),
        (None, None) => "dry-run".into(),
    };
    let cache = match args.cache.or(setting("SECRETEXEC_CACHE")?) {
        Some(url) => Some(provider::cache::Cache::new(
            &url,
            args.cache_token_file.as_deref(),
        )?),
        None if args.cache_token_file.is_some() => {
            return Err(Error::Usage(
                "--cache-token-file applies only with --cache URL".into(),
            ));
        }
        None => None,
    };
    let options = fetch::Options {
        timeout: args.timeout.unwrap_or(cli::DEFAULT_TIMEOUT),
        batch,
        session_name: &session_name(&program),
        log: &log,
        cache: cache.as_ref(),
    };
    let (vars, mut versions) = load(&sources, &options)?;

    // --pristine: the command starts from the kept variables only.
    let delivery = Delivery {
        base: inherited
            .into_iter()
            .filter(|(k, _)| !references.contains(k))
            .filter(|(k, _)| !args.pristine || args.keep.iter().any(|keep| k == keep.as_str()))
            .collect(),
        policy: env::Policy {
            allow_override: args.allow_override,
            allow_vars: args.allow_vars,
        },
        files: args.files.map(|dir| files::Options {
            dir,
            group: args.files_group,
            on_disk: args.files_on_disk,
        }),
    };
    let merged = delivery.environment(&vars)?;
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
    if let (Some(opts), true) = (&delivery.files, args.dry_run) {
        files::check(opts, &vars)?;
    }
    match args.command {
        Some(command) if args.init => {
            let mut written = match &delivery.files {
                Some(opts) => Some(files::write(opts, &vars, true)?),
                None => None,
            };
            log.phase("spawn (--init)");
            let status = match args.watch {
                None => init::run(&command, &merged.env),
                Some(interval) => {
                    // A check reads versions only; a change is fetched and
                    // checked whole, as at start, before anything is touched.
                    let mut check = || -> Result<Option<init::Env>, Error> {
                        let now = fetch::current_versions(&sources, &options)?;
                        let changed: Vec<usize> = now
                            .iter()
                            .filter(|(i, v)| versions[*i] != *v)
                            .map(|(i, _)| *i)
                            .collect();
                        for (i, version) in &now {
                            log.note(format_args!(
                                "--watch: {} at version {}{}",
                                error::quote(&sources[*i].label),
                                version.as_deref().unwrap_or("(none)"),
                                if changed.contains(i) {
                                    " (changed)"
                                } else {
                                    ""
                                }
                            ));
                        }
                        if changed.is_empty() {
                            return Ok(None);
                        }
                        let (vars, now_versions) = load(&sources, &options)?;
                        let merged = delivery.environment(&vars)?;
                        if let Some(opts) = &delivery.files {
                            let rewritten = files::write(opts, &vars, false)?;
                            if let Some(written) = written.as_mut() {
                                written.absorb(rewritten);
                            }
                        }
                        versions = now_versions;
                        eprintln!(
                            "secretexec: --watch: {} changed; {}",
                            changed
                                .iter()
                                .map(|&i| error::quote(&sources[i].label))
                                .collect::<Vec<_>>()
                                .join(", "),
                            match on_change {
                                init::OnChange::Restart => "restarting the command".to_string(),
                                init::OnChange::Signal(s) => format!("sending {s}"),
                                init::OnChange::Exit => format!(
                                    "stopping the command, exit status {}",
                                    init::EXIT_CHANGED
                                ),
                            }
                        );
                        Ok(Some(merged.env))
                    };
                    init::supervise(
                        &command,
                        merged.env,
                        Some(init::Watch {
                            interval,
                            on_change,
                            stop_signal,
                            stop_timeout: args.stop_timeout.unwrap_or(Duration::from_secs(10)),
                            check: &mut check,
                        }),
                    )
                }
            };
            // However the command ended, its files go with it.
            if let Some(written) = written {
                written.remove();
            }
            status
        }
        Some(command) if !args.dry_run => {
            let written = match &delivery.files {
                Some(opts) => Some(files::write(opts, &vars, true)?),
                None => None,
            };
            log.phase("exec");
            let failed = exec::exec(&command, &merged.env);
            // Only a command that could not start returns here.
            if let Some(written) = written {
                written.remove();
            }
            Err(failed)
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

/// Every source's variables (local sources first: their mistakes show
/// before any network call), and the version each AWS source was read at.
fn load(
    sources: &[source::Source],
    options: &fetch::Options,
) -> Result<(Vec<env::SourceVars>, Vec<Option<String>>), Error> {
    let to_vars = |s: &source::Source, f: &provider::Fetched| {
        secret::to_vars(s, &f.name, &f.raw)
            .map(|vars| env::SourceVars {
                label: s.label.clone(),
                vars,
                binary: matches!(f.raw, secret::Raw::Binary(_)),
            })
            .map_err(|reason| Error::Value {
                source: s.label.clone(),
                reason,
            })
    };
    let mut vars: Vec<Option<env::SourceVars>> = Vec::with_capacity(sources.len());
    for s in sources {
        vars.push(match provider::local::read(s) {
            Some(fetched) => Some(to_vars(s, &fetched?)?),
            None => None,
        });
    }
    let mut versions = vec![None; sources.len()];
    for (i, fetched) in fetch::fetch_remote(sources, options)? {
        vars[i] = Some(to_vars(&sources[i], &fetched)?);
        versions[i] = fetched.version;
    }
    Ok((vars.into_iter().flatten().collect(), versions))
}

/// How variables reach the command: the inherited environment, the merge
/// policy, and `--files`.
struct Delivery {
    base: Vec<(OsString, OsString)>,
    policy: env::Policy,
    files: Option<files::Options>,
}

impl Delivery {
    /// The command's environment; with `--files`, `NAME_FILE=DIR/NAME` in
    /// place of each `NAME`, and the merge checks those names.
    fn environment(&self, vars: &[env::SourceVars]) -> Result<env::Merged, Error> {
        match &self.files {
            Some(opts) => env::merge(
                self.base.clone(),
                &files::file_vars(opts, vars),
                &self.policy,
            ),
            None => env::merge(self.base.clone(), vars, &self.policy),
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

/// A yes/no `SECRETEXEC_*` setting, or the flag when it is unset.
fn switch(name: &str, flag: bool) -> Result<bool, Error> {
    match setting(name)?.as_deref() {
        None | Some("0" | "false") => Ok(flag),
        Some("1" | "true") => Ok(true),
        Some(other) => Err(Error::Usage(format!(
            "{name} is {}: write 1 or 0",
            error::quote(other)
        ))),
    }
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
