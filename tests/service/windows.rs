//! Assessment windows: on time and exactly once with three workers, caught up after every
//! worker was down, overlapping, a teacher's earlier lock kept, an officer's override, a
//! cancelled active window, a student who joins mid-window, the preview, the calendar feed,
//! and every bad input refused by name.

use invigilator_test_kit as common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::browser::{Browser, RequestBody};
use common::lock_world::{LockWorld, lock_world};
use common::{SHARED_DRIVE, pupil};
use google_emulator::Role;
use invigilator::roster::{self, Trigger};
use invigilator::windows::london_time::utc_to_london;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

const EXAMS: &str = "exams@hillside.sch.uk";

/// The lock world (a teacher, one class of three with folders) plus a signed-in
/// Examinations Officer.
pub(crate) struct WindowWorld {
    pub(crate) l: LockWorld,
    pub(crate) officer: Browser,
    pub(crate) officer_csrf: String,
    pub(crate) course: Uuid,
}

pub(crate) async fn window_world() -> WindowWorld {
    let l = lock_world().await;
    l.w.emu.add_user(EXAMS, "Grace", "Whitfield").unwrap();
    sqlx::query(
        "INSERT INTO tenant_hillside.role_invitations (email, role) VALUES ($1, 'exams_officer')",
    )
    .bind(EXAMS)
    .execute(&l.w.db.pool)
    .await
    .unwrap();
    let mut officer = l.w.browser();
    let page = l.w.sign_in(&mut officer, EXAMS).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let me: Value = serde_json::from_str(&officer.get(&l.w.url("/api/me")).await.body).unwrap();
    let officer_csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let course = sqlx::query_scalar("SELECT id FROM tenant_hillside.courses")
        .fetch_one(&l.w.db.pool)
        .await
        .unwrap();
    WindowWorld {
        l,
        officer,
        officer_csrf,
        course,
    }
}

impl WindowWorld {
    async fn officer_sends(
        &mut self,
        method: Method,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let page = self
            .officer
            .request(
                method,
                &self.l.w.url(path),
                Some(RequestBody::Json(body, Some(self.officer_csrf.clone()))),
            )
            .await;
        let value = serde_json::from_str(&page.body).unwrap_or(Value::Null);
        (page.status, value)
    }

    async fn teacher_sends(
        &mut self,
        method: Method,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let page = self
            .l
            .teacher
            .request(
                method,
                &self.l.w.url(path),
                Some(RequestBody::Json(body, Some(self.l.csrf.clone()))),
            )
            .await;
        let value = serde_json::from_str(&page.body).unwrap_or(Value::Null);
        (page.status, value)
    }

