//! The test world Invigilator's integration tests and benchmarks share: a fresh PostgreSQL
//! database per test, with a role-name prefix of its own (roles are cluster-wide), both removed
//! when the test ends — even when it panics; seeded schools and Google worlds; the scripted
//! browser ([`browser`]); a signed-in teacher with synced folders ([`lock_world`]).
//!
//! A crate of its own (not `tests/common`) so the benchmarks reach it too. Test support stops at
//! the first surprise, so it unwraps freely.
#![allow(clippy::unwrap_used)]

pub mod browser;
pub mod cohort_school;
pub mod lock_world;
pub mod proxy;

use std::collections::HashMap;
use std::net::SocketAddr;

use invigilator::config::Config;
use invigilator::tenancy::{self, NewSchool, School, TenantMigrations};
use invigilator::web::{self, AppState, HttpLimits};
use sqlx::{Connection, Executor, PgConnection, PgPool};
use uuid::Uuid;

/// The server tests connect to for creating and dropping databases.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A database of its own, migrated to the latest platform version.
pub struct TestDb {
    pub pool: PgPool,
    pub name: String,
    pub url: String,
    /// Prefix of every school role this test creates.
    pub role_prefix: String,
}

impl TestDb {
    pub async fn new() -> Self {
        Self::with_pool_size(10).await
    }

    pub async fn with_pool_size(max_connections: u32) -> Self {
        let db = Self::unmigrated(max_connections).await;
        tenancy::migrate_platform(&db.pool).await.unwrap();
        db
    }

    /// A database with nothing in it yet, as before the first `invigilator migrate`.
    ///
    /// The service connects as a login role of its own that is NOT a superuser: it owns the
    /// database and may create roles, as in production, so privilege mistakes show up here.
    pub async fn unmigrated(max_connections: u32) -> Self {
        let id = Uuid::new_v4().simple().to_string()[..8].to_owned();
        let name = format!("inv_test_{id}");
        let role_prefix = format!("t{id}_");
        let login = format!("{role_prefix}app");
        let mut admin = PgConnection::connect(&admin_url())
            .await
            .expect("PostgreSQL must be running; see scripts/test");
        sweep_stale_roles(&mut admin).await;
        // The database first: another test's sweep takes a role with no database of its own
        // for a leftover, and would drop this one between the two statements.
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
            .unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "CREATE ROLE \"{login}\" LOGIN CREATEROLE"
            )))
            .await
            .unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE \"{name}\" OWNER TO \"{login}\""
            )))
            .await
            .unwrap();
        let mut url = url::Url::parse(&database_url(&name)).unwrap();
        url.set_username(&login).unwrap();
        url.set_password(None).unwrap();
        let url = url.to_string();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(max_connections)
            .connect(&url)
            .await
            .unwrap();
        Self {
            pool,
            name,
            url,
            role_prefix,
        }
    }

    /// Environment for running the `invigilator` binary against this database.
    pub fn env(&self) -> HashMap<&'static str, String> {
        HashMap::from([
            ("DATABASE_URL", self.url.clone()),
            ("REDIS_URL", redis_url()),
            ("TENANT_ROLE_PREFIX", self.role_prefix.clone()),
            ("APP_ENV", "development".to_owned()),
            ("RUST_LOG", "warn".to_owned()),
        ])
    }

    /// Configuration for an in-process app against this database.
    pub fn config(&self, overrides: &[(&str, &str)]) -> Config {
        let mut vars = self.env();
        for (k, v) in overrides {
            let key: &'static str = Box::leak((*k).to_owned().into_boxed_str());
            vars.insert(key, (*v).to_owned());
        }
        Config::from_lookup(|name| vars.get(name).cloned()).unwrap()
    }

    /// Provisions a school at the latest embedded version.
    pub async fn school(&self, slug: &str) -> School {
        self.school_with(slug, &TenantMigrations::embedded()).await
    }

    pub async fn school_with(&self, slug: &str, migrations: &TenantMigrations) -> School {
        let new =
            NewSchool::parse(slug, &format!("{slug} school"), &format!("{slug}.sch.uk")).unwrap();
        tenancy::provision_school(&self.pool, &self.role_prefix, migrations, &new)
            .await
            .unwrap()
    }

    /// Names of the school roles this test made.
    pub async fn roles(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1)")
            .bind(format!("{}tenant_", self.role_prefix))
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }

    /// Names of schemas holding school data.
    pub async fn school_schemas(&self) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'tenant\\_%' ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    pub async fn registry_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM platform.tenants")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (name, prefix) = (self.name.clone(), self.role_prefix.clone());
        // Runs on its own thread and runtime: Drop cannot await, and the test's runtime may be
        // shutting down (or unwinding from a panic).
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let mut admin = PgConnection::connect(&admin_url()).await.unwrap();
                admin
                    .execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .await
                    .unwrap();
                drop_roles(&mut admin, &prefix).await;
            });
        });
        let _ = cleanup.join();
    }
}

