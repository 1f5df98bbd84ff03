//! Ending a stored Google grant at Google: the OAuth revocation endpoint, so a refresh token we
//! are about to delete can never be used again by anyone who copied it.
//!
//! Leavers and offboarding both use it. Revoking is idempotent from our side: Google answers 400
//! `invalid_token` for a token that is already revoked or expired, which is the state we want.
//! A service-account key cannot be revoked through this endpoint (it belongs to the school's
//! Google Cloud project); the caller deletes our copy and tells the School Admin to delete the
//! key in Google Cloud.

use secrecy::ExposeSecret;
use uuid::Uuid;

use super::credentials::{self, CredentialKind};
use super::error::GoogleError;
use super::{GoogleClients, credential_store_failed};
use crate::crypto::CryptoError;
use crate::tenancy::{School, begin_school_tx};

/// What became of a grant at Google.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Revocation {
    /// Google accepted the revocation.
    Revoked,
    /// Google no longer knew the token (already revoked or expired): nothing left to end.
    AlreadyEnded,
    /// A service-account key: it can only be deleted in the school's Google Cloud project.
    NotRevocable,
    /// Our stored copy cannot be decrypted (damaged, or not sealed for its row), so there is no
    /// token to send Google and trying again will not change that. The school ends the grant in
    /// its Google account settings; our copy is deleted all the same.
    Unreadable,
}

impl GoogleClients {
    /// Revokes one stored credential of `school` at Google. The row itself is left for the
    /// caller to delete, in the transaction that records why.
    #[tracing::instrument(skip(self), fields(school = %school.slug))]
    pub async fn revoke_at_google(
        &self,
        school: &School,
        credential_id: Uuid,
    ) -> Result<Revocation, GoogleError> {
        let op = "revoke Google access";
        let db = credential_store_failed(op);
        let mut tx = begin_school_tx(&self.inner.pool, school)
            .await
            .map_err(|e| db(&e))?;
        let unsealed = match credentials::unseal(&mut tx, &self.inner.keys, credential_id).await {
            Ok(u) => u,
            // Already gone: an earlier, interrupted attempt finished the job.
            Err(credentials::CredentialError::NotFound) => return Ok(Revocation::AlreadyEnded),
            // A key version missing from TOKEN_KEYS is the deployment's to mend (then run again);
            // a damaged or misplaced secret never decrypts, however often it is tried.
            Err(credentials::CredentialError::Crypto(
                CryptoError::Malformed | CryptoError::Authentication,
            )) => return Ok(Revocation::Unreadable),
            Err(e) => return Err(db(&e)),
        };
        tx.commit().await.map_err(|e| db(&e))?;
        if unsealed.credential.kind == CredentialKind::ServiceAccount {
            return Ok(Revocation::NotRevocable);
        }
        // Revoking the refresh token also ends every access token made from it.
        let response = self
            .inner
            .http
            .post(self.inner.endpoints.revocation_url.clone())
            .form(&[("token", unsealed.secret.expose_secret())])
            .send()
            .await
            .map_err(|e| GoogleError::Transient {
                op,
                detail: e.without_url().to_string(),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(Revocation::Revoked);
        }
        let body = response.text().await.unwrap_or_default();
        if status == reqwest::StatusCode::BAD_REQUEST && body.contains("invalid_token") {
            return Ok(Revocation::AlreadyEnded);
        }
        let detail = format!("HTTP {status}");
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            Err(GoogleError::Transient { op, detail })
        } else {
            Err(GoogleError::Permanent { op, detail })
        }
    }
}
