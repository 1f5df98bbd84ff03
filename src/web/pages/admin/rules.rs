//! `/admin/rules`: where classes belong. The subject rules and the year rules (ordered patterns
//! on a class's name or section: add, change, remove, move up or down, apply to every class
//! now), a preview of the classes a new rule would catch (as you type, through
//! `/admin/rules/preview`, or with the Preview button), and every class with its subject and
//! year and what placed it there, with the class's own override.
//!
//! Every change goes through the domain functions the JSON API calls (`roster::placement`), which
//! place every class again and audit the change; the preview uses the domain's own matching.

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use uuid::Uuid;

use super::{ButtonOnly, ConfirmForm, ConfirmPage, DoneQuery, confirmed, done, on_form};
use crate::auth::roles::Permission;
use crate::roster::placement::{
    self, Caught, ExplainedClass, Override, Placement, Rule, RuleKind, Rules, YEAR_GROUPS,
};
use crate::web::AppState;
use crate::web::class_rules::{kind_from, new_rule_placement};
use crate::web::error::{ApiError, PageError};
use crate::web::extract::CurrentStaff;
use crate::web::pages::form::{FormErrors, PageForm, reshow};
use crate::web::pages::{AdminTab, Layout, NavLink, PageStaff, Section, render};
use crate::web::portfolios::parse_id;

/// The page's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/rules", get(show))
        .route("/admin/rules/preview", get(preview_fragment))
        .route("/admin/rules/apply", post(apply))
        .route("/admin/rules/classes/{id}", post(set_override))
        .route("/admin/rules/{kind}", post(add))
        .route("/admin/rules/{kind}/order", post(reorder))
        .route("/admin/rules/{kind}/{id}", post(change))
        .route("/admin/rules/{kind}/{id}/delete", post(remove))
}

const PAGE: &str = "/admin/rules";

/// One rule as the page lists it.
pub struct RuleRow {
    pub id: Uuid,
    pub pattern: String,
    /// "Chemistry" or "Year 11".
    pub gives: String,
    /// What the edit form starts with: the subject's name or the year's number.
    pub value: String,
    /// The rules' ids in the order moving this one up (or down) makes; none at the top (bottom).
    pub up: Option<Vec<Uuid>>,
    pub down: Option<Vec<Uuid>>,
    /// How many classes this rule places now.
    pub places: usize,
}

/// One class in the list.
pub struct ClassRow {
    pub id: Uuid,
    pub name: String,
    pub section: Option<String>,
    pub active: bool,
    pub subject: String,
    pub subject_why: String,
    pub year: String,
    pub year_why: String,
    /// The override form's starting values: the class's own subject and year, if set.
    pub own_subject: String,
    pub own_year: String,
    /// Placed by the rule just added or changed (to point it out).
    pub just_placed: bool,
}

impl ClassRow {
    fn new(c: ExplainedClass, highlight: Option<Uuid>) -> Self {
        let by_rule = |rule: &Option<String>| match rule {
            Some(pattern) => format!("by the rule “{pattern}”"),
            None => "no rule matches".to_owned(),
        };
        let subject_why = if c.class.subject_overridden {
            "set by hand for this class".to_owned()
        } else {
            by_rule(&c.subject_rule)
        };
        let year_why = if c.class.year_group_overridden {
            "set by hand for this class".to_owned()
        } else {
            by_rule(&c.year_group_rule)
        };
        let just_placed = highlight.is_some()
            && (c.subject_rule_id == highlight || c.year_group_rule_id == highlight);
        let subject = c.class.subject.clone().unwrap_or_else(|| "None".to_owned());
        let year = c
            .class
            .year_group
            .map(|y| format!("Year {y}"))
            .unwrap_or_else(|| "No year".to_owned());
        Self {
            id: c.class.id,
            own_subject: if c.class.subject_overridden {
                c.class.subject.clone().unwrap_or_default()
            } else {
                String::new()
            },
            own_year: if c.class.year_group_overridden {
                c.class
                    .year_group
                    .map(|y| y.to_string())
                    .unwrap_or_default()
            } else {
                String::new()
            },
            name: c.class.name,
            section: c.class.section.filter(|s| !s.is_empty()),
            active: c.class.active,
            subject,
            subject_why,
            year,
            year_why,
            just_placed,
        }
    }
}

