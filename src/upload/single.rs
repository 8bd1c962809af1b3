//! A file of at most one part goes up in a single PUT.

use std::path::Path;

use bytes::Bytes;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};

use super::fence::{self, Fence};
use super::hash::ArtifactHasher;
use super::store::Object;
use super::{Stop, UploadError, Uploaded};

pub(super) async fn put_file(
    object: Object<'_>,
    file: &Path,
    size: u64,
    stop: Stop<'_>,
    fence: Option<&dyn Fence>,
) -> Result<Uploaded, UploadError> {
    let file = file.to_owned();
    let (data, sha256) = tokio::task::spawn_blocking(move || read_and_hash(&file)).await??;
    if data.len() as u64 != size {
        return Err(UploadError::Changed);
    }
    let put = |mode| {
        let opts = PutOptions {
            mode,
            attributes: object.attributes.clone(),
            ..PutOptions::default()
        };
        let payload = PutPayload::from(data.clone());
        async move {
            object
                .store
                .put_opts(object.path, payload, opts)
                .await
                .map(drop)
        }
    };
    let writing = async {
        match fence {
            None => Ok(put(PutMode::Overwrite).await?),
            Some(fence) => {
                let expected = fence::single_etag(&data);
                fence::fenced(
                    object,
                    fence,
                    |etag| etag == expected,
                    || put(PutMode::Create),
                )
                .await
            }
        }
    };
    tokio::select! {
        result = writing => result?,
        // A single PUT leaves nothing behind when dropped: S3 stores an object only
        // once its whole body has arrived.
        err = stop.fired() => return Err(err),
    }
    Ok(Uploaded { size, sha256 })
}

fn read_and_hash(file: &Path) -> std::io::Result<(Bytes, String)> {
    let data = std::fs::read(file)?;
    let sha256 = ArtifactHasher::digest_hex(&data);
    Ok((Bytes::from(data), sha256))
}
