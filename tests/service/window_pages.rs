//! Browser-free tests of the window pages through HTTP, as the signed-in roles: an Examinations
//! Officer previews and schedules through the form, every bad input comes back beside its field
//! with nothing saved, edits before and after the start, cancels, releases, lets one student out
//! and makes, replaces and revokes the calendar address; a class page during a window says why
//! there is no Unlock button; a teacher sees only the windows over their classes and nothing to
//! manage; nobody signed in is sent to sign in.

use invigilator_test_kit as common;

use chrono::{DateTime, Utc};
use common::browser::{Browser, Page, RequestBody};
use common::lock_world::LockWorld;
use common::pupil;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// The lock world (a teacher, "10X Chemistry" with three pupils and their folders, placed in
/// Chemistry, Year 10) plus a signed-in Examinations Officer.
struct PagesWorld {
    l: LockWorld,
    officer: Browser,
    officer_csrf: String,
    course: Uuid,
}

async fn pages_world() -> PagesWorld {
    // The API tests' world (the officer signed in as Grace Whitfield), its class placed.
    let crate::windows::WindowWorld {
        l,
        officer,
        officer_csrf,
        course,
    } = crate::windows::window_world().await;
    let subject: Uuid = sqlx::query_scalar(
        "INSERT INTO tenant_hillside.subjects (name) VALUES ('Chemistry') RETURNING id",
    )
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE tenant_hillside.courses SET subject_id = $1, year_group = 10 WHERE id = $2",
    )
    .bind(subject)
    .bind(course)
    .execute(&l.w.db.pool)
    .await
    .unwrap();
    PagesWorld {
        l,
        officer,
        officer_csrf,
        course,
    }
}

/// A form's fields with the token.
fn with_token(csrf: &str, fields: &[(&str, &str)]) -> RequestBody {
    let mut pairs: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    pairs.push(("csrf_token".to_owned(), csrf.to_owned()));
    RequestBody::Form(pairs)
}

impl PagesWorld {
    async fn officer_get(&mut self, path: &str) -> Page {
        self.officer.get(&self.l.w.url(path)).await
    }

    async fn officer_posts(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = with_token(&self.officer_csrf, fields);
        self.officer
            .request(Method::POST, &self.l.w.url(path), Some(body))
            .await
    }

    async fn teacher_get(&mut self, path: &str) -> Page {
        self.l.teacher.get(&self.l.w.url(path)).await
    }

    async fn teacher_posts(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = with_token(&self.l.csrf.clone(), fields);
        self.l
            .teacher
            .request(Method::POST, &self.l.w.url(path), Some(body))
            .await
    }

