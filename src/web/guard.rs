//! The session and CSRF guard every request passes.
//!
//! It finds the session from the cookie (putting it in the request's extensions for the
//! [`super::extract::CurrentStaff`] extractor) and, for every state-changing request, checks
//! that it comes from our own pages: `Origin` (or `Sec-Fetch-Site`) must be ours, and a signed-in
//! request must carry the session's CSRF token in the `X-CSRF-Token` header or a `csrf_token`
//! form field.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::{ApiError, PageError};
use crate::auth::session::{SessionData, cookie_value};

/// The signed-in session, if any, found by the guard.
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub id: String,
    pub data: SessionData,
}

/// Form bodies larger than this are not read for a CSRF token (and are refused).
const MAX_FORM_BYTES: usize = 64 * 1024;

pub async fn session_and_csrf(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // The probes answer for the process and its stores themselves; a cookie a browser happens
    // to send must not make them depend on the session store.
    if matches!(request.uri().path(), "/healthz" | "/readyz") {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let session = match cookie_value(&parts.headers, &state.sessions.session_cookie_name()) {
        Some(id) => match state.sessions.load(&id).await {
            Ok(Some(data)) => Some(CurrentSession { id, data }),
            Ok(None) => None,
            // The session store cannot be reached: a wait, not a bug, and not "signed out".
            Err(e) => {
                let e = ApiError::Unavailable(anyhow::Error::new(e).context("loading a session"));
                return if parts.uri.path().starts_with("/api/") {
                    e.into_response()
                } else {
                    PageError::from(e).into_response()
                };
            }
        },
        None => None,
    };
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let body = if safe {
        body
    } else {
        if !same_origin(&parts.headers, &state.web.origin) {
            tracing::warn!(path = %parts.uri.path(), "cross-site request refused");
            return ApiError::Forbidden.into_response();
        }
        match &session {
            None => body,
            Some(s) => match csrf_checked(&parts, body, &s.data.csrf_token).await {
                Ok(body) => body,
                Err(()) => {
                    tracing::warn!(path = %parts.uri.path(), "request without a valid CSRF token refused");
                    // A form of ours gets a page; the dashboard's script shows the message.
                    return if parts.uri.path().starts_with("/api/") {
                        ApiError::ExpiredPage.into_response()
                    } else {
                        PageError::expired_form().into_response()
                    };
                }
            },
        }
    };
    if let Some(s) = session {
        parts.extensions.insert(s);
    }
    next.run(Request::from_parts(parts, body)).await
}

/// The request comes from our own origin: `Origin` says so, or (when a browser sends no
/// `Origin`) `Sec-Fetch-Site` does. A request with neither is not from a current browser.
fn same_origin(headers: &axum::http::HeaderMap, origin: &str) -> bool {
    if let Some(o) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        return o == origin;
    }
    matches!(
        headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
        Some("same-origin" | "none")
    )
}

/// Passes the body on if the header or the form carries `expected`.
async fn csrf_checked(
    parts: &axum::http::request::Parts,
    body: Body,
    expected: &str,
) -> Result<Body, ()> {
    // Constant time, so the comparison's duration says nothing about how much of a guess was
    // right.
    let matches = |given: &str| bool::from(given.as_bytes().ct_eq(expected.as_bytes()));
    if let Some(given) = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
    {
        return if matches(given) { Ok(body) } else { Err(()) };
    }
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(());
    }
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| ())?;
    let given = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf_token")
        .map(|(_, v)| v.into_owned());
    match given {
        Some(g) if matches(&g) => Ok(Body::from(bytes)),
        _ => Err(()),
    }
}
