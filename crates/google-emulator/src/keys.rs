//! RSA keys and RS256 JSON Web Tokens: the emulator's ID-token signing key (published as a JWKS)
//! and service-account keys (whose JWT assertions the token endpoint verifies).

use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::Sha256;

/// An RSA key pair with a key id.
#[derive(Clone)]
pub struct KeyPair {
    pub kid: String,
    private: Arc<RsaPrivateKey>,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Why a JWT was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("not a JWT (expected three base64url parts)")]
    Malformed,
    #[error("unsupported JWT algorithm {0:?}; expected RS256")]
    Algorithm(String),
    #[error("invalid JWT signature")]
    Signature,
}

impl KeyPair {
    /// A fresh 2048-bit key.
    pub fn generate() -> Self {
        let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048)
            .unwrap_or_else(|e| panic!("RSA key generation failed: {e}"));
        let kid = hex(&rand::random::<[u8; 20]>());
        Self {
            kid,
            private: Arc::new(private),
        }
    }

    /// The key every emulator in this process signs ID tokens with. Generating RSA keys is slow,
    /// and tests start many emulators.
    pub fn shared() -> Self {
        static KEY: OnceLock<KeyPair> = OnceLock::new();
        KEY.get_or_init(Self::generate).clone()
    }

    pub fn public(&self) -> RsaPublicKey {
        self.private.to_public_key()
    }

    /// The public key as a JWK (`kty`, `alg`, `use`, `kid`, `n`, `e`).
    pub fn jwk(&self) -> Value {
        let public = self.public();
        json!({
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        })
    }

    /// The private key as PKCS#8 PEM, as a service-account key file holds it.
    pub fn private_pem(&self) -> String {
        self.private
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .unwrap_or_default()
    }

    /// Signs `claims` as an RS256 JWT with this key's `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signer = SigningKey::<Sha256>::new((*self.private).clone());
        let signature = signer.sign(signing_input.as_bytes()).to_bytes();
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// The header and claims of a JWT, without checking its signature.
pub fn decode_unverified(jwt: &str) -> Result<(Value, Value), JwtError> {
    let mut parts = jwt.split('.');
    let (Some(h), Some(c), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let decode = |p: &str| -> Result<Value, JwtError> {
        let bytes = URL_SAFE_NO_PAD.decode(p).map_err(|_| JwtError::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
    };
    Ok((decode(h)?, decode(c)?))
}

/// Checks an RS256 JWT's signature against `key` and returns its claims.
pub fn verify(jwt: &str, key: &RsaPublicKey) -> Result<Value, JwtError> {
    let (header, claims) = decode_unverified(jwt)?;
    let alg = header["alg"].as_str().unwrap_or_default();
    if alg != "RS256" {
        return Err(JwtError::Algorithm(alg.to_owned()));
    }
    let (signing_input, signature) = jwt.rsplit_once('.').ok_or(JwtError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Malformed)?;
    let signature = Signature::try_from(signature.as_slice()).map_err(|_| JwtError::Signature)?;
    VerifyingKey::<Sha256>::new(key.clone())
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| JwtError::Signature)?;
    Ok(claims)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_verify_and_tampering_is_caught() {
        let key = KeyPair::shared();
        let jwt = key.sign(&json!({"sub": "1", "aud": "x"}));
        assert_eq!(verify(&jwt, &key.public()).unwrap()["sub"], "1");

        let mut tampered = jwt.clone();
        let mid = tampered.find('.').unwrap() + 2;
        tampered.replace_range(mid..mid + 1, "A");
        assert!(verify(&tampered, &key.public()).is_err());

        let other = KeyPair::generate();
        assert_eq!(verify(&jwt, &other.public()), Err(JwtError::Signature));
        assert_eq!(verify("a.b", &key.public()), Err(JwtError::Malformed));
        assert!(key.private_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
    }
}
