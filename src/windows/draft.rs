//! A window as an Examinations Officer writes it, checked before anything is saved: every
//! refusal names the field it is about.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::london_time::london_to_utc;
use crate::input::{FieldError, InputError, single_line};

/// The longest window name.
pub const NAME_MAX_CHARS: usize = 200;
/// The longest note.
pub const NOTE_MAX_CHARS: usize = 2000;

/// A window's fields as sent (to create, preview or edit one). Times are Europe/London wall
/// clock (`2027-03-23T10:00`), with an offset only where the autumn's repeated hour needs one.
/// On an edit, an absent field keeps its value.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowFields {
    pub name: Option<String>,
    /// `null` clears the note on an edit.
    #[serde(default, with = "crate::tenancy::settings::double_option")]
    pub note: Option<Option<String>>,
    /// Class ids, chosen one by one.
    pub classes: Option<Vec<String>>,
    /// Whole groups of classes: a subject, a year group, or both.
    pub selections: Option<Vec<SelectionFields>>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    /// After `ends_at`, work stays locked until an officer releases the window.
    pub until_released: Option<bool>,
}

/// "All Year 11 Chemistry" as sent.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectionFields {
    pub subject_id: Option<String>,
    pub year_group: Option<i16>,
}

/// A group of classes, resolved to the classes that match it when the window starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Selection {
    pub subject_id: Option<Uuid>,
    pub year_group: Option<i16>,
}

/// A window's checked fields (times placed on the timeline; ids well formed, not yet looked up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub name: String,
    pub note: Option<String>,
    pub classes: Vec<Uuid>,
    pub selections: Vec<Selection>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub until_released: bool,
}

impl WindowFields {
    /// Whether this edit touches anything but the end (all a started window allows).
    pub fn changes_more_than_the_end(&self) -> bool {
        self.name.is_some()
            || self.note.is_some()
            || self.classes.is_some()
            || self.selections.is_some()
            || self.starts_at.is_some()
            || self.until_released.is_some()
    }

    /// Checks a whole new window, or an edit laid over `base` (the window as saved).
    /// `now` is when the request arrived: a start must be after it.
    pub fn check(&self, base: Option<&Draft>, now: DateTime<Utc>) -> Result<Draft, FieldError> {
        let name = match (&self.name, base) {
            (Some(raw), _) => single_line(raw, NAME_MAX_CHARS).map_err(|e| e.on("name"))?,
            (None, Some(b)) => b.name.clone(),
            (None, None) => return Err(InputError::Empty.on("name")),
        };
        let note = match (&self.note, base) {
            (Some(raw), _) => check_note(raw.as_deref())?,
            (None, Some(b)) => b.note.clone(),
            (None, None) => None,
        };
        let classes = match (&self.classes, base) {
            (Some(raw), _) => class_ids(raw)?,
            (None, Some(b)) => b.classes.clone(),
            (None, None) => Vec::new(),
        };
        let selections = match (&self.selections, base) {
            (Some(raw), _) => selections(raw)?,
            (None, Some(b)) => b.selections.clone(),
            (None, None) => Vec::new(),
        };
        if classes.is_empty() && selections.is_empty() {
            return Err(InputError::Malformed(
                "must include at least one class (or give a subject or year group in selections)",
            )
            .on("classes"));
        }
        let starts_at = match (&self.starts_at, base) {
            (Some(raw), _) => wall_clock(raw, "starts_at")?,
            (None, Some(b)) => b.starts_at,
            (None, None) => return Err(InputError::Empty.on("starts_at")),
        };
        if starts_at <= now {
            return Err(InputError::Malformed("has already passed").on("starts_at"));
        }
        let ends_at = self.end_over(base)?;
        if ends_at <= starts_at {
            return Err(InputError::Malformed("must be after the start").on("ends_at"));
        }
        Ok(Draft {
            name,
            note,
            classes,
            selections,
            starts_at,
            ends_at,
            until_released: self
                .until_released
                .or(base.map(|b| b.until_released))
                .unwrap_or(false),
        })
    }

    /// The end this edit gives (or `base` keeps).
    pub fn end_over(&self, base: Option<&Draft>) -> Result<DateTime<Utc>, FieldError> {
        match (&self.ends_at, base) {
            (Some(raw), _) => wall_clock(raw, "ends_at"),
            (None, Some(b)) => Ok(b.ends_at),
            (None, None) => Err(InputError::Empty.on("ends_at")),
        }
    }
}

fn check_note(raw: Option<&str>) -> Result<Option<String>, FieldError> {
    let Some(raw) = raw.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if raw.chars().count() > NOTE_MAX_CHARS {
        return Err(InputError::TooLong {
            max: NOTE_MAX_CHARS,
        }
        .on("note"));
    }
    // A note may run over several lines; nothing else that cannot be shown is kept.
    if raw
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(InputError::ControlCharacter.on("note"));
    }
    Ok(Some(raw.replace("\r\n", "\n")))
}

