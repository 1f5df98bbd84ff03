//! The audit log's page (School Admin, Headteacher): every entry, newest first, 50 a page,
//! narrowed by who (a member of staff, Invigilator itself, someone not signed in), what, which
//! class and which dates (UK); each entry worded for a person, with names looked up now for the
//! ids it holds. Reading the page is itself audited (`audit_log.read`, with the filters as ids).
//! "Verify the chain" recomputes every entry's hash and says whether the log is whole, or names
//! the first entry that is not and what to do.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::form::{FormErrors, PageForm, reshow};
use super::{Layout, PageStaff, Section, london_time, london_time_seconds, render};
use crate::audit::names::{self, Names, StaffChoice};
use crate::audit::{
    self, Action, ActorFilter, AuditEntry, BreakKind, LogFilter, LogPage, PageStart, Verification,
};
use crate::auth::roles::{Permission, Role};
use crate::roster::placement::{self, PlacedClass};
use crate::tenancy::SchoolTx;
use crate::web::AppState;
use crate::web::error::PageError;
use crate::web::extract::CurrentStaff;
use crate::windows::london_time::london_to_utc;

/// The audit log page's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit", get(audit_page))
        .route("/audit/verify", post(verify_chain))
}

/// Entries on a page.
const PAGE_SIZE: i64 = 50;

/// The actor filter's values for Invigilator itself and for someone not signed in (a member of
/// staff is chosen by id).
const SERVICE: &str = "service";
const ANONYMOUS: &str = "anonymous";

/// The filters as sent (`?actor=&action=&class=&from=&to=`) and where the page starts
/// (`before=` or `after=` an entry id), kept as typed so the form shows them again. The verify
/// button sends the same fields, so the page it answers with keeps them.
#[derive(Debug, Default, Deserialize)]
pub struct FilterForm {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    class: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: String,
    #[serde(default)]
    after: String,
}

/// One option of a select.
pub struct Choice {
    pub value: String,
    pub label: String,
}

/// What the form's selects offer: who, what and which class.
pub struct Choices {
    pub actors: Vec<Choice>,
    pub actions: Vec<Choice>,
    pub classes: Vec<Choice>,
    staff: Vec<Uuid>,
    class_ids: Vec<Uuid>,
}

impl Choices {
    fn new(staff: Vec<StaffChoice>, classes: Vec<PlacedClass>) -> Self {
        let mut actors = vec![
            Choice {
                value: SERVICE.to_owned(),
                label: "Invigilator itself (timers and workers)".to_owned(),
            },
            Choice {
                value: ANONYMOUS.to_owned(),
                label: "Someone not signed in".to_owned(),
            },
        ];
        actors.extend(staff.iter().map(|s| Choice {
            value: s.id.to_string(),
            label: if s.name == s.email {
                s.name.clone()
            } else {
                format!("{} ({})", s.name, s.email)
            },
        }));
        let mut classes = classes;
        classes.sort_by_key(|c| c.name.to_lowercase());
        Self {
            actors,
            actions: Action::ALL
                .iter()
                .map(|a| Choice {
                    value: a.as_str().to_owned(),
                    label: a.label().to_owned(),
                })
                .collect(),
            classes: classes
                .iter()
                .map(|c| Choice {
                    value: c.id.to_string(),
                    label: if c.active {
                        c.name.clone()
                    } else {
                        format!("{} (no longer in Classroom)", c.name)
                    },
                })
                .collect(),
            staff: staff.iter().map(|s| s.id).collect(),
            class_ids: classes.iter().map(|c| c.id).collect(),
        }
    }
}

/// The filters once read: what to ask the log for, and the days as chosen (for the read's own
/// audit entry).
struct Reading {
    filter: LogFilter,
    start: PageStart,
    from_day: Option<NaiveDate>,
    to_day: Option<NaiveDate>,
}

