//! Tenancy benchmark: provisioning schools, and migrating many of them.
//!
//! In one fresh database:
//! 1. provision 200 schools through `provision_school`, interleaved with building 200 whole
//!    schools by raw execution (the baseline: the schema, its role, the template, every school
//!    migration and the grants — the very script provisioning runs — sent in one round trip
//!    between `BEGIN` and `COMMIT`, with no registry row), so both see the same catalog size;
//!    then 800 more schools (1,000 in all);
//! 2. `migrate` with nothing to do over the 1,000 (platform check + the one query), median of 5;
//! 3. `migrate` with one added column over the 1,000 (default concurrency 4).
//!
//! Prints a table and a final JSON line. Run with `cargo bench --bench tenants`;
//! `TENANTS_BENCH_SCHOOLS` sets a smaller number of schools for a quick look (the README's
//! figures are from the full 1,000). Uses the PostgreSQL at `TEST_DATABASE_URL` (default
//! postgres://postgres@127.0.0.1:5432/postgres) and removes its database and roles afterwards.
#![allow(clippy::unwrap_used)] // a benchmark stops at the first surprise

use std::time::{Duration, Instant};

use invigilator::tenancy::schema::build_school_sql;
use invigilator::tenancy::{self, NewSchool, TenantMigrations};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, PgPool};

const DEFAULT_SCHOOLS: usize = 1_000;
const COMPARED: usize = 200;
const CONCURRENCY: usize = 4;

struct Figures {
    schools: usize,
    compared: usize,
    ours_200: Duration,
    raw_200: Duration,
    ours_1000: Duration,
    noop: Duration,
    column: Duration,
    column_failed: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let admin_url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let db_name = format!("inv_bench_{id}");
    let role_prefix = format!("b{id}_");

    let mut admin = PgConnection::connect(&admin_url).await?;
    admin
        .execute(AssertSqlSafe(format!("CREATE DATABASE \"{db_name}\"")))
        .await?;
    let mut url = url::Url::parse(&admin_url)?;
    url.set_path(&db_name);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(CONCURRENCY as u32 + 2)
        .connect(url.as_str())
        .await?;

    let result = run(&pool, &role_prefix).await;

    pool.close().await;
    admin
        .execute(AssertSqlSafe(format!(
            "DROP DATABASE \"{db_name}\" WITH (FORCE)"
        )))
        .await?;
    let roles: Vec<String> =
        sqlx::query_scalar("SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1)")
            .bind(&role_prefix)
            .fetch_all(&mut admin)
            .await?;
    for role in roles {
        admin
            .execute(AssertSqlSafe(format!("DROP ROLE \"{role}\"")))
            .await?;
    }
    let server_version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut admin)
        .await?;
    report(&result?, &server_version);
    Ok(())
}

async fn run(pool: &PgPool, role_prefix: &str) -> anyhow::Result<Figures> {
    let schools = match std::env::var("TENANTS_BENCH_SCHOOLS") {
        Ok(n) => n.parse::<usize>()?.max(1),
        Err(_) => DEFAULT_SCHOOLS,
    };
    let compared = COMPARED.min(schools);
    tenancy::migrate_platform(pool).await?;
    let migrations = TenantMigrations::embedded();
    let provision = |i: usize| {
        let migrations = &migrations;
        async move {
            let new = NewSchool::parse(
                &format!("school{i:04}"),
                &format!("School {i}"),
                &format!("school{i:04}.sch.uk"),
            )?;
            tenancy::provision_school(pool, role_prefix, migrations, &new).await?;
            anyhow::Ok(())
        }
    };

    eprintln!(
        "provisioning {compared} schools interleaved with {compared} raw whole-school builds…"
    );
    let (mut ours_200, mut raw_200) = (Duration::ZERO, Duration::ZERO);
    for i in 0..compared {
        let clock = Instant::now();
        provision(i).await?;
        ours_200 += clock.elapsed();

        // The same school as provisioning leaves it, without the registry: the script is built
        // before the clock starts, as provisioning's own is built before its round trip.
        let schema = format!("raw_{i:04}");
        let build = build_school_sql(&schema, &format!("{role_prefix}raw_{i:04}"), &migrations);
        let raw = format!("BEGIN;\nSET LOCAL search_path = \"{schema}\", pg_temp;\n{build}COMMIT;");
        let clock = Instant::now();
        sqlx::raw_sql(AssertSqlSafe(raw)).execute(pool).await?;
        raw_200 += clock.elapsed();
    }

    eprintln!("provisioning {} more schools…", schools - compared);
    let clock = Instant::now();
    for i in compared..schools {
        provision(i).await?;
        if (i + 1) % 200 == 0 {
            eprintln!("  {} schools", i + 1);
        }
    }
    let ours_1000 = ours_200 + clock.elapsed();

    eprintln!("migrate with nothing to do, 5 times…");
    let mut noops = Vec::new();
    for _ in 0..5 {
        let clock = Instant::now();
        tenancy::migrate_platform(pool).await?;
        let report = tenancy::migrate_schools(pool, &migrations, CONCURRENCY, &()).await?;
        noops.push(clock.elapsed());
        anyhow::ensure!(report.outcomes.is_empty(), "a no-op migrate did work");
    }
    noops.sort();
    let noop = noops[noops.len() / 2];

    eprintln!("migrate adding one column to {schools} schools…");
    let with_column = migrations.with_next(
        "9999_bench_column.sql",
        "ALTER TABLE students ADD COLUMN bench_note text;",
    );
    let clock = Instant::now();
    tenancy::migrate_platform(pool).await?;
    let report = tenancy::migrate_schools(pool, &with_column, CONCURRENCY, &()).await?;
    let column = clock.elapsed();
    let behind: i64 =
        sqlx::query_scalar("SELECT count(*) FROM platform.tenants WHERE schema_version <> $1")
            .bind(with_column.latest_version())
            .fetch_one(pool)
            .await?;
    anyhow::ensure!(
        report.upgraded() == schools && behind == 0,
        "column migration upgraded {} of {schools}",
        report.upgraded()
    );

    Ok(Figures {
        schools,
        compared,
        ours_200,
        raw_200,
        ours_1000,
        noop,
        column,
        column_failed: report.failed().count(),
    })
}

