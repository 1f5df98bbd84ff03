//! The HTTP server: Google's routes, the admin API, and the front door every Google call passes
//! (latency, injected faults, quotas, statistics).

use std::net::SocketAddr;
use std::ops::Deref;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::auth::bearer;
use crate::emulator::{Emulator, SetupError};
use crate::error::GoogleError;
use crate::limits::{FaultKind, Injected, QuotaRefusal};
use crate::seed::Seed;
use crate::{admin, classroom, drive, oauth};

/// Google's method id for a route, e.g. `drive.permissions.update`; `None` for the admin API.
pub fn route_id(method: &Method, path: &str) -> Option<&'static str> {
    let m = method.as_str();
    Some(match (m, path) {
        ("POST", "/token") => "oauth2.token",
        ("POST", "/revoke") => "oauth2.revoke",
        ("GET", "/v1/userinfo" | "/oauth2/v3/userinfo") => "oauth2.userinfo",
        ("GET", "/v1/courses") => "classroom.courses.list",
        ("GET", "/v1/courses/{id}") => "classroom.courses.get",
        ("GET", "/v1/courses/{course_id}/students") => "classroom.courses.students.list",
        ("GET", "/v1/courses/{course_id}/teachers") => "classroom.courses.teachers.list",
        ("GET", "/v1/userProfiles/{user_id}") => "classroom.userProfiles.get",
        ("POST", "/drive/v3/files" | "/upload/drive/v3/files") => "drive.files.create",
        ("GET", "/drive/v3/files") => "drive.files.list",
        ("GET", "/drive/v3/files/{file_id}") => "drive.files.get",
        ("GET", "/drive/v3/drives/{drive_id}") => "drive.drives.get",
        ("PATCH", "/drive/v3/files/{file_id}" | "/upload/drive/v3/files/{file_id}") => {
            "drive.files.update"
        }
        ("DELETE", "/drive/v3/files/{file_id}") => "drive.files.delete",
        ("POST", "/drive/v3/files/{file_id}/permissions") => "drive.permissions.create",
        ("GET", "/drive/v3/files/{file_id}/permissions") => "drive.permissions.list",
        ("GET", "/drive/v3/files/{file_id}/permissions/{permission_id}") => "drive.permissions.get",
        ("PATCH", "/drive/v3/files/{file_id}/permissions/{permission_id}") => {
            "drive.permissions.update"
        }
        ("DELETE", "/drive/v3/files/{file_id}/permissions/{permission_id}") => {
            "drive.permissions.delete"
        }
        _ => return None,
    })
}

/// Every route the emulator serves.
pub fn router(emulator: Emulator) -> Router {
    let google = Router::new()
        .route("/.well-known/openid-configuration", get(oauth::discovery))
        .route("/o/oauth2/v2/auth", get(oauth::authorize))
        .route("/o/oauth2/v2/auth/approve", post(oauth::approve))
        .route("/token", post(oauth::token))
        .route("/revoke", post(oauth::revoke))
        .route("/oauth2/v3/certs", get(oauth::jwks))
        .route("/v1/userinfo", get(oauth::userinfo))
        .route("/oauth2/v3/userinfo", get(oauth::userinfo))
        .route("/v1/courses", get(classroom::list_courses))
        .route("/v1/courses/{id}", get(classroom::get_course))
        .route(
            "/v1/courses/{course_id}/students",
            get(classroom::list_students),
        )
        .route(
            "/v1/courses/{course_id}/teachers",
            get(classroom::list_teachers),
        )
        .route(
            "/v1/userProfiles/{user_id}",
            get(classroom::get_user_profile),
        )
        .route(
            "/drive/v3/files",
            get(drive::files::list).post(drive::files::create_json),
        )
        .route("/upload/drive/v3/files", post(drive::files::create_upload))
        .route("/drive/v3/drives/{drive_id}", get(drive::drives::get))
        .route(
            "/drive/v3/files/{file_id}",
            get(drive::files::get)
                .patch(drive::files::update)
                .delete(drive::files::delete),
        )
        .route(
            "/upload/drive/v3/files/{file_id}",
            axum::routing::patch(drive::files::update),
        )
        .route(
            "/drive/v3/files/{file_id}/permissions",
            get(drive::permissions::list).post(drive::permissions::create),
        )
        .route(
            "/drive/v3/files/{file_id}/permissions/{permission_id}",
            get(drive::permissions::get)
                .patch(drive::permissions::update)
                .delete(drive::permissions::delete),
        )
        .route_layer(middleware::from_fn_with_state(emulator.clone(), front_door));
    google
        .nest("/emulator", admin::router())
        .fallback(not_found)
        .with_state(emulator)
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html("<!doctype html><title>Error 404 (Not Found)</title><p>The requested URL was not found on this server."),
    )
        .into_response()
}

/// Latency, faults and quotas for every Google route, then statistics on the answer.
async fn front_door(
    State(emu): State<Emulator>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let Some(route) = route_id(request.method(), matched.as_str()) else {
        return next.run(request).await;
    };
    // Decide under the lock, wait without it.
    let (latency, fault) = emu.limits().plan_call(route);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = match fault {
        Some(Injected::Fault(FaultKind::LostResponse)) => {
            let _done = next.run(request).await;
            GoogleError::unavailable().into_response()
        }
        Some(Injected::Fault(kind)) => fault_response(kind),
        Some(Injected::Respond(canned)) => (
            StatusCode::from_u16(canned.status).unwrap_or(StatusCode::OK),
            axum::Json(canned.body),
        )
            .into_response(),
        None => match quota(&emu, route, &request) {
            Err(refusal) => refusal.into_response(),
            Ok(()) => next.run(request).await,
        },
    };
    emu.limits().record(route, response.status().as_u16());
    response
}

