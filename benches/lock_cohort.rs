//! Lock-cohort benchmark: the bell rings and every class of a year group is locked at once.
//!
//! 1,200 student portfolio folders in 40 classes of 30 are synced and provisioned first (not
//! timed, with no added latency or quota). Then the emulator answers every call after 30 ms
//! and holds the Drive operator to a per-user quota of Q requests per second (default 20,
//! `LOCK_BENCH_QUOTA_RPS`), the Google clients are built from a configuration whose
//! `GOOGLE_REQUESTS_PER_SECOND` is Q (the shared Redis limiter), and the real workers
//! (`jobs::run_workers`, `LOCK_BENCH_CONCURRENCY` as `work --concurrency`, default 4) run the
//! lock queue in this process. Each class's teacher then clicks "lock class" the way the web
//! handler does it (`lock::request_class` in one school transaction, commit, then
//! `jobs::enqueue_locks`), all 40 at once.
//!
//! Measures, all from the run itself:
//! - wall time from the first click to the last `applied_at`;
//! - the achieved rate of Drive calls the emulator accepted, over that wall time, as a share of
//!   Q (`quota_ratio`: 1.0 is the ceiling);
//! - Drive calls made per lock during the cohort (ideal 1.0: one `permissions.update` each);
//! - quota refusals received (`http_429`: Drive's per-user quota answers 403
//!   `userRateLimitExceeded`, other limits 429; both are counted);
//! - click-to-applied per portfolio (`applied_at - desired_at`, both stamped by PostgreSQL;
//!   `desired_at` is the start of the click's transaction), p50 and p99;
//! - single-click latency on the idle system afterwards: up to ten single-portfolio lock clicks
//!   one after another (sampling stops after 60 s), p50 of `applied_at - desired_at`;
//! - as diagnostics: the time from the first click to the first lock reaching Drive, and the
//!   pace from the first to the last lock (the quota ratio without that start-up wait);
//! - the onward-share scans the class locks start, counted apart from the lock path: before the
//!   bell, students have put work in their folders (one file each; every 50th a subfolder with a
//!   file in it) and some have shared it (every 20th with an outside address, every 50th
//!   subfolder file with anyone holding the link). Scans list folders (`files.list`) and the
//!   permissions of items with their own (`permissions.list`); nothing else lists during the
//!   run, so those two methods are the scan's and every other Drive call is the lock path's.
//!   Measured: scan calls made while locks were still being applied (counted when the bench
//!   sees the last lock applied, polling every 20 ms; target 0: scans yield),
//!   scan calls in all, the time from the last lock applied to the last scan done, and findings
//!   (target: exactly the grants the students made).
//!
//! - an assessment window over all 40 classes, after the teachers have unlocked them again: it
//!   starts a few seconds ahead, scheduled as an Examinations Officer schedules it (saved, its
//!   jobs queued), and the workers start it. Measured from its start instant: the first lock
//!   request, the first lock reaching Drive (`window_start_to_first_applied_s`, target ≤ 1.5 s),
//!   and the last (`window_to_locked_s`, target ≤ 1.1 × the cohort click's wall time).
//!
//! - the same cohort again with a pool of Drive operator accounts: three more accounts of the
//!   school's domain, each a Manager (organizer) of the Shared Drive, are connected beside the
//!   first (`POOL_OPERATORS`, 4 in all); the emulator holds each to Q per second and the Google
//!   project to 200 (`GOOGLE_PROJECT_REQUESTS_PER_SECOND`, which the workers' configuration
//!   sets to the same). The Examinations Officer cancels the window, which unlocks every
//!   folder through the lock pipeline (already with the pool), and then the 40 teachers lock
//!   their classes at once again. Measured as for the first cohort: the wall time
//!   (`pool_wall_s`, target ≤ 17 s at Q = 20: the combined quota min(4 × Q, 200) at 0.9), the
//!   quota ratio against that combined quota, Drive calls per lock (target ≤ 1.05), failed
//!   (target 0), quota refusals (target 0: no account and not the project went over its quota),
//!   and how the locks spread over the accounts: the `portfolio.lock.applied` audit entries of
//!   the run counted by `details->>'operator'` (the credential id), with each account's most
//!   locks applied in any one and any five seconds (from the entries' `at`, stamped after the
//!   call and a commit, so a little jittered). The scans this cohort starts are counted apart,
//!   as in the first, and waited for before the workers stop.
//!
//! `cargo bench --bench lock_cohort`. Uses the PostgreSQL at `TEST_DATABASE_URL` (default
//! postgres://postgres@127.0.0.1:5432/postgres) and Redis at `TEST_REDIS_URL`, and removes its
//! database, roles and Redis keys afterwards.
#![allow(clippy::unwrap_used)] // a test stops at the first surprise

use std::time::{Duration, Instant};

use google_emulator::FaultPlan;
use google_emulator::seed::Quotas;
use invigilator::audit::Actor;
use invigilator::config::Config;
use invigilator::jobs::{self, LockQueue};
use invigilator::portfolio::lock::{self, LockState};
use invigilator::roster::{self, Trigger};
use invigilator::services::Services;
use invigilator::tenancy::{School, begin_school_tx};
use invigilator_test_kit::TestDb;
use invigilator_test_kit::cohort_school::CohortSchool;
use sqlx::PgPool;
use uuid::Uuid;

const CLASSES: usize = 40;
const PER_CLASS: usize = 30;
const STUDENTS: usize = CLASSES * PER_CLASS;
const TEACHERS: usize = 10;
const LATENCY_MS: u64 = 30;
const DEFAULT_QUOTA_RPS: f64 = 20.0;
const DEFAULT_CONCURRENCY: usize = 4;
const SINGLE_CLICKS: usize = 10;
/// Single clicks stop being sampled (after at least one) once this long has gone by.
const SINGLE_BUDGET: Duration = Duration::from_secs(60);
/// The longest one single click may take before the run fails.
const SINGLE_WAIT: Duration = Duration::from_secs(45);
const DRIVE: &str = "0ABenchPortfolios";
/// Drive operator accounts connected for the pool run (the first cohort uses only the first).
const POOL_OPERATORS: usize = 4;
/// The Google project's quota in the pool run (and the workers' project limit throughout).
const PROJECT_RPS: f64 = 200.0;
/// The pool run's wall-time target at the default Q: 1,200 locks at 0.9 of 4 × 20 per second
/// is 16.7 s.
const POOL_WALL_TARGET_S: f64 = 17.0;

fn school_shape() -> CohortSchool {
    CohortSchool {
        domain: "bench.sch.uk",
        drive: DRIVE,
        teachers: TEACHERS,
        students: STUDENTS,
        classes: CLASSES,
        class_name: |c| {
            (
                format!("11{} English", (b'A' + (c % 26) as u8) as char),
                format!("Set {}", c % 8),
            )
        },
        id_digit: '8',
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={v:?} is not a valid value")),
        _ => Ok(default),
    }
}

