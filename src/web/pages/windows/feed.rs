//! An Examinations Officer's calendar feed address, from the windows page: make one (or a new
//! one, which revokes the old), shown once with a Copy button; revoke it. The same domain calls
//! (and audit entries) as `POST` and `DELETE /api/windows/calendar-feed`. Replacing and revoking
//! ask first, on a page of their own (`GET /windows/calendar-feed/replace`, `…/revoke`), as
//! cancelling a window does: a slip would break every calendar subscribed to the address.
//!
//! Making an address answers with the page showing it rather than a redirect: only its hash is
//! stored, so it cannot be shown again after one. That page is never cached.

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::auth::Permission;
use crate::web::AppState;
use crate::web::error::PageError;
use crate::web::extract::CurrentStaff;
use crate::web::pages::{Layout, PageStaff, Section, render};
use crate::web::windows::feed_url;
use crate::windows::calendar;

/// The page showing a new calendar address, once (`POST /windows/calendar-feed`).
#[derive(Template)]
#[template(path = "windows_feed.html")]
pub struct FeedPage {
    pub layout: Layout,
    pub url: String,
    /// It replaced an address that now stops working.
    pub replaced: bool,
}

/// What the officer is asked to confirm.
#[derive(Debug, Clone, Copy)]
enum FeedChange {
    Replace,
    Revoke,
}

/// The question before replacing or revoking the calendar address, or (with no address to
/// change) why there is nothing to do.
#[derive(Template)]
#[template(path = "windows_feed_confirm.html")]
pub struct FeedConfirmPage {
    pub layout: Layout,
    pub heading: &'static str,
    /// What will happen, in a sentence.
    pub consequence: &'static str,
    /// Where the button posts.
    pub action: &'static str,
    pub button: &'static str,
    /// With no address: what to say instead of the button.
    pub nothing_to_do: Option<&'static str>,
    pub csrf_token: String,
}

/// The question for `change`, asked of an officer (409 when there is no address to change).
async fn confirm(
    state: &AppState,
    staff: &CurrentStaff,
    change: FeedChange,
) -> Result<Response, PageError> {
    staff.require(Permission::ManageWindows)?;
    let mut tx = staff.school_tx(state).await?;
    let has_feed = calendar::status(&mut tx, staff.staff.id).await?.is_some();
    tx.commit().await?;
    let (heading, consequence, action, button, none) = match change {
        FeedChange::Replace => (
            "Replace your calendar address?",
            "A new address is made and shown to you once. The old one stops working at once: \
             every calendar subscribed to it gets nothing more until it is given the new address.",
            "/windows/calendar-feed",
            "Replace address",
            "You have no calendar address to replace. You can make one on the windows page.",
        ),
        FeedChange::Revoke => (
            "Revoke your calendar address?",
            "It stops working at once: every calendar subscribed to it gets nothing more. You \
             can make a new address later.",
            "/windows/calendar-feed/revoke",
            "Revoke address",
            "You have no calendar address to revoke.",
        ),
    };
    let html = render(&FeedConfirmPage {
        layout: Layout::for_staff(staff, Section::Windows),
        heading,
        consequence,
        action,
        button,
        nothing_to_do: (!has_feed).then_some(none),
        csrf_token: staff.csrf_token.clone(),
    })?;
    Ok(if has_feed {
        html.into_response()
    } else {
        (StatusCode::CONFLICT, html).into_response()
    })
}

/// `GET /windows/calendar-feed/replace`: the question before a new address.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn confirm_replace(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
) -> Result<Response, PageError> {
    confirm(&state, &staff, FeedChange::Replace).await
}

/// `GET /windows/calendar-feed/revoke`: the question before revoking the address.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn confirm_revoke(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
) -> Result<Response, PageError> {
    confirm(&state, &staff, FeedChange::Revoke).await
}

/// `POST /windows/calendar-feed`: a new address, shown once.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn make(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
) -> Result<Response, PageError> {
    staff.require(Permission::ManageWindows)?;
    let mut tx = staff.school_tx(&state).await?;
    let replaced = calendar::status(&mut tx, staff.staff.id).await?.is_some();
    let token = calendar::new_feed(&mut tx, staff.staff.id).await?;
    tx.commit().await?;
    let html = render(&FeedPage {
        layout: Layout::for_staff(&staff, Section::Windows),
        url: feed_url(&state, &staff, &token),
        replaced,
    })?;
    Ok(([(header::CACHE_CONTROL, "no-store")], html).into_response())
}

/// `POST /windows/calendar-feed/revoke`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn revoke(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
) -> Result<Response, PageError> {
    staff.require(Permission::ManageWindows)?;
    let mut tx = staff.school_tx(&state).await?;
    let revoked = calendar::revoke(&mut tx, staff.staff.id).await?;
    tx.commit().await?;
    // The API answers 404 when there was none; a page says so kindly (a second click, or a
    // page left open after revoking elsewhere).
    let done = if revoked { "feed-revoked" } else { "feed-none" };
    Ok(Redirect::to(&format!("/windows?done={done}#calendar-feed")).into_response())
}