pub fn database_url(name: &str) -> String {
    let mut url = url::Url::parse(&admin_url()).unwrap();
    url.set_path(name);
    url.to_string()
}

async fn drop_roles(admin: &mut PgConnection, prefix: &str) {
    // School roles first, then the login role that was granted them.
    let roles: Vec<String> = sqlx::query_scalar(
        "SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1) \
         ORDER BY rolname LIKE '%\\_app' , rolname",
    )
    .bind(prefix)
    .fetch_all(&mut *admin)
    .await
    .unwrap_or_default();
    for role in roles {
        // Another test's sweep may have dropped it already.
        let _ = admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP ROLE IF EXISTS \"{role}\""
            )))
            .await;
    }
}

/// Drops school roles left by test runs that were killed before their cleanup ran: a role whose
/// test database no longer exists belongs to nobody.
async fn sweep_stale_roles(admin: &mut PgConnection) {
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT r.rolname::text FROM pg_roles r \
         WHERE r.rolname ~ '^t[0-9a-f]{8}_' \
           AND NOT EXISTS (SELECT 1 FROM pg_database d \
                           WHERE d.datname = 'inv_test_' || substr(r.rolname, 2, 8))",
    )
    .fetch_all(&mut *admin)
    .await
    .unwrap_or_default();
    let (schools, logins): (Vec<String>, Vec<String>) =
        stale.into_iter().partition(|r| !r.ends_with("_app"));
    for role in schools.into_iter().chain(logins) {
        let _ = admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP ROLE IF EXISTS \"{role}\""
            )))
            .await;
    }
}

/// A running HTTP server on a random port, against its own database.
pub struct TestApp {
    pub address: SocketAddr,
    pub db: TestDb,
    pub client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Asks the server to stop, as SIGTERM would, and waits for it.
    pub async fn shut_down(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.server).await.unwrap()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the server with some configuration overridden (e.g. an unreachable Redis).
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let db = TestDb::new().await;
    let (address, shutdown, server) = serve_app(&db, overrides).await;
    TestApp {
        address,
        db,
        client: http_client(),
        shutdown: Some(shutdown),
        server,
    }
}

/// Serves the app for `db` on a free port (PUBLIC_URL set to it unless overridden).
pub async fn serve_app(
    db: &TestDb,
    overrides: &[(&str, &str)],
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let public_url = format!("http://127.0.0.1:{}", address.port());
    let mut all: Vec<(&str, &str)> = vec![("PUBLIC_URL", &public_url)];
    all.extend_from_slice(overrides);
    let config = db.config(&all);
    let services = invigilator::services::Services::connect(&config, 5).unwrap();
    let state = AppState::new(&config, &services).unwrap();
    let limits = HttpLimits {
        body_bytes: config.request_body_limit_bytes,
        timeout: config.request_timeout,
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(web::serve(listener, web::router(state, limits), async {
        let _ = rx.await;
    }));
    (address, tx, server)
}

/// The `invigilator` binary cargo built beside the running test or benchmark (cargo tells only
/// the test crate itself where it is, at compile time; this finds it from the running
/// executable, which lives in the same target directory's `deps/`).
pub fn binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("a test runs from target/<profile>/deps");
    profile_dir.join(format!("invigilator{}", std::env::consts::EXE_SUFFIX))
}

/// The operator the tests' `invigilator` commands run as (`INVIGILATOR_OPERATOR`).
pub const CLI_OPERATOR: &str = "Olive Operator";

