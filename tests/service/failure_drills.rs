//! Failure drills for the service as a whole: PostgreSQL restarted under load, Redis restarted
//! and then gone for two minutes, Google unreachable for a minute. Each takes one dependency
//! away behind a TCP proxy of the test kit (the shared servers other tests use are never
//! touched), with the web server and the lock workers running in this process through it, and
//! ends by checking every student's access in Drive (the emulator), that every accepted request
//! was recorded and applied, and that the audit chain is unbroken.

use invigilator_test_kit as common;

use std::time::{Duration, Instant};

use common::browser::{Browser, SignInWorld};
use common::proxy::{TcpProxy, Through};
use common::*;
use google_emulator::Role;
use invigilator::audit;
use invigilator::config::Config;
use invigilator::google::{GoogleClients, RetryPolicy};
use invigilator::jobs;
use invigilator::lease::Leases;
use invigilator::portfolio::lock::{self, Applied};
use invigilator::roster::{self, Trigger};
use invigilator::services::Services;
use invigilator::tenancy::School;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// Students in the drilled class.
const PUPILS: usize = 24;
/// How long Redis stays away in the long Redis drill (the issue asks for two minutes of wall
/// time; the test runs beside the others, so it costs little).
const REDIS_OUTAGE: Duration = Duration::from_secs(120);
/// How long Google stays unreachable.
const GOOGLE_OUTAGE: Duration = Duration::from_secs(60);
/// The longest any request may take: the service's request timeout (30 s) plus a margin.
const REQUEST_BOUND: Duration = Duration::from_secs(35);

/// A signed-in teacher of a synced class with folders, the app and (later) workers reaching
/// their dependencies through the proxies in `through`.
struct Drill {
    w: SignInWorld,
    teacher: Browser,
    csrf: String,
    school: School,
    course: Uuid,
    /// The worker's configuration: the same proxies as the app.
    config: Config,
}

async fn drill(through: Through<'_>) -> Drill {
    let w = SignInWorld::with_seed_through(google_seed(PUPILS), through).await;
    let mut teacher = w.browser();
    assert_eq!(
        w.sign_in(&mut teacher, TEACHER).await.status,
        StatusCode::OK
    );
    let me: Value = serde_json::from_str(&teacher.get(&w.url("/api/me")).await.body).unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let school = w.school().await;
    // Set-up talks to Google and the database directly, before any drill begins.
    let direct = w.db.config(&[("GOOGLE_API_BASE_URL", &w.emu.url())]);
    let redis = invigilator::redis_client::lazy_connection(&direct).unwrap();
    let google = GoogleClients::new(&direct, w.db.pool.clone(), redis.clone())
        .unwrap()
        .with_retry_policy(RetryPolicy::quick());
    let leases = Leases::new(redis).namespaced(&w.db.role_prefix);
    connect_drive_operator(&w.db, &w.emu, &school, OPERATOR).await;
    sqlx::query("UPDATE platform.tenants SET shared_drive_id = $1 WHERE id = $2")
        .bind(SHARED_DRIVE)
        .bind(school.id)
        .execute(&w.db.pool)
        .await
        .unwrap();
    roster::sync_school(&w.db.pool, &google, &leases, &school, Trigger::Cli)
        .await
        .unwrap();
    let made = invigilator::portfolio::provision(&w.db.pool, &google, &school, SHARED_DRIVE)
        .await
        .unwrap();
    assert_eq!(made.portfolio_folders as usize, PUPILS, "{:?}", made.errors);
    let course = sqlx::query_scalar("SELECT id FROM tenant_hillside.courses")
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    let (database, redis, google) = through.urls(&w.db, &w.emu.url());
    let config = w.db.config(&[
        ("DATABASE_URL", &database),
        ("REDIS_URL", &redis),
        ("GOOGLE_API_BASE_URL", &google),
    ]);
    Drill {
        w,
        teacher,
        csrf,
        school,
        course,
        config,
    }
}

