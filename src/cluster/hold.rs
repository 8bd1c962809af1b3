//! A run's hold on its job, confirmed by compare-and-set on the job's status document:
//! the fence its upload is checked against (`upload::Fence`) and what a run checks
//! before it starts building.

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::running::RETRY_AFTER;
use super::store::StatusStore;
use crate::upload::Fence;

pub(super) struct Hold {
    pub(super) store: Arc<StatusStore>,
    pub(super) id: String,
    /// The claim's run id.
    pub(super) run: String,
    /// Ends the retries while NATS is out of reach, once the worker must exit.
    pub(super) abandon: CancellationToken,
}

impl Hold {
    /// `Ok` while the job's document names this run and the job has not ended. The
    /// document is written (unchanged) by compare-and-set: a read alone could come
    /// from before a takeover, a write that succeeds cannot. It starts from this
    /// worker's copy, which holds the run's own writes; "not held" is only ever
    /// decided on the leader's document. Retries while NATS is out of reach; the
    /// caller's own limits (cancel, deadline) bound the wait.
    pub(super) async fn confirm(&self) -> Result<(), String> {
        loop {
            let held = self
                .store
                .modify_from_copy(&self.id, "confirming the run's hold", |doc| match doc {
                    Some(doc) if doc.held_by(&self.run) => Ok((true, Some(doc.clone()))),
                    _ => Ok((false, None)),
                })
                .await;
            match held {
                Ok(modified) if modified.value => return Ok(()),
                Ok(_) => return Err("another run of the job holds it now".to_owned()),
                Err(e) if self.abandon.is_cancelled() => {
                    return Err(format!("the fleet could not confirm the run's hold: {e}"));
                }
                Err(e) => {
                    tracing::debug!("confirming the run's hold, retrying: {e}");
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        }
    }
}

impl Fence for Hold {
    fn confirm(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(Hold::confirm(self))
    }
}
