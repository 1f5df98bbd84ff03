//! Offboarding a school at the end of its contract (operator command line):
//!
//! 1. [`export`]: the whole school — every table of its schema, as JSON and CSV, and the
//!    manifest — through the archive writer, into the operator's file. The file is created
//!    (mode 0600) before anything else, so a path that cannot be written leaves the school as
//!    it was. Then, holding the school's roster-sync lease so no sync writes after the
//!    snapshot, its status becomes `offboarding`, which stops sign-in, sessions, timers and jobs
//!    for it, and `offboarding.exported` is written to its audit log before the export's
//!    snapshot is taken, so the export holds that entry too. The file's SHA-256 and path are
//!    kept in `platform.offboardings` once it is complete. [`cancel`] undoes this step (never
//!    once the deletion was confirmed).
//! 2. [`confirm`]: only for a school being offboarded whose export is complete and verifies
//!    (its SHA-256 as recorded, every entry against the manifest), and whose tables still hold
//!    as many rows as the export does (nothing written since goes undelivered). Then, each step's time
//!    recorded so that an interrupted run resumes at the first step not done: Google grants
//!    revoked at Google and deleted; the school's Redis keys removed; in one transaction, schema
//!    and role dropped, its support grants and retention runs deleted and its registry row
//!    marked `deleted`; a deletion certificate written beside the export and kept in the
//!    platform.
//!
//! Columns left out of the export: the encrypted Google secrets (`refresh_token`,
//! `service_account_key`, `access_token` of `google_credentials`, ciphertexts only our keys
//! open, of grants revoked at step 2) and the hashes of calendar-feed addresses (`token_sha256`).
//!
//! Queued jobs of the school are not picked out of the job queues: every worker looks the
//! school up first and drops, done, a job whose school is not active or no longer exists.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use redis::aio::ConnectionManager;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::archive::{
    self, ArchiveError, ArchiveLabel, ArchiveWriter, ManifestSchool, Source, Subject, VerifyError,
};
use crate::audit::{self, Action, Actor, Target};
use crate::google::{GoogleClients, GoogleError, revocation::Revocation};
use crate::lease::{LeaseError, Leases};
use crate::tenancy::names::quote_ident;
use crate::tenancy::provision::DropError;
use crate::tenancy::registry::school_columns;
use crate::tenancy::row_counts::row_counts;
use crate::tenancy::{
    School, SchoolStatus, begin_school_snapshot_tx, begin_school_tx, continue_as_school,
};

/// Set (by tests only; honoured only in debug builds) to a step's name to stop the run right
/// after that step, as a crash would: `confirmed`, `grants_revoked`, `redis_cleared`,
/// `schema_dropped` (the schema, role and registry row, which go together).
pub const STOP_AFTER_VARIABLE: &str = "INVIGILATOR_OFFBOARD_STOP_AFTER";

/// How long `--export` waits for a running roster sync of the school to finish.
const SYNC_WAIT: Duration = Duration::from_secs(60);
/// The export's hold on the roster-sync lease lives this long unless renewed (it is renewed
/// while the export runs), so a killed export frees the school's syncs soon.
const LEASE_TTL: Duration = Duration::from_secs(120);

/// What the certificate says of the school's queued jobs, which are not picked out of the
/// queues.
const QUEUED_JOBS: &str = "left in the job queues; every worker drops, as done, a job whose \
                           school is not active or no longer exists";

/// Columns never exported, by table: secrets, and hashes of secrets.
const LEFT_OUT: &[(&str, &[&str])] = &[
    (
        "google_credentials",
        &["refresh_token", "service_account_key", "access_token"],
    ),
    ("calendar_feeds", &["token_sha256"]),
];