/// Runs a drill on a runtime whose threads have room: a whole service, its workers and the
/// Google crates' large futures in one debug-built process overflow a test thread's 2 MiB.
fn on_a_large_stack<F: Future<Output = ()> + Send + 'static>(drill: fn() -> F) {
    const STACK: usize = 16 << 20;
    let thread = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_stack_size(STACK)
                .enable_all()
                .build()
                .unwrap()
                .block_on(drill());
        })
        .unwrap();
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Lock workers running in this process, as `invigilator work` runs them.
struct Workers {
    services: Services,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), jobs::JobError>>,
}

impl Drill {
    fn start_workers(&self) -> Workers {
        let services = Services::connect(&self.config, 5).unwrap();
        let google = services.google.with_retry_policy(RetryPolicy::quick());
        let services = services.with_google(google);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(jobs::run_workers(services.clone(), 2, async {
            let _ = stopped.await;
        }));
        Workers {
            services,
            stop,
            task,
        }
    }

    /// The teacher's request, bounded in time: no request may hang past the service's timeout.
    async fn request(&mut self, method: Method, path: &str) -> (StatusCode, String) {
        let url = self.w.url(path);
        let body = (method == Method::POST)
            .then(|| common::browser::RequestBody::Json(json!({}), Some(self.csrf.clone())));
        let started = Instant::now();
        let page = tokio::time::timeout(REQUEST_BOUND, self.teacher.request(method, &url, body))
            .await
            .unwrap_or_else(|_| panic!("{path} hung past the request timeout"));
        assert!(started.elapsed() < REQUEST_BOUND, "{path}");
        (page.status, page.body)
    }

    async fn portfolios(&self) -> Vec<(Uuid, String, String)> {
        sqlx::query_as(
            "SELECT p.id, s.email, p.drive_folder_id FROM tenant_hillside.portfolios p \
             JOIN tenant_hillside.students s ON s.id = p.student_id ORDER BY s.email",
        )
        .fetch_all(&self.w.db.pool)
        .await
        .unwrap()
    }

