//! `invigilator demo`: the school a visitor meets, built through the same library call the
//! command makes (against a database of the test's own), every demo account signing in through
//! the emulator's account chooser and getting its role, and a second run starting afresh.

use std::collections::{BTreeMap, BTreeSet};

use invigilator_test_kit as common;

use common::browser::{Browser, RequestBody};
use common::{TestDb, database_url, redis_url};
use invigilator::auth::roles::Role;
use invigilator::config::Config;
use invigilator::demo::{self, new_school, school};
use invigilator::tenancy::{School, begin_school_tx};
use invigilator::web::{self, AppState, HttpLimits};
use reqwest::header::LOCATION;
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sqlx::{Connection, Executor};

/// The demo's own database (`<test database>_demo`), dropped when the test ends — before the
/// test database's own cleanup drops the school roles, which cannot go while it exists.
struct DemoDatabase(String);

impl Drop for DemoDatabase {
    fn drop(&mut self) {
        let name = self.0.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let mut admin = sqlx::PgConnection::connect(&common::admin_url())
                    .await
                    .unwrap();
                admin
                    .execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .await
                    .unwrap();
            });
        });
        let _ = cleanup.join();
    }
}

/// The environment the demo is given: the test's server (as its administrator, as on a
/// developer's machine: the demo makes its own database) and the app's port.
fn demo_env(db: &TestDb, port: u16) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("DATABASE_URL", database_url(&db.name)),
        ("REDIS_URL", redis_url()),
        ("PORT", port.to_string()),
    ])
}

/// The demo's configuration as the command builds it, for a Google at `google`, with school
/// roles (and Redis keys) under the test's own prefix.
fn demo_config(env: &BTreeMap<&'static str, String>, google: &str, prefix: &str) -> Config {
    demo::config::for_google(|name| env.get(name).cloned(), google, prefix).unwrap()
}

/// A fresh demo Google, as `invigilator demo` starts it (on a free port here).
async fn demo_google() -> google_emulator::RunningEmulator {
    let google = google_emulator::start(&google_emulator::Seed::default())
        .await
        .unwrap();
    google.update_settings(|s| s.auto_consent = false);
    google
}

/// Roughly what an HTML attribute value held.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of the first `name="…"` field after `from` in `html`.
fn field<'a>(html: &'a str, from: usize, name: &str) -> Option<(usize, &'a str)> {
    let marker = format!("name=\"{name}\" value=\"");
    let at = from + html[from..].find(&marker)? + marker.len();
    let end = at + html[at..].find('"')?;
    Some((end, &html[at..end]))
}

/// Signs `email` in as a visitor does: the sign-in link, the emulator's account chooser, a
/// click on "Continue" under their account (every box left ticked). Returns the chooser page.
async fn sign_in_by_chooser(browser: &mut Browser, app: &str, email: &str) -> String {
    let chooser = browser.follow(&format!("{app}/auth/login"), None).await;
    assert_eq!(chooser.status, StatusCode::OK, "{}", chooser.body);
    assert!(chooser.url.contains("/o/oauth2/v2/auth"), "{}", chooser.url);
    let html = chooser.body.clone();
    let form = html
        .find(&format!("name=\"email\" value=\"{email}\""))
        .unwrap_or_else(|| panic!("{email} is not in the account chooser"));
    let form_end = form + html[form..].find("</form>").unwrap();
    let (after, request) = field(&html, form, "request").unwrap();
    let mut pairs = vec![
        ("email".to_owned(), email.to_owned()),
        ("request".to_owned(), unescape(request)),
        ("decision".to_owned(), "allow".to_owned()),
    ];
    let mut at = after;
    while let Some((end, scope)) = field(&html, at, "granted").filter(|(end, _)| *end < form_end) {
        pairs.push(("granted".to_owned(), unescape(scope)));
        at = end;
    }
    let approve = url::Url::parse(&chooser.url)
        .unwrap()
        .join("/o/oauth2/v2/auth/approve")
        .unwrap();
    let back = browser
        .request(
            Method::POST,
            approve.as_str(),
            Some(RequestBody::Form(pairs)),
        )
        .await;
    assert!(back.status.is_redirection(), "{}", back.body);
    let callback = back.headers[LOCATION].to_str().unwrap().to_owned();
    assert!(
        callback.starts_with(&format!("{app}/auth/callback?")),
        "{callback}"
    );
    let signed_in = browser.get(&callback).await;
    assert!(
        signed_in.status.is_redirection(),
        "{email}: {} {}",
        signed_in.status,
        signed_in.body
    );
    html
}

async fn count(pool: &sqlx::PgPool, school: &School, sql: &str) -> i64 {
    let mut tx = begin_school_tx(pool, school).await.unwrap();
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    n
}

