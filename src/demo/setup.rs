//! Builds the demo school in an empty database through the code a real school's set-up runs:
//! provisioning, the first School Admin's invitation and sign-in, the class rules, role
//! invitations, the Drive operator's connection, the Shared Drive's check, a roster sync and
//! folder provisioning. Only Google's consent screen is skipped: each grant a person would give
//! there is minted by the emulator and stored exactly as sign-in stores it.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use super::school::{self, Arrival, StaffMember};
use crate::audit::{self, Action, Actor, Target};
use crate::auth::role_admin;
use crate::auth::roles::Role;
use crate::auth::signin::{DRIVE_OPERATOR_SCOPES, TEACHER_SCOPES};
use crate::auth::staff::{self, Profile};
use crate::config::Config;
use crate::google::DRIVE_SCOPE;
use crate::google::credentials::{self, Purpose};
use crate::portfolio::shared_drive;
use crate::roster::placement::{self, Placement};
use crate::roster::{self, Trigger};
use crate::services::Services;
use crate::tenancy::settings::{self, SettingsChange};
use crate::tenancy::{self, NewSchool, School, SchoolTx, TenantMigrations, begin_school_tx};

/// What was built.
#[derive(Debug, Clone)]
pub struct Built {
    pub school: School,
    pub classes: usize,
    pub students: u64,
    pub portfolio_folders: u64,
    pub sync_took: Duration,
    pub folders_took: Duration,
}

/// Builds the demo school; `progress` hears a line as each slow step starts.
pub async fn build(
    config: &Config,
    services: &Services,
    google: &google_emulator::Emulator,
    progress: &mut (dyn FnMut(&str) + Send),
) -> anyhow::Result<Built> {
    let new = NewSchool::parse(school::SLUG, school::NAME, school::DOMAIN)
        .context("the demo school's names")?;
    let school = tenancy::provision_school(
        &services.db,
        &config.tenant_role_prefix,
        &TenantMigrations::embedded(),
        &new,
    )
    .await
    .context("cannot create the demo school")?;

    let mut tx = begin_school_tx(&services.db, &school).await?;
    let admin = school::school_admin();
    invite_first_admin(&mut tx, &school, admin.email).await?;
    let admin_id = sign_in(&mut tx, config, google, admin).await?;
    add_class_rules(&mut tx, admin_id).await?;
    for person in school::STAFF.iter() {
        match person.arrival {
            Arrival::Teaches => {
                sign_in(&mut tx, config, google, person).await?;
            }
            Arrival::Invited => invite(&mut tx, admin_id, person).await?,
            Arrival::FirstAdmin => {}
        }
    }
    connect_drive(&mut tx, config, google, admin_id, admin.email).await?;
    connect_drive(
        &mut tx,
        config,
        google,
        admin_id,
        school::SECOND_DRIVE_ACCOUNT,
    )
    .await?;
    tx.commit().await?;
    set_shared_drive(services, &school, admin_id).await?;

    progress("syncing Google Classroom…");
    let clock = Instant::now();
    let synced = roster::sync_school(
        &services.db,
        &services.google,
        &services.leases,
        &school,
        Trigger::Cli,
    )
    .await
    .context("the demo's roster sync failed")?;
    if let Some(e) = synced.errors.first() {
        bail!("the demo's roster sync had a problem: {e}");
    }
    let sync_took = clock.elapsed();

    progress("making the portfolio folders in the Shared Drive…");
    let clock = Instant::now();
    let folders = crate::portfolio::provision(
        &services.db,
        &services.google,
        &school,
        school::SHARED_DRIVE_ID,
    )
    .await
    .context("the demo's folders could not be made")?;
    if let Some(e) = folders.errors.first() {
        bail!("a demo folder could not be made: {e}");
    }
    let mut tx = begin_school_tx(&services.db, &school).await?;
    let students: i64 = sqlx::query_scalar("SELECT count(*) FROM students")
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Built {
        school,
        classes: synced.courses,
        students: students.unsigned_abs(),
        portfolio_folders: folders.portfolio_folders,
        sync_took,
        folders_took: clock.elapsed(),
    })
}

/// The first School Admin, as `invigilator tenant create --admin-email` names them.
pub(super) async fn invite_first_admin(
    tx: &mut SchoolTx,
    school: &School,
    email: &str,
) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO role_invitations (email, role) VALUES ($1, 'school_admin')")
        .bind(email)
        .execute(&mut **tx)
        .await?;
    audit::record(
        tx,
        &Actor::System("demo"),
        Action::SchoolCreated,
        Some(&Target::new("school", school.id)),
        json!({"first_admin_invited": true}),
    )
    .await?;
    Ok(())
}

