//! Saving, editing, cancelling, releasing and reading windows, each change audited in the
//! transaction that makes it.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::coverage::Requests;
use super::draft::{Draft, Selection, WindowFields};
use super::london_time::utc_to_london;
use super::transitions::release_classes;
use super::{Editable, Window, WindowClass, WindowError, WindowState};
use crate::audit::{self, Action, Actor, Target};
use crate::input::{FieldError, InputError};
use crate::tenancy::SchoolTx;

/// The columns of [`Window`] read from `assessment_windows w`.
const COLUMNS: &str = "w.id, w.name, w.note, w.starts_at, w.ends_at, w.until_released, w.state, \
     w.created_by, w.created_at, w.updated_at, w.started_at, w.finished_at, w.finished_by";

/// Checks that every chosen class and selected subject is this school's (a class of another
/// school, or none at all, is simply not found here), and that the window covers something.
async fn check_references(tx: &mut SchoolTx, draft: &Draft) -> Result<(), WindowError> {
    let known: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM courses WHERE id = ANY($1) AND active")
            .bind(&draft.classes)
            .fetch_all(&mut **tx)
            .await?;
    if let Some(missing) = draft.classes.iter().find(|c| !known.contains(c)) {
        return Err(explained(
            "classes",
            format!("there is no current class {missing} in this school"),
        ));
    }
    let subjects: Vec<Uuid> = draft
        .selections
        .iter()
        .filter_map(|s| s.subject_id)
        .collect();
    let known: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM subjects WHERE id = ANY($1)")
        .bind(&subjects)
        .fetch_all(&mut **tx)
        .await?;
    if let Some(missing) = subjects.iter().find(|s| !known.contains(s)) {
        return Err(explained(
            "selections",
            format!("there is no subject {missing} in this school"),
        ));
    }
    if draft.classes.is_empty() && selected_classes(tx, &draft.selections).await?.is_empty() {
        return Err(explained(
            "selections",
            "no class matches these selections; check the classes' subjects and year groups"
                .to_owned(),
        ));
    }
    Ok(())
}

fn explained(field: &'static str, message: String) -> WindowError {
    WindowError::Input(FieldError {
        field,
        error: InputError::Explained(message),
    })
}

/// The current classes that `selections` catch today.
pub async fn selected_classes(
    tx: &mut SchoolTx,
    selections: &[Selection],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let subjects: Vec<Option<Uuid>> = selections.iter().map(|s| s.subject_id).collect();
    let years: Vec<Option<i16>> = selections.iter().map(|s| s.year_group).collect();
    sqlx::query_scalar(
        "SELECT DISTINCT c.id FROM courses c \
         JOIN unnest($1::uuid[], $2::smallint[]) AS s(subject_id, year_group) \
           ON (s.subject_id IS NULL OR c.subject_id = s.subject_id) \
          AND (s.year_group IS NULL OR c.year_group = s.year_group) \
         WHERE c.active ORDER BY c.id",
    )
    .bind(subjects)
    .bind(years)
    .fetch_all(&mut **tx)
    .await
}

/// The current classes that the selections of each of `windows` catch today, as (window,
/// class) pairs: for a list of windows, one query rather than one per window.
pub async fn caught_by_windows(
    tx: &mut SchoolTx,
    windows: &[Uuid],
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    if windows.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "SELECT DISTINCT s.window_id, c.id FROM window_selections s JOIN courses c \
           ON c.active AND (s.subject_id IS NULL OR c.subject_id = s.subject_id) \
          AND (s.year_group IS NULL OR c.year_group = s.year_group) \
         WHERE s.window_id = ANY($1) ORDER BY s.window_id, c.id",
    )
    .bind(windows)
    .fetch_all(&mut **tx)
    .await
}

/// The current classes that `selections` catch today, with their names (by name): a window's
/// classes before its start, besides those chosen.
pub async fn caught_classes(
    tx: &mut SchoolTx,
    selections: &[Selection],
) -> Result<Vec<WindowClass>, sqlx::Error> {
    let ids = selected_classes(tx, selections).await?;
    let named: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, name FROM courses WHERE id = ANY($1) ORDER BY name, id")
            .bind(&ids)
            .fetch_all(&mut **tx)
            .await?;
    Ok(named
        .into_iter()
        .map(|(id, name)| WindowClass {
            id,
            name,
            chosen: false,
        })
        .collect())
}

