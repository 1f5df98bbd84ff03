//! Leavers: a teacher whose last role is taken away, or whom Classroom no longer lists on any
//! class, stops being used at once: their grant is revoked at Google and deleted, their
//! sessions and open live-status streams end, sync no longer reads Classroom as them, and the
//! retention run deletes them 30 days after they left.

use invigilator_test_kit as common;

use std::time::Duration;

use common::browser::{ADMIN, Browser, RequestBody, SignInWorld};
use common::{TEACHER, google_seed};
use invigilator::privacy::leavers::{self, StopUsing};
use invigilator::privacy::retention;
use invigilator::roster::{self, SyncReport, Trigger};
use invigilator::services::Services;
use invigilator::tenancy::School;
use reqwest::header::COOKIE;
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::Value;
use uuid::Uuid;

const GRACE: &str = "grace.hopper@hillside.sch.uk";
const COURSE: &str = "500000000001";

/// The seeded school with a second teacher of its class (Grace), both teachers signed in and
/// the class synced; a worker's services on the same database and Redis.
struct World {
    w: SignInWorld,
    services: Services,
    school: School,
    ada: Browser,
    grace: Browser,
}

async fn world() -> World {
    let mut seed = google_seed(2);
    seed.users.push(google_emulator::seed::SeedUser::person(
        GRACE, "Grace", "Hopper",
    ));
    seed.courses[0].teachers.push(GRACE.to_owned());
    let w = SignInWorld::with_seed(seed).await;
    let mut ada = w.browser();
    assert_eq!(w.sign_in(&mut ada, TEACHER).await.status, StatusCode::OK);
    let mut grace = w.browser();
    assert_eq!(w.sign_in(&mut grace, GRACE).await.status, StatusCode::OK);
    let school = w.school().await;
    let config = w.db.config(&[("GOOGLE_API_BASE_URL", &w.emu.url())]);
    let redis = invigilator::redis_client::lazy_connection(&config).unwrap();
    let google = Services::new(&config, w.db.pool.clone(), redis)
        .unwrap()
        .google
        .with_retry_policy(invigilator::google::RetryPolicy::quick());
    let services = common::services(&w.db, &config, &google);
    let world = World {
        w,
        services,
        school,
        ada,
        grace,
    };
    let report = world.sync().await;
    assert_eq!(report.courses, 1, "{:?}", report.errors);
    world
}

impl World {
    /// A roster sync as the worker runs it: the sync, then the leavers' follow-up.
    async fn sync(&self) -> SyncReport {
        let s = &self.services;
        let report = roster::sync_school(&s.db, &s.google, &s.leases, &self.school, Trigger::Cli)
            .await
            .unwrap();
        StopUsing::from_services(s)
            .follow_up(&self.school, &report.leavers)
            .await;
        report
    }

    async fn staff_id(&self, email: &str) -> Uuid {
        sqlx::query_scalar("SELECT id FROM tenant_hillside.staff WHERE email = $1")
            .bind(email)
            .fetch_one(&self.w.db.pool)
            .await
            .unwrap()
    }

    async fn scalar<T>(&self, sql: &str, id: Uuid) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
    {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(id)
            .fetch_one(&self.w.db.pool)
            .await
            .unwrap()
    }

    /// The refresh token of a staff member's stored sign-in grant, as Google issued it.
    async fn refresh_token(&self, staff: Uuid) -> String {
        let id: Uuid = self
            .scalar(
                "SELECT id FROM tenant_hillside.google_credentials WHERE staff_id = $1",
                staff,
            )
            .await;
        let keys = self.w.db.config(&[]).token_keys;
        let mut tx = invigilator::tenancy::begin_school_tx(&self.w.db.pool, &self.school)
            .await
            .unwrap();
        let unsealed = invigilator::google::credentials::unseal(&mut tx, &keys, id)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        unsealed.secret.expose_secret().to_owned()
    }

    /// Opens `browser`'s live-status stream; the task finishes when the server ends it.
    async fn open_stream(&self, browser: &Browser) -> tokio::task::JoinHandle<()> {
        let mut stream = common::http_client()
            .get(self.w.url("/api/events"))
            .header(COOKIE, browser.cookie_header(&self.w.url("/")))
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), StatusCode::OK);
        let handle = tokio::spawn(async move { while let Ok(Some(_)) = stream.chunk().await {} });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !handle.is_finished(),
            "the stream stays open until something ends it"
        );
        handle
    }

    async fn audit(&self, action: &str) -> Vec<Value> {
        sqlx::query_scalar(
            "SELECT details FROM tenant_hillside.audit_log WHERE action = $1 ORDER BY id",
        )
        .bind(action)
        .fetch_all(&self.w.db.pool)
        .await
        .unwrap()
    }
}

