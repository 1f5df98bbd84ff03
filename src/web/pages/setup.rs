//! The School Admin's set-up checklist: six steps, each checked when the page loads and shown
//! as done, needing doing or not checkable now, with how to put it right.
//!
//! 1. At least one of the school's Drive accounts (the Drive operators) is connected and Google
//!    still accepts it; each account is listed with its state, and any set aside is named.
//! 2. The Shared Drive is set and every working Drive account manages it: asked of Google live.
//! 3. Google Classroom can be read with the grants a roster sync uses (teachers' own sign-ins):
//!    one cheap call, live.
//! 4. A roster sync has run (and whether the last one had problems).
//! 5. There is at least one subject rule and one year rule (and how many classes are unsorted).
//! 6. The staff addresses are set, so that a student who creates a Classroom class is not taken
//!    for a Teacher (until then only invited staff and those with a role get in).
//!
//! The two Google checks run at once, each bounded by [`CHECK_TIMEOUT`]; Google being slow or
//! down makes a step "could not check", never an error page. No database connection is held
//! while Google is asked.
//!
//! [`finished_by_stored_facts`] answers "is set-up done?" without asking Google, for the home
//! page's redirect: see its doc.

use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{AdminTab, Layout, NavLink, PageStaff, Section, london_time, render};
use crate::auth::roles::Permission;
use crate::google::{ErrorClass, GoogleError};
use crate::portfolio::drive_operators::{self, DriveAccount, Standing};
use crate::portfolio::shared_drive::{self, SharedDriveRefusal};
use crate::tenancy::SchoolTx;
use crate::tenancy::settings::{self, CheckedSharedDrive, SchoolSettings};
use crate::web::AppState;
use crate::web::error::{ApiError, PageError};
use crate::web::extract::CurrentStaff;

/// The checklist's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/setup", get(setup_page))
        .route("/setup/sync", post(sync_now))
}

/// How long each live check may take before the step says it could not be checked.
const CHECK_TIMEOUT: Duration = Duration::from_secs(6);

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Done,
    NeedsDoing,
    CouldNotCheck,
}

impl StepStatus {
    /// The word shown: the status is always written, the icon and colour only help.
    pub fn word(self) -> &'static str {
        match self {
            Self::Done => "Done",
            Self::NeedsDoing => "Needs doing",
            Self::CouldNotCheck => "Could not check",
        }
    }

    /// For the stylesheet.
    pub fn css(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::NeedsDoing => "todo",
            Self::CouldNotCheck => "unknown",
        }
    }

    /// The mark before the word, hidden from screen readers (the word says it all).
    pub fn icon(self) -> &'static str {
        match self {
            Self::Done => "✓",
            Self::NeedsDoing => "!",
            Self::CouldNotCheck => "?",
        }
    }
}

/// One step of the checklist as the page shows it.
pub struct Step {
    /// Its anchor (`#step-drive`).
    pub key: &'static str,
    pub title: &'static str,
    pub status: StepStatus,
    /// What the check found.
    pub finding: String,
    /// Something to know even when it is done (problems at the last sync, unsorted classes).
    pub note: Option<String>,
    /// How to put it right, a sentence a line.
    pub fix: Vec<String>,
    /// A link that puts it right: address and label.
    pub link: Option<(&'static str, &'static str)>,
    /// The Drive accounts, each with its state (the Drive step only).
    pub accounts: Vec<AccountLine>,
    /// The Connect button and its words, for who may connect Drive.
    pub connect_drive: Option<&'static str>,
    /// The Sync now button, for who may sync.
    pub sync_now: bool,
}

impl Step {
    fn new(key: &'static str, title: &'static str, status: StepStatus, finding: String) -> Self {
        Self {
            key,
            title,
            status,
            finding,
            note: None,
            fix: Vec::new(),
            link: None,
            accounts: Vec::new(),
            connect_drive: None,
            sync_now: false,
        }
    }

    fn fix(mut self, line: impl Into<String>) -> Self {
        self.fix.push(line.into());
        self
    }

    fn link(mut self, href: &'static str, label: &'static str) -> Self {
        self.link = Some((href, label));
        self
    }

    fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// One Drive account as the checklist lists it.
pub struct AccountLine {
    pub account: String,
    /// Its state in words; the class only colours them.
    pub status: &'static str,
    pub status_class: &'static str,
    /// Why Google refused it, when it did.
    pub reason: Option<String>,
}

impl From<&DriveAccount> for AccountLine {
    fn from(a: &DriveAccount) -> Self {
        let works = a.works();
        let (status, status_class) = account_state(works);
        Self {
            account: a.account.clone(),
            status,
            status_class,
            reason: a.status_reason.clone().filter(|r| !works && !r.is_empty()),
        }
    }
}

/// A Drive account's state in words, and the class that colours them: the checklist and the
/// settings page say it alike.
pub(crate) fn account_state(works: bool) -> (&'static str, &'static str) {
    if works {
        ("Connected", "admin-state-connected")
    } else {
        ("Set aside: needs reconnecting", "admin-state-reconnect")
    }
}

/// Addresses in a sentence: "a", "a and b", "a, b and c".
pub(crate) fn in_words(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The last roster sync.
#[derive(Debug, Clone, sqlx::FromRow)]
struct LastSync {
    finished_at: DateTime<Utc>,
    courses: i32,
    /// How many problems it recorded.
    problems: i32,
}

/// What the database says about set-up, read in one transaction.
struct StoredFacts {
    /// The Drive accounts, in the order they were connected.
    accounts: Vec<DriveAccount>,
    last_sync: Option<LastSync>,
    subject_rules: i64,
    year_rules: i64,
}

impl StoredFacts {
    async fn read(tx: &mut SchoolTx) -> Result<Self, PageError> {
        let accounts = drive_operators::list(tx).await?;
        let last_sync: Option<LastSync> = sqlx::query_as(
            "SELECT finished_at, courses, jsonb_array_length(errors) AS problems \
             FROM sync_runs ORDER BY started_at DESC, id DESC LIMIT 1",
        )
        .fetch_optional(&mut **tx)
        .await?;
        let (subject_rules, year_rules): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM subject_rules), (SELECT count(*) FROM year_group_rules)",
        )
        .fetch_one(&mut **tx)
        .await?;
        Ok(Self {
            accounts,
            last_sync,
            subject_rules,
            year_rules,
        })
    }

    /// Whether Drive work can run as any of the accounts.
    fn operator_works(&self) -> bool {
        self.accounts.iter().any(DriveAccount::works)
    }

    /// The accounts Drive work runs as, for sentences: "the school's Drive account (a)".
    fn working_accounts(&self) -> Vec<&str> {
        self.accounts
            .iter()
            .filter(|a| a.works())
            .map(|a| a.account.as_str())
            .collect()
    }
}

/// Whether the school's set-up is done, from what is stored alone (no Google call; cheap
/// enough for every visit to `/`): a Drive account is connected (one Google has refused since
/// still counts: set-up was done, and the home page's warning says what to do, rather than
/// sending the School Admin back to the checklist), a Shared Drive is saved and was found
/// managed by the accounts (settings keep when),
/// a roster sync has run (Classroom was reachable then), there are subject and year rules, and
/// the staff addresses are set.
/// The checklist itself asks Google but only reports (a GET changes nothing): a drive saved
/// before checks existed that passes there is recorded as checked by the school's next roster
/// sync (`shared_drive::verified_drive`) or when its settings are saved, and only then counts
/// here.
pub(super) async fn finished_by_stored_facts(
    state: &AppState,
    staff: &CurrentStaff,
) -> Result<bool, PageError> {
    let mut tx = staff.school_tx(state).await?;
    let facts = StoredFacts::read(&mut tx).await?;
    tx.commit().await?;
    if !(!facts.accounts.is_empty()
        && facts.last_sync.is_some()
        && facts.subject_rules > 0
        && facts.year_rules > 0)
    {
        return Ok(false);
    }
    let settings = school_settings(state, staff).await?;
    Ok(settings.shared_drive_id.is_some()
        && settings.shared_drive_checked_at.is_some()
        && !settings.staff_addresses.is_empty())
}

