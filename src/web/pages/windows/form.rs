//! Scheduling and editing a window (`/windows/new`, `/windows/{id}/edit`; Examinations
//! Officer): name, note, start, end, "until released", and its classes, ticked one by one
//! (grouped by subject and year) or as whole groups. "Preview" shows the form again with what
//! the window would lock beneath it, saving nothing; "Schedule window" / "Save changes" saves.
//!
//! The form is turned into the API's [`WindowFields`] and goes through the same domain calls as
//! `POST /api/windows` and `PUT /api/windows/{id}`, so it refuses exactly what they refuse; a
//! refusal shows the form again with the message beside its field and everything typed kept.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::preview::PreviewView;
use super::{WindowLine, field_message, form_time, london_time};
use crate::audit::Action;
use crate::auth::Permission;
use crate::input::{FieldError, InputError};
use crate::roster::placement::{self, PlacedClass};
use crate::tenancy::SchoolTx;
use crate::web::AppState;
use crate::web::error::{ApiError, PageError};
use crate::web::extract::CurrentStaff;
use crate::web::pages::form::{FormErrors, PageForm, reshow};
use crate::web::pages::{Layout, PageStaff, Section, render};
use crate::web::portfolios::parse_id;
use crate::web::windows::{record, schedule, visible_window};
use crate::windows::draft::{Draft, Selection, SelectionFields, WindowFields};
use crate::windows::london_time::{WallClockError, london_to_utc};
use crate::windows::{Editable, Window, WindowError, preview, store};

/// The form as sent, and as shown again. Times are `datetime-local` values (London's clock);
/// `*_offset` is chosen only in the autumn's repeated hour. `groups` are whole groups as
/// `subject-id/year` (either part may be empty).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WindowForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub starts_offset: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default)]
    pub ends_offset: String,
    #[serde(default)]
    pub until_released: Option<String>,
    #[serde(default)]
    pub classes: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// `preview` or `save`: which button was pressed.
    #[serde(default)]
    pub step: String,
}

/// A group's value in the form.
fn group_value(s: &Selection) -> String {
    format!(
        "{}/{}",
        s.subject_id.map(|id| id.to_string()).unwrap_or_default(),
        s.year_group.map(|y| y.to_string()).unwrap_or_default()
    )
}

/// Whether a wall-clock value is in the autumn's repeated hour (and so needs its offset).
fn repeated_hour(raw: &str) -> bool {
    matches!(london_to_utc(raw), Err(WallClockError::Ambiguous(_)))
}

/// A time as the API takes it: the value, with the offset chosen when it needs one.
fn wall_clock(raw: &str, offset: &str) -> String {
    let raw = raw.trim();
    if matches!(offset, "+01:00" | "+00:00") && repeated_hour(raw) {
        format!("{raw}{offset}")
    } else {
        raw.to_owned()
    }
}

impl WindowForm {
    /// A saved window, to edit.
    fn of(w: &Window, draft: &Draft) -> Self {
        let (starts_at, starts_offset) = form_time(w.starts_at);
        let (ends_at, ends_offset) = form_time(w.ends_at);
        Self {
            name: w.name.clone(),
            note: w.note.clone().unwrap_or_default(),
            starts_at,
            starts_offset,
            ends_at,
            ends_offset,
            until_released: w.until_released.then(|| "yes".to_owned()),
            classes: draft.classes.iter().map(Uuid::to_string).collect(),
            groups: draft.selections.iter().map(group_value).collect(),
            step: String::new(),
        }
    }

