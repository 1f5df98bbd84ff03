//! Assessment windows: Examinations Officers schedule the locking of whole classes for a time.
//!
//! - [`draft`] checks a window as an officer writes it; [`london_time`] places its wall-clock
//!   times on the timeline.
//! - [`store`] saves, edits, cancels, releases and lists windows, each step audited.
//! - [`transitions`] starts and ends windows: each a guarded `UPDATE` of the window's state, so
//!   it happens once however many workers try; a job at the instant makes it on time and the
//!   timer's tick catches up after an outage.
//! - [`coverage`] says which folders windows hold, and asks the lock pipeline for the state
//!   each folder should be in: locked while any window holds it or staff locked it by hand.
//! - [`preview`] shows what a window would lock before it is saved; [`calendar`] is the
//!   officers' iCalendar feed.

pub mod calendar;
pub mod coverage;
pub mod draft;
pub mod london_time;
pub mod preview;
pub mod store;
pub mod transitions;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::input::FieldError;

/// Where a window is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum WindowState {
    /// Waiting for its start; may still be edited or cancelled.
    Scheduled,
    /// Its classes are locked; only its end may move.
    Active,
    /// An "until released" window past its deadline: locked until an officer releases it.
    Held,
    /// Over, and its folders returned to what they were.
    Ended,
    /// Called off (before its start, or during it, which unlocks).
    Cancelled,
}

impl WindowState {
    /// Whether the window holds its folders locked now.
    pub fn holds(self) -> bool {
        matches!(self, Self::Active | Self::Held)
    }

    /// Whether a window in this state may still be called off.
    pub fn cancellable(self) -> bool {
        matches!(self, Self::Scheduled | Self::Active | Self::Held)
    }

    /// What an edit may change in a window in this state.
    pub fn editable(self) -> Editable {
        match self {
            Self::Scheduled => Editable::Everything,
            Self::Active => Editable::EndOnly,
            Self::Held | Self::Ended | Self::Cancelled => Editable::Nothing,
        }
    }

    /// The word for this state in messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Active => "in progress",
            Self::Held => "waiting to be released",
            Self::Ended => "over",
            Self::Cancelled => "cancelled",
        }
    }
}

/// What an edit may change, by the window's state: everything before the start, only the end
/// while it runs, nothing once it is held, over or cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Editable {
    Everything,
    EndOnly,
    Nothing,
}

/// A saved window, as the API shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Window {
    pub id: Uuid,
    pub name: String,
    pub note: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub until_released: bool,
    pub state: WindowState,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub finished_by: Option<Uuid>,
    /// The start and end as London's clocks show them (with the offset in force).
    #[sqlx(skip)]
    pub starts_local: String,
    #[sqlx(skip)]
    pub ends_local: String,
    /// Classes chosen one by one, and (once started) those its selections caught.
    #[sqlx(skip)]
    pub classes: Vec<WindowClass>,
    /// How many more classes it covers than the reader may see ([`Window::narrowed_to`]).
    #[sqlx(skip)]
    pub other_classes: usize,
    #[sqlx(skip)]
    pub selections: Vec<draft::Selection>,
}

impl Window {
    /// The window as a reader whose class scope is `visible` (`None`: every class) may see
    /// it: only their classes by name, the rest counted in `other_classes`. A teacher learns
    /// that a window reaches further than their classes, not which classes (as the window's
    /// page shows it).
    pub fn narrowed_to(mut self, visible: Option<&[Uuid]>) -> Self {
        if let Some(visible) = visible {
            let before = self.classes.len();
            self.classes.retain(|c| visible.contains(&c.id));
            self.other_classes += before - self.classes.len();
        }
        self
    }

    /// Whether an officer may release it now: an "until released" window that holds its
    /// folders (active, or held past its deadline).
    pub fn releasable(&self) -> bool {
        self.until_released && self.state.holds()
    }

    /// Why it cannot be cancelled now ("“Mock” is already over"), or `None` when it can. The
    /// refusal of [`store::cancel`], and what the pages say before offering the button.
    pub fn why_not_cancellable(&self) -> Option<String> {
        (!self.state.cancellable())
            .then(|| format!("“{}” is already {}", self.name, self.state.label()))
    }

    /// Why it cannot be released now, or `None` when it can: the refusal of
    /// [`store::release`], and what the pages say.
    pub fn why_not_releasable(&self) -> Option<String> {
        if self.releasable() {
            None
        } else if self.until_released {
            Some(format!(
                "“{}” is {}: there is nothing to release",
                self.name,
                self.state.label()
            ))
        } else {
            Some(format!(
                "“{}” ends by itself at its end time; to end it now, cancel it",
                self.name
            ))
        }
    }
}

/// One class of a window.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct WindowClass {
    pub id: Uuid,
    pub name: String,
    /// Chosen by the officer (rather than caught by a selection).
    pub chosen: bool,
}

/// A window holding a folder or class, for the messages that refuse an unlock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Holding {
    pub id: Uuid,
    pub name: String,
    pub ends_at: DateTime<Utc>,
    pub until_released: bool,
    pub state: WindowState,
}

impl Holding {
    /// "“Year 11 Chemistry” is in progress until 11:30 on 23 March"; the window is named, so
    /// a teacher knows whom to ask.
    pub fn describe(&self) -> String {
        let end = self
            .ends_at
            .with_timezone(&chrono_tz::Europe::London)
            .format("%H:%M on %-d %B %Y");
        match (self.state, self.until_released) {
            (WindowState::Held, _) => format!(
                "the assessment window “{}” keeps this work locked until an Examinations Officer releases it",
                self.name
            ),
            (_, true) => format!(
                "the assessment window “{}” is in progress until {end}, and then until it is released",
                self.name
            ),
            _ => format!(
                "the assessment window “{}” is in progress until {end}",
                self.name
            ),
        }
    }
}

/// Why a window could not be saved or changed.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    #[error(transparent)]
    Input(#[from] FieldError),
    #[error("no such window")]
    NotFound,
    /// The request does not fit the window's state; the text says what would.
    #[error("{0}")]
    WrongState(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<crate::portfolio::lock::RequestError> for WindowError {
    fn from(e: crate::portfolio::lock::RequestError) -> Self {
        use crate::portfolio::lock::RequestError as R;
        match e {
            R::Database(d) => Self::Database(d),
            // A window's requests never refuse: they ask only for what is needed.
            R::NotFound | R::NoFolder => Self::NotFound,
        }
    }
}
