//! Assessment windows' pages: the list and a month calendar for everyone who sees classes (over
//! the windows touching their classes), one window's page, and for the Examinations Officer
//! scheduling and editing with a preview, cancelling, releasing, letting one student out, and
//! the calendar feed's address.
//!
//! Each page asks the same permission table and class scope as the JSON API beside it
//! (`src/web/windows.rs`) and calls the same domain functions (`crate::windows`), so a form
//! refuses exactly what the API refuses, and every change is audited by the same code. Reads
//! are audited once per page load (see docs/windows.md, "Pages").

mod feed;
mod form;
mod let_out;
mod list;
mod month;
mod preview;
mod show;

use axum::Router;
use axum::routing::get;
use chrono::{DateTime, LocalResult, TimeZone, Timelike, Utc};
use chrono_tz::Europe::London;
use uuid::Uuid;

use super::form::sentence_case;
use super::london_time;
use crate::input::{FieldError, InputError};
use crate::web::AppState;
use crate::windows::{Holding, Window, WindowState};

/// The windows pages' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/windows", get(list::list_page))
        .route("/windows/calendar", get(list::old_calendar_address))
        .route("/windows/new", get(form::new_form).post(form::new_submit))
        .route("/windows/calendar-feed", axum::routing::post(feed::make))
        .route("/windows/calendar-feed/replace", get(feed::confirm_replace))
        .route(
            "/windows/calendar-feed/revoke",
            get(feed::confirm_revoke).post(feed::revoke),
        )
        .route("/windows/{id}", get(show::window_page))
        .route(
            "/windows/{id}/edit",
            get(form::edit_form).post(form::edit_submit),
        )
        .route(
            "/windows/{id}/{verb}",
            get(show::confirm_page).post(show::finish),
        )
        .route(
            "/portfolios/{id}/override",
            get(let_out::let_out_form).post(let_out::let_out),
        )
}

/// The notices a change on the windows pages may come back with (`?done=`, read through
/// [`DoneQuery`](crate::web::pages::form::DoneQuery)).
pub const NOTICES: &[(&str, &str)] = &[
    (
        "scheduled",
        "The window is scheduled. Its classes lock at its start, with nothing more to do.",
    ),
    ("saved", "Your changes are saved."),
    (
        "cancelled",
        "The window is cancelled. Any folders it locked are being unlocked (unless a teacher \
         or another window keeps them locked).",
    ),
    (
        "released",
        "The window is released. Its folders are being unlocked (unless a teacher or another \
         window keeps them locked).",
    ),
    (
        "feed-revoked",
        "Your calendar address is revoked: calendars subscribed to it get nothing more.",
    ),
    ("feed-none", "You had no calendar address to revoke."),
    (LET_OUT, LET_OUT_NOTICE),
];

/// The code a student's let-out returns to the class page with, and its words (the class page
/// shows only this one).
pub const LET_OUT: &str = "let-out";
pub const LET_OUT_NOTICE: &str = "The student is let out of the assessment window: their folder \
     is being unlocked. The reason is in the audit log.";

/// A stored instant as a form's `datetime-local` value (London's wall clock, seconds only
/// when there are some) and, in the autumn's repeated hour, the offset that says which.
pub fn form_time(at: DateTime<Utc>) -> (String, String) {
    let local = at.with_timezone(&London);
    let format = if local.second() == 0 {
        "%Y-%m-%dT%H:%M"
    } else {
        "%Y-%m-%dT%H:%M:%S"
    };
    let value = local.format(format).to_string();
    let offset = match London.from_local_datetime(&local.naive_local()) {
        LocalResult::Ambiguous(..) => local.format("%:z").to_string(),
        _ => String::new(),
    };
    (value, offset)
}

/// How long a window holds work, in words: "until 11:30 on 23 March 2027", "until 11:30 on 23
/// March 2027, then until it is released", or (held past its deadline) "until an Examinations
/// Officer releases it". Every page that says a window holds something words the hold with
/// this, so they all say it alike (`pub(crate)` for the pages outside this module).
pub(crate) fn hold_until(hold: &Holding) -> String {
    match (hold.state, hold.until_released) {
        (WindowState::Held, _) => "until an Examinations Officer releases it".to_owned(),
        (_, true) => format!(
            "until {}, then until it is released",
            london_time(hold.ends_at)
        ),
        _ => format!("until {}", london_time(hold.ends_at)),
    }
}

/// A state in words, capitalised to stand alone ("In progress").
pub fn state_words(state: WindowState) -> String {
    sentence_case(state.label())
}

