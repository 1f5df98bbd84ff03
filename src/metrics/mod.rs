//! Operational metrics in Prometheus's text format: what the service is doing, for dashboards
//! and alerts, never who it is doing it for.
//!
//! One registry per process, built on first use, so that any module records with one call
//! (`metrics::google_call(...)`) instead of a handle threaded through every constructor. Labels
//! are small fixed sets — route templates, job kinds, outcomes — and never carry a school, a
//! person or an id: the exposition holds no personal data and its size does not grow with the
//! number of schools. The series are described in the README's "Operations" section.
//!
//! The exposition is served on a port of its own (`METRICS_ADDR`, see [`endpoint`]), not on
//! the public one.

pub mod endpoint;
pub mod http;

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::google::error::{ErrorClass, GoogleError};

/// Every name starts with this, so the service's series are easy to find among others.
const PREFIX: &str = "invigilator";

/// Request latencies, in seconds: 5 ms to 30 s (the request timeout's default).
const HTTP_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Jobs and Google calls take longer than requests: 10 ms to 5 minutes.
const WORK_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
/// A school's roster sync: half a second to 20 minutes.
const SYNC_BUCKETS: [f64; 10] = [0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 1200.0];

/// One HTTP request: the route's template (`/api/classes/{id}/{verb}`), never the path itself.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

/// A route template and method, for latencies.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// A background job's kind (`apply_lock`, `roster_sync`, ...) and how it ended.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: &'static str,
    outcome: &'static str,
}

/// A job kind alone, for durations.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// A queue and whether its jobs are waiting now or scheduled for later.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: &'static str,
    state: &'static str,
}

/// A Google API (`drive`, `classroom`) and how a call to it ended.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GoogleLabels {
    api: &'static str,
    outcome: &'static str,
}

/// A Google API alone, for latencies.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    api: &'static str,
}

/// How something ended, for series with only an outcome.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Makes each labelled histogram with its buckets.
#[derive(Clone, Copy)]
struct Buckets(&'static [f64]);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// The process's metrics and the registry that encodes them.
struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<RouteLabels, Histogram, Buckets>,
    jobs: Family<JobLabels, Counter>,
    job_duration: Family<KindLabels, Histogram, Buckets>,
    queue_jobs: Family<QueueLabels, Gauge>,
    google_calls: Family<GoogleLabels, Counter>,
    google_duration: Family<ApiLabels, Histogram, Buckets>,
    sweeper_requeued: Family<KindLabels, Counter>,
    sync_duration: Family<OutcomeLabels, Histogram, Buckets>,
    audit_anchors: Family<OutcomeLabels, Counter>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let http_requests = Family::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            http_requests.clone(),
        );
        let http_duration = Family::new_with_constructor(Buckets(&HTTP_BUCKETS));
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            http_duration.clone(),
        );
        let jobs = Family::default();
        registry.register(
            "jobs",
            "Background jobs finished, by kind and outcome",
            jobs.clone(),
        );
        let job_duration = Family::new_with_constructor(Buckets(&WORK_BUCKETS));
        registry.register(
            "job_duration_seconds",
            "Time a background job ran, by kind",
            job_duration.clone(),
        );
        let queue_jobs = Family::default();
        registry.register(
            "queue_jobs",
            "Jobs in each queue, waiting now or scheduled for later, read from Redis at scrape",
            queue_jobs.clone(),
        );
        let google_calls = Family::default();
        registry.register(
            "google_calls",
            "Google API requests sent (each retry counted), by API and outcome",
            google_calls.clone(),
        );
        let google_duration = Family::new_with_constructor(Buckets(&WORK_BUCKETS));
        registry.register(
            "google_call_duration_seconds",
            "Time one Google API request took, rate-limit wait included, by API",
            google_duration.clone(),
        );
        let sweeper_requeued = Family::default();
        registry.register(
            "sweeper_requeued",
            "Work the sweeper queued again after it lagged (a lost queue, a killed worker), by kind",
            sweeper_requeued.clone(),
        );
        let sync_duration = Family::new_with_constructor(Buckets(&SYNC_BUCKETS));
        registry.register(
            "roster_sync_duration_seconds",
            "Time one school's Classroom roster sync took, by outcome",
            sync_duration.clone(),
        );
        let audit_anchors = Family::default();
        registry.register(
            "audit_anchors",
            "Audit chain heads anchored outside the school's schema, by outcome",
            audit_anchors.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            jobs,
            job_duration,
            queue_jobs,
            google_calls,
            google_duration,
            sweeper_requeued,
            sync_duration,
            audit_anchors,
        }
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// Every series, in Prometheus's text format (version 0.0.4).
pub fn render() -> String {
    let mut text = String::new();
    // Writing into a String cannot fail; an error here would be an encoder bug, so the
    // exposition is simply cut short rather than the scrape failing.
    if let Err(e) =
        prometheus_client::encoding::prometheus_text::encode(&mut text, &METRICS.registry)
    {
        tracing::warn!(error = %e, "metrics could not all be encoded");
    }
    text
}

