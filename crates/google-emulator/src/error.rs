//! Errors as Google's JSON APIs send them:
//! `{"error":{"code":…,"message":…,"errors":[{"domain","reason","message",…}],"status":…}}`,
//! and OAuth's `{"error":…,"error_description":…}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error from a Google REST API (Drive, Classroom).
#[derive(Debug, Clone)]
pub struct GoogleError {
    pub status: StatusCode,
    pub domain: &'static str,
    pub reason: &'static str,
    pub message: String,
    /// `(locationType, location)`, e.g. `("parameter", "fileId")`.
    pub location: Option<(&'static str, String)>,
    /// Seconds, sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

impl GoogleError {
    fn new(
        status: StatusCode,
        domain: &'static str,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            domain,
            reason,
            message: message.into(),
            location: None,
            retry_after: None,
        }
    }

    fn at(mut self, location_type: &'static str, location: impl Into<String>) -> Self {
        self.location = Some((location_type, location.into()));
        self
    }

    /// 401: no, malformed, expired or revoked access token.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "global",
            "authError",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login \
             cookie or other valid authentication credential.",
        )
        .at("header", "Authorization")
    }

    /// 403: the token lacks every scope that would allow this call.
    pub fn insufficient_scopes() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "global",
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        )
    }

    /// 403: the caller may not do this to this item.
    pub fn insufficient_file_permissions() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "global",
            "insufficientFilePermissions",
            "The user does not have sufficient permissions for this file.",
        )
    }

    /// 403 with a specific reason.
    pub fn forbidden(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "global", reason, message)
    }

    /// 403 `fieldNotWritable`: the request sets a field it may not (output-only, or `parents` on
    /// update).
    pub fn field_not_writable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "global", "fieldNotWritable", message)
    }

    /// 403 `fileNotDownloadable`: `alt=media` on a folder or a Google Docs editors file.
    pub fn file_not_downloadable() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "global",
            "fileNotDownloadable",
            "Only files with binary content can be downloaded. Use Export with Docs Editors files.",
        )
        .at("parameter", "alt")
    }

    /// 400 `invalidSharingRequest`, e.g. `sendNotificationEmail` on a domain or anyone grant.
    pub fn invalid_sharing_request(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "global",
            "invalidSharingRequest",
            message,
        )
    }

    /// 404 for a Drive file, as Drive words it.
    pub fn file_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "global",
            "notFound",
            format!("File not found: {id}."),
        )
        .at("parameter", "fileId")
    }

    /// 404 for a shared drive the caller cannot see, as Drive words it.
    pub fn drive_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "global",
            "notFound",
            format!("Shared drive not found: {id}"),
        )
        .at("parameter", "driveId")
    }

    /// 404 for a Drive permission.
    pub fn permission_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "global",
            "notFound",
            format!("Permission not found: {id}."),
        )
        .at("parameter", "permissionId")
    }

    /// 404 as Classroom words it.
    pub fn entity_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "global",
            "notFound",
            "Requested entity was not found.",
        )
    }

    /// 403 as Classroom words it.
    pub fn caller_lacks_permission() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "global",
            "forbidden",
            "The caller does not have permission",
        )
    }

    /// 400 about a request field or parameter.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "global", "badRequest", message)
    }

    /// 400 naming the parameter at fault.
    pub fn invalid_parameter(name: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "global",
            "invalidParameter",
            message,
        )
        .at("parameter", name.to_owned())
    }

    /// 400 for a `q` Drive cannot parse.
    pub fn invalid_query(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "global", "invalid", message).at("parameter", "q")
    }

    /// 403 `userRateLimitExceeded`: one user's per-second quota.
    pub fn user_rate_limit(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::FORBIDDEN,
            "usageLimits",
            "userRateLimitExceeded",
            "User Rate Limit Exceeded",
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// 403 `rateLimitExceeded`: the project's per-second quota.
    pub fn project_rate_limit(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::FORBIDDEN,
            "usageLimits",
            "rateLimitExceeded",
            "Rate Limit Exceeded",
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// 429 `rateLimitExceeded`.
    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "usageLimits",
            "rateLimitExceeded",
            "Quota exceeded: too many requests.",
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// 403 `sharingRateLimitExceeded`: too many sharing changes.
    pub fn sharing_rate_limit() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "usageLimits",
            "sharingRateLimitExceeded",
            "Rate limit exceeded. User message: \"These item(s) could not be shared because a rate \
             limit was exceeded.\"",
        )
    }

    /// 501: something Google does that the emulator does not (said plainly, never faked).
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "global",
            "notImplemented",
            message,
        )
    }

    /// 500 `backendError`.
    pub fn backend_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "global",
            "backendError",
            "Internal Error",
        )
    }

    /// 503 `backendError`, Google's "try again".
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "global",
            "backendError",
            "The service is currently unavailable.",
        )
    }

    fn status_word(&self) -> &'static str {
        match self.status.as_u16() {
            400 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            409 => "ALREADY_EXISTS",
            429 => "RESOURCE_EXHAUSTED",
            501 => "UNIMPLEMENTED",
            503 => "UNAVAILABLE",
            _ => "INTERNAL",
        }
    }
}

impl IntoResponse for GoogleError {
    fn into_response(self) -> Response {
        let mut detail = json!({
            "message": self.message,
            "domain": self.domain,
            "reason": self.reason,
        });
        if let Some((location_type, location)) = &self.location {
            detail["locationType"] = json!(location_type);
            detail["location"] = json!(location);
        }
        let body = json!({
            "error": {
                "code": self.status.as_u16(),
                "message": self.message,
                "errors": [detail],
                "status": self.status_word(),
            }
        });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"https://accounts.google.com/\""),
            );
        }
        response
    }
}

/// An error from the OAuth endpoints (RFC 6749 §5.2), as Google's token endpoint sends it.
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: description.into(),
        }
    }

    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
        }
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_grant",
            description: description.into(),
        }
    }

    pub fn unsupported_grant_type() -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: "unsupported_grant_type",
            description: "Invalid grant_type.".to_owned(),
        }
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_scope",
            description: description.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": self.error, "error_description": self.description})),
        )
            .into_response()
    }
}
