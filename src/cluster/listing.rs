//! Reading every key of a bucket at once: one ordered consumer that delivers each key's
//! latest value, rather than one request per key.

use std::time::Duration;

use async_nats::jetstream::{kv, stream};
use futures::StreamExt;

use super::ClusterError;

/// How long a listing waits for the next value before it takes what it has.
const LIST_WAIT: Duration = Duration::from_secs(5);

/// The latest value of every key of `kv` (its stream is `stream`) that is not deleted.
pub(super) async fn latest(
    kv: &kv::Store,
    stream: &stream::Stream,
    what: &str,
) -> Result<Vec<kv::Entry>, ClusterError> {
    let failed = |e: &dyn std::fmt::Display| ClusterError::nats(what, e);
    let bucket = stream.get_info().await.map_err(|e| failed(&e))?;
    if bucket.state.messages == 0 {
        return Ok(Vec::new());
    }
    let mut watch = kv.watch_with_history(">").await.map_err(|e| failed(&e))?;
    let mut entries = Vec::new();
    loop {
        // The bucket was not empty a moment ago; it may have emptied meanwhile.
        let next = tokio::time::timeout(LIST_WAIT, watch.next()).await;
        let Ok(Some(entry)) = next else {
            break;
        };
        let entry = entry.map_err(|e| failed(&e))?;
        let last = entry.delta == 0;
        if entry.operation == kv::Operation::Put {
            entries.push(entry);
        }
        if last {
            break;
        }
    }
    Ok(entries)
}
