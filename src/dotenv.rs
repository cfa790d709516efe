//! dotenv files, read the way the common tools (python-dotenv, node's
//! dotenv, docker compose) agree on: `KEY=VALUE` lines, an optional
//! `export ` prefix, `#` comments, blank lines, and three value forms:
//!
//! - unquoted: the rest of the line, trimmed, cut at ` #`;
//! - `'single'`: literal, may span lines; `\'` and `\\` are the only escapes
//!   (python-dotenv's rule), so every string has a single-quoted spelling;
//! - `"double"`: may span lines; `\n \r \t \\ \" \'` and `\a \b \f \v` are
//!   decoded, any other backslash is kept as written.
//!
//! No `${VAR}` expansion: a value is what the file says, byte for byte.
//! Errors give the line number, never the text.

/// The file's `(key, value)` pairs in order. `Err` is `"line N: reason"`.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut p = Parser {
        chars: text
            .strip_prefix('\u{feff}')
            .unwrap_or(text)
            .chars()
            .peekable(),
        line: 1,
    };
    let mut pairs = Vec::new();
    loop {
        p.skip(|c| c.is_whitespace());
        let Some(&c) = p.chars.peek() else {
            return Ok(pairs);
        };
        if c == '#' {
            p.skip(|c| c != '\n');
            continue;
        }
        let start = p.line;
        let err = |reason: &str| format!("line {start}: {reason}");
        let mut key = p.take(|c| !(c == '=' || c.is_whitespace()));
        if key == "export" && p.peek_is(|c| c == ' ' || c == '\t') {
            p.skip(|c| c == ' ' || c == '\t');
            key = p.take(|c| !(c == '=' || c.is_whitespace()));
        }
        p.skip(|c| c == ' ' || c == '\t');
        if key.is_empty() || !p.eat('=') {
            return Err(err("expected KEY=VALUE"));
        }
        p.skip(|c| c == ' ' || c == '\t');
        let value = match p.chars.peek() {
            Some('\'') | Some('"') => {
                let quote = p.chars.next().unwrap_or_default();
                let value = p
                    .quoted(quote)
                    .ok_or_else(|| err("the quoted value is never closed"))?;
                p.skip(|c| c == ' ' || c == '\t' || c == '\r');
                if p.peek_is(|c| c == '#') {
                    p.skip(|c| c != '\n');
                }
                if !(p.chars.peek().is_none() || p.eat('\n')) {
                    return Err(format!(
                        "line {}: unexpected text after the closing quote",
                        p.line
                    ));
                }
                value
            }
            _ => {
                let rest = p.take(|c| c != '\n');
                // ` #` starts a comment; a `#` inside a word does not.
                let cut = rest
                    .char_indices()
                    .find(|&(i, c)| c == '#' && (i == 0 || rest[..i].ends_with([' ', '\t'])))
                    .map_or(rest.len(), |(i, _)| i);
                rest[..cut].trim().to_string()
            }
        };
        pairs.push((key, value));
    }
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn peek_is(&mut self, f: impl Fn(char) -> bool) -> bool {
        self.chars.peek().is_some_and(|&c| f(c))
    }

    fn eat(&mut self, want: char) -> bool {
        if self.peek_is(|c| c == want) {
            self.next();
            true
        } else {
            false
        }
    }

    fn skip(&mut self, f: impl Fn(char) -> bool) {
        while self.peek_is(&f) {
            self.next();
        }
    }

    fn take(&mut self, f: impl Fn(char) -> bool) -> String {
        let mut out = String::new();
        while self.peek_is(&f) {
            out.extend(self.next());
        }
        out
    }

    /// After the opening quote: the decoded value, or `None` at EOF.
    fn quoted(&mut self, quote: char) -> Option<String> {
        let mut out = String::new();
        loop {
            match self.next()? {
                c if c == quote => return Some(out),
                '\\' => {
                    let c = self.next()?;
                    let decoded = match (quote, c) {
                        (_, '\\') => Some('\\'),
                        (_, '\'') => Some('\''),
                        ('"', '"') => Some('"'),
                        ('"', 'n') => Some('\n'),
                        ('"', 'r') => Some('\r'),
                        ('"', 't') => Some('\t'),
                        ('"', 'a') => Some('\x07'),
                        ('"', 'b') => Some('\x08'),
                        ('"', 'f') => Some('\x0c'),
                        ('"', 'v') => Some('\x0b'),
                        _ => None,
                    };
                    match decoded {
                        Some(d) => out.push(d),
                        None => {
                            out.push('\\');
                            out.push(c);
                        }
                    }
                }
                c => out.push(c),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // table cases read best as tuples
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn reads_what_dotenv_tools_agree_on() {
        let cases: &[(&str, &str, &[(&str, &str)])] = &[
            (
                "plain",
                "A=1\nB=two words\n",
                &[("A", "1"), ("B", "two words")],
            ),
            (
                "export prefix",
                "export A=1\nexport  B='x'",
                &[("A", "1"), ("B", "x")],
            ),
            ("key named export", "export=1", &[("export", "1")]),
            ("spaces around =", "A = 1 \n", &[("A", "1")]),
            (
                "comments and blanks",
                "# c\n\n  # c2\nA=1 # trailing\nB=a#b\n",
                &[("A", "1"), ("B", "a#b")],
            ),
            (
                "empty values",
                "A=\nB=''\nC=\"\"",
                &[("A", ""), ("B", ""), ("C", "")],
            ),
            (
                "single quotes are literal",
                r#"A='$HOME \n "x"'"#,
                &[("A", r#"$HOME \n "x""#)],
            ),
            (
                "single quote escapes",
                r"A='it\'s \\ done'",
                &[("A", r"it's \ done")],
            ),
            (
                "double quote escapes",
                r#"A="l1\nl2\t\"q\" \\ \$x \z""#,
                &[("A", "l1\nl2\t\"q\" \\ \\$x \\z")],
            ),
            (
                "multi-line quoted",
                "A=\"l1\nl2\"\nB='x\ny'\nC=3",
                &[("A", "l1\nl2"), ("B", "x\ny"), ("C", "3")],
            ),
            (
                "comment after quote",
                "A='x' # note\nB=\"y\"\t#n",
                &[("A", "x"), ("B", "y")],
            ),
            ("crlf", "A=1\r\nB='2'\r\n", &[("A", "1"), ("B", "2")]),
            ("bom", "\u{feff}A=1", &[("A", "1")]),
            ("unicode", "A=é漢🙂", &[("A", "é漢🙂")]),
            (
                "dotted key kept for the sanitiser",
                "a.b-c=1",
                &[("a.b-c", "1")],
            ),
            (
                "repeats kept for the caller to refuse",
                "A=1\nA=2",
                &[("A", "1"), ("A", "2")],
            ),
        ];
        for (name, text, want) in cases {
            assert_eq!(parse(text), Ok(pairs(want)), "{name}");
        }
    }

    #[test]
    fn errors_give_the_line_never_the_text() {
        let cases = [
            ("no equals", "A=1\nSEKRIT\n", "line 2: expected KEY=VALUE"),
            ("lone equals", "=SEKRIT", "line 1: expected KEY=VALUE"),
            (
                "unclosed single",
                "A=1\n\nB='SEKRIT\nmore",
                "line 3: the quoted value is never closed",
            ),
            (
                "unclosed double",
                "B=\"SEKRIT",
                "line 1: the quoted value is never closed",
            ),
            (
                "text after quote",
                "A='x' SEKRIT",
                "line 1: unexpected text after the closing quote",
            ),
            (
                "text after multi-line quote",
                "A='x\ny' SEKRIT",
                "line 2: unexpected text after the closing quote",
            ),
        ];
        for (name, text, want) in cases {
            let err = parse(text).unwrap_err();
            assert_eq!(err, want, "{name}");
        }
    }
}