/// What a new rule's form holds: as typed, or empty.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct RuleForm {
    pattern: String,
    subject: String,
    year_group: String,
    /// Set by the Preview button: show what the rule would catch, save nothing.
    preview: Option<String>,
}

/// A change to one rule, as typed.
pub struct EditForm {
    pub rule: Uuid,
    pub pattern: String,
    pub value: String,
}

/// A class's own placement, as typed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OverrideForm {
    subject: String,
    year_group: String,
}

/// The override form being shown again, for its class.
pub struct OverrideTyped {
    pub class: Uuid,
    pub subject: String,
    pub year: String,
}

/// The classes a rule being written would catch.
#[derive(Template)]
#[template(path = "admin_rule_preview.html")]
pub struct Preview {
    pub pattern: String,
    /// "Year 11" or "Chemistry"; what the rule would give.
    pub gives: String,
    pub caught: Vec<CaughtRow>,
    /// Why there is nothing to show (an unusable pattern).
    pub problem: Option<String>,
}

/// A class the preview lists.
pub struct CaughtRow {
    pub name: String,
    pub now: String,
    pub outcome: String,
    pub placed: bool,
}

/// Which form the page's errors belong to, so the right one is open and marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    NewSubjectRule,
    NewYearRule,
    Edit,
    Order,
    Override,
}

#[derive(Template)]
#[template(path = "admin_rules.html")]
pub struct RulesPage {
    pub layout: Layout,
    pub tabs: Vec<NavLink>,
    pub csrf_token: String,
    pub notice: Option<&'static str>,
    pub errors: FormErrors,
    pub failed: Option<Failed>,
    pub subject_rules: Vec<RuleRow>,
    pub year_rules: Vec<RuleRow>,
    pub subject_form: RuleForm,
    pub year_form: RuleForm,
    pub subject_preview: Option<Preview>,
    pub year_preview: Option<Preview>,
    pub edit: Option<EditForm>,
    pub override_typed: Option<OverrideTyped>,
    pub classes: Vec<ClassRow>,
    pub subjects: Vec<String>,
    pub years: Vec<i16>,
}

impl RulesPage {
    /// The override form's starting values for `class`: as typed if it came back, else saved.
    pub fn override_values(&self, class: &ClassRow) -> (String, String) {
        match &self.override_typed {
            Some(t) if t.class == class.id => (t.subject.clone(), t.year.clone()),
            _ => (class.own_subject.clone(), class.own_year.clone()),
        }
    }

    /// The edit form's starting values for `rule`.
    pub fn edit_values(&self, rule: &RuleRow) -> (String, String) {
        match &self.edit {
            Some(e) if e.rule == rule.id => (e.pattern.clone(), e.value.clone()),
            _ => (rule.pattern.clone(), rule.value.clone()),
        }
    }

    /// Whether `rule`'s edit form is the one that came back with errors.
    pub fn editing(&self, rule: &RuleRow) -> bool {
        self.failed == Some(Failed::Edit) && self.edit.as_ref().is_some_and(|e| e.rule == rule.id)
    }

    /// Whether `class`'s override form is the one that came back with errors.
    pub fn overriding(&self, class: &ClassRow) -> bool {
        self.failed == Some(Failed::Override)
            && self
                .override_typed
                .as_ref()
                .is_some_and(|o| o.class == class.id)
    }
}

/// What every showing of the page reads.
struct Loaded {
    rules: Rules,
    classes: Vec<ExplainedClass>,
    subjects: Vec<String>,
}

async fn load(state: &AppState, staff: &CurrentStaff) -> Result<Loaded, PageError> {
    staff.require(Permission::ManageSettings)?;
    let mut tx = staff.school_tx(state).await?;
    let rules = placement::list(&mut tx).await?;
    let classes = placement::explained_classes(&mut tx).await?;
    let subjects = placement::subjects(&mut tx).await?;
    tx.commit().await?;
    Ok(Loaded {
        rules,
        classes,
        subjects: subjects.into_iter().map(|s| s.name).collect(),
    })
}