/// Everything measured.
struct Figures {
    quota_rps: f64,
    concurrency: usize,
    portfolios: usize,
    clicks_s: f64,
    wall_s: f64,
    drive_calls: u64,
    drive_accepted: u64,
    permission_updates: u64,
    other_calls: u64,
    http_429: u64,
    failed: u64,
    unapplied: u64,
    click_ms: Vec<f64>,
    single_ms: Vec<f64>,
    single_seen_ms: Vec<f64>,
    /// First click → first lock applied.
    first_applied_s: f64,
    /// First lock applied → last lock applied.
    steady_s: f64,
    setup_s: f64,
    /// Grants the students made before the bell.
    shares_made: u64,
    scan: ScanFigures,
    window: WindowFigures,
    pool: PoolFigures,
}

/// The cohort again, with a pool of Drive operator accounts.
#[derive(Default)]
struct PoolFigures {
    operators: usize,
    /// min(operators × Q, the project's quota): the most Drive calls per second the school may
    /// make.
    combined_rps: f64,
    /// The window cancelled → every folder unlocked again (not a target).
    unlock_s: f64,
    wall_s: f64,
    /// First click → first lock applied.
    first_applied_s: f64,
    /// First lock applied → last lock applied.
    steady_s: f64,
    calls: Calls,
    /// Scan calls made before the last lock was applied.
    scan_calls_during_locks: u64,
    /// Quota refusals of the scans' own calls (403/429 on listings), during the locks and after.
    scan_refused: u64,
    scans_done: u64,
    failed: u64,
    unapplied: u64,
    click_ms: Vec<f64>,
    /// Each account, in the order connected.
    accounts: Vec<AccountFigures>,
}

/// One Drive operator account's share of the pool run, from the audit entries of its locks.
struct AccountFigures {
    email: String,
    locks: u64,
    /// The most of its locks applied (audit `at`) in any one second: the limiter's burst (a
    /// quarter second's calls) and the entries' own jitter on top of Q.
    peak_1s: u64,
    /// The most in any five seconds: the sustained rate (at most 5 × Q plus the burst).
    peak_5s: u64,
}

/// The assessment window over every class.
#[derive(Default)]
struct WindowFigures {
    /// The window (the pool run cancels it).
    id: Uuid,
    /// Start instant → first lock request recorded.
    first_request_s: f64,
    /// Start instant → first lock applied in Drive.
    first_applied_s: f64,
    /// Start instant → last lock applied.
    locked_s: f64,
    locked: u64,
    failed: u64,
}

/// The onward-share scans after the cohort.
#[derive(Default)]
struct ScanFigures {
    /// Scan calls made before the last lock was applied.
    calls_during_locks: u64,
    calls: u64,
    /// Last lock applied → last scan done.
    after_locks_s: f64,
    scans_done: u64,
    items: u64,
    findings: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    invigilator::google::install_crypto_provider();
    let quota_rps: f64 = env_or("LOCK_BENCH_QUOTA_RPS", DEFAULT_QUOTA_RPS)?;
    let concurrency: usize = env_or("LOCK_BENCH_CONCURRENCY", DEFAULT_CONCURRENCY)?;
    anyhow::ensure!(
        (0.1..=1000.0).contains(&quota_rps),
        "LOCK_BENCH_QUOTA_RPS must be from 0.1 to 1000"
    );
    // A database and role prefix of its own, removed when `db` is dropped.
    let db = TestDb::with_pool_size(30).await;
    let prefix = db.role_prefix.clone();

    eprintln!("seeding the emulator…");
    // Every account the pool run connects is a Manager of the Shared Drive from the start; the
    // first cohort connects only the first.
    let emu = google_emulator::start(&school_shape().seed_with_operators(POOL_OPERATORS)).await?;
    let urls = [
        ("GOOGLE_API_BASE_URL", emu.url()),
        ("GOOGLE_ISSUER_URL", emu.url()),
    ];
    let with_rate = |rate: &str, project: &str| {
        let mut vars: Vec<(&str, &str)> = urls.iter().map(|(k, v)| (*k, v.as_str())).collect();
        vars.push(("GOOGLE_REQUESTS_PER_SECOND", rate));
        vars.push(("GOOGLE_PROJECT_REQUESTS_PER_SECOND", project));
        db.config(&vars)
    };
    // Setup is not measured: let it run at our own pace.
    let setup_config = with_rate("1000", "1000");
    // The workers' configuration: the shared limiters set to the quotas, as in production (the
    // project's 200 does not bind one account at Q).
    let work_config = with_rate(&quota_rps.to_string(), &PROJECT_RPS.to_string());
    let result = run(
        &db,
        &setup_config,
        &work_config,
        &emu,
        quota_rps,
        concurrency,
    )
    .await;

    invigilator_test_kit::clean_redis(&work_config, &prefix).await?;
    report(&result?);
    Ok(())
}

async fn run(
    db: &TestDb,
    setup_config: &Config,
    work_config: &Config,
    emu: &google_emulator::RunningEmulator,
    quota_rps: f64,
    concurrency: usize,
) -> anyhow::Result<Figures> {
    let pool = &db.pool;
    let setup = Instant::now();
    let school = school_shape().provision(db, emu, setup_config).await;
    // No timed roster sync may start during the measurement (it would share the quota); the
    // Shared Drive is set, as the School Admin sets it.
    sqlx::query(
        "UPDATE platform.tenants SET next_sync_at = now() + interval '1 day', shared_drive_id = $1 \
         WHERE id = $2",
    )
    .bind(DRIVE)
    .bind(school.id)
    .execute(pool)
    .await?;

    let redis = invigilator::redis_client::lazy_connection(setup_config)?;
    let setup_services = Services::new(setup_config, pool.clone(), redis.clone())?;
    let (setup_google, leases) = (&setup_services.google, &setup_services.leases);

    eprintln!("setup: roster sync and {STUDENTS} portfolio folders (not timed)…");
    let synced = roster::sync_school(pool, setup_google, leases, &school, Trigger::Cli).await?;
    anyhow::ensure!(synced.errors.is_empty(), "sync errors: {:?}", synced.errors);
    let folders = invigilator::portfolio::provision(pool, setup_google, &school, DRIVE).await?;
    anyhow::ensure!(
        folders.errors.is_empty() && folders.portfolio_folders as usize == STUDENTS,
        "folders: {} made, errors {:?}",
        folders.portfolio_folders,
        folders.errors
    );

    eprintln!("setup: students put work in their folders and share some of it…");
    let shares_made = seed_student_work(pool, &school, emu).await?;

    // Who clicks for each class: its (first) teacher.
    let mut tx = begin_school_tx(pool, &school).await?;
    let classes: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT DISTINCT ON (c.id) c.id, ct.staff_id FROM courses c \
         JOIN course_teachers ct ON ct.course_id = c.id ORDER BY c.id, ct.staff_id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let portfolios: i64 =
        sqlx::query_scalar("SELECT count(*) FROM portfolios WHERE permission_id IS NOT NULL")
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    anyhow::ensure!(
        classes.len() == CLASSES && portfolios as usize == STUDENTS,
        "expected {CLASSES} classes with teachers and {STUDENTS} shared folders, found {} and {portfolios}",
        classes.len()
    );

    // The measured world: latency and the quota, and workers pacing themselves to it.
    emu.set_faults(
        "*",
        FaultPlan {
            latency_ms: LATENCY_MS,
            ..FaultPlan::default()
        },
    );
    emu.set_quotas(Quotas {
        per_user_per_second: Some(quota_rps),
        per_project_per_second: None,
    });
    // As the `work` command builds them.
    let ctx = Services::new(work_config, pool.clone(), redis.clone())?;
    let queue = ctx.queues.locks.clone();
    let window_queue = ctx.queues.windows.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let workers = tokio::spawn(jobs::run_workers(ctx, concurrency, async {
        let _ = stopped.await;
    }));
    // Let the workers register and start polling before the bell.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let setup_s = setup.elapsed().as_secs_f64();

    let mut measured = measure(pool, &school, &queue, emu, &classes, quota_rps).await;
    if let Ok(figures) = &mut measured {
        match measure_window(pool, &school, &queue, &window_queue, &classes, quota_rps).await {
            Ok(window) => figures.window = window,
            Err(e) => measured = Err(e),
        }
    }
    if let Ok(figures) = &mut measured {
        let window = figures.window.id;
        match measure_pool(db, &school, &queue, emu, &classes, quota_rps, window).await {
            Ok(pool) => figures.pool = pool,
            Err(e) => measured = Err(e),
        }
    }

    let _ = stop.send(());
    match tokio::time::timeout(Duration::from_secs(45), workers).await {
        Ok(Ok(Err(e))) => eprintln!("workers stopped with an error: {e}"),
        Ok(Err(e)) => eprintln!("workers panicked: {e}"),
        Err(_) => eprintln!("workers did not stop within 45 s"),
        Ok(Ok(Ok(()))) => {}
    }
    let mut figures = measured?;
    figures.concurrency = concurrency;
    figures.setup_s = setup_s;
    figures.shares_made = shares_made;
    Ok(figures)
}

