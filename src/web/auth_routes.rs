//! `/auth/*`: signing in with Google, signing out, connecting the school's Drive account.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::{ApiError, PageError};
use super::extract::CurrentStaff;
use super::guard::CurrentSession;
use crate::audit::{self, Actor, Target};
use crate::auth::oidc::{AuthorizeRequest, Oidc};
use crate::auth::roles::Permission;
use crate::auth::session::{LoginAttempt, LoginPurpose, cookie_value, random_token};
use crate::auth::signin::{Completed, DRIVE_OPERATOR_SCOPES, Refusal, SignInError, TEACHER_SCOPES};
use crate::tenancy::begin_school_tx;

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    /// The school's domain, a hint for Google's account chooser (never trusted).
    hd: Option<String>,
}

/// The client's address: the last `X-Forwarded-For` entry, which Cloud Run's front end appends
/// (earlier entries are whatever the client sent), or the socket's peer. Only used to throttle
/// sign-in attempts.
fn client_ip(headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .or_else(|| peer.map(|p| p.ip().to_string()))
        .unwrap_or_else(|| "unknown".to_owned())
}

async fn throttle(state: &AppState, key: String) -> Result<(), PageError> {
    state.signin_limiter.check(&key).await.map_err(|wait| {
        tracing::warn!(%key, "sign-in attempts throttled");
        let mut e = PageError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            format!(
                "Too many sign-in attempts. Please wait {} seconds and try again.",
                wait.as_secs().max(1)
            ),
        );
        e.retry_after = Some(wait);
        e
    })
}

/// Sends the browser to Google, remembering (server-side, bound to this browser by a
/// short-lived cookie) what the callback must match.
async fn redirect_to_google(
    state: &AppState,
    purpose: LoginPurpose,
    scopes: &[&str],
    hd: Option<&str>,
    login_hint: Option<&str>,
    force_consent: bool,
) -> Result<Response, PageError> {
    let attempt = LoginAttempt {
        state: random_token(),
        nonce: random_token(),
        pkce_verifier: Oidc::new_pkce_verifier(),
        purpose,
        forced_consent: force_consent,
    };
    let id = state
        .sessions
        .start_login(&attempt)
        .await
        .map_err(PageError::internal)?;
    let url = state.signin.oidc.authorize_url(&AuthorizeRequest {
        scopes,
        state: &attempt.state,
        nonce: &attempt.nonce,
        pkce_verifier: &attempt.pkce_verifier,
        hd,
        login_hint,
        prompt: force_consent.then_some("consent"),
    });
    let mut response = Redirect::to(url.as_str()).into_response();
    set_cookie(&mut response, state.sessions.login_cookie(id));
    Ok(response)
}

fn set_cookie(response: &mut Response, cookie: cookie::Cookie<'static>) {
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(SET_COOKIE, v);
    }
}

