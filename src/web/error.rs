//! Errors as the person sees them: JSON for the API, a page for the browser. A 5xx never shows
//! its cause; it is logged instead.

use std::borrow::Cow;
use std::time::Duration;

use askama::Template;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// An API failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("sign in first")]
    Unauthenticated,
    #[error("you do not have permission to do that")]
    Forbidden,
    /// A state-changing request without this session's CSRF token.
    #[error("this page has expired: reload it and try again (nothing was changed)")]
    ExpiredPage,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// A value the person gave for `field` cannot be used; the answer names the field.
    #[error("{message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
    /// The page acted on a class whose students have changed since it was loaded: nothing was
    /// done, and the answer says who joined and who left.
    #[error("{message}")]
    Stale {
        message: String,
        joined: Vec<String>,
        left: Vec<String>,
    },
    #[error("too many attempts; try again in {} seconds", .0.as_secs().max(1))]
    RateLimited(Duration),
    /// Google did not answer a check the request needed; nothing was changed.
    #[error("Google did not answer in time; nothing was changed. Please try again.")]
    GoogleUnavailable(#[source] crate::google::GoogleError),
    /// Our database or session store cannot be reached just now (restarting, failing over):
    /// nothing was changed, and trying again shortly will work. The cause is logged.
    #[error(
        "Invigilator cannot reach part of its service just now; nothing was changed. Please try \
         again in a minute."
    )]
    Unavailable(#[source] anyhow::Error),
    /// Our fault: the cause is kept whole for the log, never shown.
    #[error("something went wrong on our side")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A 422 naming `field`.
    pub fn invalid_field(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            message: message.into(),
        }
    }
}

impl From<crate::input::FieldError> for ApiError {
    fn from(e: crate::input::FieldError) -> Self {
        Self::invalid_field(e.field, e.to_string())
    }
}

impl ApiError {
    /// Our fault, with what we were doing.
    pub fn internal(cause: impl Into<anyhow::Error>, doing: &'static str) -> Self {
        Self::Internal(cause.into().context(doing))
    }
}

/// What a person is told when their request met a uniqueness rule, by the rule's name; rules
/// not listed here are our fault (a race the code should have handled), so a 500.
fn unique_rule_message(constraint: &str) -> Option<(&'static str, &'static str)> {
    Some(match constraint {
        "tenants_shared_drive_key" => (
            "shared_drive_id",
            "this Shared Drive is already used by another school; each school needs its own",
        ),
        "tenants_slug_key" => ("slug", "a school with this slug already exists"),
        "tenants_workspace_domain_key" => {
            ("domain", "this domain already belongs to another school")
        }
        "subjects_name_key" => ("name", "a subject with this name already exists"),
        "subject_rules_position_key" => ("position", "another rule already has this position"),
        _ => return None,
    })
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
            && let Some((field, message)) = db.constraint().and_then(unique_rule_message)
        {
            return Self::invalid_field(field, message);
        }
        if is_unreachable(&e) {
            return Self::Unavailable(anyhow::Error::new(e).context("database"));
        }
        Self::internal(e, "database")
    }
}

/// The database could not be reached (no connection within the pool's wait, or the connection
/// broke): an outage to wait out, not a bug.
fn is_unreachable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
    )
}

impl From<crate::jobs::JobError> for ApiError {
    fn from(e: crate::jobs::JobError) -> Self {
        Self::internal(e, "queueing work")
    }
}

