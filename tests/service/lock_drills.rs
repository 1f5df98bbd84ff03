//! Reliability drills for the lock pipeline: a flaky Drive, a Redis that loses everything, and a
//! worker process killed mid-cohort. Each ends by checking, in the emulator, the Drive access of
//! every student, exactly one "applied" audit entry per request, and an unbroken audit chain.

use invigilator_test_kit as common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use google_emulator::{FaultKind, FaultPlan, Role};
use invigilator::audit::{self, Actor};
use invigilator::jobs;
use invigilator::lease::Leases;
use invigilator::portfolio::lock::{self, LockState};
use invigilator::roster::{self, Trigger};
use invigilator::tenancy::{School, begin_school_tx};
use uuid::Uuid;

/// A class of `pupils`, synced and given folders, ready to lock.
async fn cohort(pupils: usize) -> GoogleWorld {
    let w = GoogleWorld::new(pupils).await;
    w.connect_teacher().await;
    let redis = invigilator::redis_client::lazy_connection(&w.config).unwrap();
    roster::sync_school(
        &w.db.pool,
        &w.clients,
        &Leases::new(redis),
        &w.school,
        Trigger::Cli,
    )
    .await
    .unwrap();
    let report = invigilator::portfolio::provision(&w.db.pool, &w.clients, &w.school, SHARED_DRIVE)
        .await
        .unwrap();
    assert_eq!(
        report.portfolio_folders as usize, pupils,
        "{:?}",
        report.errors
    );
    w
}

/// Leases the whole class, as the dashboard does: requests committed, then queued.
async fn lock_class(w: &GoogleWorld, school: &School, queue: &jobs::LockQueue) -> usize {
    let mut tx = begin_school_tx(&w.db.pool, school).await.unwrap();
    let course: Uuid = sqlx::query_scalar("SELECT id FROM courses")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let requested =
        lock::request_class(&mut tx, &Actor::System("drill"), course, LockState::Locked)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    let pairs: Vec<(Uuid, i64)> = requested
        .iter()
        .map(|r| (r.portfolio_id, r.version))
        .collect();
    jobs::enqueue_locks(queue, school.id, &pairs).await.unwrap();
    pairs.len()
}

async fn unapplied(w: &GoogleWorld) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM tenant_hillside.portfolios WHERE applied_version < desired_version",
    )
    .fetch_one(&w.db.pool)
    .await
    .unwrap()
}

