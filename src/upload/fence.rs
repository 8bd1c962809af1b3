//! Fenced writes: in a fleet, a run the fleet no longer counts (its worker was paused,
//! another took the job over) must never replace the object a newer run wrote. A check
//! in the worker cannot stop a request that is already on the wire, so the store checks
//! too, with S3 conditional requests:
//!
//! 1. `HEAD` the key: the object there now, by ETag, or none;
//! 2. ask the [`Fence`] (the fleet, by compare-and-set on the job's status document)
//!    whether this run still holds the job;
//! 3. `DELETE` with `If-Match: <that ETag>`, when there was an object;
//! 4. write with `If-None-Match: *` (the single `PUT`, or `CompleteMultipartUpload`).
//!
//! A superseded run can only write where the key is empty, and only a run that looked
//! at the object *before* confirming its hold can empty it, so every write after a newer
//! run's confirmation fails with 412 and the newer run's object stays. A holder that
//! loses a race (a superseded run's write landed in its gap) sees 412 and goes round
//! again. These two conditions are the ones AWS S3, Ceph and moto all enforce; a store
//! that ignores them gets no fence from the store (docs/cluster.md).

use futures::future::BoxFuture;
use md5::{Digest, Md5};
use object_store::ObjectStoreExt;
use object_store::multipart::PartId;

use super::UploadError;
use super::store::Object;

/// A run's hold on its job, confirmed by whoever decides who holds it.
pub(crate) trait Fence: Send + Sync {
    /// `Ok` while this run still holds the job; the reason otherwise. Must be
    /// linearizable: a hold confirmed at time t means no newer run existed at t.
    fn confirm(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// Rounds of "look, confirm, write" before a write that keeps losing races gives up.
const ROUNDS: usize = 5;

/// What the store holds at the key, by ETag.
pub(super) type Current = Option<String>;

/// Runs `write` under the fence: at most [`ROUNDS`] times, each after looking at the
/// key, confirming the hold and emptying the key of what was seen. `write` must be
/// create-only (`If-None-Match: *`); `ours` tells whether an ETag is this run's own
/// object (a write whose answer was lost and that the store then refused as a repeat).
pub(super) async fn fenced<W, F>(
    object: Object<'_>,
    fence: &dyn Fence,
    ours: impl Fn(&str) -> bool,
    mut write: W,
) -> Result<(), UploadError>
where
    W: FnMut() -> F,
    F: std::future::Future<Output = Result<(), object_store::Error>>,
{
    for round in 0..ROUNDS {
        let current = current(object).await?;
        // After a write whose answer went missing (the client's retry was refused as a
        // repeat), the object may be this run's own.
        if round > 0 && current.as_deref().is_some_and(&ours) {
            return Ok(());
        }
        fence.confirm().await.map_err(UploadError::Superseded)?;
        crate::faults::point("before_complete");
        if let Some(etag) = &current {
            match delete_if_match(object, etag).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) if lost_race(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        match write().await {
            Ok(()) => return Ok(()),
            Err(e) if lost_race(&e) => {
                tracing::info!("the object changed while it was written; looking again");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(UploadError::Contended)
}

/// 412 (a condition failed) or 409 (a concurrent write to the key): another writer
/// came first.
fn lost_race(e: &object_store::Error) -> bool {
    matches!(
        e,
        object_store::Error::Precondition { .. }
            | object_store::Error::AlreadyExists { .. }
            | object_store::Error::NotModified { .. }
    )
}

async fn current(object: Object<'_>) -> Result<Current, UploadError> {
    match object.store.head(object.path).await {
        Ok(meta) => Ok(meta.e_tag.map(|t| unquoted(&t).to_owned())),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE` with `If-Match`: object_store's delete takes no options, so it goes
/// through a client of the same store whose every request carries the header.
async fn delete_if_match(object: Object<'_>, etag: &str) -> Result<(), object_store::Error> {
    let store = object
        .client
        .with_header("if-match", &format!("\"{etag}\""))?;
    store.delete(object.path).await
}

pub(super) fn unquoted(etag: &str) -> &str {
    etag.trim_matches('"')
}

/// The ETag S3 gives a single `PUT` of `data`: its MD5.
pub(super) fn single_etag(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// The ETag S3 gives a completed multipart upload: the MD5 of its parts' MD5s, a dash
/// and the number of parts. `None` when a part's ETag is not an MD5 (encrypted with
/// KMS, say): then a lost answer cannot be told from a lost race.
pub(super) fn multipart_etag(parts: &[PartId]) -> Option<String> {
    let mut md5s = Vec::with_capacity(parts.len() * 16);
    for part in parts {
        md5s.extend(hex::decode(unquoted(&part.content_id)).ok()?);
    }
    Some(format!(
        "{}-{}",
        hex::encode(Md5::digest(&md5s)),
        parts.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multipart_etag_is_the_md5_of_the_part_md5s() {
        // Two parts "a" and "b", as S3 computes it.
        let parts = [single_etag(b"a"), single_etag(b"b")]
            .map(|md5| PartId {
                content_id: format!("\"{md5}\""),
            })
            .to_vec();
        let mut both = Md5::digest(b"a").to_vec();
        both.extend(Md5::digest(b"b"));
        assert_eq!(
            multipart_etag(&parts).unwrap(),
            format!("{}-2", hex::encode(Md5::digest(&both)))
        );
        let kms = [PartId {
            content_id: "not-hex".into(),
        }];
        assert_eq!(multipart_etag(&kms), None);
    }
}
