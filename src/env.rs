//! The child's environment: base environment + each source's variables +
//! policy in, the final `envp` out (SPEC §4). Pure: it never reads or sets
//! the process environment, so every rule is a table case below.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};

use crate::error::{Error, quote};

/// Variables that make a common program load code from a place they name,
/// or run a command they hold. Whoever can write a secret must not thereby
/// gain code execution in every job that reads it, so a secret may set
/// these only when `--allow-var` names them. One family per line of the
/// README's list; `tests/aws.rs` sets one of each through a real run.
pub const FAMILIES: &[(&str, &[&str])] = &[
    (
        "dynamic loader and C library",
        &[
            "LD_*",
            "DYLD_*",
            "GCONV_PATH",
            "GLIBC_TUNABLES",
            "LOCPATH",
            "NLSPATH",
            "HOSTALIASES",
        ],
    ),
    (
        "command lookup and shells",
        &[
            "PATH",
            "IFS",
            "ENV",
            "BASH_ENV",
            "BASH_FUNC_*",
            "SHELLOPTS",
            "BASHOPTS",
            "PS0",
            "PS1",
            "PS2",
            "PS3",
            "PS4",
            "PROMPT_COMMAND",
            "CDPATH",
            "FPATH",
            "ZDOTDIR",
        ],
    ),
    (
        "interpreters and runtimes",
        &[
            "PYTHONPATH",
            "PYTHONHOME",
            "PYTHONSTARTUP",
            "PYTHONUSERBASE",
            "PYTHONINSPECT",
            "PYTHONWARNINGS",
            "PYTHONBREAKPOINT",
            "NODE_OPTIONS",
            "NODE_PATH",
            "NODE_REPL_EXTERNAL_MODULE",
            "PERL5OPT",
            "PERL5LIB",
            "PERLLIB",
            "PERL5DB",
            "RUBYOPT",
            "RUBYLIB",
            "GEM_HOME",
            "GEM_PATH",
            "BUNDLE_GEMFILE",
            "JAVA_TOOL_OPTIONS",
            "_JAVA_OPTIONS",
            "JDK_JAVA_OPTIONS",
            "JAVA_OPTS",
            "MAVEN_OPTS",
            "GRADLE_OPTS",
            "CLASSPATH",
            "DOTNET_STARTUP_HOOKS",
            "CORECLR_PROFILER_PATH",
            "COR_PROFILER_PATH",
            "GOFLAGS",
            "LUA_INIT",
            "LUA_PATH",
            "LUA_CPATH",
            "PHPRC",
            "PHP_INI_SCAN_DIR",
            "R_PROFILE",
            "R_PROFILE_USER",
            "R_ENVIRON",
            "R_ENVIRON_USER",
            "TCLLIBPATH",
        ],
    ),
    (
        "git",
        &[
            "GIT_CONFIG*",
            "GIT_DIR",
            "GIT_COMMON_DIR",
            "GIT_TEMPLATE_DIR",
            "GIT_EXEC_PATH",
            "GIT_SSH",
            "GIT_SSH_COMMAND",
            "GIT_PROXY_COMMAND",
            "GIT_ASKPASS",
            "GIT_EXTERNAL_DIFF",
            "GIT_PAGER",
            "GIT_EDITOR",
            "GIT_SEQUENCE_EDITOR",
        ],
    ),
    ("ssh and sudo helpers", &["SSH_ASKPASS", "SUDO_ASKPASS"]),
    (
        "pagers, editors and browsers",
        &[
            "PAGER",
            "MANPAGER",
            "SYSTEMD_PAGER",
            "LESS",
            "LESSOPEN",
            "LESSCLOSE",
            "LESSKEY",
            "LESSKEYIN",
            "LESSEDIT",
            "EDITOR",
            "VISUAL",
            "SUDO_EDITOR",
            "BROWSER",
        ],
    ),
    (
        "OpenSSL (engines and providers are shared libraries)",
        &["OPENSSL_CONF", "OPENSSL_ENGINES", "OPENSSL_MODULES"],
    ),
];

/// Whether `name` is in [`FAMILIES`]; a trailing `*` there is a prefix.
pub fn is_refused(name: &str) -> bool {
    FAMILIES
        .iter()
        .flat_map(|(_, names)| names.iter())
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == *pattern,
        })
}