async fn wait_until_applied(w: &GoogleWorld, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = unapplied(w).await;
        if left == 0 {
            return;
        }
        if Instant::now() >= deadline {
            let rows: Vec<(i64, i64, i32, bool, Option<String>)> = sqlx::query_as(
                "SELECT desired_version, applied_version, attempts, failed_permanently, last_error \
                 FROM tenant_hillside.portfolios WHERE applied_version < desired_version LIMIT 5",
            )
            .fetch_all(&w.db.pool)
            .await
            .unwrap();
            panic!("{left} locks still not applied: {rows:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The drill's verdict: every student is a reader of their folder, each request was applied
/// exactly once in the log, and the log's chain is whole.
async fn assert_all_locked(w: &GoogleWorld, pupils: usize) {
    let folders: Vec<(String, String)> = sqlx::query_as(
        "SELECT s.email, p.drive_folder_id FROM tenant_hillside.portfolios p \
         JOIN tenant_hillside.students s ON s.id = p.student_id",
    )
    .fetch_all(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(folders.len(), pupils);
    for (email, folder) in &folders {
        assert_eq!(w.emu.access(folder, email), Some(Role::Reader), "{email}");
    }
    let applied: Vec<(String, i64)> = sqlx::query_as(
        "SELECT target_id, count(*) FROM tenant_hillside.audit_log \
         WHERE action = 'portfolio.lock.applied' GROUP BY target_id",
    )
    .fetch_all(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(applied.len(), pupils, "one applied entry per portfolio");
    assert!(applied.iter().all(|(_, n)| *n == 1), "{applied:?}");
    let chain = audit::verify(&w.db.pool, &w.school).await.unwrap();
    assert_eq!(chain.first_break, None);
}

#[tokio::test]
async fn every_lock_lands_through_server_errors_and_quota_answers() {
    let pupils = 60;
    let w = cohort(pupils).await;
    w.emu.reset_stats();
    w.emu.set_faults(
        "*",
        FaultPlan {
            probabilities: [(FaultKind::Error503, 0.10), (FaultKind::Error429, 0.05)].into(),
            ..FaultPlan::default()
        },
    );
    let ctx = services(&w.db, &w.config, &w.clients);
    lock_class(&w, &w.school, &ctx.queues.locks).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let workers = tokio::spawn(jobs::run_workers(ctx, 2, async {
        let _ = stopped.await;
    }));
    wait_until_applied(&w, Duration::from_secs(60)).await;
    let _ = stop.send(());
    workers.await.unwrap().unwrap();

    let stats = w.emu.stats();
    let refused: u64 = stats.calls["drive.permissions.update"]
        .iter()
        .filter(|(status, _)| **status >= 429)
        .map(|(_, n)| n)
        .sum();
    assert!(refused > 0, "the drill injected faults: {:?}", stats.calls);
    assert_all_locked(&w, pupils).await;
}

#[tokio::test]
async fn a_redis_that_loses_everything_loses_no_lock() {
    let pupils = 40;
    let w = cohort(pupils).await;
    // A Redis database of this test's own, so wiping it touches no other test.
    let db_index = 1 + (std::process::id() % 14);
    let url = format!("{}/{db_index}", redis_url().trim_end_matches('/'));
    let namespace = format!("{}flush_", w.db.role_prefix);
    let config = w.db.config(&[
        ("GOOGLE_API_BASE_URL", &w.emu.url()),
        ("REDIS_URL", &url),
        ("TENANT_ROLE_PREFIX", &namespace),
    ]);
    let ctx = services(&w.db, &config, &w.clients);
    let (redis, queues) = (ctx.redis.clone(), ctx.queues.clone());
    let queue = queues.locks.clone();
    // Slow enough that the wipe lands mid-cohort.
    w.emu.set_faults(
        "drive.permissions.update",
        FaultPlan {
            latency_ms: 40,
            ..FaultPlan::default()
        },
    );
    lock_class(&w, &w.school, &queue).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let workers = tokio::spawn(jobs::run_workers(ctx, 1, async {
        let _ = stopped.await;
    }));
    while unapplied(&w).await > (pupils as i64) * 3 / 4 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut conn = redis.clone();
    let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();
    assert!(
        unapplied(&w).await > 0,
        "the wipe came too late to test anything"
    );

    // The timer's sweep, without waiting for its tick: the lost requests are queued again and
    // the same worker, still running, applies them.
    let sweeper = Leases::new(redis.clone()).namespaced(&namespace);
    let deadline = Instant::now() + Duration::from_secs(60);
    while unapplied(&w).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the sweeper did not finish the job"
        );
        jobs::sweep(&w.db.pool, &sweeper, &queues, Duration::ZERO)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(!workers.is_finished(), "the worker survived the wipe");
    let _ = stop.send(());
    workers.await.unwrap().unwrap();
    let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();
    assert_all_locked(&w, pupils).await;
}

fn spawn_worker(w: &GoogleWorld) -> std::process::Child {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::process::Command::new(env!("CARGO_BIN_EXE_invigilator"))
        .args(["work", "--concurrency", "4"])
        .env_clear()
        .envs(w.db.env())
        .env("GOOGLE_API_BASE_URL", w.emu.url())
        .env("PORT", port.to_string())
        .env("LOCK_SWEEP_AFTER_SECS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn a_worker_killed_mid_cohort_is_replaced_and_nothing_is_lost() {
    let pupils = 300;
    let w = cohort(pupils).await;
    w.emu.set_faults(
        "drive.permissions.update",
        FaultPlan {
            latency_ms: 20,
            ..FaultPlan::default()
        },
    );
    let redis = invigilator::redis_client::lazy_connection(&w.config).unwrap();
    let queue = jobs::lock_queue(redis, &w.db.role_prefix);
    let mut first = spawn_worker(&w);
    lock_class(&w, &w.school, &queue).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    while unapplied(&w).await > (pupils as i64) * 2 / 3 {
        assert!(
            Instant::now() < deadline,
            "the first worker applied nothing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // kill -9: no drain, jobs in flight are simply gone.
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        unapplied(&w).await > 0,
        "the kill came too late to test anything"
    );

    let mut second = spawn_worker(&w);
    // Within a timer tick (30 s) the sweeper has queued what the killed process held.
    let applied = tokio::spawn(async move {
        wait_until_applied(&w, Duration::from_secs(90)).await;
        w
    })
    .await;
    second.kill().unwrap();
    second.wait().unwrap();
    let w = applied.expect("all applied after the restart");
    assert_all_locked(&w, pupils).await;
}

/// Hillside's world again for a second school, Riverside: its own domain, teacher, pupils,
/// class, Shared Drive and Drive operator.
fn riverside_seed(pupils: usize) -> google_emulator::Seed {
    let json = serde_json::to_string(&google_seed(pupils))
        .unwrap()
        .replace("hillside", "riverside")
        .replace("500000000001", "600000000001")
        .replace(SHARED_DRIVE, RIVERSIDE_DRIVE);
    let mut seed: google_emulator::Seed = serde_json::from_str(&json).unwrap();
    seed.clients.clear();
    seed
}

const RIVERSIDE_DRIVE: &str = "0ARiverside";

async fn riverside_unapplied(w: &GoogleWorld) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM tenant_riverside.portfolios WHERE applied_version < desired_version",
    )
    .fetch_one(&w.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn two_schools_locking_at_once_each_use_their_own_credential_and_limit() {
    use invigilator::google::credentials::{Purpose, save_oauth};
    let pupils = 40;
    let w = cohort(pupils).await;
    w.emu.apply_seed(&riverside_seed(pupils)).unwrap();
    let riverside = w.db.school("riverside").await;
    let operator = "drive.operator@riverside.sch.uk";
    let teacher = "ada.lovelace@riverside.sch.uk";
    for (email, purpose, scopes) in [
        (
            operator,
            Purpose::DriveOperator,
            vec![DRIVE_SCOPE.to_owned()],
        ),
        (
            teacher,
            Purpose::SignIn,
            TEACHER_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        ),
    ] {
        let staff = add_google_staff(&w.db, &riverside, &w.emu, email).await;
        let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let refresh = w
            .emu
            .issue_refresh_token(email, &scope_refs, "invigilator-local")
            .unwrap();
        let mut tx = begin_school_tx(&w.db.pool, &riverside).await.unwrap();
        save_oauth(
            &mut tx,
            &w.config.token_keys,
            staff,
            purpose,
            email,
            &scopes,
            &secrecy::SecretString::from(refresh),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let redis = invigilator::redis_client::lazy_connection(&w.config).unwrap();
    let leases = Leases::new(redis.clone()).namespaced(&w.db.role_prefix);
    roster::sync_school(&w.db.pool, &w.clients, &leases, &riverside, Trigger::Cli)
        .await
        .unwrap();
    let made =
        invigilator::portfolio::provision(&w.db.pool, &w.clients, &riverside, RIVERSIDE_DRIVE)
            .await
            .unwrap();
    assert_eq!(made.portfolio_folders as usize, pupils, "{:?}", made.errors);

    // Google allows each Drive operator 5 calls a second; each school's limiter is set to that.
    w.emu.set_quotas(google_emulator::Quotas {
        per_user_per_second: Some(5.0),
        per_project_per_second: None,
    });
    w.emu.reset_stats();
    let config = w.db.config(&[
        ("GOOGLE_API_BASE_URL", &w.emu.url()),
        ("GOOGLE_REQUESTS_PER_SECOND", "5"),
    ]);
    let google = invigilator::google::GoogleClients::new(&config, w.db.pool.clone(), redis.clone())
        .unwrap()
        .with_retry_policy(invigilator::google::RetryPolicy::quick());
    let ctx = services(&w.db, &config, &google);
    let queue = ctx.queues.locks.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let workers = tokio::spawn(jobs::run_workers(ctx, 4, async {
        let _ = stopped.await;
    }));

    let started = Instant::now();
    lock_class(&w, &w.school, &queue).await;
    lock_class(&w, &riverside, &queue).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut hillside_done, mut riverside_done) = (None, None);
    while hillside_done.is_none() || riverside_done.is_none() {
        assert!(Instant::now() < deadline, "not all applied");
        if hillside_done.is_none() && unapplied(&w).await == 0 {
            hillside_done = Some(started.elapsed());
        }
        if riverside_done.is_none() && riverside_unapplied(&w).await == 0 {
            riverside_done = Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("done after: hillside {hillside_done:?}, riverside {riverside_done:?}");
    let elapsed = started.elapsed();
    let _ = stop.send(());
    workers.await.unwrap().unwrap();

    // Each operator stayed inside Google's per-user quota: nothing was refused.
    let stats = w.emu.stats();
    let refused: u64 = stats.calls["drive.permissions.update"]
        .iter()
        .filter(|(status, _)| **status != 200)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(refused, 0, "{:?}", stats.calls);
    // Side by side, each at its own quota's pace (40 calls at 5/s: 8 s), the second school not
    // queued behind the first (a first-come-first-served queue took 12.4 s).
    assert!(elapsed < Duration::from_millis(10_500), "took {elapsed:?}");

    assert_all_locked(&w, pupils).await;
    let folders: Vec<(String, String)> = sqlx::query_as(
        "SELECT s.email, p.drive_folder_id FROM tenant_riverside.portfolios p \
         JOIN tenant_riverside.students s ON s.id = p.student_id",
    )
    .fetch_all(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(folders.len(), pupils);
    for (email, folder) in &folders {
        assert!(email.ends_with("@riverside.sch.uk"));
        assert_eq!(w.emu.access(folder, email), Some(Role::Reader), "{email}");
    }
    assert_eq!(
        audit::verify(&w.db.pool, &riverside)
            .await
            .unwrap()
            .first_break,
        None
    );
    // Neither school's log mentions the other's portfolios.
    let crossed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tenant_hillside.audit_log a \
         JOIN tenant_riverside.portfolios p ON a.target_id = p.id::text",
    )
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(crossed, 0);
}
