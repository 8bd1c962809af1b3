//! The artifact's SHA-256: the one place that picks the implementation.

use sha2::{Digest, Sha256};

/// A running SHA-256 over the artifact's bytes, in order.
pub(crate) struct ArtifactHasher(Sha256);

impl ArtifactHasher {
    pub(crate) fn new() -> Self {
        Self(Sha256::new())
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Lowercase hex, as answers carry it.
    pub(crate) fn finish_hex(self) -> String {
        hex::encode(self.0.finalize())
    }

    /// The hex digest of one buffer.
    pub(crate) fn digest_hex(bytes: &[u8]) -> String {
        let mut hasher = Self::new();
        hasher.update(bytes);
        hasher.finish_hex()
    }
}
