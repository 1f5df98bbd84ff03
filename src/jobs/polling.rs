//! How an idle worker is woken to look for work: every interval, reliably.
//!
//! apalis-redis puts every pushed job in its scheduled set (even one due now) and moves due jobs
//! to the queue only when a worker fetches, so an idle worker must be woken to fetch. apalis's
//! own `IntervalStrategy` re-arms its timer without polling it, so after one tick nothing wakes
//! the worker until some other event does: a lock clicked on a quiet dashboard waited up to
//! the worker's 30-second heartbeat. This strategy keeps a timer armed at every return.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use apalis_core::backend::ext::poll_strategy::{PollSnapshot, PollStrategy};
use tokio::time::Sleep;

/// Wakes the worker every `interval`, whatever else happens.
#[derive(Debug)]
pub struct EveryInterval {
    interval: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl EveryInterval {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            timer: None,
        }
    }
}

impl PollStrategy for EveryInterval {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut ticked = false;
        loop {
            let interval = self.interval;
            let timer = self
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(interval)));
            match timer.as_mut().poll(cx) {
                // Arm the next tick now, so this waker is called again (the contract apalis's
                // own strategy misses).
                Poll::Ready(()) => {
                    self.timer = None;
                    ticked = true;
                }
                Poll::Pending if ticked => return Poll::Ready(Some(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn a_worker_that_is_never_polled_otherwise_is_still_woken_every_interval() {
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = std::task::Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let mut strategy = EveryInterval::new(Duration::from_millis(20));
        let snapshot = PollSnapshot::default();
        assert!(strategy.poll_drive(&mut cx, &snapshot).is_pending());
        // Poll only when woken, as a worker does.
        let mut seen = 0;
        for _ in 0..5 {
            let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
            while wakes.0.load(Ordering::SeqCst) == seen {
                assert!(tokio::time::Instant::now() < deadline, "not woken again");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            seen = wakes.0.load(Ordering::SeqCst);
            let _ = strategy.poll_drive(&mut cx, &snapshot);
        }
    }
}