    /// The fields for the API's checks: everything (a new window, or an edit before the start;
    /// `editing` clears an emptied note), or only the end (a window under way).
    fn fields(&self, end_only: bool, editing: bool) -> Result<WindowFields, FieldError> {
        let ends_at = Some(wall_clock(&self.ends_at, &self.ends_offset));
        if end_only {
            return Ok(WindowFields {
                ends_at,
                ..WindowFields::default()
            });
        }
        let note = match (self.note.trim().is_empty(), editing) {
            (false, _) => Some(Some(self.note.clone())),
            (true, true) => Some(None),
            (true, false) => None,
        };
        let mut selections = Vec::with_capacity(self.groups.len());
        for raw in &self.groups {
            let unreadable = || {
                InputError::Malformed("could not be read: reload the page and try again")
                    .on("selections")
            };
            let (subject, year) = raw.split_once('/').ok_or_else(unreadable)?;
            selections.push(SelectionFields {
                subject_id: (!subject.is_empty()).then(|| subject.to_owned()),
                year_group: match year {
                    "" => None,
                    y => Some(y.parse().map_err(|_| unreadable())?),
                },
            });
        }
        Ok(WindowFields {
            name: Some(self.name.clone()),
            note,
            classes: Some(self.classes.clone()),
            selections: Some(selections),
            starts_at: Some(wall_clock(&self.starts_at, &self.starts_offset)),
            ends_at,
            until_released: Some(self.until_released.is_some()),
        })
    }

    /// Whether the person left `field` empty.
    fn blank(&self, field: &str) -> bool {
        match field {
            "name" => self.name.trim().is_empty(),
            "starts_at" => self.starts_at.trim().is_empty(),
            "ends_at" => self.ends_at.trim().is_empty(),
            "classes" | "selections" => self.classes.is_empty() && self.groups.is_empty(),
            _ => false,
        }
    }

    /// The page's message for a field's refusal.
    fn message(&self, error: &FieldError) -> String {
        let (raw, offset) = match error.field {
            "starts_at" => (&self.starts_at, &self.starts_offset),
            "ends_at" => (&self.ends_at, &self.ends_offset),
            _ => return field_message(error, self.blank(error.field)),
        };
        if repeated_hour(raw) && offset.is_empty() {
            "That time happens twice that night, as the clocks go back: choose which one below"
                .to_owned()
        } else {
            field_message(error, self.blank(error.field))
        }
    }

    /// A domain refusal as messages on the form (or, for what the form cannot fix, a page).
    fn refusal(&self, error: WindowError) -> Result<FormErrors, PageError> {
        match error {
            WindowError::Input(f) => {
                let mut errors = FormErrors::none();
                errors.add(f.field, self.message(&f));
                Ok(errors)
            }
            other => FormErrors::from_refusal(ApiError::from(other)),
        }
    }
}

/// One checkbox.
pub struct Choice {
    /// The element's id (for its label).
    pub id: String,
    /// The form field it sends: `classes` (one class) or `groups` (a whole group).
    pub name: &'static str,
    pub value: String,
    pub label: String,
    pub checked: bool,
}

/// A year's classes within a subject, with the box for all of them.
pub struct YearChoices {
    pub label: String,
    pub all: Option<Choice>,
    pub classes: Vec<Choice>,
}

/// A subject's classes by year, with the box for all of them.
pub struct SubjectChoices {
    pub label: String,
    pub all: Option<Choice>,
    pub years: Vec<YearChoices>,
    /// How many boxes are ticked inside: the group starts open when any is.
    pub ticked: usize,
}

/// Every current class as boxes to tick, grouped by subject and year, and the groups.
pub struct ClassChoices {
    pub years: Vec<Choice>,
    pub subjects: Vec<SubjectChoices>,
    /// Groups saved on the window that no class matches today (kept, so saving loses nothing).
    pub others: Vec<Choice>,
    pub any: bool,
}

impl ClassChoices {
    /// Every current class as boxes, ticked as `form` has them.
    async fn load(tx: &mut SchoolTx, form: &WindowForm) -> Result<Self, sqlx::Error> {
        let classes: Vec<PlacedClass> = placement::classes(tx, None)
            .await?
            .into_iter()
            .filter(|c| c.active)
            .collect();
        let mut boxes = GroupBoxes::new(&form.groups);
        let years = year_choices(&classes, &mut boxes);
        let subjects = by_subject(&classes)
            .into_iter()
            .map(|(subject, years_of)| subject_choices(subject, years_of, form, &mut boxes))
            .collect();
        let others = unmatched_groups(tx, &form.groups, &boxes.offered).await?;
        Ok(Self {
            any: !classes.is_empty(),
            years,
            subjects,
            others,
        })
    }
}

