//! Reads Server-Sent Events from a byte stream, one complete event at a time.

use std::time::Duration;

use futures::StreamExt;

pub(crate) struct Event {
    pub(crate) id: Option<u64>,
    pub(crate) event: Option<String>,
    pub(crate) data: String,
}

/// Why a stream of events ended before the worker closed it.
pub(crate) enum StreamError {
    Http(reqwest::Error),
    /// Nothing arrived, not even a keep-alive comment, for the idle limit.
    Silent,
}

/// Calls `on_event` for each event of the response until it ends. Any bytes (a
/// keep-alive comment too) restart the `idle` limit.
pub(crate) async fn read_events(
    response: reqwest::Response,
    idle: Duration,
    mut on_event: impl FnMut(Event),
) -> Result<(), StreamError> {
    let mut stream = response.bytes_stream();
    let mut events = EventBuffer::default();
    loop {
        let chunk = match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => return Err(StreamError::Silent),
            Ok(None) => break,
            Ok(Some(chunk)) => chunk.map_err(StreamError::Http)?,
        };
        events.push(&chunk);
        while let Some(event) = events.next_event() {
            on_event(event);
        }
    }
    Ok(())
}

/// Bytes received so far. They are decoded only once a whole event (ending in a blank
/// line) is in: network chunks end anywhere, also inside a multi-byte character.
#[derive(Default)]
struct EventBuffer {
    bytes: Vec<u8>,
}

impl EventBuffer {
    fn push(&mut self, chunk: &[u8]) {
        self.bytes.extend_from_slice(chunk);
    }

    /// The next complete event; blocks that are only comments are skipped.
    fn next_event(&mut self) -> Option<Event> {
        loop {
            let end = self.bytes.windows(2).position(|w| w == b"\n\n")?;
            let block: Vec<u8> = self.bytes.drain(..end + 2).collect();
            if let Some(event) = parse(&String::from_utf8_lossy(&block)) {
                return Some(event);
            }
        }
    }
}

fn parse(block: &str) -> Option<Event> {
    let mut event = Event {
        id: None,
        event: None,
        data: String::new(),
    };
    let mut any = false;
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            event.id = v.parse().ok();
        } else if let Some(v) = line.strip_prefix("event: ") {
            event.event = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("data: ") {
            if any {
                event.data.push('\n');
            }
            event.data.push_str(v);
            any = true;
        }
    }
    (any || event.event.is_some()).then_some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_between_chunks_arrives_whole() {
        let stream = "id: 7\ndata: cut here…[truncated] ü\n\n".as_bytes();
        // Split inside the three bytes of '…'.
        let split = stream.iter().position(|&b| b == 0xE2).unwrap() + 1;
        let mut buffer = EventBuffer::default();
        buffer.push(&stream[..split]);
        assert!(
            buffer.next_event().is_none(),
            "the event is not complete yet"
        );
        buffer.push(&stream[split..]);
        let event = buffer.next_event().unwrap();
        assert_eq!(event.id, Some(7));
        assert_eq!(event.data, "cut here…[truncated] ü");
    }

    #[test]
    fn comments_are_skipped_and_several_events_in_one_chunk_all_come_out() {
        let mut buffer = EventBuffer::default();
        buffer.push(b": keep-alive\n\nid: 1\ndata: a\n\nevent: end\ndata: {}\n\n");
        assert_eq!(buffer.next_event().unwrap().data, "a");
        let end = buffer.next_event().unwrap();
        assert_eq!(end.event.as_deref(), Some("end"));
        assert!(buffer.next_event().is_none());
    }
}
