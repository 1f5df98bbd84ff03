//! `GET /windows`: the windows over the classes a person may see, to come and under way first,
//! then the last few months' (folded away); `?view=calendar&month=2027-03` the same as a month
//! calendar (its one address: `/windows/calendar` redirects there). An Examinations Officer
//! also finds the "Schedule a window" button and their calendar feed here.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::month::{Day, Month, weeks};
use super::{NOTICES, WindowLine, london_time};
use crate::audit::Action;
use crate::auth::Permission;
use crate::tenancy::SchoolTx;
use crate::web::AppState;
use crate::web::error::PageError;
use crate::web::extract::CurrentStaff;
use crate::web::pages::form::DoneQuery;
use crate::web::pages::{Layout, PageStaff, Section, render};
use crate::web::windows::{record, visible_classes};
use crate::windows::store::{self, ListFilter};
use crate::windows::{Window, WindowState, calendar};

/// How far back the list shows windows that are over (older ones are on the calendar).
const PAST_DAYS: i64 = 120;

/// The list's and the calendar's query; anything unreadable is ignored.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    view: String,
    #[serde(default)]
    month: String,
    #[serde(flatten)]
    done: DoneQuery,
}

/// The officer's calendar feed, without its secret.
pub struct FeedView {
    pub made: String,
    pub last_read: Option<String>,
}

/// The list of windows (`GET /windows`): to come and under way, then the recent past, and an
/// officer's calendar feed.
#[derive(Template)]
#[template(path = "windows_list.html")]
pub struct ListPage {
    pub layout: Layout,
    pub notice: Option<&'static str>,
    pub can_manage: bool,
    /// Every window of the school, not only those over one's own classes.
    pub whole_school: bool,
    pub current: Vec<WindowLine>,
    pub past: Vec<WindowLine>,
    /// How far back `past` reaches.
    pub past_days: i64,
    /// `Some` for an Examinations Officer: `Some(None)` when they have no address.
    pub feed: Option<Option<FeedView>>,
    pub csrf_token: String,
    /// `2027-03`, for the link to the calendar.
    pub this_month: String,
}

/// A month of windows as a calendar (`GET /windows?view=calendar&month=2027-03`).
#[derive(Template)]
#[template(path = "windows_calendar.html")]
pub struct CalendarPage {
    pub layout: Layout,
    pub can_manage: bool,
    /// "March 2027"
    pub month: String,
    /// The month before and after: (`2027-02` for the link, "February 2027").
    pub previous: (String, String),
    pub next: (String, String),
    /// `2027-03`, for "This month".
    pub this_month: String,
    pub is_this_month: bool,
    /// Monday to Sunday, a week to a row.
    pub weeks: Vec<Vec<Day>>,
    /// The month's days that have windows, for the list shown on phones.
    pub busy_days: Vec<Day>,
}

/// Windows as lines, with what their selections catch today before they start (asked in one
/// query for them all).
async fn lines(tx: &mut SchoolTx, windows: &[Window]) -> Result<Vec<WindowLine>, PageError> {
    let before_start: Vec<Uuid> = windows
        .iter()
        .filter(|w| w.state == WindowState::Scheduled && !w.selections.is_empty())
        .map(|w| w.id)
        .collect();
    let caught = store::caught_by_windows(tx, &before_start).await?;
    Ok(windows
        .iter()
        .map(|w| {
            let classes: Vec<Uuid> = caught
                .iter()
                .filter(|(window, _)| *window == w.id)
                .map(|(_, class)| *class)
                .collect();
            WindowLine::new(w, &classes)
        })
        .collect())
}

