//! Probes for Cloud Run and load balancers.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::AppState;

/// How long a dependency may take to answer before it counts as unreachable.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The process is up. Touches nothing else, so a slow database never restarts the container.
pub async fn healthz() -> &'static str {
    "ok"
}

#[derive(Debug, Serialize)]
pub struct Readiness {
    status: &'static str,
    database: &'static str,
    redis: &'static str,
}

/// Ready to serve: PostgreSQL and Redis both answer. 503 otherwise, naming which failed;
/// the error itself goes to the log, not to the caller.
#[tracing::instrument(skip_all)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let database = async {
        let check = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.db);
        match tokio::time::timeout(CHECK_TIMEOUT, check).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: database check failed");
                false
            }
            Err(_) => {
                tracing::warn!("readiness: database check timed out");
                false
            }
        }
    };
    let redis = async {
        let mut conn = state.redis.clone();
        let ping = redis::cmd("PING");
        let check = ping.query_async::<String>(&mut conn);
        match tokio::time::timeout(CHECK_TIMEOUT, check).await {
            Ok(Ok(_)) => true,
            // Retrying never mends a certificate, so the line says what to fix.
            Ok(Err(e)) if crate::redis_client::certificate_rejected(&e) => {
                tracing::warn!(
                    error = %e,
                    "readiness: redis TLS certificate not trusted; REDIS_CA_CERT must name the CA \
                     that signed the server's certificate, for the host in REDIS_URL"
                );
                false
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: redis check failed");
                false
            }
            Err(_) => {
                tracing::warn!("readiness: redis check timed out");
                false
            }
        }
    };
    let (database, redis) = tokio::join!(database, redis);
    let word = |ok: bool| if ok { "ok" } else { "unreachable" };
    let ready = database && redis;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            status: if ready { "ready" } else { "not ready" },
            database: word(database),
            redis: word(redis),
        }),
    )
}
