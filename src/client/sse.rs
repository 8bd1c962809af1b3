//! Reads Server-Sent Events from a byte stream, one complete event at a time.

use futures::StreamExt;

pub struct Event {
    pub id: Option<u64>,
    pub event: Option<String>,
    pub data: String,
}

/// Calls `on_event` for each event of the response until it ends.
pub async fn read_events(
    response: reqwest::Response,
    mut on_event: impl FnMut(Event),
) -> Result<(), reqwest::Error> {
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    while let Some(chunk) = stream.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk?));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if let Some(event) = parse(&block) {
                on_event(event);
            }
        }
    }
    Ok(())
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
