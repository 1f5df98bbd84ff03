//! A class: its students, each folder's state (unlocked, locked, in progress, failed with what
//! to do), lock and unlock per student and for the class, and a progress bar. The script keeps
//! it current from the live status stream by fetching the rows again (`/classes/{id}/rows`), so
//! every state is worded in one place: here.
//!
//! During an assessment window the page names the window, and each student it holds says why
//! there is no Unlock button (which window, until when, who can let them out); an Examinations
//! Officer gets "Let out of this window" on those rows instead.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use super::classes::ClassCard;
use super::form::DoneQuery;
use super::windows::{LET_OUT, LET_OUT_NOTICE, hold_until};
use super::{Layout, PageStaff, Section, render};
use crate::auth::{ClassAccess, Permission};
use crate::portfolio::lock::LockState;
use crate::portfolio::overview::{self, StudentFolder};
use crate::web::error::PageError;
use crate::web::extract::CurrentStaff;
use crate::web::portfolios::parse_id;
use crate::web::{AppState, WebSettings};
use crate::windows::{Holding, coverage};

/// One student's row.
pub struct Row {
    /// The portfolio id, or the student's when there is no portfolio yet: keeps rows apart.
    pub key: String,
    pub portfolio_id: Option<String>,
    pub name: String,
    pub email: Option<String>,
    pub folder_url: Option<String>,
    /// `unlocked`, `locked`, `locking`, `unlocking`, `failed` or `none`: for the stylesheet and
    /// the script (which counts `locked` rows for the progress bar).
    pub state: &'static str,
    pub state_label: &'static str,
    /// Why it failed and what to do, or what holds it.
    pub detail: Option<String>,
    /// The button: verb for the API and its label.
    pub action: Option<(&'static str, &'static str)>,
    /// An Examinations Officer may let this student out of the windows holding them.
    pub let_out: bool,
    /// A window holds the folder locked (so there is no Unlock button).
    held: bool,
    /// The change waits because Google is not answering (the page says so above the table).
    pub waiting_on_google: bool,
}

/// Whether a change's last try found Google not answering (`GoogleError::Unavailable`, or a
/// call that got no answer), from the failure's wording.
fn google_not_answering(reason: &str) -> bool {
    reason.contains("not answering") || reason.contains("temporarily unavailable")
}

/// What to do about a failed change, from the failure's wording.
fn advice(reason: &str) -> &'static str {
    if reason.contains("reconnect") {
        "The school's Drive account must be reconnected: ask your School Admin, then try again."
    } else if reason.contains("missing") {
        "The student has no folder or email address yet; it is made at the next sync with Classroom."
    } else if reason.contains("rate limit") || reason.contains("temporarily") {
        "Google was busy. Try again in a minute."
    } else {
        "Try again. If it fails again, tell your School Admin."
    }
}

impl Row {
    pub(super) fn new(s: &StudentFolder, can_lock: bool, web: &WebSettings) -> Self {
        let name = s.display_name();
        let has_folder = s.drive_folder_id.is_some();
        let desired = s.desired.unwrap_or(LockState::Unlocked);
        let (state, state_label) = if s.portfolio_id.is_none() || !has_folder {
            ("none", "No folder yet")
        } else if s.failed {
            ("failed", "Failed")
        } else if s.is_pending() {
            match desired {
                LockState::Locked => ("locking", "Locking…"),
                LockState::Unlocked => ("unlocking", "Unlocking…"),
            }
        } else {
            match s.applied.unwrap_or(LockState::Unlocked) {
                LockState::Locked => ("locked", "Locked"),
                LockState::Unlocked => ("unlocked", "Unlocked"),
            }
        };
        let detail = if state == "failed" {
            let reason = s
                .last_error
                .as_deref()
                .unwrap_or("Google refused the change");
            Some(format!("{reason}. {}", advice(reason)))
        } else if state == "locking" || state == "unlocking" {
            // A change that waits is not a failure: say why it waits and that it will be made.
            s.last_error.as_deref().map(|reason| {
                if google_not_answering(reason) {
                    "Google is not answering at the moment; this will be done as soon as it \
                     answers again."
                        .to_owned()
                } else {
                    "Google did not accept it at first; trying again automatically.".to_owned()
                }
            })
        } else if s.held && desired == LockState::Locked {
            Some("Held by an assessment window".to_owned())
        } else if state == "none" {
            Some("It is made at the next sync with Classroom".to_owned())
        } else {
            None
        };
        let action = match (can_lock && has_folder, desired, state) {
            (false, _, _) => None,
            (true, LockState::Locked, "failed") => Some(("lock", "Try again")),
            (true, LockState::Unlocked, "failed") => Some(("unlock", "Try again")),
            (true, LockState::Locked, _) if s.held => None,
            (true, LockState::Locked, _) => Some(("unlock", "Unlock")),
            (true, LockState::Unlocked, _) => Some(("lock", "Lock")),
        };
        Self {
            key: s.portfolio_id.unwrap_or(s.student_id).to_string(),
            portfolio_id: s.portfolio_id.map(|id| id.to_string()),
            name,
            email: s.email.clone(),
            folder_url: s
                .drive_folder_id
                .as_ref()
                .map(|id| format!("{}{id}", web.drive_folder_url)),
            state,
            state_label,
            detail,
            action,
            let_out: false,
            held: s.held && desired == LockState::Locked,
            waiting_on_google: s.is_pending()
                && s.last_error.as_deref().is_some_and(google_not_answering),
        }
    }