/// Why offboarding stopped.
#[derive(Debug, thiserror::Error)]
pub enum OffboardError {
    #[error("no school with slug {0:?}")]
    UnknownSchool(String),
    #[error("{0} has already been offboarded and deleted")]
    AlreadyDeleted(String),
    #[error(
        "{0}'s deletion has already been confirmed: it can no longer be exported or cancelled, \
         only finished (run --confirm)"
    )]
    DeletionUnderway(String),
    #[error("{0} has no complete export yet: run `tenant offboard {0} --export FILE` first")]
    NoExport(String),
    #[error("{0} is {1}, not being offboarded: run `tenant offboard {0} --export FILE` first")]
    NotOffboarding(String, SchoolStatus),
    #[error("only an operator, named with --operator, offboards a school")]
    NotAnOperator,
    #[error(
        "a roster sync of {0} is still running after {SYNC_WAIT:?}; nothing was changed: run \
         --export again when it has finished"
    )]
    SyncRunning(String),
    #[error("dropping the school's schema and role: {0}")]
    Drop(#[from] DropError),
    #[error("taking the school's roster-sync lease: {0}")]
    Lease(#[source] LeaseError),
    #[error("the export does not verify, so nothing was deleted: {0}")]
    ExportRefused(#[source] VerifyError),
    #[error(
        "{slug} has changed since its export ({changes}), so the export would not hold \
         everything that would be deleted; nothing was deleted: run --export again"
    )]
    ChangedSinceExport { slug: String, changes: String },
    #[error("a Google grant could not be revoked now; run --confirm again to carry on: {0}")]
    Google(#[source] GoogleError),
    #[error("cannot create {path} ({source}); nothing was changed")]
    CannotCreate {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the export: {0}")]
    Archive(#[from] ArchiveError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("stopped after step {0} (as {STOP_AFTER_VARIABLE} asked)")]
    Stopped(String),
}

impl OffboardError {
    /// Whether the operator's input caused it (exit code 2); otherwise the system failed.
    pub fn is_caller_error(&self) -> bool {
        matches!(
            self,
            Self::UnknownSchool(_)
                | Self::AlreadyDeleted(_)
                | Self::DeletionUnderway(_)
                | Self::NoExport(_)
                | Self::NotOffboarding(..)
                | Self::NotAnOperator
                | Self::SyncRunning(_)
                | Self::CannotCreate { .. }
                | Self::ExportRefused(_)
                | Self::ChangedSinceExport { .. }
        )
    }
}

/// What `--export` wrote.
#[derive(Debug, Clone)]
pub struct ExportReport {
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    pub tables: usize,
    pub rows: u64,
}

/// What the deletion needs of the process: the database, Redis and its namespace, Google, and
/// the role prefix the school's role name was built with.
pub struct Offboarder<'a> {
    pub pool: &'a PgPool,
    pub redis: &'a ConnectionManager,
    pub namespace: &'a str,
    pub google: &'a GoogleClients,
    /// [`crate::config::Config::tenant_role_prefix`].
    pub role_prefix: &'a str,
}

/// The platform's record of one school's offboarding.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Record {
    exported_by: String,
    export_completed_at: Option<DateTime<Utc>>,
    export_sha256: Option<String>,
    export_bytes: Option<i64>,
    export_files: Option<i32>,
    confirmed_by: Option<String>,
    confirmed_at: Option<DateTime<Utc>>,
    grants_revoked_at: Option<DateTime<Utc>>,
    redis_cleared_at: Option<DateTime<Utc>>,
    schema_dropped_at: Option<DateTime<Utc>>,
    registry_deleted_at: Option<DateTime<Utc>>,
    deleted: Value,
    certificate: Option<Value>,
}

/// The school with this slug, whatever its status (a deleted school's offboarding is looked up
/// to say so, or to finish its certificate).
async fn school_by_slug(pool: &PgPool, slug: &str) -> Result<School, OffboardError> {
    sqlx::query_as::<_, School>(concat!(
        "SELECT ",
        school_columns!(),
        " FROM platform.tenants WHERE slug = $1"
    ))
    .bind(slug)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| OffboardError::UnknownSchool(slug.to_owned()))
}

async fn record(pool: &PgPool, school: &School) -> Result<Option<Record>, sqlx::Error> {
    sqlx::query_as::<_, Record>(
        "SELECT exported_by, export_completed_at, export_sha256, export_bytes, export_files, \
         confirmed_by, confirmed_at, grants_revoked_at, redis_cleared_at, schema_dropped_at, \
         registry_deleted_at, deleted, certificate \
         FROM platform.offboardings WHERE tenant_id = $1",
    )
    .bind(school.id)
    .fetch_optional(pool)
    .await
}

/// The operator's name as they gave it, for the platform's record and the certificate.
fn operator_name(operator: &Actor) -> Result<&str, OffboardError> {
    match operator {
        Actor::Operator(name) => Ok(name),
        // Only operators offboard: the certificate names a person.
        _ => Err(OffboardError::NotAnOperator),
    }
}

