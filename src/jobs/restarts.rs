//! When to stop restarting stopped workers. A lost Redis (a restart, a failover, `FLUSHALL`)
//! stops a worker, and starting it again is the cure, so apalis is told to restart workers. It
//! restarts at once, so while Redis is unreachable workers fail and restart in a quick loop; a
//! short outage must be ridden out, but one that lasts is better handed to the supervisor. So
//! restarts are allowed until they have kept coming, never more than a few seconds apart, for
//! [`RestartStreak`]'s limit; then the workers stop and `work` exits with an error, and its
//! supervisor (Cloud Run, systemd) starts a fresh process with its own backoff.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A run of restarts with no long gap between them.
#[derive(Debug)]
pub struct RestartStreak {
    /// Restarts further apart than this start a new streak.
    gap: Duration,
    /// A streak longer than this is given up on.
    limit: Duration,
    /// The current streak's first and latest restart.
    streak: Mutex<Option<(Instant, Instant)>>,
}

impl RestartStreak {
    pub fn new(gap: Duration, limit: Duration) -> Self {
        Self {
            gap,
            limit,
            streak: Mutex::new(None),
        }
    }

    /// Counts a restart; `false` once restarts have kept coming for longer than the limit.
    pub fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> bool {
        // A panic while holding this lock leaves two timestamps behind: still usable.
        let mut streak = self
            .streak
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let started = match *streak {
            Some((started, latest)) if now.duration_since(latest) <= self.gap => started,
            _ => now,
        };
        *streak = Some((started, now));
        now.duration_since(started) <= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_burst_of_restarts_is_ridden_out() {
        let streak = RestartStreak::new(Duration::from_secs(5), Duration::from_secs(120));
        let t0 = Instant::now();
        // A Redis restart: hundreds of quick restarts within two seconds.
        assert!((0..500).all(|i| streak.allow_at(t0 + Duration::from_millis(i * 4))));
    }

    #[test]
    fn restarts_that_keep_coming_are_given_up_on() {
        let streak = RestartStreak::new(Duration::from_secs(5), Duration::from_secs(120));
        let t0 = Instant::now();
        assert!((0..=120).all(|s| streak.allow_at(t0 + Duration::from_secs(s))));
        assert!(!streak.allow_at(t0 + Duration::from_secs(121)));
    }

    #[test]
    fn a_quiet_spell_starts_a_new_streak() {
        let streak = RestartStreak::new(Duration::from_secs(5), Duration::from_secs(120));
        let t0 = Instant::now();
        assert!((0..=100).all(|s| streak.allow_at(t0 + Duration::from_secs(s))));
        // An hour later (a FLUSHALL, say): a fresh streak.
        assert!(streak.allow_at(t0 + Duration::from_secs(3700)));
        assert!(streak.allow_at(t0 + Duration::from_secs(3790)));
    }
}