async fn ended(stream: tokio::task::JoinHandle<()>) {
    tokio::time::timeout(Duration::from_secs(10), stream)
        .await
        .expect("the live-status stream ended")
        .unwrap();
}

#[tokio::test]
async fn a_teacher_whose_last_role_is_taken_away_is_cut_off_at_once() {
    let mut t = world().await;
    let ada = t.staff_id(TEACHER).await;
    let refresh = t.refresh_token(ada).await;
    assert!(t.w.refresh_token_works(&refresh).await);
    let stream = t.open_stream(&t.ada).await;
    let role: Uuid = t
        .scalar(
            "SELECT id FROM tenant_hillside.role_assignments WHERE staff_id = $1",
            ada,
        )
        .await;

    let mut admin = t.w.browser();
    assert_eq!(t.w.sign_in(&mut admin, ADMIN).await.status, StatusCode::OK);
    let me: Value = serde_json::from_str(&admin.get(&t.w.url("/api/me")).await.body).unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let revoked = admin
        .request(
            Method::DELETE,
            &t.w.url(&format!("/api/roles/{role}")),
            Some(RequestBody::Json(serde_json::json!({}), Some(csrf))),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);

    // Their grant is revoked at Google and our copy deleted.
    assert!(
        !t.w.refresh_token_works(&refresh).await,
        "Google no longer takes the token"
    );
    let grants: i64 = t
        .scalar(
            "SELECT count(*) FROM tenant_hillside.google_credentials WHERE staff_id = $1",
            ada,
        )
        .await;
    assert_eq!(grants, 0);
    // Their session and their open stream end.
    let page = t.ada.get(&t.w.url("/api/me")).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    ended(stream).await;
    let left: Option<chrono::DateTime<chrono::Utc>> = t
        .scalar(
            "SELECT left_at FROM tenant_hillside.staff WHERE id = $1",
            ada,
        )
        .await;
    assert!(left.is_some());
    let staff_left = t.audit("staff.left").await;
    assert_eq!(staff_left.len(), 1);
    assert_eq!(staff_left[0]["because"], "roles_revoked");
    let revocations = t.audit("google_grant.revoked").await;
    assert_eq!(revocations.len(), 1);
    assert_eq!(revocations[0]["outcome"], "revoked");
    assert_eq!(revocations[0]["staff_id"], ada.to_string());

    // Sync reads Classroom as Grace alone now, without a word about Ada's grant.
    t.w.emu.reset_stats();
    let report = t.sync().await;
    assert_eq!(report.courses, 1);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.leavers.is_empty(), "Ada still teaches in Classroom");
}

#[tokio::test]
async fn a_teacher_classroom_no_longer_lists_leaves_and_is_deleted_thirty_days_later() {
    let mut t = world().await;
    let grace = t.staff_id(GRACE).await;
    let refresh = t.refresh_token(grace).await;
    let stream = t.open_stream(&t.grace).await;

    t.w.emu.remove_teacher(COURSE, GRACE).unwrap();
    let report = t.sync().await;
    assert_eq!(report.leavers.len(), 1);
    assert_eq!(report.leavers[0].staff_id, grace);

    assert!(
        !t.w.refresh_token_works(&refresh).await,
        "Google no longer takes the token"
    );
    let grants: i64 = t
        .scalar(
            "SELECT count(*) FROM tenant_hillside.google_credentials WHERE staff_id = $1",
            grace,
        )
        .await;
    assert_eq!(grants, 0);
    let roles: i64 = t
        .scalar(
            "SELECT count(*) FROM tenant_hillside.role_assignments WHERE staff_id = $1",
            grace,
        )
        .await;
    assert_eq!(roles, 0, "the Teacher role she had for teaching is gone");
    assert_eq!(
        t.grace.get(&t.w.url("/api/me")).await.status,
        StatusCode::UNAUTHORIZED
    );
    ended(stream).await;
    assert_eq!(t.audit("staff.left").await[0]["because"], "left_classroom");
    // Ada is untouched.
    assert_eq!(t.ada.get(&t.w.url("/api/me")).await.status, StatusCode::OK);

    // The next sync reads Classroom as Ada only, and finds nobody else leaving.
    let again = t.sync().await;
    assert!(again.errors.is_empty(), "{:?}", again.errors);
    assert!(again.leavers.is_empty());

    // 29 days after leaving she is kept; after 30 the retention run deletes her.
    let back = |days: i32| {
        sqlx::query(
            "UPDATE tenant_hillside.staff SET left_at = now() - make_interval(days => $2) \
             WHERE id = $1",
        )
        .bind(grace)
        .bind(days)
    };
    back(29).execute(&t.w.db.pool).await.unwrap();
    let due = retention::preview(&t.w.db.pool, &t.school).await.unwrap();
    assert!(due.staff.iter().all(|p| p.id != grace));
    back(31).execute(&t.w.db.pool).await.unwrap();
    let due = retention::preview(&t.w.db.pool, &t.school).await.unwrap();
    assert_eq!(
        due.staff
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        vec!["Grace Hopper"]
    );
    let counts = retention::run_daily(&t.w.db.pool, &t.school)
        .await
        .unwrap()
        .expect("today's run");
    assert_eq!(counts.staff, 1);
    let gone: i64 = t
        .scalar(
            "SELECT count(*) FROM tenant_hillside.staff WHERE id = $1",
            grace,
        )
        .await;
    assert_eq!(gone, 0);
}

