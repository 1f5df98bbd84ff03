//! Leases: short-lived, exclusive claims shared by every process through Redis — "only one of
//! us does this now". (Named leases, not locks, because "lock" in this product means locking a
//! student's portfolio.)
//!
//! A lease is a key set with `NX` and a time-to-live, holding a random token; releasing deletes
//! it only if the token still matches (a Lua compare-and-delete), so a holder whose lease expired
//! never releases someone else's. A process that dies simply lets its lease expire. Leases guard
//! work whose effects are also idempotent (folder lookup by appProperties, guarded state
//! changes in PostgreSQL): they prevent waste and duplicates in the common case, and
//! correctness never depends on them alone. The Redis key names (`…lock:<name>`) are kept from
//! before the rename, so processes of both versions respect each other during a rollout.

use std::sync::LazyLock;
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

/// Extends the lock to `ARGV[2]` ms from now, only if it still holds our token.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Takes one of `ARGV[3]` slots: members older than the time-to-live are dropped first, so a
/// holder that died frees its slot by itself.
const TAKE_SLOT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
";

// Each script is built (and its SHA-1 computed) once per process, not on every call.
static RELEASE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RELEASE));
static RENEW_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RENEW));
static TAKE_SLOT_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(TAKE_SLOT));

/// Why a lease was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("another process held {key} for longer than {waited:?}")]
    Busy { key: String, waited: Duration },
    #[error("Redis is unavailable for locking: {0}")]
    Redis(#[from] redis::RedisError),
}

/// Takes and releases named leases.
#[derive(Clone)]
pub struct Leases {
    redis: ConnectionManager,
    namespace: String,
}

/// A held lease; call [`Lease::release`] when done (dropping it lets it expire instead).
#[must_use = "release the lease when the work is done"]
pub struct Lease {
    redis: ConnectionManager,
    key: String,
    token: String,
}

impl Leases {
    pub fn new(redis: ConnectionManager) -> Self {
        Self {
            redis,
            namespace: String::new(),
        }
    }

    /// Keeps this deployment's leases apart from another's sharing the Redis
    /// (`TENANT_ROLE_PREFIX`): otherwise one deployment's sweeper would skip its tick whenever
    /// the other's held the same name.
    pub fn namespaced(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_owned();
        self
    }

    /// Takes one of `slots` slots named `name` if one is free, for at most `ttl`; `None` when all
    /// are taken. If Redis cannot be reached the work goes ahead (`Some`): a slot only shares
    /// out capacity, it never guards correctness.
    pub async fn try_slot(&self, name: &str, slots: u32, ttl: Duration) -> Option<Slot> {
        let key = format!("invigilator:{}slots:{name}", self.namespace);
        let token = Uuid::new_v4().to_string();
        let mut conn = self.redis.clone();
        let taken: Result<i64, _> = TAKE_SLOT_SCRIPT
            .key(&key)
            .arg(&token)
            .arg(ttl.as_millis() as u64)
            .arg(slots.max(1))
            .invoke_async(&mut conn)
            .await;
        match taken {
            Ok(0) => None,
            Ok(_) => Some(Slot {
                redis: self.redis.clone(),
                key,
                token,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "slots unavailable; going ahead");
                Some(Slot {
                    redis: self.redis.clone(),
                    key,
                    token,
                })
            }
        }
    }

    /// Waits up to `wait` for the lease `name`, which then lasts at most `ttl`.
    pub async fn acquire(
        &self,
        name: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Lease, LeaseError> {
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
                return Ok(Lease {
                    redis: self.redis.clone(),
                    key,
                    token,
                });
            }
            if started.elapsed() >= wait {
                return Err(LeaseError::Busy { key, waited: wait });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }
}

/// One of a limited number of slots (see [`Leases::try_slot`]); give it back with
/// [`Slot::release`] (dropping it lets it expire instead).
#[must_use = "release the slot when the work is done"]
pub struct Slot {
    redis: ConnectionManager,
    key: String,
    token: String,
}

impl Slot {
    /// Gives the slot back.
    pub async fn release(self) {
        let mut conn = self.redis.clone();
        let removed: Result<i64, _> = redis::cmd("ZREM")
            .arg(&self.key)
            .arg(&self.token)
            .query_async(&mut conn)
            .await;
        if let Err(e) = removed {
            tracing::warn!(key = %self.key, error = %e, "could not release a slot; it will expire");
        }
    }
}

impl Lease {
    /// Extends the lease to `ttl` from now; `false` if it is no longer ours (it expired and
    /// someone else took it) or Redis could not be asked.
    pub async fn renew(&self, ttl: Duration) -> bool {
        let mut conn = self.redis.clone();
        let renewed: Result<i64, _> = RENEW_SCRIPT
            .key(&self.key)
            .arg(&self.token)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut conn)
            .await;
        matches!(renewed, Ok(1))
    }

    /// Runs `work` while keeping the lease, renewing it to `ttl` every third of `ttl`, then
    /// releases it. The time-to-live can then be short, so a killed holder's lease frees soon,
    /// however long the work takes while its holder lives.
    pub async fn hold_while<T>(self, ttl: Duration, work: impl Future<Output = T>) -> T {
        tokio::pin!(work);
        let every = ttl / 3;
        loop {
            tokio::select! {
                out = &mut work => {
                    self.release().await;
                    return out;
                }
                () = tokio::time::sleep(every) => {
                    if !self.renew(ttl).await {
                        tracing::warn!(key = %self.key, "a held lease could not be renewed");
                    }
                }
            }
        }
    }

    /// Releases the lease if it is still ours.
    pub async fn release(self) {
        let mut conn = self.redis.clone();
        let released: Result<i64, _> = RELEASE_SCRIPT
            .key(&self.key)
            .arg(&self.token)
            .invoke_async(&mut conn)
            .await;
        if let Err(e) = released {
            tracing::warn!(key = %self.key, error = %e, "could not release a lease; it will expire");
        }
    }
}