impl Reading {
    /// What the read's audit entry says: the filters as ids and dates, never names (see the
    /// module doc of `crate::audit`).
    fn details(&self) -> Value {
        let mut details = Map::new();
        let actor = match self.filter.actor {
            Some(ActorFilter::Staff(id)) => Some(format!("staff:{id}")),
            Some(ActorFilter::Service) => Some(SERVICE.to_owned()),
            Some(ActorFilter::Anonymous) => Some(ANONYMOUS.to_owned()),
            None => None,
        };
        if let Some(actor) = actor {
            details.insert("actor".into(), json!(actor));
        }
        if let Some(action) = self.filter.action {
            details.insert("action".into(), json!(action.as_str()));
        }
        if let Some(class) = self.filter.class {
            details.insert("class".into(), json!(class));
        }
        for (key, day) in [("from", self.from_day), ("to", self.to_day)] {
            if let Some(day) = day {
                details.insert(key.into(), json!(day.format("%Y-%m-%d").to_string()));
            }
        }
        match self.start {
            PageStart::Before(id) => details.insert("before".into(), json!(id)),
            PageStart::After(id) => details.insert("after".into(), json!(id)),
            PageStart::Newest => None,
        };
        Value::Object(details)
    }
}

/// A date as typed: `2027-03-14` (what a date input sends) or `14/03/2027`.
fn parse_date(raw: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(raw, "%d/%m/%Y"))
        .ok()
}

/// Midnight at the start of `date` in London (always a time London's clocks show: they change
/// at one or two in the morning).
fn london_midnight(date: NaiveDate) -> Option<DateTime<Utc>> {
    london_to_utc(&format!("{}T00:00", date.format("%Y-%m-%d"))).ok()
}

/// An entry id from a paging link.
fn parse_id(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}

/// A select's value: nothing chosen, one of its options, or (from a hand-made address) neither,
/// which is `refusal` beside `field`.
fn read_choice<T>(
    raw: &str,
    (field, refusal): (&'static str, &'static str),
    errors: &mut FormErrors,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Option<T> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let chosen = parse(raw);
    if chosen.is_none() {
        errors.add(field, refusal);
    }
    chosen
}

/// A date field: empty, a day, or an error beside `field`.
fn read_day(raw: &str, field: &'static str, errors: &mut FormErrors) -> Option<NaiveDate> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let day = parse_date(raw);
    if day.is_none() {
        errors.add(field, "Enter a real date, for example 14/03/2027");
    }
    day
}

