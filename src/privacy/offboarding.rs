//! Offboarding a school at the end of its contract (operator command line):
//!
//! 1. [`export`]: the whole school — every table of its schema, as JSON and CSV, and the
//!    manifest — through the archive writer, into the operator's file. The school's status
//!    becomes `offboarding` first, which stops sign-in, sessions, timers and jobs for it, and
//!    `offboarding.exported` is written to its audit log before the export's snapshot is taken,
//!    so the export holds that entry too. The file's SHA-256 and path are kept in
//!    `platform.offboardings` once it is complete.
//! 2. [`confirm`]: only when that export is complete and the file verifies (its SHA-256 as
//!    recorded, every entry against the manifest). Then, each step's time recorded so that an
//!    interrupted run resumes at the first step not done: Google grants revoked at Google and
//!    deleted; the school's Redis keys removed; schema and role dropped; registry row marked
//!    `deleted`; a deletion certificate written beside the export and kept in the platform.
//!
//! Columns left out of the export: the encrypted Google secrets (`refresh_token`,
//! `service_account_key`, `access_token` of `google_credentials`, ciphertexts only our keys
//! open, of grants revoked at step 2) and the hashes of calendar-feed addresses (`token_sha256`).
//!
//! Queued jobs of the school are not picked out of the job queues: every worker looks the
//! school up first and drops, done, a job whose school is not active or no longer exists.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

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
use crate::tenancy::names::quote_ident;
use crate::tenancy::registry::school_columns;
use crate::tenancy::{School, SchoolStatus, begin_school_snapshot_tx, begin_school_tx};

