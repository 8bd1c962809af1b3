//! The blocking side of a multipart upload: one thread reads the artifact part by part,
//! another hashes it, and the async side sends it.
//!
//! Each part is read once into a pooled buffer and shared (as `Bytes`) by the hasher and
//! the request that sends it, so the three stages overlap: while part N is hashed and
//! sent, part N+1 is read. SHA-256 is the slowest stage on a fast network (about
//! 1-2 GB/s per core with SHA-NI), so it gets a thread of its own, off the async
//! runtime, and does nothing else.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::hash::ArtifactHasher;
use super::pool::{PartPool, stopped};

/// Reads the file into buffers from `pool`, one part per buffer, and hands each to the
/// hasher and the sender. Returns the bytes read. Ends early, with an error, once the
/// sender is gone or the pool is closed (the upload failed or was cancelled).
pub(crate) fn read_parts(
    file: &Path,
    pool: &Arc<PartPool>,
    to_hasher: std_mpsc::SyncSender<Bytes>,
    to_sender: mpsc::Sender<Bytes>,
) -> std::io::Result<u64> {
    let mut file = File::open(file)?;
    // A hint for the kernel to read ahead generously: the artifact is read once, in
    // order. Only a hint, so a filesystem that ignores it costs nothing.
    let _ = nix::fcntl::posix_fadvise(
        &file,
        0,
        0,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL,
    );
    let mut total = 0u64;
    loop {
        let mut buf = pool.take()?;
        let filled = buf.fill(&mut file)? as u64;
        if filled == 0 {
            break;
        }
        total += filled;
        let last = !buf.is_full();
        let part = buf.freeze();
        to_hasher.send(part.clone()).map_err(|_| stopped())?;
        to_sender.blocking_send(part).map_err(|_| stopped())?;
        if last {
            break;
        }
    }
    Ok(total)
}

/// Hashes the parts in the order they were read; ends when the reader hangs up.
pub(crate) fn hash_parts(parts: std_mpsc::Receiver<Bytes>) -> String {
    let mut hasher = ArtifactHasher::new();
    for part in parts {
        hasher.update(&part);
    }
    hasher.finish_hex()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn parts_cover_the_file_in_order_and_the_hash_is_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("artifact");
        let data: Vec<u8> = (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect();
        File::create(&path).unwrap().write_all(&data).unwrap();

        // Two buffers for ten parts: the reader only finishes if they come back.
        let pool = PartPool::new(4096, 2).unwrap();
        let (hash_tx, hash_rx) = std_mpsc::sync_channel(2);
        let (part_tx, mut part_rx) = mpsc::channel(1);
        let hasher = std::thread::spawn(move || hash_parts(hash_rx));
        let reader = {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || read_parts(&path, &pool, hash_tx, part_tx))
        };
        let mut received = Vec::new();
        let mut sizes = Vec::new();
        while let Some(part) = part_rx.blocking_recv() {
            sizes.push(part.len());
            received.extend_from_slice(&part);
        }
        assert_eq!(reader.join().unwrap().unwrap(), data.len() as u64);
        assert_eq!(received, data);
        assert_eq!(
            sizes,
            [4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096, 3136]
        );
        assert_eq!(hasher.join().unwrap(), ArtifactHasher::digest_hex(&data));
    }

    #[test]
    fn the_reader_stops_when_the_sender_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("artifact");
        File::create(&path)
            .unwrap()
            .write_all(&[7u8; 20_000])
            .unwrap();
        let pool = PartPool::new(4096, 2).unwrap();
        let (hash_tx, hash_rx) = std_mpsc::sync_channel(2);
        let (part_tx, part_rx) = mpsc::channel(1);
        drop(part_rx);
        let hasher = std::thread::spawn(move || hash_parts(hash_rx));
        let err = read_parts(&path, &pool, hash_tx, part_tx).unwrap_err();
        assert_eq!(err.to_string(), "upload stopped");
        hasher.join().unwrap();
    }
}
