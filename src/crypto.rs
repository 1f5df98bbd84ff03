//! Secrets at rest: AES-256-GCM with versioned keys.
//!
//! The key ring maps a key version to a 32-byte AES-256 key. The newest (highest) version encrypts;
//! every version in the ring can still decrypt, so keys can be rotated without downtime. Keys are
//! held in `secrecy` boxes: they are zeroed on drop and never printed.
//!
//! A stored secret is `v{version}:{base64(nonce || ciphertext)}` with a random 96-bit nonce. The
//! associated data binds it to its school, table, row and column: a ciphertext copied to another
//! row or another school does not decrypt.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use uuid::Uuid;

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

/// What a ciphertext is bound to: decrypting it anywhere else fails.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub school: Uuid,
    pub table: &'a str,
    pub row: Uuid,
    pub column: &'a str,
}

impl Binding<'_> {
    fn associated_data(&self) -> Vec<u8> {
        format!(
            "invigilator/1|{}|{}|{}|{}",
            self.school, self.table, self.row, self.column
        )
        .into_bytes()
    }
}

/// Why a stored secret could not be decrypted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("stored secret is not in the form v<version>:<base64>")]
    Malformed,
    #[error("stored secret uses key version {0}, which TOKEN_KEYS does not hold")]
    UnknownVersion(u32),
    #[error("stored secret failed authentication (tampered, or bound to another row)")]
    Authentication,
    #[error("encryption failed")]
    Encryption,
}

const NONCE_LEN: usize = 12;

/// The key version a stored secret was written with, without decrypting it.
pub fn version_of(stored: &str) -> Option<u32> {
    stored.strip_prefix('v')?.split_once(':')?.0.parse().ok()
}

impl KeyRing {
    fn cipher(&self, version: u32) -> Result<Aes256Gcm, CryptoError> {
        let key = self
            .key(version)
            .ok_or(CryptoError::UnknownVersion(version))?;
        Aes256Gcm::new_from_slice(key).map_err(|_| CryptoError::Encryption)
    }

    /// Encrypts `plaintext` with the newest key, bound to `binding`.
    pub fn encrypt(
        &self,
        plaintext: &SecretString,
        binding: Binding<'_>,
    ) -> Result<String, CryptoError> {
        let version = self.newest_version();
        let nonce = Nonce::generate();
        let aad = binding.associated_data();
        let ciphertext = self
            .cipher(version)?
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.expose_secret().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Encryption)?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(nonce.as_slice());
        sealed.extend_from_slice(&ciphertext);
        Ok(format!("v{version}:{}", STANDARD.encode(sealed)))
    }

    /// Decrypts a stored secret written by [`KeyRing::encrypt`] for the same `binding`.
    pub fn decrypt(&self, stored: &str, binding: Binding<'_>) -> Result<SecretString, CryptoError> {
        let version = version_of(stored).ok_or(CryptoError::Malformed)?;
        let (_, body) = stored.split_once(':').ok_or(CryptoError::Malformed)?;
        let sealed = STANDARD.decode(body).map_err(|_| CryptoError::Malformed)?;
        if sealed.len() < NONCE_LEN + 16 {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| CryptoError::Malformed)?;
        let aad = binding.associated_data();
        let plaintext = self
            .cipher(version)?
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Authentication)?;
        String::from_utf8(plaintext)
            .map(SecretString::from)
            .map_err(|_| CryptoError::Authentication)
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

    fn binding(row: Uuid) -> Binding<'static> {
        Binding {
            school: Uuid::from_u128(1),
            table: "google_credentials",
            row,
            column: "refresh_token",
        }
    }

    #[test]
    fn a_secret_round_trips_under_the_newest_key() {
        let ring = KeyRing::parse(&format!("1:{},2:{}", b64(&[1; 32]), b64(&[2; 32]))).unwrap();
        let row = Uuid::new_v4();
        let secret = SecretString::from("1//refresh-token".to_owned());
        let stored = ring.encrypt(&secret, binding(row)).unwrap();
        assert!(stored.starts_with("v2:"), "{stored}");
        assert!(!stored.contains("refresh-token"));
        assert_eq!(
            ring.decrypt(&stored, binding(row)).unwrap().expose_secret(),
            "1//refresh-token"
        );
        // Two encryptions of one secret differ (random nonce).
        assert_ne!(stored, ring.encrypt(&secret, binding(row)).unwrap());
    }

    #[test]
    fn tampering_another_row_and_an_unknown_version_are_refused() {
        let ring = KeyRing::parse(&format!("3:{}", b64(&[3; 32]))).unwrap();
        let row = Uuid::new_v4();
        let stored = ring
            .encrypt(&SecretString::from("token".to_owned()), binding(row))
            .unwrap();

        let (prefix, body) = stored.split_once(':').unwrap();
        let mut bytes = STANDARD.decode(body).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("{prefix}:{}", STANDARD.encode(bytes));
        assert_eq!(
            ring.decrypt(&tampered, binding(row)).unwrap_err(),
            CryptoError::Authentication
        );

        assert_eq!(
            ring.decrypt(&stored, binding(Uuid::new_v4())).unwrap_err(),
            CryptoError::Authentication,
            "a ciphertext moved to another row"
        );
        let other_school = Binding {
            school: Uuid::from_u128(2),
            ..binding(row)
        };
        assert_eq!(
            ring.decrypt(&stored, other_school).unwrap_err(),
            CryptoError::Authentication
        );
        let other_column = Binding {
            column: "access_token",
            ..binding(row)
        };
        assert_eq!(
            ring.decrypt(&stored, other_column).unwrap_err(),
            CryptoError::Authentication
        );

        let unknown = stored.replacen("v3:", "v9:", 1);
        assert_eq!(
            ring.decrypt(&unknown, binding(row)).unwrap_err(),
            CryptoError::UnknownVersion(9)
        );
        for junk in ["", "v3", "v3:%%%", "3:abcd", "vx:abcd", "v3:AAAA"] {
            assert!(ring.decrypt(junk, binding(row)).is_err(), "{junk:?}");
        }
        assert_eq!(version_of(&stored), Some(3));
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