/// Runs the `invigilator` binary with this test's database, as [`CLI_OPERATOR`].
pub fn invigilator(db: &TestDb, args: &[&str]) -> std::process::Output {
    invigilator_as(db, Some(CLI_OPERATOR), args)
}

/// Runs the `invigilator` binary with this test's database as `operator` (`None`: no operator
/// named at all).
pub fn invigilator_as(db: &TestDb, operator: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(binary());
    command
        .args(args)
        .env_clear()
        .envs(db.env())
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    if let Some(name) = operator {
        command.env("INVIGILATOR_OPERATOR", name);
    }
    command.output().unwrap()
}

/// A normalised description of a school schema: relations, columns, constraints, indexes,
/// triggers, functions, comments and grants, with the school's own schema and role names
/// replaced so two schools can be compared.
pub async fn catalog(pool: &PgPool, school: &School) -> Vec<String> {
    let lines: Vec<String> = sqlx::query_scalar(
        r#"
        WITH ns AS (SELECT oid, nspname, nspacl FROM pg_namespace WHERE nspname = $1)
        SELECT format('relation %s kind=%s', c.relname, c.relkind)
          FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
        UNION ALL
        SELECT format('column %s.%s #%s %s notnull=%s default=%s identity=%s generated=%s',
                      c.relname, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod),
                      a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated)
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid JOIN ns ON ns.oid = c.relnamespace
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attnum > 0 AND NOT a.attisdropped
        UNION ALL
        SELECT format('constraint %s on %s: %s', co.conname, c.relname, pg_get_constraintdef(co.oid))
          FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid JOIN ns ON ns.oid = co.connamespace
        UNION ALL
        SELECT format('index %s', pg_get_indexdef(i.indexrelid))
          FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN ns ON ns.oid = c.relnamespace
        UNION ALL
        SELECT format('trigger %s', pg_get_triggerdef(t.oid))
          FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN ns ON ns.oid = c.relnamespace
         WHERE NOT t.tgisinternal
        UNION ALL
        SELECT format('function %s(%s) %s', p.proname, pg_get_function_arguments(p.oid), md5(p.prosrc))
          FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
        UNION ALL
        SELECT format('comment %s: %s', c.relname, obj_description(c.oid, 'pg_class'))
          FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
         WHERE obj_description(c.oid, 'pg_class') IS NOT NULL
        UNION ALL
        SELECT format('grant on %s to %s: %s grantable=%s', c.relname,
                      coalesce(r.rolname, 'PUBLIC'), x.privilege_type, x.is_grantable)
          FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
          CROSS JOIN LATERAL aclexplode(c.relacl) x
          LEFT JOIN pg_roles r ON r.oid = x.grantee
        UNION ALL
        SELECT format('schema grant to %s: %s', coalesce(r.rolname, 'PUBLIC'), x.privilege_type)
          FROM ns CROSS JOIN LATERAL aclexplode(ns.nspacl) x
          LEFT JOIN pg_roles r ON r.oid = x.grantee
        "#,
    )
    .bind(&school.schema_name)
    .fetch_all(pool)
    .await
    .unwrap();
    let mut lines: Vec<String> = lines
        .into_iter()
        .map(|l| {
            l.replace(&school.role_name, "<role>")
                .replace(&school.schema_name, "<schema>")
        })
        .collect();
    lines.sort();
    lines
}

/// A school connected to a seeded Google emulator: the Drive operator's grant is stored, and
/// `clients` talks to the emulator through the real Google crates.
pub struct GoogleWorld {
    pub db: TestDb,
    pub emu: google_emulator::RunningEmulator,
    pub school: School,
    pub config: Config,
    pub clients: invigilator::google::GoogleClients,
    pub operator_credential: Uuid,
}

pub const OPERATOR: &str = "drive.operator@hillside.sch.uk";
pub const TEACHER: &str = "ada.lovelace@hillside.sch.uk";
pub const SHARED_DRIVE: &str = "0APortfolios";
pub const DRIVE_SCOPE: &str = "https://www.googleapis.com/auth/drive";
pub const TEACHER_SCOPES: &[&str] = &[
    "openid",
    "email",
    "profile",
    "https://www.googleapis.com/auth/classroom.courses.readonly",
    "https://www.googleapis.com/auth/classroom.rosters.readonly",
    "https://www.googleapis.com/auth/classroom.profile.emails",
];

