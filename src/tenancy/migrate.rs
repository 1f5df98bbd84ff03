//! `invigilator migrate`: the platform schema first, then every school's schema up to the latest
//! version, several schools at once, one transaction per school.
//!
//! A school whose change fails stays at its old version (its transaction rolls back); the others
//! carry on. Each attempt is recorded in `platform.tenant_migration_runs`. When every school is
//! current, the whole school phase is one query.
//!
//! Every version applied to a school is recorded with the SHA-256 of its text in
//! `platform.tenant_applied_migrations`, and a digest of those in the school's registry row. A
//! school whose recorded text of some version differs from this build's is refused, named with
//! that version, and left as it is: its schema may differ from what this build would make.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

use super::schema::{TenantMigrations, VersionChecksum, grants_sql, short_hex};
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
    /// Already at the target, from before checksums were kept: this run recorded the checksums
    /// of the versions it had applied, and changed nothing else.
    ChecksumsRecorded,
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
    /// The school had no checksums recorded (it was provisioned before they were kept), so this
    /// run recorded this build's checksums for versions 1 to `from_version`, trusting that those
    /// are the texts it had applied.
    pub checksums_adopted: bool,
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

    /// Schools whose checksums this run recorded for the first time.
    pub fn adopted(&self) -> usize {
        self.outcomes.iter().filter(|o| o.checksums_adopted).count()
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

/// Moves every live school to `migrations.latest_version()`, `concurrency` schools at a time,
/// after checking that the migrations each school has applied are the texts this build carries.
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
    // The "nothing to do" path is this one query: a school at the target version whose digest
    // is this build's was built from exactly this build's texts. A school with no digest yet
    // (provisioned before checksums were kept) is picked up once, to record them.
    let behind: Vec<BehindSchool> = sqlx::query_as(
        "SELECT id, slug, schema_name, role_name, schema_version FROM platform.tenants \
         WHERE status <> 'deleted' \
           AND (schema_version <> $1 OR schema_checksum IS DISTINCT FROM $2) \
         ORDER BY slug",
    )
    .bind(target)
    .bind(migrations.schema_checksum(target).as_slice())
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
        Err(UpgradeError::TooNew {
            current: school.schema_version,
            target,
        })
    } else {
        upgrade(pool, migrations, &school, started_at).await
    };
    let (result, checksums_adopted) = match result {
        Ok(Upgrade::Done { adopted }) => (SchoolResult::Upgraded, adopted),
        Ok(Upgrade::Recorded) => (SchoolResult::ChecksumsRecorded, true),
        Ok(Upgrade::AlreadyCurrent) => (SchoolResult::AlreadyCurrent, false),
        Err(e) => {
            let reason = e.to_string();
            tracing::error!(school = %school.slug, %reason, "school schema upgrade failed");
            if let Err(e) = record_failure(pool, &school, target, started_at, &reason).await {
                tracing::error!(school = %school.slug, error = %e, "could not record the failed upgrade");
            }
            (SchoolResult::Failed(reason), false)
        }
    };
    SchoolOutcome {
        slug: school.slug,
        from_version: school.schema_version,
        to_version: target,
        result,
        checksums_adopted,
        elapsed: clock.elapsed(),
    }
}

/// Why a school's schema was not upgraded. Its text is what `migrate` prints and what
/// `platform.tenant_migration_runs.error` keeps.
#[derive(Debug, thiserror::Error)]
enum UpgradeError {
    #[error(
        "school is at version {current} but this build knows only up to {target}; deploy the newer build"
    )]
    TooNew { current: i32, target: i32 },
    #[error(
        "version {version} ({name}) has no checksum recorded for this school, so what it applied \
         cannot be checked; see platform.tenant_applied_migrations"
    )]
    Unrecorded { version: i32, name: String },
    #[error(
        "version {version} ({name}) has changed since it was applied to this school \
         (checksum then {then}…, in this build {now}…); restore the text it had and make the \
         change in a new migration"
    )]
    Changed {
        version: i32,
        name: String,
        then: String,
        now: String,
    },
    #[error("{name} (version {version}): {source}")]
    Migration {
        name: String,
        version: i32,
        #[source]
        source: sqlx::Error,
    },
    #[error("{0}")]
    Database(#[from] sqlx::Error),
}

/// What [`upgrade`] did.
enum Upgrade {
    /// Applied the pending changes; `adopted` if it first recorded checksums for the first time.
    Done { adopted: bool },
    /// Nothing to apply; recorded checksums for the first time.
    Recorded,
    /// Another process got there first.
    AlreadyCurrent,
}

/// A version recorded for a school, as read back from `platform.tenant_applied_migrations`.
#[derive(Debug, sqlx::FromRow)]
struct RecordedVersion {
    version: i32,
    name: String,
    checksum: Vec<u8>,
}

