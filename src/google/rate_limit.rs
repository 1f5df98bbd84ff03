//! Limits on calls, shared by every process through Redis, so that all web and worker instances
//! together stay under Google's quotas (and our own sign-in throttle holds across instances).
//!
//! The algorithm is GCRA (generic cell rate algorithm) in one Lua script, run atomically by
//! Redis with Redis's own clock: each call moves a key's "theoretical arrival time" on by one
//! emission interval; a call that would arrive earlier than the burst allows is told how long to
//! wait. One call may have to fit several limits at once (a Drive operator account's own, and
//! the Google project's above every school), and may be free to use whichever of several
//! accounts has room: the script weighs them all and takes a slot from each limit the call uses,
//! or from none, in one step, so no slot is taken for a call that then waits elsewhere. No crate
//! offers a Redis-shared limiter for redis-rs 1.x (governor is in-process only), so the script
//! lives here.

use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

/// KEYS: `ARGV[1]` candidate keys (the call uses one of them, whichever has room first), then the
/// keys every call uses. `ARGV[2 * i]` and `ARGV[2 * i + 1]`: key i's interval (ms) and burst.
/// Answers `{chosen candidate (1-based; 0 when there are none), wait in ms (0: taken)}`.
const GCRA: &str = r"
local candidates = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tats = {}
local function allowed_at(i)
  local interval = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  tats[i] = tat
  return tat + interval - burst * interval
end
local at = now
for i = candidates + 1, #KEYS do
  local a = allowed_at(i)
  if a > at then at = a end
end
local chosen, chosen_at = 0, nil
for i = 1, candidates do
  local a = allowed_at(i)
  if chosen_at == nil or a < chosen_at then chosen, chosen_at = i, a end
end
if chosen_at ~= nil and chosen_at > at then at = chosen_at end
if now < at then
  -- Whole milliseconds, rounded up: Redis turns a Lua float into an integer by truncation,
  -- and a wait of 0.4 ms must not read as 'go'.
  return {chosen, math.max(1, math.ceil(at - now))}
end
local function take(i)
  local new_tat = tats[i] + tonumber(ARGV[2 * i])
  redis.call('SET', KEYS[i], new_tat, 'PX', math.ceil(new_tat - now) + 1000)
end
if chosen > 0 then take(chosen) end
for i = candidates + 1, #KEYS do take(i) end
return {chosen, 0}
";

/// A rate of calls per second, with bursts of up to `burst` calls at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    interval_ms: f64,
    burst: u32,
}

impl Rate {
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self {
            interval_ms: 1000.0 / per_second.max(0.001),
            burst: burst.max(1),
        }
    }

    /// A burst of a quarter second's calls: enough to start work at once, small enough that
    /// every process together stays inside Google's per-second buckets.
    pub fn google(per_second: f64) -> Self {
        Self::new(per_second, (per_second / 4.0).ceil() as u32)
    }

    /// Calls allowed per second.
    pub fn per_second(&self) -> f64 {
        1000.0 / self.interval_ms
    }
}

/// One limit a call counts against: its shared key (`google:<school id>`, say) and its rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    pub key: String,
    pub rate: Rate,
}

impl Limit {
    pub fn new(key: impl Into<String>, rate: Rate) -> Self {
        Self {
            key: key.into(),
            rate,
        }
    }
}

/// The shared limits, through Redis. Cheap to clone.
#[derive(Clone)]
pub struct SharedLimits {
    redis: ConnectionManager,
    script: Script,
}

impl std::fmt::Debug for SharedLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimits").finish_non_exhaustive()
    }
}

/// What one run of the script decided.
enum Decision {
    /// A slot was taken (from the candidate at this index, if there were candidates).
    Taken(Option<usize>),
    /// Nothing was taken; the earliest a call could fit is this far off.
    Wait(Duration),
}