/// Google answering 503 to every revocation.
fn revocations_fail(t: &World) {
    let mut plan = google_emulator::FaultPlan::default();
    plan.probabilities
        .insert(google_emulator::FaultKind::Error503, 1.0);
    t.w.emu.set_faults("oauth2.revoke", plan);
}

async fn grant_state(t: &World, staff: Uuid) -> Option<(String, i32)> {
    sqlx::query_as(
        "SELECT status, revoke_attempts FROM tenant_hillside.google_credentials WHERE staff_id = $1",
    )
    .bind(staff)
    .fetch_optional(&t.w.db.pool)
    .await
    .unwrap()
}

async fn make_due(t: &World) {
    sqlx::query("UPDATE tenant_hillside.google_credentials SET revoke_after = now()")
        .execute(&t.w.db.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_grant_google_would_not_revoke_is_never_used_and_is_revoked_later() {
    let mut t = world().await;
    let grace = t.staff_id(GRACE).await;
    let refresh = t.refresh_token(grace).await;
    revocations_fail(&t);
    t.w.emu.remove_teacher(COURSE, GRACE).unwrap();
    assert_eq!(t.sync().await.leavers.len(), 1);
    assert_eq!(
        grant_state(&t, grace).await,
        Some(("revoking".to_owned(), 1))
    );
    assert_eq!(
        t.grace.get(&t.w.url("/api/me")).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The timer leaves it until its next attempt is due.
    let (db, google) = (&t.services.db, &t.services.google);
    assert!(
        leavers::revoke_pending(db, google, &t.school)
            .await
            .unwrap()
            .is_empty()
    );
    // A sync meanwhile does not read Classroom as her (it would say her grant was refused).
    let report = t.sync().await;
    assert_eq!(report.courses, 1);
    assert!(report.errors.is_empty(), "{:?}", report.errors);

    t.w.emu.clear_faults();
    make_due(&t).await;
    let outcomes = leavers::revoke_pending(db, google, &t.school)
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].outcome, "revoked");
    assert_eq!(grant_state(&t, grace).await, None);
    assert!(!t.w.refresh_token_works(&refresh).await);
    let audited = t.audit("google_grant.revoked").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0]["attempts"], 2);
}

#[tokio::test]
async fn a_revocation_google_keeps_refusing_is_given_up_and_recorded() {
    let mut t = world().await;
    let grace = t.staff_id(GRACE).await;
    revocations_fail(&t);
    t.w.emu.remove_teacher(COURSE, GRACE).unwrap();
    t.sync().await;
    let (db, google) = (&t.services.db, &t.services.google);
    for attempt in 2..leavers::MAX_REVOKE_ATTEMPTS {
        make_due(&t).await;
        let outcomes = leavers::revoke_pending(db, google, &t.school)
            .await
            .unwrap();
        assert_eq!(outcomes[0].outcome, "retry_later");
        assert_eq!(
            grant_state(&t, grace).await,
            Some(("revoking".to_owned(), attempt))
        );
    }
    make_due(&t).await;
    let outcomes = leavers::revoke_pending(db, google, &t.school)
        .await
        .unwrap();
    assert_eq!(outcomes[0].outcome, "given_up");
    assert_eq!(
        grant_state(&t, grace).await,
        None,
        "our copy is deleted all the same"
    );
    make_due(&t).await;
    assert!(
        leavers::revoke_pending(db, google, &t.school)
            .await
            .unwrap()
            .is_empty()
    );
    let audited = t.audit("google_grant.revoked").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0]["outcome"], "given_up");
    assert_eq!(audited[0]["attempts"], leavers::MAX_REVOKE_ATTEMPTS);
    assert_eq!(
        t.grace.get(&t.w.url("/api/me")).await.status,
        StatusCode::UNAUTHORIZED
    );
}