async fn school_settings(
    state: &AppState,
    staff: &CurrentStaff,
) -> Result<SchoolSettings, PageError> {
    Ok(settings::load(
        &state.db,
        &state.redis,
        &state.web.namespace,
        staff.school.id,
    )
    .await
    .map_err(ApiError::from)?)
}

/// Step 1: the Drive accounts, from the credential store (Google's last word on each is kept
/// there: a refused grant is marked at once). Done while at least one works; one set aside is
/// named, with where its work went.
fn drive_account_step(facts: &StoredFacts, can_connect: bool) -> Step {
    const TITLE: &str = "Connect the school's Drive account";
    const KEY: &str = "drive-account";
    let why = "Invigilator makes, shares, locks and unlocks the portfolio folders as a Google \
               account of the school. It can be yours, or an account kept for the purpose (such \
               as invigilator@ your school's domain); it must be a Manager of the Shared Drive \
               (step 2). One is enough; a school can connect up to eight, and with more a whole \
               year group locks sooner, since Google limits how quickly each account may work.";
    let standing = Standing::of(&facts.accounts);
    let set_aside: Vec<&str> = standing
        .set_aside
        .iter()
        .map(|a| a.account.as_str())
        .collect();
    let working = facts.working_accounts();
    let mut step = if facts.accounts.is_empty() {
        Step::new(
            KEY,
            TITLE,
            StepStatus::NeedsDoing,
            "The school's Drive account is not connected yet.".to_owned(),
        )
        .fix(why)
        .fix("Press the button and sign in to Google as that account when Google asks.")
    } else if working.is_empty() {
        let (accounts, it) = if set_aside.len() == 1 {
            ("account", "it")
        } else {
            ("accounts", "one")
        };
        Step::new(
            KEY,
            TITLE,
            StepStatus::NeedsDoing,
            format!(
                "Google no longer accepts the school's Drive {accounts} ({}), so locks are waiting: \
                 until {it} is connected again, no folder can be made, locked or unlocked.",
                in_words(&set_aside)
            ),
        )
        .fix("Connect it again: press the button and sign in to Google as that account.")
        .fix(why)
        .link("/admin/settings#drive-accounts", "See the Drive accounts")
    } else {
        let finding = match working.as_slice() {
            [one] => format!("The school's Drive account is connected: {one}."),
            many => format!(
                "{} of the school's Drive accounts are connected: locks are spread over them.",
                many.len()
            ),
        };
        let done = Step::new(KEY, TITLE, StepStatus::Done, finding);
        if set_aside.is_empty() {
            done
        } else {
            let (it, its, was) = if set_aside.len() == 1 {
                ("it", "its", "was")
            } else {
                ("them", "their", "were")
            };
            done.note(format!(
                "Google refused {}, so {it} {was} set aside: {its} work has gone to the school's \
                 other Drive accounts. Reconnect or remove {it} in the settings.",
                in_words(&set_aside)
            ))
            .link("/admin/settings#drive-accounts", "See the Drive accounts")
        }
    };
    // Each account with its state; one that works says it all in the finding already.
    if facts.accounts.len() > 1 || !set_aside.is_empty() {
        step.accounts = facts.accounts.iter().map(AccountLine::from).collect();
    }
    if facts.accounts.is_empty() {
        step.connect_drive = can_connect.then_some("Connect the school's Drive account");
    } else if working.is_empty() {
        step.connect_drive = can_connect.then_some("Reconnect the school's Drive account");
    }
    step
}

/// How to make the Drive account (or `several` of them) a Manager, in Google Drive's own words.
fn manager_how_to(account: &str, several: bool) -> String {
    let (them, managers, it) = if several {
        ("them", "Managers", "each")
    } else {
        ("it", "a Manager", "it")
    };
    format!(
        "To make {them} {managers}: in Google Drive, open Shared drives, right-click the drive, \
         choose Manage members, add {account} and give {it} the Manager role."
    )
}

/// What the live Shared Drive check said.
enum DriveCheck {
    /// Nothing to check: no drive set, or no working Drive account to check it with.
    NotAsked,
    Checked(Result<CheckedSharedDrive, SharedDriveRefusal>),
    TimedOut,
}

