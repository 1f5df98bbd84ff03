//! Data-protection exports benchmark.
//!
//! - Subject access: a 2,000-student school (80 classes, each student in 4, so 8,000 portfolio
//!   folders, and 20,000 audit entries about them); one student's export, as the School Admin's
//!   download makes it (`privacy::export::export_person`, into a file), timed five times for
//!   five students: the median is `sar_ms` (target ≤ 1,000 ms).
//! - Offboarding: the same school shape with 200,000 audit entries; the whole school exported
//!   as `tenant offboard --export` does (`privacy::offboarding::export`), timed
//!   (`offboard_export_s`), and the process's peak resident memory during it compared with its
//!   resident memory just before (`/proc/self/status` VmHWM after, VmRSS before, the peak reset
//!   first through `/proc/self/clear_refs`): `offboard_rss_growth_mb` (target ≤ 50 MB).
//!
//! The rows are written straight into the schools' tables with `generate_series` (the audit
//! entries' hashes are stand-ins, not a chain: the export reads them, it does not check them).
//!
//! `cargo bench --bench privacy`. Uses the PostgreSQL at `TEST_DATABASE_URL` (default
//! postgres://postgres@127.0.0.1:5432/postgres) and removes its database and roles afterwards.
#![allow(clippy::unwrap_used)] // a benchmark stops at the first surprise

use std::time::Instant;

use invigilator::audit::Actor;
use invigilator::privacy::export::{self, Person, Requester};
use invigilator::privacy::offboarding;
use invigilator::tenancy::School;
use invigilator_test_kit::TestDb;
use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

const STUDENTS: i64 = 2_000;
const CLASSES: i64 = 80;
/// Each student is in this many classes.
const CLASSES_EACH: i64 = 4;
const SAR_AUDIT_ENTRIES: i64 = 20_000;
const OFFBOARD_AUDIT_ENTRIES: i64 = 200_000;
const SAR_RUNS: usize = 5;

/// Fills `school` with students, classes, enrolments, portfolios and `audit_entries` lock
/// requests spread over the portfolios.
async fn fill(pool: &PgPool, school: &School, audit_entries: i64) {
    let s = format!("\"{}\"", school.schema_name);
    let statements = [
        format!(
            "INSERT INTO {s}.courses (classroom_id, name, section) \
             SELECT 'course-' || i, 'Class ' || i, 'Set ' || i FROM generate_series(1, {CLASSES}) i"
        ),
        format!(
            "INSERT INTO {s}.students (classroom_user_id, email, given_name, family_name) \
             SELECT 'user-' || i, 'student' || i || '@bench.sch.uk', 'Given' || i, 'Family' || i \
             FROM generate_series(1, {STUDENTS}) i"
        ),
        // Class c holds the students whose number matches it modulo CLASSES / CLASSES_EACH.
        format!(
            "INSERT INTO {s}.enrolments (course_id, student_id) \
             SELECT c.id, st.id \
             FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM {s}.students) st \
             JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM {s}.courses) c \
               ON c.n % ({CLASSES} / {CLASSES_EACH}) = st.n % ({CLASSES} / {CLASSES_EACH})"
        ),
        format!(
            "INSERT INTO {s}.portfolios (course_id, student_id, drive_folder_id, permission_id) \
             SELECT course_id, student_id, 'folder-' || gen_random_uuid(), 'perm-' || student_id \
             FROM {s}.enrolments"
        ),
        format!(
            "INSERT INTO {s}.audit_log \
               (at, actor, action, target_type, target_id, details, prev_hash, hash) \
             SELECT now() - make_interval(secs => {audit_entries} - g), 'system:bench', \
                    'portfolio.lock.requested', 'portfolio', p.id::text, \
                    jsonb_build_object('version', g), \
                    sha256(convert_to('prev-' || g, 'UTF8')), sha256(convert_to('hash-' || g, 'UTF8')) \
             FROM generate_series(1, {audit_entries}) g \
             JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM {s}.portfolios) p \
               ON p.n = g % ({STUDENTS} * {CLASSES_EACH})"
        ),
        format!("ANALYZE {s}.audit_log"),
    ];
    for sql in statements {
        sqlx::query(AssertSqlSafe(sql)).execute(pool).await.unwrap();
    }
}