impl FilterForm {
    /// The filters, or what is wrong with them, field by field.
    fn read(&self, choices: &Choices) -> Result<Reading, FormErrors> {
        let mut errors = FormErrors::for_filters();
        let actor = self.read_actor(choices, &mut errors);
        let action = read_choice(
            &self.action,
            ("action", "Choose an action from the list"),
            &mut errors,
            Action::from_stored,
        );
        let class = read_choice(
            &self.class,
            ("class", "Choose a class from the list"),
            &mut errors,
            |raw| {
                Uuid::parse_str(raw)
                    .ok()
                    .filter(|id| choices.class_ids.contains(id))
            },
        );
        let from_day = read_day(&self.from, "from", &mut errors);
        let to_day = read_day(&self.to, "to", &mut errors);
        if let (Some(from), Some(to)) = (from_day, to_day)
            && to < from
        {
            errors.add(
                "to",
                "The end date must be the same as the start date or after it",
            );
        }
        // From the start of the first day to the end of the last, in London.
        let from = from_day.and_then(london_midnight);
        let until = to_day.and_then(|d| d.succ_opt()).and_then(london_midnight);
        if from_day.is_some() != from.is_some() || to_day.is_some() != until.is_some() {
            errors.add_general("Those dates cannot be used; choose others.");
        }
        let start = match (self.before.trim(), self.after.trim()) {
            ("", "") => Some(PageStart::Newest),
            (before, "") => parse_id(before).map(PageStart::Before),
            ("", after) => parse_id(after).map(PageStart::After),
            _ => None,
        };
        // Only a hand-made address gets here: the page's own links are always readable.
        let start = start.unwrap_or_else(|| {
            errors.add_general(
                "That page of the log could not be found. Start again from the newest entries.",
            );
            PageStart::Newest
        });
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Reading {
            filter: LogFilter {
                actor,
                action,
                class,
                from,
                until,
            },
            start,
            from_day,
            to_day,
        })
    }

    /// Whose entries: Invigilator itself, someone not signed in, or a member of staff on the
    /// list.
    fn read_actor(&self, choices: &Choices, errors: &mut FormErrors) -> Option<ActorFilter> {
        match self.actor.trim() {
            SERVICE => Some(ActorFilter::Service),
            ANONYMOUS => Some(ActorFilter::Anonymous),
            raw => read_choice(
                raw,
                ("actor", "Choose someone from the list"),
                errors,
                |raw| {
                    Uuid::parse_str(raw)
                        .ok()
                        .filter(|id| choices.staff.contains(id))
                        .map(ActorFilter::Staff)
                },
            ),
        }
    }

    /// Whether any filter (not paging) is set.
    fn any_filter(&self) -> bool {
        [&self.actor, &self.action, &self.class, &self.from, &self.to]
            .iter()
            .any(|v| !v.trim().is_empty())
    }

    /// `/audit?` these filters and a paging key, for the links to the pages beside this one
    /// (none: the newest entries).
    fn href(&self, page: Option<(&str, i64)>) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("actor", &self.actor),
            ("action", &self.action),
            ("class", &self.class),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !value.trim().is_empty() {
                query.append_pair(key, value.trim());
            }
        }
        if let Some((key, id)) = page {
            query.append_pair(key, &id.to_string());
        }
        let query = query.finish();
        if query.is_empty() {
            "/audit".to_owned()
        } else {
            format!("/audit?{query}")
        }
    }
}

/// One entry as the page shows it.
pub struct EntryRow {
    pub id: i64,
    /// "14:05:09 on 3 March 2027"
    pub when: String,
    pub who: String,
    pub what: String,
    pub about: String,
    pub details: String,
}

/// What an entry's action was, in plain words (its stored text if this build does not know it).
fn what(action: &str) -> String {
    Action::from_stored(action).map_or_else(|| action.to_owned(), |a| a.label().to_owned())
}

/// Who an entry's actor is, for a person.
fn who(actor: &str, names: &Names) -> String {
    if let Some(id) = actor.strip_prefix("staff:") {
        return Uuid::parse_str(id)
            .ok()
            .and_then(|id| names.staff.get(&id).cloned())
            .unwrap_or_else(|| "A former member of staff".to_owned());
    }
    if actor == "anonymous" {
        return "Someone not signed in".to_owned();
    }
    if let Some(name) = actor.strip_prefix("operator:") {
        return format!("{name} (Invigilator operator)");
    }
    match actor.strip_prefix("system:") {
        Some("window-timer") => "Invigilator (window timer)".to_owned(),
        Some("assessment-window") => "Invigilator (assessment window)".to_owned(),
        Some("lock-worker") => "Invigilator (lock worker)".to_owned(),
        Some("share-scan") => "Invigilator (onward-share scan)".to_owned(),
        Some("share-removal") => "Invigilator (onward-share removal)".to_owned(),
        Some("folders") => "Invigilator (class folders)".to_owned(),
        Some("cli") => "Invigilator (command line)".to_owned(),
        Some("demo") => "Invigilator (demo set-up)".to_owned(),
        Some("roster-sync") => "Invigilator (Classroom sync)".to_owned(),
        Some("retention") => "Invigilator (retention run)".to_owned(),
        Some("leavers") => "Invigilator (revoking a leaver's Google access)".to_owned(),
        Some(other) => format!("Invigilator ({other})"),
        None => actor.to_owned(),
    }
}

