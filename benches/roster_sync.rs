//! Roster sync benchmark: a school of 2,000 students in 80 courses with 25 teachers, the Google
//! emulator answering every call after 50 ms.
//!
//! Measures the first sync (rosters), the folder provisioning that follows (reported on its
//! own), and an unchanged re-sync: wall time, Classroom calls made against the minimum, rows
//! written. `cargo bench --bench roster_sync`. Uses the PostgreSQL at `TEST_DATABASE_URL`
//! (default postgres://postgres@127.0.0.1:5432/postgres) and Redis at `TEST_REDIS_URL`, and
//! removes its database and roles afterwards.
#![allow(clippy::unwrap_used)] // a test stops at the first surprise

use std::time::{Duration, Instant};

use google_emulator::seed::{SeedClient, SeedCourse, SeedMember, SeedSharedDrive, SeedUser};
use google_emulator::{FaultPlan, Seed};
use invigilator::config::Config;
use invigilator::google::credentials::{Purpose, save_oauth};
use invigilator::roster::{self, Trigger};
use invigilator::services::Services;
use invigilator::tenancy::{self, NewSchool, TenantMigrations, begin_school_tx};
use secrecy::SecretString;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, PgPool};

const STUDENTS: usize = 2_000;
const COURSES: usize = 80;
const TEACHERS: usize = 25;
const LATENCY_MS: u64 = 50;
const PAGE: usize = 100;
const DOMAIN: &str = "bench.sch.uk";
const DRIVE: &str = "0ABenchPortfolios";
const OPERATOR: &str = "operator@bench.sch.uk";
const SCOPES: &[&str] = &[
    "openid",
    "email",
    "profile",
    "https://www.googleapis.com/auth/classroom.courses.readonly",
    "https://www.googleapis.com/auth/classroom.rosters.readonly",
    "https://www.googleapis.com/auth/classroom.profile.emails",
];

fn user(email: String, given: String) -> SeedUser {
    SeedUser {
        id: None,
        email,
        given_name: given,
        family_name: "Bench".into(),
        photo_url: None,
        email_verified: true,
        domain_admin: false,
    }
}

fn teacher(i: usize) -> String {
    format!("teacher{i:02}@{DOMAIN}")
}

fn student(i: usize) -> String {
    format!("student{i:04}@{DOMAIN}")
}

fn seed() -> Seed {
    let mut users: Vec<SeedUser> = (0..TEACHERS)
        .map(|i| user(teacher(i), format!("T{i}")))
        .collect();
    users.extend((0..STUDENTS).map(|i| user(student(i), format!("S{i}"))));
    users.push(user(OPERATOR.into(), "Operator".into()));
    let per_course = STUDENTS / COURSES;
    Seed {
        clients: vec![SeedClient {
            client_id: "invigilator-local".into(),
            client_secret: "invigilator-local-secret".into(),
            redirect_uris: vec![],
        }],
        domains: vec![DOMAIN.into()],
        users,
        courses: (0..COURSES)
            .map(|c| SeedCourse {
                id: Some(format!("7{c:011}")),
                name: format!("Class {c}"),
                section: Some(format!("S{}", c % 7)),
                owner: teacher(c % TEACHERS),
                teachers: vec![],
                students: (c * per_course..(c + 1) * per_course)
                    .map(student)
                    .collect(),
                state: None,
                teacher_group_email: Some(format!("class{c}-teachers@{DOMAIN}")),
            })
            .collect(),
        shared_drives: vec![SeedSharedDrive {
            id: Some(DRIVE.into()),
            name: "Portfolios".into(),
            members: vec![SeedMember {
                email: OPERATOR.into(),
                role: "organizer".into(),
            }],
        }],
        ..Seed::default()
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
    let admin_url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let redis_url =
        std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let db_name = format!("inv_bench_{id}");
    let prefix = format!("b{id}_");
    let mut admin = PgConnection::connect(&admin_url).await?;
    admin
        .execute(AssertSqlSafe(format!("CREATE DATABASE \"{db_name}\"")))
        .await?;
    let mut url = url::Url::parse(&admin_url)?;
    url.set_path(&db_name);

    eprintln!("seeding the emulator…");
    let emu = google_emulator::start(&seed()).await?;
    let vars = [
        ("DATABASE_URL", url.to_string()),
        ("REDIS_URL", redis_url),
        ("GOOGLE_API_BASE_URL", emu.url()),
        ("GOOGLE_ISSUER_URL", emu.url()),
        ("TENANT_ROLE_PREFIX", prefix.clone()),
        // The emulator sets no quota here: measure our own pace, not our throttle.
        ("GOOGLE_REQUESTS_PER_SECOND", "1000".to_owned()),
    ];
    let config =
        Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(20)
        .connect(url.as_str())
        .await?;
    let result = run(&pool, &config, &emu).await;

    pool.close().await;
    admin
        .execute(AssertSqlSafe(format!(
            "DROP DATABASE \"{db_name}\" WITH (FORCE)"
        )))
        .await?;
    let roles: Vec<String> =
        sqlx::query_scalar("SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1)")
            .bind(&prefix)
            .fetch_all(&mut admin)
            .await?;
    for role in roles {
        admin
            .execute(AssertSqlSafe(format!("DROP ROLE \"{role}\"")))
            .await?;
    }
    report(&result?);
    Ok(())
}

async fn run(
    pool: &PgPool,
    config: &Config,
    emu: &google_emulator::RunningEmulator,
) -> anyhow::Result<Figures> {
    tenancy::migrate_platform(pool).await?;
    let new = NewSchool::parse("bench", "Bench School", DOMAIN)?;
    let school = tenancy::provision_school(
        pool,
        &config.tenant_role_prefix,
        &TenantMigrations::embedded(),
        &new,
    )
    .await?;

    // Every teacher and the Drive operator have connected.
    let mut tx = begin_school_tx(pool, &school).await?;
    for (i, email) in (0..TEACHERS)
        .map(teacher)
        .chain([OPERATOR.to_owned()])
        .enumerate()
    {
        let staff: uuid::Uuid = sqlx::query_scalar(
            "INSERT INTO staff (google_sub, email, display_name) VALUES ($1, $2, $2) RETURNING id",
        )
        .bind(
            emu.user(&email)
                .map(|u| u.id)
                .unwrap_or_else(|| format!("sub{i}")),
        )
        .bind(&email)
        .fetch_one(&mut *tx)
        .await?;
        let (purpose, scopes): (Purpose, Vec<&str>) = if email == OPERATOR {
            (
                Purpose::DriveOperator,
                vec!["https://www.googleapis.com/auth/drive"],
            )
        } else {
            (Purpose::SignIn, SCOPES.to_vec())
        };
        let refresh = emu
            .issue_refresh_token(&email, &scopes, "invigilator-local")
            .ok_or_else(|| anyhow::anyhow!("no user {email}"))?;
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        save_oauth(
            &mut tx,
            &config.token_keys,
            staff,
            purpose,
            &email,
            &scopes,
            &SecretString::from(refresh),
        )
        .await?;
    }
    tx.commit().await?;

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