/// Each selection in words, for people: "All Year 11 Chemistry", "All of Year 10", "All
/// Geography" (a subject since deleted is "a subject that no longer exists").
pub async fn selection_labels(
    tx: &mut SchoolTx,
    selections: &[Selection],
) -> Result<Vec<String>, sqlx::Error> {
    let ids: Vec<Uuid> = selections.iter().filter_map(|s| s.subject_id).collect();
    let names: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, name FROM subjects WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut **tx)
            .await?;
    let name_of = |id: Uuid| {
        names
            .iter()
            .find(|(s, _)| *s == id)
            .map_or("a subject that no longer exists", |(_, n)| n.as_str())
    };
    Ok(selections
        .iter()
        .map(|s| match (s.subject_id, s.year_group) {
            (Some(subject), Some(year)) => format!("All Year {year} {}", name_of(subject)),
            (Some(subject), None) => format!("All {}", name_of(subject)),
            (None, Some(year)) => format!("All of Year {year}"),
            (None, None) => "Every class".to_owned(),
        })
        .collect())
}

/// Saves the window's chosen classes and selections (replacing any before).
async fn save_classes(tx: &mut SchoolTx, id: Uuid, draft: &Draft) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM window_classes WHERE window_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO window_classes (window_id, course_id, chosen) \
         SELECT $1, c, true FROM unnest($2::uuid[]) AS c",
    )
    .bind(id)
    .bind(&draft.classes)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM window_selections WHERE window_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let subjects: Vec<Option<Uuid>> = draft.selections.iter().map(|s| s.subject_id).collect();
    let years: Vec<Option<i16>> = draft.selections.iter().map(|s| s.year_group).collect();
    sqlx::query(
        "INSERT INTO window_selections (window_id, subject_id, year_group) \
         SELECT $1, s, y FROM unnest($2::uuid[], $3::smallint[]) AS t(s, y)",
    )
    .bind(id)
    .bind(subjects)
    .bind(years)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What the audit log keeps of a window's plan (ids and times, never names of people).
fn plan(draft: &Draft) -> serde_json::Value {
    json!({
        "starts_at": draft.starts_at,
        "ends_at": draft.ends_at,
        "until_released": draft.until_released,
        "classes": draft.classes,
        "selections": draft.selections,
    })
}

/// Checks a window as [`create`] (with no `base`) or an edit before the start (laid over
/// `base`) would, saving nothing: the fields, then that every class and subject named is this
/// school's. The pages' preview asks it, so a preview refuses what saving would.
pub async fn check(
    tx: &mut SchoolTx,
    fields: &WindowFields,
    base: Option<&Draft>,
    now: DateTime<Utc>,
) -> Result<Draft, WindowError> {
    let draft = fields.check(base, now)?;
    check_references(tx, &draft).await?;
    Ok(draft)
}

