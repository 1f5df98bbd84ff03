//! A school's settings, read through a Redis cache that holds them for at most five minutes
//! (a promise in our data-processing terms) and is invalidated the moment a School Admin changes
//! them, so every process sees a change at once.
//!
//! Invalidation is by generation: a change increments the school's generation counter after it
//! commits, and copies are cached under the generation read *before* the database was read. A
//! reader that raced a change can only write its stale copy under the old generation, which
//! nobody reads any more.

use std::ops::RangeInclusive;

use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::registry::School;
use super::school_tx::continue_as_school;
use crate::audit::{self, Action, Actor, Target};
use crate::auth::staff_addresses::{StaffAddresses, StaffAddressesError};

/// How long a cached copy may be used.
pub const CACHE_TTL_SECS: u64 = 300;

/// How many months a school may keep records for after their last change.
pub const RETENTION_MONTHS: RangeInclusive<i32> = 1..=120;

/// How many minutes a school may set between roster syncs: at most a day.
pub const SYNC_INTERVAL_MINUTES: RangeInclusive<i32> = 5..=1440;

/// The settings a School Admin can change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct SchoolSettings {
    /// The Shared Drive holding the portfolio folders.
    pub shared_drive_id: Option<String>,
    /// The Shared Drive's name, as Drive gave it when the drive was last checked.
    pub shared_drive_name: Option<String>,
    /// When the Drive operator was last found to manage the Shared Drive.
    pub shared_drive_checked_at: Option<DateTime<Utc>>,
    /// Months after a record's last change before the retention purge removes it.
    pub retention_months: i32,
    /// Minutes between roster syncs.
    pub sync_interval_minutes: i32,
    /// What a roster sync does with a student whose address is outside the school's domain.
    pub outside_domain_students: OutsideStudents,
    /// Addresses that are staff's: teaching a Classroom class makes only these a Teacher.
    #[serde(default)]
    pub staff_addresses: Vec<String>,
}

/// What a roster sync does with a student in one of the school's classes whose address is not
/// of the school's Workspace domain.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum OutsideStudents {
    /// Left out, counted in the sync run and named there by Classroom id (the default).
    #[default]
    Skip,
    /// Taken in like the school's own students.
    Include,
}

/// A change; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    #[serde(default, with = "double_option")]
    pub shared_drive_id: Option<Option<String>>,
    pub retention_months: Option<i32>,
    pub sync_interval_minutes: Option<i32>,
    pub outside_domain_students: Option<OutsideStudents>,
    /// Replaces every staff address pattern (`[]` removes them all).
    pub staff_addresses: Option<Vec<String>>,
}

impl SettingsChange {
    /// The Shared Drive this change sets, if it sets one (clearing it needs no check).
    pub fn new_shared_drive(&self) -> Option<&str> {
        self.shared_drive_id.as_ref()?.as_deref()
    }

    /// Refuses values out of range before anything is checked or saved.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self
            .retention_months
            .is_some_and(|m| !RETENTION_MONTHS.contains(&m))
        {
            return Err(SettingsError::Retention);
        }
        if self
            .sync_interval_minutes
            .is_some_and(|m| !SYNC_INTERVAL_MINUTES.contains(&m))
        {
            return Err(SettingsError::SyncInterval);
        }
        if let Some(id) = self.new_shared_drive()
            && (id.is_empty()
                || id.len() > 100
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(SettingsError::SharedDrive);
        }
        self.new_staff_addresses()?;
        Ok(())
    }

    /// The staff address patterns this change sets, checked and tidied.
    pub fn new_staff_addresses(&self) -> Result<Option<StaffAddresses>, SettingsError> {
        self.staff_addresses
            .as_deref()
            .map(StaffAddresses::parse)
            .transpose()
            .map_err(SettingsError::StaffAddresses)
    }
}

/// A Shared Drive the school's Drive operator was just found to manage: the only way a drive
/// id reaches the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedSharedDrive {
    pub id: String,
    pub name: String,
}