/// `GET /auth/login`
#[tracing::instrument(skip_all)]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Result<Response, PageError> {
    throttle(
        &state,
        format!(
            "signin:{}ip:{}",
            state.web.namespace,
            client_ip(&headers, Some(peer))
        ),
    )
    .await?;
    let hd =
        q.hd.map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty() && h.len() < 254);
    if let Some(hd) = &hd {
        throttle(&state, format!("signin:{}school:{hd}", state.web.namespace)).await?;
    }
    redirect_to_google(
        &state,
        LoginPurpose::SignIn,
        TEACHER_SCOPES,
        hd.as_deref(),
        None,
        false,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/callback`
#[tracing::instrument(skip_all)]
pub async fn callback(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    session: Option<axum::Extension<CurrentSession>>,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, PageError> {
    throttle(
        &state,
        format!(
            "signin:{}ip:{}",
            state.web.namespace,
            client_ip(&headers, Some(peer))
        ),
    )
    .await?;
    let attempt = match cookie_value(&headers, &state.sessions.login_cookie_name()) {
        Some(id) => state
            .sessions
            .take_login(&id)
            .await
            .map_err(PageError::internal)?,
        None => None,
    };
    let Some(attempt) = attempt else {
        return Err(refused(Refusal::NoAttempt, None));
    };
    if q.state.as_deref() != Some(attempt.state.as_str()) {
        return Err(refused(Refusal::StateMismatch, None));
    }
    if q.error.is_some() {
        return Err(refused(Refusal::Declined, None));
    }
    let Some(code) = q.code.as_deref() else {
        return Err(refused(Refusal::CodeRejected, None));
    };
    let outcome = state.signin.complete(&attempt, code).await;
    // Per school, keyed on the school the verified token named (a request parameter could be
    // anyone's), before any session is made.
    let verified_school = match &outcome {
        Ok(Completed::SignedIn { school, .. } | Completed::DriveConnected { school, .. }) => {
            Some(school.id)
        }
        Err(SignInError::Refused {
            school: Some(s), ..
        }) => Some(s.id),
        _ => None,
    };
    if let Some(school) = verified_school {
        throttle(
            &state,
            format!("signin:{}school:{school}", state.web.namespace),
        )
        .await?;
    }
    match outcome {
        Ok(Completed::SignedIn {
            school,
            staff_id,
            first_time,
        }) => {
            if first_time
                && let Err(e) = crate::jobs::enqueue_sync(
                    &state.queues.roster,
                    school.id,
                    crate::roster::Trigger::SignIn,
                )
                .await
            {
                // The timer syncs the school soon anyway.
                tracing::warn!(error = %e, "could not enqueue a sync after a first sign-in");
            }
            // A new session id at every sign-in; any old session ends.
            if let Some(old) = session {
                let _ = state.sessions.end(&old.id).await;
            }
            let (id, _) = state
                .sessions
                .create(school.id, staff_id)
                .await
                .map_err(PageError::internal)?;
            let mut response = Redirect::to("/").into_response();
            set_cookie(&mut response, state.sessions.cookie(id));
            set_cookie(&mut response, state.sessions.login_removal_cookie());
            Ok(response)
        }
        Ok(Completed::DriveConnected { .. }) => {
            let mut response = Redirect::to("/?drive=connected").into_response();
            set_cookie(&mut response, state.sessions.login_removal_cookie());
            Ok(response)
        }
        Ok(Completed::ConsentNeeded) => {
            redirect_to_google(&state, attempt.purpose, TEACHER_SCOPES, None, None, true).await
        }
        Err(SignInError::Refused { refusal, school }) => Err(refused(refusal, school.as_deref())),
        Err(SignInError::Unavailable(detail)) => {
            tracing::warn!(%detail, "Google unavailable during sign-in");
            Err(PageError::new(
                StatusCode::BAD_GATEWAY,
                "Google did not answer",
                "Google did not answer in time. Please try again.",
            )
            .with_action("/auth/login", "Try again"))
        }
        Err(SignInError::Internal(detail)) => Err(PageError::internal(detail)),
    }
}

/// A refusal page, with a security log line (the audit entry is written where the school is
/// known, by the sign-in service).
fn refused(refusal: Refusal, school: Option<&crate::tenancy::School>) -> PageError {
    tracing::warn!(
        reason = refusal.code(),
        school = school.map(|s| s.slug.as_str()).unwrap_or("-"),
        "sign-in refused"
    );
    let mut page = PageError::new(
        refusal.status(),
        "You could not be signed in",
        refusal.message(),
    );
    page.action = Some(match refusal {
        Refusal::ScopesNotGranted(_) => ("/auth/login", "Sign in again"),
        Refusal::NotStaff | Refusal::UnknownSchool | Refusal::SchoolNotActive => {
            ("/", "Back to the start")
        }
        _ => ("/auth/login", "Start again"),
    });
    page
}

/// `POST /auth/logout`
pub async fn logout(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Response, ApiError> {
    let mut tx = begin_school_tx(&state.db, &staff.school).await?;
    audit::record(
        &mut tx,
        &Actor::Staff(staff.staff.id),
        "signout",
        Some(&Target::new("staff", staff.staff.id)),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    state
        .sessions
        .end(&staff.session_id)
        .await
        .map_err(|e| ApiError::Internal(format!("session store: {e}")))?;
    let mut response = (StatusCode::SEE_OTHER, [(LOCATION, "/")]).into_response();
    set_cookie(&mut response, state.sessions.removal_cookie());
    Ok(response)
}

/// `POST /auth/connect-drive` (a form with the CSRF token): a School Admin connects the account
/// Drive work runs as. A POST, so no other site can start it.
pub async fn connect_drive(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Response, Response> {
    staff
        .require(Permission::ConnectDrive)
        .map_err(IntoResponse::into_response)?;
    redirect_to_google(
        &state,
        LoginPurpose::ConnectDrive {
            school_id: staff.school.id,
            staff_id: staff.staff.id,
        },
        DRIVE_OPERATOR_SCOPES,
        Some(&staff.school.workspace_domain),
        Some(&staff.staff.email),
        true,
    )
    .await
    .map_err(IntoResponse::into_response)
}
