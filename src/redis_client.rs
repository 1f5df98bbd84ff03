//! The shared Redis connection (job queue, caches, rate limits, live events), plain or over TLS.
//!
//! `rediss://` is TLS through rustls with the ring provider, as every other connection the
//! binary makes. The server's certificate is checked against the public roots compiled in
//! (webpki-roots, as for Google and PostgreSQL), or, when `REDIS_CA_CERT` names a CA, against
//! that CA alone: Memorystore signs each instance's certificate with a CA of its own that no
//! public root knows, and trusting only it means no other certificate can stand in for it.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, TlsCertificates};
use secrecy::ExposeSecret;

use crate::config::Config;

/// A client for the configured Redis (no connection yet). Everything that opens Redis goes
/// through here, so the queue, sessions and live status all trust the same CA.
pub fn client(config: &Config) -> redis::RedisResult<redis::Client> {
    // rustls needs one process-wide provider before its first handshake.
    crate::google::install_crypto_provider();
    let url = config.redis_url.expose_secret();
    match &config.redis_ca_cert {
        Some(ca) => redis::Client::build_with_tls(
            url,
            TlsCertificates {
                client_tls: None,
                root_cert: Some(ca.pem().to_vec()),
            },
        ),
        None => redis::Client::open(url),
    }
}

/// Connects lazily and reconnects on its own; cheap to clone.
pub fn lazy_connection(config: &Config) -> redis::RedisResult<ConnectionManager> {
    // redis-rs answers after 500 ms by default; a busy Cloud Redis can take longer under load.
    let manager_config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(3)))
        .set_number_of_retries(2);
    ConnectionManager::new_lazy_with_config(client(config)?, manager_config)
}

/// Whether a connection failed because the server's TLS certificate was not accepted (an
/// unknown CA, a name or address it does not cover, expiry): a configuration fault to name
/// plainly, since retrying never mends it.
pub fn certificate_rejected(error: &RedisError) -> bool {
    // redis-rs keeps the handshake's io::Error behind an `Arc`, and io::Error's own `source`
    // skips the rustls error inside it, so the chain is unwrapped by hand.
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        if let Some(arc) = e.downcast_ref::<std::sync::Arc<dyn std::error::Error + Send + Sync>>() {
            next = Some(arc.as_ref());
            continue;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
        {
            next = Some(inner);
            continue;
        }
        if let Some(rustls::Error::InvalidCertificate(_)) = e.downcast_ref::<rustls::Error>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// Keys matching a `SCAN` glob, a page at a time, so a large keyspace never blocks Redis. A
/// key may be reported twice, or missed if it is created meanwhile, as `SCAN` allows.
pub struct KeyScan {
    conn: ConnectionManager,
    pattern: String,
    cursor: Option<u64>,
}

impl KeyScan {
    pub fn new(redis: &ConnectionManager, pattern: &str) -> Self {
        Self {
            conn: redis.clone(),
            pattern: pattern.to_owned(),
            cursor: Some(0),
        }
    }

    /// The next page of matching keys (possibly empty); `None` once the scan is complete.
    pub async fn next_page(&mut self) -> redis::RedisResult<Option<Vec<String>>> {
        let Some(cursor) = self.cursor else {
            return Ok(None);
        };
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&self.pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut self.conn)
            .await?;
        self.cursor = (next != 0).then_some(next);
        Ok(Some(keys))
    }

    /// Every matching key.
    pub async fn collect(mut self) -> redis::RedisResult<Vec<String>> {
        let mut found = Vec::new();
        while let Some(keys) = self.next_page().await? {
            found.extend(keys);
        }
        Ok(found)
    }
}

/// Deletes every key matching `pattern` (a `SCAN` glob), a page at a time so a large keyspace
/// never blocks Redis; returns how many went. For clearing one deployment's keys by their
/// namespace (the demo's reset, benchmarks' clean-up) or one school's (offboarding), never for
/// a bare `*`.
pub async fn delete_matching(redis: &ConnectionManager, pattern: &str) -> redis::RedisResult<u64> {
    let mut conn = redis.clone();
    let mut deleted = 0;
    let mut scan = KeyScan::new(redis, pattern);
    while let Some(keys) = scan.next_page().await? {
        if !keys.is_empty() {
            deleted += redis::cmd("UNLINK")
                .arg(&keys)
                .query_async::<u64>(&mut conn)
                .await?;
        }
    }
    Ok(deleted)
}
