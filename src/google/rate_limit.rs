//! A per-school limit on Google calls, shared by every process through Redis, so that all web
//! and worker instances together stay under the quota.
//!
//! The algorithm is GCRA (generic cell rate algorithm) in one Lua script, run atomically by
//! Redis with Redis's own clock: each call moves the key's "theoretical arrival time" on by one
//! emission interval; a call that would arrive earlier than the burst allows is told how long to
//! wait. No crate offers a Redis-shared limiter for redis-rs 1.x (governor is in-process only),
//! so the dozen lines of Lua live here.

use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allowed_at = new_tat - burst * interval
if now < allowed_at then
  -- Whole milliseconds, rounded up: Redis turns a Lua float into an integer by truncation,
  -- and a wait of 0.4 ms must not read as 'go'.
  return math.max(1, math.ceil(allowed_at - now))
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now) + 1000)
return 0
";

/// A shared limiter of `per_second` calls with bursts of up to `burst`.
#[derive(Clone)]
pub struct RateLimiter {
    redis: ConnectionManager,
    script: Script,
    interval_ms: f64,
    burst: u32,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("interval_ms", &self.interval_ms)
            .field("burst", &self.burst)
            .finish()
    }
}

impl RateLimiter {
    pub fn new(redis: ConnectionManager, per_second: f64, burst: u32) -> Self {
        Self {
            redis,
            script: Script::new(GCRA),
            interval_ms: 1000.0 / per_second.max(0.001),
            burst: burst.max(1),
        }
    }

    /// Calls allowed per second.
    pub fn per_second(&self) -> f64 {
        1000.0 / self.interval_ms
    }

    /// Takes a slot now if there is one; otherwise says how long until there will be (for
    /// answering 429 with `Retry-After` instead of waiting). Fails open like [`Self::acquire`].
    pub async fn check(&self, key: &str) -> Result<(), Duration> {
        let key = format!("invigilator:ratelimit:{key}");
        let mut conn = self.redis.clone();
        let wait: Result<u64, _> = self
            .script
            .key(&key)
            .arg(self.interval_ms)
            .arg(self.burst)
            .invoke_async(&mut conn)
            .await;
        match wait {
            Ok(0) => Ok(()),
            Ok(ms) => Err(Duration::from_millis(ms)),
            Err(e) => {
                tracing::warn!(error = %e, "rate limiter unavailable; letting the request through");
                Ok(())
            }
        }
    }

    /// Waits until one more call under `key` (e.g. `drive:<school id>`) fits the limit.
    ///
    /// If Redis cannot be reached the call proceeds (fail open): Google's own quota answers
    /// then, and the retry policy backs off. Blocking every Google call on a Redis outage would
    /// stop locks that could otherwise succeed.
    pub async fn acquire(&self, key: &str) {
        let key = format!("invigilator:ratelimit:{key}");
        loop {
            let mut conn = self.redis.clone();
            let wait: Result<u64, _> = self
                .script
                .key(&key)
                .arg(self.interval_ms)
                .arg(self.burst)
                .invoke_async(&mut conn)
                .await;
            match wait {
                Ok(0) => return,
                Ok(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                Err(e) => {
                    tracing::warn!(error = %e, "rate limiter unavailable; calling Google unthrottled");
                    return;
                }
            }
        }
    }
}
