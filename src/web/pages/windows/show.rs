//! One window's page (`GET /windows/{id}`): its state and times in words, its note, who
//! scheduled it, its classes (linked where the reader may open them) and the windows it
//! overlaps; for an Examinations Officer what it will lock, and the actions its state allows.
//! Cancel and release ask first, on a page of their own (`GET /windows/{id}/cancel`), then post.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;
use uuid::Uuid;

use super::preview::{OverlapLine, PreviewView};
use super::{NOTICES, WindowLine, london_time};
use crate::audit::Action;
use crate::auth::Permission;
use crate::tenancy::SchoolTx;
use crate::web::AppState;
use crate::web::error::{ApiError, PageError};
use crate::web::extract::CurrentStaff;
use crate::web::pages::form::DoneQuery;
use crate::web::pages::form::{FormErrors, reshow};
use crate::web::pages::{Layout, PageStaff, Section, render};
use crate::web::portfolios::{commit_and_enqueue, parse_id};
use crate::web::windows::{record, visible_classes, visible_window, window_among};
use crate::windows::{Editable, Window, WindowClass, WindowError, WindowState, preview, store};

/// One of the window's classes that the reader may see.
pub struct ClassLink {
    pub name: String,
    /// The class page.
    pub href: String,
    /// "Chosen" or "In a group".
    pub how: &'static str,
}

/// What an Examinations Officer may do to the window now.
pub struct Actions {
    /// "Edit" before the start, "Change the end" during it.
    pub edit: Option<&'static str>,
    pub cancel: bool,
    pub release: bool,
}

/// One window's page (`GET /windows/{id}`), as the reader may see it.
#[derive(Template)]
#[template(path = "windows_show.html")]
pub struct WindowPage {
    pub layout: Layout,
    pub notice: Option<&'static str>,
    pub line: WindowLine,
    /// It has not started: a class that joins one of its groups before then is included.
    pub before_start: bool,
    /// Scheduled, under way or held: it can still lock, so its overlaps matter.
    pub can_still_lock: bool,
    /// What the state means now, in a sentence.
    pub now: String,
    pub note: Option<String>,
    pub scheduled_by: String,
    /// The classes the reader may see.
    pub classes: Vec<ClassLink>,
    /// The others, counted: "and 3 other classes" (or "3 classes" when they see none).
    pub other_classes: Option<String>,
    pub groups: Vec<String>,
    /// For an Examinations Officer before the start: what it will lock.
    pub preview: Option<PreviewView>,
    /// Windows at overlapping times over some of the same classes (while it can still lock).
    pub overlaps: Vec<OverlapLine>,
    pub actions: Option<Actions>,
}

/// A staff member's name, or what to say when they are gone.
async fn staff_name(tx: &mut SchoolTx, id: Option<Uuid>) -> Result<String, sqlx::Error> {
    Ok(match id {
        Some(id) => crate::auth::staff::by_id(tx, id)
            .await?
            .map_or_else(|| "a former member of staff".to_owned(), |s| s.display_name),
        None => "a former member of staff".to_owned(),
    })
}

/// The window's state in a sentence.
async fn state_sentence(tx: &mut SchoolTx, w: &Window) -> Result<String, sqlx::Error> {
    let end = london_time(w.ends_at);
    Ok(match w.state {
        WindowState::Scheduled if w.until_released => format!(
            "Nothing is locked yet. At {} its classes lock, and stay locked after {end} until an \
             Examinations Officer releases it.",
            london_time(w.starts_at)
        ),
        WindowState::Scheduled => format!(
            "Nothing is locked yet. Its classes lock at {} and unlock at {end}.",
            london_time(w.starts_at)
        ),
        WindowState::Active if w.until_released => format!(
            "Under way: its classes are locked until {end}, and then until an Examinations \
             Officer releases it."
        ),
        WindowState::Active => format!("Under way: its classes are locked until {end}."),
        WindowState::Held => format!(
            "Its deadline, {end}, has passed: the work stays locked until an Examinations \
             Officer releases it."
        ),
        WindowState::Ended => match w.finished_at {
            Some(at) if w.finished_by.is_some() => format!(
                "Released by {} at {}.",
                staff_name(tx, w.finished_by).await?,
                london_time(at)
            ),
            _ => format!("Over since {end}."),
        },
        WindowState::Cancelled => format!(
            "Cancelled by {}{}.",
            staff_name(tx, w.finished_by).await?,
            w.finished_at
                .map(|at| format!(" at {}", london_time(at)))
                .unwrap_or_default()
        ),
    })
}