/// Per-user and per-project quotas for Drive and Classroom calls with a live token.
fn quota(emu: &Emulator, route: &str, request: &Request) -> Result<(), GoogleError> {
    let api = route.split('.').next().unwrap_or_default();
    if !matches!(api, "drive" | "classroom") {
        return Ok(());
    }
    let who = bearer(request.headers()).and_then(|token| {
        emu.tokens()
            .live_access(token)
            .map(|a| (a.principal.email.clone(), a.client_id.clone()))
    });
    let Some((user, project)) = who else {
        return Ok(());
    };
    match emu.limits().take(api, &user, &project) {
        Ok(()) => Ok(()),
        Err(QuotaRefusal::User { retry_after_secs }) if api == "drive" => {
            Err(GoogleError::user_rate_limit(retry_after_secs))
        }
        Err(QuotaRefusal::Project { retry_after_secs }) if api == "drive" => {
            Err(GoogleError::project_rate_limit(retry_after_secs))
        }
        Err(
            QuotaRefusal::User { retry_after_secs } | QuotaRefusal::Project { retry_after_secs },
        ) => Err(GoogleError::too_many_requests(retry_after_secs)),
    }
}

fn fault_response(kind: FaultKind) -> Response {
    let json = |status: StatusCode, body: &'static str| {
        (
            status,
            [(CONTENT_TYPE, "application/json; charset=UTF-8")],
            body,
        )
            .into_response()
    };
    match kind {
        FaultKind::Error500 => GoogleError::backend_error().into_response(),
        FaultKind::Error503 => GoogleError::unavailable().into_response(),
        FaultKind::Error429 => GoogleError::too_many_requests(1).into_response(),
        FaultKind::SharingRateLimit => GoogleError::sharing_rate_limit().into_response(),
        FaultKind::HtmlError => (
            StatusCode::BAD_GATEWAY,
            Html("<!DOCTYPE html><html lang=en><title>Error 502 (Server Error)!!1</title><p><b>502.</b> That’s an error.</p><p>The server encountered a temporary error and could not complete your request.</p></html>"),
        )
            .into_response(),
        FaultKind::MalformedJson => json(StatusCode::OK, "{\"kind\": \"drive#file\", \"id\": <not json>}"),
        FaultKind::Truncated => json(StatusCode::OK, "{\"kind\": \"drive#file\", \"id\": \"1trunc"),
        // Handled in the front door, which must run the call first.
        FaultKind::LostResponse => GoogleError::unavailable().into_response(),
        FaultKind::ConnectionReset => connection_reset(),
    }
}

/// The first part of the body that `connection_reset` sends before the connection drops.
const CUT_OFF_BODY: &[u8] = b"{\"kind\": \"drive#file\", \"id\": \"1cut";
/// What the headers promise: more than is sent.
const PROMISED_LENGTH: usize = 96;

/// A 200 whose headers promise more body than comes: the status line, the headers and part of
/// the body are sent (and flushed, after a pause), then the connection is dropped. A client
/// therefore sees a response cut off mid-body, as when a connection to Google breaks, not a
/// connection that closed before answering (which HTTP clients retry by themselves).
fn connection_reset() -> Response {
    let body = futures_util::stream::unfold(0u8, |step| async move {
        match step {
            0 => Some((Ok(Bytes::from_static(CUT_OFF_BODY)), 1)),
            1 => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "connection reset by emulator",
                    )),
                    2,
                ))
            }
            _ => None,
        }
    });
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    headers.insert(
        axum::http::header::CONTENT_LENGTH,
        axum::http::HeaderValue::from(PROMISED_LENGTH),
    );
    response
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the seed is invalid: {0}")]
    Seed(#[from] SetupError),
    #[error("cannot listen: {0}")]
    Bind(#[from] std::io::Error),
}

/// An emulator serving on a local port; stops when dropped.
pub struct RunningEmulator {
    emulator: Emulator,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RunningEmulator {
    /// The base URL, ending in `/`: the issuer, the token endpoint's host, every API's root.
    pub fn url(&self) -> String {
        self.emulator.base_url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// Stops serving and waits (briefly) for the server to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
    }
}

impl Deref for RunningEmulator {
    type Target = Emulator;

    fn deref(&self) -> &Emulator {
        &self.emulator
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts an emulator seeded with `seed` on a free port of 127.0.0.1.
pub async fn start(seed: &Seed) -> Result<RunningEmulator, StartError> {
    start_on(seed, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// Starts an emulator on `addr`.
pub async fn start_on(seed: &Seed, addr: SocketAddr) -> Result<RunningEmulator, StartError> {
    let emulator = Emulator::new(seed)?;
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    emulator.set_base_url(format!("http://{addr}/"));
    let (tx, rx) = oneshot::channel::<()>();
    let app = router(emulator.clone());
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "emulator stopped");
        }
    });
    Ok(RunningEmulator {
        emulator,
        addr,
        shutdown: Some(tx),
        task,
    })
}