    async fn unapplied(&self) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM tenant_hillside.portfolios \
             WHERE applied_version < desired_version",
        )
        .fetch_one(&self.w.db.pool)
        .await
        .unwrap()
    }

    /// Waits for every request to reach Drive, running the timer's sweep (without waiting for
    /// its tick) so that whatever a lost queue or a dropped job left behind is queued again.
    async fn wait_until_applied(&self, workers: &Workers, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if self.unapplied().await == 0 {
                return;
            }
            if Instant::now() >= deadline {
                let rows: Vec<(i64, i64, i32, bool, Option<String>)> = sqlx::query_as(
                    "SELECT desired_version, applied_version, attempts, failed_permanently, \
                     last_error FROM tenant_hillside.portfolios \
                     WHERE applied_version < desired_version LIMIT 5",
                )
                .fetch_all(&self.w.db.pool)
                .await
                .unwrap();
                panic!("not all applied: {rows:?}");
            }
            let s = &workers.services;
            let _ = jobs::sweep(&s.db, &s.leases, &s.queues, Duration::ZERO).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The drill's verdict: every student is a reader of their folder; each portfolio got
    /// exactly one `requested` entry per accepted request (`accepted`) — no request lost, none
    /// doubled — and at least one `applied`; nothing failed for good; the chain is whole.
    async fn assert_all_locked(&self, accepted: &std::collections::HashMap<Uuid, i64>) {
        for (id, email, folder) in self.portfolios().await {
            assert_eq!(
                self.w.emu.access(&folder, &email),
                Some(Role::Reader),
                "{email}"
            );
            let (requested, applied): (i64, i64) = sqlx::query_as(
                "SELECT count(*) FILTER (WHERE action = 'portfolio.lock.requested'), \
                        count(*) FILTER (WHERE action = 'portfolio.lock.applied') \
                 FROM tenant_hillside.audit_log WHERE target_id = $1",
            )
            .bind(id.to_string())
            .fetch_one(&self.w.db.pool)
            .await
            .unwrap();
            let expected = accepted.get(&id).copied().unwrap_or(0);
            assert!(
                requested >= expected,
                "{email}: {expected} accepted, {requested} recorded"
            );
            assert!(applied >= 1, "{email}: never applied");
        }
        let failed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM tenant_hillside.portfolios WHERE failed_permanently",
        )
        .fetch_one(&self.w.db.pool)
        .await
        .unwrap();
        assert_eq!(failed, 0, "a passing outage failed a request for good");
        let chain = audit::verify(&self.w.db.pool, &self.school).await.unwrap();
        assert_eq!(chain.first_break, None);
    }

    async fn readyz(&self) -> (StatusCode, Duration) {
        let started = Instant::now();
        let answer = tokio::time::timeout(
            REQUEST_BOUND,
            http_client().get(self.w.url("/readyz")).send(),
        )
        .await
        .expect("/readyz hung")
        .unwrap();
        (answer.status(), started.elapsed())
    }

    async fn wait_ready(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while self.readyz().await.0 != StatusCode::OK {
            assert!(Instant::now() < deadline, "/readyz never came back to 200");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Workers {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

#[test]
fn postgresql_restarted_under_load_loses_no_lock_and_hangs_no_request() {
    on_a_large_stack(postgresql_drill);
}

async fn postgresql_drill() {
    let mut postgres = TcpProxy::for_url(&admin_url(), 5432).await;
    let mut d = drill(Through {
        database: Some(&postgres),
        ..Through::default()
    })
    .await;
    let workers = d.start_workers();
    let portfolios = d.portfolios().await;
    let mut accepted = std::collections::HashMap::new();
    let mut refused = 0;
    let mut saw_not_ready = false;
    let mut restored_at = None;

    // The load: a lock request per student, one after another, with readiness probed between
    // them; PostgreSQL goes away a third of the way in and comes back two thirds in.
    for (i, (id, _, _)) in portfolios.iter().enumerate() {
        if i == PUPILS / 3 {
            postgres.cut().await;
            // Down long enough for every probe and request to notice.
            for _ in 0..3 {
                let (status, took) = d.readyz().await;
                assert!(took < Duration::from_secs(5), "/readyz took {took:?}");
                saw_not_ready |= status == StatusCode::SERVICE_UNAVAILABLE;
            }
        }
        if i == 2 * PUPILS / 3 {
            postgres.restore().await;
            restored_at = Some(Instant::now());
        }
        let (status, body) = d
            .request(Method::POST, &format!("/api/portfolios/{id}/lock"))
            .await;
        match status {
            StatusCode::ACCEPTED => *accepted.entry(*id).or_insert(0) += 1,
            // Told to try again, in the one error shape: an outage, not our bug.
            StatusCode::SERVICE_UNAVAILABLE => {
                let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(answer["error"]["code"], "unavailable", "{body}");
                refused += 1;
            }
            s => panic!("{s}: {body}"),
        }
    }
    assert!(saw_not_ready, "/readyz never said the database was gone");
    assert!(refused > 0, "the outage refused nothing: it tested nothing");
    // The service was never restarted: it is ready again once its pool reconnects.
    d.wait_ready(Duration::from_secs(30)).await;
    eprintln!(
        "ready again {:?} after the restore",
        restored_at.unwrap().elapsed()
    );

    // The teacher asks again for those refused, as the page tells them to.
    for (id, _, _) in &portfolios {
        if !accepted.contains_key(id) {
            let (status, body) = d
                .request(Method::POST, &format!("/api/portfolios/{id}/lock"))
                .await;
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
            *accepted.entry(*id).or_insert(0) += 1;
        }
    }
    d.wait_until_applied(&workers, Duration::from_secs(60))
        .await;
    assert!(!workers.task.is_finished(), "the workers survived");
    workers.stop().await;
    d.assert_all_locked(&accepted).await;
}

/// What a Redis restart without persistence does to this deployment: everything under its
/// namespace (queues, sessions, caches, leases) is gone. Other tests' keys are left alone.
async fn lose_redis_state(d: &Drill) {
    let direct = invigilator::redis_client::lazy_connection(&d.w.db.config(&[])).unwrap();
    invigilator::redis_client::delete_matching(
        &direct,
        &format!("invigilator:{}*", d.w.db.role_prefix),
    )
    .await
    .unwrap();
}

#[test]
fn redis_restarted_and_then_gone_for_two_minutes_loses_nothing() {
    on_a_large_stack(redis_drill);
}

async fn redis_drill() {
    let mut redis = TcpProxy::for_url(&redis_url(), 6379).await;
    let mut d = drill(Through {
        redis: Some(&redis),
        ..Through::default()
    })
    .await;
    let workers = d.start_workers();
    let portfolios = d.portfolios().await;
    let mut accepted = std::collections::HashMap::new();
    let course = d.course;
    let (status, body) = d
        .request(Method::POST, &format!("/api/classes/{course}/lock"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    for (id, _, _) in &portfolios {
        accepted.insert(*id, 1);
    }

    // A restart: every connection cut, everything of ours in Redis lost, then back.
    redis.cut().await;
    lose_redis_state(&d).await;
    redis.restore().await;
    d.wait_ready(Duration::from_secs(30)).await;
    // The session went with Redis: the teacher is asked to sign in again, and can.
    let (status, _) = d.request(Method::GET, "/api/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut teacher = d.w.browser();
    assert_eq!(
        d.w.sign_in(&mut teacher, TEACHER).await.status,
        StatusCode::OK
    );
    let me: Value = serde_json::from_str(&teacher.get(&d.w.url("/api/me")).await.body).unwrap();
    d.csrf = me["csrf_token"].as_str().unwrap().to_owned();
    d.teacher = teacher;
    // The lost queue: the sweeper queues the class again and the running workers apply it.
    d.wait_until_applied(&workers, Duration::from_secs(60))
        .await;

    // Now Redis is gone for two minutes, with a request recorded in the middle of it (by a
    // worker or the window scheduler: the web pages need Redis for their sessions).
    redis.cut().await;
    let gone = Instant::now();
    let (status, took) = d.readyz().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(took < Duration::from_secs(5), "/readyz took {took:?}");
    // Asked with the teacher's session cookie too: the probe does not look for sessions.
    let (status, _) = d.request(Method::GET, "/healthz").await;
    assert_eq!(status, StatusCode::OK, "the process itself stays up");
    // A signed-in request cannot find its session: told to try again, never a hang, never
    // taken for signed out.
    let (status, body) = d.request(Method::GET, "/api/me").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("\"unavailable\""), "{body}");
    let (status, page) = d.request(Method::GET, "/classes").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.contains("Invigilator is not available just now"),
        "{page}"
    );
    let (unlock_requested, unlocked) = {
        let mut tx = invigilator::tenancy::begin_school_tx(&d.w.db.pool, &d.school)
            .await
            .unwrap();
        let requested = lock::request_class(
            &mut tx,
            &invigilator::audit::Actor::System("drill"),
            course,
            lock::LockState::Unlocked,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let pairs: Vec<(Uuid, i64)> = requested
            .iter()
            .map(|r| (r.portfolio_id, r.version))
            .collect();
        // Queueing fails (Redis is gone) within its timeouts; the request stays recorded.
        let queued = tokio::time::timeout(
            REQUEST_BOUND,
            jobs::enqueue_locks(&workers.services.queues.locks, d.school.id, &pairs),
        )
        .await
        .expect("queueing hung");
        (pairs.len(), queued.is_ok())
    };
    assert_eq!(unlock_requested, PUPILS);
    assert!(!unlocked, "queued with Redis gone?");
    tokio::time::sleep(REDIS_OUTAGE.saturating_sub(gone.elapsed())).await;
    redis.restore().await;
    d.wait_ready(Duration::from_secs(30)).await;
    // Job workers that keep failing for two minutes stop the process on purpose, so that
    // Cloud Run starts a fresh one: if that happened here, start one as Cloud Run would.
    let workers = if workers.task.is_finished() {
        let ended = workers.task.await.unwrap();
        assert!(
            matches!(ended, Err(jobs::JobError::WorkersGaveUp(_))),
            "{ended:?}"
        );
        eprintln!("the workers gave up during the outage; a new process takes over");
        d.start_workers()
    } else {
        workers
    };
    d.wait_until_applied(&workers, Duration::from_secs(90))
        .await;
    for (_, email, folder) in &portfolios {
        assert_eq!(d.w.emu.access(folder, email), Some(Role::Writer), "{email}");
    }

    // And locking works again from the dashboard.
    let (status, body) = d
        .request(Method::POST, &format!("/api/classes/{course}/lock"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    for id in accepted.values_mut() {
        *id += 1;
    }
    d.wait_until_applied(&workers, Duration::from_secs(60))
        .await;
    workers.stop().await;
    d.assert_all_locked(&accepted).await;
}

#[test]
fn google_unreachable_for_a_minute_fails_fast_shows_on_the_dashboard_and_catches_up() {
    on_a_large_stack(google_drill);
}

async fn google_drill() {
    let mut d = drill(Through::default()).await;
    // The workers reach Google through the proxy; the pages need no Google to show a class.
    let mut google = TcpProxy::for_url(&d.w.emu.url(), 80).await;
    d.config =
        d.w.db
            .config(&[("GOOGLE_API_BASE_URL", &google.url(&d.w.emu.url()))]);
    let workers = d.start_workers();
    let portfolios = d.portfolios().await;
    let course = d.course;

    google.cut().await;
    let gone = Instant::now();
    // Asking never waits for Google.
    let (status, body) = d
        .request(Method::POST, &format!("/api/classes/{course}/lock"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(gone.elapsed() < Duration::from_secs(5));
    let accepted: std::collections::HashMap<Uuid, i64> =
        portfolios.iter().map(|(id, _, _)| (*id, 1)).collect();

    // A handful of unanswered calls open the circuit...
    let s = &workers.services;
    while s.google.unavailable_hosts().is_empty() {
        assert!(
            gone.elapsed() < Duration::from_secs(30),
            "the circuit never opened"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("circuit open {:?} after Google went", gone.elapsed());
    // ...and from then on a call fails at once instead of waiting out timeouts and retries.
    // (On a task of its own: the Google crates' futures are too large for the test's stack.)
    let (google_clients, school, db, redis) = (
        s.google.clone(),
        d.school.clone(),
        s.db.clone(),
        s.redis.clone(),
    );
    let first = portfolios[0].0;
    tokio::spawn(async move {
        let drive = google_clients.drive(&school).await.unwrap();
        let started = Instant::now();
        let refused = drive.shared_drive(SHARED_DRIVE).await.unwrap_err();
        assert!(
            matches!(
                refused,
                invigilator::google::GoogleError::Unavailable { .. }
            ),
            "{refused:?}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        // A lock job does the same: it waits, without counting as a failed attempt.
        let started = Instant::now();
        let leases = Leases::new(redis).namespaced("drill-only-");
        let outcome = lock::apply(&db, &google_clients, &leases, &school, first)
            .await
            .unwrap();
        assert!(matches!(outcome, Applied::Deferred(_)), "{outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
    })
    .await
    .unwrap();

    // The class page says Google is unavailable, and that nothing needs asking twice.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, page) = d.request(Method::GET, &format!("/classes/{course}")).await;
        assert_eq!(status, StatusCode::OK);
        if page.contains("data-google-unavailable") {
            assert!(page.contains("Google is not answering at the moment"));
            break;
        }
        assert!(Instant::now() < deadline, "the page never said so: {page}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    tokio::time::sleep(GOOGLE_OUTAGE.saturating_sub(gone.elapsed())).await;
    let failed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tenant_hillside.portfolios WHERE failed_permanently",
    )
    .fetch_one(&d.w.db.pool)
    .await
    .unwrap();
    assert_eq!(
        failed, 0,
        "a minute without Google failed requests for good"
    );
    assert!(d.unapplied().await > 0);

    google.restore().await;
    let back = Instant::now();
    d.wait_until_applied(&workers, Duration::from_secs(60))
        .await;
    eprintln!("caught up {:?} after Google came back", back.elapsed());
    assert!(
        s.google.unavailable_hosts().is_empty(),
        "the circuit closed"
    );
    let (_, page) = d.request(Method::GET, &format!("/classes/{course}")).await;
    assert!(!page.contains("data-google-unavailable"));
    workers.stop().await;
    d.assert_all_locked(&accepted).await;
}