/// Step 2: the Shared Drive, checked live through the Drive account.
fn shared_drive_step(facts: &StoredFacts, settings: &SchoolSettings, check: DriveCheck) -> Step {
    const TITLE: &str = "Choose the Shared Drive for portfolios";
    let working = facts.working_accounts();
    let accounts = match working.as_slice() {
        [] => "the school's Drive account".to_owned(),
        many => in_words(many),
    };
    let account = accounts.as_str();
    let step = |status, finding: String| Step::new("shared-drive", TITLE, status, finding);
    let Some(id) = settings.shared_drive_id.as_deref() else {
        return step(
            StepStatus::NeedsDoing,
            "No Shared Drive is set yet.".to_owned(),
        )
        .fix(
            "Make a Shared Drive for the portfolio folders in Google Drive (or choose one the \
             school already has) and add the school's Drive account to it as a Manager.",
        )
        .fix(manager_how_to(account, working.len() > 1))
        .fix(
            "Then save the drive's id in the settings. The id is the last part of the drive's \
             address when it is open in Drive: drive.google.com/drive/folders/the-id.",
        )
        .link("/admin/settings", "Set the Shared Drive in the settings");
    };
    let could_not = |why: &str| {
        step(
            StepStatus::CouldNotCheck,
            format!("A Shared Drive is set (id {id}), but {why}"),
        )
    };
    match check {
        DriveCheck::Checked(Ok(found)) => step(
            StepStatus::Done,
            format!(
                "{} the Shared Drive “{}”.{}",
                if working.len() > 1 {
                    format!("The school's Drive accounts ({account}) manage")
                } else {
                    format!("The school's Drive account ({account}) manages")
                },
                found.name,
                // Saved before drives were checked: the checklist only reports.
                if settings.shared_drive_checked_at.is_none() {
                    " The next Classroom sync records that it was checked."
                } else {
                    ""
                }
            ),
        ),
        DriveCheck::NotAsked => {
            could_not("it is checked through the school's Drive account, which is not working yet.")
                .fix("Connect the school's Drive account (step 1), then reload this page.")
        }
        DriveCheck::TimedOut => could_not("Google did not answer the check in time.")
            .fix("Reload this page in a minute or two."),
        DriveCheck::Checked(Err(refusal)) => match refusal {
            SharedDriveRefusal::NotManager { ref account, .. } => step(
                StepStatus::NeedsDoing,
                format!("{}.", super::form::sentence_case(&refusal.to_string())),
            )
            .fix(manager_how_to(account, false))
            .fix("Then reload this page."),
            SharedDriveRefusal::NotFound { ref account } => step(
                StepStatus::NeedsDoing,
                format!("{}.", super::form::sentence_case(&refusal.to_string())),
            )
            .fix(
                "Check the id in the settings: it is the last part of the drive's address when \
                 it is open in Drive.",
            )
            .fix(manager_how_to(account, false))
            .link("/admin/settings", "Check the Shared Drive in the settings"),
            SharedDriveRefusal::Refused { .. } => step(
                StepStatus::NeedsDoing,
                format!("{}.", super::form::sentence_case(&refusal.to_string())),
            )
            .fix(
                "Ask your Google Workspace administrator to allow Invigilator to use Google Drive \
                 (Admin console: Security, then Access and data control, then API controls), \
                 then reload this page.",
            ),
            SharedDriveRefusal::NoOperator | SharedDriveRefusal::OperatorNeedsReconnect => {
                could_not("the school's Drive account must be connected (again) to check it.")
                    .fix("Connect the school's Drive account (step 1), then reload this page.")
            }
            SharedDriveRefusal::Unavailable(_) => could_not("Google did not answer the check.")
                .fix("Reload this page in a minute or two."),
            SharedDriveRefusal::Setup(e) => {
                tracing::error!(error = %e, "the Shared Drive check could not be set up");
                could_not("something went wrong on our side while checking it.")
                    .fix("Reload this page in a minute. If it happens again, tell Invigilator's support.")
            }
        },
    }
}

/// The teachers' sign-in grants a roster sync reads Classroom with.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
struct SignInGrants {
    working: i64,
    refused: i64,
    /// Whose grant to try: someone who teaches a class, if anyone does.
    try_staff: Option<Uuid>,
}