/// What a completed sign-in leaves behind, without the browser: the staff row under Google's
/// id, the invitations accepted (or, for someone who teaches, the Teacher role), the encrypted
/// grant the roster sync reads Classroom with, and the audit entry. Returns the staff id.
pub(super) async fn sign_in(
    tx: &mut SchoolTx,
    config: &Config,
    google: &google_emulator::Emulator,
    person: &StaffMember,
) -> anyhow::Result<Uuid> {
    let user = google
        .user(person.email)
        .ok_or_else(|| anyhow!("{} is not in the demo's Google", person.email))?;
    let display_name = person.full_name();
    let me = staff::upsert_signed_in(
        tx,
        &Profile {
            sub: &user.id,
            email: person.email,
            display_name: &display_name,
            given_name: Some(person.given_name),
            family_name: Some(person.family_name),
            photo_url: None,
        },
    )
    .await?;
    let mut roles = staff::accept_invitations(tx, me.id, person.email).await?;
    if person.arrival == Arrival::Teaches {
        staff::grant(tx, me.id, Role::Teacher, None, None).await?;
        roles.push(Role::Teacher);
    }
    let refresh = google
        .issue_refresh_token(person.email, TEACHER_SCOPES, &config.google_client_id)
        .ok_or_else(|| anyhow!("the demo's Google would not sign {} in", person.email))?;
    let scopes: Vec<String> = TEACHER_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    credentials::save_oauth(
        tx,
        &config.token_keys,
        me.id,
        Purpose::SignIn,
        person.email,
        &scopes,
        &SecretString::from(refresh),
    )
    .await?;
    audit::record(
        tx,
        &Actor::Staff(me.id),
        Action::SignIn,
        Some(&Target::new("staff", me.id)),
        json!({"roles_granted": roles}),
    )
    .await?;
    Ok(me.id)
}

/// The School Admin's rules placing each class in its subject and year group, as the class
/// rules page adds them.
async fn add_class_rules(tx: &mut SchoolTx, admin: Uuid) -> anyhow::Result<()> {
    for subject in school::SUBJECTS {
        let pattern = format!("%{subject}%");
        placement::add_rule(tx, admin, &pattern, &Placement::Subject(subject.to_owned())).await?;
    }
    for year in school::YEARS {
        placement::add_rule(tx, admin, &format!("{year}%"), &Placement::YearGroup(year)).await?;
    }
    Ok(())
}

/// A role the School Admin gives someone who has not signed in yet: an invitation, theirs at
/// their first sign-in.
async fn invite(tx: &mut SchoolTx, admin: Uuid, person: &StaffMember) -> anyhow::Result<()> {
    let subject: Option<Uuid> = match person.subject {
        None => None,
        Some(name) => Some(
            sqlx::query_scalar("SELECT id FROM subjects WHERE name = $1")
                .bind(name)
                .fetch_one(&mut **tx)
                .await
                .with_context(|| format!("the subject {name:?}"))?,
        ),
    };
    role_admin::assign(
        tx,
        admin,
        school::DOMAIN,
        person.email,
        person.role,
        subject,
    )
    .await
    .with_context(|| format!("inviting {}", person.email))?;
    Ok(())
}

/// The School Admin connects a Drive operator account (a Manager of the Shared Drive), as the
/// dashboard's "connect Drive" stores it.
async fn connect_drive(
    tx: &mut SchoolTx,
    config: &Config,
    google: &google_emulator::Emulator,
    admin: Uuid,
    email: &str,
) -> anyhow::Result<()> {
    let refresh = google
        .issue_refresh_token(email, DRIVE_OPERATOR_SCOPES, &config.google_client_id)
        .ok_or_else(|| anyhow!("the demo's Google would not connect {email} to Drive"))?;
    let credential = credentials::save_oauth(
        tx,
        &config.token_keys,
        admin,
        Purpose::DriveOperator,
        email,
        &[DRIVE_SCOPE.to_owned()],
        &SecretString::from(refresh),
    )
    .await?;
    audit::record(
        tx,
        &Actor::Staff(admin),
        Action::DriveOperatorConnected,
        Some(&Target::new("google_credential", credential)),
        json!({}),
    )
    .await?;
    Ok(())
}

/// The Shared Drive in the school's settings, checked through the Drive operator first, as
/// the settings page saves it.
async fn set_shared_drive(services: &Services, school: &School, admin: Uuid) -> anyhow::Result<()> {
    let checked = shared_drive::check(&services.google, school, school::SHARED_DRIVE_ID)
        .await
        .context("the demo's Shared Drive did not pass its check")?;
    let change = SettingsChange {
        shared_drive_id: Some(Some(checked.id.clone())),
        staff_addresses: Some(vec![school::STAFF_ADDRESSES.to_owned()]),
        ..SettingsChange::default()
    };
    settings::update(
        &services.db,
        &services.redis,
        &services.namespace,
        school,
        &Actor::Staff(admin),
        &change,
        Some(&checked),
    )
    .await?;
    Ok(())
}