    /// Says which windows hold this folder and until when (`windows`: those holding this
    /// student, soonest end first), and who can let the student out; `can_let_out` (an
    /// Examinations Officer who may lock here) offers the way out instead.
    pub(super) fn held_by(mut self, windows: &[&Holding], can_let_out: bool) -> Self {
        if !self.held || windows.is_empty() || self.state == "failed" || self.waiting_on_google {
            return self;
        }
        let each: Vec<String> = windows
            .iter()
            .map(|w| format!("“{}”, {}", w.name, hold_until(w)))
            .collect();
        let mut detail = format!("Held by an assessment window: {}.", each.join("; "));
        if can_let_out {
            self.let_out = self.portfolio_id.is_some();
        } else {
            detail.push_str(" Only an Examinations Officer can let one student out.");
        }
        self.detail = Some(detail);
        self
    }
}

/// A window over the class, for the panel above the students.
pub struct WindowNote {
    pub id: String,
    /// "Assessment window “Mock exam” until 11:30 on 3 March 2027" ([`hold_until`]).
    pub text: String,
}

impl From<&Holding> for WindowNote {
    fn from(w: &Holding) -> Self {
        Self {
            id: w.id.to_string(),
            text: format!("Assessment window “{}” {}", w.name, hold_until(w)),
        }
    }
}

/// A class's page (`GET /classes/{id}`).
#[derive(Template)]
#[template(path = "class.html")]
pub struct ClassPage {
    pub layout: Layout,
    pub notice: Option<&'static str>,
    pub class: ClassCard,
    /// The assessment windows holding the class now.
    pub windows: Vec<WindowNote>,
    pub can_lock: bool,
    pub locked: usize,
    pub pending: usize,
    /// Some changes wait because Google is not answering.
    pub google_unavailable: bool,
    pub rows: Vec<Row>,
}

/// A class's student rows alone (`GET /classes/{id}/rows`), for the script.
#[derive(Template)]
#[template(path = "class_rows.html")]
pub struct ClassRows {
    pub rows: Vec<Row>,
}

/// A class as its page shows it.
struct Loaded {
    class: ClassCard,
    can_lock: bool,
    rows: Vec<Row>,
    windows: Vec<Holding>,
}

/// The class, whether this person may lock in it, its rows and the windows holding it; "not
/// found" for a class out of reach exactly as for one that does not exist.
async fn load(state: &AppState, staff: &CurrentStaff, raw_id: &str) -> Result<Loaded, PageError> {
    let course = parse_id(raw_id)?;
    let mut tx = staff.school_tx(state).await?;
    let view_scope = staff.class_scope(ClassAccess::View);
    if !view_scope.includes(&mut tx, course).await? {
        return Err(PageError::not_found());
    }
    let lock_scope = staff.class_scope(ClassAccess::Lock);
    // Most roles lock where they see: one question then, not two.
    let can_lock = if lock_scope == view_scope {
        true
    } else {
        lock_scope.includes(&mut tx, course).await?
    };
    let view = overview::class_view(&mut tx, course)
        .await?
        .ok_or_else(PageError::not_found)?;
    let windows = coverage::holding_class(&mut tx, course).await?;
    let held = if windows.is_empty() {
        Vec::new()
    } else {
        coverage::holding_in_class(&mut tx, course).await?
    };
    tx.commit().await?;
    // Letting a student out is the officer's, where they may lock (as the API asks).
    let can_let_out = can_lock && staff.can(Permission::ManageWindows);
    let rows = view
        .students
        .iter()
        .map(|s| {
            let holding: Vec<&Holding> = held
                .iter()
                .filter(|h| Some(h.portfolio_id) == s.portfolio_id)
                .map(|h| &h.window)
                .collect();
            Row::new(s, can_lock, &state.web).held_by(&holding, can_let_out)
        })
        .collect();
    Ok(Loaded {
        class: ClassCard::from(view.summary),
        can_lock,
        rows,
        windows,
    })
}

/// `GET /classes/{id}`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn class_page(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path(raw_id): Path<String>,
    Query(done): Query<DoneQuery>,
) -> Result<Html<String>, PageError> {
    let Loaded {
        class,
        can_lock,
        rows,
        windows,
    } = load(&state, &staff, &raw_id).await?;
    render(&ClassPage {
        layout: Layout::for_staff(&staff, Section::Classes),
        notice: done.notice(&[(LET_OUT, LET_OUT_NOTICE)]),
        locked: rows.iter().filter(|r| r.state == "locked").count(),
        pending: rows
            .iter()
            .filter(|r| matches!(r.state, "locking" | "unlocking"))
            .count(),
        google_unavailable: rows.iter().any(|r| r.waiting_on_google),
        class,
        windows: windows.iter().map(WindowNote::from).collect(),
        can_lock,
        rows,
    })
}

/// `GET /classes/{id}/rows`: the table's rows alone, for the script to bring a page up to date.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn class_rows(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path(raw_id): Path<String>,
) -> Result<Response, PageError> {
    let rows = load(&state, &staff, &raw_id).await?.rows;
    let html = render(&ClassRows { rows })?;
    // Always fresh: this is the live view.
    Ok(([(header::CACHE_CONTROL, "no-store")], html).into_response())
}