impl SignInGrants {
    async fn read(tx: &mut SchoolTx) -> Result<Self, sqlx::Error> {
        sqlx::query_as(
            "SELECT count(*) FILTER (WHERE c.status = 'active') AS working, \
                    count(*) FILTER (WHERE c.status = 'needs_reconnect') AS refused, \
                    (SELECT c2.staff_id FROM google_credentials c2 \
                     WHERE c2.purpose = 'sign_in' AND c2.status = 'active' \
                     ORDER BY EXISTS (SELECT 1 FROM course_teachers ct \
                                      WHERE ct.staff_id = c2.staff_id) DESC, c2.staff_id \
                     LIMIT 1) AS try_staff \
             FROM google_credentials c WHERE c.purpose = 'sign_in'",
        )
        .fetch_one(&mut **tx)
        .await
    }
}

/// What the live Classroom call said: the account asked through, and the answer.
enum ClassroomCheck {
    NotAsked,
    Answered(String),
    Failed(GoogleError),
    TimedOut,
}

/// One cheap Classroom call (the account's own profile) with the grant a sync would use.
async fn ask_classroom(state: &AppState, staff: &CurrentStaff, who: Uuid) -> ClassroomCheck {
    let call = async {
        let classroom = state.google.classroom(&staff.school, who).await?;
        classroom.user_email("me").await?;
        Ok::<_, GoogleError>(classroom.account().to_owned())
    };
    match tokio::time::timeout(CHECK_TIMEOUT, call).await {
        Ok(Ok(account)) => ClassroomCheck::Answered(account),
        Ok(Err(e)) => ClassroomCheck::Failed(e),
        Err(_) => ClassroomCheck::TimedOut,
    }
}

/// Step 3: Classroom, through a teacher's own sign-in (a sync reads every class through its
/// teachers' grants; there is no school-wide Classroom account).
fn classroom_step(grants: &SignInGrants, check: ClassroomCheck) -> Step {
    const TITLE: &str = "Check Google Classroom can be read";
    let step = |status, finding: String| Step::new("classroom", TITLE, status, finding);
    let refused_note = (grants.refused > 0).then(|| {
        format!(
            "{} {} must sign in to Invigilator again: Google no longer accepts their sign-in, so \
             their classes may not be kept up to date.",
            grants.refused,
            if grants.refused == 1 {
                "member of staff"
            } else {
                "members of staff"
            },
        )
    });
    let how_classroom_is_read = "Invigilator reads each class through its own teachers' Google \
                                 accounts, which they let it use when they sign in.";
    let admin_console = "If Google refuses them, ask your Google Workspace administrator to allow \
                         Invigilator to use Google Classroom (Admin console: Security, then Access \
                         and data control, then API controls) and to make sure Classroom is \
                         turned on for staff.";
    let mut result = match check {
        ClassroomCheck::NotAsked => step(
            StepStatus::NeedsDoing,
            "Nobody has let Invigilator read their Google Classroom yet.".to_owned(),
        )
        .fix(how_classroom_is_read)
        .fix("Ask your teachers to sign in to Invigilator once with their school Google account.")
        .fix(admin_console),
        ClassroomCheck::Answered(account) => step(
            StepStatus::Done,
            format!(
                "Google Classroom answered, asked through {account}'s sign-in. {} {} of staff \
                 can be read.",
                grants.working,
                if grants.working == 1 {
                    "member"
                } else {
                    "members"
                },
            ),
        ),
        ClassroomCheck::TimedOut => step(
            StepStatus::CouldNotCheck,
            "Google Classroom did not answer in time.".to_owned(),
        )
        .fix("Reload this page in a minute or two."),
        ClassroomCheck::Failed(e) => match e.class() {
            ErrorClass::NeedsReconnect => step(
                StepStatus::NeedsDoing,
                "Google refused the sign-in Invigilator tried Classroom with.".to_owned(),
            )
            .fix("Ask your teachers to sign in to Invigilator again, then reload this page.")
            .fix(admin_console),
            ErrorClass::Permanent | ErrorClass::NotFound => step(
                StepStatus::NeedsDoing,
                "Google refused to let Invigilator read Classroom.".to_owned(),
            )
            .fix(admin_console),
            ErrorClass::Transient | ErrorClass::RateLimited | ErrorClass::SharingRateLimited => {
                step(
                    StepStatus::CouldNotCheck,
                    "Google Classroom did not answer.".to_owned(),
                )
                .fix("Reload this page in a minute or two.")
            }
        },
    };
    if let Some(note) = refused_note {
        result = result.note(note);
    }
    result
}

