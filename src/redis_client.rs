//! The shared Redis connection (job queue, caches, rate limits, live events).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::ExposeSecret;

use crate::config::Config;

/// Connects lazily and reconnects on its own; cheap to clone.
pub fn lazy_connection(config: &Config) -> redis::RedisResult<ConnectionManager> {
    let client = redis::Client::open(config.redis_url.expose_secret())?;
    // redis-rs answers after 500 ms by default; a busy Cloud Redis can take longer under load.
    let manager_config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(3)))
        .set_number_of_retries(2);
    ConnectionManager::new_lazy_with_config(client, manager_config)
}