/// Hands out the boxes for whole groups: numbers their ids, ticks those the form has, and
/// remembers which groups were offered (a saved group no class matches is shown apart).
struct GroupBoxes<'f> {
    ticked: &'f [String],
    offered: Vec<String>,
}

impl<'f> GroupBoxes<'f> {
    fn new(ticked: &'f [String]) -> Self {
        Self {
            ticked,
            offered: Vec::new(),
        }
    }

    fn choice(&mut self, value: String, label: String) -> Choice {
        self.offered.push(value.clone());
        Choice {
            id: format!("group-{}", self.offered.len()),
            name: "groups",
            checked: self.ticked.contains(&value),
            value,
            label,
        }
    }
}

/// "All of Year 10", for each year group that has a class.
fn year_choices(classes: &[PlacedClass], boxes: &mut GroupBoxes) -> Vec<Choice> {
    let mut year_numbers: Vec<i16> = classes.iter().filter_map(|c| c.year_group).collect();
    year_numbers.sort_unstable();
    year_numbers.dedup();
    year_numbers
        .iter()
        .map(|y| boxes.choice(format!("/{y}"), format!("All of Year {y}")))
        .collect()
}

/// A subject as sorted: no subject last, then by name (its id keeps two of one name apart).
type SubjectKey = (bool, String, Option<Uuid>);
/// A year as sorted: no year group last.
type YearKey = (bool, i16);

/// The classes by subject, then by year, in the order the form shows them.
fn by_subject(
    classes: &[PlacedClass],
) -> BTreeMap<SubjectKey, BTreeMap<YearKey, Vec<&PlacedClass>>> {
    let mut grouped: BTreeMap<SubjectKey, BTreeMap<YearKey, Vec<&PlacedClass>>> = BTreeMap::new();
    for c in classes {
        grouped
            .entry((
                c.subject_id.is_none(),
                c.subject.clone().unwrap_or_default(),
                c.subject_id,
            ))
            .or_default()
            .entry((c.year_group.is_none(), c.year_group.unwrap_or_default()))
            .or_default()
            .push(c);
    }
    grouped
}

/// One subject's boxes: all of it, and each year's "all" box and classes.
fn subject_choices(
    (_, name, subject_id): SubjectKey,
    years_of: BTreeMap<YearKey, Vec<&PlacedClass>>,
    form: &WindowForm,
    boxes: &mut GroupBoxes,
) -> SubjectChoices {
    let all = subject_id.map(|id| boxes.choice(format!("{id}/"), format!("All {name}")));
    let mut ticked = usize::from(all.as_ref().is_some_and(|c| c.checked));
    let mut years = Vec::new();
    for ((no_year, year), in_year) in years_of {
        let year = (!no_year).then_some(year);
        let all = match (subject_id, year) {
            (Some(id), Some(y)) => {
                Some(boxes.choice(format!("{id}/{y}"), format!("All Year {y} {name}")))
            }
            _ => None,
        };
        let classes: Vec<Choice> = in_year
            .iter()
            .map(|c| Choice {
                id: format!("class-{}", c.id),
                name: "classes",
                value: c.id.to_string(),
                label: c.name.clone(),
                checked: form.classes.contains(&c.id.to_string()),
            })
            .collect();
        ticked += classes.iter().filter(|c| c.checked).count()
            + usize::from(all.as_ref().is_some_and(|c| c.checked));
        years.push(YearChoices {
            label: year.map_or_else(|| "No year group yet".to_owned(), |y| format!("Year {y}")),
            all,
            classes,
        });
    }
    SubjectChoices {
        label: if subject_id.is_some() {
            name
        } else {
            "No subject yet".to_owned()
        },
        all,
        years,
        ticked,
    }
}

/// The groups ticked that no box offers (saved on the window, no class in them today), kept
/// ticked so saving loses nothing.
async fn unmatched_groups(
    tx: &mut SchoolTx,
    ticked: &[String],
    offered: &[String],
) -> Result<Vec<Choice>, sqlx::Error> {
    let mut others = Vec::new();
    for (i, value) in ticked.iter().filter(|g| !offered.contains(g)).enumerate() {
        let label = match parse_group(value) {
            Some(s) => store::selection_labels(tx, &[s])
                .await?
                .pop()
                .unwrap_or_default(),
            None => value.clone(),
        };
        others.push(Choice {
            id: format!("other-group-{i}"),
            name: "groups",
            label: format!("{label} (no class matches it today)"),
            value: value.clone(),
            checked: true,
        });
    }
    Ok(others)
}

