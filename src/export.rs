//! `--export dotenv|shell|json`: the merged secrets printed with quoting
//! that gives back the exact bytes. The only output of secretexec that ever
//! holds a value, and only because the user asked for it.

use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    /// `NAME='value'`, or `NAME="value"` for a value holding `'`: the
    /// quoting that python-dotenv, node's dotenv and our own `file:`
    /// reader (docker compose's dialect) all read back exactly. A value
    /// none of them can carry the same way is refused (see [`dotenv_line`]).
    Dotenv,
    /// `export NAME='value'` with `'` written as `'\''`: POSIX sh and bash
    /// give back every byte under `eval`.
    Shell,
    /// One JSON object, keys in order.
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "dotenv" => Ok(Format::Dotenv),
            "shell" => Ok(Format::Shell),
            "json" => Ok(Format::Json),
            _ => Err(format!(
                "--export takes dotenv, shell or json, not {}",
                crate::error::quote(s)
            )),
        }
    }
}

/// The text to print, or why a value cannot be written in this format
/// (only dotenv refuses anything); nothing is printed then.
pub fn render(format: Format, vars: &[(&str, &str)]) -> Result<String, String> {
    let mut out = String::new();
    match format {
        Format::Dotenv => {
            for (name, value) in vars {
                out.push_str(&dotenv_line(name, value)?);
            }
        }
        Format::Shell => {
            for (name, value) in vars {
                let _ = writeln!(out, "export {name}='{}'", value.replace('\'', "'\\''"));
            }
        }
        Format::Json => {
            out.push('{');
            for (i, (name, value)) in vars.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "\n  {}: {}", json_string(name), json_string(value));
            }
            out.push_str(if vars.is_empty() { "}\n" } else { "\n}\n" });
        }
    }
    Ok(out)
}

/// One `NAME=value` line in the dialect the common readers share. They
/// agree on little: node's dotenv has no escapes in single quotes and
/// turns every CR into LF; python-dotenv decodes `\\` and `\'` in single
/// quotes, `\n`, `\"`, ... in double quotes, and expands `${VAR}` in both.
/// So: single quotes for a value with no `'`, no `\\` and no trailing
/// backslash; else double quotes for one with no `"` and no backslash; and
/// never a CR or a `${...}`. Anything else is refused, never written wrong.
pub fn dotenv_line(name: &str, value: &str) -> Result<String, String> {
    let refuse = |why: &str| {
        Err(format!(
            "the value of {name} {why}, which python-dotenv, node's dotenv and docker compose \
             do not read back alike; use --export json or --export shell"
        ))
    };
    if value.contains('\r') {
        return refuse("holds a carriage return");
    }
    if let Some(start) = value.find("${")
        && value[start..].contains('}')
    {
        return refuse("holds ${...}, which python-dotenv expands");
    }
    if !value.contains('\'') && !value.contains("\\\\") && !value.ends_with('\\') {
        return Ok(format!("{name}='{value}'\n"));
    }
    if !value.contains('"') && !value.contains('\\') {
        return Ok(format!("{name}=\"{value}\"\n"));
    }
    refuse("holds a quote with a backslash or both kinds of quotes")
}

fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str =
        "sp ace 'single' \"double\" $HOME ${X} `cmd` \\ back\nnew\r\ttab é漢🙂 # not a comment";

    #[test]
    fn formats() {
        let vars = [("A", "x"), ("B", "it's")];
        let render = |f| render(f, &vars).unwrap();
        assert_eq!(render(Format::Dotenv), "A='x'\nB=\"it's\"\n");
        assert_eq!(render(Format::Shell), "export A='x'\nexport B='it'\\''s'\n");
        assert_eq!(
            render(Format::Json),
            "{\n  \"A\": \"x\",\n  \"B\": \"it's\"\n}\n"
        );
        assert_eq!(super::render(Format::Json, &[]).unwrap(), "{}\n");
        assert_eq!(super::render(Format::Shell, &[]).unwrap(), "");
    }

    /// What the shared dotenv dialect can carry, and what it refuses.
    const PORTABLE: &[&str] = &[
        "",
        "plain",
        " spaces  ",
        "it's",
        "say \"hi\"",
        "C:\\dir\\file",
        "$HOME $(id) `id` ${unclosed",
        "multi\nline\n",
        "tab\there # not a comment = é漢🙂",
    ];
    const REFUSED: &[&str] = &[
        "cr\rhere",
        "${HOME}",
        "it's \"both\"",
        "it's C:\\dir",
        "a\\\\b",
        "trailing\\",
    ];

    #[test]
    fn dotenv_round_trips_through_our_reader_or_is_refused() {
        for value in PORTABLE {
            let text = render(Format::Dotenv, &[("A", value)]).unwrap();
            let back = crate::dotenv::parse(&text).unwrap();
            assert_eq!(back, [("A".to_string(), value.to_string())], "{text}");
        }
        for value in REFUSED {
            let err = render(Format::Dotenv, &[("A", value)]).unwrap_err();
            assert!(err.contains("use --export json"), "{value:?}: {err}");
            assert!(!err.contains(value), "{err}");
        }
    }

    #[test]
    fn json_round_trips() {
        let text = render(Format::Json, &[("A", HOSTILE), ("B", "\u{1}")]).unwrap();
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["A"], HOSTILE);
        assert_eq!(back["B"], "\u{1}");
    }

    #[test]
    fn parse_format() {
        assert_eq!("json".parse(), Ok(Format::Json));
        assert!("yaml".parse::<Format>().unwrap_err().contains("not 'yaml'"));
    }
}