/// Set (by tests only) to a step's name to stop the run right after that step, as a crash
/// would: `confirmed`, `grants_revoked`, `redis_cleared`, `schema_dropped`, `registry_deleted`.
pub const STOP_AFTER_VARIABLE: &str = "INVIGILATOR_OFFBOARD_STOP_AFTER";

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
        "{0}'s deletion has already been confirmed; its data cannot be exported again (run \
         --confirm to finish it)"
    )]
    DeletionUnderway(String),
    #[error("{0} has no complete export yet: run `tenant offboard {0} --export FILE` first")]
    NoExport(String),
    #[error("the export does not verify, so nothing was deleted: {0}")]
    ExportRefused(#[source] VerifyError),
    #[error("a Google grant could not be revoked now; run --confirm again to carry on: {0}")]
    Google(#[source] GoogleError),
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
                | Self::ExportRefused(_)
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

/// What offboarding needs of the process: the database, Redis and its namespace, Google.
pub struct Offboarder<'a> {
    pub pool: &'a PgPool,
    pub redis: &'a ConnectionManager,
    pub namespace: &'a str,
    pub google: &'a GoogleClients,
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

fn operator_name(operator: &Actor) -> String {
    match operator {
        Actor::Operator(name) => name.clone(),
        // Only operators offboard; anything else is named as the log would name it.
        other => format!("{other:?}"),
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
#[tracing::instrument(skip(pool, operator))]
pub async fn export(
    pool: &PgPool,
    slug: &str,
    operator: &Actor,
    path: &Path,
) -> Result<ExportReport, OffboardError> {
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
    let sources = table_sources(pool, &school).await?;

    // The school stops first (no sign-in, no jobs), and the log says why before the snapshot.
    let name = operator_name(operator);
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
    .bind(&name)
    .bind(path.display().to_string())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE platform.tenants SET status = 'offboarding', updated_at = now() WHERE id = $1",
    )
    .bind(school.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut tx = begin_school_tx(pool, &school).await?;
    audit::record(
        &mut tx,
        operator,
        Action::OffboardingExported,
        Some(&Target::new("school", school.id)),
        json!({"tables": sources.len()}),
    )
    .await?;
    tx.commit().await?;

    // Written beside the target and renamed when whole: a crash never leaves a file at `path`
    // that looks like a finished export.
    let partial = partial_path(path);
    let file = File::create(&partial).map_err(file_error(&partial))?;
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
    let mut tx = begin_school_snapshot_tx(pool, &school).await?;
    for source in &sources {
        archive.add(&mut tx, source).await?;
    }
    tx.commit().await?;
    let (out, manifest) = archive.finish()?;
    let file = out
        .into_inner()
        .map_err(|e| file_error(&partial)(e.into_error()))?;
    file.sync_all().map_err(file_error(&partial))?;
    drop(file);
    std::fs::rename(&partial, path).map_err(file_error(path))?;
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

fn stop_after(step: &str) -> Result<(), OffboardError> {
    match std::env::var(STOP_AFTER_VARIABLE) {
        Ok(s) if s == step => Err(OffboardError::Stopped(step.to_owned())),
        _ => Ok(()),
    }
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
    let Some(expected) = rec.export_sha256.as_deref() else {
        return Err(OffboardError::NoExport(slug.to_owned()));
    };
    // Checked on every run: the certificate vouches for this file.
    archive::verify(path, Some(expected)).map_err(OffboardError::ExportRefused)?;

    let resumed = rec.confirmed_at.is_some();
    let name = operator_name(operator);
    if rec.confirmed_at.is_none() {
        sqlx::query(
            "UPDATE platform.offboardings SET confirmed_at = now(), confirmed_by = $2 \
             WHERE tenant_id = $1",
        )
        .bind(school.id)
        .bind(&name)
        .execute(pool)
        .await?;
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
    if rec.schema_dropped_at.is_none() {
        let dropped = crate::tenancy::drop_school(pool, &school).await?;
        let tables: serde_json::Map<String, Value> = dropped
            .tables
            .iter()
            .map(|(t, n)| (t.clone(), json!(n)))
            .collect();
        let counts = json!({"schema": dropped.schema, "role": dropped.role, "tables": tables});
        step_done(pool, school.id, "schema_dropped_at", "schema", counts).await?;
        stop_after("schema_dropped")?;
    }
    if rec.registry_deleted_at.is_none() {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "UPDATE platform.tenants SET status = 'deleted', deleted_at = now(), \
             updated_at = now() WHERE id = $1",
        )
        .bind(school.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE platform.offboardings SET registry_deleted_at = now() WHERE tenant_id = $1",
        )
        .bind(school.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        stop_after("registry_deleted")?;
    }

    // Everything is gone: the certificate, from the platform's record of each step.
    let rec = record(pool, &school)
        .await?
        .ok_or_else(|| OffboardError::NoExport(slug.to_owned()))?;
    let certificate = certificate(&school, &rec, &name);
    let text = serde_json::to_vec_pretty(&certificate).map_err(|e| OffboardError::File {
        path: cert_path.display().to_string(),
        source: e.into(),
    })?;
    let partial = partial_path(&cert_path);
    std::fs::write(&partial, &text).map_err(file_error(&partial))?;
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
            "registry": {"at": at(rec.registry_deleted_at), "status": "deleted"},
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
    let (mut revoked, mut ended, mut not_revocable, mut failed) = (0, 0, 0, 0);
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
    // A resumed run counts only what was left; the audit log (in the export) has each one.
    Ok(json!({
        "revoked": revoked,
        "already_ended": ended,
        "not_revocable": not_revocable,
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
    let indexes = scan(
        ctx.redis,
        &format!("invigilator:{ns}staff-sessions:{}:*", school.id),
    )
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

async fn scan(redis: &ConnectionManager, pattern: &str) -> redis::RedisResult<Vec<String>> {
    let mut conn = redis.clone();
    let mut found = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        found.extend(keys);
        if next == 0 {
            return Ok(found);
        }
        cursor = next;
    }
}

async fn unlink(conn: &mut ConnectionManager, keys: &[String]) -> redis::RedisResult<u64> {
    if keys.is_empty() {
        return Ok(0);
    }
    redis::cmd("UNLINK").arg(keys).query_async(conn).await
}