/// A group's value read back, for naming a saved group no class matches.
fn parse_group(value: &str) -> Option<Selection> {
    let (subject, year) = value.split_once('/')?;
    Some(Selection {
        subject_id: match subject {
            "" => None,
            s => Some(Uuid::parse_str(s).ok()?),
        },
        year_group: match year {
            "" => None,
            y => Some(y.parse().ok()?),
        },
    })
}

/// The schedule / edit form (`/windows/new`, `/windows/{id}/edit`), with its errors beside
/// their fields and, after "Preview", what the window would lock.
#[derive(Template)]
#[template(path = "windows_form.html")]
pub struct FormPage {
    pub layout: Layout,
    pub heading: String,
    pub action: String,
    pub submit: &'static str,
    /// Where "Back" goes: the list, or the window.
    pub back: String,
    /// A window under way: only its end may move; the rest is shown, not editable.
    pub under_way: Option<WindowLine>,
    pub form: WindowForm,
    pub errors: FormErrors,
    pub starts_offset_choice: bool,
    pub ends_offset_choice: bool,
    pub choices: ClassChoices,
    pub preview: Option<PreviewView>,
    pub csrf_token: String,
}

/// What the form is for.
enum Purpose {
    New,
    /// An edit of a saved window (its state says how much of it).
    Edit(Box<Window>),
}

impl Purpose {
    /// The window being edited, if any.
    fn window(&self) -> Option<&Window> {
        match self {
            Self::New => None,
            Self::Edit(w) => Some(w),
        }
    }
}

impl FormPage {
    async fn new(
        tx: &mut SchoolTx,
        staff: &CurrentStaff,
        purpose: &Purpose,
        form: WindowForm,
        errors: FormErrors,
        preview: Option<PreviewView>,
    ) -> Result<Self, PageError> {
        let choices = ClassChoices::load(tx, &form).await?;
        let (heading, action, submit, back, under_way) = match purpose {
            Purpose::New => (
                "Schedule a window".to_owned(),
                "/windows/new".to_owned(),
                "Schedule window",
                "/windows".to_owned(),
                None,
            ),
            Purpose::Edit(w) => (
                format!("Edit “{}”", w.name),
                format!("/windows/{}/edit", w.id),
                "Save changes",
                format!("/windows/{}", w.id),
                (w.state.editable() == Editable::EndOnly).then(|| WindowLine::new(w, &[])),
            ),
        };
        Ok(Self {
            layout: Layout::for_staff(staff, Section::Windows),
            heading,
            action,
            submit,
            back,
            under_way,
            starts_offset_choice: repeated_hour(&form.starts_at),
            ends_offset_choice: repeated_hour(&form.ends_at),
            form,
            errors,
            choices,
            preview,
            csrf_token: staff.csrf_token.clone(),
        })
    }
}

/// `GET /windows/new`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn new_form(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
) -> Result<Html<String>, PageError> {
    staff.require(Permission::ManageWindows)?;
    let mut tx = staff.school_tx(&state).await?;
    let page = FormPage::new(
        &mut tx,
        &staff,
        &Purpose::New,
        WindowForm::default(),
        FormErrors::none(),
        None,
    )
    .await?;
    tx.commit().await?;
    render(&page)
}

/// `POST /windows/new`: a preview, or the new window saved.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn new_submit(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    PageForm(form): PageForm<WindowForm>,
) -> Result<Response, PageError> {
    staff.require(Permission::ManageWindows)?;
    submit(&state, &staff, Purpose::New, form).await
}