    /// Creates a window over the class from `start` to `end`; returns its id.
    async fn window(&mut self, name: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Uuid {
        let body = json!({
            "name": name,
            "classes": [self.course],
            "starts_at": utc_to_london(start),
            "ends_at": utc_to_london(end),
        });
        let (status, window) = self.officer_sends(Method::POST, "/api/windows", body).await;
        assert_eq!(status, StatusCode::CREATED, "{window}");
        window["id"].as_str().unwrap().parse().unwrap()
    }

    async fn state_of(&self, window: Uuid) -> String {
        sqlx::query_scalar("SELECT state FROM tenant_hillside.assessment_windows WHERE id = $1")
            .bind(window)
            .fetch_one(&self.l.w.db.pool)
            .await
            .unwrap()
    }

    async fn desired(&self, email: &str) -> String {
        sqlx::query_scalar(
            "SELECT p.desired FROM tenant_hillside.portfolios p \
             JOIN tenant_hillside.students s ON s.id = p.student_id WHERE s.email = $1",
        )
        .bind(email)
        .fetch_one(&self.l.w.db.pool)
        .await
        .unwrap()
    }

    async fn count(&self, action: &str) -> usize {
        self.l
            .w
            .audit_actions()
            .await
            .iter()
            .filter(|(a, _)| a == action)
            .count()
    }

    /// What a worker's timer does on its tick.
    async fn tick(&self) {
        let config = self
            .l
            .w
            .db
            .config(&[("GOOGLE_API_BASE_URL", &self.l.w.emu.url())]);
        let redis = invigilator::redis_client::lazy_connection(&config).unwrap();
        let services =
            invigilator::services::Services::new(&config, self.l.w.db.pool.clone(), redis).unwrap();
        invigilator::jobs::windows::tick(&services).await.unwrap();
    }

    /// Moves a window's times, as if the clock had moved on.
    async fn shift(&self, window: Uuid, starts: &str, ends: &str) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE tenant_hillside.assessment_windows SET starts_at = now() + interval '{starts}', \
                 ends_at = now() + interval '{ends}' WHERE id = $1"
        )))
        .bind(window)
        .execute(&self.l.w.db.pool)
        .await
        .unwrap();
    }

    async fn wait_for(&self, what: &str, mut done: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done().await {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn spawn_worker(w: &WindowWorld) -> std::process::Child {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::process::Command::new(common::binary())
        .args(["work", "--concurrency", "2"])
        .env_clear()
        .envs(w.l.w.db.env())
        .env("GOOGLE_API_BASE_URL", w.l.w.emu.url())
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The whole second a few seconds from now (the API takes times to the second).
fn seconds_from_now(s: i64) -> DateTime<Utc> {
    let t = Utc::now() + chrono::Duration::seconds(s);
    DateTime::from_timestamp(t.timestamp(), 0).unwrap()
}

#[tokio::test]
async fn three_workers_start_and_end_a_window_once_on_time_and_a_prior_lock_stays() {
    let mut w = window_world().await;
    // Pupil 0's teacher locked their work before the window.
    let (p0, folder0) = w.l.portfolio_of(&pupil(0)).await;
    assert_eq!(
        w.l.post(&format!("/api/portfolios/{p0}/lock")).await.status,
        StatusCode::ACCEPTED
    );
    let (_, folder1) = w.l.portfolio_of(&pupil(1)).await;
    let mut workers: Vec<_> = (0..3).map(|_| spawn_worker(&w)).collect();
    let start = seconds_from_now(4);
    let end = start + chrono::Duration::seconds(5);
    let window = w.window("Year 10 Chemistry practical", start, end).await;

    w.wait_for("the window's locks", async || {
        w.l.w.emu.access(&folder1, &pupil(1)) == Some(Role::Reader)
    })
    .await;
    assert_eq!(w.state_of(window).await, "active");
    // The first lock request was made within a second of the instant, not at a tick.
    let first: DateTime<Utc> = sqlx::query_scalar(
        "SELECT min(at) FROM tenant_hillside.audit_log \
         WHERE action = 'portfolio.lock.requested' AND details->>'window' = $1",
    )
    .bind(window.to_string())
    .fetch_one(&w.l.w.db.pool)
    .await
    .unwrap();
    let late = (first - start).num_milliseconds();
    assert!(
        (0..1000).contains(&late),
        "first lock request {late} ms after the start"
    );

    // During the window the teacher cannot unlock, and is told why.
    let (status, refusal) = w
        .teacher_sends(
            Method::POST,
            &format!("/api/portfolios/{p0}/unlock"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        refusal["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Year 10 Chemistry practical"),
        "{refusal}"
    );
    let (status, _) = w
        .teacher_sends(
            Method::POST,
            &format!("/api/classes/{}/unlock", w.course),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    w.wait_for("the window's end", async || {
        w.l.w.emu.access(&folder1, &pupil(1)) == Some(Role::Writer)
    })
    .await;
    assert_eq!(w.state_of(window).await, "ended");
    assert_eq!(
        w.l.w.emu.access(&folder0, &pupil(0)),
        Some(Role::Reader),
        "the teacher's lock stays"
    );
    // Let every worker's jobs and ticks have their go, then count.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for worker in &mut workers {
        let _ = worker.kill();
        let _ = worker.wait();
    }
    assert_eq!(w.count("window.started").await, 1);
    assert_eq!(w.count("window.ended").await, 1);
    let window_requests =
        w.l.w
            .audit_actions()
            .await
            .into_iter()
            .filter(|(_, d)| d["window"] == json!(window))
            .count();
    // Pupils 1 and 2 locked and unlocked; pupil 0 was already locked and stays so.
    assert_eq!(window_requests, 4);
}

#[tokio::test]
async fn a_start_missed_while_every_worker_was_down_happens_when_one_returns_and_says_how_late() {
    let mut w = window_world().await;
    let start = seconds_from_now(2);
    let window = w
        .window("Mock paper", start, start + chrono::Duration::minutes(30))
        .await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(w.state_of(window).await, "scheduled", "no worker ran");
    w.tick().await;
    assert_eq!(w.state_of(window).await, "active");
    for i in 0..3 {
        assert_eq!(w.desired(&pupil(i)).await, "locked");
    }
    let (_, details) =
        w.l.w
            .audit_actions()
            .await
            .into_iter()
            .find(|(a, _)| a == "window.started")
            .unwrap();
    assert!(
        details["delay_seconds"].as_f64().unwrap() >= 1.0,
        "{details}"
    );
    // A second tick (another worker) changes nothing.
    w.tick().await;
    assert_eq!(w.count("window.started").await, 1);

    // Cancelling the active window unlocks at once.
    let (status, answer) = w
        .officer_sends(
            Method::POST,
            &format!("/api/windows/{window}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["window"]["state"], "cancelled");
    assert_eq!(answer["requested"], 3);
    for i in 0..3 {
        assert_eq!(w.desired(&pupil(i)).await, "unlocked");
    }
    let (status, _) = w
        .officer_sends(
            Method::POST,
            &format!("/api/windows/{window}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "cancelled once");
}

#[tokio::test]
async fn overlapping_windows_hold_until_the_last_ends_and_an_override_lets_one_student_out() {
    let mut w = window_world().await;
    let soon = seconds_from_now(600);
    let first = w
        .window("Paper 1", soon, soon + chrono::Duration::hours(1))
        .await;
    let second = w
        .window("Paper 2", soon, soon + chrono::Duration::hours(2))
        .await;
    // The preview of a third shows both as overlapping.
    let (status, preview) = w
        .officer_sends(
            Method::POST,
            "/api/windows/preview",
            json!({"name": "Paper 3", "classes": [w.course],
                   "starts_at": utc_to_london(soon), "ends_at": utc_to_london(soon + chrono::Duration::minutes(30))}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["will_lock"], 3);
    assert_eq!(preview["overlaps"].as_array().unwrap().len(), 2);

    w.shift(first, "-1 minute", "1 hour").await;
    w.shift(second, "-1 minute", "2 hours").await;
    w.tick().await;
    assert_eq!(w.state_of(first).await, "active");
    assert_eq!(w.state_of(second).await, "active");
    assert_eq!(w.desired(&pupil(1)).await, "locked");

    // An officer lets pupil 2 out of both windows, with a reason.
    let (p2, _) = w.l.portfolio_of(&pupil(2)).await;
    let (status, _) = w
        .officer_sends(
            Method::POST,
            &format!("/api/portfolios/{p2}/override"),
            json!({}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reason is needed"
    );
    let (status, answer) = w
        .officer_sends(
            Method::POST,
            &format!("/api/portfolios/{p2}/override"),
            json!({"reason": "Access arrangement: extra time agreed"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(w.desired(&pupil(2)).await, "unlocked");
    let overridden: Vec<Value> =
        w.l.w
            .audit_actions()
            .await
            .into_iter()
            .filter(|(a, _)| a == "window.overridden")
            .map(|(_, d)| d)
            .collect();
    assert_eq!(overridden.len(), 2, "one entry per window");
    assert_eq!(
        overridden[0]["reason"],
        "Access arrangement: extra time agreed"
    );
    // A teacher has no override.
    let (p1, _) = w.l.portfolio_of(&pupil(1)).await;
    let (status, _) = w
        .teacher_sends(
            Method::POST,
            &format!("/api/portfolios/{p1}/override"),
            json!({"reason": "please"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The first ends: the second still holds.
    w.shift(first, "-2 hours", "-1 second").await;
    w.tick().await;
    assert_eq!(w.state_of(first).await, "ended");
    assert_eq!(w.desired(&pupil(1)).await, "locked");
    // Only the end of a started window moves.
    let (status, _) = w
        .officer_sends(
            Method::PUT,
            &format!("/api/windows/{second}"),
            json!({"name": "Renamed"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, moved) = w
        .officer_sends(
            Method::PUT,
            &format!("/api/windows/{second}"),
            json!({"ends_at": utc_to_london(Utc::now() + chrono::Duration::hours(3))}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    w.shift(second, "-3 hours", "-1 second").await;
    w.tick().await;
    assert_eq!(w.state_of(second).await, "ended");
    for i in 0..3 {
        assert_eq!(w.desired(&pupil(i)).await, "unlocked", "pupil {i}");
    }
}

#[tokio::test]
async fn an_until_released_window_stays_locked_until_released_and_takes_in_a_new_student() {
    let mut w = window_world().await;
    let soon = seconds_from_now(600);
    let body = json!({
        "name": "Coursework deadline",
        "classes": [w.course],
        "starts_at": utc_to_london(soon),
        "ends_at": utc_to_london(soon + chrono::Duration::hours(1)),
        "until_released": true,
    });
    let (status, created) = w.officer_sends(Method::POST, "/api/windows", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let window: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    w.shift(window, "-1 minute", "1 hour").await;
    w.tick().await;

    // A student joins the class mid-window: their folder is made locked.
    let newcomer = pupil(7);
    w.l.w.emu.add_user(&newcomer, "New", "Pupil").unwrap();
    w.l.w.emu.enrol_student("500000000001", &newcomer).unwrap();
    roster::sync_school(
        &w.l.w.db.pool,
        &w.l.google,
        &w.l.leases,
        &w.l.school,
        Trigger::Cli,
    )
    .await
    .unwrap();
    invigilator::portfolio::provision(&w.l.w.db.pool, &w.l.google, &w.l.school, SHARED_DRIVE)
        .await
        .unwrap();
    let (_, folder) = w.l.portfolio_of(&newcomer).await;
    assert_eq!(w.l.w.emu.access(&folder, &newcomer), Some(Role::Reader));

    // Past its deadline it is held, not unlocked.
    w.shift(window, "-2 hours", "-1 second").await;
    w.tick().await;
    assert_eq!(w.state_of(window).await, "held");
    assert_eq!(w.desired(&pupil(0)).await, "locked");
    let (p0, _) = w.l.portfolio_of(&pupil(0)).await;
    let (status, refusal) = w
        .teacher_sends(
            Method::POST,
            &format!("/api/portfolios/{p0}/unlock"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        refusal["error"]["message"]
            .as_str()
            .unwrap()
            .contains("releases it"),
        "{refusal}"
    );

    let (status, released) = w
        .officer_sends(
            Method::POST,
            &format!("/api/windows/{window}/release"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(released["window"]["state"], "ended");
    assert_eq!(w.desired(&pupil(0)).await, "unlocked");
    assert_eq!(w.desired(&newcomer).await, "unlocked");
}

#[tokio::test]
async fn bad_windows_are_refused_by_field_and_nothing_is_saved() {
    let mut w = window_world().await;
    let other =
        w.l.w
            .add_school("riverside", "riverside.sch.uk", "admin@riverside.sch.uk")
            .await;
    let foreign: Uuid = sqlx::query_scalar(
        "INSERT INTO tenant_riverside.courses (classroom_id, name) VALUES ('900', '11A Physics') RETURNING id",
    )
    .fetch_one(&w.l.w.db.pool)
    .await
    .unwrap();
    assert_eq!(other.slug, "riverside");
    let course = w.course.to_string();
    let good = |overrides: Value| {
        let mut body = json!({
            "name": "Mock",
            "classes": [course],
            "starts_at": "2031-03-23T10:00",
            "ends_at": "2031-03-23T11:30",
        });
        for (k, v) in overrides.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (json!({"ends_at": "2031-03-23T09:00"}), "ends_at"),
        (json!({"starts_at": "2020-01-01T10:00"}), "starts_at"),
        (json!({"classes": []}), "classes"),
        (json!({"classes": [Uuid::new_v4()]}), "classes"),
        (json!({"classes": [foreign]}), "classes"),
        (json!({"classes": ["nonsense"]}), "classes"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"starts_at": "next Tuesday"}), "starts_at"),
        (
            json!({"starts_at": "2031-06-01T10:00+05:00", "ends_at": "2031-06-01T11:00"}),
            "starts_at",
        ),
        // The last Sunday of March 2031 is the 30th: 01:00–01:59 does not happen.
        (
            json!({"starts_at": "2031-03-30T01:30", "ends_at": "2031-03-30T03:00"}),
            "starts_at",
        ),
        // The last Sunday of October 2031 is the 26th: 01:00–01:59 happens twice.
        (
            json!({"starts_at": "2031-10-26T01:30", "ends_at": "2031-10-26T03:00"}),
            "starts_at",
        ),
        (
            json!({"selections": [{"year_group": 0}], "classes": []}),
            "selections",
        ),
    ];
    for (overrides, field) in cases {
        // The preview refuses exactly what saving refuses (an unknown class too).
        for path in ["/api/windows/preview", "/api/windows"] {
            let body = good(overrides.clone());
            let (status, answer) = w.officer_sends(Method::POST, path, body).await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path} {overrides}: {answer}"
            );
            assert_eq!(
                answer["error"]["field"], field,
                "{path} {overrides}: {answer}"
            );
        }
    }
    let saved: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_hillside.assessment_windows")
        .fetch_one(&w.l.w.db.pool)
        .await
        .unwrap();
    assert_eq!(saved, 0, "nothing saved");

    // The edges of the clock changes are ordinary times; the repeated hour with its offset is
    // the one asked for.
    for (start, utc) in [
        ("2031-03-30T00:59", "2031-03-30T00:59:00+00:00"),
        ("2031-03-30T02:00", "2031-03-30T01:00:00+00:00"),
        ("2031-10-26T00:59", "2031-10-25T23:59:00+00:00"),
        ("2031-10-26T01:30+01:00", "2031-10-26T00:30:00+00:00"),
        ("2031-10-26T01:30+00:00", "2031-10-26T01:30:00+00:00"),
        ("2031-10-26T02:00", "2031-10-26T02:00:00+00:00"),
    ] {
        let body = good(json!({"starts_at": start, "ends_at": "2031-10-27T12:00"}));
        let (status, window) = w.officer_sends(Method::POST, "/api/windows", body).await;
        assert_eq!(status, StatusCode::CREATED, "{start}: {window}");
        let stored = DateTime::parse_from_rfc3339(window["starts_at"].as_str().unwrap()).unwrap();
        assert_eq!(
            stored,
            DateTime::parse_from_rfc3339(utc).unwrap(),
            "{start}"
        );
    }

    // A teacher may not schedule windows.
    let (status, _) = w
        .teacher_sends(Method::POST, "/api/windows", good(json!({})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // But sees the windows over their class.
    let page =
        w.l.teacher
            .get(&w.l.w.url("/api/windows?from=2031-01-01"))
            .await;
    assert_eq!(page.status, StatusCode::OK);
    let listed: Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 6);
    let page = w.l.teacher.get(&w.l.w.url("/api/windows?state=soon")).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_calendar_feed_is_a_revocable_secret_address_and_every_read_is_audited() {
    let mut w = window_world().await;
    let soon = seconds_from_now(3600);
    w.window(
        "Year 10 Chemistry; practical, part 1",
        soon,
        soon + chrono::Duration::hours(1),
    )
    .await;
    let (status, made) = w
        .officer_sends(Method::POST, "/api/windows/calendar-feed", json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let url = made["url"].as_str().unwrap().to_owned();

    let anonymous = common::http_client();
    let feed = anonymous.get(&url).send().await.unwrap();
    assert_eq!(feed.status(), StatusCode::OK);
    assert!(
        feed.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let text = feed.text().await.unwrap();
    assert!(text.starts_with("BEGIN:VCALENDAR"), "{text}");
    assert!(
        text.contains("SUMMARY:Year 10 Chemistry\\; practical\\, part 1"),
        "{text}"
    );
    assert_eq!(w.count("calendar_feed.read").await, 1);

    // A new address replaces the old one; revoking leaves none.
    let (_, again) = w
        .officer_sends(Method::POST, "/api/windows/calendar-feed", json!({}))
        .await;
    assert_eq!(
        anonymous.get(&url).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let newer = again["url"].as_str().unwrap().to_owned();
    assert_eq!(
        anonymous.get(&newer).send().await.unwrap().status(),
        StatusCode::OK
    );
    let (status, _) = w
        .officer_sends(Method::DELETE, "/api/windows/calendar-feed", json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        anonymous.get(&newer).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let (status, _) = w
        .teacher_sends(Method::POST, "/api/windows/calendar-feed", json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
