//! Replaces every secret value of a job with `***` before text is stored or answered.
//!
//! A builder may print a secret as it is, or as it appears inside a JSON document or a
//! URL, so each secret is looked for in those spellings too: JSON-escaped (with and
//! without `\uXXXX` for non-ASCII characters) and percent-encoded (RFC 3986, URL
//! components, HTML forms).

use aho_corasick::{AhoCorasick, MatchKind};

pub(crate) const MASK: &str = "***";

/// Built once per job from its secret values; one pass over a line finds them all.
#[derive(Debug, Clone)]
pub(crate) struct Scrubber {
    matcher: Option<AhoCorasick>,
    longest: usize,
}

impl Scrubber {
    pub(crate) fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let spellings: Vec<String> = secrets
            .into_iter()
            .filter(|s| !s.is_empty())
            .flat_map(spellings)
            .collect();
        let mut secrets: Vec<&str> = spellings.iter().map(String::as_str).collect();
        secrets.sort_unstable();
        secrets.dedup();
        let longest = secrets.iter().map(|s| s.len()).max().unwrap_or(0);
        // Leftmost-longest: a secret that contains another is masked whole.
        let matcher = (!secrets.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&secrets)
                .expect("secret patterns build")
        });
        Self { matcher, longest }
    }

    /// Length in bytes of the longest secret: a line cut for length must keep this much
    /// more, so that no secret is cut in half before it is masked.
    pub(crate) fn longest(&self) -> usize {
        self.longest
    }

    pub(crate) fn scrub(&self, text: &str) -> String {
        match &self.matcher {
            Some(m) if m.is_match(text) => m.replace_all(text, &vec![MASK; m.patterns_len()]),
            _ => text.to_owned(),
        }
    }
}

/// The ways a secret may be written: as it is, quoted for a systemd env file (the
/// job's config carries the join token so), each of those JSON-escaped, and
/// percent-encoded.
fn spellings(secret: &str) -> Vec<String> {
    let env_quoted = crate::domain::quoting::env_quoted(secret);
    let mut out = vec![
        percent(secret, |b| {
            b.is_ascii_alphanumeric() || b"-._~".contains(&b)
        }),
        percent(secret, |b| {
            b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b)
        }),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
    ];
    for text in [secret, env_quoted.as_str()] {
        let json = serde_json::to_string(text).expect("a string serializes");
        let json = json[1..json.len() - 1].to_owned();
        out.push(text.to_owned());
        out.push(json_ascii(&json, false));
        out.push(json_ascii(&json, true));
        out.push(json);
    }
    out
}

/// JSON text with every non-ASCII character as `\uXXXX` (surrogate pairs beyond the
/// BMP), as Python's `json.dumps` writes it.
fn json_ascii(json: &str, upper: bool) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            if upper {
                out.push_str(&format!("\\u{unit:04X}"));
            } else {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// Every byte outside `keep` as `%XX`.
fn percent(text: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence_of_every_secret() {
        let s = Scrubber::new(["tok-123", "s3-secret", ""]);
        assert_eq!(
            s.scrub("token tok-123 and s3-secret, again tok-123"),
            "token *** and ***, again ***"
        );
        assert_eq!(s.scrub("nothing here"), "nothing here");
        assert_eq!(s.longest(), 9);
    }

    #[test]
    fn a_secret_containing_another_is_masked_whole() {
        let s = Scrubber::new(["abc", "abcdef"]);
        assert_eq!(s.scrub("xabcdefx"), "x***x");
    }

    #[test]
    fn escaped_and_encoded_spellings_are_masked_too() {
        let secret = "PT\"quoted\\ é/ü+x";
        let s = Scrubber::new([secret]);
        for printed in [
            r#"{"token": "PT\"quoted\\ é/ü+x"}"#,
            r#"{"token": "PT\"quoted\\ \u00e9/\u00fc+x"}"#,
            r#"{"token": "PT\"quoted\\ \u00E9/\u00FC+x"}"#,
            "https://h/?t=PT%22quoted%5C%20%C3%A9%2F%C3%BC%2Bx",
            "t=PT%22quoted%5C+%C3%A9%2F%C3%BC%2Bx",
            "PT\"quoted\\ é/ü+x",
        ] {
            let scrubbed = s.scrub(printed);
            assert!(scrubbed.contains(MASK), "{printed} -> {scrubbed}");
            assert!(!scrubbed.contains("quoted"), "{printed} -> {scrubbed}");
        }
    }

    #[test]
    fn no_secrets_changes_nothing() {
        assert_eq!(Scrubber::new([]).scrub("plain"), "plain");
    }
}