/// `GET /windows/{id}/edit`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn edit_form(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path(raw_id): Path<String>,
) -> Result<Html<String>, PageError> {
    staff.require(Permission::ManageWindows)?;
    let id = parse_id(&raw_id)?;
    let mut tx = staff.school_tx(&state).await?;
    let window = visible_window(&mut tx, &staff, id).await?;
    if window.state.editable() == Editable::Nothing {
        return Err(no_longer_editable(&window));
    }
    let draft = store::draft_of(&mut tx, &window).await?;
    let form = WindowForm::of(&window, &draft);
    record(
        &mut tx,
        &staff,
        Action::WindowViewed,
        Some(id),
        json!({"page": "edit"}),
    )
    .await?;
    let page = FormPage::new(
        &mut tx,
        &staff,
        &Purpose::Edit(Box::new(window)),
        form,
        FormErrors::none(),
        None,
    )
    .await?;
    tx.commit().await?;
    render(&page)
}

/// `POST /windows/{id}/edit`: a preview, or the changes saved.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn edit_submit(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path(raw_id): Path<String>,
    PageForm(form): PageForm<WindowForm>,
) -> Result<Response, PageError> {
    staff.require(Permission::ManageWindows)?;
    let id = parse_id(&raw_id)?;
    let mut tx = staff.school_tx(&state).await?;
    let window = visible_window(&mut tx, &staff, id).await?;
    tx.commit().await?;
    submit(&state, &staff, Purpose::Edit(Box::new(window)), form).await
}

/// The page for a window that is held, over or cancelled (the domain refuses any edit).
fn no_longer_editable(w: &Window) -> PageError {
    PageError::new(
        axum::http::StatusCode::CONFLICT,
        "This window can no longer be changed",
        format!(
            "“{}” is {}: it can no longer be changed. Nothing was saved.",
            w.name,
            w.state.label()
        ),
    )
    .with_action("/windows", "Back to the windows")
}

/// The form sent: "Preview" or "Schedule window" / "Save changes". What either step cannot read
/// (a window that can no longer change, a tampered group) is refused first.
async fn submit(
    state: &AppState,
    staff: &CurrentStaff,
    purpose: Purpose,
    form: WindowForm,
) -> Result<Response, PageError> {
    let editable = match &purpose {
        Purpose::New => Editable::Everything,
        Purpose::Edit(w) => w.state.editable(),
    };
    if let Purpose::Edit(w) = &purpose
        && editable == Editable::Nothing
    {
        return Err(no_longer_editable(w));
    }
    let mut tx = staff.school_tx(state).await?;
    let previewing = form.step == "preview";
    if previewing && editable != Editable::Everything {
        // It started while the form was open: show the form as it is now, saving nothing.
        let mut errors = FormErrors::none();
        errors.add_general(
            "The window has started since you opened this page: only its end can move now. \
             Nothing was saved.",
        );
        return again(&mut tx, staff, &purpose, form, errors).await;
    }
    // The form's own reading (a tampered group) is refused like the API's checks.
    let editing = purpose.window().is_some();
    let fields = match form.fields(editable == Editable::EndOnly, editing) {
        Ok(fields) => fields,
        Err(e) => {
            let errors = form.refusal(WindowError::Input(e))?;
            return again(&mut tx, staff, &purpose, form, errors).await;
        }
    };
    if previewing {
        preview_step(tx, staff, &purpose, form, &fields).await
    } else {
        save_step(state, tx, staff, purpose, form, &fields).await
    }
}

/// The form shown again (422) with `errors`; nothing is saved.
async fn again(
    tx: &mut SchoolTx,
    staff: &CurrentStaff,
    purpose: &Purpose,
    form: WindowForm,
    errors: FormErrors,
) -> Result<Response, PageError> {
    let page = FormPage::new(tx, staff, purpose, form, errors, None).await?;
    Ok(reshow(render(&page)?))
}