#[derive(Debug, Default)]
pub struct Policy {
    pub allow_override: bool,
    pub allow_vars: Vec<String>,
}

/// One source's variables, with its label (unquoted) for messages.
pub struct SourceVars {
    pub label: String,
    pub vars: Vec<(String, String)>,
    /// The one variable is a `SecretBinary` in base64 (`--files` writes
    /// its raw bytes).
    pub binary: bool,
}

#[derive(Debug, PartialEq)]
pub struct Merged {
    /// The child's environment, in order: the base variables (replaced in
    /// place under `--allow-override`), then the new ones in source order.
    pub env: Vec<(OsString, OsString)>,
    /// Each variable a secret set, with the label of its source.
    pub added: Vec<(String, String)>,
}

pub fn merge(
    base: Vec<(OsString, OsString)>,
    sources: &[SourceVars],
    policy: &Policy,
) -> Result<Merged, Error> {
    let mut env = base;
    let index: HashMap<OsString, usize> = env
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (k.clone(), i))
        .collect();
    let mut from: HashMap<&str, &str> = HashMap::new();
    let mut added = Vec::new();
    for source in sources {
        for (name, value) in &source.vars {
            let shown = quote(&source.label);
            if is_refused(name) && !policy.allow_vars.iter().any(|a| a == name) {
                return Err(Error::Merge(format!(
                    "source {shown} sets {name}, which changes how programs load or start; \
                     allow it with --allow-var {name}"
                )));
            }
            if let Some(first) = from.insert(name, &source.label) {
                return Err(Error::Merge(format!(
                    "{name} is set by both source {} and source {shown}",
                    quote(first)
                )));
            }
            let value = OsString::from(value);
            match index.get(OsStr::new(name)) {
                Some(_) if !policy.allow_override => {
                    return Err(Error::Merge(format!(
                        "source {shown} sets {name}, which is already set; \
                         pass --allow-override to replace it"
                    )));
                }
                Some(&i) => env[i].1 = value,
                None => env.push((name.into(), value)),
            }
            added.push((name.clone(), source.label.clone()));
        }
    }
    Ok(Merged { env, added })
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // table cases read best as tuples
mod tests {
    use super::*;