/// What an entry is about, named where the name can still be found, by id otherwise.
fn about(entry: &AuditEntry, names: &Names, school: &crate::tenancy::School) -> String {
    let (Some(kind), Some(id)) = (entry.target_type.as_deref(), entry.target_id.as_deref()) else {
        return "—".to_owned();
    };
    let uuid = Uuid::parse_str(id).ok();
    let named = match kind {
        "portfolio" => uuid
            .and_then(|u| names.folders.get(&u))
            .map(|f| format!("{}'s folder in {}", f.student, f.class)),
        "course" => uuid
            .and_then(|u| names.classes.get(&u))
            .map(|c| format!("Class {c}")),
        "staff" => uuid.and_then(|u| names.staff.get(&u)).cloned(),
        "window" => uuid
            .and_then(|u| names.windows.get(&u))
            .map(|w| format!("Assessment window “{w}”")),
        "share_scan" => id
            .parse::<i64>()
            .ok()
            .and_then(|s| names.scans.get(&s))
            .map(|c| format!("Onward-share scan of {c}")),
        "share_finding" => uuid
            .and_then(|u| names.findings.get(&u))
            .map(|f| format!("A share in {}'s folder in {}", f.student, f.class)),
        "role_assignment" => uuid
            .and_then(|u| names.assignments.get(&u))
            .map(|n| format!("A role of {n}")),
        "subject_rule" => uuid
            .and_then(|u| names.rules.get(&u))
            .map(|r| format!("Subject rule {r}")),
        "year_group_rule" => uuid
            .and_then(|u| names.rules.get(&u))
            .map(|r| format!("Year rule {r}")),
        "google_credential" => uuid
            .and_then(|u| names.accounts.get(&u))
            .map(|a| format!("Google account {a}")),
        "school" if uuid == Some(school.id) => Some(format!("{} (the school)", school.name)),
        _ => None,
    };
    named.unwrap_or_else(|| {
        let label = match kind {
            "portfolio" => "A folder",
            "course" => "A class",
            "staff" => "A member of staff",
            "window" => "An assessment window",
            "share_scan" => "An onward-share scan",
            "share_finding" => "An onward share",
            "role_assignment" => "A role",
            "role_invitation" => "A role invitation",
            "school" => "The school",
            "google_credential" => "A Google account connection",
            "calendar_feed" => "A calendar feed address",
            "subject_rule" => "A subject rule",
            "year_group_rule" => "A year rule",
            other => other,
        };
        format!("{label} (id {id})")
    })
}

/// How a details key reads.
fn key_label(key: &str) -> String {
    match key {
        "course" | "class" => "Class".to_owned(),
        "portfolio" => "Folder".to_owned(),
        "window" => "Window".to_owned(),
        "staff" | "staff_id" => "Staff".to_owned(),
        "subject_id" => "Subject".to_owned(),
        "subject_override" => "Subject set by hand".to_owned(),
        "year_group_override" => "Year set by hand".to_owned(),
        "roles_granted" => "Roles given".to_owned(),
        "version" => "Request number".to_owned(),
        "api_calls" => "Google calls".to_owned(),
        "items" => "Files checked".to_owned(),
        "findings" => "Shares found".to_owned(),
        "new" => "New shares".to_owned(),
        "first_grant" => "First time shared".to_owned(),
        "grantee_type" => "Shared with".to_owned(),
        "operator" => "Drive account".to_owned(),
        other => super::form::sentence_case(&other.replace('_', " ")),
    }
}

/// How many items of a list in an entry's details are named before "and 3 more".
const LIST_SHOWN: usize = 5;