fn rule_rows(rules: &[Rule], kind: RuleKind, classes: &[ExplainedClass]) -> Vec<RuleRow> {
    let ids: Vec<Uuid> = rules.iter().map(|r| r.id).collect();
    let swapped = |a: usize, b: usize| {
        let mut order = ids.clone();
        order.swap(a, b);
        order
    };
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (gives, value) = match kind {
                RuleKind::Subject => {
                    let name = r.subject.clone().unwrap_or_default();
                    (name.clone(), name)
                }
                RuleKind::YearGroup => {
                    let year = r.year_group.unwrap_or_default();
                    (format!("Year {year}"), year.to_string())
                }
            };
            let places = classes
                .iter()
                .filter(|c| match kind {
                    RuleKind::Subject => c.subject_rule_id == Some(r.id),
                    RuleKind::YearGroup => c.year_group_rule_id == Some(r.id),
                })
                .count();
            RuleRow {
                id: r.id,
                pattern: r.pattern.clone(),
                gives,
                value,
                up: (i > 0).then(|| swapped(i - 1, i)),
                down: (i + 1 < ids.len()).then(|| swapped(i, i + 1)),
                places,
            }
        })
        .collect()
}

/// Everything the page needs but what a form brings.
fn page(
    staff: &CurrentStaff,
    loaded: Loaded,
    notice: Option<&'static str>,
    highlight: Option<Uuid>,
) -> RulesPage {
    let subject_rules = rule_rows(
        &loaded.rules.subject_rules,
        RuleKind::Subject,
        &loaded.classes,
    );
    let year_rules = rule_rows(
        &loaded.rules.year_group_rules,
        RuleKind::YearGroup,
        &loaded.classes,
    );
    RulesPage {
        layout: Layout::for_staff(staff, Section::Admin),
        tabs: AdminTab::Rules.tabs(),
        csrf_token: staff.csrf_token.clone(),
        notice,
        errors: FormErrors::none(),
        failed: None,
        subject_rules,
        year_rules,
        subject_form: RuleForm::default(),
        year_form: RuleForm::default(),
        subject_preview: None,
        year_preview: None,
        edit: None,
        override_typed: None,
        classes: loaded
            .classes
            .into_iter()
            .map(|c| ClassRow::new(c, highlight))
            .collect(),
        subjects: loaded.subjects,
        years: YEAR_GROUPS.collect(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct ShowQuery {
    #[serde(flatten)]
    done: DoneQuery,
    /// The rule just added or changed, whose classes the list points out.
    #[serde(default)]
    rule: Option<Uuid>,
}

/// `GET /admin/rules`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn show(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    query: Result<Query<ShowQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    // An address with a malformed rule id still shows the page, without pointing anything out.
    let Query(query) = query.unwrap_or_default();
    let loaded = load(&state, &staff).await?;
    let notice = query.done.notice(NOTICES);
    render(&page(&staff, loaded, notice, query.rule))
}

/// What a rule of `kind` would give, in words, from what was typed for it.
fn gives_words(kind: RuleKind, typed: &str) -> String {
    let typed = typed.trim();
    match kind {
        RuleKind::YearGroup => match placement::year_group_from_text(typed) {
            Ok(y) => format!("Year {y}"),
            Err(_) => "the year chosen".to_owned(),
        },
        RuleKind::Subject if typed.is_empty() => "the subject typed".to_owned(),
        RuleKind::Subject => typed.to_owned(),
    }
}

/// The classes `pattern` would catch as a new rule of `kind` giving `value`.
async fn preview(
    state: &AppState,
    staff: &CurrentStaff,
    kind: RuleKind,
    pattern: &str,
    value: &str,
) -> Result<Preview, PageError> {
    staff.require(Permission::ManageSettings)?;
    let gives = gives_words(kind, value);
    let mut tx = staff.school_tx(state).await?;
    let caught = placement::preview_new_rule(&mut tx, kind, pattern).await;
    tx.commit().await?;
    let caught = match caught {
        Ok(caught) => caught,
        Err(refusal) => {
            let errors = FormErrors::from_refusal(ApiError::from(refusal))?;
            let errors = on_form(errors, &[("pattern", "pattern", "The pattern")]);
            let problem = errors.summary().first().map(|(_, m)| (*m).to_owned());
            return Ok(Preview {
                pattern: pattern.to_owned(),
                gives,
                caught: Vec::new(),
                problem,
            });
        }
    };
    let caught = caught
        .into_iter()
        .map(|c| caught_row(kind, &gives, c))
        .collect();
    Ok(Preview {
        pattern: pattern.trim().to_owned(),
        gives,
        caught,
        problem: None,
    })
}

fn caught_row(kind: RuleKind, gives: &str, c: Caught) -> CaughtRow {
    let placed = c.placed_by_new_rule();
    let what = match kind {
        RuleKind::Subject => "subject",
        RuleKind::YearGroup => "year",
    };
    let outcome = if c.overridden {
        format!("stays as it is: its {what} is set by hand")
    } else if let Some(earlier) = &c.earlier_rule {
        format!("stays as it is: the rule “{earlier}” comes first")
    } else {
        format!("becomes {gives}")
    };
    let mut now: Vec<String> = Vec::new();
    now.extend(c.subject);
    now.push(
        c.year_group
            .map(|y| format!("Year {y}"))
            .unwrap_or_else(|| "no year".to_owned()),
    );
    let mut name = c.name;
    if let Some(section) = c.section.filter(|s| !s.is_empty() && !name.contains(s)) {
        name = format!("{name} ({section})");
    }
    if !c.active {
        name.push_str(" – no longer in Classroom");
    }
    CaughtRow {
        name,
        now: now.join(" · "),
        outcome,
        placed,
    }
}

#[derive(Debug, Deserialize)]
struct PreviewQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    pattern: String,
    #[serde(default)]
    value: String,
}

/// `GET /admin/rules/preview?kind=year-groups&pattern=11%25&value=11`: the preview alone, for
/// the page's script to show as the School Admin types.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn preview_fragment(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Query(query): Query<PreviewQuery>,
) -> Result<Html<String>, PageError> {
    let kind = kind_from(&query.kind)?;
    render(&preview(&state, &staff, kind, &query.pattern, &query.value).await?)
}