/// `GET /windows`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn list_page(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Query(params): Query<ListParams>,
) -> Result<Response, PageError> {
    if params.view == "calendar" {
        return calendar(&state, &staff, &params).await;
    }
    let mut tx = staff.school_tx(&state).await?;
    let visible = visible_classes(&mut tx, &staff).await?;
    let current = store::list(
        &mut tx,
        &ListFilter {
            states: vec![
                WindowState::Scheduled,
                WindowState::Active,
                WindowState::Held,
            ],
            ..ListFilter::default()
        },
        visible.as_deref(),
    )
    .await?;
    let mut past = store::list(
        &mut tx,
        &ListFilter {
            from: Some(Utc::now() - Duration::days(PAST_DAYS)),
            states: vec![WindowState::Ended, WindowState::Cancelled],
            ..ListFilter::default()
        },
        visible.as_deref(),
    )
    .await?;
    past.reverse();
    let can_manage = staff.can(Permission::ManageWindows);
    let feed = if can_manage {
        Some(
            calendar::status(&mut tx, staff.staff.id)
                .await?
                .map(|f| FeedView {
                    made: london_time(f.created_at),
                    last_read: f.last_read_at.map(london_time),
                }),
        )
    } else {
        None
    };
    let current = lines(&mut tx, &current).await?;
    let past = lines(&mut tx, &past).await?;
    record(
        &mut tx,
        &staff,
        Action::WindowsListed,
        None,
        json!({"page": "list", "count": current.len() + past.len()}),
    )
    .await?;
    tx.commit().await?;
    Ok(render(&ListPage {
        layout: Layout::for_staff(&staff, Section::Windows),
        notice: params.done.notice(NOTICES),
        can_manage,
        whole_school: visible.is_none(),
        current,
        past,
        past_days: PAST_DAYS,
        feed,
        csrf_token: staff.csrf_token.clone(),
        this_month: Month::of(
            Utc::now()
                .with_timezone(&chrono_tz::Europe::London)
                .date_naive(),
        )
        .param(),
    })?
    .into_response())
}

/// `GET /windows/calendar?month=2027-03`: an address the calendar once had, redirected for good
/// to its one address, `/windows?view=calendar&month=2027-03` (the month only when it reads as
/// one, so nothing from the query is echoed).
pub async fn old_calendar_address(Query(params): Query<ListParams>) -> Redirect {
    match Month::parse(&params.month) {
        Some(month) => {
            Redirect::permanent(&format!("/windows?view=calendar&month={}", month.param()))
        }
        None => Redirect::permanent("/windows?view=calendar"),
    }
}

async fn calendar(
    state: &AppState,
    staff: &CurrentStaff,
    params: &ListParams,
) -> Result<Response, PageError> {
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive();
    let this_month = Month::of(today);
    let month = Month::parse(&params.month).unwrap_or(this_month);
    let (from, to) = month.bounds();
    let mut tx = staff.school_tx(state).await?;
    let visible = visible_classes(&mut tx, staff).await?;
    let mut windows = store::list(
        &mut tx,
        &ListFilter {
            from: Some(from),
            to: Some(to),
            ..ListFilter::default()
        },
        visible.as_deref(),
    )
    .await?;
    // A window held past its deadline is still under way, whenever its deadline was.
    let held = store::list(
        &mut tx,
        &ListFilter {
            to: Some(to),
            states: vec![WindowState::Held],
            ..ListFilter::default()
        },
        visible.as_deref(),
    )
    .await?;
    for w in held {
        if !windows.iter().any(|k| k.id == w.id) {
            windows.push(w);
        }
    }
    record(
        &mut tx,
        staff,
        Action::WindowsListed,
        None,
        json!({"page": "calendar", "month": month.param(), "count": windows.len()}),
    )
    .await?;
    tx.commit().await?;
    let weeks = weeks(month, &windows, today);
    let busy_days = weeks
        .iter()
        .flatten()
        .filter(|d| d.in_month && !d.entries.is_empty())
        .cloned()
        .collect();
    Ok(render(&CalendarPage {
        layout: Layout::for_staff(staff, Section::Windows),
        can_manage: staff.can(Permission::ManageWindows),
        month: month.label(),
        previous: (month.previous().param(), month.previous().label()),
        next: (month.next().param(), month.next().label()),
        this_month: this_month.param(),
        is_this_month: month == this_month,
        weeks,
        busy_days,
    })?
    .into_response())
}
