//! Tenancy benchmark: provisioning schools, and migrating many of them.
//!
//! In one fresh database:
//! 1. provision 200 schools through `provision_school`, interleaved with applying
//!    `tenant_template.sql` to 200 plain schemas by raw execution (the baseline), so both see the
//!    same catalog size; then 800 more schools (1,000 in all);
//! 2. `migrate` with nothing to do over the 1,000 (platform check + the one query), median of 5;
//! 3. `migrate` with one added column over the 1,000 (default concurrency 4).
//!
//! Prints a table and a final JSON line. Run with `cargo bench --bench tenants`. Uses the
//! PostgreSQL at `TEST_DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/postgres) and
//! removes its database and roles afterwards.
#![allow(clippy::unwrap_used)] // a test stops at the first surprise

use std::time::{Duration, Instant};

use invigilator::tenancy::schema::TEMPLATE_SQL;
use invigilator::tenancy::{self, NewSchool, TenantMigrations};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, PgPool};

const SCHOOLS: usize = 1_000;
const COMPARED: usize = 200;
const CONCURRENCY: usize = 4;

struct Figures {
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

    eprintln!("provisioning {COMPARED} schools interleaved with {COMPARED} raw template runs…");
    let (mut ours_200, mut raw_200) = (Duration::ZERO, Duration::ZERO);
    for i in 0..COMPARED {
        let clock = Instant::now();
        provision(i).await?;
        ours_200 += clock.elapsed();

        let clock = Instant::now();
        let raw = format!(
            "BEGIN;\nCREATE SCHEMA raw_{i:04};\nSET LOCAL search_path = raw_{i:04};\n{TEMPLATE_SQL}\nCOMMIT;"
        );
        sqlx::raw_sql(AssertSqlSafe(raw)).execute(pool).await?;
        raw_200 += clock.elapsed();
    }

    eprintln!("provisioning {} more schools…", SCHOOLS - COMPARED);
    let clock = Instant::now();
    for i in COMPARED..SCHOOLS {
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

    eprintln!("migrate adding one column to {SCHOOLS} schools…");
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
        report.upgraded() == SCHOOLS && behind == 0,
        "column migration upgraded {} of {SCHOOLS}",
        report.upgraded()
    );

    Ok(Figures {
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

    println!();
    println!("tenants benchmark: PostgreSQL {server_version}, {cores} cores, release build");
    println!();
    println!(
        "| step                                          |      total | per school | target          |"
    );
    println!(
        "|-----------------------------------------------|-----------:|-----------:|-----------------|"
    );
    println!(
        "| provision (ours, first {COMPARED})                     | {:>7.0} ms | {:>7.2} ms |                 |",
        ms(f.ours_200),
        per(f.ours_200, COMPARED)
    );
    println!(
        "| template by raw execution ({COMPARED} schemas)         | {:>7.0} ms | {:>7.2} ms |                 |",
        ms(f.raw_200),
        per(f.raw_200, COMPARED)
    );
    println!(
        "| provision ratio ours / raw                    | {:>10} | {:>9.2}x | ≤ 1.2x: {:<7} |",
        "",
        ratio,
        verdict(ratio <= 1.2)
    );
    println!(
        "| provision (ours, all {SCHOOLS})                      | {:>7.1} s  | {:>7.2} ms |                 |",
        f.ours_1000.as_secs_f64(),
        per(f.ours_1000, SCHOOLS)
    );
    println!(
        "| migrate, nothing to do ({SCHOOLS} schools)          | {:>7.1} ms | {:>7.4} ms | ≤ 1 s: {:<8} |",
        ms(f.noop),
        per(f.noop, SCHOOLS),
        verdict(f.noop <= Duration::from_secs(1))
    );
    println!(
        "| migrate, add one column ({SCHOOLS} schools)         | {:>7.1} s  | {:>7.2} ms | ≤ 60 s: {:<7} |",
        f.column.as_secs_f64(),
        per(f.column, SCHOOLS),
        verdict(f.column <= Duration::from_secs(60))
    );
    println!();
    let json = serde_json::json!({
        "bench": "tenants",
        "schools": SCHOOLS,
        "provision_ms_per_school": round(per(f.ours_200, COMPARED)),
        "raw_ms_per_school": round(per(f.raw_200, COMPARED)),
        "provision_ratio": round(ratio),
        "provision_all_ms_per_school": round(per(f.ours_1000, SCHOOLS)),
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