/// What a rule form sent, as the domain takes it: the pattern, and the subject or year.
fn sent_placement(
    kind: RuleKind,
    form_subject: &str,
    form_year: &str,
) -> Result<Option<Placement>, ApiError> {
    Ok(match kind {
        RuleKind::Subject if form_subject.trim().is_empty() => None,
        RuleKind::Subject => Some(Placement::Subject(form_subject.to_owned())),
        RuleKind::YearGroup if form_year.trim().is_empty() => None,
        RuleKind::YearGroup => Some(Placement::YearGroup(placement::year_group_from_text(
            form_year,
        )?)),
    })
}

/// The ids a new rule's form gives its fields, and their names in messages.
fn new_rule_fields(kind: RuleKind) -> [(&'static str, &'static str, &'static str); 3] {
    match kind {
        RuleKind::Subject => [
            ("pattern", "subject-pattern", "The pattern"),
            ("subject", "subject-subject", "The subject"),
            ("year_group", "subject-subject", "The subject"),
        ],
        RuleKind::YearGroup => [
            ("pattern", "year-pattern", "The pattern"),
            ("year_group", "year-year_group", "The year"),
            ("subject", "year-year_group", "The year"),
        ],
    }
}

/// `POST /admin/rules/{subjects|year-groups}`: a new rule after the others (as
/// `POST /api/class-rules/…`), or with the Preview button, what it would catch.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn add(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path(kind): Path<String>,
    PageForm(form): PageForm<RuleForm>,
) -> Result<Response, PageError> {
    let kind = kind_from(&kind)?;
    let loaded = load(&state, &staff).await?;
    let value = match kind {
        RuleKind::Subject => &form.subject,
        RuleKind::YearGroup => &form.year_group,
    };
    let failed = match kind {
        RuleKind::Subject => Failed::NewSubjectRule,
        RuleKind::YearGroup => Failed::NewYearRule,
    };
    let mut shown = page(&staff, loaded, None, None);
    if form.preview.is_some() {
        let previewed = preview(&state, &staff, kind, &form.pattern, value).await?;
        match kind {
            RuleKind::Subject => {
                shown.subject_preview = Some(previewed);
                shown.subject_form = form;
            }
            RuleKind::YearGroup => {
                shown.year_preview = Some(previewed);
                shown.year_form = form;
            }
        }
        return Ok(render(&shown)?.into_response());
    }
    let added = match sent_placement(kind, &form.subject, &form.year_group)
        .and_then(|sent| new_rule_placement(kind, sent))
    {
        Ok(placement) => {
            let mut tx = staff.school_tx(&state).await?;
            match placement::add_rule(&mut tx, staff.staff.id, &form.pattern, &placement).await {
                Ok(id) => {
                    tx.commit().await?;
                    Ok(id)
                }
                Err(refusal) => Err(ApiError::from(refusal)),
            }
        }
        Err(refusal) => Err(refusal),
    };
    match added {
        Ok(id) => Ok(
            axum::response::Redirect::to(&format!("{PAGE}?done=added&rule={id}#classes"))
                .into_response(),
        ),
        Err(refusal) => {
            shown.errors = on_form(FormErrors::from_refusal(refusal)?, &new_rule_fields(kind));
            shown.failed = Some(failed);
            match kind {
                RuleKind::Subject => shown.subject_form = form,
                RuleKind::YearGroup => shown.year_form = form,
            }
            Ok(reshow(render(&shown)?))
        }
    }
}