/// The window's classes as the reader may see them: those in their class scope (`visible`;
/// `None`: all), linked, and the rest only counted ("and 3 other classes"), so the page names
/// no class the reader could not open.
fn class_links(
    covered: &[&WindowClass],
    visible: Option<&[Uuid]>,
) -> (Vec<ClassLink>, Option<String>) {
    let (seen, unseen): (Vec<&WindowClass>, Vec<&WindowClass>) = covered
        .iter()
        .partition(|c| visible.is_none_or(|v| v.contains(&c.id)));
    let links = seen
        .iter()
        .map(|c| ClassLink {
            name: c.name.clone(),
            href: format!("/classes/{}", c.id),
            how: if c.chosen { "Chosen" } else { "In a group" },
        })
        .collect::<Vec<_>>();
    let others = match (unseen.len(), links.is_empty()) {
        (0, _) => None,
        (1, true) => Some("1 class".to_owned()),
        (n, true) => Some(format!("{n} classes")),
        (1, false) => Some("and 1 other class".to_owned()),
        (n, false) => Some(format!("and {n} other classes")),
    };
    (links, others)
}

/// `GET /windows/{id}`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn window_page(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path(raw_id): Path<String>,
    Query(done): Query<DoneQuery>,
) -> Result<Html<String>, PageError> {
    let id = parse_id(&raw_id)?;
    let mut tx = staff.school_tx(&state).await?;
    let visible = visible_classes(&mut tx, &staff).await?;
    let window = window_among(&mut tx, visible.as_deref(), id).await?;
    let can_manage = staff.can(Permission::ManageWindows);
    let scheduled = window.state == WindowState::Scheduled;
    // Before the start, its classes are also those its groups catch today.
    let caught = if scheduled {
        store::caught_classes(&mut tx, &window.selections).await?
    } else {
        Vec::new()
    };
    let covered: Vec<&WindowClass> = window
        .classes
        .iter()
        .chain(
            caught
                .iter()
                .filter(|c| !window.classes.iter().any(|k| k.id == c.id)),
        )
        .collect();
    let (classes, others) = class_links(&covered, visible.as_deref());
    // While it can still lock: the windows it overlaps, for everyone; what it will lock, worked
    // out student by student, only for an officer before the start (nobody else sees it).
    let (preview, overlaps) = if window.state.cancellable() {
        let draft = store::draft_of(&mut tx, &window).await?;
        let class_name = |id: &Uuid| {
            covered
                .iter()
                .find(|c| c.id == *id)
                .map(|c| c.name.as_str())
        };
        if can_manage && scheduled {
            let p = preview::preview(&mut tx, &draft, Some(id)).await?;
            let mut view = PreviewView::new(&p, visible.as_deref());
            let overlaps = std::mem::take(&mut view.overlaps);
            (Some(view), overlaps)
        } else {
            let overlaps = preview::overlaps(&mut tx, &draft, Some(id)).await?;
            let lines = OverlapLine::lines(&overlaps, class_name, visible.as_deref());
            (None, lines)
        }
    } else {
        (None, Vec::new())
    };
    let groups = store::selection_labels(&mut tx, &window.selections).await?;
    let now = state_sentence(&mut tx, &window).await?;
    let scheduled_by = staff_name(&mut tx, window.created_by).await?;
    record(
        &mut tx,
        &staff,
        Action::WindowViewed,
        Some(id),
        json!({"page": "window"}),
    )
    .await?;
    tx.commit().await?;
    let actions = can_manage.then(|| Actions {
        edit: match window.state.editable() {
            Editable::Everything => Some("Edit"),
            Editable::EndOnly => Some("Change the end"),
            Editable::Nothing => None,
        },
        cancel: window.state.cancellable(),
        release: window.releasable(),
    });
    render(&WindowPage {
        layout: Layout::for_staff(&staff, Section::Windows),
        notice: done.notice(NOTICES),
        line: WindowLine::new(&window, &[]),
        before_start: scheduled,
        can_still_lock: window.state.cancellable(),
        now,
        note: window.note.clone(),
        scheduled_by,
        classes,
        other_classes: others,
        groups,
        preview,
        overlaps,
        actions,
    })
}

/// Cancel or release, from the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finish {
    Cancel,
    Release,
}

impl Finish {
    fn from_path(verb: &str) -> Result<Self, PageError> {
        match verb {
            "cancel" => Ok(Self::Cancel),
            "release" => Ok(Self::Release),
            _ => Err(PageError::not_found()),
        }
    }

