//! `invigilator migrate`: the platform schema first, then every school's schema up to the latest
//! version, several schools at once, one transaction per school.
//!
//! A school whose change fails stays at its old version (its transaction rolls back); the others
//! carry on. Each attempt is recorded in `platform.tenant_migration_runs`. When every school is
//! current, the whole school phase is one query.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

use super::schema::{TenantMigrations, grants_sql};
use super::school_tx::begin_owner_tx;

/// The control-plane migrations in `migrations/`, kept in `platform._sqlx_migrations`.
pub fn platform_migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.create_schema("platform");
    migrator.dangerous_set_table_name("platform._sqlx_migrations");
    migrator
}

/// Brings `platform` up to date. Safe to run from several processes at once (sqlx takes an
/// advisory lock).
#[tracing::instrument(skip_all)]
pub async fn migrate_platform(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    platform_migrator().run(pool).await
}

/// What happened to one school.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchoolResult {
    /// Moved from `from_version` to the target.
    Upgraded,
    /// Another process upgraded it first.
    AlreadyCurrent,
    /// Left at `from_version`; the reason is recorded.
    Failed(String),
}

/// One school's outcome in a `migrate` run.
#[derive(Debug, Clone)]
pub struct SchoolOutcome {
    pub slug: String,
    pub from_version: i32,
    pub to_version: i32,
    pub result: SchoolResult,
    pub elapsed: Duration,
}

/// The outcome of migrating every school.
#[derive(Debug, Clone)]
pub struct MigrateReport {
    pub target_version: i32,
    pub outcomes: Vec<SchoolOutcome>,
}

impl MigrateReport {
    /// Schools left behind.
    pub fn failed(&self) -> impl Iterator<Item = &SchoolOutcome> {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.result, SchoolResult::Failed(_)))
    }

    /// Schools moved to the target version by this run.
    pub fn upgraded(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.result == SchoolResult::Upgraded)
            .count()
    }
}

/// Receives progress while schools are migrated (a progress bar, log lines, nothing).
pub trait MigrateProgress: Sync {
    /// Called once with the number of schools that need work.
    fn started(&self, _schools: usize) {}
    /// Called as each school finishes, in completion order.
    fn finished(&self, _outcome: &SchoolOutcome) {}
}

/// Reports nothing.
impl MigrateProgress for () {}

#[derive(Debug, sqlx::FromRow)]
struct BehindSchool {
    id: Uuid,
    slug: String,
    schema_name: String,
    role_name: String,
    schema_version: i32,
}

/// Moves every live school to `migrations.latest_version()`, `concurrency` schools at a time.
///
/// Fails only if the list of schools cannot be read; a failing school is reported in the result.
#[tracing::instrument(skip(pool, migrations, progress))]
pub async fn migrate_schools(
    pool: &PgPool,
    migrations: &TenantMigrations,
    concurrency: usize,
    progress: &dyn MigrateProgress,
) -> Result<MigrateReport, sqlx::Error> {
    let target = migrations.latest_version();
    // The "nothing to do" path is this one query.
    let behind: Vec<BehindSchool> = sqlx::query_as(
        "SELECT id, slug, schema_name, role_name, schema_version FROM platform.tenants \
         WHERE status <> 'deleted' AND schema_version <> $1 ORDER BY slug",
    )
    .bind(target)
    .fetch_all(pool)
    .await?;
    progress.started(behind.len());

    let outcomes = futures::stream::iter(behind)
        .map(|school| async move {
            let outcome = migrate_school(pool, migrations, school).await;
            progress.finished(&outcome);
            outcome
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    Ok(MigrateReport {
        target_version: target,
        outcomes,
    })
}

async fn migrate_school(
    pool: &PgPool,
    migrations: &TenantMigrations,
    school: BehindSchool,
) -> SchoolOutcome {
    let started_at = Utc::now();
    let clock = Instant::now();
    let target = migrations.latest_version();
    let result = if school.schema_version > target {
        Err(format!(
            "school is at version {} but this build knows only up to {target}; deploy the newer build",
            school.schema_version
        ))
    } else {
        upgrade(pool, migrations, &school, started_at).await
    };
    let result = match result {
        Ok(true) => SchoolResult::Upgraded,
        Ok(false) => SchoolResult::AlreadyCurrent,
        Err(reason) => {
            tracing::error!(school = %school.slug, %reason, "school schema upgrade failed");
            if let Err(e) = record_failure(pool, &school, target, started_at, &reason).await {
                tracing::error!(school = %school.slug, error = %e, "could not record the failed upgrade");
            }
            SchoolResult::Failed(reason)
        }
    };
    SchoolOutcome {
        slug: school.slug,
        from_version: school.schema_version,
        to_version: target,
        result,
        elapsed: clock.elapsed(),
    }
}

/// Applies the pending changes in one transaction. `Ok(false)` when another process got there
/// first (the registry row is locked, so two `migrate` runs never apply a change twice).
#[tracing::instrument(skip_all, fields(school = %school.slug))]
async fn upgrade(
    pool: &PgPool,
    migrations: &TenantMigrations,
    school: &BehindSchool,
    started_at: DateTime<Utc>,
) -> Result<bool, String> {
    let db = |e: sqlx::Error| e.to_string();
    let mut tx = begin_owner_tx(pool, &school.schema_name)
        .await
        .map_err(db)?;
    let current: i32 =
        sqlx::query_scalar("SELECT schema_version FROM platform.tenants WHERE id = $1 FOR UPDATE")
            .bind(school.id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
    let target = migrations.latest_version();
    if current >= target {
        return Ok(false);
    }
    for m in migrations.after(current) {
        sqlx::raw_sql(AssertSqlSafe(m.sql.as_ref()))
            .execute(&mut *tx)
            .await
            .map_err(|e| format!("{} (version {}): {e}", m.name, m.version))?;
    }
    sqlx::raw_sql(AssertSqlSafe(grants_sql(
        &school.schema_name,
        &school.role_name,
    )))
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    sqlx::query(
        "WITH moved AS (UPDATE platform.tenants SET schema_version = $3, updated_at = now() \
                        WHERE id = $1) \
         INSERT INTO platform.tenant_migration_runs \
             (tenant_id, from_version, to_version, started_at, succeeded) \
         VALUES ($1, $2, $3, $4, true)",
    )
    .bind(school.id)
    .bind(current)
    .bind(target)
    .bind(started_at)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(true)
}

async fn record_failure(
    pool: &PgPool,
    school: &BehindSchool,
    target: i32,
    started_at: DateTime<Utc>,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO platform.tenant_migration_runs \
             (tenant_id, from_version, to_version, started_at, succeeded, error) \
         VALUES ($1, $2, $3, $4, false, $5)",
    )
    .bind(school.id)
    .bind(school.schema_version)
    .bind(target)
    .bind(started_at)
    .bind(reason)
    .execute(pool)
    .await
    .map(|_| ())
}