/// "Preview": the form again with what the window would lock beneath it. It is checked as
/// saving would check it (so a preview refuses what saving refuses), and only the audit entry
/// of the preview is written, as the API's preview writes it.
async fn preview_step(
    mut tx: SchoolTx,
    staff: &CurrentStaff,
    purpose: &Purpose,
    form: WindowForm,
    fields: &WindowFields,
) -> Result<Response, PageError> {
    let editing = purpose.window();
    let base = match editing {
        Some(w) => Some(store::draft_of(&mut tx, w).await?),
        None => None,
    };
    let draft = match store::check(&mut tx, fields, base.as_ref(), Utc::now()).await {
        Ok(draft) => draft,
        Err(e) => {
            let errors = form.refusal(e)?;
            return again(&mut tx, staff, purpose, form, errors).await;
        }
    };
    let p = preview::preview(&mut tx, &draft, editing.map(|w| w.id)).await?;
    record(
        &mut tx,
        staff,
        Action::WindowPreviewed,
        editing.map(|w| w.id),
        json!({"classes": p.classes.len(), "will_lock": p.will_lock}),
    )
    .await?;
    let view = PreviewView {
        when: format!(
            "{} to {}",
            london_time(draft.starts_at),
            london_time(draft.ends_at)
        ),
        ..PreviewView::new(&p, None)
    };
    let page = FormPage::new(
        &mut tx,
        staff,
        purpose,
        form,
        FormErrors::none(),
        Some(view),
    )
    .await?;
    let html = render(&page)?;
    tx.commit().await?;
    Ok(html.into_response())
}

/// "Schedule window" / "Save changes": saved by the domain calls of `POST /api/windows` and
/// `PUT /api/windows/{id}`, then to the window's page with a notice; a refusal shows the form
/// again with nothing saved.
async fn save_step(
    state: &AppState,
    mut tx: SchoolTx,
    staff: &CurrentStaff,
    purpose: Purpose,
    form: WindowForm,
    fields: &WindowFields,
) -> Result<Response, PageError> {
    let now = Utc::now();
    let saved = match purpose.window() {
        None => store::create(&mut tx, staff.staff.id, fields, now).await,
        Some(w) => store::edit(&mut tx, staff.staff.id, w.id, fields, now)
            .await
            .map(|edited| edited.window),
    };
    let refused = match saved {
        Ok(window) => {
            tx.commit().await?;
            schedule(state, staff, &window).await;
            let done = match purpose {
                Purpose::New => "scheduled",
                Purpose::Edit(_) => "saved",
            };
            return Ok(crate::web::pages::form::done(
                &format!("/windows/{}", window.id),
                done,
            ));
        }
        Err(refused) => refused,
    };
    // Nothing was written: the domain refuses before it writes, and the transaction is rolled
    // back in any case.
    drop(tx);
    let errors = form.refusal(refused)?;
    let mut tx = staff.school_tx(state).await?;
    // A window that started while the form was open is shown as it is now.
    let purpose = match purpose {
        Purpose::Edit(w) => Purpose::Edit(Box::new(visible_window(&mut tx, staff, w.id).await?)),
        new => new,
    };
    let page = FormPage::new(&mut tx, staff, &purpose, form, errors, None).await?;
    tx.commit().await?;
    Ok(reshow(render(&page)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_becomes_the_apis_fields() {
        let subject = Uuid::new_v4();
        let form = WindowForm {
            name: "Mock".into(),
            starts_at: "2031-10-26T01:30".into(),
            starts_offset: "+00:00".into(),
            ends_at: "2031-10-26T03:00".into(),
            ends_offset: "+01:00".into(),
            until_released: Some("yes".into()),
            groups: vec![format!("{subject}/11"), "/10".into()],
            ..WindowForm::default()
        };
        let fields = form.fields(false, false).unwrap();
        // The offset is added only where the clock needs it.
        assert_eq!(fields.starts_at.as_deref(), Some("2031-10-26T01:30+00:00"));
        assert_eq!(fields.ends_at.as_deref(), Some("2031-10-26T03:00"));
        assert_eq!(fields.until_released, Some(true));
        assert_eq!(fields.note, None);
        let selections = fields.selections.unwrap();
        assert_eq!(selections[0].subject_id, Some(subject.to_string()));
        assert_eq!(selections[0].year_group, Some(11));
        assert_eq!(selections[1].subject_id, None);
        assert_eq!(
            form.fields(false, true).unwrap().note,
            Some(None),
            "an emptied note clears"
        );
        let end_only = form.fields(true, true).unwrap();
        assert!(!end_only.changes_more_than_the_end());
        let tampered = WindowForm {
            groups: vec!["nonsense".into()],
            ..form
        };
        assert_eq!(
            tampered.fields(false, false).unwrap_err().field,
            "selections"
        );
    }
}
