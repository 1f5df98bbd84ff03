//! HTTP benchmark: the teacher's class page and the lock button under a steady load from 200
//! schools at once, against the real `invigilator serve` process.
//!
//! The world: 200 schools in one PostgreSQL database (a schema each) and one Google emulator,
//! each school with one teacher who owns two Classroom classes of 30 students (60 students,
//! 12,000 portfolio folders in all) and a Drive operator. Setup (timed, not measured): the
//! schools are provisioned one after another; the server is started as its own process (the
//! `invigilator` binary cargo builds beside this bench, with `DATABASE_URL`, `REDIS_URL`,
//! `PUBLIC_URL` and the Google URLs pointing at this run's database, Redis and the emulator,
//! its pool at the production size of 10); each teacher signs in through the emulator's OAuth as
//! a browser does (the session cookie and the CSRF token from `GET /api/me` are the server's
//! own), each school from its own client address (`X-Forwarded-For` behind one trusted proxy,
//! as on Cloud Run, so the per-address sign-in throttle sees 200 schools, not one); then each
//! school's rosters are synced and its folders made in Drive through the emulator, eight schools
//! at a time, from this process.
//!
//! The load: a separate Node.js process, `benches/load/load.mjs`, drives autocannon at a fixed
//! total rate (`RATE`, default 500 requests/s) for `DURATION_S` (default 30 s) over up to 500
//! keep-alive connections (one request a second each, their seconds evenly staggered), cycling
//! through the targets: `GET /classes/{course}` (the class page, HTML) and
//! `POST /api/portfolios/{id}/lock` (empty body, `X-CSRF-Token` and `Origin`; 202), alternately,
//! each next request from the next school, so every school's session takes its turn. No
//! `invigilator work` process runs during the load: the lock requests are recorded and their
//! jobs simply queue in Redis (removed afterwards), and the emulator sees no call.
//!
//! Measured, from the load generator: latency p50 / p99 / max of every response, overall and
//! per kind of request (autocannon's per-response events, in the same run); errors (every
//! response that is not 2xx, and every socket error or timeout). From the server process: its
//! peak resident memory (`VmHWM`, its whole life, sign-ins included) and its memory after the
//! load (`VmRSS`). Where the CPU went during the load: the server, PostgreSQL's backends for
//! this run's database, the load generator, and the rest of the machine (anything else running
//! at the time is in that rest: read it before trusting the latencies). Page weight: the class
//! page's HTML plus `/static/app.css` and `/static/app.js`, uncompressed (the bench asks for no
//! compression). The baseline, in the same run, from this process over its own pool: the SQL
//! behind each request with no HTTP, session or Redis (the class page: a school transaction,
//! the teacher's class scope and `overview::class_view`, as the page's handler asks them; the
//! lock: a school transaction and `lock::request`), 2,000 of each one after another, p50.
//!
//! Targets on the 2-core development machine: p99 ≤ 20 ms, no errors, peak RSS ≤ 120 MB, page
//! ≤ 100 KB. The last line is one JSON object.
//!
//! Before the measured load, the same load runs for `HTTP_BENCH_WARMUP_S` (default 30 s) and
//! is reported apart: a server just started meets each school's tables for the first time on
//! every pooled connection, which is start-up, not steady state.
//!
//! `cargo bench --bench http`; `RATE=50 DURATION_S=5 HTTP_BENCH_SCHOOLS=20 cargo bench --bench
//! http` for a quick run. Needs `node` and `npm` (runs `npm ci` in `benches/load` when its
//! `node_modules` is missing). Uses the PostgreSQL at `TEST_DATABASE_URL` (default
//! postgres://postgres@127.0.0.1:5432/postgres) and Redis at `TEST_REDIS_URL`, and removes its
//! database, roles and Redis keys afterwards.
#![allow(clippy::unwrap_used)] // a test stops at the first surprise

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use google_emulator::Seed;
use google_emulator::seed::{SeedClient, SeedCourse, SeedMember, SeedSharedDrive, SeedUser};
use invigilator::audit::Actor;
use invigilator::auth::{ClassAccess, ClassScope};
use invigilator::config::Config;
use invigilator::portfolio::lock::{self, LockState};
use invigilator::portfolio::overview;
use invigilator::roster::{self, Trigger};
use invigilator::services::Services;
use invigilator::tenancy::{self, NewSchool, School, TenantMigrations, begin_school_tx};
use invigilator_test_kit::TestDb;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

const SCHOOLS: usize = 200;
const CLASSES: usize = 2;
const PER_CLASS: usize = 30;
const STUDENTS: usize = CLASSES * PER_CLASS;
/// Schools signed in, or synced and given folders, at once during setup.
const SETUP_CONCURRENCY: usize = 8;
const BASELINE_SAMPLES: usize = 2_000;
const P99_TARGET_MS: f64 = 20.0;
const RSS_TARGET_MB: f64 = 120.0;
const PAGE_TARGET_KB: f64 = 100.0;

fn slug(s: usize) -> String {
    format!("s{s:03}")
}

