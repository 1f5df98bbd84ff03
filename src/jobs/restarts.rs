//! How often stopped workers are started again. A lost Redis (a restart, `FLUSHALL`) stops a
//! worker, and starting it again is the cure, so apalis is told to restart workers; but it
//! restarts at once, and with Redis gone for good that would be a tight loop of failures. So a
//! process allows a budget of restarts in a window; past it the workers are stopped and `work`
//! exits with an error, and its supervisor (Cloud Run, systemd) starts a fresh process with its
//! own backoff.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Restarts allowed within a sliding window.
#[derive(Debug)]
pub struct RestartBudget {
    max: usize,
    window: Duration,
    recent: Mutex<VecDeque<Instant>>,
}

impl RestartBudget {
    /// At most `max` restarts in any `window`.
    pub fn new(max: usize, window: Duration) -> Self {
        Self {
            max,
            window,
            recent: Mutex::new(VecDeque::with_capacity(max + 1)),
        }
    }

    /// Counts a restart; `false` once more than `max` have happened within the window.
    pub fn allow(&self) -> bool {
        let now = Instant::now();
        // A panic while holding this lock leaves plain timestamps behind: still usable.
        let mut recent = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            recent.pop_front();
        }
        recent.push_back(now);
        recent.len() <= self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_are_allowed_up_to_the_budget_then_refused() {
        let budget = RestartBudget::new(3, Duration::from_secs(60));
        assert!((0..3).all(|_| budget.allow()));
        assert!(!budget.allow());
        assert!(!budget.allow());
    }

    #[test]
    fn the_budget_refills_as_the_window_moves_on() {
        let budget = RestartBudget::new(2, Duration::from_millis(50));
        assert!(budget.allow() && budget.allow());
        assert!(!budget.allow());
        std::thread::sleep(Duration::from_millis(80));
        assert!(budget.allow());
    }
}
