//! Reads a child's output line by line as it arrives, holding at most one capped line
//! in memory however long a line the child prints.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Calls `on_line` for each line (without `\n` or `\r\n`), keeping at most `cap` bytes of
/// a line; the rest of an over-long line is read and dropped. Invalid UTF-8 is replaced.
pub(crate) async fn for_each_line<R, F>(
    mut reader: R,
    cap: usize,
    mut on_line: F,
) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    F: FnMut(&str),
{
    let mut line: Vec<u8> = Vec::new();
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            if !line.is_empty() {
                emit(&mut line, &mut on_line);
            }
            return Ok(());
        }
        let (chunk, consumed, complete) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], i + 1, true),
            None => (buf, buf.len(), false),
        };
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        reader.consume(consumed);
        if complete {
            emit(&mut line, &mut on_line);
        }
    }
}

fn emit<F: FnMut(&str)>(line: &mut Vec<u8>, on_line: &mut F) {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    on_line(&String::from_utf8_lossy(line));
    line.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], cap: usize) -> Vec<String> {
        let mut out = Vec::new();
        for_each_line(input, cap, |l| out.push(l.to_owned()))
            .await
            .unwrap();
        out
    }

    #[tokio::test]
    async fn splits_on_newlines_and_keeps_a_last_partial_line() {
        assert_eq!(lines(b"a\r\nb\n\nc", 100).await, ["a", "b", "", "c"]);
    }

    #[tokio::test]
    async fn caps_long_lines_and_goes_on() {
        let mut input = vec![b'x'; 10_000];
        input.extend_from_slice(b"\nnext\n");
        assert_eq!(lines(&input, 8).await, ["xxxxxxxx", "next"]);
    }

    #[tokio::test]
    async fn replaces_invalid_utf8() {
        assert_eq!(lines(b"ok \xff\n", 100).await, ["ok \u{fffd}"]);
    }
}