/// One details value in words: names for the ids the page could look up, roles by their
/// names, times in the UK.
fn value_words(key: &str, value: &Value, names: &Names) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Bool(b) => Some(if *b { "yes" } else { "no" }.to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => {
            let uuid = Uuid::parse_str(s).ok();
            let named = match key {
                "course" | "class" => uuid.and_then(|u| names.classes.get(&u)).cloned(),
                "portfolio" => uuid
                    .and_then(|u| names.folders.get(&u))
                    .map(|f| format!("{} in {}", f.student, f.class)),
                "window" => uuid.and_then(|u| names.windows.get(&u)).cloned(),
                "staff" | "staff_id" => uuid.and_then(|u| names.staff.get(&u)).cloned(),
                "subject_id" | "subject_override" => {
                    uuid.and_then(|u| names.subjects.get(&u)).cloned()
                }
                "operator" => uuid.and_then(|u| names.accounts.get(&u)).cloned(),
                "role" | "roles_granted" => serde_json::from_value::<Role>(value.clone())
                    .ok()
                    .map(|r| r.label().to_owned()),
                _ => None,
            };
            Some(
                named.unwrap_or_else(|| match DateTime::parse_from_rfc3339(s) {
                    Ok(at) => london_time(at.with_timezone(&Utc)),
                    Err(_) => s.clone(),
                }),
            )
        }
        Value::Array(items) => {
            let mut words = items.iter().filter_map(|v| value_words(key, v, names));
            let shown: Vec<String> = words.by_ref().take(LIST_SHOWN).collect();
            let more = words.count();
            Some(match (shown.is_empty(), more) {
                (true, _) => "none".to_owned(),
                (false, 0) => shown.join(", "),
                (false, more) => format!("{} and {more} more", shown.join(", ")),
            })
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .filter_map(|(k, v)| {
                    value_words(k, v, names).map(|w| format!("{}: {w}", key_label(k)))
                })
                .collect();
            Some(format!("({})", inner.join(", ")))
        }
    }
}

/// The longest details summary shown.
const DETAILS_MAX_CHARS: usize = 300;

/// An entry's details in a line: "Reason: access arrangement · Version: 3".
fn summarise(details: &Value, names: &Names) -> String {
    let Value::Object(map) = details else {
        return value_words("", details, names).unwrap_or_default();
    };
    let line = map
        .iter()
        .filter_map(|(k, v)| value_words(k, v, names).map(|w| format!("{}: {w}", key_label(k))))
        .collect::<Vec<_>>()
        .join(" · ");
    if line.chars().count() > DETAILS_MAX_CHARS {
        let cut: String = line.chars().take(DETAILS_MAX_CHARS).collect();
        format!("{cut}…")
    } else {
        line
    }
}

/// "1,234"
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The verification's outcome as the page says it.
pub struct ChainResult {
    pub intact: bool,
    pub headline: String,
    pub lines: Vec<String>,
}

impl ChainResult {
    fn new(v: &Verification, broken: Option<&AuditEntry>, names: &Names) -> Self {
        let checked_at = london_time(Utc::now());
        match &v.first_break {
            None if v.entries == 0 => Self {
                intact: true,
                headline: "The log has no entries yet, so there is nothing to check.".to_owned(),
                lines: vec![format!("Checked at {checked_at}.")],
            },
            None => Self {
                intact: true,
                headline: format!(
                    "All {} {} intact.",
                    thousands(v.entries),
                    if v.entries == 1 {
                        "entry is"
                    } else {
                        "entries are"
                    }
                ),
                lines: vec![
                    format!("Checked at {checked_at}."),
                    "Each entry's fingerprint matches what it says and the entry before it, so \
                     nothing has been changed or removed since it was written."
                        .to_owned(),
                ],
            },
            Some(b) => {
                let context = broken.map(|e| {
                    format!(
                        "Entry {} was written at {} ({}, by {}).",
                        e.id,
                        london_time_seconds(e.at),
                        what(&e.action),
                        who(&e.actor, names),
                    )
                });
                // A log cut short: every entry walked is intact, and the anchored one is gone.
                let before = match b.kind {
                    BreakKind::Truncated => v.entries,
                    _ => v.entries.saturating_sub(1),
                };
                let mut lines = vec![match before {
                    0 if b.kind == BreakKind::Truncated => {
                        format!("No entry is left in the log. Checked at {checked_at}.")
                    }
                    0 => format!("It is the first entry. Checked at {checked_at}."),
                    1 => format!("The entry before it is intact. Checked at {checked_at}."),
                    n => format!(
                        "The {} entries before it are intact. Checked at {checked_at}.",
                        thousands(n)
                    ),
                }];
                lines.extend(context);
                lines.push(
                    "Invigilator never changes or removes entries, so someone with direct access \
                     to the database has. Do not try to put it right yourself. Tell your data \
                     protection officer and Invigilator's support now, quoting the entry number \
                     and the time of this check, and keep a copy of this page."
                        .to_owned(),
                );
                Self {
                    intact: false,
                    headline: format!("The log is broken at entry {}: {}.", b.entry_id, b.reason),
                    lines,
                }
            }
        }
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub layout: Layout,
    pub csrf_token: String,
    pub form: FilterForm,
    pub errors: FormErrors,
    pub choices: Choices,
    pub filtered: bool,
    pub can_verify: bool,
    pub chain: Option<ChainResult>,
    pub entries: Vec<EntryRow>,
    pub newer_href: Option<String>,
    pub older_href: Option<String>,
    pub newest_href: Option<String>,
}

/// `GET /audit`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn audit_page(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Query(form): Query<FilterForm>,
) -> Result<Response, PageError> {
    show(&state, &staff, form, None).await
}

