//! `--export dotenv|shell|json`: the merged secrets printed with quoting
//! that gives back the exact bytes. The only output of secretexec that ever
//! holds a value, and only because the user asked for it.

use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    /// `NAME='value'`, single-quoted with `\\` and `\'` escapes: read back
    /// exactly by python-dotenv and by our own `file:` reader, newlines,
    /// `$` and all (no interpolation happens inside single quotes).
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

pub fn render(format: Format, vars: &[(&str, &str)]) -> String {
    let mut out = String::new();
    match format {
        Format::Dotenv => {
            for (name, value) in vars {
                let value = value.replace('\\', "\\\\").replace('\'', "\\'");
                let _ = writeln!(out, "{name}='{value}'");
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
    out
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
        assert_eq!(render(Format::Dotenv, &vars), "A='x'\nB='it\\'s'\n");
        assert_eq!(
            render(Format::Shell, &vars),
            "export A='x'\nexport B='it'\\''s'\n"
        );
        assert_eq!(
            render(Format::Json, &vars),
            "{\n  \"A\": \"x\",\n  \"B\": \"it's\"\n}\n"
        );
        assert_eq!(render(Format::Json, &[]), "{}\n");
        assert_eq!(render(Format::Shell, &[]), "");
    }

    #[test]
    fn dotenv_round_trips_through_our_reader() {
        let text = render(Format::Dotenv, &[("A", HOSTILE), ("B", ""), ("C", "\\'")]);
        let back = crate::dotenv::parse(&text).unwrap();
        let want =
            [("A", HOSTILE), ("B", ""), ("C", "\\'")].map(|(a, b)| (a.to_string(), b.to_string()));
        assert_eq!(back, want);
    }

    #[test]
    fn json_round_trips() {
        let text = render(Format::Json, &[("A", HOSTILE), ("B", "\u{1}")]);
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