/// The stylesheet's name for a state (`window-state-active`).
pub fn state_class(state: WindowState) -> &'static str {
    match state {
        WindowState::Scheduled => "scheduled",
        WindowState::Active => "active",
        WindowState::Held => "held",
        WindowState::Ended => "ended",
        WindowState::Cancelled => "cancelled",
    }
}

/// A field's refusal as a page words it: "Enter a reason" for an empty field, the domain's
/// own sentence where it explains itself ("2027-03-28 01:30 does not happen in the UK…"), and
/// otherwise the field's name in words before the refusal ("The end must be after the start").
/// `blank` says the person left the field empty (a time left empty is "not a date", to the
/// domain; to a person it is a missing time).
pub fn field_message(error: &FieldError, blank: bool) -> String {
    let (the, enter) = match error.field {
        "name" => ("The name", "Enter a name for the window"),
        "note" => ("The note", "Enter a note"),
        "starts_at" => ("The start", "Enter the date and time it starts"),
        "ends_at" => ("The end", "Enter the date and time it ends"),
        "classes" => ("The window", "Tick at least one class or group"),
        "selections" => ("The groups", "Tick at least one class or group"),
        "reason" => (
            "The reason",
            "Enter the reason for letting this student out",
        ),
        _ => ("This", "Fill this in"),
    };
    match &error.error {
        _ if blank => enter.to_owned(),
        InputError::Empty => enter.to_owned(),
        InputError::Explained(message) => sentence_case(message),
        other => format!("{the} {other}"),
    }
}

/// One window in a list: its name, state and times in words.
pub struct WindowLine {
    pub id: Uuid,
    pub name: String,
    pub state: String,
    pub state_class: &'static str,
    pub starts: String,
    pub ends: String,
    pub until_released: bool,
    /// "3 classes", or "2 classes and 1 group" before the start.
    pub classes: String,
}

impl WindowLine {
    /// `caught`: before the start, the classes its selections catch today (not yet its own).
    pub fn new(w: &Window, caught: &[Uuid]) -> Self {
        let mut count = w.classes.len();
        count += caught
            .iter()
            .filter(|c| !w.classes.iter().any(|k| k.id == **c))
            .count();
        let classes = match (
            count,
            w.state == WindowState::Scheduled && !w.selections.is_empty(),
        ) {
            (1, false) => "1 class".to_owned(),
            (n, false) => format!("{n} classes"),
            (1, true) => "1 class today, by group".to_owned(),
            (n, true) => format!("{n} classes today, by group"),
        };
        Self {
            id: w.id,
            name: w.name.clone(),
            state: state_words(w.state),
            state_class: state_class(w.state),
            starts: london_time(w.starts_at),
            ends: london_time(w.ends_at),
            until_released: w.until_released,
            classes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::windows::london_time::london_to_utc;

    #[test]
    fn a_form_time_carries_its_offset_only_in_the_repeated_hour() {
        let first = london_to_utc("2027-10-31T01:30+01:00").unwrap();
        let summer = london_to_utc("2027-06-15T10:00").unwrap();
        assert_eq!(
            form_time(first),
            ("2027-10-31T01:30".to_owned(), "+01:00".to_owned())
        );
        assert_eq!(
            form_time(summer),
            ("2027-06-15T10:00".to_owned(), String::new())
        );
    }

    #[test]
    fn a_hold_is_worded_by_its_state_in_uk_time() {
        let mut hold = Holding {
            id: Uuid::new_v4(),
            name: "Mock".to_owned(),
            ends_at: london_to_utc("2027-10-31T01:30+00:00").unwrap(),
            until_released: false,
            state: WindowState::Active,
        };
        assert_eq!(hold_until(&hold), "until 01:30 (GMT) on 31 October 2027");
        hold.until_released = true;
        assert_eq!(
            hold_until(&hold),
            "until 01:30 (GMT) on 31 October 2027, then until it is released"
        );
        hold.state = WindowState::Held;
        assert_eq!(
            hold_until(&hold),
            "until an Examinations Officer releases it"
        );
    }

    #[test]
    fn refusals_read_as_sentences_about_their_field() {
        let passed = InputError::Malformed("has already passed").on("starts_at");
        assert_eq!(
            field_message(&passed, false),
            "The start has already passed"
        );
        assert_eq!(
            field_message(&passed, true),
            "Enter the date and time it starts"
        );
        let empty = InputError::Empty.on("reason");
        assert_eq!(
            field_message(&empty, false),
            "Enter the reason for letting this student out"
        );
        let gap =
            InputError::Explained("2027-03-28 01:30:00 does not happen".into()).on("starts_at");
        assert_eq!(
            field_message(&gap, false),
            "2027-03-28 01:30:00 does not happen"
        );
    }
}