/// The `Content-Type` of [`render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// One HTTP request answered. `route` is the matched route's template, or a fixed word for
/// requests no route matched.
pub fn http_request(method: &str, route: &str, status: u16, took: Duration) {
    METRICS
        .http_requests
        .get_or_create(&HttpLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        })
        .inc();
    METRICS
        .http_duration
        .get_or_create(&RouteLabels {
            method: method.to_owned(),
            route: route.to_owned(),
        })
        .observe(took.as_secs_f64());
}

/// One background job finished: `kind` is the queue's job (`apply_lock`, `roster_sync`,
/// `onward_share`, `assessment_window`), `outcome` a word from a small fixed set per kind.
pub fn job(kind: &'static str, outcome: &'static str, took: Duration) {
    METRICS
        .jobs
        .get_or_create(&JobLabels { kind, outcome })
        .inc();
    METRICS
        .job_duration
        .get_or_create(&KindLabels { kind })
        .observe(took.as_secs_f64());
}

/// Times one job and records it when dropped, whichever way the handler returns: an outcome
/// never given (a `?` on a database error, or a job cut off by a hard stop) is counted as
/// `error`.
pub struct JobRun {
    kind: &'static str,
    outcome: &'static str,
    started: std::time::Instant,
}

impl JobRun {
    /// Starts timing a job of `kind`.
    pub fn start(kind: &'static str) -> Self {
        Self {
            kind,
            outcome: "error",
            started: std::time::Instant::now(),
        }
    }

    /// How the job ended (the last word given counts).
    pub fn outcome(&mut self, outcome: &'static str) {
        self.outcome = outcome;
    }
}

impl Drop for JobRun {
    fn drop(&mut self) {
        job(self.kind, self.outcome, self.started.elapsed());
    }
}

/// The jobs in `queue` now: `waiting` to be picked up, `scheduled` for later.
pub fn queue_depth(queue: &'static str, waiting: i64, scheduled: i64) {
    for (state, jobs) in [("waiting", waiting), ("scheduled", scheduled)] {
        METRICS
            .queue_jobs
            .get_or_create(&QueueLabels { queue, state })
            .set(jobs);
    }
}

/// One request sent to Google (`api` is `drive` or `classroom`), however it ended.
pub fn google_call<T>(api: &'static str, result: &Result<T, GoogleError>, took: Duration) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(e) => match e.class() {
            ErrorClass::Transient => "transient",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::SharingRateLimited => "sharing_rate_limited",
            ErrorClass::NeedsReconnect => "needs_reconnect",
            ErrorClass::NotFound => "not_found",
            ErrorClass::Permanent => "refused",
        },
    };
    METRICS
        .google_calls
        .get_or_create(&GoogleLabels { api, outcome })
        .inc();
    METRICS
        .google_duration
        .get_or_create(&ApiLabels { api })
        .observe(took.as_secs_f64());
}

/// The sweeper queued `count` lagging pieces of work of `kind` (`lock`, `onward_share`) again.
pub fn sweeper_requeued(kind: &'static str, count: usize) {
    METRICS
        .sweeper_requeued
        .get_or_create(&KindLabels { kind })
        .inc_by(count as u64);
}

/// One school's roster sync ended (`succeeded` or `failed`) after `took`.
pub fn roster_sync(outcome: &'static str, took: Duration) {
    METRICS
        .sync_duration
        .get_or_create(&OutcomeLabels { outcome })
        .observe(took.as_secs_f64());
}

/// One school's audit chain head anchored outside its schema: `outcome` is `anchored`, or
/// `failed` when the anchor could not be written, or `behind` when a verify found the chain
/// shorter than its last anchor (entries deleted).
pub fn audit_anchor(outcome: &'static str) {
    METRICS
        .audit_anchors
        .get_or_create(&OutcomeLabels { outcome })
        .inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_appear_with_their_labels() {
        http_request("GET", "/api/classes/{id}", 200, Duration::from_millis(3));
        job("unit_test_job", "done", Duration::from_millis(20));
        audit_anchor("anchored");
        let text = render();
        // A series appears once something is recorded in it.
        for name in [
            "invigilator_http_requests_total counter",
            "invigilator_http_request_duration_seconds histogram",
            "invigilator_jobs_total counter",
            "invigilator_job_duration_seconds histogram",
            "invigilator_audit_anchors_total counter",
        ] {
            assert!(
                text.contains(&format!("# TYPE {name}\n")),
                "{name} missing:\n{text}"
            );
        }
        assert!(text.contains(
            r#"invigilator_http_requests_total{method="GET",route="/api/classes/{id}",status="200"} 1"#
        ));
        assert!(text.contains(r#"invigilator_jobs_total{kind="unit_test_job",outcome="done"} 1"#));
        assert!(text.contains(r#"invigilator_audit_anchors_total{outcome="anchored"} 1"#));
        assert!(
            text.contains(
                r#"invigilator_http_request_duration_seconds_bucket{method="GET",route="/api/classes/{id}",le="0.005"} 1"#
            ),
            "{text}"
        );
    }
}
