//! One classification of everything that can go wrong talking to Google, used everywhere:
//! callers decide what to do from the class alone.

use std::time::Duration;

use serde_json::Value;

/// What kind of failure, and therefore what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// A server error, timeout, reset connection or garbled answer: try again soon.
    Transient,
    /// Over a per-second quota: try again after the hinted delay.
    RateLimited,
    /// Drive's sharing limit: back off for long, and stop sharing for this school for a while.
    SharingRateLimited,
    /// Google no longer accepts the credential (revoked, or scopes withdrawn): a person must sign
    /// in again. Never retried.
    NeedsReconnect,
    /// The item (folder, permission, course) is gone.
    NotFound,
    /// Google refused the request itself; retrying will not help.
    Permanent,
}

/// A failed Google call, classified, with enough context to act on and to log.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GoogleError {
    #[error("{op}: Google is temporarily unavailable: {detail}")]
    Transient { op: &'static str, detail: String },
    /// Google has not been answering, so the call was not made (see [`super::circuit`]).
    #[error("{op}: Google is not answering at the moment; calls resume within {} s", .retry_in.as_secs().max(1))]
    Unavailable {
        op: &'static str,
        retry_in: Duration,
    },
    #[error("{op}: Google's rate limit was reached{}", retry_after_text(*.retry_after))]
    RateLimited {
        op: &'static str,
        retry_after: Option<Duration>,
    },
    #[error("{op}: Google's sharing rate limit was reached")]
    SharingRateLimited { op: &'static str },
    /// `account` is for the person's screen, not for logs: it is left out of the message.
    #[error("{op}: the Google account must be reconnected ({reason})")]
    NeedsReconnect {
        op: &'static str,
        account: String,
        reason: String,
    },
    /// The school has no Drive operator connected at all: a School Admin must connect one.
    #[error("{op}: no Drive operator is connected for this school")]
    NoDriveOperator { op: &'static str },
    #[error("{op}: not found in Google: {detail}")]
    NotFound { op: &'static str, detail: String },
    #[error("{op}: Google refused the request: {detail}")]
    Permanent { op: &'static str, detail: String },
    /// The access token was refused (401). Handled inside the client by refreshing once; it
    /// becomes `NeedsReconnect` if the fresh token is refused too.
    #[error("{op}: Google refused the access token")]
    Unauthorized { op: &'static str },
}

fn retry_after_text(d: Option<Duration>) -> String {
    d.map(|d| format!("; retry after {} s", d.as_secs()))
        .unwrap_or_default()
}

impl GoogleError {
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Transient { .. } | Self::Unavailable { .. } | Self::Unauthorized { .. } => {
                ErrorClass::Transient
            }
            Self::RateLimited { .. } => ErrorClass::RateLimited,
            Self::SharingRateLimited { .. } => ErrorClass::SharingRateLimited,
            Self::NeedsReconnect { .. } | Self::NoDriveOperator { .. } => {
                ErrorClass::NeedsReconnect
            }
            Self::NotFound { .. } => ErrorClass::NotFound,
            Self::Permanent { .. } => ErrorClass::Permanent,
        }
    }

    /// Whether trying the same call again can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.class(),
            ErrorClass::Transient | ErrorClass::RateLimited | ErrorClass::SharingRateLimited
        )
    }

    /// Classifies an error from `google-drive3` / `google-classroom1` (both use
    /// `google-apis-common`). `retry_after` is the `Retry-After` the response carried, if any.
    pub fn from_api(
        op: &'static str,
        error: google_drive3::common::Error,
        retry_after: Option<Duration>,
    ) -> Self {
        use google_drive3::common::Error as E;
        match error {
            E::BadRequest(body) => from_json_error(op, &body, retry_after),
            E::Failure(response) => {
                let status = response.status().as_u16();
                let detail = format!("HTTP {status} without a JSON error body");
                from_status(op, status, None, detail, retry_after)
            }
            E::JsonDecodeError(body, e) => Self::Transient {
                op,
                detail: format!(
                    "unreadable answer ({e}); body starts {:?}",
                    body.chars().take(80).collect::<String>()
                ),
            },
            E::HttpError(e) => Self::Transient {
                op,
                detail: format!("connection failed: {e}"),
            },
            E::Io(e) => Self::Transient {
                op,
                detail: format!("reading the answer failed: {e}"),
            },
            E::MissingToken(e) => match e.downcast::<GoogleError>() {
                Ok(token_error) => token_error.with_op(op),
                Err(other) => Self::Transient {
                    op,
                    detail: format!("no access token: {other}"),
                },
            },
            other => Self::Permanent {
                op,
                detail: other.to_string(),
            },
        }
    }

    /// The same error attributed to another operation.
    pub fn with_op(self, new_op: &'static str) -> Self {
        match self {
            Self::Transient { detail, .. } => Self::Transient { op: new_op, detail },
            Self::Unavailable { retry_in, .. } => Self::Unavailable {
                op: new_op,
                retry_in,
            },
            Self::RateLimited { retry_after, .. } => Self::RateLimited {
                op: new_op,
                retry_after,
            },
            Self::SharingRateLimited { .. } => Self::SharingRateLimited { op: new_op },
            Self::NeedsReconnect {
                account, reason, ..
            } => Self::NeedsReconnect {
                op: new_op,
                account,
                reason,
            },
            Self::NoDriveOperator { .. } => Self::NoDriveOperator { op: new_op },
            Self::NotFound { detail, .. } => Self::NotFound { op: new_op, detail },
            Self::Permanent { detail, .. } => Self::Permanent { op: new_op, detail },
            Self::Unauthorized { .. } => Self::Unauthorized { op: new_op },
        }
    }
}

/// Google's JSON error. Drive sends the legacy `errors: [{"reason"}]`; newer APIs (Classroom)
/// send `status` and `details: [{"reason"}]` instead; both are read.
fn from_json_error(op: &'static str, body: &Value, retry_after: Option<Duration>) -> GoogleError {
    let error = &body["error"];
    let status = error["code"].as_u64().unwrap_or(0) as u16;
    let reason = error["errors"][0]["reason"]
        .as_str()
        .or_else(|| {
            error["details"]
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|d| d["reason"].as_str())
        })
        .map(str::to_owned);
    let message = error["message"].as_str().unwrap_or("no message").to_owned();
    let detail = match &reason {
        Some(r) => format!("{status} {r}: {message}"),
        None => format!("{status}: {message}"),
    };
    from_status(op, status, reason.as_deref(), detail, retry_after)
}

