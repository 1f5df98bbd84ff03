//! Keys for encrypting secrets at rest.
//!
//! The key ring maps a key version to a 32-byte AES-256 key. The newest (highest) version encrypts;
//! every version in the ring can still decrypt, so keys can be rotated without downtime. Keys are
//! held in `secrecy` boxes: they are zeroed on drop and never printed.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretBox};

/// Length of an AES-256 key in bytes.
pub const KEY_LEN: usize = 32;

/// Why a `TOKEN_KEYS` value could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyRingError {
    #[error("no keys given; expected `version:base64key[,version:base64key…]`")]
    Empty,
    #[error("entry {position} is not `version:base64key`")]
    Malformed { position: usize },
    #[error("entry {position} has version {found:?}; a version is a whole number from 1")]
    BadVersion { position: usize, found: String },
    #[error("key version {0} appears more than once")]
    DuplicateVersion(u32),
    #[error("key version {version} is not valid base64")]
    NotBase64 { version: u32 },
    #[error("key version {version} is {len} bytes; AES-256 needs exactly {KEY_LEN}")]
    WrongLength { version: u32, len: usize },
}

/// The versioned keys used to encrypt tokens and credentials.
pub struct KeyRing {
    keys: BTreeMap<u32, SecretBox<[u8; KEY_LEN]>>,
}

impl KeyRing {
    /// Parses `1:base64key,2:base64key`. Whitespace around entries is ignored.
    pub fn parse(spec: &str) -> Result<Self, KeyRingError> {
        let mut keys = BTreeMap::new();
        for (index, entry) in spec.split(',').map(str::trim).enumerate() {
            let position = index + 1;
            if entry.is_empty() {
                continue;
            }
            let (version, key) = entry
                .split_once(':')
                .ok_or(KeyRingError::Malformed { position })?;
            let version = version
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|v| *v >= 1)
                .ok_or_else(|| KeyRingError::BadVersion {
                    position,
                    found: version.trim().to_owned(),
                })?;
            let mut bytes = STANDARD
                .decode(key.trim())
                .map_err(|_| KeyRingError::NotBase64 { version })?;
            let len = bytes.len();
            let key: Result<[u8; KEY_LEN], _> = bytes.as_slice().try_into();
            zeroize::Zeroize::zeroize(&mut bytes);
            let key = key.map_err(|_| KeyRingError::WrongLength { version, len })?;
            if keys
                .insert(version, SecretBox::new(Box::new(key)))
                .is_some()
            {
                return Err(KeyRingError::DuplicateVersion(version));
            }
        }
        if keys.is_empty() {
            return Err(KeyRingError::Empty);
        }
        Ok(Self { keys })
    }

    /// The version new ciphertexts are written with.
    pub fn newest_version(&self) -> u32 {
        // `parse` refuses an empty ring, so there is always a last key.
        self.keys.keys().next_back().copied().unwrap_or(0)
    }

    /// The key of one version, if the ring holds it.
    pub fn key(&self, version: u32) -> Option<&[u8; KEY_LEN]> {
        self.keys.get(&version).map(|k| k.expose_secret())
    }

    /// Every version in the ring, oldest first.
    pub fn versions(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.keys().copied()
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("versions", &self.keys.keys().collect::<Vec<_>>())
            .field("keys", &"[REDACTED]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    #[test]
    fn newest_version_encrypts() {
        let spec = format!(
            "1:{},3:{}, 2:{}",
            b64(&[1; 32]),
            b64(&[3; 32]),
            b64(&[2; 32])
        );
        let ring = KeyRing::parse(&spec).unwrap();
        assert_eq!(ring.newest_version(), 3);
        assert_eq!(ring.key(2), Some(&[2; 32]));
        assert_eq!(ring.versions().collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn bad_rings_are_refused_with_a_reason() {
        let ok = b64(&[7; 32]);
        assert_eq!(KeyRing::parse(" ").unwrap_err(), KeyRingError::Empty);
        assert_eq!(
            KeyRing::parse(&ok).unwrap_err(),
            KeyRingError::Malformed { position: 1 }
        );
        assert!(matches!(
            KeyRing::parse(&format!("0:{ok}")).unwrap_err(),
            KeyRingError::BadVersion { .. }
        ));
        assert_eq!(
            KeyRing::parse(&format!("1:{ok},1:{ok}")).unwrap_err(),
            KeyRingError::DuplicateVersion(1)
        );
        assert_eq!(
            KeyRing::parse("1:not base64!").unwrap_err(),
            KeyRingError::NotBase64 { version: 1 }
        );
        assert_eq!(
            KeyRing::parse(&format!("1:{}", b64(&[1; 16]))).unwrap_err(),
            KeyRingError::WrongLength {
                version: 1,
                len: 16
            }
        );
    }

    #[test]
    fn debug_never_shows_key_material() {
        let ring = KeyRing::parse(&format!("4:{}", b64(&[0xAB; 32]))).unwrap();
        let shown = format!("{ring:?}");
        assert!(shown.contains("[4]"));
        assert!(!shown.contains(&b64(&[0xAB; 32])));
        assert!(!shown.contains("171"));
    }
}
