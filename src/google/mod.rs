//! Everything that talks to Google: the real `google-drive3`, `google-classroom1` and `oauth2`
//! crates, pointed by configuration at Google or at the local emulator.
//!
//! - [`GoogleClients`] builds a [`DriveClient`] for a school (as whichever of its Drive operator
//!   accounts has room under its quota) or a [`ClassroomClient`] for a staff member, sharing one
//!   HTTP client, one retry policy and the shared rate limits ([`rate_limit`]): one per Drive
//!   operator account, one per school for Classroom, and the Google project's above them all.
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
use std::time::{Duration, Instant};

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
use credentials::{Credential, CredentialStatus};
use rate_limit::{Limit, Rate, SharedLimits};
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
    limits: SharedLimits,
    /// Each Google account's rate for one school: every Drive operator account's, and the
    /// school's Classroom calls together.
    account_rate: Rate,
    /// The Google project's rate per API, every school of the deployment together.
    project_rate: Rate,
    /// The project's limit keys start with this: the deployment and its OAuth client.
    project_key: String,
    leases: Leases,
    retry: RetryPolicy,
    /// One circuit breaker per Google host, shared by every client of this process.
    circuits: Circuits,
    hyper: HyperClient,
    http: reqwest::Client,
    /// One token source per credential in this process, so concurrent work on one school
    /// shares a cached token and one refresh.
    token_sources: Arc<std::sync::Mutex<HashMap<Uuid, TokenSource>>>,
    /// How many Drive operator accounts each school had in use when last read, and when: the
    /// lock workers size a school's share of the work by it.
    operator_counts: Arc<std::sync::Mutex<HashMap<Uuid, (usize, Instant)>>>,
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

/// The key of a school's shared limit on Classroom calls.
fn classroom_key(school_id: Uuid) -> String {
    format!("google:{school_id}")
}

/// The key of one Drive operator account's shared limit in one school.
fn operator_key(school_id: Uuid, credential_id: Uuid) -> String {
    format!("google:{school_id}:drive:{credential_id}")
}

/// How long a school's count of Drive operator accounts is trusted before it is read again.
const OPERATOR_COUNT_FOR: Duration = Duration::from_secs(10);