/// Saves a new window for `officer`.
pub async fn create(
    tx: &mut SchoolTx,
    officer: Uuid,
    fields: &WindowFields,
    now: DateTime<Utc>,
) -> Result<Window, WindowError> {
    let draft = check(tx, fields, None, now).await?;
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO assessment_windows (name, note, starts_at, ends_at, until_released, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(&draft.name)
    .bind(&draft.note)
    .bind(draft.starts_at)
    .bind(draft.ends_at)
    .bind(draft.until_released)
    .bind(officer)
    .fetch_one(&mut **tx)
    .await?;
    save_classes(tx, id, &draft).await?;
    audit::record(
        tx,
        &Actor::Staff(officer),
        Action::WindowCreated,
        Some(&Target::new("window", id)),
        plan(&draft),
    )
    .await?;
    get(tx, id).await
}

/// A saved window as a draft, to lay an edit over.
pub async fn draft_of(tx: &mut SchoolTx, w: &Window) -> Result<Draft, sqlx::Error> {
    let classes = sqlx::query_scalar(
        "SELECT course_id FROM window_classes WHERE window_id = $1 AND chosen ORDER BY added_at, course_id",
    )
    .bind(w.id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(Draft {
        name: w.name.clone(),
        note: w.note.clone(),
        classes,
        selections: w.selections.clone(),
        starts_at: w.starts_at,
        ends_at: w.ends_at,
        until_released: w.until_released,
    })
}

/// Reads a window, locking its row until the transaction ends (so a start waits for an edit).
async fn get_for_update(tx: &mut SchoolTx, id: Uuid) -> Result<Window, WindowError> {
    sqlx::query("SELECT 1 FROM assessment_windows WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(WindowError::NotFound)?;
    get(tx, id).await
}

/// What an edit changed that the job timers need to know.
#[derive(Debug)]
pub struct Edited {
    pub window: Window,
}

/// Edits a window: anything before its start; after it, only the end.
pub async fn edit(
    tx: &mut SchoolTx,
    officer: Uuid,
    id: Uuid,
    fields: &WindowFields,
    now: DateTime<Utc>,
) -> Result<Edited, WindowError> {
    let before = get_for_update(tx, id).await?;
    let actor = Actor::Staff(officer);
    match before.state.editable() {
        Editable::Everything => {
            let base = draft_of(tx, &before).await?;
            let draft = check(tx, fields, Some(&base), now).await?;
            sqlx::query(
                "UPDATE assessment_windows SET name = $2, note = $3, starts_at = $4, ends_at = $5, \
                     until_released = $6, updated_at = now() WHERE id = $1",
            )
            .bind(id)
            .bind(&draft.name)
            .bind(&draft.note)
            .bind(draft.starts_at)
            .bind(draft.ends_at)
            .bind(draft.until_released)
            .execute(&mut **tx)
            .await?;
            save_classes(tx, id, &draft).await?;
            audit::record(
                tx,
                &actor,
                Action::WindowChanged,
                Some(&Target::new("window", id)),
                plan(&draft),
            )
            .await?;
        }
        Editable::EndOnly => {
            if fields.changes_more_than_the_end() {
                return Err(WindowError::WrongState(format!(
                    "“{}” has started: only its end can move now",
                    before.name
                )));
            }
            let ends_at = fields.end_over(None)?;
            if ends_at <= now {
                return Err(explained(
                    "ends_at",
                    "the new end has already passed; to end the window now, cancel it".to_owned(),
                ));
            }
            sqlx::query(
                "UPDATE assessment_windows SET ends_at = $2, updated_at = now() WHERE id = $1",
            )
            .bind(id)
            .bind(ends_at)
            .execute(&mut **tx)
            .await?;
            audit::record(
                tx,
                &actor,
                Action::WindowChanged,
                Some(&Target::new("window", id)),
                json!({"ends_at": ends_at, "was": before.ends_at}),
            )
            .await?;
        }
        Editable::Nothing => {
            return Err(WindowError::WrongState(format!(
                "“{}” is {}: it can no longer be changed",
                before.name,
                before.state.label()
            )));
        }
    }
    Ok(Edited {
        window: get(tx, id).await?,
    })
}

/// Calls a window off: before its start nothing more happens; during it (or while it is held)
/// its folders are unlocked as if it had ended.
pub async fn cancel(
    tx: &mut SchoolTx,
    officer: Uuid,
    id: Uuid,
) -> Result<(Window, Requests), WindowError> {
    let before = get_for_update(tx, id).await?;
    if let Some(why) = before.why_not_cancellable() {
        return Err(WindowError::WrongState(why));
    }
    finish(
        tx,
        officer,
        before,
        WindowState::Cancelled,
        Action::WindowCancelled,
    )
    .await
}

/// Ends an "until released" window (active or held): its folders are unlocked.
pub async fn release(
    tx: &mut SchoolTx,
    officer: Uuid,
    id: Uuid,
) -> Result<(Window, Requests), WindowError> {
    let before = get_for_update(tx, id).await?;
    if let Some(why) = before.why_not_releasable() {
        return Err(WindowError::WrongState(why));
    }
    finish(
        tx,
        officer,
        before,
        WindowState::Ended,
        Action::WindowReleased,
    )
    .await
}

async fn finish(
    tx: &mut SchoolTx,
    officer: Uuid,
    before: Window,
    to: WindowState,
    action: Action,
) -> Result<(Window, Requests), WindowError> {
    sqlx::query(
        "UPDATE assessment_windows SET state = $2, finished_at = now(), finished_by = $3, \
             updated_at = now() WHERE id = $1",
    )
    .bind(before.id)
    .bind(to)
    .bind(officer)
    .execute(&mut **tx)
    .await?;
    let actor = Actor::Staff(officer);
    audit::record(
        tx,
        &actor,
        action,
        Some(&Target::new("window", before.id)),
        json!({"was": before.state}),
    )
    .await?;
    let requests = if before.state.holds() {
        release_classes(tx, &actor, before.id).await?
    } else {
        Requests::default()
    };
    Ok((get(tx, before.id).await?, requests))
}

/// One window, with its classes and selections.
pub async fn get(tx: &mut SchoolTx, id: Uuid) -> Result<Window, WindowError> {
    let mut window: Window = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM assessment_windows w WHERE w.id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(WindowError::NotFound)?;
    fill(tx, std::slice::from_mut(&mut window)).await?;
    Ok(window)
}

/// Adds classes, selections and London times to windows read from the table.
async fn fill(tx: &mut SchoolTx, windows: &mut [Window]) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = windows.iter().map(|w| w.id).collect();
    let classes: Vec<(Uuid, Uuid, String, bool)> = sqlx::query_as(
        "SELECT wc.window_id, c.id, c.name, wc.chosen FROM window_classes wc \
         JOIN courses c ON c.id = wc.course_id WHERE wc.window_id = ANY($1) ORDER BY c.name, c.id",
    )
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    let selections: Vec<(Uuid, Option<Uuid>, Option<i16>)> = sqlx::query_as(
        "SELECT window_id, subject_id, year_group FROM window_selections \
         WHERE window_id = ANY($1) ORDER BY year_group, subject_id",
    )
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    for w in windows.iter_mut() {
        w.starts_local = utc_to_london(w.starts_at);
        w.ends_local = utc_to_london(w.ends_at);
        w.classes = classes
            .iter()
            .filter(|(window, ..)| *window == w.id)
            .map(|(_, id, name, chosen)| WindowClass {
                id: *id,
                name: name.clone(),
                chosen: *chosen,
            })
            .collect();
        w.selections = selections
            .iter()
            .filter(|(window, ..)| *window == w.id)
            .map(|(_, subject_id, year_group)| Selection {
                subject_id: *subject_id,
                year_group: *year_group,
            })
            .collect();
    }
    Ok(())
}

/// What a list of windows is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Just this window.
    pub id: Option<Uuid>,
    /// Windows that overlap `[from, to)`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Windows covering this class (or, before their start, whose selections catch it).
    pub class: Option<Uuid>,
    pub state: Option<WindowState>,
    /// Any of these states (none: any state); the pages split what is to come from what is
    /// over with it.
    pub states: Vec<WindowState>,
}

/// The windows matching `filter`, soonest start first, among those touching `visible` classes
/// (`None`: every window of the school).
pub async fn list(
    tx: &mut SchoolTx,
    filter: &ListFilter,
    visible: Option<&[Uuid]>,
) -> Result<Vec<Window>, sqlx::Error> {
    // A window touches a class it covers, or (before its start) one its selections catch.
    let touches = "(EXISTS (SELECT 1 FROM window_classes wc WHERE wc.window_id = w.id AND wc.course_id = ANY({})) \
        OR (w.state = 'scheduled' AND EXISTS (SELECT 1 FROM window_selections s JOIN courses c \
            ON c.active AND (s.subject_id IS NULL OR c.subject_id = s.subject_id) \
            AND (s.year_group IS NULL OR c.year_group = s.year_group) \
            WHERE s.window_id = w.id AND c.id = ANY({}))))";
    let class_filter = touches.replace("{}", "ARRAY[$4]::uuid[]");
    let visible_filter = touches.replace("{}", "$5");
    let mut windows: Vec<Window> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM assessment_windows w \
         WHERE ($1::timestamptz IS NULL OR w.ends_at > $1) \
           AND ($2::timestamptz IS NULL OR w.starts_at < $2) \
           AND ($3::text IS NULL OR w.state = $3) \
           AND ($4::uuid IS NULL OR {class_filter}) \
           AND ($5::uuid[] IS NULL OR {visible_filter}) \
           AND ($6::uuid IS NULL OR w.id = $6) \
           AND (cardinality($7::text[]) = 0 OR w.state = ANY($7)) \
         ORDER BY w.starts_at, w.id LIMIT 1000"
    )))
    .bind(filter.from)
    .bind(filter.to)
    .bind(filter.state)
    .bind(filter.class)
    .bind(visible)
    .bind(filter.id)
    .bind(&filter.states)
    .fetch_all(&mut **tx)
    .await?;
    fill(tx, &mut windows).await?;
    Ok(windows)
}
