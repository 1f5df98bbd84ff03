//! Quotas (per user and per project, per API) and injected faults, plus call statistics.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::seed::Quotas;

/// One thing that can go wrong with a call, on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 500 `backendError`.
    Error500,
    /// 503 `backendError`.
    Error503,
    /// 429 `rateLimitExceeded`.
    Error429,
    /// 403 `sharingRateLimitExceeded`.
    SharingRateLimit,
    /// 502 with an HTML page, as a proxy in front of Google sends.
    HtmlError,
    /// 200 whose body is not JSON.
    MalformedJson,
    /// 200 whose JSON body stops half-way.
    Truncated,
    /// The connection is dropped mid-response.
    ConnectionReset,
    /// The call takes effect, but the answer is lost: a 503 after the change was made.
    LostResponse,
}

/// Faults for one route (or every route): random ones by probability, and a queue of faults to
/// answer the next calls with, in order, for deterministic tests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPlan {
    /// Added to every call.
    pub latency_ms: u64,
    /// Probability (0–1) of each kind on each call.
    pub probabilities: BTreeMap<FaultKind, f64>,
    /// Answered to the next calls, first to last, before any random fault.
    pub next: Vec<FaultKind>,
    /// Exact answers for the next calls (after `next` is spent): odd but well-formed JSON, such
    /// as an unknown enum value or a missing field.
    pub respond_next: Vec<CannedResponse>,
}

/// An answer given verbatim instead of the emulator's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CannedResponse {
    pub status: u16,
    pub body: serde_json::Value,
}

/// What a call gets instead of its normal answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Injected {
    Fault(FaultKind),
    Respond(CannedResponse),
}

/// A token bucket refilled continuously at `rate` per second, holding at most one second's worth.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Quotas, faults and statistics for the whole emulator.
#[derive(Debug, Default)]
pub struct Limits {
    pub quotas: Quotas,
    buckets: HashMap<String, Bucket>,
    /// Route id (`drive.permissions.update`) or `*` → plan.
    pub faults: HashMap<String, FaultPlan>,
    pub stats: Stats,
}

/// What happened to calls, for tests and benchmarks.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    /// Route id → HTTP status → count.
    pub calls: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Sharing notification emails Drive would have sent.
    pub notification_emails: u64,
}

/// Which quota refused a call, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaRefusal {
    User { retry_after_secs: u64 },
    Project { retry_after_secs: u64 },
}

impl Limits {
    /// Takes one request from the user's and the project's buckets for `api`.
    pub fn take(&mut self, api: &str, user: &str, project: &str) -> Result<(), QuotaRefusal> {
        let now = Instant::now();
        if let Some(rate) = self.quotas.per_user_per_second {
            take_from(&mut self.buckets, format!("{api}/user/{user}"), rate, now)
                .map_err(|retry_after_secs| QuotaRefusal::User { retry_after_secs })?;
        }
        if let Some(rate) = self.quotas.per_project_per_second {
            take_from(
                &mut self.buckets,
                format!("{api}/project/{project}"),
                rate,
                now,
            )
            .map_err(|retry_after_secs| QuotaRefusal::Project { retry_after_secs })?;
        }
        Ok(())
    }

    /// The latency to add and what (if anything) to answer a call to `route` with instead.
    pub fn plan_call(&mut self, route: &str) -> (Duration, Option<Injected>) {
        let mut latency = 0;
        let mut injected = None;
        for key in [route, "*"] {
            if let Some(plan) = self.faults.get_mut(key) {
                latency += plan.latency_ms;
                if injected.is_none() && !plan.next.is_empty() {
                    injected = Some(Injected::Fault(plan.next.remove(0)));
                }
                if injected.is_none() && !plan.respond_next.is_empty() {
                    injected = Some(Injected::Respond(plan.respond_next.remove(0)));
                }
                if injected.is_none() {
                    let mut rng = rand::thread_rng();
                    injected = plan
                        .probabilities
                        .iter()
                        .find(|(_, p)| rng.gen_bool(p.clamp(0.0, 1.0)))
                        .map(|(k, _)| Injected::Fault(*k));
                }
            }
        }
        (Duration::from_millis(latency), injected)
    }

    pub fn record(&mut self, route: &str, status: u16) {
        *self
            .stats
            .calls
            .entry(route.to_owned())
            .or_default()
            .entry(status)
            .or_default() += 1;
    }
}

/// `Err(seconds to wait)` when the bucket is empty.
fn take_from(
    buckets: &mut HashMap<String, Bucket>,
    key: String,
    rate: f64,
    now: Instant,
) -> Result<(), u64> {
    let rate = rate.max(0.001);
    let bucket = buckets.entry(key).or_insert(Bucket {
        tokens: rate,
        at: now,
    });
    let elapsed = now.duration_since(bucket.at).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * rate).min(rate.max(1.0));
    bucket.at = now;
    if bucket.tokens >= 1.0 {
        bucket.tokens -= 1.0;
        Ok(())
    } else {
        Err(((1.0 - bucket.tokens) / rate).ceil().max(1.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_quota_refuses_past_its_rate_and_refills() {
        let mut limits = Limits {
            quotas: Quotas {
                per_user_per_second: Some(5.0),
                per_project_per_second: None,
            },
            ..Limits::default()
        };
        for _ in 0..5 {
            limits.take("drive", "a@x", "p").unwrap();
        }
        assert!(matches!(
            limits.take("drive", "a@x", "p"),
            Err(QuotaRefusal::User {
                retry_after_secs: 1
            })
        ));
        // Another user and another API have their own buckets.
        limits.take("drive", "b@x", "p").unwrap();
        limits.take("classroom", "a@x", "p").unwrap();
        std::thread::sleep(Duration::from_millis(250));
        limits.take("drive", "a@x", "p").unwrap();
    }

    #[test]
    fn queued_faults_come_first_then_stop() {
        let mut limits = Limits::default();
        limits.faults.insert(
            "drive.files.get".into(),
            FaultPlan {
                latency_ms: 5,
                next: vec![FaultKind::Error503, FaultKind::Error429],
                ..FaultPlan::default()
            },
        );
        assert_eq!(
            limits.plan_call("drive.files.get"),
            (
                Duration::from_millis(5),
                Some(Injected::Fault(FaultKind::Error503))
            )
        );
        assert_eq!(
            limits.plan_call("drive.files.get").1,
            Some(Injected::Fault(FaultKind::Error429))
        );
        assert_eq!(limits.plan_call("drive.files.get").1, None);
        assert_eq!(limits.plan_call("drive.files.list"), (Duration::ZERO, None));
    }
}