fn class_ids(raw: &[String]) -> Result<Vec<Uuid>, FieldError> {
    let mut ids = Vec::with_capacity(raw.len());
    for r in raw {
        let id = Uuid::parse_str(r.trim())
            .map_err(|_| InputError::Malformed("must each be a class id").on("classes"))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

fn selections(raw: &[SelectionFields]) -> Result<Vec<Selection>, FieldError> {
    let mut out: Vec<Selection> = Vec::with_capacity(raw.len());
    for s in raw {
        let subject_id = s
            .subject_id
            .as_deref()
            .map(|r| Uuid::parse_str(r.trim()))
            .transpose()
            .map_err(|_| {
                InputError::Malformed("must give subject_id as a subject's id").on("selections")
            })?;
        if let Some(year) = s.year_group
            && !crate::roster::placement::YEAR_GROUPS.contains(&year)
        {
            return Err(
                InputError::Malformed("must give year groups from 1 to 13").on("selections")
            );
        }
        if subject_id.is_none() && s.year_group.is_none() {
            return Err(
                InputError::Malformed("must each name a subject, a year group or both")
                    .on("selections"),
            );
        }
        let selection = Selection {
            subject_id,
            year_group: s.year_group,
        };
        if !out.contains(&selection) {
            out.push(selection);
        }
    }
    Ok(out)
}

fn wall_clock(raw: &str, field: &'static str) -> Result<DateTime<Utc>, FieldError> {
    london_to_utc(raw).map_err(|e| FieldError {
        field,
        error: InputError::Explained(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        london_to_utc("2027-01-10T09:00").unwrap()
    }

    fn fields() -> WindowFields {
        WindowFields {
            name: Some("Year 11 Chemistry practical".into()),
            classes: Some(vec![Uuid::new_v4().to_string()]),
            starts_at: Some("2027-03-23T10:00".into()),
            ends_at: Some("2027-03-23T11:30".into()),
            ..WindowFields::default()
        }
    }

    fn field_of(f: WindowFields) -> &'static str {
        f.check(None, now()).unwrap_err().field
    }

    #[test]
    fn a_good_window_is_placed_in_utc() {
        let d = fields().check(None, now()).unwrap();
        // 23 March 2027 is before the clocks change: GMT.
        assert_eq!(d.starts_at.to_rfc3339(), "2027-03-23T10:00:00+00:00");
        assert!(!d.until_released);
    }

    #[test]
    fn every_bad_field_is_named() {
        assert_eq!(
            field_of(WindowFields {
                name: Some("  ".into()),
                ..fields()
            }),
            "name"
        );
        assert_eq!(
            field_of(WindowFields {
                name: Some("x".repeat(201)),
                ..fields()
            }),
            "name"
        );
        assert_eq!(
            field_of(WindowFields {
                classes: Some(vec![]),
                ..fields()
            }),
            "classes"
        );
        assert_eq!(
            field_of(WindowFields {
                classes: Some(vec!["not-an-id".into()]),
                ..fields()
            }),
            "classes"
        );
        assert_eq!(
            field_of(WindowFields {
                ends_at: Some("2027-03-23T09:00".into()),
                ..fields()
            }),
            "ends_at"
        );
        assert_eq!(
            field_of(WindowFields {
                starts_at: Some("2027-01-09T10:00".into()),
                ..fields()
            }),
            "starts_at"
        );
        assert_eq!(
            field_of(WindowFields {
                starts_at: Some("Tuesday at ten".into()),
                ..fields()
            }),
            "starts_at"
        );
        assert_eq!(
            field_of(WindowFields {
                starts_at: Some("2027-03-28T01:30".into()),
                ends_at: Some("2027-03-28T03:00".into()),
                ..fields()
            }),
            "starts_at"
        );
        assert_eq!(
            field_of(WindowFields {
                starts_at: Some("2027-06-01T10:00+05:00".into()),
                ..fields()
            }),
            "starts_at"
        );
        assert_eq!(
            field_of(WindowFields {
                classes: None,
                selections: Some(vec![SelectionFields {
                    subject_id: None,
                    year_group: Some(14)
                }]),
                ..fields()
            }),
            "selections"
        );
    }

    #[test]
    fn an_edit_keeps_what_it_does_not_name() {
        let base = fields().check(None, now()).unwrap();
        let edit = WindowFields {
            ends_at: Some("2027-03-23T12:00".into()),
            note: Some(Some("Bring goggles".into())),
            ..WindowFields::default()
        };
        let edited = edit.check(Some(&base), now()).unwrap();
        assert_eq!(edited.name, base.name);
        assert_eq!(edited.classes, base.classes);
        assert_eq!(edited.note.as_deref(), Some("Bring goggles"));
        assert!(!edit.changes_more_than_the_end() || edit.note.is_some());
        let cleared = WindowFields {
            note: Some(None),
            ..WindowFields::default()
        };
        assert_eq!(cleared.check(Some(&edited), now()).unwrap().note, None);
    }
}
