//! Roster sync benchmark: a school of 2,000 students in 80 courses with 25 teachers, the Google
//! emulator answering every call after 50 ms.
//!
//! Measures the first sync (rosters), the folder provisioning that follows (reported on its
//! own), and an unchanged re-sync: wall time, Classroom calls made against the minimum, rows
//! written. `cargo bench --bench roster_sync`. Uses the PostgreSQL at `TEST_DATABASE_URL`
//! (default postgres://postgres@127.0.0.1:5432/postgres) and Redis at `TEST_REDIS_URL`, through
//! the test kit, which removes its database and roles afterwards.
#![allow(clippy::unwrap_used)] // a test stops at the first surprise

use std::time::{Duration, Instant};

use google_emulator::FaultPlan;
use invigilator::config::Config;
use invigilator::roster::{self, Trigger};
use invigilator::services::Services;
use invigilator_test_kit::TestDb;
use invigilator_test_kit::cohort_school::CohortSchool;

const STUDENTS: usize = 2_000;
const COURSES: usize = 80;
const TEACHERS: usize = 25;
const LATENCY_MS: u64 = 50;
const PAGE: usize = 100;
const DRIVE: &str = "0ABenchPortfolios";

fn school() -> CohortSchool {
    CohortSchool {
        domain: "bench.sch.uk",
        drive: DRIVE,
        teachers: TEACHERS,
        students: STUDENTS,
        classes: COURSES,
        class_name: |c| (format!("Class {c}"), format!("S{}", c % 7)),
        id_digit: '7',
    }
}

struct Figures {
    first: Duration,
    first_report: roster::SyncReport,
    folders: Duration,
    folder_report: invigilator::portfolio::FolderReport,
    drive_calls: u64,
    resync: Duration,
    resync_report: roster::SyncReport,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    invigilator::google::install_crypto_provider();
    // A database and role prefix of its own, removed when `db` is dropped.
    let db = TestDb::with_pool_size(20).await;
    eprintln!("seeding the emulator…");
    let emu = google_emulator::start(&school().seed()).await?;
    let config = db.config(&[
        ("GOOGLE_API_BASE_URL", &emu.url()),
        ("GOOGLE_ISSUER_URL", &emu.url()),
        // The emulator sets no quota here: measure our own pace, not our throttle.
        ("GOOGLE_REQUESTS_PER_SECOND", "1000"),
    ]);
    let figures = run(&db, &config, &emu).await?;
    report(&figures);
    Ok(())
}

async fn run(
    db: &TestDb,
    config: &Config,
    emu: &google_emulator::RunningEmulator,
) -> anyhow::Result<Figures> {
    let pool = &db.pool;
    let school = school().provision(db, emu, config).await;

    let redis = invigilator::redis_client::lazy_connection(config)?;
    let services = Services::new(config, pool.clone(), redis)?;
    let (google, leases) = (services.google, services.leases);
    emu.set_faults(
        "*",
        FaultPlan {
            latency_ms: LATENCY_MS,
            ..FaultPlan::default()
        },
    );

    eprintln!("first sync…");
    let clock = Instant::now();
    let first_report = roster::sync_school(pool, &google, &leases, &school, Trigger::Cli).await?;
    let first = clock.elapsed();
    anyhow::ensure!(
        first_report.errors.is_empty(),
        "first sync errors: {:?}",
        first_report.errors
    );

    eprintln!("portfolio folders for {STUDENTS} students…");
    let drive_before: u64 = drive_calls(emu);
    let clock = Instant::now();
    let folder_report = invigilator::portfolio::provision(pool, &google, &school, DRIVE).await?;
    let folders = clock.elapsed();
    let drive_calls = drive_calls(emu) - drive_before;
    anyhow::ensure!(
        folder_report.errors.is_empty(),
        "folder errors: {:?}",
        folder_report.errors
    );

    eprintln!("unchanged re-sync…");
    let clock = Instant::now();
    let resync_report = roster::sync_school(pool, &google, &leases, &school, Trigger::Cli).await?;
    let resync = clock.elapsed();
    Ok(Figures {
        first,
        first_report,
        folders,
        folder_report,
        drive_calls,
        resync,
        resync_report,
    })
}

fn drive_calls(emu: &google_emulator::RunningEmulator) -> u64 {
    emu.stats()
        .calls
        .iter()
        .filter(|(route, _)| route.starts_with("drive."))
        .flat_map(|(_, by_status)| by_status.values())
        .sum()
}

fn report(f: &Figures) {
    let pages = |n: usize| n.div_ceil(PAGE) as u64;
    let per_course = STUDENTS / COURSES;
    let courses_per_teacher = COURSES.div_ceil(TEACHERS);
    let minimum = TEACHERS as u64 * pages(courses_per_teacher)
        + COURSES as u64 * (pages(1) + pages(per_course));
    // Folders: subject + class folders (search + create + teacher-group share each), one listing
    // per class, then a create and a share per student.
    let subjects = 1u64;
    let folder_min = subjects * 2 + COURSES as u64 * 5 + STUDENTS as u64 * 2;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!(
        "roster sync: {STUDENTS} students, {COURSES} courses, {TEACHERS} teachers; emulator latency {LATENCY_MS} ms; {cores} cores, release build"
    );
    println!();
    println!(
        "| step                         |    time | Google calls | minimum | rows written | target        |"
    );
    println!(
        "|------------------------------|--------:|-------------:|--------:|-------------:|---------------|"
    );
    println!(
        "| first sync (rosters)         | {:>5.2} s | {:>12} | {:>7} | {:>12} | ≤ 10 s: {:<5} |",
        f.first.as_secs_f64(),
        f.first_report.api_calls,
        minimum,
        f.first_report.rows_written(),
        if f.first <= Duration::from_secs(10) {
            "met"
        } else {
            "MISSED"
        }
    );
    println!(
        "| portfolio folders (separate) | {:>5.1} s | {:>12} | {:>7} | {:>12} |               |",
        f.folders.as_secs_f64(),
        f.drive_calls,
        folder_min,
        f.folder_report.portfolio_folders
            + f.folder_report.permissions
            + f.folder_report.class_folders,
    );
    println!(
        "| unchanged re-sync            | {:>5.2} s | {:>12} | {:>7} | {:>12} | ≤ 2 s, 0 rows: {:<5} |",
        f.resync.as_secs_f64(),
        f.resync_report.api_calls,
        minimum,
        f.resync_report.rows_written(),
        if f.resync <= Duration::from_secs(2) && f.resync_report.rows_written() == 0 {
            "met"
        } else {
            "MISSED"
        }
    );
    println!();
    println!(
        "{}",
        serde_json::json!({
            "bench": "roster_sync",
            "students": STUDENTS,
            "courses": COURSES,
            "teachers": TEACHERS,
            "latency_ms": LATENCY_MS,
            "first_sync_s": (f.first.as_secs_f64() * 100.0).round() / 100.0,
            "first_sync_rows_written": f.first_report.rows_written(),
            "folders_s": (f.folders.as_secs_f64() * 10.0).round() / 10.0,
            "folder_drive_calls": f.drive_calls,
            "folder_drive_calls_min": folder_min,
            "resync_s": (f.resync.as_secs_f64() * 100.0).round() / 100.0,
            "resync_rows_written": f.resync_report.rows_written(),
            "api_calls": f.first_report.api_calls,
            "api_calls_min": minimum,
            "resync_api_calls": f.resync_report.api_calls,
            "cores": cores,
        })
    );
}