/// The school's tables, and the query exporting each (every column but [`LEFT_OUT`]).
async fn table_sources(pool: &PgPool, school: &School) -> Result<Vec<Source>, sqlx::Error> {
    let columns: Vec<(String, Vec<String>)> = sqlx::query_as(
        "SELECT c.relname::text, array_agg(a.attname::text ORDER BY a.attnum) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') \
         GROUP BY c.relname ORDER BY c.relname",
    )
    .bind(&school.schema_name)
    .fetch_all(pool)
    .await?;
    Ok(columns
        .into_iter()
        .map(|(table, columns)| {
            let left_out: &[&str] = LEFT_OUT
                .iter()
                .find(|(t, _)| *t == table)
                .map_or(&[], |(_, c)| c);
            let list: Vec<String> = columns
                .iter()
                .filter(|c| !left_out.contains(&c.as_str()))
                .map(|c| quote_ident(c))
                .collect();
            // The audit log in its chain's order, so the school can re-check the chain.
            let order = if table == "audit_log" {
                " ORDER BY id"
            } else {
                ""
            };
            let sql = format!(
                "SELECT {} FROM {}{order}",
                list.join(", "),
                quote_ident(&table)
            );
            Source::new(table, sql, Vec::new())
        })
        .collect())
}

fn file_error(path: &Path) -> impl Fn(std::io::Error) -> OffboardError + '_ {
    move |source| OffboardError::File {
        path: path.display().to_string(),
        source,
    }
}

/// `tenant offboard SLUG --export FILE`: the whole school into `path`. May be run again (a new
/// file replaces the record of the old) until the deletion is confirmed.
///
/// `leases` are the process's (namespaced as every other process's): the export holds the
/// school's roster-sync lease.
#[tracing::instrument(skip(pool, leases, operator))]
pub async fn export(
    pool: &PgPool,
    leases: &Leases,
    slug: &str,
    operator: &Actor,
    path: &Path,
) -> Result<ExportReport, OffboardError> {
    let name = operator_name(operator)?;
    let school = school_by_slug(pool, slug).await?;
    if school.status == SchoolStatus::Deleted {
        return Err(OffboardError::AlreadyDeleted(slug.to_owned()));
    }
    if record(pool, &school)
        .await?
        .is_some_and(|r| r.confirmed_at.is_some())
    {
        return Err(OffboardError::DeletionUnderway(slug.to_owned()));
    }

    // The file comes first: a path that cannot be written (no such folder, no permission) is
    // found before the school is touched. It is written beside the target and renamed when
    // whole, so a crash never leaves a file at `path` that looks like a finished export.
    let partial = partial_path(path);
    let file = create_private(&partial).map_err(|source| OffboardError::CannotCreate {
        path: partial.display().to_string(),
        source,
    })?;
    let written = write_export(pool, leases, &school, operator, name, path, &partial, file).await;
    if written.is_err() {
        // Half an export is of no use to anyone, and it holds personal data.
        if let Err(e) = std::fs::remove_file(&partial)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, "could not remove the unfinished export");
        }
    }
    written
}