/// The accounts of `found` that Google still accepts; if there are none, why Drive work cannot
/// start.
fn usable_operators(
    op: &'static str,
    found: Vec<Credential>,
) -> Result<Vec<Credential>, GoogleError> {
    let (active, set_aside): (Vec<_>, Vec<_>) = found
        .into_iter()
        .partition(|c| c.status == CredentialStatus::Active);
    if !active.is_empty() {
        return Ok(active);
    }
    match set_aside.into_iter().next() {
        None => Err(GoogleError::NoDriveOperator { op }),
        Some(first) => Err(GoogleError::NeedsReconnect {
            op,
            account: first.account_email,
            reason: first.status_reason.unwrap_or_default(),
        }),
    }
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
                limits: SharedLimits::new(redis.clone()),
                account_rate: Rate::google(config.google_requests_per_second),
                project_rate: Rate::google(config.google_project_requests_per_second),
                project_key: format!(
                    "google-project:{}:{}",
                    config.tenant_role_prefix, config.google_client_id
                ),
                leases: Leases::new(redis).namespaced(&config.tenant_role_prefix),
                retry: RetryPolicy::default(),
                circuits: Circuits::default(),
                hyper,
                http,
                token_sources: Arc::default(),
                operator_counts: Arc::default(),
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

    /// Google calls per second each account may make for a school.
    pub fn requests_per_second(&self) -> f64 {
        self.inner.account_rate.per_second()
    }

    /// Drive calls per second a school's work may make: each of its Drive operator accounts'
    /// rate, within the project's. Read from the database at most every few seconds.
    pub async fn drive_requests_per_second(&self, school: &School) -> f64 {
        let i = &self.inner;
        let remembered = i
            .operator_counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&school.id)
            .filter(|(_, at)| at.elapsed() < OPERATOR_COUNT_FOR)
            .map(|(n, _)| *n);
        let accounts = match remembered {
            Some(n) => n,
            None => match self.drive_operators(school, "count Drive accounts").await {
                Ok(found) => found.len(),
                // Nothing is known: one account's worth, as before several could be connected.
                Err(_) => 1,
            },
        };
        (i.account_rate.per_second() * accounts.max(1) as f64).min(i.project_rate.per_second())
    }

    /// The same clients with another rate per account (burst as given; the project's stays).
    pub fn with_rate_limit(&self, redis: ConnectionManager, per_second: f64, burst: u32) -> Self {
        Self {
            inner: Arc::new(Inner {
                limits: SharedLimits::new(redis),
                account_rate: Rate::new(per_second, burst),
                ..(*self.inner).clone()
            }),
        }
    }

    /// The project's limit on calls to `api` (`drive`, `classroom`).
    fn project_limit(&self, api: &str) -> Limit {
        Limit::new(
            format!("{}:{api}", self.inner.project_key),
            self.inner.project_rate,
        )
    }

    /// The school's Drive operator accounts Google still accepts (remembering how many, for
    /// [`Self::drive_requests_per_second`]).
    async fn drive_operators(
        &self,
        school: &School,
        op: &'static str,
    ) -> Result<Vec<Credential>, GoogleError> {
        let db = credential_store_failed(op);
        let mut tx = begin_school_tx(&self.inner.pool, school)
            .await
            .map_err(|e| db(&e))?;
        let found = credentials::drive_operators(&mut tx)
            .await
            .map_err(|e| db(&e))?;
        tx.commit().await.map_err(|e| db(&e))?;
        let usable = usable_operators(op, found);
        let count = usable.as_ref().map_or(0, Vec::len);
        self.inner
            .operator_counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(school.id, (count, Instant::now()));
        usable
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

    /// A token source for an access token just received from Google (nothing stored yet).
    fn fixed_token_source(
        &self,
        school: &School,
        account: &str,
        token: SecretString,
    ) -> TokenSource {
        let i = &self.inner;
        TokenSource::fixed(
            i.pool.clone(),
            school.clone(),
            account.to_owned(),
            token,
            i.keys.clone(),
            i.oauth.clone(),
            i.http.clone(),
        )
    }

    /// A Drive client acting as one of the school's Drive operator accounts: the only one, or,
    /// when it has several, whichever has room under its quota first. That account's slot for
    /// the client's first call is taken in the same step as the choice (so the first call does
    /// not wait again); later calls wait for that account's limit and the project's.
    pub async fn drive(&self, school: &School) -> Result<DriveClient, GoogleError> {
        let op = "connect to Drive";
        let mut operators = self.drive_operators(school, op).await?;
        if operators.len() == 1 {
            return Ok(self.drive_as(school, operators.swap_remove(0), false));
        }
        let candidates: Vec<Limit> = operators
            .iter()
            .map(|c| self.operator_limit(school, c))
            .collect();
        let chosen = self
            .inner
            .limits
            .acquire_one_of(&candidates, &[self.project_limit("drive")], REQUEST_TIMEOUT)
            .await
            .ok_or(GoogleError::RateLimited {
                op,
                retry_after: Some(Duration::from_secs(1)),
            })?;
        let operator = operators.swap_remove(chosen.min(operators.len() - 1));
        Ok(self.drive_as(school, operator, true))
    }

    /// A Drive client for each of the school's Drive operator accounts Google still accepts,
    /// in the order they were connected: for checks every account must pass.
    pub async fn drive_accounts(&self, school: &School) -> Result<Vec<DriveClient>, GoogleError> {
        let operators = self.drive_operators(school, "connect to Drive").await?;
        Ok(operators
            .into_iter()
            .map(|operator| self.drive_as(school, operator, false))
            .collect())
    }

    /// A Drive client using an access token just received when an account was being connected
    /// (nothing is stored yet): its calls count against the project's limit only.
    pub fn drive_with_token(
        &self,
        school: &School,
        account: &str,
        token: SecretString,
    ) -> DriveClient {
        let tokens = self.fixed_token_source(school, account, token);
        self.drive_client(school, tokens, vec![self.project_limit("drive")], false)
    }

    /// One operator account's limit in one school.
    fn operator_limit(&self, school: &School, operator: &Credential) -> Limit {
        Limit::new(
            operator_key(school.id, operator.id),
            self.inner.account_rate,
        )
    }

    /// A Drive client acting as `operator`; `first_slot_taken` when its first call's slot was
    /// taken as it was chosen.
    fn drive_as(
        &self,
        school: &School,
        operator: Credential,
        first_slot_taken: bool,
    ) -> DriveClient {
        let limits = vec![
            self.operator_limit(school, &operator),
            self.project_limit("drive"),
        ];
        let tokens = self.token_source(school, operator.id, operator.account_email);
        self.drive_client(school, tokens, limits, first_slot_taken)
    }

    fn drive_client(
        &self,
        school: &School,
        tokens: TokenSource,
        limits: Vec<Limit>,
        first_slot_taken: bool,
    ) -> DriveClient {
        let i = &self.inner;
        let caller = call::ApiCaller::new(
            "drive",
            tokens.clone(),
            i.limits.clone(),
            limits,
            i.retry,
            i.circuits.for_url(&i.endpoints.drive_root),
        )
        .with_first_slot_taken(first_slot_taken);
        DriveClient::new(
            &i.hyper,
            &i.endpoints,
            tokens,
            caller,
            school.clone(),
            i.leases.clone(),
        )
    }

    /// A Classroom client using an access token just received at sign-in.
    pub fn classroom_with_token(
        &self,
        school: &School,
        account: &str,
        token: SecretString,
    ) -> ClassroomClient {
        let i = &self.inner;
        let tokens = self.fixed_token_source(school, account, token);
        ClassroomClient::new(
            &i.hyper,
            &i.endpoints,
            tokens,
            i.limits.clone(),
            self.classroom_limits(school),
            i.retry,
            i.circuits.for_url(&i.endpoints.classroom_root),
        )
    }

    /// Classroom calls count against the school's limit and the project's.
    fn classroom_limits(&self, school: &School) -> Vec<Limit> {
        vec![
            Limit::new(classroom_key(school.id), self.inner.account_rate),
            self.project_limit("classroom"),
        ]
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
            self.inner.limits.clone(),
            self.classroom_limits(school),
            self.inner.retry,
            self.inner
                .circuits
                .for_url(&self.inner.endpoints.classroom_root),
        ))
    }
}
