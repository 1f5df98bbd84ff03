//! The HTTP server: router, middleware and graceful shutdown.

mod api;
mod assets;
mod auth_routes;
mod class_rules;
mod data_map;
mod drive_operators;
mod erasure;
pub mod error;
mod events;
pub mod extract;
pub mod guard;
mod health;
mod openapi;
mod pages;
mod portfolios;
mod privacy;
mod retention;
pub(crate) mod security_headers;
mod shares;
mod support;
mod windows;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Request, StatusCode};
use axum::routing::{delete, get, post};
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::LatencyUnit;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::auth::oidc::Oidc;
use crate::auth::session::{SessionLifetimes, Sessions};
use crate::auth::signin::SignInService;
use crate::config::Config;
use crate::google::GoogleClients;
use crate::google::rate_limit::RateLimiter;
use crate::services::Services;
use tracing::Level;

/// The header carrying each request's id, generated when the client sends none.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What every handler can reach. Cheap to clone; holds no per-process state that matters
/// across instances (Cloud Run runs several).
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub web: Arc<WebSettings>,
    pub sessions: Sessions,
    pub signin: SignInService,
    /// Sign-in attempts per client address and per school.
    pub signin_limiter: RateLimiter,
    /// Where roster syncs, lock requests and onward-share work go after they are recorded.
    pub queues: crate::jobs::Queues,
    /// Lock status for dashboards, live.
    pub live: crate::portfolio::live::LiveStatus,
    /// Google, as the school's Drive operator or a staff member (the same clients sign-in uses).
    pub google: GoogleClients,
}

/// What the web layer takes from the configuration.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// `scheme://host[:port]` of `PUBLIC_URL`, compared with `Origin`.
    pub origin: String,
    /// Separates this deployment's throttling keys in a shared Redis (`TENANT_ROLE_PREFIX`,
    /// which already separates deployments sharing one PostgreSQL server).
    pub namespace: String,
    /// Proxies whose `X-Forwarded-For` entries are believed (`TRUSTED_PROXY_HOPS`).
    pub trusted_proxy_hops: usize,
    /// Sent with every answer; see [`security_headers`].
    pub content_security_policy: axum::http::HeaderValue,
    /// `Strict-Transport-Security`, sent with every answer in production; see
    /// [`security_headers`].
    pub strict_transport_security: Option<axum::http::HeaderValue>,
    /// A Drive folder's id appended to this opens it in a browser (Google's Drive, or the
    /// emulator's view of its files).
    pub drive_folder_url: String,
}

impl AppState {
    /// Everything the server needs: the process's shared services and what only the web layer
    /// uses (sessions, sign-in, its throttle).
    pub fn new(config: &Config, services: &Services) -> Result<Self, AppStateError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(AppStateError::Http)?;
        let oidc = Oidc::new(config, services.google.endpoints(), http)?;
        let redis = services.redis.clone();
        Ok(Self {
            web: Arc::new(WebSettings {
                origin: config.public_url.origin().ascii_serialization(),
                namespace: config.tenant_role_prefix.clone(),
                trusted_proxy_hops: config.trusted_proxy_hops,
                content_security_policy: security_headers::content_security_policy(
                    &config.google_issuer_url.origin().ascii_serialization(),
                ),
                drive_folder_url: drive_folder_url(&config.google_api_base_url),
                strict_transport_security: config
                    .strict_transport_security()
                    .then(security_headers::strict_transport_security),
            }),
            sessions: Sessions::new(
                redis.clone(),
                SessionLifetimes::default(),
                config.secure_cookies(),
                &config.tenant_role_prefix,
            ),
            signin: SignInService {
                pool: services.db.clone(),
                keys: config.token_keys.clone(),
                google: services.google.clone(),
                oidc: Arc::new(oidc),
            },
            // Two a second, in bursts of up to 60, per address or school: a staffroom behind
            // one school NAT address can all sign in at 8:30; a flood cannot.
            signin_limiter: RateLimiter::new(redis.clone(), 2.0, 60),
            queues: services.queues.clone(),
            live: services.live.clone(),
            google: services.google.clone(),
            db: services.db.clone(),
            redis,
        })
    }
}

/// Where a folder opens for a person: Google Drive itself, unless the APIs are somewhere else
/// (the emulator), whose own view of a file is the nearest thing.
fn drive_folder_url(api_base: &url::Url) -> String {
    if api_base.host_str() == Some("www.googleapis.com") {
        "https://drive.google.com/drive/folders/".to_owned()
    } else {
        let base = api_base.as_str().trim_end_matches('/');
        format!("{base}/emulator/files/")
    }
}

/// Why the web layer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AppStateError {
    #[error("the HTTP client for Google sign-in could not be built")]
    Http(#[source] reqwest::Error),
    #[error("PUBLIC_URL cannot carry the sign-in callback")]
    Callback(#[from] url::ParseError),
}

/// Limits the server applies to every request.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub body_bytes: usize,
    pub timeout: Duration,
}

