//! The fleet key: queued jobs carry S3 credentials and other secrets, so they rest in
//! NATS sealed with AES-256-GCM, and the status bucket compares jobs by a keyed hash.
//! A previous key may be given during a rotation: it opens what it sealed.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::{digest, hmac};

/// Sealed data starts with a format tag and the id of the key that sealed it.
const FORMAT: &[u8; 3] = b"cb1";
const KEY_ID_LEN: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("{variable}: must be 64 hex characters (32 bytes), e.g. from `openssl rand -hex 32`")]
    BadKey { variable: &'static str },
    #[error("the job was sealed with a fleet key this worker does not hold (key id {0})")]
    UnknownKey(String),
    #[error("the sealed job is damaged or was sealed for another job")]
    Damaged,
}

struct SealingKey {
    id: [u8; KEY_ID_LEN],
    aead: LessSafeKey,
}

impl SealingKey {
    fn from_hex(hex_key: &str, variable: &'static str) -> Result<Self, SealError> {
        let bytes = hex::decode(hex_key.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or(SealError::BadKey { variable })?;
        let unbound =
            UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| SealError::BadKey { variable })?;
        // The id names the key without revealing it: the first bytes of its hash.
        let hash = digest::digest(&digest::SHA256, &bytes);
        let mut id = [0; KEY_ID_LEN];
        id.copy_from_slice(&hash.as_ref()[..KEY_ID_LEN]);
        Ok(Self {
            id,
            aead: LessSafeKey::new(unbound),
        })
    }
}

pub(crate) struct FleetKey {
    current: SealingKey,
    previous: Option<SealingKey>,
    /// For fingerprints; derived from the fleet key, never used to seal.
    mac: hmac::Key,
    random: SystemRandom,
}

impl FleetKey {
    pub(crate) fn new(current: &str, previous: Option<&str>) -> Result<Self, SealError> {
        let key = SealingKey::from_hex(current, "COREBUILD_CLUSTER_KEY")?;
        let previous = previous
            .filter(|p| !p.trim().is_empty())
            .map(|p| SealingKey::from_hex(p, "COREBUILD_CLUSTER_PREVIOUS_KEY"))
            .transpose()?;
        let raw = hex::decode(current.trim()).map_err(|_| SealError::BadKey {
            variable: "COREBUILD_CLUSTER_KEY",
        })?;
        let derived = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &raw),
            b"corebuild job fingerprint",
        );
        Ok(Self {
            current: key,
            previous,
            mac: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
            random: SystemRandom::new(),
        })
    }

    /// Encrypts `plain`, bound to `context` (which must be given again to open it).
    pub(crate) fn seal(&self, context: &str, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .expect("the system's random source works");
        let mut body = plain.to_vec();
        self.current
            .aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut body,
            )
            .expect("AES-GCM seals any length a NATS message can hold");
        let mut out = Vec::with_capacity(FORMAT.len() + KEY_ID_LEN + NONCE_LEN + body.len());
        out.extend_from_slice(FORMAT);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        out
    }

    pub(crate) fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let header = FORMAT.len() + KEY_ID_LEN + NONCE_LEN;
        if sealed.len() < header || &sealed[..FORMAT.len()] != FORMAT {
            return Err(SealError::Damaged);
        }
        let id = &sealed[FORMAT.len()..FORMAT.len() + KEY_ID_LEN];
        let key = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|k| k.id == id)
            .ok_or_else(|| SealError::UnknownKey(hex::encode(id)))?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[FORMAT.len() + KEY_ID_LEN..header]);
        let mut body = sealed[header..].to_vec();
        let plain = key
            .aead
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut body,
            )
            .map_err(|_| SealError::Damaged)?;
        Ok(plain.to_vec())
    }

    /// Whether `sealed` was sealed with the current key (not the previous one).
    pub(crate) fn sealed_with_current(&self, sealed: &[u8]) -> bool {
        sealed.get(FORMAT.len()..FORMAT.len() + KEY_ID_LEN) == Some(&self.current.id[..])
    }

    /// A keyed hash of a job: equal jobs have equal fingerprints, and the fingerprint
    /// tells nothing about the secrets inside.
    pub(crate) fn fingerprint(&self, bytes: &[u8]) -> String {
        hex::encode(hmac::sign(&self.mac, bytes).as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const OTHER: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

    #[test]
    fn a_sealed_job_opens_with_its_key_and_context_only() {
        let key = FleetKey::new(KEY, None).unwrap();
        let sealed = key.seal("corebuild/job-1/1", b"secret-key=abc");
        assert!(!sealed.windows(3).any(|w| w == b"abc"));
        assert_eq!(
            key.open("corebuild/job-1/1", &sealed).unwrap(),
            b"secret-key=abc"
        );
        assert!(matches!(
            key.open("corebuild/job-2/1", &sealed),
            Err(SealError::Damaged)
        ));
        let other = FleetKey::new(OTHER, None).unwrap();
        assert!(matches!(
            other.open("corebuild/job-1/1", &sealed),
            Err(SealError::UnknownKey(_))
        ));
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(key.open("corebuild/job-1/1", &flipped).is_err());
    }

    #[test]
    fn after_a_rotation_the_previous_key_still_opens_what_it_sealed() {
        let old = FleetKey::new(KEY, None).unwrap();
        let sealed = old.seal("c", b"job");
        let rotated = FleetKey::new(OTHER, Some(KEY)).unwrap();
        assert_eq!(rotated.open("c", &sealed).unwrap(), b"job");
        assert!(rotated.seal("c", b"job")[3..7] != sealed[3..7]);
    }

    #[test]
    fn a_key_that_is_not_64_hex_characters_is_refused_by_name() {
        for bad in ["", "abc", &KEY[..62], &format!("{}zz", &KEY[..62])] {
            let err = FleetKey::new(bad, None).err().unwrap().to_string();
            assert!(err.contains("COREBUILD_CLUSTER_KEY"), "{err}");
        }
        let err = FleetKey::new(KEY, Some("nope")).err().unwrap().to_string();
        assert!(err.contains("COREBUILD_CLUSTER_PREVIOUS_KEY"), "{err}");
    }

    #[test]
    fn fingerprints_are_equal_for_equal_jobs_and_keyed() {
        let key = FleetKey::new(KEY, None).unwrap();
        assert_eq!(key.fingerprint(b"a"), key.fingerprint(b"a"));
        assert_ne!(key.fingerprint(b"a"), key.fingerprint(b"b"));
        let other = FleetKey::new(OTHER, None).unwrap();
        assert_ne!(key.fingerprint(b"a"), other.fingerprint(b"a"));
    }
}
