//! Access tokens for one stored credential, refreshed when they expire; the `GetToken` the
//! Google hubs ask before every call.
//!
//! A person's credential refreshes through the OAuth token endpoint (`oauth2` crate); a service
//! account signs a JWT assertion (JWT-bearer grant). A fresh token is kept encrypted in the
//! database so every process shares it, and in memory for this process. `invalid_grant` marks
//! the credential "needs reconnect" once; after that no call reaches Google until the person
//! signs in again.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use google_drive3::common::GetToken;
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{ClientId, ClientSecret, RefreshToken, RequestTokenError, TokenResponse, TokenUrl};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use url::Url;
use uuid::Uuid;

use super::credentials::{self, CredentialKind, CredentialStatus, UnsealedCredential};
use super::error::GoogleError;
use crate::crypto::KeyRing;
use crate::tenancy::{School, begin_school_tx};

/// Refresh this long before Google's expiry, so a token never lapses mid-call.
const EARLY: Duration = Duration::seconds(60);

/// Our OAuth client at Google.
pub struct OAuthClientSettings {
    pub client_id: String,
    pub client_secret: SecretString,
    pub token_url: Url,
}

/// Access tokens for one credential of one school. Cheap to clone.
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    school: School,
    credential_id: Uuid,
    account: String,
    keys: Arc<KeyRing>,
    oauth: Arc<OAuthClientSettings>,
    http: reqwest::Client,
    cached: Mutex<Option<(SecretString, DateTime<Utc>)>>,
    /// The stored secret last read, so a refusal marks that grant and not a newer one.
    sealed: Mutex<Option<String>>,
    /// Set after Google refused the cached token: the next call refreshes.
    stale: std::sync::atomic::AtomicBool,
    /// One refresh at a time per credential in this process.
    refreshing: tokio::sync::Mutex<()>,
    /// A token handed over directly (the moment of sign-in, before anything is stored).
    fixed: Option<SecretString>,
}

