//! Everything that talks to Google: the real `google-drive3`, `google-classroom1` and `oauth2`
//! crates, pointed by configuration at Google or at the local emulator.
//!
//! - [`GoogleClients`] builds a [`DriveClient`] for a school (as its Drive operator) or a
//!   [`ClassroomClient`] for a staff member, sharing one HTTP client, one retry policy and one
//!   per-school rate limiter.
//! - [`error`]: one classification of failures, used everywhere.
//! - [`credentials`]: the encrypted credential store; [`token`]: access tokens from it.

mod call;
pub mod circuit;
pub mod classroom;
pub mod credentials;
pub mod drive;
pub mod error;
pub mod rate_limit;
pub mod retry;
pub mod revocation;
pub mod token;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use redis::aio::ConnectionManager;
use secrecy::SecretString;
use sqlx::PgPool;
use url::Url;
use uuid::Uuid;

pub use classroom::ClassroomClient;
pub use drive::DriveClient;
pub use error::{ErrorClass, GoogleError};
pub use retry::RetryPolicy;

use crate::config::Config;
use crate::crypto::KeyRing;
use crate::lease::Leases;
use crate::tenancy::{School, begin_school_tx};
use circuit::Circuits;
use credentials::CredentialStatus;
use rate_limit::RateLimiter;
use token::{OAuthClientSettings, TokenSource};

/// The longest one Google request may take before it counts as failed (transient).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One attempt at a call, bounded in time: a hung connection becomes a transient error.
pub(crate) async fn guard_call<T>(
    op: &'static str,
    limit: Duration,
    call: impl Future<Output = Result<T, GoogleError>>,
) -> Result<T, GoogleError> {
    tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
        Err(GoogleError::Transient {
            op,
            detail: format!("no answer within {} s", limit.as_secs()),
        })
    })
}

/// Names the account in a needs-reconnect error and records the refusal, so nothing retries
/// the credential until its owner signs in again.
pub(crate) async fn record_refusal<T>(
    tokens: &TokenSource,
    result: Result<T, GoogleError>,
) -> Result<T, GoogleError> {
    match result {
        Err(GoogleError::NeedsReconnect { op, reason, .. }) => {
            let e = GoogleError::NeedsReconnect {
                op,
                account: tokens.account().to_owned(),
                reason,
            };
            if let Err(store) = tokens.mark_refused(&e).await {
                tracing::error!(error = %store, "could not record a refused Google credential");
            }
            Err(e)
        }
        other => other,
    }
}

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

#[derive(Clone)]
struct Inner {
    endpoints: GoogleEndpoints,
    oauth: Arc<OAuthClientSettings>,
    keys: Arc<KeyRing>,
    pool: PgPool,
    limiter: RateLimiter,
    leases: Leases,
    retry: RetryPolicy,
    /// One circuit breaker per Google host, shared by every client of this process.
    circuits: Circuits,
    hyper: HyperClient,
    http: reqwest::Client,
    /// One token source per credential in this process, so concurrent work on one school
    /// shares a cached token and one refresh.
    token_sources: Arc<std::sync::Mutex<HashMap<Uuid, TokenSource>>>,
}

