//! How a job's values are written inside double quotes in a systemd env file
//! (`EnvironmentFile=`, systemd.exec(5)). The config writes them so, and the log
//! scrubber must know that spelling of a secret too.

/// `value` with `\` before each `"`, `\`, `` ` `` and `$`: inside double quotes systemd
/// takes these four escapes as the character itself and every other character as it is.
pub(crate) fn env_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '`' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