/// `null` clears a field; absence leaves it.
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer};

    /// With `#[serde(default)]`: absent is `None`, `null` is `Some(None)`.
    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "retention must be from {} to {} months",
        RETENTION_MONTHS.start(),
        RETENTION_MONTHS.end()
    )]
    Retention,
    #[error(
        "the sync interval must be from {} to {} minutes",
        SYNC_INTERVAL_MINUTES.start(),
        SYNC_INTERVAL_MINUTES.end()
    )]
    SyncInterval,
    #[error("a Shared Drive id is letters, digits, - and _ only")]
    SharedDrive,
    #[error(
        "the Shared Drive must be checked through the school's Drive operator before it is saved"
    )]
    SharedDriveNotChecked,
    #[error("this Shared Drive is already used by another school; each school needs its own")]
    SharedDriveTaken,
    #[error("{0}")]
    StaffAddresses(#[from] StaffAddressesError),
    #[error("no such school")]
    NotFound,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

// Under the deployment's namespace, as every Redis name is: a staging copy of a database
// shares its schools' ids, and must not read production's cached settings.
fn generation_key(namespace: &str, school: Uuid) -> String {
    format!("invigilator:{namespace}school-settings-generation:{school}")
}

fn cache_key(namespace: &str, school: Uuid, generation: u64) -> String {
    format!("invigilator:{namespace}school-settings:{school}:{generation}")
}

/// The school's settings, from the cache when fresh.
pub async fn load(
    pool: &PgPool,
    redis: &ConnectionManager,
    namespace: &str,
    school: Uuid,
) -> Result<SchoolSettings, SettingsError> {
    let mut conn = redis.clone();
    let generation: Option<u64> = conn
        .get(generation_key(namespace, school))
        .await
        .ok()
        .flatten();
    let generation = generation.unwrap_or(0);
    let cached: Result<Option<String>, _> =
        conn.get(cache_key(namespace, school, generation)).await;
    if let Ok(Some(json)) = cached
        && let Ok(settings) = serde_json::from_str(&json)
    {
        return Ok(settings);
    }
    let settings = read(pool, school).await?;
    if let Ok(json) = serde_json::to_string(&settings) {
        // A cache failure only costs a database read next time.
        let _: Result<(), _> = conn
            .set_ex(
                cache_key(namespace, school, generation),
                json,
                CACHE_TTL_SECS,
            )
            .await;
    }
    Ok(settings)
}

/// Records that the school's Drive operator was just found to manage its Shared Drive (one
/// saved before drives were checked), unless the drive has changed meanwhile.
pub async fn record_drive_check(
    pool: &PgPool,
    redis: &ConnectionManager,
    namespace: &str,
    school: Uuid,
    checked: &CheckedSharedDrive,
) -> Result<(), SettingsError> {
    sqlx::query(
        "UPDATE platform.tenants SET shared_drive_name = $3, shared_drive_checked_at = now() \
         WHERE id = $1 AND shared_drive_id = $2",
    )
    .bind(school)
    .bind(&checked.id)
    .bind(&checked.name)
    .execute(pool)
    .await?;
    invalidate(redis, namespace, school).await;
    Ok(())
}

/// Every [`SchoolSettings`] column of `platform.tenants`.
const SETTINGS_COLUMNS: &str = "shared_drive_id, shared_drive_name, shared_drive_checked_at, \
     retention_months, sync_interval_minutes, outside_domain_students, staff_addresses";

/// The school's settings as the database holds them now (no cache): for work that must act on
/// the latest, such as a roster sync deciding whose data to take in.
pub async fn read(pool: &PgPool, school: Uuid) -> Result<SchoolSettings, SettingsError> {
    sqlx::query_as::<_, SchoolSettings>(sqlx::AssertSqlSafe(format!(
        "SELECT {SETTINGS_COLUMNS} FROM platform.tenants WHERE id = $1"
    )))
    .bind(school)
    .fetch_optional(pool)
    .await?
    .ok_or(SettingsError::NotFound)
}

/// Applies a change, records it in the school's audit log as `actor`'s, and clears every
/// process's cached copy. The change (in `platform.tenants`) and its audit entry (in the
/// school's schema, as the school's role) are one transaction: if the entry cannot be written,
/// the change is not saved either. A change that sets a Shared Drive must come with that
/// drive's check (`checked`), made through the school's Drive operator.
#[tracing::instrument(skip(pool, redis, change, checked), fields(school = %school.slug))]
pub async fn update(
    pool: &PgPool,
    redis: &ConnectionManager,
    namespace: &str,
    school: &School,
    actor: &Actor,
    change: &SettingsChange,
    checked: Option<&CheckedSharedDrive>,
) -> Result<SchoolSettings, SettingsError> {
    change.validate()?;
    if let Some(id) = change.new_shared_drive()
        && checked.is_none_or(|c| c.id != id)
    {
        return Err(SettingsError::SharedDriveNotChecked);
    }
    let mut tx = pool.begin().await?;
    let settings = sqlx::query_as::<_, SchoolSettings>(sqlx::AssertSqlSafe(format!(
        "UPDATE platform.tenants SET \
             shared_drive_id = CASE WHEN $2 THEN $3 ELSE shared_drive_id END, \
             shared_drive_name = CASE WHEN $2 THEN $4 ELSE shared_drive_name END, \
             shared_drive_checked_at = CASE WHEN $2 THEN \
                 (CASE WHEN $3 IS NULL THEN NULL ELSE now() END) ELSE shared_drive_checked_at END, \
             retention_months = coalesce($5, retention_months), \
             sync_interval_minutes = coalesce($6, sync_interval_minutes), \
             outside_domain_students = coalesce($7, outside_domain_students), \
             staff_addresses = coalesce($8, staff_addresses), \
             updated_at = now() \
         WHERE id = $1 \
         RETURNING {SETTINGS_COLUMNS}"
    )))
    .bind(school.id)
    .bind(change.shared_drive_id.is_some())
    .bind(change.shared_drive_id.clone().flatten())
    .bind(checked.map(|c| c.name.clone()))
    .bind(change.retention_months)
    .bind(change.sync_interval_minutes)
    .bind(change.outside_domain_students)
    .bind(change.new_staff_addresses()?.map(|s| s.patterns().to_vec()))
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.constraint() == Some("tenants_shared_drive_key") => {
            SettingsError::SharedDriveTaken
        }
        _ => SettingsError::Database(e),
    })?
    .ok_or(SettingsError::NotFound)?;
    let mut tx = continue_as_school(tx, school).await?;
    audit::record(
        &mut tx,
        actor,
        Action::SettingsChanged,
        Some(&Target::new("school", school.id)),
        json!({
            "shared_drive_id": settings.shared_drive_id,
            "shared_drive_checked": checked.is_some(),
            "retention_months": settings.retention_months,
            "sync_interval_minutes": settings.sync_interval_minutes,
            "outside_domain_students": settings.outside_domain_students,
            "staff_addresses": settings.staff_addresses,
        }),
    )
    .await?;
    tx.commit().await?;
    invalidate(redis, namespace, school.id).await;
    Ok(settings)
}

/// Makes every process read the settings afresh.
async fn invalidate(redis: &ConnectionManager, namespace: &str, school: Uuid) {
    let mut conn = redis.clone();
    if let Err(e) = conn
        .incr::<_, _, u64>(generation_key(namespace, school), 1)
        .await
    {
        // Readers then keep the old copy until its five-minute TTL ends; say so loudly.
        tracing::error!(error = %e, "could not invalidate cached school settings");
    }
}
