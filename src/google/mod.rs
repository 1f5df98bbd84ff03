//! Everything that talks to Google: the real `google-drive3`, `google-classroom1` and `oauth2`
//! crates, pointed by configuration at Google or at the local emulator.
//!
//! - [`GoogleClients`] builds a [`DriveClient`] for a school (as its Drive operator) or a
//!   [`ClassroomClient`] for a staff member, sharing one HTTP client, one retry policy and one
//!   per-school rate limiter.
//! - [`error`]: one classification of failures, used everywhere.
//! - [`credentials`]: the encrypted credential store; [`token`]: access tokens from it.

pub mod classroom;
pub mod credentials;
pub mod drive;
pub mod error;
pub mod rate_limit;
pub mod retry;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use url::Url;
use uuid::Uuid;

pub use classroom::ClassroomClient;
pub use drive::DriveClient;
pub use error::{ErrorClass, GoogleError};
pub use retry::RetryPolicy;

use crate::config::Config;
use crate::crypto::KeyRing;
use crate::tenancy::{School, begin_school_tx};
use credentials::CredentialStatus;
use rate_limit::RateLimiter;
use token::{OAuthClientSettings, TokenSource};

/// The scope the Drive operator needs.
pub const DRIVE_SCOPE: &str = "https://www.googleapis.com/auth/drive";

/// The HTTPS (or, for the emulator, plain HTTP) connector the hubs use.
pub type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
type HyperClient = Client<Connector, google_drive3::common::Body>;

/// Where Google's services are.
#[derive(Debug, Clone)]
pub struct GoogleEndpoints {
    pub drive_root: Url,
    pub classroom_root: Url,
    pub token_url: Url,
    pub authorization_url: Url,
    pub revocation_url: Url,
}

impl GoogleEndpoints {
    /// Google's own endpoints when `GOOGLE_API_BASE_URL` is Google's; otherwise everything under
    /// that one base, which is how the emulator lays them out.
    pub fn from_config(config: &Config) -> Self {
        let base = &config.google_api_base_url;
        let join = |path: &str| base.join(path).unwrap_or_else(|_| base.clone());
        if base.host_str() == Some("www.googleapis.com") {
            let parse = |s: &str| Url::parse(s).unwrap_or_else(|_| base.clone());
            Self {
                drive_root: base.clone(),
                classroom_root: parse("https://classroom.googleapis.com/"),
                token_url: parse("https://oauth2.googleapis.com/token"),
                authorization_url: parse("https://accounts.google.com/o/oauth2/v2/auth"),
                revocation_url: parse("https://oauth2.googleapis.com/revoke"),
            }
        } else {
            Self {
                drive_root: base.clone(),
                classroom_root: base.clone(),
                token_url: join("token"),
                authorization_url: join("o/oauth2/v2/auth"),
                revocation_url: join("revoke"),
            }
        }
    }
}

/// Makes Google clients. Cheap to clone; build one per process.
#[derive(Clone)]
pub struct GoogleClients {
    inner: Arc<Inner>,
}

struct Inner {
    endpoints: GoogleEndpoints,
    oauth: Arc<OAuthClientSettings>,
    keys: Arc<KeyRing>,
    pool: PgPool,
    limiter: RateLimiter,
    retry: RetryPolicy,
    hyper: HyperClient,
    http: reqwest::Client,
}