impl ApiError {
    /// The status this failure answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::ExpiredPage => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::Stale { .. } => StatusCode::CONFLICT,
            Self::Invalid(_) | Self::InvalidField { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::GoogleUnavailable(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl ApiError {
    /// The stable name of this kind of failure, for programs: `error.code` in every answer.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::ExpiredPage => "expired_page",
            Self::NotFound => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Invalid(_) | Self::InvalidField { .. } => "invalid",
            Self::Stale { .. } => "stale",
            Self::RateLimited(_) => "rate_limited",
            Self::GoogleUnavailable(_) => "google_unavailable",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

/// Every failed API answer: `{"error": {"code", "message", "request_id", …}}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, for a program (`code`) and a person (`message`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and snake_case: `unauthenticated`, `forbidden`, `expired_page`, `not_found`,
    /// `method_not_allowed`, `conflict`, `stale`, `invalid`, `bad_request`,
    /// `payload_too_large`, `unsupported_media_type`, `rate_limited`, `google_unavailable`,
    /// `unavailable`, `internal`.
    #[schema(example = "not_found")]
    pub code: Cow<'static, str>,
    /// In UK English, fit to show to the person.
    pub message: String,
    /// The id our logs carry for this request (and its `x-request-id` header), to quote to us.
    pub request_id: String,
    /// The request's field whose value cannot be used (`invalid` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<Cow<'static, str>>,
    /// Students who joined the class since the page was loaded (`stale` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joined: Option<Vec<String>>,
    /// Students who left the class since the page was loaded (`stale` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left: Option<Vec<String>>,
}

impl ErrorDetail {
    /// A failure with no extra facts; the request id is filled in by [`shape_api_errors`].
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            request_id: String::new(),
            field: None,
            joined: None,
            left: None,
        }
    }

    /// The answer: this body with `status`. The detail rides along in the response's
    /// extensions so that [`shape_api_errors`] can add the request's id.
    pub fn into_response_with(self, status: StatusCode) -> Response {
        let mut response = (
            status,
            Json(ErrorBody {
                error: self.clone(),
            }),
        )
            .into_response();
        response.extensions_mut().insert(self);
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::GoogleUnavailable(cause) => {
                tracing::warn!(error = %cause, "Google unavailable during a request");
            }
            Self::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "a store cannot be reached");
            }
            Self::Internal(cause) => {
                // Logged once, here, with its whole chain; the request's span adds its id.
                tracing::error!(error = format!("{cause:#}"), "request failed");
            }
            _ => {}
        }
        let mut detail = ErrorDetail::new(self.code(), self.to_string());
        match self {
            Self::InvalidField { field, .. } => detail.field = Some(field.into()),
            Self::Stale { joined, left, .. } => {
                detail.joined = Some(joined);
                detail.left = Some(left);
            }
            Self::RateLimited(wait) => return with_retry_after(detail, status, wait),
            Self::Unavailable(_) => {
                return with_retry_after(detail, status, UNAVAILABLE_RETRY_AFTER);
            }
            _ => {}
        }
        detail.into_response_with(status)
    }
}

/// How long to tell a client to wait when a store cannot be reached: a restart or failover
/// takes about this long.
const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(30);

fn with_retry_after(detail: ErrorDetail, status: StatusCode, wait: Duration) -> Response {
    let mut response = detail.into_response_with(status);
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(wait.as_secs().max(1)),
    );
    response
}

/// The `code` and message of an API answer that did not come from [`ApiError`]: axum's own
/// refusals (a body over the limit, a method the route does not take) and the time limit.
fn detail_for_status(status: StatusCode) -> ErrorDetail {
    let (code, message) = match status {
        StatusCode::BAD_REQUEST => ("bad_request", "the request could not be read"),
        StatusCode::UNAUTHORIZED => ("unauthenticated", "sign in first"),
        StatusCode::FORBIDDEN => ("forbidden", "you do not have permission to do that"),
        StatusCode::NOT_FOUND => ("not_found", "not found"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this address does not take that method",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "send the body as JSON, with `Content-Type: application/json`",
        ),
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid", "the request cannot be used"),
        StatusCode::TOO_MANY_REQUESTS => ("rate_limited", "too many requests; try again later"),
        StatusCode::SERVICE_UNAVAILABLE => (
            "unavailable",
            "the service could not answer in time; nothing may have changed. Please try again.",
        ),
        s if s.is_server_error() => ("internal", "something went wrong on our side"),
        _ => ("bad_request", "the request could not be handled"),
    };
    ErrorDetail::new(code, message)
}

/// Whether a request with this `Content-Type` carries JSON (`application/json`, or a
/// `+json` type such as `application/merge-patch+json`).
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Whether the request carries a body (a declared length above zero, or a chunked one).
fn has_body(headers: &axum::http::HeaderMap) -> bool {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(length) => length > 0,
        None => headers.contains_key(header::TRANSFER_ENCODING),
    }
}

