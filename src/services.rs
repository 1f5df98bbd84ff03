//! The composition root: every service a process shares — the database pool, Redis, the Google
//! clients, leases, the job queues and live status — built once from the configuration.
//! `serve`, `work` and `sync`, the tests and the benchmarks all start here, so the deployment's
//! namespace (`TENANT_ROLE_PREFIX`) is always the configuration's and a process holds one set of
//! Google clients.

use std::time::Duration;

use redis::aio::ConnectionManager;
use sqlx::PgPool;

use crate::auth::session::{SessionLifetimes, Sessions};
use crate::config::Config;
use crate::google::credentials::{self, KeyRingError};
use crate::google::{GoogleClients, GoogleError};
use crate::jobs::Queues;
use crate::lease::Leases;
use crate::portfolio::live::LiveStatus;

/// What every request handler and job handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub google: GoogleClients,
    pub leases: Leases,
    pub queues: Queues,
    /// Lock status for dashboards, live.
    pub live: LiveStatus,
    /// How long a lock request may wait unapplied before the sweeper queues it again.
    pub lock_sweep_after: Duration,
    /// This deployment's part of Redis (`TENANT_ROLE_PREFIX`), for names built elsewhere.
    pub namespace: String,
    /// Staff sessions, so a worker can end a leaver's (the web layer signs people in).
    pub sessions: Sessions,
}

/// Why the services could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("DATABASE_URL is unusable")]
    Database(#[source] sqlx::Error),
    #[error("REDIS_URL is unusable")]
    Redis(#[source] redis::RedisError),
    #[error("the Google clients could not be set up")]
    Google(#[source] GoogleError),
    #[error("the stored Google credentials cannot all be opened")]
    KeyRing(#[source] KeyRingError),
}

impl Services {
    /// Every service, connecting lazily (a process can start, and say it is not ready, while
    /// PostgreSQL or Redis is still coming up). `pool_size` bounds the database pool.
    pub fn connect(config: &Config, pool_size: u32) -> Result<Self, StartError> {
        let db = crate::database::lazy_pool(config, pool_size).map_err(StartError::Database)?;
        let redis = crate::redis_client::lazy_connection(config).map_err(StartError::Redis)?;
        Self::new(config, db, redis)
    }

    /// Every service around an existing pool and Redis connection.
    pub fn new(config: &Config, db: PgPool, redis: ConnectionManager) -> Result<Self, StartError> {
        let google =
            GoogleClients::new(config, db.clone(), redis.clone()).map_err(StartError::Google)?;
        let namespace = &config.tenant_role_prefix;
        Ok(Self {
            leases: Leases::new(redis.clone()).namespaced(namespace),
            queues: Queues::new(&redis, namespace),
            live: LiveStatus::new(config).map_err(StartError::Redis)?,
            lock_sweep_after: config.lock_sweep_after,
            namespace: namespace.clone(),
            sessions: Sessions::new(
                redis.clone(),
                SessionLifetimes::default(),
                config.secure_cookies(),
                namespace,
            ),
            google,
            db,
            redis,
        })
    }

    /// The same services with other Google clients (tests use a quick retry policy).
    pub fn with_google(mut self, google: GoogleClients) -> Self {
        self.google = google;
        self
    }

    /// Refuses to go on if a stored credential uses a key version the key ring lacks: better
    /// than failing later on a credential no key can open.
    pub async fn check_key_ring(&self, config: &Config) -> Result<(), StartError> {
        credentials::check_key_ring(&self.db, &config.token_keys)
            .await
            .map_err(StartError::KeyRing)
    }
}