/// Makes sure rustls has its crypto provider (ring). Idempotent.
pub fn install_crypto_provider() {
    // Fails only when a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl GoogleClients {
    pub fn new(
        config: &Config,
        pool: PgPool,
        redis: ConnectionManager,
    ) -> Result<Self, GoogleError> {
        install_crypto_provider();
        let setup = |e: &dyn std::fmt::Display| GoogleError::Permanent {
            op: "set up Google clients",
            detail: e.to_string(),
        };
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let hyper = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| setup(&e))?;
        let endpoints = GoogleEndpoints::from_config(config);
        let per_second = config.google_requests_per_second;
        Ok(Self {
            inner: Arc::new(Inner {
                oauth: Arc::new(OAuthClientSettings {
                    client_id: config.google_client_id.clone(),
                    client_secret: config.google_client_secret.clone(),
                    token_url: endpoints.token_url.clone(),
                }),
                endpoints,
                keys: config.token_keys.clone(),
                pool,
                // A burst of a quarter second's calls: enough to start work at once, small
                // enough that every process together stays inside Google's per-second bucket.
                limiter: RateLimiter::new(redis, per_second, (per_second / 4.0).ceil() as u32),
                retry: RetryPolicy::default(),
                hyper,
                http,
            }),
        })
    }

    /// The same clients with another retry policy (tests use a quick one).
    pub fn with_retry_policy(&self, retry: RetryPolicy) -> Self {
        let i = &self.inner;
        Self {
            inner: Arc::new(Inner {
                endpoints: i.endpoints.clone(),
                oauth: i.oauth.clone(),
                keys: i.keys.clone(),
                pool: i.pool.clone(),
                limiter: i.limiter.clone(),
                retry,
                hyper: i.hyper.clone(),
                http: i.http.clone(),
            }),
        }
    }

    /// The same clients with another shared rate limit.
    pub fn with_rate_limit(&self, redis: ConnectionManager, per_second: f64, burst: u32) -> Self {
        let i = &self.inner;
        Self {
            inner: Arc::new(Inner {
                endpoints: i.endpoints.clone(),
                oauth: i.oauth.clone(),
                keys: i.keys.clone(),
                pool: i.pool.clone(),
                limiter: RateLimiter::new(redis, per_second, burst),
                retry: i.retry,
                hyper: i.hyper.clone(),
                http: i.http.clone(),
            }),
        }
    }

    pub fn endpoints(&self) -> &GoogleEndpoints {
        &self.inner.endpoints
    }

    fn token_source(&self, school: &School, credential_id: Uuid, account: String) -> TokenSource {
        let i = &self.inner;
        TokenSource::new(
            i.pool.clone(),
            school.clone(),
            credential_id,
            account,
            i.keys.clone(),
            i.oauth.clone(),
            i.http.clone(),
        )
    }

    /// A Drive client acting as the school's Drive operator.
    pub async fn drive(&self, school: &School) -> Result<DriveClient, GoogleError> {
        let op = "connect to Drive";
        let db = |e: &dyn std::fmt::Display| GoogleError::Transient {
            op,
            detail: format!("credential store: {e}"),
        };
        let mut tx = begin_school_tx(&self.inner.pool, school)
            .await
            .map_err(|e| db(&e))?;
        let operator = credentials::drive_operator(&mut tx)
            .await
            .map_err(|e| db(&e))?;
        tx.commit().await.map_err(|e| db(&e))?;
        let operator = operator.ok_or_else(|| GoogleError::NeedsReconnect {
            op,
            account: "(none)".to_owned(),
            reason: "no Drive operator is connected for this school".to_owned(),
        })?;
        if operator.status == CredentialStatus::NeedsReconnect {
            return Err(GoogleError::NeedsReconnect {
                op,
                account: operator.account_email,
                reason: operator.status_reason.unwrap_or_default(),
            });
        }
        let tokens = self.token_source(school, operator.id, operator.account_email);
        Ok(DriveClient::new(
            &self.inner.hyper,
            &self.inner.endpoints,
            tokens,
            self.inner.limiter.clone(),
            self.inner.retry,
            school.clone(),
            self.inner.pool.clone(),
        ))
    }

    /// A Classroom client acting as one staff member (their sign-in grant).
    pub async fn classroom(
        &self,
        school: &School,
        staff_id: Uuid,
    ) -> Result<ClassroomClient, GoogleError> {
        let op = "connect to Classroom";
        let db = |e: &dyn std::fmt::Display| GoogleError::Transient {
            op,
            detail: format!("credential store: {e}"),
        };
        let mut tx = begin_school_tx(&self.inner.pool, school)
            .await
            .map_err(|e| db(&e))?;
        let credential = credentials::sign_in_credential(&mut tx, staff_id)
            .await
            .map_err(|e| db(&e))?;
        tx.commit().await.map_err(|e| db(&e))?;
        let credential = credential.ok_or_else(|| GoogleError::NeedsReconnect {
            op,
            account: staff_id.to_string(),
            reason: "this staff member has not signed in".to_owned(),
        })?;
        if credential.status == CredentialStatus::NeedsReconnect {
            return Err(GoogleError::NeedsReconnect {
                op,
                account: credential.account_email,
                reason: credential.status_reason.unwrap_or_default(),
            });
        }
        let tokens = self.token_source(school, credential.id, credential.account_email);
        Ok(ClassroomClient::new(
            &self.inner.hyper,
            &self.inner.endpoints,
            tokens,
            self.inner.limiter.clone(),
            self.inner.retry,
            school.id,
        ))
    }
}