    fn base(v: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        v.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    fn src(label: &str, v: &[(&str, &str)]) -> SourceVars {
        SourceVars {
            label: label.to_string(),
            vars: v
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            binary: false,
        }
    }

    fn policy(allow_override: bool, allow_vars: &[&str]) -> Policy {
        Policy {
            allow_override,
            allow_vars: allow_vars.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn merges() {
        let cases: Vec<(
            &str,
            &[(&str, &str)],
            Vec<SourceVars>,
            Policy,
            &[(&str, &str)],
        )> = vec![
            (
                "no sources keeps env",
                &[("HOME", "/h")],
                vec![],
                policy(false, &[]),
                &[("HOME", "/h")],
            ),
            (
                "new variables append in source order",
                &[("HOME", "/h")],
                vec![src("a", &[("B", "2"), ("A", "1")]), src("b", &[("C", "3")])],
                policy(false, &[]),
                &[("HOME", "/h"), ("B", "2"), ("A", "1"), ("C", "3")],
            ),
            (
                "override replaces in place",
                &[("A", "old"), ("HOME", "/h")],
                vec![src("a", &[("A", "new")])],
                policy(true, &[]),
                &[("A", "new"), ("HOME", "/h")],
            ),
            (
                "override replaces an empty value",
                &[("A", "")],
                vec![src("a", &[("A", "new")])],
                policy(true, &[]),
                &[("A", "new")],
            ),
            (
                "allow-var lets a refused name through",
                &[],
                vec![src("a", &[("LD_PRELOAD", "x"), ("PYTHONPATH", "y")])],
                policy(false, &["LD_PRELOAD", "PYTHONPATH"]),
                &[("LD_PRELOAD", "x"), ("PYTHONPATH", "y")],
            ),
            (
                "allowed PATH still needs override when set",
                &[("PATH", "/bin")],
                vec![src("a", &[("PATH", "/opt/bin")])],
                policy(true, &["PATH"]),
                &[("PATH", "/opt/bin")],
            ),
            (
                "names are case sensitive",
                &[("path", "x")],
                vec![src("a", &[("Path", "y")])],
                policy(false, &[]),
                &[("path", "x"), ("Path", "y")],
            ),
        ];
        for (name, b, sources, p, want) in cases {
            let merged = merge(base(b), &sources, &p).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(merged.env, base(want), "{name}");
        }
    }

    #[test]
    fn added_names_their_sources() {
        let merged = merge(
            base(&[]),
            &[src("a", &[("X", "1")]), src("b", &[("Y", "2")])],
            &policy(false, &[]),
        )
        .unwrap();
        let want = [("X", "a"), ("Y", "b")].map(|(a, b)| (a.to_string(), b.to_string()));
        assert_eq!(merged.added, want);
    }

    #[test]
    fn refusals() {
        let cases: Vec<(&str, &[(&str, &str)], Vec<SourceVars>, Policy, &str)> = vec![
            (
                "already set",
                &[("A", "x")],
                vec![src("a", &[("A", "SEKRIT")])],
                policy(false, &[]),
                "source 'a' sets A, which is already set; pass --allow-override",
            ),
            (
                "already set to empty",
                &[("A", "")],
                vec![src("a", &[("A", "SEKRIT")])],
                policy(false, &[]),
                "already set",
            ),
            (
                "two sources, override does not help",
                &[],
                vec![src("a", &[("A", "SEKRIT")]), src("b", &[("A", "SEKRIT")])],
                policy(true, &[]),
                "A is set by both source 'a' and source 'b'",
            ),
            (
                "PATH",
                &[],
                vec![src("a", &[("PATH", "SEKRIT")])],
                policy(true, &[]),
                "--allow-var PATH",
            ),
            (
                "LD_ prefix",
                &[],
                vec![src("a", &[("LD_PRELOAD", "SEKRIT")])],
                policy(false, &[]),
                "--allow-var LD_PRELOAD",
            ),
            (
                "DYLD_ prefix",
                &[],
                vec![src("a", &[("DYLD_INSERT_LIBRARIES", "SEKRIT")])],
                policy(false, &[]),
                "DYLD_INSERT_LIBRARIES",
            ),
            (
                "BASH_ENV",
                &[],
                vec![src("a", &[("BASH_ENV", "SEKRIT")])],
                policy(false, &["PATH"]),
                "--allow-var BASH_ENV",
            ),
            (
                "NODE_OPTIONS",
                &[],
                vec![src("a", &[("NODE_OPTIONS", "SEKRIT")])],
                policy(false, &[]),
                "NODE_OPTIONS",
            ),
            (
                "_JAVA_OPTIONS",
                &[],
                vec![src("a", &[("_JAVA_OPTIONS", "SEKRIT")])],
                policy(false, &[]),
                "_JAVA_OPTIONS",
            ),
        ];
        for (name, b, sources, p, want) in cases {
            match merge(base(b), &sources, &p) {
                Err(e @ Error::Merge(_)) => {
                    let msg = e.to_string();
                    assert!(msg.contains(want), "{name}: {msg}");
                    assert!(!msg.contains("SEKRIT"), "{name}: {msg}");
                    assert_eq!(e.exit_code(), 125);
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn refused_names() {
        for name in [
            "PATH",
            "IFS",
            "ENV",
            "PYTHONSTARTUP",
            "PERL5OPT",
            "RUBYOPT",
            "LD_LIBRARY_PATH",
            "JAVA_TOOL_OPTIONS",
            "GIT_CONFIG_COUNT",
            "GIT_CONFIG_KEY_0",
            "GIT_CONFIG_PARAMETERS",
            "GIT_CONFIG",
            "LESSOPEN",
            "PAGER",
            "SSH_ASKPASS",
            "OPENSSL_CONF",
            "BASH_FUNC_x%%",
        ] {
            assert!(is_refused(name), "{name}");
        }
        for name in [
            "DB_PASSWORD",
            "PATHS",
            "MY_PATH",
            "ENVIRONMENT",
            "LD",
            "AWS_ACCESS_KEY_ID",
            "GIT_TOKEN",
            "GITHUB_TOKEN",
            "LESSER",
            "PS",
            "JAVA_HOME_X",
        ] {
            assert!(!is_refused(name), "{name}");
        }
    }
}
