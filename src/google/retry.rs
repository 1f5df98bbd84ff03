//! The one retry policy for Google calls: exponential backoff with full jitter, a ceiling,
//! `Retry-After` honoured (up to a limit), one token refresh on 401, and never a retry for
//! needs-reconnect, not-found or permanent errors. Drive's sharing limit is not retried inside a
//! call at all: it needs minutes, so the caller reschedules the work and backs off the school.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use super::error::GoogleError;

/// How hard to try.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub max_retries: usize,
    /// The first backoff's upper bound.
    pub base: Duration,
    /// No single wait is longer than this (except a server's `Retry-After`).
    pub ceiling: Duration,
    /// The longest `Retry-After` honoured inside one call; a longer one is returned to the
    /// caller (a job can be rescheduled; a request should not hang).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 6,
            base: Duration::from_millis(500),
            ceiling: Duration::from_secs(32),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A fast policy for tests.
    pub fn quick() -> Self {
        Self {
            max_retries: 5,
            base: Duration::from_millis(10),
            ceiling: Duration::from_millis(200),
            max_retry_after: Duration::from_secs(2),
        }
    }
}

/// Captures the `Retry-After` of a failed response (`google-apis-common` otherwise drops the
/// headers of an error it has parsed). Clones share what was captured, so a request can own its
/// delegate while the caller reads the delay afterwards.
#[derive(Debug, Clone, Default)]
pub struct RetryAfter(Arc<AtomicU64>);

impl RetryAfter {
    /// The delay Google asked for, if it asked.
    pub fn delay(&self) -> Option<Duration> {
        // Stored as seconds + 1, so 0 means "none".
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_secs(n - 1)),
        }
    }
}

impl google_drive3::common::Delegate for RetryAfter {
    fn http_failure(
        &mut self,
        response: &google_drive3::common::Response,
        _: Option<&serde_json::Value>,
    ) -> google_drive3::common::Retry {
        let seconds = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        self.0.store(
            seconds.map_or(0, |s| s.saturating_add(1)),
            Ordering::Relaxed,
        );
        google_drive3::common::Retry::Abort
    }
}

/// Runs `call` under `policy`. `refresh_token` is called once, before the single retry that
/// follows a 401; a second 401 becomes [`GoogleError::NeedsReconnect`].
pub async fn with_retry<T, F, Fut>(
    policy: &RetryPolicy,
    account: &str,
    refresh_token: impl Fn(),
    call: F,
) -> Result<T, GoogleError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, GoogleError>>,
{
    let refreshed = AtomicBool::new(false);
    let backoff = ExponentialBuilder::default()
        .with_min_delay(policy.base)
        .with_max_delay(policy.ceiling)
        .with_factor(2.0)
        .with_max_times(policy.max_retries);
    let result = call
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(|e: &GoogleError| match e {
            GoogleError::Unauthorized { .. } => !refreshed.swap(true, Ordering::SeqCst),
            // Neither comes back within a call's backoff; the caller tries again later.
            GoogleError::SharingRateLimited { .. } | GoogleError::Unavailable { .. } => false,
            GoogleError::RateLimited {
                retry_after: Some(after),
                ..
            } => *after <= policy.max_retry_after,
            e => e.is_retryable(),
        })
        .adjust(|e: &GoogleError, planned: Option<Duration>| {
            let planned = planned?;
            Some(match e {
                GoogleError::RateLimited {
                    retry_after: Some(after),
                    ..
                } => (*after).max(full_jitter(planned)),
                GoogleError::Unauthorized { .. } => Duration::ZERO,
                _ => full_jitter(planned),
            })
        })
        .notify(|e: &GoogleError, wait: Duration| {
            if matches!(e, GoogleError::Unauthorized { .. }) {
                refresh_token();
            }
            tracing::debug!(error = %e, wait_ms = wait.as_millis() as u64, "retrying a Google call");
        })
        .await;
    result.map_err(|e| match e {
        GoogleError::Unauthorized { op } => GoogleError::NeedsReconnect {
            op,
            account: account.to_owned(),
            reason: "Google refused a freshly refreshed access token".to_owned(),
        },
        e => e,
    })
}

/// "Full jitter": a uniformly random wait between zero and the exponential bound, so many
/// clients retrying at once spread out instead of colliding again.
fn full_jitter(bound: Duration) -> Duration {
    bound.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn transient() -> GoogleError {
        GoogleError::Transient {
            op: "t",
            detail: "503".into(),
        }
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_success() {
        let calls = AtomicUsize::new(0);
        let result = with_retry(
            &RetryPolicy::quick(),
            "a@x",
            || {},
            || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                    Err(transient())
                } else {
                    Ok(7)
                }
            },
        )
        .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn permanent_classes_are_never_retried() {
        for error in [
            GoogleError::NotFound {
                op: "t",
                detail: String::new(),
            },
            GoogleError::Permanent {
                op: "t",
                detail: String::new(),
            },
            GoogleError::NeedsReconnect {
                op: "t",
                account: String::new(),
                reason: String::new(),
            },
        ] {
            let calls = AtomicUsize::new(0);
            let result: Result<(), _> = with_retry(
                &RetryPolicy::quick(),
                "a@x",
                || {},
                || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    let e = error.clone();
                    async move { Err(e) }
                },
            )
            .await;
            assert_eq!(result.unwrap_err().class(), error.class());
            assert_eq!(calls.load(Ordering::SeqCst), 1);
        }
    }

    #[tokio::test]
    async fn a_401_refreshes_once_then_needs_reconnect() {
        let refreshes = AtomicUsize::new(0);
        let calls = AtomicUsize::new(0);
        let result: Result<(), _> = with_retry(
            &RetryPolicy::quick(),
            "teacher@school",
            || {
                refreshes.fetch_add(1, Ordering::SeqCst);
            },
            || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(GoogleError::Unauthorized { op: "t" }) }
            },
        )
        .await;
        assert!(
            matches!(result, Err(GoogleError::NeedsReconnect { ref account, .. }) if account == "teacher@school")
        );
        assert_eq!(refreshes.load(Ordering::SeqCst), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn retry_after_is_honoured() {
        let calls = AtomicUsize::new(0);
        let started = std::time::Instant::now();
        let result = with_retry(
            &RetryPolicy::quick(),
            "a@x",
            || {},
            || async {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(GoogleError::RateLimited {
                        op: "t",
                        retry_after: Some(Duration::from_millis(300)),
                    })
                } else {
                    Ok(())
                }
            },
        )
        .await;
        assert!(result.is_ok());
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn jitter_stays_within_the_bound() {
        for _ in 0..1000 {
            assert!(full_jitter(Duration::from_millis(100)) <= Duration::from_millis(100));
        }
    }
}