    async fn windows_saved(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM tenant_hillside.assessment_windows")
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

    /// Schedules a window over the class through the form; returns its id.
    async fn schedule(
        &mut self,
        name: &str,
        starts: &str,
        ends: &str,
        until_released: bool,
    ) -> Uuid {
        let course = self.course.to_string();
        let mut fields = vec![
            ("name", name),
            ("starts_at", starts),
            ("ends_at", ends),
            ("classes", course.as_str()),
            ("step", "save"),
        ];
        if until_released {
            fields.push(("until_released", "yes"));
        }
        let page = self.officer_posts("/windows/new", &fields).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        window_of(&page)
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

    /// What a worker's timer does on its tick: starts, holds and ends what is due.
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
}

/// The window a "saved" redirect goes to.
fn window_of(page: &Page) -> Uuid {
    let location = page.headers["location"].to_str().unwrap();
    location
        .strip_prefix("/windows/")
        .and_then(|rest| rest.split('?').next())
        .unwrap()
        .parse()
        .unwrap()
}

/// A page of ours carries no inline script or style (the CSP would refuse them).
fn assert_clean(page: &Page) {
    assert!(
        !page.body.contains("<script>") && !page.body.contains("<style"),
        "{}",
        page.url
    );
    assert!(
        !page.body.contains(" style=\""),
        "{}: inline style",
        page.url
    );
}

/// The message shown beside `field`: the error paragraph with its id, and its text.
fn error_beside(page: &Page, field: &str) -> String {
    let id = if field == "selections" {
        "id=\"selections\"".to_owned()
    } else {
        format!("id=\"{field}-error\"")
    };
    let after = page
        .body
        .split(&id)
        .nth(1)
        .unwrap_or_else(|| panic!("no error beside {field}: {}", page.body));
    after.split("</p>").next().unwrap().to_owned()
}

/// The table row of one student on a class page (or its rows fragment).
fn row_of(body: &str, portfolio: Uuid) -> String {
    body.split(&format!("data-portfolio=\"{portfolio}\""))
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_officer_previews_then_schedules_and_the_list_calendar_and_window_page_show_it() {
    let mut w = pages_world().await;
    let form = w.officer_get("/windows/new").await;
    assert_eq!(form.status, StatusCode::OK);
    assert_clean(&form);
    assert!(form.body.contains("10X Chemistry"), "{}", form.body);
    assert!(
        form.body.contains("All Year 10 Chemistry"),
        "groups are offered"
    );
    assert!(form.body.contains("All of Year 10"));

    // The preview: per class counts, the values kept, nothing saved.
    let course = w.course.to_string();
    let fields = [
        ("name", "Year 10 Chemistry practical"),
        ("note", "Lab 3.\nBring goggles."),
        ("starts_at", "2031-03-25T10:00"),
        ("ends_at", "2031-03-25T11:30"),
        ("classes", course.as_str()),
        ("step", "preview"),
    ];
    let preview = w.officer_posts("/windows/new", &fields).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(preview.body.contains("Preview: what this window will lock"));
    assert!(
        preview.body.contains("3 folders will lock"),
        "{}",
        preview.body
    );
    assert!(preview.body.contains("10:00 on 25 March 2031"));
    assert!(
        preview
            .body
            .contains("value=\"Year 10 Chemistry practical\"")
    );
    assert!(preview.body.contains("Bring goggles."));
    assert!(
        preview
            .body
            .contains(&format!("value=\"{course}\" checked"))
    );
    assert_eq!(w.windows_saved().await, 0, "a preview saves nothing");
    assert_eq!(w.count("window.previewed").await, 1, "audited as the API's");

    // A whole group previews the same class.
    let by_group = w
        .officer_posts(
            "/windows/new",
            &[
                ("name", "Year 10 mocks"),
                ("starts_at", "2031-03-25T10:00"),
                ("ends_at", "2031-03-25T11:30"),
                ("groups", "/10"),
                ("step", "preview"),
            ],
        )
        .await;
    assert_eq!(by_group.status, StatusCode::OK, "{}", by_group.body);
    assert!(by_group.body.contains("3 folders will lock"));
    assert!(by_group.body.contains("In a group"));
    assert!(by_group.body.contains("value=\"/10\" checked"));

    // Scheduling saves once and goes to the window's page with a notice.
    let mut save = fields.to_vec();
    save.pop();
    save.push(("step", "save"));
    let saved = w.officer_posts("/windows/new", &save).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let id = window_of(&saved);
    assert!(
        saved.headers["location"]
            .to_str()
            .unwrap()
            .ends_with("?done=scheduled")
    );
    assert_eq!(w.windows_saved().await, 1);
    assert_eq!(w.count("window.created").await, 1);

    let page = w
        .officer_get(&format!("/windows/{id}?done=scheduled"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_clean(&page);
    assert!(page.body.contains("The window is scheduled."));
    assert!(page.body.contains("Year 10 Chemistry practical"));
    assert!(page.body.contains(">Scheduled<"));
    assert!(page.body.contains("10:00 on 25 March 2031"));
    assert!(page.body.contains("11:30 on 25 March 2031"));
    assert!(page.body.contains("Grace Whitfield"), "who scheduled it");
    assert!(page.body.contains(&format!("href=\"/classes/{course}\"")));
    assert!(page.body.contains("3 folders will lock"));
    assert!(page.body.contains(&format!("href=\"/windows/{id}/edit\"")));
    assert!(
        page.body
            .contains(&format!("href=\"/windows/{id}/cancel\""))
    );
    assert!(
        !page.body.contains(&format!("/windows/{id}/release")),
        "nothing to release"
    );

    let before = w.count("windows.listed").await;
    let list = w.officer_get("/windows").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_clean(&list);
    assert!(list.body.contains("Year 10 Chemistry practical"));
    assert!(list.body.contains("1 class"));
    assert!(list.body.contains("href=\"/windows/new\""));
    assert!(list.body.contains("Calendar feed"));
    assert_eq!(
        w.count("windows.listed").await,
        before + 1,
        "one entry per page"
    );

    let calendar = w.officer_get("/windows?view=calendar&month=2031-03").await;
    assert_eq!(calendar.status, StatusCode::OK);
    assert_clean(&calendar);
    assert!(calendar.body.contains("March 2031"));
    assert!(calendar.body.contains("<caption"));
    assert!(calendar.body.contains("Tuesday 25 March 2031"));
    assert!(calendar.body.contains("10:00–11:30"), "{}", calendar.body);
    assert!(calendar.body.contains("month=2031-02") && calendar.body.contains("month=2031-04"));
    // The calendar has one address; the other it had redirects there for good.
    for (old, new) in [
        (
            "/windows/calendar?month=2031-03",
            "/windows?view=calendar&month=2031-03",
        ),
        ("/windows/calendar?month=<b>", "/windows?view=calendar"),
        ("/windows/calendar", "/windows?view=calendar"),
    ] {
        let moved = w.officer_get(old).await;
        assert_eq!(moved.status, StatusCode::PERMANENT_REDIRECT, "{old}");
        assert_eq!(moved.headers["location"], new, "{old}");
    }
    let april = w.officer_get("/windows?view=calendar&month=2031-04").await;
    assert!(!april.body.contains("Year 10 Chemistry practical"));
    assert!(april.body.contains("No windows in April 2031"));
}

#[tokio::test]
async fn every_bad_input_shows_the_form_again_beside_its_field_and_saves_nothing() {
    let mut w = pages_world().await;
    let course = w.course.to_string();
    let unknown = Uuid::new_v4().to_string();
    let long_name = "x".repeat(201);
    // (what changes, the field, what the message says)
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'static str, &'static str);
    let cases: Vec<Case> = vec![
        (
            vec![("ends_at", "2031-03-25T09:00")],
            "ends_at",
            "The end must be after the start",
        ),
        (
            vec![("classes", "")],
            "classes",
            "Tick at least one class or group",
        ),
        (vec![("name", "  ")], "name", "Enter a name for the window"),
        (
            vec![("name", long_name.as_str())],
            "name",
            "The name is longer than 200 characters",
        ),
        (
            // The last Sunday of March 2031 is the 30th: 01:00–01:59 does not happen.
            vec![
                ("starts_at", "2031-03-30T01:30"),
                ("ends_at", "2031-03-30T03:00"),
            ],
            "starts_at",
            "does not happen in the UK",
        ),
        (
            // The last Sunday of October 2031 is the 26th: 01:00–01:59 happens twice.
            vec![
                ("starts_at", "2031-10-26T01:30"),
                ("ends_at", "2031-10-26T03:00"),
            ],
            "starts_at",
            "choose which one below",
        ),
        (
            vec![("starts_at", "2020-01-01T10:00")],
            "starts_at",
            "The start has already passed",
        ),
        (
            vec![("starts_at", "")],
            "starts_at",
            "Enter the date and time it starts",
        ),
        (
            vec![("classes", unknown.as_str())],
            "classes",
            "There is no current class",
        ),
        (
            vec![("classes", ""), ("groups", "/0")],
            "selections",
            "The groups must give year groups from 1 to 13",
        ),
        (
            vec![("groups", "nonsense")],
            "selections",
            "could not be read",
        ),
    ];
    for (changes, field, message) in cases {
        for step in ["preview", "save"] {
            let mut fields: Vec<(&str, &str)> = vec![
                ("name", "Mock"),
                ("starts_at", "2031-03-25T10:00"),
                ("ends_at", "2031-03-25T11:30"),
                ("note", "Kept as typed"),
            ];
            for (k, v) in &changes {
                fields.retain(|(f, _)| f != k);
                if !v.is_empty() {
                    fields.push((k, v));
                }
            }
            if !changes.iter().any(|(k, _)| *k == "classes") {
                fields.push(("classes", course.as_str()));
            }
            fields.push(("step", step));
            let page = w.officer_posts("/windows/new", &fields).await;
            assert_eq!(
                page.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{changes:?} {step}: {}",
                page.body
            );
            assert_clean(&page);
            let beside = error_beside(&page, field);
            assert!(beside.contains(message), "{changes:?} {step}: {beside}");
            assert!(page.body.contains("There is a problem"), "the summary");
            assert!(page.body.contains(&format!("href=\"#{field}\"")));
            if field == "classes" {
                // The class boxes' fieldset is described by its error too.
                assert!(
                    page.body
                        .contains("aria-describedby=\"classes-hint classes-error\""),
                    "{changes:?} {step}"
                );
            }
            assert!(
                page.body.contains("Kept as typed"),
                "what was typed is kept"
            );
            assert!(
                !page.body.contains("Preview: what"),
                "no preview with an error"
            );
        }
    }
    assert_eq!(w.windows_saved().await, 0, "nothing saved");
    assert_eq!(w.count("window.previewed").await, 0);

    // The repeated hour offers the choice; with it chosen, the window is saved at that instant.
    let ambiguous = w
        .officer_posts(
            "/windows/new",
            &[
                ("name", "Night shift"),
                ("starts_at", "2031-10-26T01:30"),
                ("ends_at", "2031-10-26T03:00"),
                ("classes", course.as_str()),
                ("step", "save"),
            ],
        )
        .await;
    assert!(
        ambiguous
            .body
            .contains("name=\"starts_offset\" value=\"+00:00\"")
    );
    let chosen = w
        .officer_posts(
            "/windows/new",
            &[
                ("name", "Night shift"),
                ("starts_at", "2031-10-26T01:30"),
                ("starts_offset", "+00:00"),
                ("ends_at", "2031-10-26T03:00"),
                ("classes", course.as_str()),
                ("step", "save"),
            ],
        )
        .await;
    assert_eq!(chosen.status, StatusCode::SEE_OTHER, "{}", chosen.body);
    let starts: DateTime<Utc> =
        sqlx::query_scalar("SELECT starts_at FROM tenant_hillside.assessment_windows")
            .fetch_one(&w.l.w.db.pool)
            .await
            .unwrap();
    assert_eq!(
        starts.to_rfc3339(),
        "2031-10-26T01:30:00+00:00",
        "the second, in GMT"
    );
    let page = w
        .officer_get(&format!("/windows/{}", window_of(&chosen)))
        .await;
    assert!(
        page.body.contains("01:30 (GMT) on 26 October 2031"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn an_officer_edits_everything_before_the_start_and_only_the_end_after_it() {
    let mut w = pages_world().await;
    let id = w
        .schedule("Paper 1", "2031-05-12T09:00", "2031-05-12T10:30", false)
        .await;
    let course = w.course.to_string();
    let form = w.officer_get(&format!("/windows/{id}/edit")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert_clean(&form);
    assert!(form.body.contains("value=\"Paper 1\""));
    assert!(form.body.contains("value=\"2031-05-12T09:00\""));
    assert!(form.body.contains(&format!("value=\"{course}\" checked")));

    let preview = w
        .officer_posts(
            &format!("/windows/{id}/edit"),
            &[
                ("name", "Paper 1 (moved)"),
                ("starts_at", "2031-05-13T09:00"),
                ("ends_at", "2031-05-13T10:30"),
                ("classes", course.as_str()),
                ("step", "preview"),
            ],
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(preview.body.contains("3 folders will lock"));
    assert_eq!(w.state_of(id).await, "scheduled");
    let name: String =
        sqlx::query_scalar("SELECT name FROM tenant_hillside.assessment_windows WHERE id = $1")
            .bind(id)
            .fetch_one(&w.l.w.db.pool)
            .await
            .unwrap();
    assert_eq!(name, "Paper 1", "a preview of an edit saves nothing");

    let saved = w
        .officer_posts(
            &format!("/windows/{id}/edit"),
            &[
                ("name", "Paper 1 (moved)"),
                ("note", "Hall B"),
                ("starts_at", "2031-05-13T09:00"),
                ("ends_at", "2031-05-13T10:30"),
                ("classes", course.as_str()),
                ("step", "save"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert!(
        saved.headers["location"]
            .to_str()
            .unwrap()
            .ends_with("?done=saved")
    );
    let page = w.officer_get(&format!("/windows/{id}?done=saved")).await;
    assert!(page.body.contains("Your changes are saved."));
    assert!(page.body.contains("Paper 1 (moved)") && page.body.contains("Hall B"));
    assert!(page.body.contains("09:00 on 13 May 2031"));

    // Under way: only the end, and not into the past.
    w.shift(id, "-1 minute", "1 hour").await;
    w.tick().await;
    assert_eq!(w.state_of(id).await, "active");
    let form = w.officer_get(&format!("/windows/{id}/edit")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body.contains("only its end can move now"),
        "{}",
        form.body
    );
    assert!(
        !form.body.contains("id=\"name\""),
        "the name is not editable"
    );
    assert!(form.body.contains("id=\"ends_at\""));
    let page = w.officer_get(&format!("/windows/{id}")).await;
    assert!(page.body.contains("Change the end"));
    let past = w
        .officer_posts(
            &format!("/windows/{id}/edit"),
            &[("ends_at", "2020-01-01T10:00"), ("step", "save")],
        )
        .await;
    assert_eq!(past.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_beside(&past, "ends_at").contains("The new end has already passed"));
    let later = (Utc::now() + chrono::Duration::hours(3))
        .with_timezone(&chrono_tz::Europe::London)
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let moved = w
        .officer_posts(
            &format!("/windows/{id}/edit"),
            &[
                ("ends_at", later.as_str()),
                ("name", "Sneaky rename"),
                ("step", "save"),
            ],
        )
        .await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.body);
    let (name, ends): (String, DateTime<Utc>) = sqlx::query_as(
        "SELECT name, ends_at FROM tenant_hillside.assessment_windows WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&w.l.w.db.pool)
    .await
    .unwrap();
    assert_eq!(
        name, "Paper 1 (moved)",
        "only the end moves once it has started"
    );
    assert!(ends > Utc::now() + chrono::Duration::hours(2));

    // Over: nothing to edit.
    w.shift(id, "-2 hours", "-1 second").await;
    w.tick().await;
    assert_eq!(w.state_of(id).await, "ended");
    let refused = w.officer_get(&format!("/windows/{id}/edit")).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body.contains("can no longer be changed"));
    let page = w.officer_get(&format!("/windows/{id}")).await;
    assert!(!page.body.contains(&format!("/windows/{id}/edit")));
    assert!(!page.body.contains(&format!("/windows/{id}/cancel")));
}

#[tokio::test]
async fn cancel_and_release_ask_first_then_unlock_and_say_so() {
    let mut w = pages_world().await;
    let paper = w
        .schedule("Paper 2", "2031-06-02T09:00", "2031-06-02T10:00", false)
        .await;
    let ask = w.officer_get(&format!("/windows/{paper}/cancel")).await;
    assert_eq!(ask.status, StatusCode::OK);
    assert_clean(&ask);
    assert!(ask.body.contains("Cancel “Paper 2”?"));
    assert!(ask.body.contains("nothing will be locked"));
    // A teacher has neither the question nor the answer.
    assert_eq!(
        w.teacher_get(&format!("/windows/{paper}/cancel"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let refused = w
        .teacher_posts(&format!("/windows/{paper}/cancel"), &[])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(w.state_of(paper).await, "scheduled");

    let done = w
        .officer_posts(&format!("/windows/{paper}/cancel"), &[])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        done.headers["location"],
        format!("/windows/{paper}?done=cancelled").as_str()
    );
    assert_eq!(w.state_of(paper).await, "cancelled");
    assert_eq!(w.count("window.cancelled").await, 1);
    let page = w
        .officer_get(&format!("/windows/{paper}?done=cancelled"))
        .await;
    assert!(page.body.contains("The window is cancelled."));
    assert!(
        page.body.contains("Cancelled by Grace Whitfield"),
        "{}",
        page.body
    );
    // Twice: refused as the API refuses it, nothing changes.
    let again = w.officer_get(&format!("/windows/{paper}/cancel")).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("already cancelled"));
    let again = w
        .officer_posts(&format!("/windows/{paper}/cancel"), &[])
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.body.contains("already cancelled"), "{}", again.body);
    assert_eq!(w.count("window.cancelled").await, 1);
    let list = w.officer_get("/windows").await;
    assert!(list.body.contains("Paper 2") && list.body.contains(">Cancelled<"));

    // An "until released" window past its deadline is held until an officer releases it.
    let deadline = w
        .schedule(
            "Coursework deadline",
            "2031-06-03T09:00",
            "2031-06-03T17:00",
            true,
        )
        .await;
    w.shift(deadline, "-1 minute", "1 hour").await;
    w.tick().await;
    w.shift(deadline, "-2 hours", "-1 second").await;
    w.tick().await;
    assert_eq!(w.state_of(deadline).await, "held");
    assert_eq!(w.desired(&pupil(0)).await, "locked");
    let page = w.officer_get(&format!("/windows/{deadline}")).await;
    assert!(
        page.body.contains("Waiting to be released"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(&format!("href=\"/windows/{deadline}/release\""))
    );
    assert!(!page.body.contains(&format!("/windows/{deadline}/edit")));
    let ask = w.officer_get(&format!("/windows/{deadline}/release")).await;
    assert_eq!(ask.status, StatusCode::OK);
    assert!(ask.body.contains("Release “Coursework deadline”?"));
    let done = w
        .officer_posts(&format!("/windows/{deadline}/release"), &[])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(w.state_of(deadline).await, "ended");
    assert_eq!(w.count("window.released").await, 1);
    for i in 0..3 {
        assert_eq!(w.desired(&pupil(i)).await, "unlocked", "pupil {i}");
    }
    let page = w
        .officer_get(&format!("/windows/{deadline}?done=released"))
        .await;
    assert!(page.body.contains("The window is released."));
    assert!(page.body.contains("Released by Grace Whitfield"));
}

#[tokio::test]
async fn a_class_in_a_window_says_why_and_an_officer_lets_one_student_out_with_a_reason() {
    let mut w = pages_world().await;
    let id = w
        .schedule("Mock exam", "2031-06-02T09:00", "2031-06-02T10:00", false)
        .await;
    w.shift(id, "-1 minute", "1 hour").await;
    w.tick().await;
    assert_eq!(w.state_of(id).await, "active");
    let (held, _) = w.l.portfolio_of(&pupil(0)).await;
    let course = w.course;

    // The teacher: the badge, no class unlock, and each held row says why instead of a button.
    let page = w.teacher_get(&format!("/classes/{course}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_clean(&page);
    assert!(
        page.body.contains("Assessment window “Mock exam” until"),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("href=\"/windows/{id}\"")));
    assert!(!page.body.contains("data-class-action=\"unlock\""));
    let row = row_of(&page.body, held);
    assert!(
        row.contains("Held by an assessment window: “Mock exam”, until"),
        "{row}"
    );
    assert!(row.contains("Only an Examinations Officer can let one student out"));
    assert!(!row.contains("data-action=\"unlock\""), "{row}");
    assert!(
        !row.contains("/override"),
        "a teacher cannot let anyone out"
    );
    // The rows the script fetches say the same: the wording is the server's.
    let rows = w.teacher_get(&format!("/classes/{course}/rows")).await;
    assert!(row_of(&rows.body, held).contains("Held by an assessment window: “Mock exam”"));
    // A teacher has no way out to offer.
    let refused = w.teacher_get(&format!("/portfolios/{held}/override")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("You cannot do that"));
    let refused = w
        .teacher_posts(
            &format!("/portfolios/{held}/override"),
            &[("reason", "please")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(w.desired(&pupil(0)).await, "locked");

    // The officer: the link on the held row, the form, a reason required.
    let page = w.officer_get(&format!("/classes/{course}")).await;
    let row = row_of(&page.body, held);
    assert!(
        row.contains(&format!("href=\"/portfolios/{held}/override\"")),
        "{row}"
    );
    assert!(row.contains("Let out of this window"));
    let form = w.officer_get(&format!("/portfolios/{held}/override")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert_clean(&form);
    assert!(
        form.body.contains("Let Pupil0 Learner out of the window"),
        "{}",
        form.body
    );
    assert!(form.body.contains("Mock exam"));
    let missing = w
        .officer_posts(&format!("/portfolios/{held}/override"), &[("reason", "  ")])
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_beside(&missing, "reason").contains("Enter the reason"));
    assert_eq!(w.desired(&pupil(0)).await, "locked", "nothing changed");
    assert_eq!(w.count("window.overridden").await, 0);
    let long = "x".repeat(501);
    let too_long = w
        .officer_posts(
            &format!("/portfolios/{held}/override"),
            &[("reason", &long)],
        )
        .await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_beside(&too_long, "reason").contains("longer than 500"));
    assert!(too_long.body.contains(&long), "what was typed is kept");

    let done = w
        .officer_posts(
            &format!("/portfolios/{held}/override"),
            &[("reason", "Access arrangement: 25% extra time")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        done.headers["location"],
        format!("/classes/{course}?done=let-out").as_str()
    );
    assert_eq!(w.desired(&pupil(0)).await, "unlocked");
    let overridden: Vec<Value> =
        w.l.w
            .audit_actions()
            .await
            .into_iter()
            .filter(|(a, _)| a == "window.overridden")
            .map(|(_, d)| d)
            .collect();
    assert_eq!(overridden.len(), 1);
    assert_eq!(
        overridden[0]["reason"],
        json!("Access arrangement: 25% extra time")
    );
    let page = w
        .officer_get(&format!("/classes/{course}?done=let-out"))
        .await;
    assert!(
        page.body
            .contains("The student is let out of the assessment window")
    );
    let row = row_of(&page.body, held);
    assert!(!row.contains("Held by an assessment window"), "{row}");
    // Out already: the form says so rather than asking again.
    let again = w.officer_get(&format!("/portfolios/{held}/override")).await;
    assert!(again.body.contains("No assessment window holds"));
    let again = w
        .officer_posts(
            &format!("/portfolios/{held}/override"),
            &[("reason", "again")],
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(w.count("window.overridden").await, 1);
    // A portfolio out of reach or made up is the one "not found".
    let missing = w
        .officer_get(&format!("/portfolios/{}/override", Uuid::new_v4()))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_calendar_address_is_made_shown_once_replaced_and_revoked_from_the_windows_page() {
    let mut w = pages_world().await;
    w.schedule("Paper 3", "2031-06-02T09:00", "2031-06-02T10:00", false)
        .await;
    let list = w.officer_get("/windows").await;
    assert!(list.body.contains("You have no calendar address"));
    assert!(list.body.contains("Create address"));

    let made = w.officer_posts("/windows/calendar-feed", &[]).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    assert_clean(&made);
    assert_eq!(made.headers["cache-control"], "no-store");
    assert!(made.body.contains("Anyone who has it can see"));
    assert!(made.body.contains("data-copy-button"));
    let url = |page: &Page| {
        page.body
            .split("id=\"feed-url\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned()
    };
    let first = url(&made);
    assert!(
        first.contains("/calendar/hillside/") && first.ends_with(".ics"),
        "{first}"
    );
    let anonymous = common::http_client();
    let feed = anonymous.get(&first).send().await.unwrap();
    assert_eq!(feed.status(), StatusCode::OK);
    assert!(feed.text().await.unwrap().contains("SUMMARY:Paper 3"));

    let list = w.officer_get("/windows").await;
    assert!(list.body.contains("You have a calendar address"));
    assert!(list.body.contains("A calendar last read it at"));
    assert!(
        !list.body.contains(&first),
        "the address is never shown again"
    );

    // Replace and revoke ask first, on a page of their own, changing nothing.
    assert!(
        list.body
            .contains("href=\"/windows/calendar-feed/replace\"")
    );
    assert!(list.body.contains("href=\"/windows/calendar-feed/revoke\""));
    assert!(
        !list
            .body
            .contains("action=\"/windows/calendar-feed/revoke\""),
        "no revoke at one click"
    );
    for (path, posts_to) in [
        ("/windows/calendar-feed/replace", "/windows/calendar-feed"),
        (
            "/windows/calendar-feed/revoke",
            "/windows/calendar-feed/revoke",
        ),
    ] {
        let ask = w.officer_get(path).await;
        assert_eq!(ask.status, StatusCode::OK, "{path}");
        assert_clean(&ask);
        assert!(ask.body.contains("stops working at once"), "{}", ask.body);
        assert!(ask.body.contains(&format!("action=\"{posts_to}\"")));
        assert!(ask.body.contains("No, go back"));
        let refused = w.teacher_get(path).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(
        anonymous.get(&first).send().await.unwrap().status(),
        StatusCode::OK,
        "asking changed nothing"
    );
    assert_eq!(w.count("calendar_feed.created").await, 1);

    let replaced = w.officer_posts("/windows/calendar-feed", &[]).await;
    assert!(
        replaced
            .body
            .contains("Your old address has stopped working")
    );
    let second = url(&replaced);
    assert_ne!(first, second);
    assert_eq!(
        anonymous.get(&first).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        anonymous.get(&second).send().await.unwrap().status(),
        StatusCode::OK
    );

    let revoked = w.officer_posts("/windows/calendar-feed/revoke", &[]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(
        revoked.headers["location"],
        "/windows?done=feed-revoked#calendar-feed"
    );
    assert_eq!(
        anonymous.get(&second).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let list = w.officer_get("/windows?done=feed-revoked").await;
    assert!(list.body.contains("Your calendar address is revoked"));
    assert!(list.body.contains("You have no calendar address"));
    let none = w.officer_get("/windows/calendar-feed/revoke").await;
    assert_eq!(none.status, StatusCode::CONFLICT);
    assert!(none.body.contains("You have no calendar address to revoke"));
    assert!(
        !none
            .body
            .contains("action=\"/windows/calendar-feed/revoke\"")
    );
    let twice = w.officer_posts("/windows/calendar-feed/revoke", &[]).await;
    assert_eq!(
        twice.headers["location"],
        "/windows?done=feed-none#calendar-feed"
    );
    assert_eq!(w.count("calendar_feed.created").await, 2);
    assert_eq!(w.count("calendar_feed.revoked").await, 1);

    let refused = w.teacher_posts("/windows/calendar-feed", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(w.count("calendar_feed.created").await, 2);
}

#[tokio::test]
async fn a_teacher_sees_only_the_windows_over_their_classes_and_nothing_to_manage() {
    let mut w = pages_world().await;
    let theirs = w
        .schedule(
            "Chemistry practical",
            "2031-03-25T10:00",
            "2031-03-25T11:00",
            false,
        )
        .await;
    let other_class: Uuid = sqlx::query_scalar(
        "INSERT INTO tenant_hillside.courses (classroom_id, name) VALUES ('999', '11Y Physics') \
         RETURNING id",
    )
    .fetch_one(&w.l.w.db.pool)
    .await
    .unwrap();
    let other_class = other_class.to_string();
    let saved = w
        .officer_posts(
            "/windows/new",
            &[
                ("name", "Physics mock"),
                ("starts_at", "2031-03-26T10:00"),
                ("ends_at", "2031-03-26T11:00"),
                ("classes", other_class.as_str()),
                ("step", "save"),
            ],
        )
        .await;
    let not_theirs = window_of(&saved);

    let list = w.teacher_get("/windows").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("Chemistry practical"));
    assert!(!list.body.contains("Physics mock"), "{}", list.body);
    assert!(list.body.contains("The windows over your classes"));
    assert!(!list.body.contains("Schedule a window"));
    assert!(!list.body.contains("Calendar feed"));
    let calendar = w.teacher_get("/windows?view=calendar&month=2031-03").await;
    assert!(calendar.body.contains("Chemistry practical"));
    assert!(!calendar.body.contains("Physics mock"));
    let page = w.teacher_get(&format!("/windows/{theirs}")).await;
    assert_eq!(page.status, StatusCode::OK);
    for absent in ["/edit", "/cancel", "/release", "will lock"] {
        assert!(!page.body.contains(absent), "{absent}: {}", page.body);
    }
    let strip = |body: &str| body.split("<code>").next().unwrap_or_default().to_owned();
    let hidden = w.teacher_get(&format!("/windows/{not_theirs}")).await;
    let missing = w.teacher_get(&format!("/windows/{}", Uuid::new_v4())).await;
    let malformed = w.teacher_get("/windows/not-an-id").await;
    for page in [&hidden, &missing, &malformed] {
        assert_eq!(page.status, StatusCode::NOT_FOUND);
        assert_eq!(strip(&page.body), strip(&missing.body));
    }

    for path in ["/windows/new".to_owned(), format!("/windows/{theirs}/edit")] {
        let page = w.teacher_get(&path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(page.body.contains("You cannot do that"));
    }
    let course = w.course.to_string();
    let refused = w
        .teacher_posts(
            "/windows/new",
            &[
                ("name", "Sneaky"),
                ("starts_at", "2031-03-27T10:00"),
                ("ends_at", "2031-03-27T11:00"),
                ("classes", course.as_str()),
                ("step", "save"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(w.windows_saved().await, 2, "nothing saved");

    // Nobody signed in: every page sends them to sign in.
    let mut anonymous = w.l.w.browser();
    for path in [
        "/windows".to_owned(),
        "/windows?view=calendar".to_owned(),
        "/windows/new".to_owned(),
        format!("/windows/{theirs}"),
        format!("/windows/{theirs}/edit"),
        format!("/windows/{theirs}/cancel"),
        format!("/portfolios/{}/override", Uuid::new_v4()),
    ] {
        let page = anonymous.get(&w.l.w.url(&path)).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.headers["location"], "/");
    }
}

#[tokio::test]
async fn a_teachers_window_page_names_only_their_own_classes() {
    let mut w = pages_world().await;
    // Another teacher's class in the same group (Chemistry, Year 10).
    let other_class: Uuid = sqlx::query_scalar(
        "INSERT INTO tenant_hillside.courses (classroom_id, name, subject_id, year_group) \
         SELECT '998', '10Y Chemistry', subject_id, year_group FROM tenant_hillside.courses \
         WHERE id = $1 RETURNING id",
    )
    .bind(w.course)
    .fetch_one(&w.l.w.db.pool)
    .await
    .unwrap();
    let by_group = w
        .officer_posts(
            "/windows/new",
            &[
                ("name", "Year 10 mocks"),
                ("starts_at", "2031-03-25T10:00"),
                ("ends_at", "2031-03-25T12:00"),
                ("groups", "/10"),
                ("step", "save"),
            ],
        )
        .await;
    assert_eq!(by_group.status, StatusCode::SEE_OTHER, "{}", by_group.body);
    let by_group = window_of(&by_group);
    let (mine, theirs) = (w.course.to_string(), other_class.to_string());
    let both = w
        .officer_posts(
            "/windows/new",
            &[
                ("name", "Chemistry practical"),
                ("starts_at", "2031-03-25T11:00"),
                ("ends_at", "2031-03-25T13:00"),
                ("classes", mine.as_str()),
                ("classes", theirs.as_str()),
                ("step", "save"),
            ],
        )
        .await;
    let both = window_of(&both);

    // The officer's list counts what the group catches today (one query for the list).
    let list = w.officer_get("/windows").await;
    assert!(
        list.body.contains("2 classes today, by group"),
        "{}",
        list.body
    );
    // The officer sees every class, and what the window will lock.
    let officer = w.officer_get(&format!("/windows/{by_group}")).await;
    assert!(officer.body.contains("10Y Chemistry"), "{}", officer.body);
    assert!(officer.body.contains("will lock"));

    for id in [by_group, both] {
        let page = w.teacher_get(&format!("/windows/{id}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("10X Chemistry"), "{}", page.body);
        assert!(!page.body.contains("10Y Chemistry"), "{}", page.body);
        assert!(!page.body.contains(&theirs), "not even its id");
        assert!(page.body.contains("and 1 other class"), "{}", page.body);
        assert!(
            !page.body.contains("will lock"),
            "the preview is the officer's"
        );
    }
    // The overlap between them is shown, naming only the teacher's class.
    let page = w.teacher_get(&format!("/windows/{by_group}")).await;
    assert!(page.body.contains("Chemistry practical"), "{}", page.body);

    // The API answers the teacher the same way: their class by name, the other one counted.
    let api = w.teacher_get(&format!("/api/windows/{both}")).await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.body);
    let window: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(window["classes"].as_array().unwrap().len(), 1, "{window}");
    assert_eq!(window["classes"][0]["id"], mine.as_str());
    assert_eq!(window["other_classes"], 1);
    let listed = w.teacher_get("/api/windows").await;
    assert!(!listed.body.contains(&theirs), "{}", listed.body);
    let officer = w.officer_get(&format!("/api/windows/{both}")).await;
    let window: serde_json::Value = serde_json::from_str(&officer.body).unwrap();
    assert_eq!(window["classes"].as_array().unwrap().len(), 2);
    assert_eq!(window["other_classes"], 0);
}

#[tokio::test]
async fn every_role_reaches_the_windows_pages_its_permissions_give() {
    use invigilator::auth::roles::{Permission, allows};
    let w = common::browser::SignInWorld::new().await;
    for (role, mut browser) in crate::roles::one_of_each(&w).await {
        let sees_classes =
            allows(role, Permission::ViewOwnClasses) || allows(role, Permission::ViewAllClasses);
        let manages = allows(role, Permission::ManageWindows);
        let list = browser.get(&w.url("/windows")).await;
        let calendar = browser.get(&w.url("/windows?view=calendar")).await;
        let new = browser.get(&w.url("/windows/new")).await;
        let expected = if sees_classes {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(list.status, expected, "{role:?}");
        assert_eq!(calendar.status, expected, "{role:?}");
        assert_eq!(
            new.status,
            if manages {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            },
            "{role:?}"
        );
        assert_eq!(
            list.body.contains("href=\"/windows/new\""),
            manages,
            "{role:?}: the button only for who may use it"
        );
    }
}
