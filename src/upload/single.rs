//! A file of at most one part goes up in a single PUT.

use std::path::Path;

use bytes::Bytes;
use object_store::{ObjectStore, PutOptions, PutPayload};

use super::hash::ArtifactHasher;
use super::store::Object;
use super::{Stop, UploadError, Uploaded};

pub(super) async fn put_file(
    object: Object<'_>,
    file: &Path,
    size: u64,
    stop: Stop<'_>,
) -> Result<Uploaded, UploadError> {
    let file = file.to_owned();
    let (data, sha256) = tokio::task::spawn_blocking(move || read_and_hash(&file)).await??;
    if data.len() as u64 != size {
        return Err(UploadError::Changed);
    }
    let opts = PutOptions {
        attributes: object.attributes.clone(),
        ..PutOptions::default()
    };
    tokio::select! {
        result = object.store.put_opts(object.path, PutPayload::from(data), opts) => { result?; }
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