/// The export itself, once its file is open: the school stopped, its audit entry, the snapshot
/// written out, the file renamed into place and recorded.
#[allow(clippy::too_many_arguments)] // One caller, which has each of them already.
async fn write_export(
    pool: &PgPool,
    leases: &Leases,
    school: &School,
    operator: &Actor,
    name: &str,
    path: &Path,
    partial: &Path,
    file: File,
) -> Result<ExportReport, OffboardError> {
    let sources = table_sources(pool, school).await?;

    // The roster sync's own lease (named as `roster::sync_school` names it): held while the
    // school is stopped and the snapshot is read, so a sync running now finishes first and
    // none starts until the school is no longer active.
    let lease = leases
        .acquire(&crate::roster::sync_lease(school), LEASE_TTL, SYNC_WAIT)
        .await
        .map_err(|e| match e {
            LeaseError::Busy { .. } => OffboardError::SyncRunning(school.slug.clone()),
            other => OffboardError::Lease(other),
        })?;
    let manifest = lease
        .hold_while(LEASE_TTL, async {
            // The school stops first (no sign-in, no jobs), and the log says why before the
            // snapshot.
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO platform.offboardings (tenant_id, exported_by, export_path) \
                 VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant_id) DO UPDATE SET exported_by = EXCLUDED.exported_by, \
                   export_path = EXCLUDED.export_path, export_started_at = now(), \
                   export_completed_at = NULL, export_sha256 = NULL, export_bytes = NULL, \
                   export_files = NULL",
            )
            .bind(school.id)
            .bind(name)
            .bind(path.display().to_string())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE platform.tenants SET status = 'offboarding', updated_at = now() \
                 WHERE id = $1",
            )
            .bind(school.id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            let mut tx = begin_school_tx(pool, school).await?;
            audit::record(
                &mut tx,
                operator,
                Action::OffboardingExported,
                Some(&Target::new("school", school.id)),
                json!({"tables": sources.len()}),
            )
            .await?;
            tx.commit().await?;

            let label = ArchiveLabel {
                school: ManifestSchool {
                    slug: school.slug.clone(),
                    name: school.name.clone(),
                },
                subject: Subject {
                    kind: "school".to_owned(),
                    id: school.id,
                },
                requester: format!("Invigilator operator {name}"),
                at: Utc::now(),
            };
            let mut archive = ArchiveWriter::new(BufWriter::new(file), label);
            let mut tx = begin_school_snapshot_tx(pool, school).await?;
            for source in &sources {
                archive.add(&mut tx, source).await?;
            }
            tx.commit().await?;
            let (out, manifest) = archive.finish()?;
            let file = out
                .into_inner()
                .map_err(|e| file_error(partial)(e.into_error()))?;
            file.sync_all().map_err(file_error(partial))?;
            Ok::<_, OffboardError>(manifest)
        })
        .await?;
    std::fs::rename(partial, path).map_err(file_error(path))?;
    let sha256 = archive::file_sha256(path).map_err(file_error(path))?;
    let bytes = std::fs::metadata(path).map_err(file_error(path))?.len();

    sqlx::query(
        "UPDATE platform.offboardings SET export_completed_at = now(), export_sha256 = $2, \
         export_bytes = $3, export_files = $4 WHERE tenant_id = $1",
    )
    .bind(school.id)
    .bind(&sha256)
    .bind(bytes as i64)
    .bind(manifest.files.len() as i32)
    .execute(pool)
    .await?;
    Ok(ExportReport {
        path: path.to_owned(),
        sha256,
        bytes,
        tables: sources.len(),
        rows: manifest
            .files
            .iter()
            .filter(|f| f.name.ends_with(".json"))
            .map(|f| f.rows)
            .sum(),
    })
}

