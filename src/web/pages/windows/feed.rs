//! An Examinations Officer's calendar feed address, from the windows page: make one (or a new
//! one, which revokes the old), shown once with a Copy button; revoke it. The same domain calls
//! (and audit entries) as `POST` and `DELETE /api/windows/calendar-feed`.
//!
//! Making an address answers with the page showing it rather than a redirect: only its hash is
//! stored, so it cannot be shown again after one. That page is never cached.

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};

use crate::auth::Permission;
use crate::web::AppState;
use crate::web::error::PageError;
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