impl TokenSource {
    pub(crate) fn new(
        pool: PgPool,
        school: School,
        credential_id: Uuid,
        account: String,
        keys: Arc<KeyRing>,
        oauth: Arc<OAuthClientSettings>,
        http: reqwest::Client,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                school,
                credential_id,
                account,
                keys,
                oauth,
                http,
                cached: Mutex::new(None),
                sealed: Mutex::new(None),
                stale: std::sync::atomic::AtomicBool::new(false),
                refreshing: tokio::sync::Mutex::new(()),
                fixed: None,
            }),
        }
    }

    /// A source that always gives `token`, for calls made at sign-in before any credential is
    /// stored. Refusals are not recorded (there is nothing to mark).
    pub(crate) fn fixed(
        pool: PgPool,
        school: School,
        account: String,
        token: SecretString,
        keys: Arc<KeyRing>,
        oauth: Arc<OAuthClientSettings>,
        http: reqwest::Client,
    ) -> Self {
        let source = Self::new(pool, school, Uuid::nil(), account, keys, oauth, http);
        let mut inner =
            Arc::try_unwrap(source.inner).unwrap_or_else(|_| unreachable!("just created"));
        inner.fixed = Some(token);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The Google account this source acts as.
    pub fn account(&self) -> &str {
        &self.inner.account
    }

    /// The stored credential this source uses (nil for a token given at sign-in).
    pub fn credential_id(&self) -> Uuid {
        self.inner.credential_id
    }

    /// Forgets the current token (Google refused it); the next call refreshes.
    pub fn invalidate(&self) {
        self.inner
            .stale
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut cached) = self.inner.cached.lock() {
            *cached = None;
        }
    }

    fn remembered(&self) -> Option<SecretString> {
        let cached = self.inner.cached.lock().ok()?;
        cached
            .as_ref()
            .filter(|(_, expires)| *expires - EARLY > Utc::now())
            .map(|(t, _)| t.clone())
    }

    fn db_error(&self, e: impl std::fmt::Display) -> GoogleError {
        GoogleError::Transient {
            op: "access token",
            detail: format!("credential store: {e}"),
        }
    }

    /// A valid access token, refreshing it if needed.
    #[tracing::instrument(skip(self), fields(school = %self.inner.school.slug, credential = %self.inner.credential_id))]
    pub async fn access_token(&self) -> Result<SecretString, GoogleError> {
        if let Some(token) = &self.inner.fixed {
            return Ok(token.clone());
        }
        if let Some(token) = self.remembered() {
            return Ok(token);
        }
        let _one_at_a_time = self.inner.refreshing.lock().await;
        if let Some(token) = self.remembered() {
            return Ok(token);
        }
        let forced = self
            .inner
            .stale
            .swap(false, std::sync::atomic::Ordering::SeqCst);

        let unsealed = self.unseal().await?;
        if let Ok(mut sealed) = self.inner.sealed.lock() {
            *sealed = Some(unsealed.sealed.clone());
        }
        if unsealed.credential.status != CredentialStatus::Active {
            return Err(GoogleError::NeedsReconnect {
                op: "access token",
                account: self.inner.account.clone(),
                reason: unsealed
                    .credential
                    .status_reason
                    .clone()
                    .unwrap_or_else(|| "Google refused this account earlier".to_owned()),
            });
        }
        if !forced
            && let Some((token, expires)) = unsealed.access_token.clone()
            && expires - EARLY > Utc::now()
        {
            self.remember(&token, expires);
            return Ok(token);
        }

        let fresh = match unsealed.credential.kind {
            CredentialKind::Oauth => self.refresh(&unsealed.secret).await,
            CredentialKind::ServiceAccount => self.jwt_bearer(&unsealed).await,
        };
        let (token, expires) = match fresh {
            Ok(fresh) => fresh,
            Err(e @ GoogleError::NeedsReconnect { .. }) => {
                self.mark_refused(&e).await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let mut tx = begin_school_tx(&self.inner.pool, &self.inner.school)
            .await
            .map_err(|e| self.db_error(e))?;
        credentials::store_access_token(
            &mut tx,
            &self.inner.keys,
            self.inner.credential_id,
            &token,
            expires,
        )
        .await
        .map_err(|e| self.db_error(e))?;
        tx.commit().await.map_err(|e| self.db_error(e))?;
        self.remember(&token, expires);
        Ok(token)
    }

    fn remember(&self, token: &SecretString, expires: DateTime<Utc>) {
        if let Ok(mut cached) = self.inner.cached.lock() {
            *cached = Some((token.clone(), expires));
        }
    }

    async fn unseal(&self) -> Result<UnsealedCredential, GoogleError> {
        let mut tx = begin_school_tx(&self.inner.pool, &self.inner.school)
            .await
            .map_err(|e| self.db_error(e))?;
        let unsealed = credentials::unseal(&mut tx, &self.inner.keys, self.inner.credential_id)
            .await
            .map_err(|e| match e {
                // A key missing from the ring, or a tampered row: retrying cannot help.
                credentials::CredentialError::Crypto(c) => GoogleError::Permanent {
                    op: "access token",
                    detail: format!("the stored credential cannot be opened: {c}"),
                },
                other => self.db_error(other),
            })?;
        tx.commit().await.map_err(|e| self.db_error(e))?;
        Ok(unsealed)
    }

    /// Records that Google refused this grant, so nothing retries it until the person
    /// reconnects; called for `invalid_grant` here, and by the clients for a withdrawn scope or a
    /// refused fresh token.
    pub async fn mark_refused(&self, e: &GoogleError) -> Result<(), GoogleError> {
        if self.inner.fixed.is_some() {
            return Ok(());
        }
        let reason = match e {
            GoogleError::NeedsReconnect { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        tracing::warn!(credential = %self.inner.credential_id, %reason, "Google credential needs reconnecting");
        self.invalidate();
        let sealed = self.inner.sealed.lock().ok().and_then(|s| s.clone());
        let mut tx = begin_school_tx(&self.inner.pool, &self.inner.school)
            .await
            .map_err(|e| self.db_error(e))?;
        credentials::mark_needs_reconnect(
            &mut tx,
            self.inner.credential_id,
            &reason,
            sealed.as_deref(),
        )
        .await
        .map_err(|e| self.db_error(e))?;
        tx.commit().await.map_err(|e| self.db_error(e))
    }

    /// The refresh-token grant, through the `oauth2` crate.
    async fn refresh(
        &self,
        refresh_token: &SecretString,
    ) -> Result<(SecretString, DateTime<Utc>), GoogleError> {
        let oauth = &self.inner.oauth;
        let client = BasicClient::new(ClientId::new(oauth.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                oauth.client_secret.expose_secret().to_owned(),
            ))
            .set_token_uri(TokenUrl::from_url(oauth.token_url.clone()));
        let http = self.inner.http.clone();
        let send = move |request: oauth2::HttpRequest| {
            let http = http.clone();
            async move { send(&http, request).await }
        };
        let response = client
            .exchange_refresh_token(&RefreshToken::new(refresh_token.expose_secret().to_owned()))
            .request_async(&send)
            .await;
        match response {
            Ok(token) => {
                let lifetime = token
                    .expires_in()
                    .and_then(|d| Duration::from_std(d).ok())
                    .unwrap_or(Duration::seconds(3599));
                Ok((
                    SecretString::from(token.access_token().secret().to_owned()),
                    Utc::now() + lifetime,
                ))
            }
            Err(RequestTokenError::ServerResponse(r))
                if *r.error() == BasicErrorResponseType::InvalidGrant =>
            {
                Err(GoogleError::NeedsReconnect {
                    op: "refresh access token",
                    account: self.inner.account.clone(),
                    reason: r
                        .error_description()
                        .cloned()
                        .unwrap_or_else(|| "the refresh token was revoked or expired".to_owned()),
                })
            }
            Err(RequestTokenError::ServerResponse(r)) => Err(GoogleError::Permanent {
                op: "refresh access token",
                detail: format!(
                    "{}: {}",
                    r.error(),
                    r.error_description().cloned().unwrap_or_default()
                ),
            }),
            Err(e) => Err(GoogleError::Transient {
                op: "refresh access token",
                detail: e.to_string(),
            }),
        }
    }

    /// The JWT-bearer grant for a service account.
    async fn jwt_bearer(
        &self,
        unsealed: &UnsealedCredential,
    ) -> Result<(SecretString, DateTime<Utc>), GoogleError> {
        let op = "service account token";
        let permanent = |detail: String| GoogleError::Permanent { op, detail };
        let key: serde_json::Value = serde_json::from_str(unsealed.secret.expose_secret())
            .map_err(|e| permanent(format!("stored key is not JSON: {e}")))?;
        let pem = key["private_key"].as_str().unwrap_or_default();
        let signing_key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| permanent(format!("stored key is unusable: {e}")))?;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = key["private_key_id"].as_str().map(str::to_owned);
        // Issued a little in the past, so a server clock slightly ahead of Google's is not
        // "a token from the future".
        let now = Utc::now().timestamp() - 30;
        let token_url = self.inner.oauth.token_url.as_str();
        let claims = serde_json::json!({
            "iss": unsealed.credential.account_email,
            "scope": unsealed.credential.scopes.join(" "),
            "aud": token_url,
            "iat": now,
            "exp": now + 3600,
        });
        let assertion = jsonwebtoken::encode(&header, &claims, &signing_key)
            .map_err(|e| permanent(format!("signing the assertion failed: {e}")))?;
        let response = self
            .inner
            .http
            .post(token_url)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| GoogleError::Transient {
                op,
                detail: e.to_string(),
            })?;
        let status = response.status();
        let body: serde_json::Value =
            response.json().await.map_err(|e| GoogleError::Transient {
                op,
                detail: format!("unreadable answer: {e}"),
            })?;
        if status.is_success()
            && let Some(token) = body["access_token"].as_str()
        {
            let lifetime = body["expires_in"].as_i64().unwrap_or(3599);
            return Ok((
                SecretString::from(token.to_owned()),
                Utc::now() + Duration::seconds(lifetime),
            ));
        }
        let description = body["error_description"].as_str().unwrap_or_default();
        match body["error"].as_str() {
            // Google says invalid_grant for a skewed clock too; that is ours to fix, not the key's.
            Some("invalid_grant") if description.contains("timeframe") => {
                Err(GoogleError::Transient {
                    op,
                    detail: format!(
                        "Google refused the assertion's times (clock skew?): {description}"
                    ),
                })
            }
            Some("invalid_grant") => Err(GoogleError::NeedsReconnect {
                op,
                account: self.inner.account.clone(),
                reason: body["error_description"]
                    .as_str()
                    .unwrap_or("the service-account key was refused")
                    .to_owned(),
            }),
            _ if status.is_server_error() => Err(GoogleError::Transient {
                op,
                detail: format!("HTTP {status}"),
            }),
            other => Err(permanent(format!(
                "HTTP {status}: {}",
                other.unwrap_or("no error code")
            ))),
        }
    }
}

/// `oauth2`'s HTTP calls, made with our reqwest client (oauth2 5 ships an adapter only for
/// reqwest 0.12).
pub(crate) async fn send(
    http: &reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let request = reqwest::Request::try_from(request)?;
    let response = http.execute(request).await?;
    let mut builder = oauth2::http::Response::builder().status(response.status().as_u16());
    for (name, value) in response.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let body = response.bytes().await?.to_vec();
    // Status and headers were copied from a valid response, so building cannot fail.
    Ok(builder
        .body(body.clone())
        .unwrap_or_else(|_| oauth2::http::Response::new(body)))
}

/// What `GetToken::get_token` returns (the type is private to `google-apis-common`).
type TokenFuture<'a> = std::pin::Pin<
    Box<
        dyn Future<Output = Result<Option<String>, Box<dyn std::error::Error + Send + Sync>>>
            + Send
            + 'a,
    >,
>;

impl GetToken for TokenSource {
    fn get_token<'a>(&'a self, _scopes: &'a [&str]) -> TokenFuture<'a> {
        Box::pin(async move {
            self.access_token()
                .await
                .map(|t| Some(t.expose_secret().to_owned()))
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        })
    }
}