/// Builds the router with its middleware.
pub fn router(state: AppState, limits: HttpLimits) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let middleware = ServiceBuilder::new()
        .layer(axum::middleware::from_fn(
            crate::metrics::http::count_requests,
        ))
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(
                    DefaultOnResponse::new()
                        .level(Level::INFO)
                        .latency_unit(LatencyUnit::Millis),
                ),
        )
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(axum::middleware::from_fn(error::shape_api_errors))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.timeout,
        ))
        .layer(RequestBodyLimitLayer::new(limits.body_bytes));
    Router::new()
        .route("/", get(pages::home))
        .route("/classes", get(pages::classes_page))
        .route("/classes/{id}", get(pages::class_page))
        .route("/classes/{id}/rows", get(pages::class_rows))
        .route("/portfolios/{id}", get(pages::portfolio_page))
        .merge(pages::area_routes())
        .route("/static/{file}", get(assets::serve))
        // Browsers ask for it on every site; nothing to show, and no 404 in the log.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/auth/login", get(auth_routes::login))
        .route("/auth/callback", get(auth_routes::callback))
        .route("/auth/logout", post(auth_routes::logout))
        .route("/auth/connect-drive", post(auth_routes::connect_drive))
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/api/me", get(api::me))
        .route("/api/roles", get(api::list_roles).post(api::assign_role))
        .route("/api/roles/{id}", delete(api::revoke_role))
        .route(
            "/api/settings",
            get(api::get_settings).put(api::put_settings),
        )
        .route("/api/drive-operators", get(drive_operators::list))
        .route("/api/drive-operators/{id}", delete(drive_operators::remove))
        .route("/api/audit/verify", get(api::verify_audit))
        .route("/api/sync", post(api::request_sync))
        .route("/api/portfolios/{id}", get(portfolios::portfolio))
        .route(
            "/api/portfolios/{id}/override",
            post(windows::override_unlock),
        )
        .route(
            "/api/portfolios/{id}/{verb}",
            post(portfolios::request_portfolio),
        )
        .route("/api/classes", get(class_rules::classes))
        .route(
            "/api/classes/{id}/placement",
            axum::routing::put(class_rules::set_placement),
        )
        .route("/api/classes/{id}/{verb}", post(portfolios::request_class))
        .route("/api/class-rules", get(class_rules::list))
        .route("/api/class-rules/apply", post(class_rules::apply))
        .route("/api/class-rules/{kind}", post(class_rules::add))
        .route(
            "/api/class-rules/{kind}/order",
            axum::routing::put(class_rules::reorder),
        )
        .route(
            "/api/class-rules/{kind}/{id}",
            axum::routing::put(class_rules::change).delete(class_rules::remove),
        )
        .route("/api/windows", get(windows::list).post(windows::create))
        .route("/api/windows/preview", post(windows::preview_new))
        .route(
            "/api/windows/calendar-feed",
            get(windows::feed_status)
                .post(windows::new_feed)
                .delete(windows::revoke_feed),
        )
        .route("/api/windows/{id}", get(windows::get).put(windows::edit))
        .route("/api/windows/{id}/preview", post(windows::preview_edit))
        .route("/api/windows/{id}/{verb}", post(windows::finish))
        .route("/calendar/{school}/{file}", get(windows::feed))
        .route("/api/shares", get(shares::list))
        .route("/api/shares/scans", post(shares::request_scan))
        .route("/api/shares/{id}/{verb}", post(shares::decide))
        .route(
            "/api/support-access",
            get(support::list).post(support::create),
        )
        .route("/api/support-access/{id}/revoke", post(support::revoke))
        .route("/api/support/{slug}/classes", get(support::classes))
        .route("/api/support/{slug}/classes/{id}", get(support::class))
        .route("/api/support/{slug}/audit", get(support::audit_log))
        .route("/api/support/{slug}/sync-runs", get(support::sync_runs))
        .route(
            "/api/privacy/students/{id}/export",
            get(privacy::export_student),
        )
        .route("/api/privacy/staff/{id}/export", get(privacy::export_staff))
        .route("/api/events", get(events::stream))
        .route("/api/privacy/students/{id}/erase", post(erasure::erase))
        .route("/api/privacy/retention", get(retention::preview))
        .route("/api/privacy/data-map", get(data_map::show))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(crate::metrics::http::note_route))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::session_and_csrf,
        ))
        .layer(axum::middleware::from_fn(error::render_error_pages))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security_headers::add,
        ))
        .with_state(state)
        .layer(middleware)
}

/// Any address we do not serve: JSON for the API, the friendly page for the rest.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        error::ApiError::NotFound.into_response()
    } else {
        error::PageError::not_found().into_response()
    }
}

/// Only the probes, for the worker service (Cloud Run needs every service to answer HTTP).
pub fn probe_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state)
}

/// The span every request's logs sit in. Only the path is recorded: query strings can carry
/// authorisation codes.
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
    )
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Completes on SIGTERM (Cloud Run's stop signal) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