/// `POST /audit/verify`: recomputes the chain (as `GET /api/audit/verify` does) and shows the
/// page with the result, keeping the filters it was sent with.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn verify_chain(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    PageForm(form): PageForm<FilterForm>,
) -> Result<Response, PageError> {
    staff.require(Permission::ReadAuditLog)?;
    staff.require(Permission::VerifyAuditLog)?;
    let verification = audit::verify(&state.db, &staff.school).await?;
    show(&state, &staff, form, Some(verification)).await
}

/// The page: the filters read, one page of entries, and the read recorded; or the form again
/// with what to fix (nothing read, nothing recorded).
async fn show(
    state: &AppState,
    staff: &CurrentStaff,
    form: FilterForm,
    verification: Option<Verification>,
) -> Result<Response, PageError> {
    staff.require(Permission::ReadAuditLog)?;
    let mut tx = staff.school_tx(state).await?;
    let (choices, reading) = read_filters(&mut tx, &form).await?;
    let read = match &reading {
        Ok(r) => Some(read_page(&mut tx, staff, r, verification.as_ref()).await?),
        Err(_) => None,
    };
    tx.commit().await?;
    render_page(staff, form, choices, reading, read, verification.as_ref())
}

/// The choices the filters offer (every member of staff, every class), and the filters read
/// against them: what to read, or what to fix.
async fn read_filters(
    tx: &mut SchoolTx,
    form: &FilterForm,
) -> Result<(Choices, Result<Reading, FormErrors>), PageError> {
    let staff_list = names::staff_by_name(tx).await?;
    let classes = placement::classes(tx, None).await?;
    let choices = Choices::new(staff_list, classes);
    let reading = form.read(&choices);
    Ok((choices, reading))
}

/// One page of entries as read, with the entry a verification found broken, and the names
/// behind the ids both mention.
struct PageRead {
    page: LogPage,
    broken: Option<AuditEntry>,
    names: Names,
}

/// Reads one page of entries (and the entry a verification found broken) with their names,
/// and records the read in the log.
async fn read_page(
    tx: &mut SchoolTx,
    staff: &CurrentStaff,
    reading: &Reading,
    verification: Option<&Verification>,
) -> Result<PageRead, PageError> {
    let page = audit::list(tx, &reading.filter, reading.start, PAGE_SIZE).await?;
    let broken = match verification.and_then(|v| v.first_break.as_ref()) {
        Some(b) => audit::entry(tx, b.entry_id).await?,
        None => None,
    };
    let mut shown = page.entries.clone();
    shown.extend(broken.clone());
    let names = names::resolve(tx, &shown).await?;
    audit::record(
        tx,
        &audit::Actor::Staff(staff.staff.id),
        Action::AuditLogRead,
        None,
        reading.details(),
    )
    .await?;
    Ok(PageRead {
        page,
        broken,
        names,
    })
}