/// Students' own work before the bell, made through Drive as each student: one file each,
/// every 50th a subfolder with a file; every 20th shares their file with someone outside the
/// school, every 50th the subfolder file with anyone with the link. Returns the grants made.
async fn seed_student_work(
    pool: &PgPool,
    school: &School,
    emu: &google_emulator::RunningEmulator,
) -> anyhow::Result<u64> {
    use futures::StreamExt;
    let mut tx = begin_school_tx(pool, school).await?;
    let folders: Vec<(String, String)> = sqlx::query_as(
        "SELECT s.email, p.drive_folder_id FROM portfolios p JOIN students s ON s.id = p.student_id \
         WHERE p.drive_folder_id IS NOT NULL ORDER BY s.email",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let http = reqwest::Client::new();
    let base = emu.url();
    let made = futures::stream::iter(folders.into_iter().enumerate())
        .map(|(i, (email, folder))| {
            let (http, base) = (http.clone(), base.clone());
            let token = emu.issue_access_token(
                &email,
                &["https://www.googleapis.com/auth/drive"],
                "invigilator-local",
            );
            async move {
                let token = token.ok_or_else(|| anyhow::anyhow!("no user {email}"))?;
                let create = |parent: String, name: &'static str, folder: bool| {
                    let (http, base, token) = (http.clone(), base.clone(), token.clone());
                    async move {
                        let mut body = serde_json::json!({"name": name, "parents": [parent]});
                        if folder {
                            body["mimeType"] = "application/vnd.google-apps.folder".into();
                        }
                        let created: serde_json::Value = http
                            .post(format!("{base}drive/v3/files?supportsAllDrives=true"))
                            .bearer_auth(&token)
                            .json(&body)
                            .send()
                            .await?
                            .error_for_status()?
                            .json()
                            .await?;
                        created["id"]
                            .as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| anyhow::anyhow!("no file id"))
                    }
                };
                let share = |item: String, grant: serde_json::Value| {
                    let (http, base, token) = (http.clone(), base.clone(), token.clone());
                    // Drive takes `sendNotificationEmail` for user and group grants only.
                    let notify = if grant["type"] == "anyone" {
                        ""
                    } else {
                        "&sendNotificationEmail=false"
                    };
                    async move {
                        http.post(format!(
                            "{base}drive/v3/files/{item}/permissions?supportsAllDrives=true{notify}"
                        ))
                        .bearer_auth(&token)
                        .json(&grant)
                        .send()
                        .await?
                        .error_for_status()?;
                        anyhow::Ok(())
                    }
                };
                let mut shares = 0u64;
                let essay = create(folder.clone(), "Essay", false).await?;
                if i % 20 == 0 {
                    let grant = serde_json::json!({"type": "user", "role": "writer",
                        "emailAddress": format!("reader{i}@elsewhere.example")});
                    share(essay, grant).await?;
                    shares += 1;
                }
                if i % 50 == 25 {
                    let drafts = create(folder, "Drafts", true).await?;
                    let chart = create(drafts, "Chart", false).await?;
                    share(
                        chart,
                        serde_json::json!({"type": "anyone", "role": "reader"}),
                    )
                    .await?;
                    shares += 1;
                }
                anyhow::Ok(shares)
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    made.into_iter().sum()
}

/// One teacher's "lock class", as `POST /api/classes/{id}/lock` does it.
async fn click_class(
    pool: &PgPool,
    school: &School,
    queue: &LockQueue,
    staff: Uuid,
    course: Uuid,
) -> anyhow::Result<usize> {
    let mut tx = begin_school_tx(pool, school).await?;
    let requested =
        lock::request_class(&mut tx, &Actor::Staff(staff), course, LockState::Locked).await?;
    tx.commit().await?;
    let pairs: Vec<(Uuid, i64)> = requested
        .iter()
        .map(|r| (r.portfolio_id, r.version))
        .collect();
    jobs::enqueue_locks(queue, school.id, &pairs)
        .await
        .map_err(|e| anyhow::anyhow!("enqueue: {e}"))?;
    Ok(requested.len())
}

/// One teacher's lock or unlock of one portfolio, as `POST /api/portfolios/{id}/lock` does it;
/// returns the version to wait for.
async fn click_portfolio(
    pool: &PgPool,
    school: &School,
    queue: &LockQueue,
    staff: Uuid,
    portfolio: Uuid,
    desired: LockState,
) -> anyhow::Result<i64> {
    let mut tx = begin_school_tx(pool, school).await?;
    let requested = lock::request(&mut tx, &Actor::Staff(staff), portfolio, desired).await?;
    tx.commit().await?;
    jobs::enqueue_locks(queue, school.id, &[(portfolio, requested.version)])
        .await
        .map_err(|e| anyhow::anyhow!("enqueue: {e}"))?;
    Ok(requested.version)
}

/// Portfolios still waiting for Drive, and those given up on.
async fn pending(pool: &PgPool, school: &School) -> anyhow::Result<(i64, i64)> {
    let mut tx = begin_school_tx(pool, school).await?;
    let counts = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE applied_version < desired_version AND NOT failed_permanently), \
                count(*) FILTER (WHERE failed_permanently) FROM portfolios",
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(counts)
}

/// Waits until one portfolio's applied version reaches `version`; `false` on timeout.
async fn wait_applied(
    pool: &PgPool,
    school: &School,
    portfolio: Uuid,
    version: i64,
    timeout: Duration,
) -> anyhow::Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut tx = begin_school_tx(pool, school).await?;
        let (applied, failed): (i64, bool) = sqlx::query_as(
            "SELECT applied_version, failed_permanently FROM portfolios WHERE id = $1",
        )
        .bind(portfolio)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        if applied >= version {
            return Ok(true);
        }
        if failed || Instant::now() > deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[derive(Default, Clone, Copy)]
struct Calls {
    /// Drive calls of the lock path: everything but listings.
    drive: u64,
    /// Listings: the onward-share scan's calls (nothing else lists during the run).
    scan: u64,
    drive_accepted: u64,
    permission_updates: u64,
    refused: u64,
    /// Quota refusals of listings (the scans').
    scan_refused: u64,
    other: u64,
}

impl std::ops::Sub for Calls {
    type Output = Self;
    fn sub(self, before: Self) -> Self {
        Self {
            drive: self.drive - before.drive,
            scan: self.scan - before.scan,
            drive_accepted: self.drive_accepted - before.drive_accepted,
            permission_updates: self.permission_updates - before.permission_updates,
            refused: self.refused - before.refused,
            scan_refused: self.scan_refused - before.scan_refused,
            other: self.other - before.other,
        }
    }
}

fn calls(emu: &google_emulator::RunningEmulator) -> Calls {
    let mut c = Calls::default();
    for (route, by_status) in &emu.stats().calls {
        for (status, n) in by_status {
            if !route.starts_with("drive.") {
                c.other += n;
                continue;
            }
            if route == "drive.files.list" || route == "drive.permissions.list" {
                c.scan += n;
                if *status == 429 || *status == 403 {
                    c.scan_refused += n;
                }
                continue;
            }
            c.drive += n;
            if *status < 400 {
                c.drive_accepted += n;
            }
            if route == "drive.permissions.update" {
                c.permission_updates += n;
            }
            // Drive's own quota refusals: 403 user/project rate limit, or 429.
            if *status == 429 || *status == 403 {
                c.refused += n;
            }
        }
    }
    c
}

/// One bell: every class's teacher clicks "lock class" at once, and the workers apply the
/// locks. What the cohort run and the pool run both measure of it.
struct Bell {
    /// PostgreSQL's clock at the first click (`desired_at` is stamped by the same clock).
    t0: chrono::DateTime<chrono::Utc>,
    /// How long the bell's run was watched: all applied, or the deadline passed.
    watched_s: f64,
    clicks_s: f64,
    requested: usize,
    unapplied: u64,
    failed: u64,
    /// Scan calls made before the last lock was seen applied.
    scan_calls_during_locks: u64,
    /// The emulator's counts before the first click, and the cohort's calls since.
    before: Calls,
    calls: Calls,
    /// The first and the last lock applied.
    first: Option<chrono::DateTime<chrono::Utc>>,
    last: Option<chrono::DateTime<chrono::Utc>>,
    /// Click → applied per portfolio, sorted.
    click_ms: Vec<f64>,
}

impl Bell {
    /// First click → last lock applied; if not all were, at least until the deadline.
    fn wall_s(&self) -> f64 {
        match self.last {
            Some(last) if self.unapplied == 0 => (last - self.t0).as_seconds_f64(),
            _ => self.watched_s,
        }
    }

    /// Diagnostics: when the first lock reached Drive, and the pace from then on.
    fn first_applied_s(&self) -> f64 {
        self.first
            .map_or(f64::NAN, |first| (first - self.t0).as_seconds_f64())
    }

    fn steady_s(&self) -> f64 {
        match (self.first, self.last) {
            (Some(first), Some(last)) => (last - first).as_seconds_f64(),
            _ => f64::NAN,
        }
    }
}

/// Rings the bell (`announce` says so) and waits until every lock is applied or the quota
/// (`rps`) has had three times the time it needs, plus a minute.
async fn ring_the_bell(
    pool: &PgPool,
    school: &School,
    queue: &LockQueue,
    emu: &google_emulator::RunningEmulator,
    classes: &[(Uuid, Uuid)],
    rps: f64,
    announce: &str,
) -> anyhow::Result<Bell> {
    let before = calls(emu);
    let t0: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(pool)
        .await?;
    let clock = Instant::now();
    eprintln!("{announce}");
    let clicked = futures::future::join_all(
        classes
            .iter()
            .map(|(course, staff)| click_class(pool, school, queue, *staff, *course)),
    )
    .await;
    let clicks_s = clock.elapsed().as_secs_f64();
    let mut requested = 0;
    for c in clicked {
        requested += c?;
    }
    anyhow::ensure!(
        requested == STUDENTS,
        "{requested} portfolios requested, expected {STUDENTS}"
    );

    // Long enough for the quota to be the limit many times over.
    let deadline = clock + Duration::from_secs_f64((STUDENTS as f64 / rps) * 3.0 + 60.0);
    let mut last_report = Instant::now();
    let (unapplied, failed, scan_calls_during_locks) = loop {
        let (waiting, failed) = pending(pool, school).await?;
        if waiting == 0 || Instant::now() > deadline {
            // The scans' calls up to here, when the last lock was seen applied (polled every
            // 20 ms): scans start right after it.
            let scan_calls = (calls(emu) - before).scan;
            break (waiting as u64, failed as u64, scan_calls);
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            eprintln!(
                "  {:>4.0} s: {waiting} waiting, {failed} failed",
                clock.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Let any job still in flight (a re-run, the apply-again check) settle before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cohort = calls(emu) - before;

    let mut tx = begin_school_tx(pool, school).await?;
    let (first, last) = sqlx::query_as(
        "SELECT min(applied_at), max(applied_at) FROM portfolios \
         WHERE applied_version >= desired_version AND desired = 'locked'",
    )
    .fetch_one(&mut *tx)
    .await?;
    let mut click_ms: Vec<f64> = sqlx::query_scalar(
        "SELECT (EXTRACT(EPOCH FROM applied_at - desired_at) * 1000)::float8 FROM portfolios \
         WHERE applied_version >= desired_version AND applied_at IS NOT NULL",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    click_ms.sort_by(f64::total_cmp);
    Ok(Bell {
        t0,
        watched_s: clock.elapsed().as_secs_f64(),
        clicks_s,
        requested,
        unapplied,
        failed,
        scan_calls_during_locks,
        before,
        calls: cohort,
        first,
        last,
        click_ms,
    })
}

async fn measure(
    pool: &PgPool,
    school: &School,
    queue: &LockQueue,
    emu: &google_emulator::RunningEmulator,
    classes: &[(Uuid, Uuid)],
    quota_rps: f64,
) -> anyhow::Result<Figures> {
    let bell = ring_the_bell(
        pool,
        school,
        queue,
        emu,
        classes,
        quota_rps,
        &format!("the bell: {CLASSES} teachers lock their classes at once…"),
    )
    .await?;
    let (before, cohort) = (bell.before, bell.calls);

    eprintln!("onward-share scans of the {CLASSES} locked classes…");
    let scan_deadline = Instant::now() + Duration::from_secs(600);
    let (scans_done, items, findings, scans_last): (
        i64,
        i64,
        i64,
        Option<chrono::DateTime<chrono::Utc>>,
    ) = loop {
        let mut tx = begin_school_tx(pool, school).await?;
        let row: (i64, i64, i64, Option<chrono::DateTime<chrono::Utc>>) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'done'), coalesce(sum(items), 0)::int8, \
                 coalesce(sum(findings), 0)::int8, max(status_at) FILTER (WHERE status = 'done') \
             FROM share_scans",
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let (done, ..) = row;
        if done as usize >= CLASSES || Instant::now() > scan_deadline {
            break row;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let scanned = calls(emu) - before;

    let mut tx = begin_school_tx(pool, school).await?;
    let sample: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM portfolios WHERE applied_version >= desired_version \
         ORDER BY id LIMIT $1",
    )
    .bind(SINGLE_CLICKS as i64)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    eprintln!("single clicks on the idle system…");
    // Each click re-locks a locked folder: the whole path (request, queue, worker, one
    // permissions.update, applied), one portfolio at a time, the system otherwise idle.
    let staff = classes[0].1;
    let mut single_ms = Vec::with_capacity(SINGLE_CLICKS);
    let mut single_seen_ms = Vec::with_capacity(SINGLE_CLICKS);
    let singles = Instant::now();
    for id in sample {
        if !single_ms.is_empty() && singles.elapsed() > SINGLE_BUDGET {
            eprintln!(
                "  single clicks stopped after {} (over {} s)",
                single_ms.len(),
                SINGLE_BUDGET.as_secs()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let clock = Instant::now();
        let v = click_portfolio(pool, school, queue, staff, id, LockState::Locked).await?;
        anyhow::ensure!(
            wait_applied(pool, school, id, v, SINGLE_WAIT).await?,
            "a single lock was not applied within {} s",
            SINGLE_WAIT.as_secs()
        );
        single_seen_ms.push(clock.elapsed().as_secs_f64() * 1000.0);
        let mut tx = begin_school_tx(pool, school).await?;
        let ms: f64 = sqlx::query_scalar(
            "SELECT (EXTRACT(EPOCH FROM applied_at - desired_at) * 1000)::float8 \
             FROM portfolios WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        single_ms.push(ms);
    }
    single_ms.sort_by(f64::total_cmp);
    single_seen_ms.sort_by(f64::total_cmp);

    Ok(Figures {
        quota_rps,
        concurrency: 0,
        portfolios: bell.requested,
        clicks_s: bell.clicks_s,
        wall_s: bell.wall_s(),
        drive_calls: cohort.drive,
        drive_accepted: cohort.drive_accepted,
        permission_updates: cohort.permission_updates,
        other_calls: cohort.other,
        http_429: cohort.refused,
        failed: bell.failed + bell.unapplied,
        unapplied: bell.unapplied,
        single_ms,
        single_seen_ms,
        first_applied_s: bell.first_applied_s(),
        steady_s: bell.steady_s(),
        setup_s: 0.0,
        shares_made: 0,
        scan: ScanFigures {
            calls_during_locks: bell.scan_calls_during_locks,
            calls: scanned.scan,
            after_locks_s: match (bell.last, scans_last) {
                (Some(last), Some(done)) => (done - last).as_seconds_f64(),
                _ => f64::NAN,
            },
            scans_done: scans_done as u64,
            items: items as u64,
            findings: findings as u64,
        },
        window: WindowFigures::default(),
        pool: PoolFigures::default(),
        // Last: it moves out of the bell the fields above still read.
        click_ms: bell.click_ms,
    })
}

/// Waits until no lock request is waiting (or `within` has passed); returns those given up on.
async fn wait_all_applied(pool: &PgPool, school: &School, within: Duration) -> anyhow::Result<i64> {
    let deadline = Instant::now() + within;
    loop {
        let (waiting, failed) = pending(pool, school).await?;
        if waiting == 0 {
            return Ok(failed);
        }
        anyhow::ensure!(Instant::now() < deadline, "{waiting} locks still waiting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The teachers unlock every class again; then an Examinations Officer's window over all of
/// them starts a few seconds ahead, and the workers lock them at its instant.
async fn measure_window(
    pool: &PgPool,
    school: &School,
    queue: &LockQueue,
    window_queue: &jobs::WindowQueue,
    classes: &[(Uuid, Uuid)],
    quota_rps: f64,
) -> anyhow::Result<WindowFigures> {
    eprintln!("the teachers unlock every class again…");
    let patience = Duration::from_secs_f64((STUDENTS as f64 / quota_rps) * 3.0 + 60.0);
    wait_all_applied(pool, school, patience).await?;
    for (course, staff) in classes {
        let mut tx = begin_school_tx(pool, school).await?;
        let requested =
            lock::request_class(&mut tx, &Actor::Staff(*staff), *course, LockState::Unlocked)
                .await?;
        tx.commit().await?;
        let pairs: Vec<(Uuid, i64)> = requested
            .iter()
            .map(|r| (r.portfolio_id, r.version))
            .collect();
        jobs::enqueue_locks(queue, school.id, &pairs)
            .await
            .map_err(|e| anyhow::anyhow!("enqueue: {e}"))?;
    }
    wait_all_applied(pool, school, patience).await?;
    // Let the unlocks' last jobs settle, so the window's first lock is the window's.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let officer = classes[0].1;
    let now = chrono::Utc::now();
    let start = chrono::DateTime::from_timestamp(now.timestamp() + 4, 0)
        .ok_or_else(|| anyhow::anyhow!("no such time"))?;
    let fields = invigilator::windows::draft::WindowFields {
        name: Some("Year 11 English mock".to_owned()),
        classes: Some(classes.iter().map(|(c, _)| c.to_string()).collect()),
        starts_at: Some(invigilator::windows::london_time::utc_to_london(start)),
        ends_at: Some(invigilator::windows::london_time::utc_to_london(
            start + chrono::Duration::hours(2),
        )),
        ..Default::default()
    };
    let mut tx = begin_school_tx(pool, school).await?;
    let window = invigilator::windows::store::create(&mut tx, officer, &fields, now).await?;
    tx.commit().await?;
    jobs::windows::schedule(window_queue, school.id, &window)
        .await
        .map_err(|e| anyhow::anyhow!("schedule: {e}"))?;
    eprintln!("a window over every class starts at {start}…");
    tokio::time::sleep((start - chrono::Utc::now()).to_std().unwrap_or_default()).await;
    let started = Instant::now();
    loop {
        let mut tx = begin_school_tx(pool, school).await?;
        let locked: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM portfolios WHERE desired = 'locked' AND applied_version = desired_version",
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        if locked as usize == STUDENTS {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < patience,
            "the window locked only {locked}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut tx = begin_school_tx(pool, school).await?;
    let (first, last, failed): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>, i64) =
        sqlx::query_as(
            "SELECT min(applied_at), max(applied_at), count(*) FILTER (WHERE failed_permanently)              FROM portfolios",
        )
        .fetch_one(&mut *tx)
        .await?;
    let first_request: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT min(at) FROM audit_log WHERE action = 'portfolio.lock.requested'          AND details->>'window' = $1",
    )
    .bind(window.id.to_string())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(WindowFigures {
        id: window.id,
        first_request_s: (first_request - start).as_seconds_f64(),
        first_applied_s: (first - start).as_seconds_f64(),
        locked_s: (last - start).as_seconds_f64(),
        locked: STUDENTS as u64,
        failed: failed as u64,
    })
}

/// Waits until no onward-share scan is waiting, queued or running (or `within` has passed);
/// returns the scans done in all.
async fn wait_scans_settled(
    pool: &PgPool,
    school: &School,
    within: Duration,
) -> anyhow::Result<i64> {
    let deadline = Instant::now() + within;
    loop {
        let mut tx = begin_school_tx(pool, school).await?;
        let (open, done): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status IN ('waiting', 'queued', 'running')), \
                    count(*) FILTER (WHERE status = 'done') FROM share_scans",
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        if open == 0 {
            return Ok(done);
        }
        anyhow::ensure!(Instant::now() < deadline, "{open} scans still open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The most of `times` (sorted) within any `seconds` seconds.
fn peak_within(times: &[chrono::DateTime<chrono::Utc>], seconds: i64) -> u64 {
    let mut peak = 0;
    let mut from = 0;
    for (to, at) in times.iter().enumerate() {
        while *at - times[from] >= chrono::Duration::seconds(seconds) {
            from += 1;
        }
        peak = peak.max(to - from + 1);
    }
    peak as u64
}

/// The pool run: three more Drive operator accounts connected beside the first, the Google
/// project's quota set, the window cancelled (every folder unlocked again, with the pool), and
/// then the 40 teachers lock their classes at once again.
async fn measure_pool(
    db: &TestDb,
    school: &School,
    queue: &LockQueue,
    emu: &google_emulator::RunningEmulator,
    classes: &[(Uuid, Uuid)],
    quota_rps: f64,
    window: Uuid,
) -> anyhow::Result<PoolFigures> {
    let pool = &db.pool;
    // The window's own scans take the first account's quota: they finish before the pool runs.
    eprintln!("pool: the window's onward-share scans finish…");
    let scans_before = wait_scans_settled(pool, school, Duration::from_secs(600)).await?;

    eprintln!(
        "pool: {} more Drive operator accounts connected…",
        POOL_OPERATORS - 1
    );
    let mut tx = begin_school_tx(pool, school).await?;
    let first: Uuid = sqlx::query_scalar(
        "SELECT id FROM google_credentials WHERE purpose = 'drive_operator' AND account_email = $1",
    )
    .bind(school_shape().operator())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut accounts = vec![(school_shape().operator(), first)];
    accounts.extend(
        school_shape()
            .connect_more_operators(db, emu, school, POOL_OPERATORS)
            .await,
    );
    let combined_rps = (quota_rps * POOL_OPERATORS as f64).min(PROJECT_RPS);
    emu.set_quotas(Quotas {
        per_user_per_second: Some(quota_rps),
        per_project_per_second: Some(PROJECT_RPS),
    });

    eprintln!("pool: the Examinations Officer cancels the window; every folder is unlocked…");
    let officer = classes[0].1;
    let clock = Instant::now();
    let mut tx = begin_school_tx(pool, school).await?;
    let (_, requests) = invigilator::windows::store::cancel(&mut tx, officer, window).await?;
    tx.commit().await?;
    anyhow::ensure!(
        requests.to_apply.len() == STUDENTS,
        "cancelling the window asked for {} unlocks, expected {STUDENTS}",
        requests.to_apply.len()
    );
    jobs::enqueue_locks(queue, school.id, &requests.jobs())
        .await
        .map_err(|e| anyhow::anyhow!("enqueue: {e}"))?;
    let patience = Duration::from_secs_f64((STUDENTS as f64 / quota_rps) * 3.0 + 60.0);
    wait_all_applied(pool, school, patience).await?;
    let unlock_s = clock.elapsed().as_secs_f64();
    let mut tx = begin_school_tx(pool, school).await?;
    let unlocked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM portfolios WHERE desired = 'unlocked' AND applied = 'unlocked' \
         AND applied_version = desired_version",
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    anyhow::ensure!(
        unlocked as usize == STUDENTS,
        "only {unlocked} folders unlocked after the window was cancelled"
    );
    // Let the unlocks' last jobs settle, so the run's first lock is the run's.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let bell = ring_the_bell(
        pool,
        school,
        queue,
        emu,
        classes,
        combined_rps,
        &format!(
            "pool: the bell again, {POOL_OPERATORS} accounts at {quota_rps} req/s each, the project at {PROJECT_RPS}…"
        ),
    )
    .await?;
    let t0 = bell.t0;
    let mut tx = begin_school_tx(pool, school).await?;
    // Which account applied each lock of this run, and when.
    let applied: Vec<(Option<String>, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT details->>'operator', at FROM audit_log \
         WHERE action = 'portfolio.lock.applied' AND at >= $1 ORDER BY at",
    )
    .bind(t0)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let by_account = accounts
        .iter()
        .map(|(email, id)| {
            let id = id.to_string();
            let times: Vec<_> = applied
                .iter()
                .filter(|(operator, _)| operator.as_deref() == Some(id.as_str()))
                .map(|(_, at)| *at)
                .collect();
            AccountFigures {
                email: email.clone(),
                locks: times.len() as u64,
                peak_1s: peak_within(&times, 1),
                peak_5s: peak_within(&times, 5),
            }
        })
        .collect::<Vec<_>>();
    let attributed: u64 = by_account.iter().map(|a| a.locks).sum();
    anyhow::ensure!(
        attributed as usize == applied.len(),
        "{} of {} applied locks name no connected account",
        applied.len() as u64 - attributed,
        applied.len()
    );

    // The scans this cohort started run now; the workers stop only after them.
    eprintln!("pool: onward-share scans of the {CLASSES} locked classes…");
    let scans_done =
        wait_scans_settled(pool, school, Duration::from_secs(600)).await? - scans_before;
    let scanned = calls(emu) - bell.before;

    Ok(PoolFigures {
        operators: accounts.len(),
        combined_rps,
        unlock_s,
        wall_s: bell.wall_s(),
        first_applied_s: bell.first_applied_s(),
        steady_s: bell.steady_s(),
        calls: bell.calls,
        scan_calls_during_locks: bell.scan_calls_during_locks,
        scan_refused: scanned.scan_refused,
        scans_done: scans_done.max(0) as u64,
        failed: bell.failed + bell.unapplied,
        unapplied: bell.unapplied,
        click_ms: bell.click_ms,
        accounts: by_account,
    })
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

fn report(f: &Figures) {
    let achieved = f.drive_accepted as f64 / f.wall_s;
    let quota_ratio = achieved / f.quota_rps;
    let calls_per_lock = f.drive_calls as f64 / f.portfolios as f64;
    let p50 = percentile(&f.click_ms, 50.0);
    let p99 = percentile(&f.click_ms, 99.0);
    let single = percentile(&f.single_ms, 50.0);
    let single_seen = percentile(&f.single_seen_ms, 50.0);
    let single_target = 3.0 * LATENCY_MS as f64 + 50.0;
    let steady_ratio = (f.portfolios as f64 - 1.0) / f.steady_s / f.quota_rps;
    let ideal_s = f.portfolios as f64 / f.quota_rps;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!(
        "lock cohort: {} folders in {CLASSES} classes of {PER_CLASS}; emulator latency {LATENCY_MS} ms, \
         Drive quota {} req/s per user; worker concurrency {} ({} lock jobs at once); {cores} cores, release build",
        f.portfolios,
        f.quota_rps,
        f.concurrency,
        (f.concurrency * 4).max(1)
    );
    println!();
    let verdict = |ok: bool| if ok { "pass" } else { "FAIL" };
    let row = |measure: &str, value: String, target: &str, result: &str| {
        println!("| {measure:<40} | {value:>10} | {target:<36} | {result:<6} |");
    };
    row("measure", "value".into(), "target", "result");
    println!("|{:-<42}|{:->11}:|{:-<38}|{:-<8}|", "", "", "", "");
    row(
        "setup: sync + folders (not timed)",
        format!("{:.1} s", f.setup_s),
        "",
        "",
    );
    row(
        &format!("{CLASSES} class clicks (all at once)"),
        format!("{:.2} s", f.clicks_s),
        "",
        "",
    );
    row(
        "first click → first lock applied",
        format!("{:.2} s", f.first_applied_s),
        "",
        "",
    );
    row(
        "wall time, first click → all done",
        format!("{:.1} s", f.wall_s),
        &format!("≈ {ideal_s:.0} s at the quota"),
        "",
    );
    row(
        "Drive calls accepted / s",
        format!("{achieved:.2}"),
        &format!("quota {}", f.quota_rps),
        "",
    );
    row(
        "quota ratio",
        format!("{quota_ratio:.3}"),
        "≥ 0.9",
        verdict(quota_ratio >= 0.9),
    );
    row(
        "  pace, first → last lock applied",
        format!("{steady_ratio:.3}"),
        "(diagnostic)",
        "",
    );
    row(
        "Drive calls per lock",
        format!("{calls_per_lock:.3}"),
        "≤ 1.05",
        verdict(calls_per_lock <= 1.05),
    );
    row(
        "  of which permissions.update",
        f.permission_updates.to_string(),
        &format!("of {} calls", f.drive_calls),
        "",
    );
    row(
        "  other Google calls (token…)",
        f.other_calls.to_string(),
        "",
        "",
    );
    row("quota refusals (429/403)", f.http_429.to_string(), "", "");
    row(
        "failed (or never applied)",
        f.failed.to_string(),
        "0",
        verdict(f.failed == 0),
    );
    row("click → applied p50", format!("{p50:.0} ms"), "", "");
    row("click → applied p99", format!("{p99:.0} ms"), "", "");
    row(
        "single click → applied p50 (idle)",
        format!("{single:.0} ms"),
        &format!("≤ {single_target:.0} ms (3 × latency + 50)"),
        verdict(single <= single_target),
    );
    row(
        "  as the clicker saw it (polled)",
        format!("{single_seen:.0} ms"),
        &format!("{} click(s) sampled", f.single_ms.len()),
        "",
    );
    let s = &f.scan;
    row(
        "onward-share scans done",
        s.scans_done.to_string(),
        &format!("{CLASSES}"),
        verdict(s.scans_done as usize == CLASSES),
    );
    row(
        "  scan calls while locks waited",
        s.calls_during_locks.to_string(),
        "0 (scans yield to locks)",
        verdict(s.calls_during_locks == 0),
    );
    row(
        "  scan calls in all",
        s.calls.to_string(),
        &format!("{} items looked at", s.items),
        "",
    );
    row(
        "  last lock → last scan done",
        format!("{:.1} s", s.after_locks_s),
        "",
        "",
    );
    row(
        "  grants found",
        s.findings.to_string(),
        &format!("{} made by students", f.shares_made),
        verdict(s.findings == f.shares_made),
    );
    let w = &f.window;
    let window_target = 1.1 * f.wall_s;
    row(
        "window: start → first lock request",
        format!("{:.2} s", w.first_request_s),
        "",
        "",
    );
    row(
        "window: start → first lock applied",
        format!("{:.2} s", w.first_applied_s),
        "≤ 1.5 s",
        verdict(w.first_applied_s <= 1.5),
    );
    row(
        &format!("window: start → all {} locked", w.locked),
        format!("{:.1} s", w.locked_s),
        &format!("≤ {window_target:.1} s (1.1 × cohort)"),
        verdict(w.locked_s <= window_target && w.failed == 0),
    );
    let pool = pool_report(f, row);
    println!();
    let mut line = serde_json::json!({
        "bench": "lock_cohort",
        "folders": f.portfolios,
        "classes": CLASSES,
        "latency_ms": LATENCY_MS,
        "quota_rps": f.quota_rps,
        "concurrency": f.concurrency,
        "clicks_s": round(f.clicks_s, 2),
        "wall_s": round(f.wall_s, 2),
        "drive_calls": f.drive_calls,
        "drive_calls_per_s": round(achieved, 2),
        "quota_ratio": round(quota_ratio, 3),
        "calls_per_lock": round(calls_per_lock, 3),
        "permission_updates": f.permission_updates,
        "other_google_calls": f.other_calls,
        "failed": f.failed,
        "unapplied": f.unapplied,
        "http_429": f.http_429,
        "p50_click_ms": round(p50, 1),
        "p99_click_ms": round(p99, 1),
        "single_click_ms": round(single, 1),
        "single_click_seen_ms": round(single_seen, 1),
        "single_clicks": f.single_ms.len(),
        "first_applied_s": round(f.first_applied_s, 2),
        "steady_quota_ratio": round(steady_ratio, 3),
        "setup_s": round(f.setup_s, 1),
        "scan_calls": s.calls,
        "scan_calls_during_locks": s.calls_during_locks,
        "scans_done": s.scans_done,
        "scan_items": s.items,
        "scan_after_locks_s": round(s.after_locks_s, 2),
        "scan_findings": s.findings,
        "shares_made": f.shares_made,
        "targets_met": {
            "quota_ratio": quota_ratio >= 0.9,
            "calls_per_lock": calls_per_lock <= 1.05,
            "failed": f.failed == 0,
            "single_click": single <= single_target,
            "scan_yields_to_locks": s.calls_during_locks == 0,
            "scan_findings": s.findings == f.shares_made,
            "window_start_to_first_applied": w.first_applied_s <= 1.5,
            "window_to_locked": w.locked_s <= window_target && w.failed == 0,
        },
        "cores": cores,
    });
    // Added apart: one `json!` this long exceeds the macro's recursion limit.
    line["window_start_to_first_request_s"] = round(w.first_request_s, 3).into();
    line["window_start_to_first_applied_s"] = round(w.first_applied_s, 3).into();
    line["window_to_locked_s"] = round(w.locked_s, 2).into();
    line["window_failed"] = w.failed.into();
    pool.add_to(&mut line);
    println!("{line}");
}

/// The pool run's derived figures, for the JSON line.
struct PoolLine {
    wall_s: f64,
    achieved: f64,
    quota_ratio: f64,
    steady_ratio: f64,
    calls_per_lock: f64,
    p50: f64,
    p99: f64,
    wall_ok: bool,
    ratio_ok: bool,
    calls_ok: bool,
    failed_ok: bool,
    refusals_ok: bool,
    operators: usize,
    combined_rps: f64,
    unlock_s: f64,
    first_applied_s: f64,
    drive_calls: u64,
    http_429: u64,
    failed: u64,
    unapplied: u64,
    scan_calls_during_locks: u64,
    locks: Vec<u64>,
    peaks_1s: Vec<u64>,
    peaks_5s: Vec<u64>,
}

impl PoolLine {
    fn add_to(&self, line: &mut serde_json::Value) {
        // Keys apart: one `json!` this long exceeds the macro's recursion limit.
        line["pool_operators"] = self.operators.into();
        line["pool_combined_rps"] = self.combined_rps.into();
        line["pool_project_rps"] = PROJECT_RPS.into();
        line["pool_unlock_s"] = round(self.unlock_s, 2).into();
        line["pool_first_applied_s"] = round(self.first_applied_s, 2).into();
        line["pool_wall_s"] = round(self.wall_s, 2).into();
        line["pool_drive_calls"] = self.drive_calls.into();
        line["pool_drive_calls_per_s"] = round(self.achieved, 2).into();
        line["pool_quota_ratio"] = round(self.quota_ratio, 3).into();
        line["pool_steady_quota_ratio"] = round(self.steady_ratio, 3).into();
        line["pool_calls_per_lock"] = round(self.calls_per_lock, 3).into();
        line["pool_http_429"] = self.http_429.into();
        line["pool_failed"] = self.failed.into();
        line["pool_unapplied"] = self.unapplied.into();
        line["pool_p50_click_ms"] = round(self.p50, 1).into();
        line["pool_p99_click_ms"] = round(self.p99, 1).into();
        line["pool_scan_calls_during_locks"] = self.scan_calls_during_locks.into();
        line["pool_locks_per_operator"] = self.locks.clone().into();
        line["pool_peak_locks_in_1s_per_operator"] = self.peaks_1s.clone().into();
        line["pool_peak_locks_in_5s_per_operator"] = self.peaks_5s.clone().into();
        let met = &mut line["targets_met"];
        met["pool_wall"] = self.wall_ok.into();
        met["pool_quota_ratio"] = self.ratio_ok.into();
        met["pool_calls_per_lock"] = self.calls_ok.into();
        met["pool_failed"] = self.failed_ok.into();
        met["pool_no_quota_refusals"] = self.refusals_ok.into();
    }
}

/// Prints the pool run's rows with `row`; returns its figures for the JSON line.
fn pool_report(f: &Figures, row: impl Fn(&str, String, &str, &str)) -> PoolLine {
    let verdict = |ok: bool| if ok { "pass" } else { "FAIL" };
    let p = &f.pool;
    let locks = f.portfolios as f64;
    let achieved = p.calls.drive_accepted as f64 / p.wall_s;
    let quota_ratio = achieved / p.combined_rps;
    let steady_ratio = (locks - 1.0) / p.steady_s / p.combined_rps;
    let calls_per_lock = p.calls.drive as f64 / locks;
    // At Q = 20 the issue's 17 s; at another Q, the same 0.9 of the combined quota.
    let wall_target = if f.quota_rps == DEFAULT_QUOTA_RPS {
        POOL_WALL_TARGET_S
    } else {
        locks / (0.9 * p.combined_rps)
    };
    let refusals = p.calls.refused + p.scan_refused;
    let line = PoolLine {
        wall_s: p.wall_s,
        achieved,
        quota_ratio,
        steady_ratio,
        calls_per_lock,
        p50: percentile(&p.click_ms, 50.0),
        p99: percentile(&p.click_ms, 99.0),
        wall_ok: p.wall_s <= wall_target,
        ratio_ok: quota_ratio >= 0.9,
        calls_ok: calls_per_lock <= 1.05,
        failed_ok: p.failed == 0,
        refusals_ok: refusals == 0,
        operators: p.operators,
        combined_rps: p.combined_rps,
        unlock_s: p.unlock_s,
        first_applied_s: p.first_applied_s,
        drive_calls: p.calls.drive,
        http_429: refusals,
        failed: p.failed,
        unapplied: p.unapplied,
        scan_calls_during_locks: p.scan_calls_during_locks,
        locks: p.accounts.iter().map(|a| a.locks).collect(),
        peaks_1s: p.accounts.iter().map(|a| a.peak_1s).collect(),
        peaks_5s: p.accounts.iter().map(|a| a.peak_5s).collect(),
    };
    row(
        &format!("pool: Drive accounts × Q, project {PROJECT_RPS}"),
        format!("{} × {}", p.operators, f.quota_rps),
        &format!("combined quota {} req/s", p.combined_rps),
        "",
    );
    row(
        "pool: window cancelled → all unlocked",
        format!("{:.1} s", p.unlock_s),
        "(with the pool; not timed)",
        "",
    );
    row(
        "pool: first click → first lock applied",
        format!("{:.2} s", p.first_applied_s),
        "",
        "",
    );
    row(
        "pool: wall time, first click → all done",
        format!("{:.1} s", p.wall_s),
        &format!("≤ {wall_target:.0} s"),
        verdict(line.wall_ok),
    );
    row(
        "pool: Drive calls accepted / s",
        format!("{achieved:.2}"),
        &format!("combined quota {}", p.combined_rps),
        "",
    );
    row(
        "pool: quota ratio (of the combined)",
        format!("{quota_ratio:.3}"),
        "≥ 0.9",
        verdict(line.ratio_ok),
    );
    row(
        "  pace, first → last lock applied",
        format!("{steady_ratio:.3}"),
        "(diagnostic)",
        "",
    );
    row(
        "pool: Drive calls per lock",
        format!("{calls_per_lock:.3}"),
        "≤ 1.05",
        verdict(line.calls_ok),
    );
    row(
        "  of which permissions.update",
        p.calls.permission_updates.to_string(),
        &format!("of {} calls", p.calls.drive),
        "",
    );
    row(
        "  other Google calls (token…)",
        p.calls.other.to_string(),
        "",
        "",
    );
    row(
        "pool: quota refusals (429/403)",
        refusals.to_string(),
        "0 (no account over its quota)",
        verdict(line.refusals_ok),
    );
    row(
        "pool: failed (or never applied)",
        p.failed.to_string(),
        "0",
        verdict(line.failed_ok),
    );
    row(
        "pool: click → applied p50",
        format!("{:.0} ms", line.p50),
        "",
        "",
    );
    row(
        "pool: click → applied p99",
        format!("{:.0} ms", line.p99),
        "",
        "",
    );
    for a in &p.accounts {
        let local = a.email.split('@').next().unwrap_or(&a.email);
        row(
            &format!("pool: locks applied as {local}"),
            a.locks.to_string(),
            &format!(
                "{:.1} %; most in 1 s / 5 s: {} / {}",
                a.locks as f64 / locks * 100.0,
                a.peak_1s,
                a.peak_5s
            ),
            "",
        );
    }
    row(
        "pool: onward-share scans done",
        p.scans_done.to_string(),
        &format!("{CLASSES}"),
        verdict(p.scans_done as usize == CLASSES),
    );
    row(
        "  scan calls while locks waited",
        p.scan_calls_during_locks.to_string(),
        "0 (scans yield to locks)",
        verdict(p.scan_calls_during_locks == 0),
    );
    line
}