impl SharedLimits {
    pub fn new(redis: ConnectionManager) -> Self {
        Self {
            redis,
            script: Script::new(GCRA),
        }
    }

    async fn decide(&self, candidates: &[Limit], every: &[Limit]) -> redis::RedisResult<Decision> {
        let mut invocation = self.script.prepare_invoke();
        invocation.arg(candidates.len());
        for limit in candidates.iter().chain(every) {
            invocation
                .key(format!("invigilator:ratelimit:{}", limit.key))
                .arg(limit.rate.interval_ms)
                .arg(limit.rate.burst);
        }
        let mut conn = self.redis.clone();
        let (chosen, wait): (usize, u64) = invocation.invoke_async(&mut conn).await?;
        let chosen = chosen.checked_sub(1);
        Ok(if wait == 0 {
            Decision::Taken(chosen)
        } else {
            Decision::Wait(Duration::from_millis(wait))
        })
    }

    /// Takes a slot under every limit in `every` now if the call fits them all; otherwise says
    /// how long until it will (for answering 429 with `Retry-After` instead of waiting). Fails
    /// open like [`Self::acquire`].
    pub async fn check(&self, every: &[Limit]) -> Result<(), Duration> {
        match self.decide(&[], every).await {
            Ok(Decision::Taken(_)) => Ok(()),
            Ok(Decision::Wait(wait)) => Err(wait),
            Err(e) => {
                tracing::warn!(error = %e, "rate limiter unavailable; letting the request through");
                Ok(())
            }
        }
    }

    /// Waits until one more call fits every limit in `every`, and takes its slots.
    ///
    /// If Redis cannot be reached the call proceeds (fail open): Google's own quota answers
    /// then, and the retry policy backs off. Blocking every Google call on a Redis outage would
    /// stop locks that could otherwise succeed.
    pub async fn acquire(&self, every: &[Limit]) {
        // With no candidates there is nothing to choose, and the wait is unbounded.
        let _ = self.acquire_one_of(&[], every, Duration::MAX).await;
    }

    /// Waits until one more call fits one of `candidates` (whichever has room first; on a tie,
    /// the one with the most room) and every limit in `every`, takes the slots, and returns the
    /// candidate's index. `None` if nothing fits within `within`, or when there are no
    /// candidates; if Redis cannot be reached, the first candidate (fail open, as `acquire`).
    pub async fn acquire_one_of(
        &self,
        candidates: &[Limit],
        every: &[Limit],
        within: Duration,
    ) -> Option<usize> {
        let started = tokio::time::Instant::now();
        loop {
            match self.decide(candidates, every).await {
                Ok(Decision::Taken(chosen)) => return chosen,
                Ok(Decision::Wait(wait)) => {
                    if started.elapsed().saturating_add(wait) > within {
                        return None;
                    }
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "rate limiter unavailable; calling Google unthrottled");
                    return (!candidates.is_empty()).then_some(0);
                }
            }
        }
    }
}

/// One rate applied under any key: the sign-in throttle (per address, per school).
#[derive(Clone, Debug)]
pub struct RateLimiter {
    limits: SharedLimits,
    rate: Rate,
}

impl RateLimiter {
    pub fn new(redis: ConnectionManager, per_second: f64, burst: u32) -> Self {
        Self {
            limits: SharedLimits::new(redis),
            rate: Rate::new(per_second, burst),
        }
    }

    /// Calls allowed per second.
    pub fn per_second(&self) -> f64 {
        self.rate.per_second()
    }

    /// Takes a slot under `key` now if there is one; otherwise says how long until there will
    /// be. Fails open.
    pub async fn check(&self, key: &str) -> Result<(), Duration> {
        self.limits.check(&[Limit::new(key, self.rate)]).await
    }

    /// Waits until one more call under `key` fits the limit. Fails open.
    pub async fn acquire(&self, key: &str) {
        self.limits.acquire(&[Limit::new(key, self.rate)]).await
    }
}
