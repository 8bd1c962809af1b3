//! Files that systemd reads with `EnvironmentFile=` (systemd.exec(5)): every value is
//! written in double quotes with systemd's escapes, so that what the unit sees is
//! exactly the value the job sent, whatever it holds.
//!
//! Inside double quotes systemd takes `\"`, `\\`, `` \` `` and `\$` as the character
//! itself and keeps every other character as it is, spaces and `#` included. Values
//! never hold control characters (refused when the job is parsed), so no line break
//! can end a value early.

use crate::domain::quoting::env_quoted;

/// `KEY="value"` lines, one per pair, in order.
pub(crate) fn render(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (key, value) in pairs {
        out.push_str(key);
        out.push_str("=\"");
        out.push_str(&env_quoted(value));
        out.push_str("\"\n");
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    //! The writer against a reading of systemd's own parser (`parse_env_file_internal`
    //! in src/basic/env-file.c, which `EnvironmentFile=` uses), and that reading
    //! against the real parser of systemd's environment.d generator where it is
    //! installed.
    use super::*;

    /// The states of systemd's env-file parser.
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        PreKey,
        Key,
        PreValue,
        Value,
        ValueEscape,
        SingleQuote,
        DoubleQuote,
        DoubleQuoteEscape,
        Comment,
        CommentEscape,
    }

    /// Parses an env file as systemd does for `EnvironmentFile=`: a line-by-line port
    /// of its state machine, trailing-whitespace rules and end-of-file handling.
    pub(crate) fn parse(text: &str) -> Vec<(String, String)> {
        use State::*;
        let newline = |c: char| c == '\n' || c == '\r';
        let whitespace = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
        let mut pairs = Vec::new();
        let (mut state, mut key, mut value) = (PreKey, Vec::<char>::new(), Vec::<char>::new());
        // Where trailing whitespace of an unquoted value (or of the key) begins.
        let (mut value_ws, mut key_ws): (Option<usize>, Option<usize>) = (None, None);
        let mut push = |key: &mut Vec<char>, value: &mut Vec<char>, key_ws: Option<usize>| {
            if let Some(end) = key_ws {
                key.truncate(end);
            }
            pairs.push((key.iter().collect(), value.iter().collect()));
            key.clear();
            value.clear();
        };
        for c in text.chars() {
            match state {
                PreKey => {
                    if c == '#' || c == ';' {
                        state = Comment;
                    } else if !whitespace(c) {
                        state = Key;
                        key_ws = None;
                        key.push(c);
                    }
                }
                Key => {
                    if newline(c) {
                        state = PreKey;
                        key.clear();
                    } else if c == '=' {
                        state = PreValue;
                        value_ws = None;
                    } else {
                        if !whitespace(c) {
                            key_ws = None;
                        } else if key_ws.is_none() {
                            key_ws = Some(key.len());
                        }
                        key.push(c);
                    }
                }
                PreValue => {
                    if newline(c) {
                        state = PreKey;
                        push(&mut key, &mut value, key_ws);
                    } else if c == '\'' {
                        state = SingleQuote;
                    } else if c == '"' {
                        state = DoubleQuote;
                    } else if c == '\\' {
                        state = ValueEscape;
                    } else if !whitespace(c) {
                        state = Value;
                        value.push(c);
                    }
                }
                Value => {
                    if newline(c) {
                        state = PreKey;
                        if let Some(end) = value_ws {
                            value.truncate(end);
                        }
                        push(&mut key, &mut value, key_ws);
                    } else if c == '\\' {
                        state = ValueEscape;
                        value_ws = None;
                    } else {
                        if !whitespace(c) {
                            value_ws = None;
                        } else if value_ws.is_none() {
                            value_ws = Some(value.len());
                        }
                        value.push(c);
                    }
                }
                ValueEscape => {
                    state = Value;
                    if !newline(c) {
                        value.push(c);
                    }
                }
                SingleQuote => {
                    if c == '\'' {
                        state = PreValue;
                    } else {
                        value.push(c);
                    }
                }
                DoubleQuote => {
                    if c == '"' {
                        state = PreValue;
                    } else if c == '\\' {
                        state = DoubleQuoteEscape;
                    } else {
                        value.push(c);
                    }
                }
                DoubleQuoteEscape => {
                    state = DoubleQuote;
                    if matches!(c, '"' | '\\' | '`' | '$') {
                        value.push(c);
                    } else if c != '\n' {
                        value.push('\\');
                        value.push(c);
                    }
                }
                Comment => {
                    if c == '\\' {
                        state = CommentEscape;
                    } else if newline(c) {
                        state = PreKey;
                    }
                }
                CommentEscape => {
                    state = if newline(c) { PreKey } else { Comment };
                }
            }
        }
        if !matches!(state, PreKey | Key | Comment | CommentEscape) {
            if state == Value
                && let Some(end) = value_ws
            {
                value.truncate(end);
            }
            push(&mut key, &mut value, key_ws);
        }
        pairs
    }

    /// Values that broke the old writer, and more of their kind.
    fn awkward() -> Vec<String> {
        let mut values: Vec<String> = [
            "https://cloudly.example.com\\",
            "\"starts with a quote",
            "'starts with an apostrophe",
            "  leading and trailing  ",
            "has # a comment sign",
            "back\\slash and \\\\ two",
            "dollar $HOME and ${HOME} and $",
            "back`tick`",
            "ünïcødé ✓ 日本",
            "mixed \"'\\$`# ",
            "",
            "=",
            "a=b",
            ";semicolon",
            "\\",
            "\"",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        // Every pair of the special characters, around ordinary text.
        let specials = ['"', '\'', '\\', '$', '`', '#', ' ', ';', '='];
        for a in specials {
            for b in specials {
                values.push(format!("{a}x{b}"));
                values.push(format!("{a}{b}"));
            }
        }
        values
    }

    #[test]
    fn every_value_reads_back_as_it_was_written() {
        for value in awkward() {
            let text = render(&[("FIRST", &value), ("SECOND", "after")]);
            let parsed = parse(&text);
            assert_eq!(
                parsed,
                [
                    ("FIRST".to_owned(), value.clone()),
                    ("SECOND".to_owned(), "after".to_owned())
                ],
                "{text}"
            );
        }
    }

    #[test]
    fn the_reading_matches_the_old_failures() {
        // What the unquoted writer produced, read as systemd reads it.
        let joined = parse("URL=https://x\\\nTOKEN=t\n");
        assert_eq!(joined, [("URL".to_owned(), "https://xTOKEN=t".to_owned())]);
        let swallowed = parse("TOKEN=\"abc\nNEXT=1\n");
        assert_eq!(swallowed.len(), 1);
        assert_eq!(parse("A=  x  \n"), [("A".to_owned(), "x".to_owned())]);
    }

    /// The environment.d generator parses with the same code, then expands `$`
    /// references (which `EnvironmentFile=` does not), so values without `$` are
    /// compared with it.
    #[test]
    fn the_reading_agrees_with_systemds_own_parser() {
        let generator = std::path::Path::new(
            "/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator",
        );
        if !generator.exists() {
            eprintln!(
                "systemd's environment.d generator is not installed; compared with the reading only"
            );
            return;
        }
        let values: Vec<String> = awkward().into_iter().filter(|v| !v.contains('$')).collect();
        let keys: Vec<String> = (0..values.len()).map(|i| format!("V{i}")).collect();
        let pairs: Vec<(&str, &str)> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut text = render(&pairs);
        // Hand-written lines in every quoting style, beside the writer's.
        text.push_str("RAW1=  unquoted value  \nRAW2='single \\ \"q\"'\nRAW3=\"a\"b'c'\nRAW4=x\\\ny\n# comment\nRAW5=\"esc \\n \\q\"\n");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("environment.d")).unwrap();
        std::fs::write(dir.path().join("environment.d/10-test.conf"), &text).unwrap();
        let output = std::process::Command::new(generator)
            .env_clear()
            .env("XDG_CONFIG_HOME", dir.path())
            .env("XDG_CONFIG_DIRS", dir.path().join("none"))
            .output()
            .unwrap();
        assert!(output.status.success());
        let printed = String::from_utf8(output.stdout).unwrap();
        let theirs: std::collections::HashMap<String, String> = printed
            .lines()
            .filter_map(|line| {
                let (key, value) = line.split_once('=')?;
                Some((key.to_owned(), unquote_printed(value)))
            })
            .collect();
        for (key, value) in parse(&text) {
            // The generator leaves out variables whose value is empty.
            let printed_value = theirs.get(&key).map_or("", String::as_str);
            assert_eq!(printed_value, value, "{key} in {printed}");
        }
    }

    /// The generator prints each value bare or in double quotes with `\` before `"`,
    /// `\`, `` ` `` and `$`.
    fn unquote_printed(value: &str) -> String {
        let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
            return value.to_owned();
        };
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                out.extend(chars.next());
            } else {
                out.push(c);
            }
        }
        out
    }
}