fn domain(s: usize) -> String {
    format!("s{s:03}.bench.sch.uk")
}

fn teacher(s: usize) -> String {
    format!("teacher@{}", domain(s))
}

fn operator(s: usize) -> String {
    format!("operator@{}", domain(s))
}

fn student(s: usize, i: usize) -> String {
    format!("student{i:02}@{}", domain(s))
}

fn drive(s: usize) -> String {
    format!("0ABenchDrive{s:03}")
}

/// Each school's client address, as the trusted proxy reports it.
fn client_address(s: usize) -> String {
    format!("10.{}.{}.7", s / 250, s % 250)
}

/// One emulated Google for every school: each its own Workspace domain, Shared Drive and
/// classes.
fn seed(schools: usize) -> Seed {
    let user = |email: String, given: String| SeedUser::person(email, given, "Bench");
    let mut seed = Seed {
        clients: vec![SeedClient {
            client_id: "invigilator-local".into(),
            client_secret: "invigilator-local-secret".into(),
            redirect_uris: vec![],
        }],
        ..Seed::default()
    };
    for s in 0..schools {
        seed.domains.push(domain(s));
        seed.users.push(user(teacher(s), format!("Teacher{s}")));
        seed.users.push(user(operator(s), "Operator".into()));
        seed.users
            .extend((0..STUDENTS).map(|i| user(student(s, i), format!("Student{i}"))));
        seed.courses.extend((0..CLASSES).map(|c| {
            SeedCourse {
                id: Some(format!("{}", 100_000_000_000 + s * 100 + c)),
                name: format!("10{} English", (b'A' + c as u8) as char),
                section: Some(format!("Set {}", c + 1)),
                owner: teacher(s),
                teachers: vec![],
                students: (c * PER_CLASS..(c + 1) * PER_CLASS)
                    .map(|i| student(s, i))
                    .collect(),
                state: None,
                teacher_group_email: Some(format!("10{c}-teachers@{}", domain(s))),
            }
        }));
        seed.shared_drives.push(SeedSharedDrive {
            id: Some(drive(s)),
            name: "Portfolios".into(),
            members: vec![SeedMember {
                email: operator(s),
                role: "organizer".into(),
            }],
        });
    }
    seed
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

/// A school ready for the load: its signed-in teacher's session, classes and folders.
struct BenchSchool {
    school: School,
    staff_id: Uuid,
    /// The teacher's class scope for viewing, as the server works it out.
    scope: ClassScope,
    cookie: String,
    csrf: String,
    courses: Vec<Uuid>,
    /// Portfolios with a Drive folder, class by class.
    portfolios: Vec<Uuid>,
}

/// The server process, stopped when dropped (the bench's own child, by its id).
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines the server logged.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, as Cloud Run stops it; killed if it has not finished within 10 s.
    fn stop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Everything measured.
struct Figures {
    schools: usize,
    setup: Setup,
    page: PageWeight,
    /// `(status of the class page, status of a lock POST)` before the load.
    preflight: (u16, u16),
    baseline_page_ms: Vec<f64>,
    baseline_lock_ms: Vec<f64>,
    load: Value,
    /// The same load for `HTTP_BENCH_WARMUP_S` first, not measured: a server just started
    /// meets every school's tables for the first time on each pooled connection.
    warmup: Option<Value>,
    /// Server memory, MB: peak over its life, now (after the load), and before the load.
    rss_peak_mb: f64,
    rss_after_mb: f64,
    rss_before_mb: f64,
    /// CPU time during the load, seconds: the server's; PostgreSQL's backends for this run's
    /// database (the server's pool and this process's); the whole machine's (every process:
    /// those, the load generator, Redis, anything else running).
    server_cpu_s: f64,
    database_cpu_s: f64,
    machine_cpu_s: f64,
    /// The load generator's whole life (its start-up included), seconds: what the CPU times
    /// are shares of.
    load_wall_s: f64,
}

#[derive(Default)]
struct Setup {
    provision_s: f64,
    sign_in_s: f64,
    folders_s: f64,
    total_s: f64,
    portfolios: usize,
}

#[derive(Default)]
struct PageWeight {
    html: (u16, usize),
    css: (u16, usize),
    js: (u16, usize),
}

impl PageWeight {
    fn kb(&self) -> f64 {
        (self.html.1 + self.css.1 + self.js.1) as f64 / 1024.0
    }

    fn complete(&self) -> bool {
        [self.html.0, self.css.0, self.js.0]
            .iter()
            .all(|s| *s == 200)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    invigilator::google::install_crypto_provider();
    let schools: usize = env_or("HTTP_BENCH_SCHOOLS", SCHOOLS)?;
    anyhow::ensure!(
        (1..=1000).contains(&schools),
        "HTTP_BENCH_SCHOOLS must be from 1 to 1000"
    );
    let load_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/load");
    ensure_load_generator(&load_dir)?;
    let binary = invigilator_test_kit::binary();
    anyhow::ensure!(
        binary.exists(),
        "no server binary at {} (cargo builds it beside the bench)",
        binary.display()
    );

    // A database and role prefix of its own, removed when `db` is dropped.
    let db = TestDb::with_pool_size(32).await;
    let prefix = db.role_prefix.clone();
    eprintln!("seeding the emulator with {schools} schools…");
    let emu = google_emulator::start(&seed(schools)).await?;
    let base = emu.url();
    // Setup is not measured: Google at our own pace.
    let config = db.config(&[
        ("GOOGLE_API_BASE_URL", &base),
        ("GOOGLE_ISSUER_URL", &base),
        ("GOOGLE_REQUESTS_PER_SECOND", "1000"),
    ]);
    let result = run(&db, &config, &emu, &binary, &load_dir, schools).await;
    invigilator_test_kit::clean_redis(&config, &prefix).await?;
    report(&result?);
    Ok(())
}

/// Installs the load generator's packages, exactly as locked, unless they are there.
fn ensure_load_generator(dir: &Path) -> anyhow::Result<()> {
    if dir.join("node_modules/autocannon").exists() {
        return Ok(());
    }
    eprintln!("npm ci in {}…", dir.display());
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run npm (Node.js is needed): {e}"))?;
    anyhow::ensure!(status.success(), "npm ci failed in {}", dir.display());
    Ok(())
}

async fn run(
    db: &TestDb,
    config: &Config,
    emu: &google_emulator::RunningEmulator,
    binary: &Path,
    load_dir: &Path,
    schools: usize,
) -> anyhow::Result<Figures> {
    let pool = &db.pool;
    let setup_clock = Instant::now();
    let mut setup = Setup::default();

    eprintln!("provisioning {schools} schools…");
    let clock = Instant::now();
    let mut registered = Vec::with_capacity(schools);
    for s in 0..schools {
        let new = NewSchool::parse(&slug(s), &format!("Bench School {s}"), &domain(s))?;
        let school = tenancy::provision_school(
            pool,
            &config.tenant_role_prefix,
            &TenantMigrations::embedded(),
            &new,
        )
        .await?;
        invigilator_test_kit::connect_drive_operator(db, emu, &school, &operator(s)).await;
        // The School Admin's Shared Drive; and no timed roster sync during the run.
        sqlx::query(
            "UPDATE platform.tenants SET shared_drive_id = $1, \
             next_sync_at = now() + interval '1 day' WHERE id = $2",
        )
        .bind(drive(s))
        .bind(school.id)
        .execute(pool)
        .await?;
        registered.push(school);
    }
    setup.provision_s = clock.elapsed().as_secs_f64();

    let mut server = start_server(db, emu, binary).await?;
    let app = server.url.clone();
    let http = invigilator_test_kit::http_client();

    eprintln!("signing {schools} teachers in through Google…");
    let clock = Instant::now();
    let sessions: Vec<(String, String)> = futures::stream::iter(0..schools)
        .map(|s| {
            let (http, app) = (http.clone(), app.clone());
            async move { sign_in(&http, &app, &teacher(s), &client_address(s)).await }
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    setup.sign_in_s = clock.elapsed().as_secs_f64();

    eprintln!("syncing rosters and making {} folders…", schools * STUDENTS);
    let clock = Instant::now();
    let redis = invigilator::redis_client::lazy_connection(config)?;
    let services = Services::new(config, pool.clone(), redis)?;
    let (google, leases) = (&services.google, &services.leases);
    futures::stream::iter(registered.iter().enumerate())
        .map(|(s, school)| async move {
            let synced = roster::sync_school(pool, google, leases, school, Trigger::Cli).await?;
            anyhow::ensure!(
                synced.errors.is_empty(),
                "{}: sync errors {:?}",
                school.slug,
                synced.errors
            );
            let folders =
                invigilator::portfolio::provision(pool, google, school, &drive(s)).await?;
            anyhow::ensure!(
                folders.errors.is_empty() && folders.portfolio_folders as usize == STUDENTS,
                "{}: {} folders made, errors {:?}",
                school.slug,
                folders.portfolio_folders,
                folders.errors
            );
            Ok(())
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    setup.folders_s = clock.elapsed().as_secs_f64();

    let mut ready = Vec::with_capacity(schools);
    for (s, (school, (cookie, csrf))) in registered.into_iter().zip(sessions).enumerate() {
        ready.push(bench_school(pool, school, &teacher(s), cookie, csrf).await?);
    }
    setup.portfolios = ready.iter().map(|s| s.portfolios.len()).sum();
    setup.total_s = setup_clock.elapsed().as_secs_f64();
    eprintln!(
        "setup: {:.1} s ({:.1} s schools, {:.1} s sign-ins, {:.1} s rosters and folders)",
        setup.total_s, setup.provision_s, setup.sign_in_s, setup.folders_s
    );

    let page = page_weight(&http, &app, &ready[0]).await?;
    let lock_status = post_lock(&http, &app, &ready[0], ready[0].portfolios[0]).await?;
    let preflight = (page.html.0, lock_status);
    if preflight != (200, 202) {
        eprintln!(
            "warning: before the load, the class page answered {} and the lock POST {} \
             (expected 200 and 202)",
            preflight.0, preflight.1
        );
    }

    eprintln!("baseline: the same SQL from this process, {BASELINE_SAMPLES} of each…");
    let (baseline_page_ms, baseline_lock_ms) = baseline(pool, &ready).await?;

    let targets = targets_file(db, &app, &ready)?;
    let warmup_s: u64 = std::env::var("HTTP_BENCH_WARMUP_S")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let warmup = if warmup_s > 0 {
        eprintln!("warm-up: the same load for {warmup_s} s, not measured…");
        Some(run_load(load_dir, &targets, Some(warmup_s)).await?)
    } else {
        None
    };
    let rss_before_mb = memory_mb(server.pid(), "VmRSS")?;
    let cpu_before = cpu_seconds(server.pid())?;
    let database_before = database_cpu_seconds(&db.name);
    let machine_before = machine_busy_seconds()?;
    eprintln!("load from a separate process…");
    let clock = Instant::now();
    let load = run_load(load_dir, &targets, None).await;
    let load_wall_s = clock.elapsed().as_secs_f64();
    let machine_cpu_s = machine_busy_seconds()? - machine_before;
    let database_cpu_s = database_cpu_seconds(&db.name) - database_before;
    let _ = std::fs::remove_file(&targets);
    let load = load?;
    anyhow::ensure!(
        server.exited().is_none(),
        "the server stopped during the load; its log ends:\n{}",
        server.log_tail()
    );
    let server_cpu_s = cpu_seconds(server.pid())? - cpu_before;
    let rss_peak_mb = memory_mb(server.pid(), "VmHWM")?;
    let rss_after_mb = memory_mb(server.pid(), "VmRSS")?;
    server.stop();

    Ok(Figures {
        warmup,
        schools,
        setup,
        page,
        preflight,
        baseline_page_ms,
        baseline_lock_ms,
        load,
        rss_peak_mb,
        rss_after_mb,
        rss_before_mb,
        server_cpu_s,
        database_cpu_s,
        machine_cpu_s,
        load_wall_s,
    })
}

/// Starts `invigilator serve` on a free port and waits until it answers.
async fn start_server(
    db: &TestDb,
    emu: &google_emulator::RunningEmulator,
    binary: &Path,
) -> anyhow::Result<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let log = std::env::temp_dir().join(format!("invigilator-http-bench-{}.log", db.role_prefix));
    let out = std::fs::File::create(&log)?;
    let child = Command::new(binary)
        .arg("serve")
        .env_clear()
        .envs(db.env())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .env("PUBLIC_URL", &url)
        .env("GOOGLE_API_BASE_URL", emu.url())
        .env("GOOGLE_ISSUER_URL", emu.url())
        // Sign-ins reach Google (Classroom) during setup only.
        .env("GOOGLE_REQUESTS_PER_SECOND", "1000")
        // Behind one proxy, as on Cloud Run: each school signs in from its own address.
        .env("TRUSTED_PROXY_HOPS", "1")
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .spawn()?;
    let mut server = Server { child, url, log };
    let http = invigilator_test_kit::http_client();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = server.exited() {
            anyhow::bail!(
                "the server exited ({status}) before answering; its log ends:\n{}",
                server.log_tail()
            );
        }
        let ready = http
            .get(format!("{}/healthz", server.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return Ok(server);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the server did not answer within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Signs `email` in as a browser does, from `address`: the app's login, Google's (the
/// emulator's) account chooser, the callback. Returns the `Cookie` header of the session and
/// its CSRF token.
async fn sign_in(
    http: &reqwest::Client,
    app: &str,
    email: &str,
    address: &str,
) -> anyhow::Result<(String, String)> {
    let mut jar: BTreeMap<String, String> = BTreeMap::new();
    let cookie_header = |jar: &BTreeMap<String, String>| -> String {
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut url = format!("{app}/auth/login");
    let callback = format!("{app}/auth/callback");
    let mut signed_in = false;
    for _ in 0..10 {
        if url.contains("/o/oauth2/v2/auth") && !url.contains("login_hint=") {
            let mut u = url::Url::parse(&url)?;
            u.query_pairs_mut().append_pair("login_hint", email);
            url = u.to_string();
        }
        let ours = url.starts_with(app);
        let mut request = http.get(&url);
        if ours {
            request = request.header("x-forwarded-for", address);
            if !jar.is_empty() {
                request = request.header(COOKIE, cookie_header(&jar));
            }
        }
        let response = request.send().await?;
        let status = response.status();
        if ours {
            for value in response.headers().get_all(SET_COOKIE) {
                let parsed = cookie::Cookie::parse(value.to_str()?.to_owned())?;
                if parsed.value().is_empty() || parsed.max_age().is_some_and(|a| a.is_zero()) {
                    jar.remove(parsed.name());
                } else {
                    jar.insert(parsed.name().to_owned(), parsed.value().to_owned());
                }
            }
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        let Some(location) = location.filter(|_| status.is_redirection()) else {
            let body = response.text().await.unwrap_or_default();
            anyhow::bail!(
                "signing {email} in stopped at {url} with {status}: {}",
                body.chars().take(300).collect::<String>()
            );
        };
        let next = url::Url::parse(&url)?.join(&location)?.to_string();
        // Back from Google and on to the app's own pages: signed in.
        if url.starts_with(&callback) && next.starts_with(app) {
            signed_in = true;
            break;
        }
        url = next;
    }
    anyhow::ensure!(signed_in, "signing {email} in took too many redirects");
    let cookie = cookie_header(&jar);
    let me = http
        .get(format!("{app}/api/me"))
        .header(COOKIE, &cookie)
        .send()
        .await?;
    anyhow::ensure!(
        me.status().is_success(),
        "{email}: /api/me answered {}",
        me.status()
    );
    let me: Value = me.json().await?;
    let csrf = me["csrf_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("{email}: no csrf_token in /api/me"))?
        .to_owned();
    Ok((cookie, csrf))
}

async fn bench_school(
    pool: &PgPool,
    school: School,
    email: &str,
    cookie: String,
    csrf: String,
) -> anyhow::Result<BenchSchool> {
    let mut tx = begin_school_tx(pool, &school).await?;
    let staff_id: Uuid = sqlx::query_scalar("SELECT id FROM staff WHERE email = $1")
        .bind(email)
        .fetch_one(&mut *tx)
        .await?;
    let roles = invigilator::auth::staff::roles(&mut tx, staff_id).await?;
    let courses: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM courses ORDER BY name")
        .fetch_all(&mut *tx)
        .await?;
    let portfolios: Vec<Uuid> = sqlx::query_scalar(
        "SELECT p.id FROM portfolios p JOIN courses c ON c.id = p.course_id \
         JOIN students s ON s.id = p.student_id \
         WHERE p.drive_folder_id IS NOT NULL ORDER BY c.name, s.email",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    anyhow::ensure!(
        courses.len() == CLASSES && portfolios.len() == STUDENTS,
        "{}: {} classes and {} portfolios with folders; expected {CLASSES} and {STUDENTS}",
        school.slug,
        courses.len(),
        portfolios.len()
    );
    let scope = ClassScope::of(&roles, staff_id, ClassAccess::View);
    anyhow::ensure!(
        !scope.is_empty(),
        "{}: the teacher sees no class",
        school.slug
    );
    Ok(BenchSchool {
        school,
        staff_id,
        scope,
        cookie,
        csrf,
        courses,
        portfolios,
    })
}

/// Fetches the class page and its stylesheet and script: (status, bytes) of each.
async fn page_weight(
    http: &reqwest::Client,
    app: &str,
    school: &BenchSchool,
) -> anyhow::Result<PageWeight> {
    let fetch = |path: String| async move {
        let response = http
            .get(format!("{app}{path}"))
            .header(COOKIE, &school.cookie)
            .send()
            .await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?.len();
        anyhow::Ok((status, bytes))
    };
    Ok(PageWeight {
        html: fetch(format!("/classes/{}", school.courses[0])).await?,
        css: fetch("/static/app.css".to_owned()).await?,
        js: fetch("/static/app.js".to_owned()).await?,
    })
}

async fn post_lock(
    http: &reqwest::Client,
    app: &str,
    school: &BenchSchool,
    portfolio: Uuid,
) -> anyhow::Result<u16> {
    let response = http
        .post(format!("{app}/api/portfolios/{portfolio}/lock"))
        .header(COOKIE, &school.cookie)
        .header("x-csrf-token", &school.csrf)
        .header("origin", app)
        .send()
        .await?;
    Ok(response.status().as_u16())
}

/// The SQL behind each request, run from this process one at a time: milliseconds for the
/// class page's and for the lock's.
async fn baseline(pool: &PgPool, schools: &[BenchSchool]) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let mut page_ms = Vec::with_capacity(BASELINE_SAMPLES);
    let mut lock_ms = Vec::with_capacity(BASELINE_SAMPLES);
    for i in 0..BASELINE_SAMPLES {
        let s = &schools[i % schools.len()];
        let round = i / schools.len();

        let course = s.courses[round % s.courses.len()];
        let clock = Instant::now();
        let mut tx = begin_school_tx(pool, &s.school).await?;
        anyhow::ensure!(s.scope.includes(&mut tx, course).await?);
        let view = overview::class_view(&mut tx, course).await?;
        tx.commit().await?;
        page_ms.push(clock.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(view.is_some_and(|v| v.students.len() == PER_CLASS));

        let portfolio = s.portfolios[round % s.portfolios.len()];
        let clock = Instant::now();
        let mut tx = begin_school_tx(pool, &s.school).await?;
        lock::request(
            &mut tx,
            &Actor::Staff(s.staff_id),
            portfolio,
            LockState::Locked,
        )
        .await?;
        tx.commit().await?;
        lock_ms.push(clock.elapsed().as_secs_f64() * 1000.0);
    }
    page_ms.sort_by(f64::total_cmp);
    lock_ms.sort_by(f64::total_cmp);
    Ok((page_ms, lock_ms))
}

/// Writes the load generator's targets: a class page and a lock, alternately, each from the
/// next school in turn, through every class and every student. Returns the file's path.
fn targets_file(db: &TestDb, app: &str, schools: &[BenchSchool]) -> anyhow::Result<PathBuf> {
    let mut targets = Vec::with_capacity(schools.len() * STUDENTS * 2);
    for k in 0..STUDENTS {
        for s in schools {
            targets.push(serde_json::json!({
                "kind": "class_page",
                "method": "GET",
                "path": format!("/classes/{}", s.courses[k % s.courses.len()]),
                "headers": {"Cookie": s.cookie},
            }));
            targets.push(serde_json::json!({
                "kind": "lock",
                "method": "POST",
                "path": format!("/api/portfolios/{}/lock", s.portfolios[k]),
                "headers": {
                    "Cookie": s.cookie,
                    "X-CSRF-Token": s.csrf,
                    "Origin": app,
                    "Content-Length": "0",
                },
            }));
        }
    }
    let path = std::env::temp_dir().join(format!("invigilator-http-bench-{}.json", db.role_prefix));
    std::fs::write(
        &path,
        serde_json::to_vec(&serde_json::json!({"url": app, "targets": targets}))?,
    )?;
    Ok(path)
}

/// Runs the load generator (`RATE` and `DURATION_S` pass through, unless `seconds` says how
/// long) and parses its result.
async fn run_load(dir: &Path, targets: &Path, seconds: Option<u64>) -> anyhow::Result<Value> {
    let (dir, targets) = (dir.to_owned(), targets.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        let mut command = Command::new("node");
        command
            .arg("load.mjs")
            .arg(&targets)
            .current_dir(&dir)
            .stderr(Stdio::inherit());
        if let Some(seconds) = seconds {
            command.env("DURATION_S", seconds.to_string());
        }
        command.output()
    })
    .await??;
    anyhow::ensure!(
        output.status.success(),
        "the load generator failed ({})",
        output.status
    );
    let stdout = String::from_utf8(output.stdout)?;
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| anyhow::anyhow!("the load generator printed no result"))?;
    Ok(serde_json::from_str(line)?)
}

/// A `/proc/<pid>/status` memory figure, in MB.
fn memory_mb(pid: u32, field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no {field} in /proc/{pid}/status"))?;
    Ok(kb / 1024.0)
}

/// User and system CPU time of a process so far, seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / clock_ticks())
}

/// CPU time so far of the PostgreSQL backends connected to database `name` (found by the
/// process title PostgreSQL gives them: `postgres: … <user> <database> <address> <state>`).
/// A backend that ends in between is not counted.
fn database_cpu_seconds(name: &str) -> f64 {
    let needle = format!(" {name} ");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .filter_map(|pid| cpu_seconds(pid).ok())
        .sum()
}

/// CPU time the whole machine has spent busy so far (every core, every process), seconds.
fn machine_busy_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let ticks: Vec<f64> = stat
        .lines()
        .find_map(|l| l.strip_prefix("cpu "))
        .ok_or_else(|| anyhow::anyhow!("no cpu line in /proc/stat"))?
        .split_whitespace()
        .map(|t| t.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is counted in user already).
    let all: f64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3).copied().unwrap_or(0.0) + ticks.get(4).copied().unwrap_or(0.0);
    Ok((all - idle) / clock_ticks())
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
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

/// One kind of request's figures from the load generator.
struct Latency {
    responses: u64,
    p50: f64,
    p99: f64,
    max: f64,
    non2xx: u64,
    statuses: String,
}

impl Latency {
    fn of(v: &Value) -> Self {
        let ms = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        let statuses = v["statuses"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(code, n)| format!("{code}×{n}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        Self {
            responses: v["responses"].as_u64().unwrap_or(0),
            p50: ms("p50_ms"),
            p99: ms("p99_ms"),
            max: ms("max_ms"),
            non2xx: v["non2xx"].as_u64().unwrap_or(0),
            statuses,
        }
    }

    fn json(&self) -> Value {
        serde_json::json!({
            "responses": self.responses,
            "p50_ms": round(self.p50, 2),
            "p99_ms": round(self.p99, 2),
            "max_ms": round(self.max, 2),
            "non2xx": self.non2xx,
        })
    }
}

fn report(f: &Figures) {
    let load = &f.load;
    let rate = load["rate"].as_u64().unwrap_or(0);
    let duration_s = load["duration_s"].as_f64().unwrap_or(f64::NAN);
    let connections = load["connections"].as_u64().unwrap_or(0);
    let overall = Latency::of(&load["overall"]);
    let page = Latency::of(&load["kinds"]["class_page"]);
    let lock = Latency::of(&load["kinds"]["lock"]);
    let cannon = &load["autocannon"];
    let socket_errors = cannon["errors"].as_u64().unwrap_or(0);
    let timeouts = cannon["timeouts"].as_u64().unwrap_or(0);
    let measured_s = cannon["duration"].as_f64().unwrap_or(duration_s);
    let achieved = overall.responses as f64 / measured_s;
    let errors = overall.non2xx + socket_errors;

    let base_page = percentile(&f.baseline_page_ms, 50.0);
    let base_lock = percentile(&f.baseline_lock_ms, 50.0);
    let mut base_mix: Vec<f64> = f
        .baseline_page_ms
        .iter()
        .chain(&f.baseline_lock_ms)
        .copied()
        .collect();
    base_mix.sort_by(f64::total_cmp);
    let base_mix = percentile(&base_mix, 50.0);
    let page_kb = f.page.kb();
    let cpu_share = f.server_cpu_s / f.load_wall_s;
    let load_cpu_s = load["cpu_s"].as_f64().unwrap_or(f64::NAN);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };

    let met = |ok: bool| if ok { "met" } else { "MISSED" };
    let latency_ok = |l: &Latency| l.p99 <= P99_TARGET_MS && l.non2xx == 0 && l.responses > 0;
    let p99_ok = overall.p99 <= P99_TARGET_MS && overall.responses > 0;
    let errors_ok = errors == 0;
    let rss_ok = f.rss_peak_mb <= RSS_TARGET_MB;
    let page_ok = page_kb <= PAGE_TARGET_KB && f.page.complete();

    println!();
    println!(
        "http: {} schools, one teacher each with {CLASSES} classes of {PER_CLASS} ({} folders); \
         {rate} requests/s for {duration_s} s over {connections} connections from autocannon in \
         its own process, half class pages, half lock POSTs; `invigilator serve` (pool of 10), \
         no worker; {cores} cores, {build} build",
        f.schools, f.setup.portfolios
    );
    if f.preflight != (200, 202) {
        println!();
        println!(
            "NOTE: before the load the class page answered {} and the lock POST {} (expected 200 \
             and 202); the static files answered {} and {}. Figures for what did not answer are \
             not the server's real ones.",
            f.preflight.0, f.preflight.1, f.page.css.0, f.page.js.0
        );
    }
    println!();
    println!(
        "| request            | responses |   p50 ms |   p99 ms |   max ms | not 2xx | target                        |"
    );
    println!(
        "|--------------------|----------:|---------:|---------:|---------:|--------:|-------------------------------|"
    );
    let row = |name: &str, l: &Latency, verdict: &str| {
        println!(
            "| {name:<18} | {:>9} | {:>8.2} | {:>8.2} | {:>8.2} | {:>7} | {verdict:<29} |",
            l.responses, l.p50, l.p99, l.max, l.non2xx
        );
    };
    row(
        "class page (GET)",
        &page,
        &format!("p99 ≤ 20 ms, no errors: {}", met(latency_ok(&page))),
    );
    row(
        "lock (POST)",
        &lock,
        &format!("p99 ≤ 20 ms, no errors: {}", met(latency_ok(&lock))),
    );
    row("mix", &overall, &format!("p99 ≤ 20 ms: {}", met(p99_ok)));
    println!();
    // Whether the tail is a start-up effect or lasts: the mix, five seconds at a time.
    let timeline: Vec<(f64, f64, f64)> = load["timeline"]
        .as_array()
        .map(|windows| {
            windows
                .iter()
                .map(|w| {
                    let ms = |k: &str| w[k].as_f64().unwrap_or(f64::NAN);
                    (ms("from_s"), ms("p50_ms"), ms("p99_ms"))
                })
                .collect()
        })
        .unwrap_or_default();
    println!(
        "mix p50 / p99 ms by 5 s of the run: {}",
        timeline
            .iter()
            .map(|(from, p50, p99)| format!("{from:.0}–{:.0} s {p50:.1} / {p99:.1}", from + 5.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(warmup) = &f.warmup {
        let cold = Latency::of(&warmup["overall"]);
        println!(
            "warm-up before it, the same load for {} s on the server just started (not in the \
             table): p50 {:.1} ms, p99 {:.1} ms, {} responses",
            warmup["duration_s"].as_f64().unwrap_or(f64::NAN),
            cold.p50,
            cold.p99,
            cold.responses
        );
    }
    println!();
    println!(
        "| measure                             |                value | target / detail                |"
    );
    println!(
        "|-------------------------------------|---------------------:|--------------------------------|"
    );
    let line = |measure: &str, value: String, target: String| {
        println!("| {measure:<35} | {value:>20} | {target:<30} |");
    };
    line(
        "setup: schools, sign-ins, folders",
        format!("{:.1} s", f.setup.total_s),
        format!(
            "{:.1} + {:.1} + {:.1} s",
            f.setup.provision_s, f.setup.sign_in_s, f.setup.folders_s
        ),
    );
    line(
        "rate offered / achieved",
        format!("{rate} / {achieved:.1}"),
        "requests/s".into(),
    );
    line(
        "errors (not 2xx + socket errors)",
        format!("{} + {socket_errors}", overall.non2xx),
        format!("0: {}", met(errors_ok)),
    );
    line("  of which timeouts", timeouts.to_string(), String::new());
    line(
        "  statuses, class page",
        page.statuses.clone(),
        String::new(),
    );
    line("  statuses, lock", lock.statuses.clone(), String::new());
    line(
        "server peak RSS (VmHWM)",
        format!("{:.1} MB", f.rss_peak_mb),
        format!("≤ 120 MB: {}", met(rss_ok)),
    );
    line(
        "  RSS before / after the load",
        format!("{:.1} / {:.1} MB", f.rss_before_mb, f.rss_after_mb),
        String::new(),
    );
    line(
        "CPU during the load: server",
        format!("{:.0}% of a core", cpu_share * 100.0),
        format!(
            "{:.2} ms a request",
            f.server_cpu_s * 1000.0 / overall.responses.max(1) as f64
        ),
    );
    line(
        "  load generator",
        format!("{:.0}% of a core", load_cpu_s / f.load_wall_s * 100.0),
        String::new(),
    );
    line(
        "  PostgreSQL (this database)",
        format!("{:.0}% of a core", f.database_cpu_s / f.load_wall_s * 100.0),
        format!(
            "{:.2} ms a request",
            f.database_cpu_s * 1000.0 / overall.responses.max(1) as f64
        ),
    );
    line(
        "  everything else",
        format!(
            "{:.0}% of a core",
            (f.machine_cpu_s - f.server_cpu_s - f.database_cpu_s - load_cpu_s) / f.load_wall_s
                * 100.0
        ),
        format!(
            "machine busy {:.0}% of {cores} cores",
            f.machine_cpu_s / f.load_wall_s / cores.max(1) as f64 * 100.0
        ),
    );
    line(
        "page: class HTML + app.css + app.js",
        format!("{page_kb:.1} KB"),
        format!("≤ 100 KB: {}", met(page_ok)),
    );
    line(
        "  bytes (status)",
        format!("{} + {} + {}", f.page.html.1, f.page.css.1, f.page.js.1),
        format!("{} {} {}", f.page.html.0, f.page.css.0, f.page.js.0),
    );
    line(
        "baseline SQL p50: class page",
        format!("{base_page:.2} ms"),
        format!("{BASELINE_SAMPLES} samples"),
    );
    line(
        "baseline SQL p50: lock",
        format!("{base_lock:.2} ms"),
        format!("{BASELINE_SAMPLES} samples"),
    );
    line(
        "baseline SQL p50: mix",
        format!("{base_mix:.2} ms"),
        "(no HTTP)".into(),
    );
    println!();

    let mut json = serde_json::json!({
        "bench": "http",
        "rate": rate,
        "p50_ms": round(overall.p50, 2),
        "p99_ms": round(overall.p99, 2),
        "max_ms": round(overall.max, 2),
        "errors": errors,
        "rss_mb": round(f.rss_peak_mb, 1),
        "baseline_sql_ms": round(base_mix, 3),
        "page_kb": round(page_kb, 1),
    });
    json["duration_s"] = duration_s.into();
    json["schools"] = f.schools.into();
    json["folders"] = f.setup.portfolios.into();
    json["connections"] = connections.into();
    json["achieved_rps"] = round(achieved, 1).into();
    json["responses"] = overall.responses.into();
    json["non2xx"] = overall.non2xx.into();
    json["socket_errors"] = socket_errors.into();
    json["timeline_p99_ms"] = timeline.iter().map(|t| round(t.2, 1)).collect();
    if let Some(warmup) = &f.warmup {
        let cold = Latency::of(&warmup["overall"]);
        json["warmup_s"] = warmup["duration_s"].clone();
        json["warmup_p50_ms"] = round(cold.p50, 2).into();
        json["warmup_p99_ms"] = round(cold.p99, 2).into();
    }
    json["class_page"] = page.json();
    json["lock"] = lock.json();
    json["baseline_page_sql_ms"] = round(base_page, 3).into();
    json["baseline_lock_sql_ms"] = round(base_lock, 3).into();
    json["rss_after_mb"] = round(f.rss_after_mb, 1).into();
    json["server_cpu_s"] = round(f.server_cpu_s, 2).into();
    json["load_generator_cpu_s"] = round(load_cpu_s, 2).into();
    json["database_cpu_s"] = round(f.database_cpu_s, 2).into();
    json["machine_cpu_s"] = round(f.machine_cpu_s, 2).into();
    json["page_bytes"] = serde_json::json!({
        "html": f.page.html.1, "css": f.page.css.1, "js": f.page.js.1,
    });
    json["preflight_status"] = serde_json::json!({
        "class_page": f.preflight.0, "lock": f.preflight.1,
        "css": f.page.css.0, "js": f.page.js.0,
    });
    json["setup_s"] = round(f.setup.total_s, 1).into();
    json["targets_met"] = serde_json::json!({
        "p99": p99_ok,
        "errors": errors_ok,
        "rss": rss_ok,
        "page": page_ok,
        "class_page": latency_ok(&page),
        "lock": latency_ok(&lock),
    });
    json["cores"] = cores.into();
    println!("{json}");
}