/// Checks what a school has applied against this build, then applies the pending changes, all
/// in one transaction. The registry row is locked first, so two `migrate` runs never apply a
/// change twice.
#[tracing::instrument(skip_all, fields(school = %school.slug))]
async fn upgrade(
    pool: &PgPool,
    migrations: &TenantMigrations,
    school: &BehindSchool,
    started_at: DateTime<Utc>,
) -> Result<Upgrade, UpgradeError> {
    let mut tx = begin_owner_tx(pool, &school.schema_name).await?;
    // A change that would wait behind a long school transaction gives up (recorded as failed,
    // retried by the next `migrate`) rather than holding that school's requests behind it.
    sqlx::query("SET LOCAL lock_timeout = '10s'")
        .execute(&mut *tx)
        .await?;
    let (current, digest): (i32, Option<Vec<u8>>) = sqlx::query_as(
        "SELECT schema_version, schema_checksum FROM platform.tenants WHERE id = $1 FOR UPDATE",
    )
    .bind(school.id)
    .fetch_one(&mut *tx)
    .await?;
    let target = migrations.latest_version();
    let target_digest = migrations.schema_checksum(target);
    if current == target && digest.as_deref() == Some(target_digest.as_slice()) {
        return Ok(Upgrade::AlreadyCurrent);
    }
    if current > target {
        return Err(UpgradeError::TooNew { current, target });
    }

    let recorded: Vec<RecordedVersion> = sqlx::query_as(
        "SELECT version, name, checksum FROM platform.tenant_applied_migrations \
         WHERE tenant_id = $1 AND version <= $2 ORDER BY version",
    )
    .bind(school.id)
    .bind(current)
    .fetch_all(&mut *tx)
    .await?;
    let ours = migrations.checksums_up_to(current);
    // A school with neither a digest nor any recorded version was provisioned before checksums
    // were kept: it has applied versions 1 to `current`, and nothing can tell which texts. We
    // trust they were this build's and record them, so that from now on a change is caught.
    let adopt = digest.is_none() && recorded.is_empty();
    if adopt {
        record_versions(&mut tx, school, &ours, "adopted").await?;
        tracing::info!(
            version = current,
            "no checksums were recorded for this school; recorded this build's"
        );
    } else {
        check_unchanged(&recorded, &ours)?;
    }

    let pending: Vec<_> = migrations.after(current).collect();
    if pending.is_empty() {
        // Already at the target: only the record needed writing (or the digest repairing).
        sqlx::query("UPDATE platform.tenants SET schema_checksum = $2 WHERE id = $1")
            .bind(school.id)
            .bind(target_digest.as_slice())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Ok(if adopt {
            Upgrade::Recorded
        } else {
            Upgrade::AlreadyCurrent
        });
    }
    for m in &pending {
        sqlx::raw_sql(AssertSqlSafe(m.sql.as_ref()))
            .execute(&mut *tx)
            .await
            .map_err(|source| UpgradeError::Migration {
                name: m.name.to_string(),
                version: m.version,
                source,
            })?;
    }
    sqlx::raw_sql(AssertSqlSafe(grants_sql(
        &school.schema_name,
        &school.role_name,
    )))
    .execute(&mut *tx)
    .await?;
    let applied: Vec<VersionChecksum> = migrations
        .checksums_up_to(target)
        .into_iter()
        .filter(|v| v.version > current)
        .collect();
    record_versions(&mut tx, school, &applied, "applied").await?;
    sqlx::query(
        "WITH moved AS (UPDATE platform.tenants \
                        SET schema_version = $3, schema_checksum = $5, updated_at = now() \
                        WHERE id = $1) \
         INSERT INTO platform.tenant_migration_runs \
             (tenant_id, from_version, to_version, started_at, succeeded) \
         VALUES ($1, $2, $3, $4, true)",
    )
    .bind(school.id)
    .bind(current)
    .bind(target)
    .bind(started_at)
    .bind(target_digest.as_slice())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Upgrade::Done { adopted: adopt })
}

/// Refuses a school whose record of some version differs from this build: the text of that
/// migration was edited after it ran there, so the school's schema may not be what this
/// build's text makes. The message names the version for `migrate`'s output.
fn check_unchanged(
    recorded: &[RecordedVersion],
    ours: &[VersionChecksum],
) -> Result<(), UpgradeError> {
    for v in ours {
        let Some(found) = recorded.iter().find(|r| r.version == v.version) else {
            return Err(UpgradeError::Unrecorded {
                version: v.version,
                name: v.name.to_string(),
            });
        };
        if found.checksum != v.checksum {
            return Err(UpgradeError::Changed {
                version: v.version,
                name: found.name.clone(),
                then: short_hex(&found.checksum),
                now: short_hex(&v.checksum),
            });
        }
    }
    Ok(())
}

/// Records versions applied to a school (or, `adopted`, assumed applied before checksums were
/// kept).
async fn record_versions(
    conn: &mut sqlx::PgConnection,
    school: &BehindSchool,
    versions: &[VersionChecksum],
    how: &str,
) -> Result<(), sqlx::Error> {
    let checksums: Vec<Vec<u8>> = versions.iter().map(|v| v.checksum.to_vec()).collect();
    sqlx::query(
        "INSERT INTO platform.tenant_applied_migrations \
             (tenant_id, version, name, checksum, recorded) \
         SELECT $1, v.version, v.name, v.checksum, $5 \
         FROM unnest($2::int[], $3::text[], $4::bytea[]) AS v (version, name, checksum)",
    )
    .bind(school.id)
    .bind(versions.iter().map(|v| v.version).collect::<Vec<_>>())
    .bind(versions.iter().map(|v| v.name.as_str()).collect::<Vec<_>>())
    .bind(checksums)
    .bind(how)
    .execute(conn)
    .await
    .map(|_| ())
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