pub fn pupil(i: usize) -> String {
    format!("pupil{i:03}@hillside.sch.uk")
}

/// The emulator's world: a teacher with one class of `pupils`, a Drive operator who organises
/// the shared drive.
pub fn google_seed(pupils: usize) -> google_emulator::Seed {
    use google_emulator::seed::*;
    let person = |email: &str, given: &str, family: &str| SeedUser::person(email, given, family);
    let mut users = vec![
        person(TEACHER, "Ada", "Lovelace"),
        person(OPERATOR, "Drive", "Operator"),
    ];
    users.extend((0..pupils).map(|i| person(&pupil(i), &format!("Pupil{i}"), "Learner")));
    Seed {
        clients: vec![SeedClient {
            client_id: "invigilator-local".to_owned(),
            client_secret: "invigilator-local-secret".to_owned(),
            redirect_uris: vec![],
        }],
        domains: vec!["hillside.sch.uk".to_owned()],
        users,
        courses: vec![SeedCourse {
            id: Some("500000000001".to_owned()),
            name: "10X Chemistry".to_owned(),
            section: Some("10X".to_owned()),
            owner: TEACHER.to_owned(),
            teachers: vec![],
            students: (0..pupils).map(pupil).collect(),
            state: None,
            teacher_group_email: Some("10x-teachers@hillside.sch.uk".to_owned()),
        }],
        shared_drives: vec![SeedSharedDrive {
            id: Some(SHARED_DRIVE.to_owned()),
            name: "Portfolios".to_owned(),
            members: vec![SeedMember {
                email: OPERATOR.to_owned(),
                role: "organizer".to_owned(),
            }],
        }],
        ..Seed::default()
    }
}

/// Sets a school's staff address patterns (`platform.tenants.staff_addresses`) directly, as
/// a School Admin's saved settings hold them: who may become a Teacher by teaching a class.
pub async fn list_staff_addresses(db: &TestDb, slug: &str, patterns: &[&str]) {
    let patterns: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
    sqlx::query("UPDATE platform.tenants SET staff_addresses = $2 WHERE slug = $1")
        .bind(slug)
        .bind(patterns)
        .execute(&db.pool)
        .await
        .unwrap();
}

/// Adds a staff member to a school; returns their id.
pub async fn add_staff(db: &TestDb, school: &School, email: &str) -> Uuid {
    insert_staff(db, school, &format!("sub-{email}"), email).await
}

/// A staff member known to the emulator, recorded under their Google id as sign-in does.
pub async fn add_google_staff(
    db: &TestDb,
    school: &School,
    emu: &google_emulator::Emulator,
    email: &str,
) -> Uuid {
    let sub = emu.user(email).expect("a user the emulator knows").id;
    insert_staff(db, school, &sub, email).await
}

async fn insert_staff(db: &TestDb, school: &School, sub: &str, email: &str) -> Uuid {
    let mut tx = tenancy::begin_school_tx(&db.pool, school).await.unwrap();
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO staff (google_sub, email, display_name) VALUES ($1, $2, $2) RETURNING id",
    )
    .bind(sub)
    .bind(email)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

impl GoogleWorld {
    pub async fn new(pupils: usize) -> Self {
        let emu = google_emulator::start(&google_seed(pupils)).await.unwrap();
        let db = TestDb::new().await;
        let school = db.school("hillside").await;
        let config = db.config(&[("GOOGLE_API_BASE_URL", &emu.url())]);
        let redis = invigilator::redis_client::lazy_connection(&config).unwrap();
        let clients = invigilator::google::GoogleClients::new(&config, db.pool.clone(), redis)
            .unwrap()
            .with_retry_policy(invigilator::google::RetryPolicy::quick());
        let operator = add_staff(&db, &school, OPERATOR).await;
        let operator_credential = store_grant(
            &db,
            &emu,
            &school,
            operator,
            OPERATOR,
            invigilator::google::credentials::Purpose::DriveOperator,
            &[DRIVE_SCOPE],
        )
        .await;
        Self {
            db,
            emu,
            school,
            config,
            clients,
            operator_credential,
        }
    }

