//! Errors as the person sees them: JSON for the API, a page for the browser. A 5xx never shows
//! its cause; it is logged instead.

use std::time::Duration;

use askama::Template;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

/// An API failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("sign in first")]
    Unauthenticated,
    #[error("you do not have permission to do that")]
    Forbidden,
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
    #[error("too many attempts; try again in {} seconds", .0.as_secs().max(1))]
    RateLimited(Duration),
    /// Google did not answer a check the request needed; nothing was changed.
    #[error("Google did not answer in time; nothing was changed. Please try again.")]
    GoogleUnavailable(#[source] crate::google::GoogleError),
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
        Self::internal(e, "database")
    }
}

impl From<crate::jobs::JobError> for ApiError {
    fn from(e: crate::jobs::JobError) -> Self {
        Self::internal(e, "queueing work")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Invalid(_) | Self::InvalidField { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::GoogleUnavailable(cause) => {
                tracing::warn!(error = %cause, "Google unavailable during a request");
                StatusCode::BAD_GATEWAY
            }
            Self::Internal(cause) => {
                // Logged once, here, with its whole chain; the request's span adds its id.
                tracing::error!(error = format!("{cause:#}"), "request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let body = match &self {
            Self::InvalidField { field, message } => json!({"error": message, "field": field}),
            other => json!({"error": other.to_string()}),
        };
        let mut response = (status, Json(body)).into_response();
        if let Self::RateLimited(wait) = &self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs().max(1)),
            );
        }
        response
    }
}

/// A page explaining what went wrong, with a way forward.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub heading: String,
    pub message: String,
    pub action: Option<(String, String)>,
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

    pub fn with_action(mut self, href: &'static str, label: &'static str) -> Self {
        self.action = Some((href, label));
        self
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = MessagePage {
            heading: self.heading.to_owned(),
            message: self.message,
            action: self.action.map(|(h, l)| (h.to_owned(), l.to_owned())),
        };
        let body = page
            .render()
            .unwrap_or_else(|_| "Something went wrong. Please try again.".to_owned());
        let mut response = (self.status, Html(body)).into_response();
        if let Some(wait) = self.retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs().max(1)),
            );
        }
        response
    }
}
