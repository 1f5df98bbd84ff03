//! `/admin/sync`: the Classroom sync's state (the last run, what went wrong in words, when the
//! next timed one is due) and its last 50 runs; "Sync now" queues one as `POST /api/sync` does.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, Response};
use axum::routing::get;
use chrono::Utc;
use uuid::Uuid;

use super::{ButtonOnly, DoneQuery, done};
use crate::auth::roles::Permission;
use crate::roster::runs::{self, Problem, SyncRun};
use crate::tenancy::settings;
use crate::web::AppState;
use crate::web::api;
use crate::web::error::{ApiError, PageError};
use crate::web::pages::form::PageForm;
use crate::web::pages::{AdminTab, Layout, NavLink, PageStaff, Section, london_time, render};

/// The page's routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/sync", get(show).post(sync_now))
}

const PAGE: &str = "/admin/sync";

/// How many runs the history shows.
const HISTORY: i64 = 50;

/// One run as the page shows it.
pub struct RunRow {
    pub when: String,
    pub trigger: &'static str,
    pub courses: i32,
    pub added: i32,
    pub updated: i32,
    pub ended: i32,
    pub api_calls: i32,
    pub duration: String,
    pub problems: Vec<String>,
    /// What was left out as not the school's, in words.
    pub skipped: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_sync.html")]
pub struct SyncPage {
    pub layout: Layout,
    pub tabs: Vec<NavLink>,
    pub csrf_token: String,
    pub notice: Option<&'static str>,
    pub runs: Vec<RunRow>,
    pub next_due: Option<String>,
    pub interval_minutes: i32,
}

impl SyncPage {
    /// The latest run, if any.
    pub fn last(&self) -> Option<&RunRow> {
        self.runs.first()
    }
}

fn trigger_words(trigger: &str) -> &'static str {
    match trigger {
        "timer" => "On schedule",
        "sign_in" => "A teacher's first sign-in",
        "manual" => "Sync now",
        "cli" => "From the command line",
        _ => "Other",
    }
}

/// Names for the people and classes a run's errors are about.
#[derive(Default)]
struct Names {
    staff: HashMap<Uuid, String>,
    courses: HashMap<String, String>,
}

impl Names {
    fn person(&self, id: &Uuid) -> String {
        self.staff
            .get(id)
            .cloned()
            .unwrap_or_else(|| "A member of staff no longer listed".to_owned())
    }

    fn class(&self, classroom_id: &str) -> String {
        self.courses
            .get(classroom_id)
            .cloned()
            .unwrap_or_else(|| format!("The class with Classroom id {classroom_id}"))
    }

    /// One problem in words: who or what, what happened, what to do.
    fn words(&self, problem: &Problem) -> String {
        match problem {
            Problem::StaffReconnect(id) => format!(
                "{}: Google no longer accepts their sign-in, so their classes were not read. \
                 They should sign in to Invigilator again.",
                self.person(id)
            ),
            Problem::StaffCoursesUnread(id) => format!(
                "{}: their list of classes could not be read from Google Classroom this time. \
                 The next sync tries again.",
                self.person(id)
            ),
            Problem::CourseUnread { classroom_id } => format!(
                "{}: could not be read from Google Classroom, so it was left as it was. The next \
                 sync tries again.",
                self.class(classroom_id)
            ),
            Problem::CourseNotSaved { classroom_id } => format!(
                "{}: read but not saved, so it was left as it was. If this happens again, tell \
                 us the time of the sync.",
                self.class(classroom_id)
            ),
            Problem::Other(text) => text.clone(),
        }
    }
}

fn skipped_words(run: &SyncRun) -> Option<String> {
    let s = &run.skipped.0;
    let mut parts = Vec::new();
    match s.other_domain_courses {
        0 => {}
        1 => parts.push("1 class of another school".to_owned()),
        n => parts.push(format!("{n} classes of other schools")),
    }
    match s.outside_students {
        0 => {}
        1 => parts.push("1 student from outside the school's domain".to_owned()),
        n => parts.push(format!("{n} students from outside the school's domain")),
    }
    match s.erased_students {
        0 => {}
        1 => parts.push("1 erased student Classroom still lists".to_owned()),
        n => parts.push(format!("{n} erased students Classroom still lists")),
    }
    (!parts.is_empty()).then(|| format!("Left out: {}.", parts.join(" and ")))
}

fn duration_words(ms: i32) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", f64::from(ms) / 1000.0)
    }
}

/// `GET /admin/sync`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn show(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Query(query): Query<DoneQuery>,
) -> Result<Html<String>, PageError> {
    staff.require(Permission::SyncRosters)?;
    let mut tx = staff.school_tx(&state).await?;
    let recorded = runs::recent(&mut tx, HISTORY).await?;
    let problems: Vec<Problem> = recorded.iter().flat_map(SyncRun::problems).collect();
    let staff_ids: Vec<Uuid> = problems
        .iter()
        .filter_map(|p| match p {
            Problem::StaffReconnect(id) | Problem::StaffCoursesUnread(id) => Some(*id),
            _ => None,
        })
        .collect();
    let course_ids: Vec<String> = problems
        .iter()
        .filter_map(|p| match p {
            Problem::CourseUnread { classroom_id } | Problem::CourseNotSaved { classroom_id } => {
                Some(classroom_id.clone())
            }
            _ => None,
        })
        .collect();
    let names = Names {
        staff: crate::auth::staff::names(&mut tx, &staff_ids).await?,
        courses: runs::course_names(&mut tx, &course_ids)
            .await?
            .into_iter()
            .collect(),
    };
    tx.commit().await?;
    let next_due = runs::next_due(&state.db, staff.school.id).await?.map(|at| {
        if at <= Utc::now() {
            "now: the timer starts it within a minute".to_owned()
        } else {
            london_time(at)
        }
    });
    let interval_minutes = settings::load(
        &state.db,
        &state.redis,
        &state.web.namespace,
        staff.school.id,
    )
    .await
    .map_err(ApiError::from)?
    .sync_interval_minutes;
    let runs = recorded
        .iter()
        .map(|run| RunRow {
            when: london_time(run.started_at),
            trigger: trigger_words(&run.trigger),
            courses: run.courses,
            added: run.added,
            updated: run.updated,
            ended: run.ended,
            api_calls: run.api_calls,
            duration: duration_words(run.duration_ms),
            problems: run.problems().iter().map(|p| names.words(p)).collect(),
            skipped: skipped_words(run),
        })
        .collect();
    let notice = query.notice(NOTICES);
    render(&SyncPage {
        layout: Layout::for_staff(&staff, Section::Admin),
        tabs: AdminTab::Sync.tabs(),
        csrf_token: staff.csrf_token.clone(),
        notice,
        runs,
        next_due,
        interval_minutes,
    })
}

/// `POST /admin/sync`: a sync now, as `POST /api/sync` (queued and audited alike).
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn sync_now(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    PageForm(_): PageForm<ButtonOnly>,
) -> Result<Response, PageError> {
    api::queue_sync(&state, &staff).await?;
    Ok(done(PAGE, "queued"))
}

/// The notices a successful form's redirect back here may ask for (`?done=`).
const NOTICES: &[(&str, &str)] = &[(
    "queued",
    "A sync has been asked for. It runs in the background, usually within a minute: \
             reload this page to see it in the history.",
)];