/// Step 4: the first roster sync.
fn sync_step(facts: &StoredFacts, can_sync: bool, interval_minutes: i32) -> Step {
    const TITLE: &str = "Sync the classes from Google Classroom";
    let Some(last) = &facts.last_sync else {
        return Step {
            sync_now: can_sync,
            ..Step::new(
                "sync",
                TITLE,
                StepStatus::NeedsDoing,
                "Invigilator has not read the classes from Google Classroom yet.".to_owned(),
            )
            .fix(
                "Once the steps above are done, press Sync now. It runs in the background and \
                 takes a minute or two for a whole school; reload this page to see it here.",
            )
            .fix(format!(
                "After that it runs on its own every {interval_minutes} minutes."
            ))
            .link("/admin/sync", "See the Classroom sync page")
        };
    };
    let step = Step::new(
        "sync",
        TITLE,
        StepStatus::Done,
        format!(
            "Last synced at {}: {} {} read.",
            london_time(last.finished_at),
            last.courses,
            if last.courses == 1 {
                "class"
            } else {
                "classes"
            }
        ),
    );
    if last.problems > 0 {
        step.note(format!(
            "That sync met {} {}: some classes or teachers may be out of date.",
            last.problems,
            if last.problems == 1 {
                "problem"
            } else {
                "problems"
            }
        ))
        .link("/admin/sync", "See what went wrong")
    } else {
        step
    }
}

/// How many active classes there are, and how many lack a subject or a year.
#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
struct Sorting {
    classes: i64,
    unsorted: i64,
}

impl Sorting {
    async fn read(tx: &mut SchoolTx) -> Result<Self, sqlx::Error> {
        sqlx::query_as(
            "SELECT count(*) AS classes, \
                    count(*) FILTER (WHERE s.name IS NULL OR s.name = 'Unsorted' \
                                     OR c.year_group IS NULL) AS unsorted \
             FROM courses c LEFT JOIN subjects s ON s.id = c.subject_id WHERE c.active",
        )
        .fetch_one(&mut **tx)
        .await
    }
}

/// Step 5: the subject and year rules.
fn rules_step(facts: &StoredFacts, sorting: Sorting) -> Step {
    const TITLE: &str = "Put the classes into subjects and years";
    let rules =
        |n: i64, what: &str| format!("{n} {what} {}", if n == 1 { "rule" } else { "rules" });
    let unsorted = (sorting.unsorted > 0).then(|| {
        format!(
            "{} of {} classes {} no subject or no year yet.",
            sorting.unsorted,
            sorting.classes,
            if sorting.unsorted == 1 { "has" } else { "have" }
        )
    });
    let found = format!(
        "{} and {}.",
        rules(facts.subject_rules, "subject"),
        rules(facts.year_rules, "year")
    );
    if facts.subject_rules > 0 && facts.year_rules > 0 {
        let step = Step::new("rules", TITLE, StepStatus::Done, found);
        return match unsorted {
            Some(unsorted) => step
                .note(format!(
                    "{unsorted} Add rules for them, or set a class's subject and year by hand."
                ))
                .link("/admin/rules", "Sort the remaining classes"),
            None => step,
        };
    }
    let mut step = Step::new(
        "rules",
        TITLE,
        StepStatus::NeedsDoing,
        format!("{found} At least one of each is needed."),
    )
    .fix(
        "Heads of Subject, the whole-school view and assessment windows find classes by \
         subject and year. Rules give every class both from its name or section in Classroom: \
         for example “10%” for Year 10, or “%Chem%” for Chemistry.",
    )
    .link("/admin/rules", "Add subject and year rules");
    if let Some(unsorted) = unsorted {
        step = step.note(unsorted);
    }
    step
}

