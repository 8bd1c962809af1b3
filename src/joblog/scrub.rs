//! Replaces every secret value of a job with `***` before text is stored or answered.
//!
//! A builder may print a secret as it is, or as it appears inside a JSON document, a
//! URL, a shell command or base64, so each secret is looked for in those spellings too
//! (`spellings`).

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use super::spellings::spellings;

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
        // Leftmost-longest: a secret that contains another is masked whole. A
        // contiguous NFA, not the DFA the crate would pick for so few patterns: it is
        // built in tens of microseconds instead of milliseconds (the worker builds one
        // per job, on the path from claim to start), and scans log lines about as fast.
        let matcher = (!secrets.is_empty()).then(|| {
            AhoCorasick::builder()
                .kind(Some(AhoCorasickKind::ContiguousNFA))
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
        // The longest spelling: every character as `\uXXXX`.
        assert_eq!(s.longest(), "s3-secret".len() * 6);
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