/// `POST /admin/rules/{kind}/{id}`: a rule's pattern and what it gives, changed (as
/// `PUT /api/class-rules/…/{id}`).
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn change(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path((kind, raw_id)): Path<(String, String)>,
    PageForm(form): PageForm<RuleForm>,
) -> Result<Response, PageError> {
    let kind = kind_from(&kind)?;
    let id = parse_id(&raw_id)?;
    let loaded = load(&state, &staff).await?;
    // A subject left empty is refused as the API refuses `"subject": ""`, not ignored.
    let sent = match kind {
        RuleKind::Subject => Ok(Some(Placement::Subject(form.subject.clone()))),
        RuleKind::YearGroup => sent_placement(kind, "", &form.year_group),
    };
    let changed = match sent {
        Ok(sent) => {
            let mut tx = staff.school_tx(&state).await?;
            match placement::change_rule(
                &mut tx,
                staff.staff.id,
                kind,
                id,
                Some(&form.pattern),
                sent.as_ref(),
            )
            .await
            {
                Ok(()) => {
                    tx.commit().await?;
                    Ok(())
                }
                Err(refusal) => Err(ApiError::from(refusal)),
            }
        }
        Err(refusal) => Err(refusal),
    };
    let refusal = match changed {
        Ok(()) => {
            return Ok(axum::response::Redirect::to(&format!(
                "{PAGE}?done=changed&rule={id}#classes"
            ))
            .into_response());
        }
        Err(refusal) => refusal,
    };
    let mut shown = page(&staff, loaded, None, None);
    shown.errors = on_form(
        FormErrors::from_refusal(refusal)?,
        &[
            ("pattern", "edit-pattern", "The pattern"),
            ("subject", "edit-value", "The subject"),
            ("year_group", "edit-value", "The year"),
        ],
    );
    shown.failed = Some(Failed::Edit);
    shown.edit = Some(EditForm {
        rule: id,
        pattern: form.pattern,
        value: match kind {
            RuleKind::Subject => form.subject,
            RuleKind::YearGroup => form.year_group,
        },
    });
    Ok(reshow(render(&shown)?))
}