/// Step 6: the staff addresses that tell staff from students.
fn staff_addresses_step(settings: &SchoolSettings) -> Step {
    const TITLE: &str = "Say which addresses belong to staff";
    let step = |status, finding: String| Step::new("staff-addresses", TITLE, status, finding);
    if settings.staff_addresses.is_empty() {
        return step(
            StepStatus::NeedsDoing,
            "No staff addresses are set, so only people you have invited or given a role can \
             sign in."
                .to_owned(),
        )
        .fix(
            "Students can create Google Classroom classes too: Invigilator makes someone who \
             teaches a class a Teacher only if their address matches a staff pattern, such as \
             “*@staff.school.sch.uk”.",
        )
        .link("/admin/settings#staff_addresses", "Set the staff addresses");
    }
    step(
        StepStatus::Done,
        format!(
            "Staff are recognised by {}.",
            settings.staff_addresses.join(", ")
        ),
    )
}

/// The notices a redirect back here may ask for (`?done=`).
const NOTICES: &[(&str, &str)] = &[
    (
        "sync",
        "A sync with Google Classroom has been asked for. It runs in the background: reload \
         this page in a minute or two to see it here.",
    ),
    (
        "drive-connected",
        "The school's Drive account is connected.",
    ),
];

#[derive(Template)]
#[template(path = "setup.html")]
pub struct SetupPage {
    pub layout: Layout,
    pub tabs: Vec<NavLink>,
    pub csrf_token: String,
    pub notice: Option<&'static str>,
    pub steps: Vec<Step>,
    pub done: usize,
}

/// `GET /setup`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn setup_page(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Query(done): Query<super::form::DoneQuery>,
) -> Result<Html<String>, PageError> {
    staff.require(Permission::ManageSettings)?;
    let mut tx = staff.school_tx(&state).await?;
    let facts = StoredFacts::read(&mut tx).await?;
    let grants = SignInGrants::read(&mut tx).await?;
    let sorting = Sorting::read(&mut tx).await?;
    tx.commit().await?;
    let settings = school_settings(&state, &staff).await?;

    // Google's two answers, at once; no database connection is held meanwhile.
    let drive_check = async {
        let Some(id) = settings.shared_drive_id.as_deref() else {
            return DriveCheck::NotAsked;
        };
        if !facts.operator_works() {
            return DriveCheck::NotAsked;
        }
        match tokio::time::timeout(
            CHECK_TIMEOUT,
            shared_drive::check(&state.google, &staff.school, id),
        )
        .await
        {
            Ok(result) => DriveCheck::Checked(result),
            Err(_) => DriveCheck::TimedOut,
        }
    };
    let classroom_check = async {
        match grants.try_staff {
            Some(who) => ask_classroom(&state, &staff, who).await,
            None => ClassroomCheck::NotAsked,
        }
    };
    let (drive_check, classroom_check) = tokio::join!(drive_check, classroom_check);

    let steps = vec![
        drive_account_step(&facts, staff.can(Permission::ConnectDrive)),
        shared_drive_step(&facts, &settings, drive_check),
        classroom_step(&grants, classroom_check),
        sync_step(
            &facts,
            staff.can(Permission::SyncRosters),
            settings.sync_interval_minutes,
        ),
        rules_step(&facts, sorting),
        staff_addresses_step(&settings),
    ];
    render(&SetupPage {
        layout: Layout::for_staff(&staff, Section::Admin),
        tabs: AdminTab::Setup.tabs(),
        csrf_token: staff.csrf_token.clone(),
        notice: done.notice(NOTICES),
        done: steps
            .iter()
            .filter(|s| s.status == StepStatus::Done)
            .count(),
        steps,
    })
}

/// `POST /setup/sync`: Sync now. Exactly what `POST /api/sync` and the sync page do (the same
/// step: the same permission, queue and audit entry), then back to the checklist.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn sync_now(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
) -> Result<Response, PageError> {
    crate::web::api::queue_sync(&state, &staff).await?;
    Ok(super::form::done("/setup", "sync"))
}
