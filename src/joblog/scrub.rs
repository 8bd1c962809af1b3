//! Replaces every secret value of a job with `***` before text is stored or answered.

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
        let mut secrets: Vec<&str> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
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
    fn no_secrets_changes_nothing() {
        assert_eq!(Scrubber::new([]).scrub("plain"), "plain");
    }
}
