//! The audit log: one unbroken chain under many writers, tampering found by verify (the newest
//! entries deleted included, against the head anchored outside the school's schema), the daily
//! verify of every school, and a settings change never saved without its entry.

use invigilator_test_kit as common;

use common::browser::{ADMIN, RequestBody, SignInWorld};
use common::{TestDb, database_url, invigilator};
use invigilator::audit::anchor::{self, Anchoring};
use invigilator::audit::{self, Action, Actor, AuditEntry, BreakKind, Target};
use invigilator::tenancy::begin_school_tx;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};

#[tokio::test]
async fn two_hundred_concurrent_writers_make_one_unbroken_chain() {
    let db = TestDb::with_pool_size(20).await;
    let school = db.school("alder").await;
    let mut writers = tokio::task::JoinSet::new();
    for i in 0..200 {
        let pool = db.pool.clone();
        let school = school.clone();
        writers.spawn(async move {
            let mut tx = begin_school_tx(&pool, &school).await.unwrap();
            audit::record(
                &mut tx,
                &Actor::System("test"),
                Action::LockRequested,
                Some(&Target::new("portfolio", i)),
                json!({"version": i, "nested": {"b": 1, "a": [i, "x"]}}),
            )
            .await
            .unwrap();
            tx.commit().await.unwrap();
        });
    }
    writers.join_all().await;
    let result = audit::verify(&db.pool, &school).await.unwrap();
    assert_eq!(result.entries, 200);
    assert_eq!(result.first_break, None);
}

#[tokio::test]
async fn changes_made_behind_the_triggers_are_found() {
    let db = TestDb::new().await;
    let school = db.school("alder").await;
    for i in 0..5 {
        let mut tx = begin_school_tx(&db.pool, &school).await.unwrap();
        audit::record(
            &mut tx,
            &Actor::System("test"),
            Action::SyncRequested,
            Some(&Target::new("thing", i)),
            json!({"i": i}),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let ok = invigilator(&db, &["audit", "verify", "alder"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("audit log intact (5 entries)"));

    // A superuser switches the triggers off and edits an entry.
    let mut superuser = PgConnection::connect(&database_url(&db.name))
        .await
        .unwrap();
    superuser
        .execute("SET session_replication_role = replica")
        .await
        .unwrap();
    let third: i64 =
        sqlx::query_scalar("SELECT id FROM tenant_alder.audit_log ORDER BY id OFFSET 2 LIMIT 1")
            .fetch_one(&mut superuser)
            .await
            .unwrap();
    sqlx::query("UPDATE tenant_alder.audit_log SET details = '{\"i\": 99}' WHERE id = $1")
        .bind(third)
        .execute(&mut superuser)
        .await
        .unwrap();
    let result = audit::verify(&db.pool, &school).await.unwrap();
    let broken = result.first_break.expect("the edit is found");
    assert_eq!(broken.entry_id, third);
    assert!(broken.reason.contains("changed"), "{}", broken.reason);
    let cli = invigilator(&db, &["audit", "verify", "alder"]);
    assert_eq!(cli.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&cli.stderr).contains(&format!("broken at entry {third}")),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );

    // Put it back, then delete an entry instead: the next one no longer follows.
    sqlx::query("UPDATE tenant_alder.audit_log SET details = '{\"i\": 2}' WHERE id = $1")
        .bind(third)
        .execute(&mut superuser)
        .await
        .unwrap();
    assert_eq!(
        audit::verify(&db.pool, &school).await.unwrap().first_break,
        None
    );
    sqlx::query("DELETE FROM tenant_alder.audit_log WHERE id = $1")
        .bind(third)
        .execute(&mut superuser)
        .await
        .unwrap();
    let broken = audit::verify(&db.pool, &school)
        .await
        .unwrap()
        .first_break
        .unwrap();
    assert!(broken.entry_id > third);
    assert!(
        broken.reason.contains("removed or reordered"),
        "{}",
        broken.reason
    );

    let unknown = invigilator(&db, &["audit", "verify", "nosuchschool"]);
    assert_eq!(unknown.status.code(), Some(2));
}

/// Log lines written on this test's thread while its guard lives, as JSON, for asserting what
/// operators would see. Tests run on a current-thread runtime, so their events come from their
/// own thread.
///
/// One subscriber serves the whole test binary, installed once and never changed, and writes
/// only for threads that are capturing: tests that each set and dropped a subscriber of their
/// own raced in tracing's global level filter (one test's drop could recompute it without the
/// other's subscriber and switch its events off), and the error line a test waited for never
/// came.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

thread_local! {
    /// Where this thread's log lines go while it captures.
    static CAPTURING: std::cell::RefCell<Option<Logs>> = const { std::cell::RefCell::new(None) };
}

/// The writer of the binary's one subscriber: this thread's capture, if any.
struct ThisThreadsCapture;

impl std::io::Write for ThisThreadsCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURING.with(|c| match c.borrow_mut().as_mut() {
            Some(logs) => logs.write(buf),
            None => Ok(buf.len()),
        })
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Ends this thread's capture when dropped.
struct CaptureGuard;

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CAPTURING.with(|c| c.borrow_mut().take());
    }
}