/// The page from what was read; a 422 with the form's messages when the filters were refused.
fn render_page(
    staff: &CurrentStaff,
    form: FilterForm,
    choices: Choices,
    reading: Result<Reading, FormErrors>,
    read: Option<PageRead>,
    verification: Option<&Verification>,
) -> Result<Response, PageError> {
    let (reading, errors) = match reading {
        Ok(reading) => (Some(reading), FormErrors::for_filters()),
        Err(errors) => (None, errors),
    };
    let (page, broken, names) = match read {
        Some(read) => (Some(read.page), read.broken, read.names),
        None => (None, None, Names::default()),
    };
    let chain = verification.map(|v| ChainResult::new(v, broken.as_ref(), &names));
    let (entries, newer_href, older_href) = match page {
        Some(page) => (
            page.entries
                .iter()
                .map(|e| EntryRow {
                    id: e.id,
                    when: london_time_seconds(e.at),
                    who: who(&e.actor, &names),
                    what: what(&e.action),
                    about: about(e, &names, &staff.school),
                    details: summarise(&e.details, &names),
                })
                .collect(),
            page.newer.map(|id| form.href(Some(("after", id)))),
            page.older.map(|id| form.href(Some(("before", id)))),
        ),
        None => (Vec::new(), None, None),
    };
    // Further back than the newest page: a way straight back to it.
    let newest_href = reading
        .as_ref()
        .filter(|r| r.start != PageStart::Newest)
        .map(|_| form.href(None));
    let page = AuditPage {
        layout: Layout::for_staff(staff, Section::Audit),
        csrf_token: staff.csrf_token.clone(),
        filtered: form.any_filter(),
        form,
        errors,
        choices,
        can_verify: staff.can(Permission::VerifyAuditLog),
        chain,
        entries,
        newer_href,
        older_href,
        newest_href,
    };
    let html: Html<String> = render(&page)?;
    Ok(if page.errors.is_empty() {
        html.into_response()
    } else {
        reshow(html)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated_as_people_write_them() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn dates_are_read_as_a_date_input_sends_them_or_as_people_type_them() {
        let day = NaiveDate::from_ymd_opt(2027, 3, 14);
        assert_eq!(parse_date("2027-03-14"), day);
        assert_eq!(parse_date("14/03/2027"), day);
        assert_eq!(parse_date("2027-02-30"), None);
        assert_eq!(parse_date("next tuesday"), None);
    }

    #[test]
    fn a_london_day_starts_at_its_own_midnight_in_summer_and_winter() {
        let summer = london_midnight(NaiveDate::from_ymd_opt(2027, 7, 1).unwrap()).unwrap();
        assert_eq!(summer.to_rfc3339(), "2027-06-30T23:00:00+00:00");
        let winter = london_midnight(NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()).unwrap();
        assert_eq!(winter.to_rfc3339(), "2027-01-01T00:00:00+00:00");
    }

    #[test]
    fn details_read_as_words_with_names_for_the_ids_known() {
        let mut names = Names::default();
        let class = Uuid::new_v4();
        names.classes.insert(class, "10C Chemistry".to_owned());
        let line = summarise(
            &json!({"course": class, "reason": "access arrangement", "first_grant": true,
                    "role": "exams_officer", "subject_id": null}),
            &names,
        );
        assert_eq!(
            line,
            "Class: 10C Chemistry · First time shared: yes · Reason: access arrangement · \
             Role: Examinations Officer"
        );
    }

    #[test]
    fn a_long_list_names_five_and_counts_the_rest() {
        let names = Names::default();
        let line = |n: i64| summarise(&json!({ "ids": (1..=n).collect::<Vec<_>>() }), &names);
        assert_eq!(line(0), "Ids: none");
        assert_eq!(line(5), "Ids: 1, 2, 3, 4, 5");
        assert_eq!(line(7), "Ids: 1, 2, 3, 4, 5 and 2 more");
    }
}
