//! A school's settings, read through a Redis cache that holds them for at most five minutes
//! (a promise in our data-processing terms) and is invalidated the moment a School Admin changes
//! them, so every process sees a change at once.
//!
//! Invalidation is by generation: a change increments the school's generation counter after it
//! commits, and copies are cached under the generation read *before* the database was read. A
//! reader that raced a change can only write its stale copy under the old generation, which
//! nobody reads any more.

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

/// How long a cached copy may be used.
pub const CACHE_TTL_SECS: u64 = 300;

/// The settings a School Admin can change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct SchoolSettings {
    /// The Shared Drive holding the portfolio folders.
    pub shared_drive_id: Option<String>,
    /// Months after a record's last change before the retention purge removes it.
    pub retention_months: i32,
    /// Minutes between roster syncs.
    pub sync_interval_minutes: i32,
}

/// A change; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    #[serde(default, with = "double_option")]
    pub shared_drive_id: Option<Option<String>>,
    pub retention_months: Option<i32>,
    pub sync_interval_minutes: Option<i32>,
}

/// `null` clears a field; absence leaves it.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("retention must be from 1 to 120 months")]
    Retention,
    #[error("the sync interval must be from 5 to 1440 minutes")]
    SyncInterval,
    #[error("a Shared Drive id is letters, digits, - and _ only")]
    SharedDrive,
    #[error("no such school")]
    NotFound,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

fn generation_key(school: Uuid) -> String {
    format!("invigilator:school-settings-generation:{school}")
}

fn cache_key(school: Uuid, generation: u64) -> String {
    format!("invigilator:school-settings:{school}:{generation}")
}

/// The school's settings, from the cache when fresh.
pub async fn load(
    pool: &PgPool,
    redis: &ConnectionManager,
    school: Uuid,
) -> Result<SchoolSettings, SettingsError> {
    let mut conn = redis.clone();
    let generation: Option<u64> = conn.get(generation_key(school)).await.ok().flatten();
    let generation = generation.unwrap_or(0);
    let cached: Result<Option<String>, _> = conn.get(cache_key(school, generation)).await;
    if let Ok(Some(json)) = cached
        && let Ok(settings) = serde_json::from_str(&json)
    {
        return Ok(settings);
    }
    let settings = sqlx::query_as::<_, SchoolSettings>(
        "SELECT shared_drive_id, retention_months, sync_interval_minutes FROM platform.tenants WHERE id = $1",
    )
    .bind(school)
    .fetch_optional(pool)
    .await?
    .ok_or(SettingsError::NotFound)?;
    if let Ok(json) = serde_json::to_string(&settings) {
        // A cache failure only costs a database read next time.
        let _: Result<(), _> = conn
            .set_ex(cache_key(school, generation), json, CACHE_TTL_SECS)
            .await;
    }
    Ok(settings)
}

/// Applies a change and clears every process's cached copy.
pub async fn update(
    pool: &PgPool,
    redis: &ConnectionManager,
    school: Uuid,
    change: &SettingsChange,
) -> Result<SchoolSettings, SettingsError> {
    if change
        .retention_months
        .is_some_and(|m| !(1..=120).contains(&m))
    {
        return Err(SettingsError::Retention);
    }
    if change
        .sync_interval_minutes
        .is_some_and(|m| !(5..=1440).contains(&m))
    {
        return Err(SettingsError::SyncInterval);
    }
    if let Some(Some(id)) = &change.shared_drive_id
        && (id.is_empty()
            || id.len() > 100
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        return Err(SettingsError::SharedDrive);
    }
    let settings = sqlx::query_as::<_, SchoolSettings>(
        "UPDATE platform.tenants SET \
             shared_drive_id = CASE WHEN $2 THEN $3 ELSE shared_drive_id END, \
             retention_months = coalesce($4, retention_months), \
             sync_interval_minutes = coalesce($5, sync_interval_minutes), \
             updated_at = now() \
         WHERE id = $1 \
         RETURNING shared_drive_id, retention_months, sync_interval_minutes",
    )
    .bind(school)
    .bind(change.shared_drive_id.is_some())
    .bind(change.shared_drive_id.clone().flatten())
    .bind(change.retention_months)
    .bind(change.sync_interval_minutes)
    .fetch_optional(pool)
    .await?
    .ok_or(SettingsError::NotFound)?;
    let mut conn = redis.clone();
    if let Err(e) = conn.incr::<_, _, u64>(generation_key(school), 1).await {
        // Readers then keep the old copy until its five-minute TTL ends; say so loudly.
        tracing::error!(error = %e, "could not invalidate cached school settings");
    }
    Ok(settings)
}
