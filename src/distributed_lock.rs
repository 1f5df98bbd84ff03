//! Short-lived locks shared by every process through Redis: "only one of us does this now".
//!
//! A lock is a key set with `NX` and a time-to-live, holding a random token; releasing deletes
//! it only if the token still matches (a Lua compare-and-delete), so a holder whose lock expired
//! never releases someone else's. A process that dies simply lets its lock expire. Locks guard
//! work whose effects are also idempotent (folder lookup by appProperties, guarded state
//! changes in PostgreSQL): they prevent waste and duplicates in the common case, and
//! correctness never depends on them alone.

use std::time::{Duration, Instant};

use redis::Script;
use redis::aio::ConnectionManager;
use uuid::Uuid;

const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Why a lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another process held {key} for longer than {waited:?}")]
    Busy { key: String, waited: Duration },
    #[error("Redis is unavailable for locking: {0}")]
    Redis(#[from] redis::RedisError),
}

/// Takes and releases named locks.
#[derive(Clone)]
pub struct Locks {
    redis: ConnectionManager,
    namespace: String,
}

/// A held lock; call [`Held::release`] when done (dropping it lets it expire instead).
#[must_use = "release the lock when the work is done"]
pub struct Held {
    redis: ConnectionManager,
    key: String,
    token: String,
}

impl Locks {
    pub fn new(redis: ConnectionManager) -> Self {
        Self {
            redis,
            namespace: String::new(),
        }
    }

    /// Keeps this deployment's locks apart from another's sharing the Redis
    /// (`TENANT_ROLE_PREFIX`): otherwise one deployment's sweeper would skip its tick whenever
    /// the other's held the same name.
    pub fn namespaced(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_owned();
        self
    }

    /// Waits up to `wait` for the lock `name`, which then lasts at most `ttl`.
    pub async fn acquire(
        &self,
        name: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Held, LockError> {
        let key = format!("invigilator:{}lock:{name}", self.namespace);
        let token = Uuid::new_v4().to_string();
        let started = Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            let mut conn = self.redis.clone();
            let set: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(ttl.as_millis() as u64)
                .query_async(&mut conn)
                .await?;
            if set.is_some() {
                return Ok(Held {
                    redis: self.redis.clone(),
                    key,
                    token,
                });
            }
            if started.elapsed() >= wait {
                return Err(LockError::Busy { key, waited: wait });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }
}

impl Held {
    /// Releases the lock if it is still ours.
    pub async fn release(self) {
        let mut conn = self.redis.clone();
        let released: Result<i64, _> = Script::new(RELEASE)
            .key(&self.key)
            .arg(&self.token)
            .invoke_async(&mut conn)
            .await;
        if let Err(e) = released {
            tracing::warn!(key = %self.key, error = %e, "could not release a lock; it will expire");
        }
    }
}