/// Makes sure rustls has its crypto provider (ring). Idempotent.
pub fn install_crypto_provider() {
    // Fails only when a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How a failure to read our own credential store is reported from a Google operation: a
/// transient problem, tried again like any other.
fn credential_store_failed(op: &'static str) -> impl Fn(&dyn std::fmt::Display) -> GoogleError {
    move |e| GoogleError::Transient {
        op,
        detail: format!("credential store: {e}"),
    }
}

/// The key of a school's shared limit on Google calls (Classroom and Drive together).
fn limit_key(school_id: Uuid) -> String {
    format!("google:{school_id}")
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
                limiter: RateLimiter::new(
                    redis.clone(),
                    per_second,
                    (per_second / 4.0).ceil() as u32,
                ),
                leases: Leases::new(redis).namespaced(&config.tenant_role_prefix),
                retry: RetryPolicy::default(),
                circuits: Circuits::default(),
                hyper,
                http,
                token_sources: Arc::default(),
            }),
        })
    }

    /// The same clients with another retry policy (tests use a quick one).
    pub fn with_retry_policy(&self, retry: RetryPolicy) -> Self {
        Self {
            inner: Arc::new(Inner {
                retry,
                ..(*self.inner).clone()
            }),
        }
    }

    /// The same clients with circuit breakers of other settings, starting closed (a test of
    /// retries that must see every attempt reach Google uses a high threshold).
    pub fn with_circuit_settings(&self, settings: circuit::CircuitSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                circuits: Circuits::new(settings),
                ..(*self.inner).clone()
            }),
        }
    }

    /// Google calls per second each school may make.
    pub fn requests_per_second(&self) -> f64 {
        self.inner.limiter.per_second()
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
                leases: i.leases.clone(),
                retry: i.retry,
                circuits: i.circuits.clone(),
                hyper: i.hyper.clone(),
                http: i.http.clone(),
                token_sources: i.token_sources.clone(),
            }),
        }
    }

    /// The Google hosts this process is not calling at the moment because they stopped
    /// answering (their circuit is open, see [`circuit`]).
    pub fn unavailable_hosts(&self) -> Vec<String> {
        self.inner.circuits.open_hosts()
    }

    pub fn endpoints(&self) -> &GoogleEndpoints {
        &self.inner.endpoints
    }

    fn token_source(&self, school: &School, credential_id: Uuid, account: String) -> TokenSource {
        let i = &self.inner;
        let mut sources = i
            .token_sources
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(existing) = sources
            .get(&credential_id)
            .filter(|t| t.account() == account)
        {
            return existing.clone();
        }
        let source = TokenSource::new(
            i.pool.clone(),
            school.clone(),
            credential_id,
            account,
            i.keys.clone(),
            i.oauth.clone(),
            i.http.clone(),
        );
        sources.insert(credential_id, source.clone());
        source
    }

    /// A Drive client acting as the school's Drive operator.
    pub async fn drive(&self, school: &School) -> Result<DriveClient, GoogleError> {
        let op = "connect to Drive";
        let db = credential_store_failed(op);
        let mut tx = begin_school_tx(&self.inner.pool, school)
            .await
            .map_err(|e| db(&e))?;
        let operator = credentials::drive_operator(&mut tx)
            .await
            .map_err(|e| db(&e))?;
        tx.commit().await.map_err(|e| db(&e))?;
        let operator = operator.ok_or(GoogleError::NoDriveOperator { op })?;
        if operator.status != CredentialStatus::Active {
            return Err(GoogleError::NeedsReconnect {
                op,
                account: operator.account_email,
                reason: operator.status_reason.unwrap_or_default(),
            });
        }
        let tokens = self.token_source(school, operator.id, operator.account_email);
        let i = &self.inner;
        let caller = call::ApiCaller::new(
            "drive",
            tokens.clone(),
            i.limiter.clone(),
            limit_key(school.id),
            i.retry,
            i.circuits.for_url(&i.endpoints.drive_root),
        );
        Ok(DriveClient::new(
            &i.hyper,
            &i.endpoints,
            tokens,
            caller,
            school.clone(),
            i.leases.clone(),
        ))
    }

    /// A Classroom client using an access token just received at sign-in.
    pub fn classroom_with_token(
        &self,
        school: &School,
        account: &str,
        token: SecretString,
    ) -> ClassroomClient {
        let i = &self.inner;
        let tokens = TokenSource::fixed(
            i.pool.clone(),
            school.clone(),
            account.to_owned(),
            token,
            i.keys.clone(),
            i.oauth.clone(),
            i.http.clone(),
        );
        ClassroomClient::new(
            &i.hyper,
            &i.endpoints,
            tokens,
            i.limiter.clone(),
            i.retry,
            i.circuits.for_url(&i.endpoints.classroom_root),
            school.id,
        )
    }

    /// A Classroom client acting as one staff member (their sign-in grant).
    pub async fn classroom(
        &self,
        school: &School,
        staff_id: Uuid,
    ) -> Result<ClassroomClient, GoogleError> {
        let op = "connect to Classroom";
        let db = credential_store_failed(op);
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
        if credential.status != CredentialStatus::Active {
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
            self.inner
                .circuits
                .for_url(&self.inner.endpoints.classroom_root),
            school.id,
        ))
    }
}