async fn redis_keys(pattern: &str) -> Vec<String> {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// Six classes of thirty, each with its subject and year group; every portfolio's folder in
/// the Shared Drive, shared with its student as editor; every student with a folder.
async fn assert_school_is_full(
    pool: &sqlx::PgPool,
    riverside: &School,
    google: &google_emulator::Emulator,
) {
    let mut tx = begin_school_tx(pool, riverside).await.unwrap();
    let classes: Vec<(String, Option<String>, Option<i16>, i64)> = sqlx::query_as(
        "SELECT c.name, s.name, c.year_group, \
                (SELECT count(*) FROM enrolments e \
                 WHERE e.course_id = c.id AND e.ended_at IS NULL) \
         FROM courses c LEFT JOIN subjects s ON s.id = c.subject_id \
         WHERE c.active ORDER BY c.name",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let folders: Vec<(String, String)> = sqlx::query_as(
        "SELECT p.drive_folder_id, s.email FROM portfolios p \
         JOIN students s ON s.id = p.student_id WHERE p.drive_folder_id IS NOT NULL",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let mut expected: Vec<(String, Option<String>, Option<i16>, i64)> = school::CLASSES
        .iter()
        .map(|c| {
            let subject = Some(c.subject.to_owned());
            (c.name.to_owned(), subject, Some(c.year), 30)
        })
        .collect();
    expected.sort();
    assert_eq!(classes, expected);

    assert_eq!(folders.len(), 180);
    let in_drive: BTreeMap<String, google_emulator::FileSummary> = google
        .files_in_drive(school::SHARED_DRIVE_ID)
        .into_iter()
        .map(|f| (f.id.clone(), f))
        .collect();
    for (folder, student) in &folders {
        let file = in_drive
            .get(folder)
            .unwrap_or_else(|| panic!("{student}'s folder {folder} is not in the Shared Drive"));
        let direct = (student.clone(), "writer".to_owned());
        assert!(
            file.permissions.contains(&direct),
            "{student}: {:?}",
            file.permissions
        );
    }
    let with_folders: BTreeSet<&String> = folders.iter().map(|(_, s)| s).collect();
    assert_eq!(with_folders.len(), 150, "every student has a folder");
}

/// The second school is as `tenant create --admin-email` leaves it, with one teacher signed
/// in: nothing of its set-up done, for the School Admin's checklist.
async fn assert_school_is_new(pool: &sqlx::PgPool, school: &School) {
    assert_eq!(school.name, "Northfield School");
    let facts = [
        (
            "SELECT count(*) FROM role_invitations WHERE role = 'school_admin'",
            1,
        ),
        ("SELECT count(*) FROM staff", 1),
        ("SELECT count(*) FROM google_credentials", 1),
        ("SELECT count(*) FROM sync_runs", 0),
        ("SELECT count(*) FROM subject_rules", 0),
        ("SELECT count(*) FROM courses", 0),
    ];
    for (sql, expected) in facts {
        assert_eq!(count(pool, school, sql).await, expected, "{sql}");
    }
    let drive: Option<String> =
        sqlx::query_scalar("SELECT shared_drive_id FROM platform.tenants WHERE id = $1")
            .bind(school.id)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(drive, None);
}

/// Serves the app as `invigilator demo` does, and signs every demo account in through the
/// account chooser (which lists the staff before any student): each holds its role and sees
/// the classes it should, and a teacher not another teacher's class.
async fn assert_every_account_signs_in(
    config: &Config,
    services: &invigilator::services::Services,
    listener: tokio::net::TcpListener,
) {
    let state = AppState::new(config, services).unwrap();
    let limits = HttpLimits {
        body_bytes: config.request_body_limit_bytes,
        timeout: config.request_timeout,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let server = tokio::spawn(web::serve(listener, web::router(state, limits), shutdown));
    let app = demo::banner::app_url(config);
    for person in &school::STAFF {
        let mut browser = Browser::new(&app);
        let chooser = sign_in_by_chooser(&mut browser, &app, person.email).await;
        let first_student = chooser.find("value=\"y1").unwrap();
        for staff in &school::STAFF {
            let at = chooser.find(&format!("value=\"{}\"", staff.email)).unwrap();
            assert!(at < first_student, "{} after a student", staff.email);
        }
        let me = browser.get(&format!("{app}/api/me")).await;
        let me: Value = serde_json::from_str(&me.body).unwrap();
        assert_eq!(me["email"], person.email);
        assert_eq!(me["roles"], json!([person.role]), "{}", person.email);

        let classes = browser.get(&format!("{app}/api/classes")).await;
        let classes: Vec<Value> = serde_json::from_str(&classes.body).unwrap();
        let names: BTreeSet<&str> = classes.iter().filter_map(|c| c["name"].as_str()).collect();
        let reach: BTreeSet<&str> = match person.role {
            Role::Teacher => person.classes().map(|c| c.name).collect(),
            Role::HeadOfSubject => school::CLASSES
                .iter()
                .filter(|c| Some(c.subject) == person.subject)
                .map(|c| c.name)
                .collect(),
            _ => school::CLASSES.iter().map(|c| c.name).collect(),
        };
        assert_eq!(names, reach, "{}'s classes", person.email);
    }
    // The new school's first School Admin, invited when it was created, signs in for the first
    // time and is its School Admin.
    let mut browser = Browser::new(&app);
    sign_in_by_chooser(&mut browser, &app, new_school::SCHOOL_ADMIN.email).await;
    let me = browser.get(&format!("{app}/api/me")).await;
    let me: Value = serde_json::from_str(&me.body).unwrap();
    assert_eq!(me["school"]["slug"], "northfield");
    assert_eq!(me["roles"], json!(["school_admin"]));
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_school_is_full_every_account_gets_its_role_and_a_rerun_starts_afresh() {
    let db = TestDb::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let env = demo_env(&db, port);
    let namespace = db.role_prefix.clone();
    let demo_name = format!("{}_demo", db.name);
    let _demo_database = DemoDatabase(demo_name.clone());

    let google = demo_google().await;
    let config = demo_config(&env, &google.url(), &namespace);
    assert!(
        config
            .database_url
            .expose_secret()
            .ends_with(&format!("/{demo_name}")),
        "a database of its own"
    );
    let mut lines = Vec::new();
    let demo::Demo {
        services,
        built,
        running,
        new_school: new,
        ..
    } = demo::prepare(&config, &google, &mut |l| lines.push(l.to_owned()))
        .await
        .unwrap();
    assert!(!lines.is_empty(), "progress is shown");
    let pool = services.db.clone();
    let riverside = &built.school;
    assert_eq!(riverside.name, "Riverside Academy");
    assert_eq!(riverside.workspace_domain, school::DOMAIN);
    assert_eq!(
        (built.classes, built.students, built.portfolio_folders),
        (6, 150, 180)
    );
    assert_school_is_full(&pool, riverside, &google).await;
    assert_school_is_new(&pool, &new).await;

    // While this demo runs (its claim renewed as the command keeps it), a second demo on the
    // same servers stops before touching anything, after waiting out the claim as it would
    // for a demo that was killed.
    let while_running = async {
        let refused = {
            let (env, namespace) = (env.clone(), namespace.clone());
            tokio::spawn(async move {
                let google = demo_google().await;
                let config = demo_config(&env, &google.url(), &namespace);
                let second = demo::prepare(&config, &google, &mut |_| {}).await;
                second.err().map(|e| e.to_string())
            })
        };
        assert_every_account_signs_in(&config, &services, listener).await;
        let refused = refused.await.unwrap().expect("a second demo is refused");
        assert!(refused.contains("another `invigilator demo`"), "{refused}");
        let sessions = redis_keys(&format!("invigilator:{namespace}session:*")).await;
        assert!(!sessions.is_empty(), "the running demo's sessions are kept");
        let invited = count(&pool, riverside, "SELECT count(*) FROM role_invitations").await;
        assert_eq!(invited, 0, "everyone invited has signed in");
    };
    running.hold_while(demo::RUNNING_TTL, while_running).await;
    google.stop().await;

    // Run again, as after a Ctrl-C: one school, and nothing left of the first run.
    let google = demo_google().await;
    let config = demo_config(&env, &google.url(), &namespace);
    let second = demo::prepare(&config, &google, &mut |_| {}).await.unwrap();
    let pool = second.services.db.clone();
    let schools = invigilator::tenancy::list_schools(&pool).await.unwrap();
    assert_eq!(schools.len(), 2, "Riverside and the new school");
    let riverside = &second.built.school;
    assert_school_is_new(&pool, &second.new_school).await;
    assert_school_is_full(&pool, riverside, &google).await;
    // The invitations wait again; only the staff who "signed in" during set-up are known.
    let invited = count(&pool, riverside, "SELECT count(*) FROM role_invitations").await;
    assert_eq!(invited, 3);
    assert_eq!(
        count(&pool, riverside, "SELECT count(*) FROM staff").await,
        4
    );
    let sessions = redis_keys(&format!("invigilator:{namespace}session:*")).await;
    assert!(sessions.is_empty(), "the first run's sessions are gone");
    let mut roles = db.roles().await;
    roles.sort();
    assert_eq!(
        roles,
        [
            format!("{namespace}tenant_northfield"),
            format!("{namespace}tenant_riverside")
        ]
    );

    second.running.release().await;
    google.stop().await;
    let redis = invigilator::redis_client::lazy_connection(&config).unwrap();
    demo::reset::reset_redis(&redis, &namespace).await.unwrap();
}