fn from_status(
    op: &'static str,
    status: u16,
    reason: Option<&str>,
    detail: String,
    retry_after: Option<Duration>,
) -> GoogleError {
    match (status, reason) {
        (403, Some("sharingRateLimitExceeded")) => GoogleError::SharingRateLimited { op },
        // A daily quota does not come back in seconds; retrying now only burns more of it.
        (403, Some("dailyLimitExceeded")) => GoogleError::Permanent { op, detail },
        (403, Some("userRateLimitExceeded" | "rateLimitExceeded" | "quotaExceeded")) | (429, _) => {
            GoogleError::RateLimited { op, retry_after }
        }
        // The token lacks a scope the person withdrew at consent: only signing in again helps.
        (403, Some("insufficientPermissions" | "ACCESS_TOKEN_SCOPE_INSUFFICIENT")) => {
            GoogleError::NeedsReconnect {
                op,
                account: "(the connected account)".to_owned(),
                reason: "a needed permission was not granted".to_owned(),
            }
        }
        (401, _) => GoogleError::Unauthorized { op },
        (404, _) => GoogleError::NotFound { op, detail },
        (408 | 500..=599, _) => GoogleError::Transient { op, detail },
        _ => GoogleError::Permanent { op, detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(code: u16, reason: &str) -> Value {
        json!({"error": {"code": code, "message": "m", "errors": [{"reason": reason}]}})
    }

    #[test]
    fn googles_reasons_map_to_classes() {
        let cases = [
            (403, "userRateLimitExceeded", ErrorClass::RateLimited),
            (403, "rateLimitExceeded", ErrorClass::RateLimited),
            (429, "rateLimitExceeded", ErrorClass::RateLimited),
            (
                403,
                "sharingRateLimitExceeded",
                ErrorClass::SharingRateLimited,
            ),
            (403, "insufficientPermissions", ErrorClass::NeedsReconnect),
            (403, "insufficientFilePermissions", ErrorClass::Permanent),
            (404, "notFound", ErrorClass::NotFound),
            (500, "backendError", ErrorClass::Transient),
            (503, "backendError", ErrorClass::Transient),
            (400, "badRequest", ErrorClass::Permanent),
        ];
        for (code, reason, class) in cases {
            assert_eq!(
                from_json_error("op", &body(code, reason), None).class(),
                class,
                "{code} {reason}"
            );
        }
    }

    #[test]
    fn classrooms_newer_error_format_is_read_too() {
        let scope = json!({"error": {"code": 403, "message": "Request had insufficient authentication scopes.",
            "status": "PERMISSION_DENIED",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                         "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}]}});
        assert_eq!(
            from_json_error("op", &scope, None).class(),
            ErrorClass::NeedsReconnect
        );
        let quota = json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}});
        assert_eq!(
            from_json_error("op", &quota, None).class(),
            ErrorClass::RateLimited
        );
        assert_eq!(
            from_json_error("op", &body(403, "dailyLimitExceeded"), None).class(),
            ErrorClass::Permanent
        );
    }

    #[test]
    fn odd_error_bodies_still_classify() {
        assert_eq!(
            from_json_error("op", &json!({}), None).class(),
            ErrorClass::Permanent
        );
        assert_eq!(
            from_json_error("op", &json!({"error": {"code": 502}}), None).class(),
            ErrorClass::Transient
        );
        let e = from_json_error("lock", &body(429, "x"), Some(Duration::from_secs(3)));
        assert!(e.to_string().contains("retry after 3 s"), "{e}");
    }
}