fn report(f: &Figures, server_version: &str) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let per = |d: Duration, n: usize| ms(d) / n as f64;
    let ratio = ms(f.ours_200) / ms(f.raw_200);
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let (n, c) = (f.schools, f.compared);
    let row = |step: String, total: String, per_school: String, target: String| {
        println!("| {step:<48} | {total:>10} | {per_school:>10} | {target:<15} |");
    };

    println!();
    println!("tenants benchmark: PostgreSQL {server_version}, {cores} cores, release build");
    println!();
    row(
        "step".into(),
        "total".into(),
        "per school".into(),
        "target".into(),
    );
    println!("|{:-<50}|{:->12}|{:->12}|{:-<17}|", "", ":", ":", "");
    row(
        format!("provision (ours, first {c})"),
        format!("{:.0} ms", ms(f.ours_200)),
        format!("{:.2} ms", per(f.ours_200, c)),
        String::new(),
    );
    row(
        format!("whole school by raw execution ({c} schemas)"),
        format!("{:.0} ms", ms(f.raw_200)),
        format!("{:.2} ms", per(f.raw_200, c)),
        String::new(),
    );
    row(
        "provision ratio ours / raw".into(),
        String::new(),
        format!("{ratio:.2}x"),
        format!("≤ 1.2x: {}", verdict(ratio <= 1.2)),
    );
    row(
        format!("provision (ours, all {n})"),
        format!("{:.1} s", f.ours_1000.as_secs_f64()),
        format!("{:.2} ms", per(f.ours_1000, n)),
        String::new(),
    );
    row(
        format!("migrate, nothing to do ({n} schools)"),
        format!("{:.1} ms", ms(f.noop)),
        format!("{:.4} ms", per(f.noop, n)),
        format!("≤ 1 s: {}", verdict(f.noop <= Duration::from_secs(1))),
    );
    row(
        format!("migrate, add one column ({n} schools)"),
        format!("{:.1} s", f.column.as_secs_f64()),
        format!("{:.2} ms", per(f.column, n)),
        format!("≤ 60 s: {}", verdict(f.column <= Duration::from_secs(60))),
    );
    println!();
    let json = serde_json::json!({
        "bench": "tenants",
        "schools": n,
        "compared": c,
        "provision_ms_per_school": round(per(f.ours_200, c)),
        "raw_ms_per_school": round(per(f.raw_200, c)),
        "provision_ratio": round(ratio),
        "provision_all_ms_per_school": round(per(f.ours_1000, n)),
        "noop_migrate_ms_1000": round(ms(f.noop)),
        "column_migrate_s_1000": round(f.column.as_secs_f64()),
        "column_migrate_failed": f.column_failed,
        "concurrency": CONCURRENCY,
        "postgres": server_version,
        "cores": cores,
    });
    println!("{json}");
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