impl Logs {
    fn capture() -> (Self, CaptureGuard) {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::{Layer, filter};
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            // Formats only on a capturing thread: every other test's events cost one check.
            let layer = tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_writer(|| ThisThreadsCapture)
                .with_filter(filter::LevelFilter::INFO)
                // Dynamic, so asked at every event: a plain filter_fn's answer is cached per
                // callsite, for whichever thread reached it first.
                .with_filter(filter::dynamic_filter_fn(|_, _| {
                    CAPTURING.with(|c| c.borrow().is_some())
                }));
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
                .expect("no other subscriber in the test binary");
        });
        let logs = Self::default();
        CAPTURING.with(|c| *c.borrow_mut() = Some(logs.clone()));
        (logs, CaptureGuard)
    }

    /// Every line with this message.
    fn lines(&self, message: &str) -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|l| l["message"] == message)
            .collect()
    }
}

async fn write_entries(db: &TestDb, school: &invigilator::tenancy::School, n: i64) {
    for i in 0..n {
        let mut tx = begin_school_tx(&db.pool, school).await.unwrap();
        audit::record(
            &mut tx,
            &Actor::System("test"),
            Action::SyncRequested,
            Some(&Target::new("thing", i)),
            json!({"i": i}),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
}

/// A connection as the database's superuser, which can switch the log's triggers off.
async fn superuser(db: &TestDb) -> PgConnection {
    let mut conn = PgConnection::connect(&database_url(&db.name))
        .await
        .unwrap();
    conn.execute("SET session_replication_role = replica")
        .await
        .unwrap();
    conn
}

async fn stored_anchor(db: &TestDb, school: &invigilator::tenancy::School) -> (i64, i64, Vec<u8>) {
    sqlx::query_as(
        "SELECT entry_id, entries, head_hash FROM platform.audit_anchors WHERE tenant_id = $1",
    )
    .bind(school.id)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn deleting_the_newest_entries_is_found_against_the_anchor() {
    let db = TestDb::new().await;
    let school = db.school("alder").await;
    write_entries(&db, &school, 5).await;
    let (logs, _guard) = Logs::capture();

    // The minute's anchoring: the head goes to the platform table and to the log.
    let Anchoring::Moved(anchored) = anchor::anchor_school(&db.pool, &school).await.unwrap() else {
        panic!("a new log is anchored");
    };
    assert_eq!(anchored.entries, 5);
    let head: (i64, Vec<u8>) =
        sqlx::query_as("SELECT id, hash FROM tenant_alder.audit_log ORDER BY id DESC LIMIT 1")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        stored_anchor(&db, &school).await,
        (head.0, 5, head.1.clone())
    );
    let line = logs.lines("audit chain anchored").pop().expect("logged");
    assert_eq!(line["school"], "alder");
    assert_eq!(line["seq"], head.0);
    assert_eq!(
        line["head_hash"],
        invigilator::privacy::archive::hex(&head.1)
    );
    assert_eq!(
        anchor::anchor_school(&db.pool, &school).await.unwrap(),
        Anchoring::Unchanged,
        "nothing new, nothing moved"
    );

    // Two more entries, anchored on verify.
    write_entries(&db, &school, 2).await;
    let whole = audit::verify(&db.pool, &school).await.unwrap();
    assert_eq!((whole.entries, whole.first_break), (7, None));
    let (anchored_id, anchored_entries, _) = stored_anchor(&db, &school).await;
    assert_eq!(anchored_entries, 7);

    // A superuser deletes the two newest entries: what is left still links up...
    let mut su = superuser(&db).await;
    sqlx::query(
        "DELETE FROM tenant_alder.audit_log WHERE id IN \
         (SELECT id FROM tenant_alder.audit_log ORDER BY id DESC LIMIT 2)",
    )
    .execute(&mut su)
    .await
    .unwrap();
    // ...but it ends before its anchor.
    let result = audit::verify(&db.pool, &school).await.unwrap();
    let broken = result.first_break.expect("the deletion is found");
    assert_eq!(broken.kind, BreakKind::Truncated);
    assert_eq!(broken.entry_id, anchored_id);
    assert!(
        broken.reason.contains("newest entries were deleted"),
        "{}",
        broken.reason
    );
    assert_eq!(result.entries, 5);
    assert!(
        !logs.lines("audit chain broken").is_empty(),
        "logged as an error"
    );

    // The minute's anchoring refuses to move the anchor back, and says so.
    assert!(matches!(
        anchor::anchor_school(&db.pool, &school).await.unwrap(),
        Anchoring::Broken(b) if b.kind == BreakKind::Truncated
    ));
    assert_eq!(stored_anchor(&db, &school).await.0, anchored_id);
    drop(_guard);

    // The command line says so too, and the operator's own entry after it changes nothing.
    let cli = invigilator(&db, &["audit", "verify", "alder"]);
    assert_eq!(cli.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert!(
        stderr.contains(&format!("broken at entry {anchored_id}"))
            && stderr.contains("newest entries were deleted"),
        "{stderr}"
    );
    // With that entry written after the gap, the anchored entry is missing from the middle.
    let again = audit::verify(&db.pool, &school)
        .await
        .unwrap()
        .first_break
        .unwrap();
    assert_eq!(
        (again.kind, again.entry_id),
        (BreakKind::AnchorMismatch, anchored_id)
    );
    assert!(again.reason.contains("removed"), "{}", again.reason);
}

#[tokio::test]
async fn an_anchored_entry_rewritten_with_a_fitting_hash_is_found() {
    let db = TestDb::new().await;
    let school = db.school("alder").await;
    write_entries(&db, &school, 3).await;
    anchor::anchor_school(&db.pool, &school).await.unwrap();
    // The newest entry rewritten, and its hash recomputed so the chain alone cannot tell.
    let mut su = superuser(&db).await;
    let newest: AuditEntry = sqlx::query_as(
        "SELECT id, at, actor, action, target_type, target_id, details, prev_hash, hash \
         FROM tenant_alder.audit_log ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&mut su)
    .await
    .unwrap();
    let forged_details = json!({"i": 99});
    let forged = audit::entry_hash(
        &newest.prev_hash,
        newest.at,
        &newest.actor,
        &newest.action,
        newest.target_type.as_deref(),
        newest.target_id.as_deref(),
        &forged_details,
    );
    sqlx::query("UPDATE tenant_alder.audit_log SET details = $2, hash = $3 WHERE id = $1")
        .bind(newest.id)
        .bind(&forged_details)
        .bind(forged.as_slice())
        .execute(&mut su)
        .await
        .unwrap();
    let broken = audit::verify(&db.pool, &school)
        .await
        .unwrap()
        .first_break
        .expect("the rewrite is found");
    assert_eq!(broken.kind, BreakKind::AnchorMismatch);
    assert_eq!(broken.entry_id, newest.id);
    assert!(broken.reason.contains("replaced"), "{}", broken.reason);
}

#[tokio::test]
async fn a_school_role_cannot_touch_the_anchors() {
    let db = TestDb::new().await;
    let school = db.school("alder").await;
    write_entries(&db, &school, 2).await;
    anchor::anchor_school(&db.pool, &school).await.unwrap();
    for sql in [
        "UPDATE platform.audit_anchors SET entry_id = 1",
        "DELETE FROM platform.audit_anchors",
        "SELECT count(*) FROM platform.audit_anchors",
        "UPDATE platform.audit_verify_runs SET break_entry_id = NULL",
    ] {
        let mut tx = begin_school_tx(&db.pool, &school).await.unwrap();
        let refused = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .unwrap_err();
        assert_eq!(
            refused
                .as_database_error()
                .and_then(|d| d.code())
                .as_deref(),
            Some("42501"),
            "{sql}: {refused}"
        );
    }
    assert_eq!(stored_anchor(&db, &school).await.1, 2);
}

#[tokio::test]
async fn every_school_is_verified_once_a_day_and_a_break_is_an_error() {
    let db = TestDb::new().await;
    let alder = db.school("alder").await;
    let birch = db.school("birch").await;
    write_entries(&db, &alder, 3).await;
    write_entries(&db, &birch, 3).await;
    anchor::anchor_all(&db.pool).await.unwrap();
    let mut su = superuser(&db).await;
    sqlx::query(
        "DELETE FROM tenant_birch.audit_log WHERE id = (SELECT max(id) FROM tenant_birch.audit_log)",
    )
    .execute(&mut su)
    .await
    .unwrap();

    let (logs, guard) = Logs::capture();
    // Two workers tick at once: each school is verified once.
    let (a, b) = tokio::join!(
        audit::daily::verify_due(&db.pool),
        audit::daily::verify_due(&db.pool)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 2);
    assert_eq!(audit::daily::verify_due(&db.pool).await.unwrap(), 0);
    drop(guard);
    let intact = logs.lines("scheduled audit verify: the chain is intact");
    assert_eq!(intact.len(), 1);
    assert_eq!(
        (intact[0]["level"].as_str(), intact[0]["school"].as_str()),
        (Some("INFO"), Some("alder"))
    );
    let broken = logs.lines(
        "scheduled audit verify: the chain is broken; tell the school's data protection officer \
         and do not change the database",
    );
    assert_eq!(broken.len(), 1);
    assert_eq!(
        (broken[0]["level"].as_str(), broken[0]["school"].as_str()),
        (Some("ERROR"), Some("birch"))
    );

    // Operators find each day's outcome in the platform schema.
    let runs: Vec<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT t.slug, r.entries, r.break_entry_id FROM platform.audit_verify_runs r \
         JOIN platform.tenants t ON t.id = r.tenant_id WHERE r.finished_at IS NOT NULL \
         ORDER BY t.slug",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0], ("alder".to_owned(), Some(3), None));
    assert_eq!(runs[1].1, Some(2));
    assert!(runs[1].2.is_some(), "birch's break is recorded");
    assert_eq!(
        stored_anchor(&db, &birch).await.1,
        3,
        "birch's anchor stays"
    );
}

#[tokio::test]
async fn a_settings_change_is_never_saved_without_its_audit_entry() {
    let w = SignInWorld::new().await;
    let school = w.school().await;
    let mut admin = w.browser();
    assert_eq!(w.sign_in(&mut admin, ADMIN).await.status, StatusCode::OK);
    let me: serde_json::Value =
        serde_json::from_str(&admin.get(&w.url("/api/me")).await.body).unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let grant = |verb: &str| {
        format!(
            "{verb} INSERT ON tenant_hillside.audit_log {} \"{}\"",
            if verb == "GRANT" { "TO" } else { "FROM" },
            school.role_name
        )
    };
    let retention = || async {
        sqlx::query_scalar::<_, i32>(
            "SELECT retention_months FROM platform.tenants WHERE slug = 'hillside'",
        )
        .fetch_one(&w.db.pool)
        .await
        .unwrap()
    };
    let changed = || async {
        w.audit_actions()
            .await
            .into_iter()
            .filter(|(action, _)| action == "settings.changed")
            .count()
    };

    // The school's log cannot be written to: the change fails, and nothing is saved.
    sqlx::query(sqlx::AssertSqlSafe(grant("REVOKE")))
        .execute(&w.db.pool)
        .await
        .unwrap();
    let put = admin
        .request(
            Method::PUT,
            &w.url("/api/settings"),
            Some(RequestBody::Json(
                json!({"retention_months": 24}),
                Some(csrf.clone()),
            )),
        )
        .await;
    assert!(put.status.is_server_error(), "{} {}", put.status, put.body);
    assert_eq!(retention().await, 36, "the change was not saved");
    assert_eq!(changed().await, 0);

    // Once it can, the change and its entry are saved together.
    sqlx::query(sqlx::AssertSqlSafe(grant("GRANT")))
        .execute(&w.db.pool)
        .await
        .unwrap();
    let put = admin
        .request(
            Method::PUT,
            &w.url("/api/settings"),
            Some(RequestBody::Json(
                json!({"retention_months": 24}),
                Some(csrf),
            )),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(retention().await, 24);
    assert_eq!(changed().await, 1);
}

#[tokio::test]
async fn the_audit_page_and_api_say_when_the_newest_entries_were_deleted() {
    let w = SignInWorld::new().await;
    let mut admin = w.browser();
    assert_eq!(w.sign_in(&mut admin, ADMIN).await.status, StatusCode::OK);
    let me: serde_json::Value =
        serde_json::from_str(&admin.get(&w.url("/api/me")).await.body).unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let verify_on_page = |csrf: String| RequestBody::Form(vec![("csrf_token".into(), csrf)]);

    // Verifying on the page anchors the head it found whole.
    let intact = admin
        .request(
            Method::POST,
            &w.url("/audit/verify"),
            Some(verify_on_page(csrf.clone())),
        )
        .await;
    assert!(intact.body.contains("intact."), "{}", intact.body);
    let (anchored_id, _, _) = stored_anchor(&w.db, &w.school().await).await;

    // A superuser deletes the anchored entry and the page read recorded after it.
    let mut su = superuser(&w.db).await;
    sqlx::query("DELETE FROM tenant_hillside.audit_log WHERE id >= $1")
        .bind(anchored_id)
        .execute(&mut su)
        .await
        .unwrap();
    let broken = admin
        .request(
            Method::POST,
            &w.url("/audit/verify"),
            Some(verify_on_page(csrf)),
        )
        .await;
    assert_eq!(broken.status, StatusCode::OK);
    assert!(
        broken.body.contains(&format!(
            "The log is broken at entry {anchored_id}: the log ends at entry {}",
            anchored_id - 1
        )) && broken.body.contains("the newest entries were deleted."),
        "{}",
        broken.body
    );
    assert!(broken.body.contains("data protection officer"));

    // The API names it too, with the anchor it was checked against.
    let api: serde_json::Value =
        serde_json::from_str(&admin.get(&w.url("/api/audit/verify")).await.body).unwrap();
    assert_eq!(api["first_break"]["entry_id"], anchored_id);
    assert_eq!(api["anchor"]["entry_id"], anchored_id);
    assert_eq!(api["anchor"]["head_hash"].as_str().map(str::len), Some(64));
}

#[tokio::test]
async fn the_workers_timer_anchors_every_school_once_across_processes_and_verifies_daily() {
    let db = TestDb::new().await;
    let school = db.school("alder").await;
    write_entries(&db, &school, 3).await;
    // Today's retention run counts as done: it would add its own entry to the log at a moment
    // of its own, and the figures below are about the three entries written here.
    sqlx::query(
        "INSERT INTO platform.retention_runs (tenant_id, run_on, finished_at) \
         VALUES ($1, (now() AT TIME ZONE 'Europe/London')::date, now())",
    )
    .bind(school.id)
    .execute(&db.pool)
    .await
    .unwrap();
    let config = db.config(&[]);
    let (logs, _guard) = Logs::capture();
    // Two worker processes, whose timers tick on the same half-minute marks.
    let mut timers = Vec::new();
    for _ in 0..2 {
        let redis = invigilator::redis_client::lazy_connection(&config).unwrap();
        let ctx = std::sync::Arc::new(
            invigilator::services::Services::new(&config, db.pool.clone(), redis).unwrap(),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let timer = tokio::spawn(invigilator::jobs::run_sync_timer(ctx, async {
            let _ = stopped.await;
        }));
        timers.push((stop, timer));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(45);
    let finished = loop {
        let verified: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT entries FROM platform.audit_verify_runs \
             WHERE tenant_id = $1 AND finished_at IS NOT NULL",
        )
        .bind(school.id)
        .fetch_optional(&db.pool)
        .await
        .unwrap();
        let anchored: Option<i64> =
            sqlx::query_scalar("SELECT entries FROM platform.audit_anchors WHERE tenant_id = $1")
                .bind(school.id)
                .fetch_optional(&db.pool)
                .await
                .unwrap();
        if let (Some(verified), Some(anchored)) = (verified, anchored) {
            break (verified, anchored);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the timer did not anchor"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    for (stop, timer) in timers {
        let _ = stop.send(());
        timer.await.unwrap();
    }
    assert_eq!(finished, (Some(3), 3));
    let anchored = logs.lines("audit chain anchored");
    assert_eq!(
        anchored.len(),
        1,
        "anchored once, by one process: {anchored:?}"
    );
    assert_eq!(anchored[0]["school"], "alder");
    assert_eq!(
        logs.lines("scheduled audit verify: the chain is intact")
            .len(),
        1
    );
}
