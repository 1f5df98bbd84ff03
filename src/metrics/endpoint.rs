//! `GET /metrics` on a listener of its own (`METRICS_ADDR`), for `serve` and `work` alike.
//!
//! A port of its own rather than a route behind authentication: the public port answers the
//! internet, and a scraper then needs no credential to keep. On Cloud Run the port is bound to
//! `127.0.0.1` and read by the Managed Service for Prometheus sidecar in the same instance, so
//! nothing outside the instance can reach it (see `cloudrun.yaml`).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use apalis_redis::RedisStorage;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use redis::aio::ConnectionManager;
use tokio::net::TcpListener;

use crate::jobs::Queues;

/// How long reading the queues' depth may take before the scrape goes on without it.
const QUEUE_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// What the endpoint reads at each scrape besides the counters: the job queues in Redis.
#[derive(Clone)]
pub struct MetricsEndpoint {
    queues: Queues,
    redis: ConnectionManager,
}

/// Why the metrics listener could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for metrics on {addr} (METRICS_ADDR)")]
pub struct MetricsListenError {
    addr: SocketAddr,
    #[source]
    source: std::io::Error,
}

impl MetricsEndpoint {
    /// The endpoint over this process's queues.
    pub fn new(queues: Queues, redis: ConnectionManager) -> Self {
        Self { queues, redis }
    }

    /// The router: `GET /metrics` only.
    pub fn router(self) -> Router {
        Router::new()
            .route("/metrics", get(scrape))
            .with_state(self)
    }

    /// Binds `addr` now (so a port in use stops start-up with a clear line), then serves until
    /// `shutdown` completes, in the background.
    pub async fn spawn(
        self,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), MetricsListenError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| MetricsListenError { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| MetricsListenError { addr, source })?;
        tracing::info!(addr = %bound, "metrics on /metrics");
        let router = self.router();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
        Ok((bound, task))
    }

    /// Reads every queue's depth from Redis into the gauges. A Redis that does not answer
    /// leaves the last values, and the scrape still answers.
    async fn refresh_queue_depth(&self) {
        let read = async {
            queue_depth(&self.redis, "roster_sync", &self.queues.roster).await?;
            queue_depth(&self.redis, "apply_lock", &self.queues.locks).await?;
            queue_depth(&self.redis, "onward_share", &self.queues.shares).await?;
            queue_depth(&self.redis, "assessment_window", &self.queues.windows).await
        };
        match tokio::time::timeout(QUEUE_READ_TIMEOUT, read).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "metrics: queue depth not read"),
            Err(_) => tracing::warn!("metrics: queue depth not read in time"),
        }
    }
}

/// One queue's waiting (apalis's active list) and scheduled (its sorted set) jobs.
async fn queue_depth<Args>(
    redis: &ConnectionManager,
    name: &'static str,
    queue: &RedisStorage<Args>,
) -> Result<(), redis::RedisError> {
    let config = queue.get_config();
    let mut conn = redis.clone();
    let (waiting, scheduled): (i64, i64) = redis::pipe()
        .llen(config.active_jobs_list())
        .zcard(config.scheduled_jobs_set())
        .query_async(&mut conn)
        .await?;
    super::queue_depth(name, waiting, scheduled);
    Ok(())
}

#[tracing::instrument(skip_all)]
async fn scrape(State(endpoint): State<MetricsEndpoint>) -> impl IntoResponse {
    endpoint.refresh_queue_depth().await;
    (
        [(header::CONTENT_TYPE, super::CONTENT_TYPE)],
        super::render(),
    )
}