/// A new file only this process's user can read or write (0600 from the moment it exists):
/// exports and certificates hold or describe a whole school's personal data. A leftover from
/// an interrupted run is replaced; `create_new` never follows a link planted in its place.
fn create_private(path: &Path) -> std::io::Result<File> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// `tenant offboard SLUG --cancel`: the school goes back to `active`, before any deletion was
/// confirmed (never after). Recorded in the school's log (`offboarding.cancelled`, the
/// operator as actor) and in the platform's row (`deleted.cancelled`: when and by whom), whose
/// export is forgotten so that `--confirm` refuses until a new export is made. The export file
/// itself is the operator's to destroy.
#[tracing::instrument(skip(pool, operator))]
pub async fn cancel(pool: &PgPool, slug: &str, operator: &Actor) -> Result<(), OffboardError> {
    let name = operator_name(operator)?;
    let school = school_by_slug(pool, slug).await?;
    if school.status == SchoolStatus::Deleted {
        return Err(OffboardError::AlreadyDeleted(slug.to_owned()));
    }
    let mut tx = pool.begin().await?;
    // Locked, so a `--confirm` starting now either went first (and this refuses) or waits and
    // then finds the school active.
    let confirmed: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
        "SELECT confirmed_at FROM platform.offboardings WHERE tenant_id = $1 FOR UPDATE",
    )
    .bind(school.id)
    .fetch_optional(&mut *tx)
    .await?;
    match confirmed {
        None => {
            return Err(OffboardError::NotOffboarding(
                slug.to_owned(),
                school.status,
            ));
        }
        Some(Some(_)) => return Err(OffboardError::DeletionUnderway(slug.to_owned())),
        Some(None) => {}
    }
    let reopened = sqlx::query(
        "UPDATE platform.tenants SET status = 'active', updated_at = now() \
         WHERE id = $1 AND status = 'offboarding'",
    )
    .bind(school.id)
    .execute(&mut *tx)
    .await?;
    if reopened.rows_affected() == 0 {
        return Err(OffboardError::NotOffboarding(
            slug.to_owned(),
            school.status,
        ));
    }
    sqlx::query(
        "UPDATE platform.offboardings SET export_completed_at = NULL, export_sha256 = NULL, \
           export_bytes = NULL, export_files = NULL, \
           deleted = deleted || jsonb_build_object('cancelled', \
             jsonb_build_object('at', now(), 'by', $2::text)) \
         WHERE tenant_id = $1",
    )
    .bind(school.id)
    .bind(name)
    .execute(&mut *tx)
    .await?;
    // The school's log says so too, committed with the change (its schema is still there).
    let mut tx = continue_as_school(tx, &school).await?;
    audit::record(
        &mut tx,
        operator,
        Action::OffboardingCancelled,
        Some(&Target::new("school", school.id)),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Where the deletion certificate goes: beside the export, `FILE.certificate.json`.
pub fn certificate_path(export: &Path) -> PathBuf {
    let mut name = export.as_os_str().to_owned();
    name.push(".certificate.json");
    PathBuf::from(name)
}

/// What `--confirm` did: the certificate, and whether this run finished an earlier one.
#[derive(Debug, Clone)]
pub struct Confirmed {
    pub certificate: Value,
    pub certificate_path: PathBuf,
    pub resumed: bool,
    pub already_done: bool,
}

/// Stops the run after `step` when [`STOP_AFTER_VARIABLE`] names it: a crash, on demand, for
/// tests (debug builds) only.
#[cfg(debug_assertions)]
fn stop_after(step: &str) -> Result<(), OffboardError> {
    match std::env::var(STOP_AFTER_VARIABLE) {
        Ok(s) if s == step => Err(OffboardError::Stopped(step.to_owned())),
        _ => Ok(()),
    }
}

/// A release build never stops part-way on request.
#[cfg(not(debug_assertions))]
fn stop_after(_step: &str) -> Result<(), OffboardError> {
    Ok(())
}

/// Marks a step done, with what it removed.
async fn step_done(
    pool: &PgPool,
    school: Uuid,
    column: &'static str,
    what: &str,
    counts: Value,
) -> Result<(), sqlx::Error> {
    // `column` is one of this module's own literals, never input.
    sqlx::query(AssertColumn(column).sql())
        .bind(school)
        .bind(what)
        .bind(counts)
        .execute(pool)
        .await?;
    Ok(())
}

/// A step's timestamp column, for [`step_done`]'s statement.
struct AssertColumn(&'static str);

impl AssertColumn {
    fn sql(&self) -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(format!(
            "UPDATE platform.offboardings SET {} = now(), \
             deleted = deleted || jsonb_build_object($2::text, $3::jsonb) WHERE tenant_id = $1",
            self.0
        ))
    }
}

/// Refuses unless every table of the school holds as many rows as the export's manifest says
/// (the audit log only grows, so any audited change since the export shows in its count).
async fn unchanged_since_export(
    pool: &PgPool,
    school: &School,
    manifest: &archive::Manifest,
) -> Result<(), OffboardError> {
    let mut tx = begin_school_tx(pool, school).await?;
    let live = row_counts(&mut tx, &school.schema_name).await?;
    tx.commit().await?;
    let exported = |table: &str| {
        manifest
            .files
            .iter()
            .find(|f| f.name == format!("{table}.json"))
            .map(|f| f.rows)
    };
    let changes: Vec<String> = live
        .iter()
        .filter_map(|(table, &now)| match exported(table) {
            Some(rows) if i64::try_from(rows).ok() == Some(now) => None,
            Some(rows) => Some(format!("{table}: {rows} rows exported, {now} now")),
            None => Some(format!("{table}: not in the export")),
        })
        .collect();
    if changes.is_empty() {
        Ok(())
    } else {
        Err(OffboardError::ChangedSinceExport {
            slug: school.slug.clone(),
            changes: changes.join("; "),
        })
    }
}

/// `tenant offboard SLUG --confirm --export FILE`: verifies the export at `path`, then
/// deletes the school step by step (see the module documentation), resuming after the last
/// step an earlier run finished. Nothing is deleted when the export does not verify.
#[tracing::instrument(skip(ctx, operator))]
pub async fn confirm(
    ctx: &Offboarder<'_>,
    slug: &str,
    operator: &Actor,
    path: &Path,
) -> Result<Confirmed, OffboardError> {
    let pool = ctx.pool;
    let name = operator_name(operator)?;
    let school = school_by_slug(pool, slug).await?;
    let cert_path = certificate_path(path);
    let Some(rec) = record(pool, &school).await? else {
        return Err(OffboardError::NoExport(slug.to_owned()));
    };
    if let Some(certificate) = rec.certificate.clone() {
        return Ok(Confirmed {
            certificate,
            certificate_path: cert_path,
            resumed: false,
            already_done: true,
        });
    }
    // Only a school being offboarded, or one whose registry row a stopped run already marked
    // deleted (its certificate still to write).
    match school.status {
        SchoolStatus::Offboarding => {}
        SchoolStatus::Deleted if rec.registry_deleted_at.is_some() => {}
        other => return Err(OffboardError::NotOffboarding(slug.to_owned(), other)),
    }
    let Some(expected) = rec.export_sha256.as_deref() else {
        return Err(OffboardError::NoExport(slug.to_owned()));
    };
    // Checked on every run: the certificate vouches for this file.
    let verified = archive::verify(path, Some(expected)).map_err(OffboardError::ExportRefused)?;

    let resumed = rec.confirmed_at.is_some();
    if rec.confirmed_at.is_none() {
        // Nothing may be deleted that the school's copy does not hold: a write that slipped in
        // after the export (a request already under way when it began, an operator's command)
        // sends the operator back to export again.
        unchanged_since_export(pool, &school, &verified.manifest).await?;
        // Only while the school is still offboarding with the export just verified: a
        // `--cancel` or a new `--export` meanwhile wins, and nothing is deleted.
        let confirmed = sqlx::query(
            "UPDATE platform.offboardings o SET confirmed_at = now(), confirmed_by = $2 \
             FROM platform.tenants t \
             WHERE o.tenant_id = $1 AND t.id = o.tenant_id AND t.status = 'offboarding' \
               AND o.confirmed_at IS NULL AND o.export_sha256 = $3",
        )
        .bind(school.id)
        .bind(name)
        .bind(expected)
        .execute(pool)
        .await?;
        if confirmed.rows_affected() == 0 {
            return Err(OffboardError::NoExport(slug.to_owned()));
        }
        let mut tx = begin_school_tx(pool, &school).await?;
        audit::record(
            &mut tx,
            operator,
            Action::OffboardingConfirmed,
            Some(&Target::new("school", school.id)),
            json!({}),
        )
        .await?;
        tx.commit().await?;
        stop_after("confirmed")?;
    }
    if rec.grants_revoked_at.is_none() {
        let counts = revoke_grants(ctx, &school, operator).await?;
        step_done(
            pool,
            school.id,
            "grants_revoked_at",
            "google_grants",
            counts,
        )
        .await?;
        stop_after("grants_revoked")?;
    }
    if rec.redis_cleared_at.is_none() {
        let removed = clear_redis(ctx, &school).await?;
        step_done(
            pool,
            school.id,
            "redis_cleared_at",
            "redis_keys",
            json!(removed),
        )
        .await?;
        stop_after("redis_cleared")?;
    }
    if rec.registry_deleted_at.is_none() {
        delete_school(ctx, &school, rec.schema_dropped_at.is_none()).await?;
        stop_after("schema_dropped")?;
    }

    // Everything is gone: the certificate, from the platform's record of each step.
    let rec = record(pool, &school)
        .await?
        .ok_or_else(|| OffboardError::NoExport(slug.to_owned()))?;
    let certificate = certificate(&school, &rec, name);
    let text = serde_json::to_vec_pretty(&certificate).map_err(|e| OffboardError::File {
        path: cert_path.display().to_string(),
        source: e.into(),
    })?;
    let partial = partial_path(&cert_path);
    create_private(&partial)
        .and_then(|mut f| {
            f.write_all(&text)?;
            f.sync_all()
        })
        .map_err(file_error(&partial))?;
    std::fs::rename(&partial, &cert_path).map_err(file_error(&cert_path))?;
    sqlx::query(
        "UPDATE platform.offboardings SET certificate = $2, certificate_written_at = now() \
         WHERE tenant_id = $1",
    )
    .bind(school.id)
    .bind(&certificate)
    .execute(pool)
    .await?;
    Ok(Confirmed {
        certificate,
        certificate_path: cert_path,
        resumed,
        already_done: false,
    })
}

/// The school's schema and role dropped (unless `drop_schema` is false: a run of an earlier
/// version dropped them in a step of their own), its support grants, retention runs, audit
/// anchors and daily audit verifies deleted,
/// and its registry row marked `deleted`, all in one transaction: a stop anywhere leaves either
/// all of it or none of it, never a live registry row without its schema.
async fn delete_school(
    ctx: &Offboarder<'_>,
    school: &School,
    drop_schema: bool,
) -> Result<(), OffboardError> {
    let mut done = serde_json::Map::new();
    let mut tx = if drop_schema {
        let (tx, dropped) = crate::tenancy::drop_school(ctx.pool, school, ctx.role_prefix).await?;
        let tables: serde_json::Map<String, Value> = dropped
            .tables
            .iter()
            .map(|(t, n)| (t.clone(), json!(n)))
            .collect();
        done.insert(
            "schema".to_owned(),
            json!({"schema": dropped.schema, "role": dropped.role, "tables": tables}),
        );
        tx
    } else {
        ctx.pool.begin().await?
    };
    // The platform's rows about the school go with it (the data map says so).
    let support_grants = sqlx::query("DELETE FROM platform.support_grants WHERE tenant_id = $1")
        .bind(school.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let retention_runs = sqlx::query("DELETE FROM platform.retention_runs WHERE tenant_id = $1")
        .bind(school.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let audit_anchors = sqlx::query("DELETE FROM platform.audit_anchors WHERE tenant_id = $1")
        .bind(school.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let audit_verify_runs =
        sqlx::query("DELETE FROM platform.audit_verify_runs WHERE tenant_id = $1")
            .bind(school.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    done.insert(
        "platform_rows".to_owned(),
        json!({
            "support_grants": support_grants,
            "retention_runs": retention_runs,
            "audit_anchors": audit_anchors,
            "audit_verify_runs": audit_verify_runs,
        }),
    );
    sqlx::query(
        "UPDATE platform.tenants SET status = 'deleted', deleted_at = now(), \
         updated_at = now() WHERE id = $1",
    )
    .bind(school.id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE platform.offboardings SET schema_dropped_at = coalesce(schema_dropped_at, now()), \
           registry_deleted_at = now(), deleted = deleted || $2::jsonb \
         WHERE tenant_id = $1",
    )
    .bind(school.id)
    .bind(Value::Object(done))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

fn at(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| {
        json!(t.to_rfc3339_opts(SecondsFormat::Secs, true))
    })
}

/// The deletion certificate: the school, its export, each step with its time and counts.
fn certificate(school: &School, rec: &Record, confirmer: &str) -> Value {
    let deleted = |key: &str| rec.deleted.get(key).cloned().unwrap_or(Value::Null);
    json!({
        "certificate": "Invigilator deletion certificate",
        "school": {
            "id": school.id,
            "slug": school.slug,
            "name": school.name,
            "workspace_domain": school.workspace_domain,
        },
        "export": {
            "sha256": rec.export_sha256,
            "bytes": rec.export_bytes,
            "files": rec.export_files,
            "completed_at": at(rec.export_completed_at),
            "exported_by": rec.exported_by,
        },
        "confirmed": {
            "at": at(rec.confirmed_at),
            "by": rec.confirmed_by.clone().unwrap_or_else(|| confirmer.to_owned()),
        },
        "deleted": {
            "google_grants": {"at": at(rec.grants_revoked_at), "counts": deleted("google_grants")},
            "redis_keys": {"at": at(rec.redis_cleared_at), "count": deleted("redis_keys")},
            "schema_and_role": {"at": at(rec.schema_dropped_at), "detail": deleted("schema")},
            "registry": {
                "at": at(rec.registry_deleted_at),
                "status": "deleted",
                "platform_rows": deleted("platform_rows"),
            },
            "queued_jobs": QUEUED_JOBS,
        },
        "operator": confirmer,
        "issued_at": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
    })
}

/// Revokes every stored Google grant of the school at Google and deletes it, one at a time
/// (a grant deleted is a grant done, so a resumed run carries on with the rest). A grant
/// Google refuses for good is deleted too and counted as `failed`; Google being unreachable
/// stops the run.
async fn revoke_grants(
    ctx: &Offboarder<'_>,
    school: &School,
    operator: &Actor,
) -> Result<Value, OffboardError> {
    let mut tx = begin_school_tx(ctx.pool, school).await?;
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM google_credentials ORDER BY id")
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    let (mut revoked, mut ended, mut not_revocable, mut unreadable, mut failed) = (0, 0, 0, 0, 0);
    for id in ids {
        let outcome = match ctx.google.revoke_at_google(school, id).await {
            Ok(Revocation::Revoked) => {
                revoked += 1;
                "revoked"
            }
            Ok(Revocation::AlreadyEnded) => {
                ended += 1;
                "already_ended"
            }
            Ok(Revocation::NotRevocable) => {
                not_revocable += 1;
                "not_revocable"
            }
            Ok(Revocation::Unreadable) => {
                tracing::warn!(credential = %id, "a stored grant could not be decrypted to revoke it");
                unreadable += 1;
                "unreadable"
            }
            Err(e @ GoogleError::Permanent { .. }) => {
                tracing::warn!(credential = %id, error = %e, "Google refused the revocation");
                failed += 1;
                "failed"
            }
            Err(e) => return Err(OffboardError::Google(e)),
        };
        let mut tx = begin_school_tx(ctx.pool, school).await?;
        sqlx::query("DELETE FROM google_credentials WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        audit::record(
            &mut tx,
            operator,
            Action::GoogleGrantRevoked,
            Some(&Target::new("google_credential", id)),
            json!({"outcome": outcome, "offboarding": true}),
        )
        .await?;
        tx.commit().await?;
    }
    // A resumed run counts only what was left. Each grant's entry goes into the school's log,
    // which is dropped with the schema: these counts, kept in the certificate, are the record.
    Ok(json!({
        "revoked": revoked,
        "already_ended": ended,
        "not_revocable": not_revocable,
        "unreadable": unreadable,
        "failed": failed,
    }))
}

/// Removes every kind of Redis key belonging to the school; returns how many were removed.
///
/// - `invigilator:{ns}…{school id}…`: the settings cache and its generation, leases and slots
///   named after the school (roster sync, folder creation, lock jobs), its staff's session
///   indexes;
/// - the sessions those indexes list (`invigilator:{ns}session:{digest}`);
/// - leases of its portfolios (`invigilator:{ns}lock:portfolio:{id}`);
/// - `invigilator:ratelimit:…{school id}…` (its Google calls) and its sign-in throttles
///   (`invigilator:ratelimit:signin:{ns}school:{id or domain}`).
async fn clear_redis(ctx: &Offboarder<'_>, school: &School) -> Result<u64, OffboardError> {
    use redis::AsyncCommands;
    let ns = ctx.namespace;
    let mut conn = ctx.redis.clone();
    let mut removed = 0u64;

    // Sessions, through each staff member's index of them.
    let indexes = crate::redis_client::KeyScan::new(
        ctx.redis,
        &format!("invigilator:{ns}staff-sessions:{}:*", school.id),
    )
    .collect()
    .await?;
    for index in &indexes {
        let digests: Vec<String> = conn.smembers(index).await?;
        let keys: Vec<String> = digests
            .iter()
            .map(|d| format!("invigilator:{ns}session:{d}"))
            .collect();
        removed += unlink(&mut conn, &keys).await?;
    }
    // Leases of the school's portfolios, read while its schema is still there.
    let mut tx = begin_school_tx(ctx.pool, school).await?;
    let portfolios: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM portfolios")
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    for chunk in portfolios.chunks(1000) {
        let keys: Vec<String> = chunk
            .iter()
            .map(|id| format!("invigilator:{ns}lock:portfolio:{id}"))
            .collect();
        removed += unlink(&mut conn, &keys).await?;
    }
    for pattern in [
        format!("invigilator:{ns}*{}*", school.id),
        format!("invigilator:ratelimit:*{}*", school.id),
    ] {
        removed += crate::redis_client::delete_matching(ctx.redis, &pattern).await?;
    }
    let throttles: Vec<String> = [school.id.to_string(), school.workspace_domain.clone()]
        .iter()
        .map(|s| format!("invigilator:ratelimit:signin:{ns}school:{s}"))
        .collect();
    removed += unlink(&mut conn, &throttles).await?;
    Ok(removed)
}

async fn unlink(conn: &mut ConnectionManager, keys: &[String]) -> redis::RedisResult<u64> {
    if keys.is_empty() {
        return Ok(0);
    }
    redis::cmd("UNLINK").arg(keys).query_async(conn).await
}