/// `POST /admin/rules/{kind}/{id}/delete`: a rule removed (as `DELETE /api/class-rules/…`),
/// once confirmed.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn remove(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path((kind_word, raw_id)): Path<(String, String)>,
    PageForm(form): PageForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let kind = kind_from(&kind_word)?;
    staff.require(Permission::ManageSettings)?;
    let id = parse_id(&raw_id)?;
    let mut tx = staff.school_tx(&state).await?;
    if !confirmed(&form.confirm) {
        let rules = placement::list(&mut tx).await?;
        tx.commit().await?;
        let rule = match kind {
            RuleKind::Subject => rules.subject_rules,
            RuleKind::YearGroup => rules.year_group_rules,
        }
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(ApiError::NotFound)?;
        let gives = match kind {
            RuleKind::Subject => rule.subject.unwrap_or_default(),
            RuleKind::YearGroup => format!("Year {}", rule.year_group.unwrap_or_default()),
        };
        return Ok(render(&ConfirmPage {
            layout: Layout::for_staff(&staff, Section::Admin),
            tabs: AdminTab::Rules.tabs(),
            csrf_token: staff.csrf_token.clone(),
            heading: "Remove this rule?".to_owned(),
            message: format!(
                "The rule “{}” → {gives} will be removed, and every class placed again by the \
                 rules that are left.",
                rule.pattern
            ),
            action: format!("{PAGE}/{kind_word}/{id}/delete"),
            yes: "Remove the rule",
            back: PAGE,
        })?
        .into_response());
    }
    placement::remove_rule(&mut tx, staff.staff.id, kind, id)
        .await
        .map_err(ApiError::from)?;
    tx.commit().await?;
    Ok(done(PAGE, "removed"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OrderForm {
    ids: Vec<Uuid>,
}

/// `POST /admin/rules/{kind}/order`: every rule of the kind in the order the page sent (one
/// moved up or down), as `PUT /api/class-rules/…/order`; a page out of date is refused.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn reorder(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path(kind): Path<String>,
    PageForm(form): PageForm<OrderForm>,
) -> Result<Response, PageError> {
    let kind = kind_from(&kind)?;
    let loaded = load(&state, &staff).await?;
    let mut tx = staff.school_tx(&state).await?;
    match placement::reorder(&mut tx, staff.staff.id, kind, &form.ids).await {
        Ok(()) => {
            tx.commit().await?;
            Ok(done(PAGE, "moved"))
        }
        Err(refusal) => {
            drop(tx);
            let mut shown = page(&staff, loaded, None, None);
            let mut errors = FormErrors::none();
            // The only refusal of a page's own order: the rules changed since it was shown.
            match ApiError::from(refusal) {
                ApiError::InvalidField { field: "ids", .. } => errors.add_general(
                    "The rules have changed since this page was shown, so nothing was moved. \
                     Here they are as they are now: try again.",
                ),
                other => errors = FormErrors::from_refusal(other)?,
            }
            shown.errors = errors;
            shown.failed = Some(Failed::Order);
            Ok(reshow(render(&shown)?))
        }
    }
}

/// `POST /admin/rules/apply`: every class placed again now, as `POST /api/class-rules/apply`.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn apply(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    PageForm(_): PageForm<ButtonOnly>,
) -> Result<Response, PageError> {
    staff.require(Permission::ManageSettings)?;
    let mut tx = staff.school_tx(&state).await?;
    placement::apply_now(&mut tx, staff.staff.id).await?;
    tx.commit().await?;
    Ok(done(PAGE, "applied"))
}

/// `POST /admin/rules/classes/{id}`: the class's own subject and year (empty: back to the
/// rules), as `PUT /api/classes/{id}/placement`.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn set_override(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path(raw_id): Path<String>,
    PageForm(form): PageForm<OverrideForm>,
) -> Result<Response, PageError> {
    let id = parse_id(&raw_id)?;
    let loaded = load(&state, &staff).await?;
    let subject = form.subject.trim();
    let year = form.year_group.trim();
    let year = if year.is_empty() {
        Ok(None)
    } else {
        placement::year_group_from_text(year)
            .map(Some)
            .map_err(ApiError::from)
    };
    let saved = match year {
        Ok(year) => {
            let change = Override {
                subject: Some((!subject.is_empty()).then(|| subject.to_owned())),
                year_group: Some(year),
            };
            let mut tx = staff.school_tx(&state).await?;
            match placement::set_override(&mut tx, staff.staff.id, id, &change).await {
                Ok(()) => {
                    tx.commit().await?;
                    Ok(())
                }
                Err(refusal) => Err(ApiError::from(refusal)),
            }
        }
        Err(refusal) => Err(refusal),
    };
    let refusal = match saved {
        Ok(()) => return Ok(done(PAGE, "placed")),
        Err(refusal) => refusal,
    };
    let mut shown = page(&staff, loaded, None, None);
    shown.errors = on_form(
        FormErrors::from_refusal(refusal)?,
        &[
            ("subject", "override-subject", "The subject"),
            ("year_group", "override-year_group", "The year"),
        ],
    );
    shown.failed = Some(Failed::Override);
    shown.override_typed = Some(OverrideTyped {
        class: id,
        subject: form.subject,
        year: form.year_group,
    });
    Ok(reshow(render(&shown)?))
}

/// The notices a successful form's redirect back here may ask for (`?done=`).
const NOTICES: &[(&str, &str)] = &[
    (
        "added",
        "Rule added and applied: the classes it catches are marked “New” in the list below.",
    ),
    ("changed", "Rule changed and applied to every class."),
    (
        "removed",
        "Rule removed. Every class has been placed again.",
    ),
    ("moved", "Rule moved. Every class has been placed again."),
    ("applied", "The rules have been applied to every class."),
    ("placed", "The class's subject and year are saved."),
];
