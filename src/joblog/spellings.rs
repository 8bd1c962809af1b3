//! The ways a secret may be written in a builder's output, so that each is masked: as
//! it is, quoted for a systemd env file (the job's config carries the join token so),
//! JSON-escaped in the spellings encoders use, percent-encoded by the common URL
//! encoders in either case of hex digit, quoted for a shell, and base64-encoded alone
//! or inside a longer encoded text (an HTTP Basic credential, say).
//!
//! All of them go into one automaton, so a log line costs one pass whatever their number.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use crate::domain::quoting::env_quoted;

/// Below this many bytes a secret's base64 inside a longer text is not looked for: the
/// few characters that would be masked occur everywhere.
const MIN_EMBEDDED_BASE64: usize = 6;
/// The shortest part of an embedded encoding that is masked (6 bytes of the secret).
const MIN_EMBEDDED_CHARS: usize = 8;

/// Every spelling of `secret`, possibly with repeats.
pub(super) fn spellings(secret: &str) -> Vec<String> {
    let mut out = Vec::new();
    for text in [secret.to_owned(), env_quoted(secret)] {
        json_spellings(&text, &mut out);
        out.push(text);
    }
    percent_spellings(secret, &mut out);
    shell_spellings(secret, &mut out);
    base64_spellings(secret.as_bytes(), &mut out);
    out
}

/// A JSON string's content as encoders write it: serde's (only what must be escaped),
/// non-ASCII as `\uXXXX` in either case (Python's `json.dumps`), `/` as `\/` (PHP's
/// `json_encode`), and every character as `\uXXXX`.
fn json_spellings(text: &str, out: &mut Vec<String>) {
    let json = serde_json::to_string(text).expect("a string serializes");
    let json = &json[1..json.len() - 1];
    for escaped in [
        json.to_owned(),
        json_ascii(json, false),
        json_ascii(json, true),
    ] {
        out.push(escaped.replace('/', "\\/"));
        out.push(escaped);
    }
    for upper in [false, true] {
        out.push(
            text.encode_utf16()
                .map(|unit| hex_unit(unit, upper))
                .collect(),
        );
    }
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
            out.push_str(&hex_unit(*unit, upper));
        }
    }
    out
}

fn hex_unit(unit: u16, upper: bool) -> String {
    if upper {
        format!("\\u{unit:04X}")
    } else {
        format!("\\u{unit:04x}")
    }
}

/// Percent-encoding as RFC 3986 (unreserved kept), JavaScript's
/// `encodeURIComponent`, HTML forms (space as `+`), and Python's `quote` (keeps `/`)
/// and `quote_plus`; each with upper- and lower-case hex digits, both valid.
fn percent_spellings(secret: &str, out: &mut Vec<String>) {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    let encodings = [
        percent(secret, unreserved, false),
        percent(
            secret,
            |b| b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b),
            false,
        ),
        percent(secret, |b| unreserved(b) || b == b'/', false),
        percent(secret, unreserved, true),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
    ];
    for encoded in encodings {
        out.push(lower_hex_escapes(&encoded));
        out.push(encoded);
    }
}

/// Every byte outside `keep` as `%XX`; with `plus`, a space as `+`.
fn percent(text: &str, keep: impl Fn(u8) -> bool, plus: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if keep(b) {
            out.push(b as char);
        } else if plus && b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The hex digits after each `%` in lower case.
fn lower_hex_escapes(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut after_percent = 0;
    for c in encoded.chars() {
        if c == '%' {
            after_percent = 2;
            out.push(c);
        } else if after_percent > 0 {
            after_percent -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A shell word: single quotes with `'` written as `'\''` (POSIX shells, Rust's
/// shell-words) or `'"'"'` (Python's `shlex.quote`), and backslash escapes (bash's
/// `printf %q`). Without a `'` in the secret the quoted forms hold the secret as it is.
fn shell_spellings(secret: &str, out: &mut Vec<String>) {
    if secret.contains('\'') {
        out.push(secret.replace('\'', "'\\''"));
        out.push(secret.replace('\'', "'\"'\"'"));
    }
    let escaped: String = secret
        .chars()
        .flat_map(|c| {
            let plain = c.is_ascii_alphanumeric() || "-_./,:@%+=".contains(c) || !c.is_ascii();
            (!plain).then_some('\\').into_iter().chain([c])
        })
        .collect();
    out.push(escaped);
}

/// base64 and base64url, padded or not, of the secret alone; and, for longer secrets,
/// the part of its encoding that is the same wherever it starts inside a longer
/// encoded text (three alignments).
fn base64_spellings(secret: &[u8], out: &mut Vec<String>) {
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        out.push(engine.encode(secret));
    }
    if secret.len() < MIN_EMBEDDED_BASE64 {
        return;
    }
    for shift in 0..3 {
        let mut shifted = vec![0u8; shift];
        shifted.extend_from_slice(secret);
        // Characters from the first whole group of the secret's own bytes to the last.
        let first = if shift == 0 { 0 } else { 4 };
        let last = (shift + secret.len()) / 3 * 4;
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let encoded = engine.encode(&shifted);
            if last >= first + MIN_EMBEDDED_CHARS {
                out.push(encoded[first..last].to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_base64_part_is_so_short_that_it_masks_ordinary_text() {
        let mut encodings = Vec::new();
        base64_spellings(b"abc123", &mut encodings);
        assert!(encodings.iter().all(|e| e.len() >= 8), "{encodings:?}");
    }

    #[test]
    fn lower_case_escapes_keep_the_rest() {
        assert_eq!(lower_hex_escapes("A%2FB%C3%A9"), "A%2fB%c3%a9");
    }

    #[test]
    fn an_embedded_base64_core_is_found_at_every_alignment() {
        let secret = b"s3cret-value!";
        let mut cores = Vec::new();
        base64_spellings(secret, &mut cores);
        for prefix in ["", "u", "us", "user:"] {
            let mut text = prefix.as_bytes().to_vec();
            text.extend_from_slice(secret);
            text.extend_from_slice(b"!tail");
            let encoded = STANDARD.encode(&text);
            assert!(
                cores.iter().any(|core| encoded.contains(core.as_str())),
                "{prefix:?}: {encoded}"
            );
        }
    }
}
