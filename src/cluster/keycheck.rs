//! One key per fleet. The status bucket holds a short text sealed with the fleet's
//! key; a worker whose key cannot open it refuses to start, instead of joining and
//! admitting jobs nobody else can open. During a rotation a worker that opens it with
//! its previous key seals it again with its current one, so the check follows the
//! fleet to the new key.

use async_nats::jetstream::kv;

use super::ClusterStartError;
use super::names::Names;
use super::seal::FleetKey;

/// The check's key in the status bucket. Not a job id: those start with a letter or digit.
const KEY_CHECK: &str = "_fleet_key_check";
const TEXT: &[u8] = b"corebuild fleet key check";

pub(super) async fn check(
    status: &kv::Store,
    names: &Names,
    key: &FleetKey,
    urls: &str,
) -> Result<(), ClusterStartError> {
    let context = format!("{}/{KEY_CHECK}", names.prefix());
    let nats = |err: &dyn std::fmt::Display| ClusterStartError::Setup {
        what: format!("the fleet's key check in bucket {}", names.status_bucket()),
        urls: urls.to_owned(),
        reason: err.to_string(),
    };
    loop {
        let entry = status.entry(KEY_CHECK).await.map_err(|e| nats(&e))?;
        let Some(entry) = entry.filter(|e| e.operation == kv::Operation::Put) else {
            // The fleet's first worker: the check is sealed with its key.
            match status
                .create(KEY_CHECK, key.seal(&context, TEXT).into())
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => continue,
                Err(e) => return Err(nats(&e)),
            }
        };
        match key.open(&context, &entry.value) {
            Ok(text) if text == TEXT => {}
            _ => {
                return Err(ClusterStartError::WrongKey {
                    prefix: names.prefix().to_owned(),
                });
            }
        }
        if key.sealed_with_current(&entry.value) {
            return Ok(());
        }
        // Opened with the previous key: the fleet is rotating; move the check along.
        let resealed = key.seal(&context, TEXT);
        match status
            .update(KEY_CHECK, resealed.into(), entry.revision)
            .await
        {
            Ok(_) => {
                tracing::info!(
                    "the fleet's key check is sealed with the new COREBUILD_CLUSTER_KEY now"
                );
                return Ok(());
            }
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
            Err(e) => return Err(nats(&e)),
        }
    }
}