    /// Why the window's state does not allow it now (the domain's own refusal), or `None`.
    fn why_not(self, w: &Window) -> Option<String> {
        match self {
            Self::Cancel => w.why_not_cancellable(),
            Self::Release => w.why_not_releasable(),
        }
    }
}

/// The question before cancelling or releasing a window (`GET /windows/{id}/cancel`), or why
/// its state no longer allows it.
#[derive(Template)]
#[template(path = "windows_confirm.html")]
pub struct ConfirmPage {
    pub layout: Layout,
    pub errors: FormErrors,
    pub id: Uuid,
    pub name: String,
    pub verb: &'static str,
    pub heading: String,
    /// What will happen, in a sentence.
    pub consequence: String,
    pub button: &'static str,
    /// Whether the window's state still allows it (if not, the page says why, with no button).
    pub possible: bool,
    pub csrf_token: String,
}

fn confirmation(
    staff: &CurrentStaff,
    w: &Window,
    finish: Finish,
    errors: FormErrors,
) -> ConfirmPage {
    let classes = match w.classes.len() {
        0 => "its classes".to_owned(),
        1 => "its 1 class".to_owned(),
        n => format!("its {n} classes"),
    };
    let ends_now = format!(
        "It ends now: the folders of {classes} are unlocked at once (except any a teacher \
         locked or another window holds), so students can change their work again."
    );
    let (verb, heading, consequence, button) = match (finish, w.state) {
        (Finish::Cancel, WindowState::Scheduled) => (
            "cancel",
            format!("Cancel “{}”?", w.name),
            "It will not start, and nothing will be locked. It stays in the list, marked \
             cancelled."
                .to_owned(),
            "Cancel the window",
        ),
        (Finish::Cancel, _) => (
            "cancel",
            format!("Cancel “{}”?", w.name),
            ends_now,
            "Cancel the window",
        ),
        (Finish::Release, _) => (
            "release",
            format!("Release “{}”?", w.name),
            ends_now,
            "Release the window",
        ),
    };
    ConfirmPage {
        layout: Layout::for_staff(staff, Section::Windows),
        errors,
        id: w.id,
        name: w.name.clone(),
        verb,
        heading,
        consequence,
        button,
        possible: finish.why_not(w).is_none(),
        csrf_token: staff.csrf_token.clone(),
    }
}

/// `GET /windows/{id}/cancel` and `…/release`: the question before the button.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn confirm_page(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path((raw_id, verb)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let finish = Finish::from_path(&verb)?;
    staff.require(Permission::ManageWindows)?;
    let id = parse_id(&raw_id)?;
    let mut tx = staff.school_tx(&state).await?;
    let window = visible_window(&mut tx, &staff, id).await?;
    tx.commit().await?;
    // A state that no longer allows it is said as the domain would refuse it, with no button.
    match finish.why_not(&window) {
        None => {
            Ok(render(&confirmation(&staff, &window, finish, FormErrors::none()))?.into_response())
        }
        Some(why) => {
            let errors = FormErrors::from_refusal(ApiError::Conflict(why))?;
            let page = render(&confirmation(&staff, &window, finish, errors))?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
    }
}

/// `POST /windows/{id}/cancel` and `…/release`: what `POST /api/windows/{id}/cancel` does,
/// then back to the window with a notice.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn finish(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path((raw_id, verb)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let finish = Finish::from_path(&verb)?;
    staff.require(Permission::ManageWindows)?;
    let id = parse_id(&raw_id)?;
    let mut tx = staff.school_tx(&state).await?;
    // The same visibility as the page the button was on.
    visible_window(&mut tx, &staff, id).await?;
    let done = match finish {
        Finish::Cancel => store::cancel(&mut tx, staff.staff.id, id).await,
        Finish::Release => store::release(&mut tx, staff.staff.id, id).await,
    };
    match done {
        Ok((_, requests)) => {
            commit_and_enqueue(&state, &staff, tx, &requests.to_apply).await?;
            let code = match finish {
                Finish::Cancel => "cancelled",
                Finish::Release => "released",
            };
            Ok(crate::web::pages::form::done(
                &format!("/windows/{id}"),
                code,
            ))
        }
        Err(WindowError::WrongState(message)) => {
            // Someone else got there first: say so on the same page, nothing changed.
            drop(tx);
            let mut tx = staff.school_tx(&state).await?;
            let window = visible_window(&mut tx, &staff, id).await?;
            tx.commit().await?;
            let errors = FormErrors::from_refusal(ApiError::Conflict(message))?;
            Ok(reshow(render(&confirmation(
                &staff, &window, finish, errors,
            ))?))
        }
        Err(other) => Err(ApiError::from(other).into()),
    }
}