    /// Removes the seeded Drive operator account, so that one a test stores is the school's only.
    pub async fn without_the_seeded_operator(&self) {
        sqlx::query("DELETE FROM tenant_hillside.google_credentials WHERE id = $1")
            .bind(self.operator_credential)
            .execute(&self.db.pool)
            .await
            .unwrap();
    }

    /// Stores the teacher's sign-in grant; returns their staff id.
    pub async fn connect_teacher(&self) -> Uuid {
        connect_signed_in_staff(&self.db, &self.emu, &self.school, TEACHER).await
    }
}

/// A staff member of `school` who has signed in: their row under their Google id and their
/// encrypted sign-in grant (what a sync reads Classroom with). Returns the staff id.
pub async fn connect_signed_in_staff(
    db: &TestDb,
    emu: &google_emulator::Emulator,
    school: &School,
    email: &str,
) -> Uuid {
    use invigilator::google::credentials::Purpose;
    let staff = add_google_staff(db, school, emu, email).await;
    store_grant(
        db,
        emu,
        school,
        staff,
        email,
        Purpose::SignIn,
        TEACHER_SCOPES,
    )
    .await;
    staff
}

/// Connects `email` (a user the emulator knows) as `school`'s Drive operator, as a School Admin
/// would through Google: their staff row and an encrypted Drive grant. Returns the staff id.
pub async fn connect_drive_operator(
    db: &TestDb,
    emu: &google_emulator::Emulator,
    school: &School,
    email: &str,
) -> Uuid {
    use invigilator::google::credentials::Purpose;
    let operator = add_staff(db, school, email).await;
    store_grant(
        db,
        emu,
        school,
        operator,
        email,
        Purpose::DriveOperator,
        &[DRIVE_SCOPE],
    )
    .await;
    operator
}

/// Stores, encrypted as the service does, a Google grant of `scopes` that the emulator issued
/// to `email`, for staff member `staff`; returns the credential's id.
pub async fn store_grant(
    db: &TestDb,
    emu: &google_emulator::Emulator,
    school: &School,
    staff: Uuid,
    email: &str,
    purpose: invigilator::google::credentials::Purpose,
    scopes: &[&str],
) -> Uuid {
    let config = db.config(&[]);
    let refresh = emu
        .issue_refresh_token(email, scopes, "invigilator-local")
        .unwrap();
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    let mut tx = tenancy::begin_school_tx(&db.pool, school).await.unwrap();
    let credential = invigilator::google::credentials::save_oauth(
        &mut tx,
        &config.token_keys,
        staff,
        purpose,
        email,
        &scopes,
        &secrecy::SecretString::from(refresh),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    credential
}

/// The shared services of a `work` or `serve` process on this test's database, configured by
/// `config` (its `TENANT_ROLE_PREFIX` names the queues), with `google` as its Google clients.
pub fn services(
    db: &TestDb,
    config: &Config,
    google: &invigilator::google::GoogleClients,
) -> invigilator::services::Services {
    let redis = invigilator::redis_client::lazy_connection(config).unwrap();
    invigilator::services::Services::new(config, db.pool.clone(), redis)
        .unwrap()
        .with_google(google.clone())
}

/// An HTTP client for tests (rustls needs its crypto provider installed first).
pub fn http_client() -> reqwest::Client {
    invigilator::google::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Removes a benchmark run's keys (its queues, and apalis's note of them) from Redis, by the
/// run's role prefix; rate-limit and lease keys expire on their own.
pub async fn clean_redis(config: &Config, prefix: &str) -> redis::RedisResult<()> {
    let mut redis = invigilator::redis_client::lazy_connection(config)?;
    invigilator::redis_client::delete_matching(&redis, &format!("invigilator:{prefix}*")).await?;
    let queues: Vec<String> = redis::cmd("ZRANGE")
        .arg("core:apalis:queues:list")
        .arg(0)
        .arg(-1)
        .query_async(&mut redis)
        .await
        .unwrap_or_default();
    let ours: Vec<&String> = queues
        .iter()
        .filter(|q| q.starts_with(&format!("invigilator:{prefix}")))
        .collect();
    if !ours.is_empty() {
        let _: () = redis::cmd("ZREM")
            .arg("core:apalis:queues:list")
            .arg(ours)
            .query_async(&mut redis)
            .await?;
    }
    Ok(())
}
