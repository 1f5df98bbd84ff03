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
use crate::audit::{self, Action, Actor, Target};
use crate::auth::oidc::{AuthorizeRequest, Oidc};
use crate::auth::roles::Permission;
use crate::auth::session::{LoginAttempt, LoginPurpose, cookie_value, random_token};
use crate::auth::signin::{Completed, DRIVE_OPERATOR_SCOPES, Refusal, SignInError, TEACHER_SCOPES};
use crate::tenancy::begin_school_tx;
use crate::tenancy::names::WorkspaceDomain;

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    /// The school's domain, a hint for Google's account chooser (never trusted).
    hd: Option<String>,
}

/// The client's address, for throttling sign-in attempts only.
///
/// Each proxy in front of us appends the address it saw to `X-Forwarded-For`; anything before
/// those entries is whatever the client wrote. With `trusted_hops` proxies (Cloud Run's front end
/// is one) the client is the entry `trusted_hops` from the end; with none, the header is ignored
/// and the connection's peer is the client. A header with fewer entries than trusted proxies
/// did not pass through all of them: its first entry is the nearest to the client we have.
fn client_ip(headers: &HeaderMap, peer: Option<SocketAddr>, trusted_hops: usize) -> String {
    let peer = || peer.map(|p| p.ip().to_string());
    let forwarded = || {
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let at = entries.len().saturating_sub(trusted_hops);
        entries
            .get(at)
            .filter(|e| !e.is_empty())
            .map(|e| (*e).to_owned())
    };
    let found = if trusted_hops == 0 {
        peer()
    } else {
        forwarded().or_else(peer)
    };
    found.unwrap_or_else(|| "unknown".to_owned())
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
            client_ip(&headers, Some(peer), state.web.trusted_proxy_hops)
        ),
    )
    .await?;
    // Only a hint for Google's account chooser; anything that is not a domain is dropped.
    let hd =
        q.hd.and_then(|h| WorkspaceDomain::parse(&h).ok())
            .map(|d| d.as_str().to_owned());
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
            client_ip(&headers, Some(peer), state.web.trusted_proxy_hops)
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
    let connecting_drive = matches!(
        refusal,
        Refusal::DriveAccountRefused { .. }
            | Refusal::DriveAccountOutsideSchool
            | Refusal::DriveScopeNotGranted
    );
    let title = if connecting_drive {
        "The Drive account was not connected"
    } else {
        "You could not be signed in"
    };
    let mut page = PageError::new(refusal.status(), title, refusal.message());
    page.action = Some(match refusal {
        _ if connecting_drive => ("/admin/settings", "Back to the settings"),
        Refusal::ScopesNotGranted(_) => ("/auth/login", "Sign in again"),
        Refusal::NotStaff
        | Refusal::NotStaffAddress
        | Refusal::UnknownSchool
        | Refusal::SchoolNotActive => ("/", "Back to the start"),
        _ => ("/auth/login", "Start again"),
    });
    page
}

/// `POST /auth/logout`: ends the session of anyone signed in, whatever roles they still hold
/// (even none), then records it. Without a session it only clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    session: Option<axum::Extension<CurrentSession>>,
) -> Result<Response, ApiError> {
    if let Some(axum::Extension(session)) = session {
        match state.sessions.end(&session.id).await {
            // The session is over whatever happens next; a failed audit entry is logged, not
            // allowed to keep anyone signed in.
            Ok(()) => {
                if let Err(e) = audit_signout(&state, &session).await {
                    tracing::error!(error = %e, "could not audit a sign-out");
                }
            }
            // The browser forgets the cookie anyway; the session itself expires when idle.
            Err(e) => tracing::error!(error = %e, "could not end a session at sign-out"),
        }
    }
    let mut response = (StatusCode::SEE_OTHER, [(LOCATION, "/")]).into_response();
    set_cookie(&mut response, state.sessions.removal_cookie());
    Ok(response)
}

async fn audit_signout(state: &AppState, session: &CurrentSession) -> Result<(), sqlx::Error> {
    let Some(school) =
        crate::tenancy::registry::find_school_by_id(&state.db, session.data.school_id).await?
    else {
        return Ok(());
    };
    let staff_id = session.data.staff_id;
    let mut tx = begin_school_tx(&state.db, &school).await?;
    audit::record(
        &mut tx,
        &Actor::Staff(staff_id),
        Action::SignOut,
        Some(&Target::new("staff", staff_id)),
        json!({}),
    )
    .await?;
    tx.commit().await
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
    // The first account is usually the admin's own, so Google is told to suggest it; another
    // is one of the school's other accounts, for the admin to choose at Google.
    let mut tx = staff
        .school_tx(&state)
        .await
        .map_err(IntoResponse::into_response)?;
    let connected = crate::portfolio::drive_operators::list(&mut tx)
        .await
        .map_err(|e| ApiError::internal(e, "reading the Drive accounts").into_response())?;
    tx.commit()
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let hint = connected.is_empty().then_some(staff.staff.email.as_str());
    redirect_to_google(
        &state,
        LoginPurpose::ConnectDrive {
            school_id: staff.school.id,
            staff_id: staff.staff.id,
        },
        DRIVE_OPERATOR_SCOPES,
        Some(&staff.school.workspace_domain),
        hint,
        true,
    )
    .await
    .map_err(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_client_is_the_entry_the_trusted_proxies_appended() {
        let peer: Option<SocketAddr> = Some("10.0.0.9:5000".parse().unwrap());
        let spoofed = headers(&["6.6.6.6, 203.0.113.7"]);
        assert_eq!(client_ip(&spoofed, peer, 1), "203.0.113.7");
        assert_eq!(client_ip(&spoofed, peer, 2), "6.6.6.6");
        // No proxy trusted: the header is the client's own words.
        assert_eq!(client_ip(&spoofed, peer, 0), "10.0.0.9");
        // Fewer entries than proxies: the nearest to the client there is.
        assert_eq!(
            client_ip(&headers(&["203.0.113.7"]), peer, 2),
            "203.0.113.7"
        );
        assert_eq!(client_ip(&headers(&[]), peer, 1), "10.0.0.9");
        // Two headers count as one list.
        assert_eq!(
            client_ip(&headers(&["6.6.6.6", "203.0.113.7"]), peer, 1),
            "203.0.113.7"
        );
    }
}