/// The API's one contract for failures, around every request: a body on `/api/…` must be JSON
/// (415 otherwise), and every failed `/api/…` answer is [`ErrorBody`] carrying the request's id
/// (the `x-request-id` our logs carry), whoever refused it — a handler, axum's extractors, the
/// body limit or the time limit.
pub async fn shape_api_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let request_id = request
        .headers()
        .get(super::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let api = request.uri().path().starts_with("/api/");
    if api && has_body(request.headers()) {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        if !content_type.is_some_and(is_json) {
            let mut detail = detail_for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
            detail.request_id = request_id;
            return detail.into_response_with(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        }
    }
    let response = next.run(request).await;
    let status = response.status();
    let detail = match response.extensions().get::<ErrorDetail>() {
        Some(detail) => detail.clone(),
        None if api && (status.is_client_error() || status.is_server_error()) => {
            detail_for_status(status)
        }
        None => return response,
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = ErrorBody {
        error: ErrorDetail {
            request_id,
            ..detail
        },
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// A page explaining what went wrong, with a way forward and the request's id (which our logs
/// carry too, so a school's IT lead can quote it to us).
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub layout: super::pages::Layout,
    pub heading: String,
    pub message: String,
    pub action: Option<(String, String)>,
    pub request_id: Option<String>,
}

/// What an error page says; rendered by [`render_error_pages`], which knows the request's id.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub heading: String,
    pub message: String,
    pub action: Option<(String, String)>,
}

impl ErrorPage {
    fn render(self, request_id: Option<String>) -> String {
        let page = MessagePage {
            layout: super::pages::Layout::anonymous(),
            heading: self.heading,
            message: self.message,
            action: self.action,
            request_id,
        };
        page.render()
            .unwrap_or_else(|_| "Something went wrong. Please try again.".to_owned())
    }
}

/// A page-level failure.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub heading: &'static str,
    pub message: String,
    pub action: Option<(&'static str, &'static str)>,
    pub retry_after: Option<Duration>,
}

impl PageError {
    pub fn new(status: StatusCode, heading: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            heading,
            message: message.into(),
            action: Some(("/", "Back to the start")),
            retry_after: None,
        }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "page failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Something went wrong on our side. Please try again in a moment.",
        )
    }

    /// The one "not found" page: a missing page and one out of reach look the same.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Page not found",
            "We could not find that page. Check the address, or go back to your classes.",
        )
    }

    /// A form or button sent without this session's CSRF token, or with another's.
    pub fn expired_form() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "This page has expired",
            "Nothing was changed. The page you came from is out of date (or you signed in again \
             since it was opened): reload it and try again.",
        )
    }

    pub fn with_action(mut self, href: &'static str, label: &'static str) -> Self {
        self.action = Some((href, label));
        self
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::NotFound => Self::not_found(),
            ApiError::Unauthenticated => Self::new(
                StatusCode::UNAUTHORIZED,
                "Sign in first",
                "You are not signed in, or your session has ended. Sign in to continue.",
            ),
            ApiError::Forbidden => Self::new(
                StatusCode::FORBIDDEN,
                "You cannot do that",
                "Your roles in this school do not allow this. Ask your School Admin if you need it.",
            ),
            ApiError::ExpiredPage => Self::expired_form(),
            ApiError::Unavailable(cause) => {
                tracing::warn!(
                    error = format!("{cause:#}"),
                    "page unavailable: a store cannot be reached"
                );
                Self {
                    retry_after: Some(UNAVAILABLE_RETRY_AFTER),
                    ..Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Invigilator is not available just now",
                        "Part of Invigilator cannot be reached at the moment. Nothing was \
                         changed. Please try again in a minute.",
                    )
                }
            }
            ApiError::Internal(cause) => Self::internal(format!("{cause:#}")),
            other => Self::new(other.status(), "That could not be done", other.to_string()),
        }
    }
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        if is_unreachable(&e) {
            return ApiError::from(e).into();
        }
        Self::internal(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            heading: self.heading.to_owned(),
            message: self.message,
            action: self.action.map(|(h, l)| (h.to_owned(), l.to_owned())),
        };
        // Without the renderer (a router that lacks it), the page still says something.
        let fallback = format!("{}: {}", page.heading, page.message);
        let mut response = (self.status, fallback).into_response();
        response.extensions_mut().insert(page);
        if let Some(wait) = self.retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs().max(1)),
            );
        }
        response
    }
}

/// Whether `path` is one of the dashboard's pages (not the JSON API, a feed, an asset or a
/// probe), whose bare errors should be pages too.
fn is_page_path(path: &str) -> bool {
    !["/api/", "/calendar/", "/static/", "/healthz", "/readyz"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

/// Renders every [`PageError`] with the request's id, and gives the dashboard's bare 4xx/5xx
/// answers (an unknown address, a method a page does not take) the same friendly page.
pub async fn render_error_pages(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let request_id = request
        .headers()
        .get(super::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let page_path = is_page_path(request.uri().path());
    let mut response = next.run(request).await;
    let status = response.status();
    let page = match response.extensions_mut().remove::<ErrorPage>() {
        Some(page) => page,
        None if page_path
            && (status.is_client_error() || status.is_server_error())
            && !response.headers().contains_key(header::CONTENT_TYPE) =>
        {
            let PageError {
                heading,
                message,
                action,
                ..
            } = if status == StatusCode::NOT_FOUND {
                PageError::not_found()
            } else {
                PageError::new(
                    status,
                    "That could not be done",
                    "The page could not handle that request. Go back and try again.",
                )
            };
            ErrorPage {
                heading: heading.to_owned(),
                message,
                action: action.map(|(h, l)| (h.to_owned(), l.to_owned())),
            }
        }
        None => return response,
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(page.render(request_id)))
}