fn temp_file() -> std::fs::File {
    let path = std::env::temp_dir().join(format!("privacy-bench-{}.zip", Uuid::new_v4()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    file
}

/// A value in kB from /proc/self/status.
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::main]
async fn main() {
    let db = TestDb::new().await;

    // Subject access in a 2,000-student school.
    let sar_school = db.school("sarbench").await;
    let clock = Instant::now();
    fill(&db.pool, &sar_school, SAR_AUDIT_ENTRIES).await;
    println!(
        "set up {STUDENTS} students, {} portfolios, {SAR_AUDIT_ENTRIES} audit entries in {:.1} s",
        STUDENTS * CLASSES_EACH,
        clock.elapsed().as_secs_f64()
    );
    let students: Vec<Uuid> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT id FROM \"{}\".students ORDER BY email LIMIT {SAR_RUNS}",
        sar_school.schema_name
    )))
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let admin = invigilator_test_kit::add_staff(&db, &sar_school, "admin@bench.sch.uk").await;
    let requester = Requester {
        staff_id: admin,
        label: "Bench Admin <admin@bench.sch.uk>".to_owned(),
    };
    let mut sar_ms = Vec::new();
    let mut sar_rows = 0;
    for student in &students {
        let clock = Instant::now();
        let done = export::export_person(
            &db.pool,
            &sar_school,
            &requester,
            Person::Student(*student),
            "https://drive.google.com/drive/folders/",
            temp_file(),
        )
        .await
        .unwrap();
        sar_ms.push(clock.elapsed().as_secs_f64() * 1000.0);
        sar_rows = done
            .manifest
            .files
            .iter()
            .filter(|f| f.name.ends_with(".json"))
            .map(|f| f.rows)
            .sum();
    }
    sar_ms.sort_by(f64::total_cmp);
    let sar_median = sar_ms[sar_ms.len() / 2];

    // Offboarding export of a school with 200,000 audit entries.
    let big = db.school("offboardbench").await;
    let clock = Instant::now();
    fill(&db.pool, &big, OFFBOARD_AUDIT_ENTRIES).await;
    println!(
        "set up a second school with {OFFBOARD_AUDIT_ENTRIES} audit entries in {:.1} s",
        clock.elapsed().as_secs_f64()
    );
    let dir = std::env::temp_dir().join(format!("privacy-bench-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("offboardbench.zip");
    let redis = redis::Client::open(invigilator_test_kit::redis_url())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    let leases = invigilator::lease::Leases::new(redis).namespaced(&db.role_prefix);
    // The peak so far is the set-up's; start counting afresh (Linux: "5" resets VmHWM).
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss_before = status_kb("VmRSS:").unwrap_or(0);
    let clock = Instant::now();
    let report = offboarding::export(
        &db.pool,
        &leases,
        "offboardbench",
        &Actor::Operator("bench".to_owned()),
        &file,
    )
    .await
    .unwrap();
    let offboard_s = clock.elapsed().as_secs_f64();
    let hwm_after = status_kb("VmHWM:").unwrap_or(0);
    let rss_after = status_kb("VmRSS:").unwrap_or(0);
    let growth_mb = hwm_after.saturating_sub(rss_before) as f64 / 1024.0;
    std::fs::remove_dir_all(&dir).ok();

    println!();
    println!("{:<44} {:>12} {:>10}", "measure", "value", "target");
    println!(
        "{:<44} {:>9.0} ms {:>10}",
        "one student's export (median of 5)", sar_median, "≤ 1000 ms"
    );
    println!(
        "{:<44} {:>12} {:>10}",
        "  rows in one student's export", sar_rows, ""
    );
    println!(
        "{:<44} {:>10.1} s {:>10}",
        "whole-school offboarding export", offboard_s, ""
    );
    println!(
        "{:<44} {:>12} {:>10}",
        "  tables / rows exported",
        format!("{} / {}", report.tables, report.rows),
        ""
    );
    println!(
        "{:<44} {:>9.1} MB {:>10}",
        "  export file size",
        report.bytes as f64 / 1_048_576.0,
        ""
    );
    println!(
        "{:<44} {:>9.1} MB {:>10}",
        if reset {
            "  peak RSS growth during the export"
        } else {
            "  peak RSS growth (peak not reset: upper bound)"
        },
        growth_mb,
        "≤ 50 MB"
    );
    println!(
        "{:<44} {:>12} {:>10}",
        "  RSS before / peak / after (MB)",
        format!(
            "{:.0} / {:.0} / {:.0}",
            rss_before as f64 / 1024.0,
            hwm_after as f64 / 1024.0,
            rss_after as f64 / 1024.0
        ),
        ""
    );
    println!(
        "{}",
        serde_json::json!({
            "sar_ms": (sar_median * 10.0).round() / 10.0,
            "offboard_export_s": (offboard_s * 100.0).round() / 100.0,
            "offboard_rss_growth_mb": (growth_mb * 10.0).round() / 10.0,
        })
    );
}
