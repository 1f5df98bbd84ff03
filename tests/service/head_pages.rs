//! Browser-free tests of the head pages through HTTP, as the signed-in roles: the whole-school
//! view, the audit log page (filters, paging, the read audited, the chain verified and found
//! broken) and the School Admin's set-up checklist with the landing that depends on it.

use google_emulator::FaultPlan;
use invigilator::audit::{self, Action, Actor, Target};
use invigilator::auth::roles::{Permission, Role, allows};
use invigilator::tenancy::begin_school_tx;
use invigilator_test_kit::browser::{Browser, Page, RequestBody, SignInWorld};
use invigilator_test_kit::lock_world::lock_world;
use invigilator_test_kit::{database_url, pupil};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

fn browser_of(people: &mut [(Role, Browser)], role: Role) -> &mut Browser {
    &mut people.iter_mut().find(|(r, _)| *r == role).unwrap().1
}

async fn class_id(w: &SignInWorld, name: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM tenant_hillside.courses WHERE name = $1")
        .bind(name)
        .fetch_one(&w.db.pool)
        .await
        .unwrap()
}

async fn staff_id(w: &SignInWorld, email: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM tenant_hillside.staff WHERE email = $1")
        .bind(email)
        .fetch_one(&w.db.pool)
        .await
        .unwrap()
}

/// A second class, "11Y Physics" (Physics, Year 11), with one student and no folder yet;
/// 10X Chemistry is put in Chemistry, Year 10 (a subject `one_of_each` made).
async fn two_placed_classes(w: &SignInWorld) -> (Uuid, Uuid) {
    let chemistry = class_id(w, "10X Chemistry").await;
    sqlx::query(
        "UPDATE tenant_hillside.courses SET year_group = 10, \
         subject_id = (SELECT id FROM tenant_hillside.subjects WHERE name = 'Chemistry') \
         WHERE id = $1",
    )
    .bind(chemistry)
    .execute(&w.db.pool)
    .await
    .unwrap();
    let physics: Uuid = sqlx::query_scalar(
        "WITH s AS (INSERT INTO tenant_hillside.subjects (name) VALUES ('Physics') RETURNING id) \
         INSERT INTO tenant_hillside.courses (classroom_id, name, subject_id, year_group) \
         SELECT '999', '11Y Physics', s.id, 11 FROM s RETURNING id",
    )
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO tenant_hillside.enrolments (course_id, student_id) \
         SELECT $1, id FROM tenant_hillside.students LIMIT 1",
    )
    .bind(physics)
    .execute(&w.db.pool)
    .await
    .unwrap();
    (chemistry, physics)
}

/// The part of a page after `marker` (a table, say), so a word in a select's options is not
/// taken for a row.
fn after<'a>(page: &'a Page, marker: &str) -> &'a str {
    page.body.split(marker).nth(1).unwrap_or("")
}

/// A class's row of the whole-school table.
fn school_row<'a>(page: &'a Page, class: &str) -> &'a str {
    after(page, &format!(">{class}</a>"))
        .split("</tr>")
        .next()
        .unwrap()
}

fn count_cell(row: &str, label: &str) -> String {
    row.split(&format!("data-label=\"{label}\""))
        .nth(1)
        .unwrap()
        .split('>')
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned()
}

fn total(page: &Page, label: &str) -> String {
    after(page, &format!("<dt>{label}</dt><dd>"))
        .split('<')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_whole_school_view_counts_every_state_for_the_head_and_the_exams_officer() {
    let mut l = lock_world().await;
    let mut people = crate::roles::one_of_each(&l.w).await;
    let (_, _physics) = two_placed_classes(&l.w).await;
    let (first, _) = l.portfolio_of(&pupil(0)).await;
    let (second, _) = l.portfolio_of(&pupil(1)).await;
    let (third, _) = l.portfolio_of(&pupil(2)).await;
    for id in [first, second] {
        let asked = l.post(&format!("/api/portfolios/{id}/lock")).await;
        assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.body);
    }
    l.apply(first).await;
    sqlx::query(
        "UPDATE tenant_hillside.portfolios SET desired = 'locked', \
         desired_version = desired_version + 1, failed_permanently = true, \
         last_error = 'Google refused the change' WHERE id = $1",
    )
    .bind(third)
    .execute(&l.w.db.pool)
    .await
    .unwrap();

    for role in [Role::Headteacher, Role::ExamsOfficer] {
        let page = browser_of(&mut people, role).get(&l.w.url("/school")).await;
        assert_eq!(page.status, StatusCode::OK, "{role:?}: {}", page.body);
        assert!(page.body.contains("aria-current=\"page\">Whole school"));
        assert_eq!(total(&page, "Classes"), "2");
        assert_eq!(total(&page, "Folders locked"), "1");
        assert_eq!(total(&page, "Folders unlocked"), "0");
        assert_eq!(total(&page, "Folders in progress"), "1");
        assert_eq!(total(&page, "Folders failed"), "1");
        assert_eq!(total(&page, "Classes in an assessment window"), "0");
        let chemistry = school_row(&page, "10X Chemistry");
        assert!(chemistry.contains("Needs attention"), "{chemistry}");
        assert!(chemistry.contains("Ada Lovelace"), "the teacher is named");
        assert!(chemistry.contains("Chemistry") && chemistry.contains("Year 10"));
        for (label, expected) in [
            ("Students", "3"),
            ("Locked", "1"),
            ("Unlocked", "0"),
            ("In progress", "1"),
            ("Failed", "1"),
        ] {
            assert_eq!(count_cell(chemistry, label), expected, "{label}");
        }
        let physics = school_row(&page, "11Y Physics");
        assert!(physics.contains("1 without a folder yet"), "{physics}");
        assert!(!physics.contains("Needs attention"));
        assert!(page.body.contains("1 student has no folder yet"));
    }

    // Filters, as the form sends them.
    let head = browser_of(&mut people, Role::Headteacher);
    let by_subject = head.get(&l.w.url("/school?subject=Physics&year=")).await;
    assert_eq!(by_subject.status, StatusCode::OK);
    assert!(by_subject.body.contains(">11Y Physics</a>"));
    assert!(!by_subject.body.contains(">10X Chemistry</a>"));
    assert!(
        by_subject
            .body
            .contains("Totals for the 1 of 2 classes that match")
    );
    assert!(
        by_subject
            .body
            .contains("<option value=\"Physics\" selected>"),
        "the choice is kept"
    );
    let by_year = head.get(&l.w.url("/school?subject=&year=10")).await;
    assert!(by_year.body.contains(">10X Chemistry</a>"));
    assert!(!by_year.body.contains(">11Y Physics</a>"));
    let attention = head.get(&l.w.url("/school?attention=yes")).await;
    assert!(attention.body.contains(">10X Chemistry</a>"));
    assert!(!attention.body.contains(">11Y Physics</a>"));
    let nothing = head.get(&l.w.url("/school?subject=Physics&year=10")).await;
    assert!(nothing.body.contains("No class matches these filters"));

    // A value no form sends: the form again, the error beside the field.
    let bad = head.get(&l.w.url("/school?year=99&subject=Physics")).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.body
            .contains("id=\"year-error\"><span class=\"visually-hidden\">Error: </span>Choose a year from the list"),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("<option value=\"Physics\" selected>"));
    assert!(!bad.body.contains("school-classes"), "no table to misread");

    // Nobody else sees it, nor is offered it.
    for role in [Role::Teacher, Role::HeadOfSubject, Role::SchoolAdmin] {
        let browser = browser_of(&mut people, role);
        let page = browser.get(&l.w.url("/school")).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{role:?}");
        assert!(page.body.contains("You cannot do that"));
    }
    let mut anonymous = l.w.browser();
    let page = anonymous.get(&l.w.url("/school")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers["location"], "/");
}

/// Entry ids on an audit page, in the order shown.
fn entry_ids(page: &Page) -> Vec<i64> {
    after(page, "<table class=\"audit-entries\">")
        .split("data-label=\"Entry\" class=\"num\">")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().parse().unwrap())
        .collect()
}

fn entries_table(page: &Page) -> &str {
    after(page, "<table class=\"audit-entries\">")
        .split("</table>")
        .next()
        .unwrap()
}

/// The address of the link labelled `label`, unescaped.
fn link_after(page: &Page, label: &str) -> Option<String> {
    let (before, _) = page.body.split_once(&format!(">{label}</a>"))?;
    let tag = before.rsplit("<a ").next()?;
    let href = tag.split("href=\"").nth(1)?.split('"').next()?;
    Some(href.replace("&#38;", "&").replace("&amp;", "&"))
}

async fn reads(w: &SignInWorld) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT details FROM tenant_hillside.audit_log WHERE action = 'audit_log.read' ORDER BY id",
    )
    .fetch_all(&w.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_audit_log_narrows_by_who_what_class_and_date_and_records_each_read() {
    let mut l = lock_world().await;
    let mut people = crate::roles::one_of_each(&l.w).await;
    let (chemistry, physics) = two_placed_classes(&l.w).await;
    let (first, _) = l.portfolio_of(&pupil(0)).await;
    let asked = l.post(&format!("/api/portfolios/{first}/lock")).await;
    assert_eq!(asked.status, StatusCode::ACCEPTED);
    l.apply(first).await;
    // An entry about the other class: its year set by hand.
    let admin = browser_of(&mut people, Role::SchoolAdmin);
    let token = l.w.csrf_token(admin).await;
    let placed = admin
        .request(
            Method::PUT,
            &l.w.url(&format!("/api/classes/{physics}/placement")),
            Some(RequestBody::Json(json!({"year_group": 12}), Some(token))),
        )
        .await;
    assert_eq!(placed.status, StatusCode::OK, "{}", placed.body);
    let teacher = staff_id(&l.w, invigilator_test_kit::TEACHER).await;

    let head = browser_of(&mut people, Role::Headteacher);
    let all = head.get(&l.w.url("/audit")).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    let rows = entries_table(&all);
    for words in [
        "Lock asked for",
        "Locked in Drive",
        "Ada Lovelace",
        "Invigilator (lock worker)",
        "Pupil0 Learner",
        "folder in 10X Chemistry",
        "Class 11Y Physics",
        "Signed in",
    ] {
        assert!(rows.contains(words), "{words}: {rows}");
    }
    assert_eq!(
        reads(&l.w).await,
        vec![json!({})],
        "the read is recorded once"
    );

    let by_teacher = head.get(&l.w.url(&format!("/audit?actor={teacher}"))).await;
    let rows = entries_table(&by_teacher);
    assert!(rows.contains("Lock asked for"));
    assert!(!rows.contains("Invigilator (lock worker)"), "{rows}");
    assert!(
        by_teacher
            .body
            .contains(&format!("<option value=\"{teacher}\" selected>")),
        "the choice is kept"
    );
    let by_service = head.get(&l.w.url("/audit?actor=service")).await;
    let rows = entries_table(&by_service);
    assert!(rows.contains("Locked in Drive"));
    assert!(!rows.contains("Lock asked for"), "{rows}");
    let by_action = head
        .get(&l.w.url("/audit?action=portfolio.lock.applied"))
        .await;
    let rows = entries_table(&by_action);
    assert!(rows.contains("Locked in Drive"));
    assert!(!rows.contains("Signed in") && !rows.contains("Lock asked for"));
    let by_class = head
        .get(&l.w.url(&format!("/audit?class={chemistry}")))
        .await;
    let rows = entries_table(&by_class);
    assert!(rows.contains("Lock asked for") && rows.contains("Locked in Drive"));
    assert!(
        !rows.contains("11Y Physics") && !rows.contains("Signed in"),
        "{rows}"
    );
    let other_class = head.get(&l.w.url(&format!("/audit?class={physics}"))).await;
    let rows = entries_table(&other_class);
    assert!(rows.contains("Class 11Y Physics"), "{rows}");
    assert!(!rows.contains("Lock asked for"));

    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive();
    let yesterday = today.pred_opt().unwrap();
    let from_today = head.get(&l.w.url(&format!("/audit?from={today}"))).await;
    assert!(entries_table(&from_today).contains("Locked in Drive"));
    let until_yesterday = head.get(&l.w.url(&format!("/audit?to={yesterday}"))).await;
    assert_eq!(until_yesterday.status, StatusCode::OK);
    assert!(
        until_yesterday
            .body
            .contains("No entry matches these filters")
    );
    let uk_style = head
        .get(&l.w.url(&format!("/audit?from={}", today.format("%d/%m/%Y"))))
        .await;
    assert!(entries_table(&uk_style).contains("Locked in Drive"));

    // What each read recorded: the filters, by id, never a name.
    let recorded = reads(&l.w).await;
    assert_eq!(recorded.len(), 9, "{recorded:?}");
    assert_eq!(recorded[1], json!({"actor": format!("staff:{teacher}")}));
    assert_eq!(recorded[2], json!({"actor": "service"}));
    assert_eq!(recorded[3], json!({"action": "portfolio.lock.applied"}));
    assert_eq!(recorded[4], json!({"class": chemistry}));
    assert_eq!(recorded[7], json!({"to": yesterday.to_string()}));

    // Bad input: the form again, the error beside the field, what was typed kept, nothing read.
    let malformed = head
        .get(&l.w.url("/audit?from=2027-02-30&action=signin"))
        .await;
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        malformed.body.contains(
            "id=\"from-error\"><span class=\"visually-hidden\">Error: </span>Enter a real date"
        ),
        "{}",
        malformed.body
    );
    assert!(malformed.body.contains("value=\"2027-02-30\""));
    assert!(
        malformed
            .body
            .contains("<option value=\"signin\" selected>")
    );
    assert!(!malformed.body.contains("audit-entries"));
    let backwards = head
        .get(&l.w.url("/audit?from=2027-03-02&to=2027-03-01"))
        .await;
    assert_eq!(backwards.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(backwards.body.contains(
        "id=\"to-error\"><span class=\"visually-hidden\">Error: </span>The end date must be"
    ));
    let stranger = head
        .get(&l.w.url(&format!("/audit?actor={}", Uuid::new_v4())))
        .await;
    assert_eq!(stranger.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(stranger.body.contains("Choose someone from the list"));
    assert_eq!(reads(&l.w).await.len(), 9, "a refused filter reads nothing");
}

#[tokio::test]
async fn the_audit_log_pages_by_fifty_with_the_filters_kept_in_the_links() {
    let w = SignInWorld::new().await;
    let mut people = crate::roles::one_of_each(&w).await;
    let school = w.school().await;
    let class: Uuid = sqlx::query_scalar(
        "INSERT INTO tenant_hillside.courses (classroom_id, name) VALUES ('77', '9Z Music') \
         RETURNING id",
    )
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    for i in 0..120 {
        let mut tx = begin_school_tx(&w.db.pool, &school).await.unwrap();
        // Every other one about the class, so its pages are not the log's.
        let target = if i % 2 == 0 {
            Target::new("course", class)
        } else {
            Target::new("school", school.id)
        };
        audit::record(
            &mut tx,
            &Actor::System("test"),
            Action::SyncRequested,
            Some(&target),
            json!({"i": i}),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let admin = browser_of(&mut people, Role::SchoolAdmin);
    let first = admin.get(&w.url("/audit?action=sync.requested")).await;
    assert_eq!(first.status, StatusCode::OK);
    let first_ids = entry_ids(&first);
    assert_eq!(first_ids.len(), 50);
    assert!(first_ids.windows(2).all(|p| p[0] > p[1]), "newest first");
    assert!(link_after(&first, "Newer entries").is_none());
    let older = link_after(&first, "Older entries").unwrap();
    assert!(older.contains("action=sync.requested"), "{older}");

    let second = admin.get(&w.url(&older)).await;
    let second_ids = entry_ids(&second);
    assert_eq!(second_ids.len(), 50);
    assert!(second_ids[0] < first_ids[49], "no entry twice");
    let third = admin
        .get(&w.url(&link_after(&second, "Older entries").unwrap()))
        .await;
    let third_ids = entry_ids(&third);
    assert_eq!(third_ids.len(), 20);
    assert!(
        link_after(&third, "Older entries").is_none(),
        "the oldest page"
    );
    assert!(link_after(&third, "Newest entries").is_some());
    let back = admin
        .get(&w.url(&link_after(&third, "Newer entries").unwrap()))
        .await;
    assert_eq!(entry_ids(&back), second_ids, "back to the same page");
    let back = admin
        .get(&w.url(&link_after(&back, "Newer entries").unwrap()))
        .await;
    assert_eq!(entry_ids(&back), first_ids);
    assert!(link_after(&back, "Newer entries").is_none());

    // A class's entries page the same way (read through the target index).
    let first = admin.get(&w.url(&format!("/audit?class={class}"))).await;
    let first_ids = entry_ids(&first);
    assert_eq!(first_ids.len(), 50);
    let older = link_after(&first, "Older entries").unwrap();
    assert!(older.contains(&format!("class={class}")), "{older}");
    let second = admin.get(&w.url(&older)).await;
    let second_ids = entry_ids(&second);
    assert_eq!(second_ids.len(), 10);
    assert!(second_ids[0] < first_ids[49]);
    assert!(link_after(&second, "Older entries").is_none());
    let back = admin
        .get(&w.url(&link_after(&second, "Newer entries").unwrap()))
        .await;
    assert_eq!(entry_ids(&back), first_ids);

    let lost = admin.get(&w.url("/audit?before=yesterday")).await;
    assert_eq!(lost.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        lost.body
            .contains("That page of the log could not be found")
    );
}

#[tokio::test]
async fn verifying_the_chain_says_it_is_intact_then_names_the_entry_changed_behind_its_back() {
    let w = SignInWorld::new().await;
    let mut people = crate::roles::one_of_each(&w).await;
    let head = browser_of(&mut people, Role::Headteacher);
    let token = w.csrf_token(head).await;
    let verify = |token: String| {
        RequestBody::Form(vec![
            ("csrf_token".into(), token),
            ("action".into(), "signin".into()),
            ("actor".into(), String::new()),
        ])
    };
    let intact = head
        .request(
            Method::POST,
            &w.url("/audit/verify"),
            Some(verify(token.clone())),
        )
        .await;
    assert_eq!(intact.status, StatusCode::OK, "{}", intact.body);
    assert!(
        intact.body.contains("entries are intact."),
        "{}",
        intact.body
    );
    assert!(
        intact.body.contains("<option value=\"signin\" selected>"),
        "the filters are kept"
    );
    assert!(entries_table(&intact).contains("Signed in"));

    // A superuser switches the triggers off and edits an entry.
    let mut superuser = PgConnection::connect(&database_url(&w.db.name))
        .await
        .unwrap();
    superuser
        .execute("SET session_replication_role = replica")
        .await
        .unwrap();
    let third: i64 =
        sqlx::query_scalar("SELECT id FROM tenant_hillside.audit_log ORDER BY id OFFSET 2 LIMIT 1")
            .fetch_one(&mut superuser)
            .await
            .unwrap();
    sqlx::query(
        "UPDATE tenant_hillside.audit_log SET details = '{\"edited\": true}' WHERE id = $1",
    )
    .bind(third)
    .execute(&mut superuser)
    .await
    .unwrap();
    let broken = head
        .request(Method::POST, &w.url("/audit/verify"), Some(verify(token)))
        .await;
    assert_eq!(broken.status, StatusCode::OK);
    assert!(
        broken.body.contains(&format!(
            "The log is broken at entry {third}: its content was changed after it was written."
        )),
        "{}",
        broken.body
    );
    assert!(broken.body.contains("The 2 entries before it are intact"));
    assert!(broken.body.contains("data protection officer"));

    // Without the page's token, nothing is checked.
    let forged = head
        .request(
            Method::POST,
            &w.url("/audit/verify"),
            Some(RequestBody::Form(vec![])),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn only_school_admins_and_headteachers_read_the_audit_log() {
    let w = SignInWorld::new().await;
    let mut people = crate::roles::one_of_each(&w).await;
    for (role, browser) in &mut people {
        let page = browser.get(&w.url("/audit")).await;
        let token = w.csrf_token(browser).await;
        let verify = browser
            .request(
                Method::POST,
                &w.url("/audit/verify"),
                Some(RequestBody::Form(vec![("csrf_token".into(), token)])),
            )
            .await;
        if allows(*role, Permission::ReadAuditLog) {
            assert_eq!(page.status, StatusCode::OK, "{role:?}");
            assert!(page.body.contains("Verify the chain"));
            assert_eq!(verify.status, StatusCode::OK, "{role:?}");
        } else {
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{role:?}");
            assert!(page.body.contains("You cannot do that"));
            assert_eq!(verify.status, StatusCode::FORBIDDEN, "{role:?}");
            assert!(
                !page.body.contains("href=\"/audit\""),
                "{role:?}: not offered"
            );
        }
    }
    let mut anonymous = w.browser();
    let page = anonymous.get(&w.url("/audit")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers["location"], "/");
}

/// A step of the checklist, from its heading to the next.
fn step<'a>(page: &'a Page, key: &str) -> &'a str {
    after(page, &format!("id=\"step-{key}\""))
        .split("</li>")
        .next()
        .unwrap()
}

#[tokio::test]
async fn a_new_schools_admin_lands_on_the_checklist_with_how_to_do_each_step() {
    let w = SignInWorld::new().await;
    let mut admin = w.browser();
    let landed = w
        .sign_in(&mut admin, invigilator_test_kit::browser::ADMIN)
        .await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert!(landed.url.ends_with("/setup"), "{}", landed.url);
    let home = admin.get(&w.url("/")).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.headers["location"], "/setup");

    let page = admin.get(&w.url("/setup")).await;
    assert_eq!(page.status, StatusCode::OK);
    // Classroom answers through the admin's own sign-in, and the school was created with its
    // staff addresses; nothing else is done.
    assert!(page.body.contains("2 of 6 steps done"), "{}", page.body);
    let drive = step(&page, "drive-account");
    assert!(drive.contains("Needs doing") && drive.contains("not connected yet"));
    assert!(drive.contains("action=\"/auth/connect-drive\""), "{drive}");
    let shared = step(&page, "shared-drive");
    assert!(shared.contains("Needs doing") && shared.contains("No Shared Drive is set yet"));
    assert!(shared.contains("Manager") && shared.contains("href=\"/admin/settings\""));
    let classroom = step(&page, "classroom");
    assert!(classroom.contains("Done"), "{classroom}");
    let sync = step(&page, "sync");
    assert!(sync.contains("Needs doing") && sync.contains("action=\"/setup/sync\""));
    let rules = step(&page, "rules");
    assert!(rules.contains("Needs doing") && rules.contains("href=\"/admin/rules\""));
    assert!(rules.contains("0 subject rules and 0 year rules"));
    let addresses = step(&page, "staff-addresses");
    assert!(
        addresses.contains("Done") && addresses.contains("*@"),
        "{addresses}"
    );

    // Sync now: what POST /api/sync does, audited the same, then back here with a notice.
    let token = w.csrf_token(&mut admin).await;
    let asked = admin
        .request(
            Method::POST,
            &w.url("/setup/sync"),
            Some(RequestBody::Form(vec![("csrf_token".into(), token)])),
        )
        .await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", asked.body);
    assert_eq!(asked.headers["location"], "/setup?done=sync");
    let actions: Vec<String> = w
        .audit_actions()
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert_eq!(actions.last().map(String::as_str), Some("sync.requested"));
    let notice = admin.get(&w.url("/setup?done=sync")).await;
    assert!(
        notice
            .body
            .contains("A sync with Google Classroom has been asked for")
    );
    let unknown = admin.get(&w.url("/setup?done=%3Cb%3Ehello")).await;
    assert!(
        !unknown.body.contains("hello"),
        "nothing from the address is shown"
    );
}

#[tokio::test]
async fn a_finished_school_shows_every_step_done_and_its_admin_lands_at_home() {
    let l = lock_world().await;
    let checked_at = || async {
        sqlx::query_scalar::<_, Option<chrono::DateTime<chrono::Utc>>>(
            "SELECT shared_drive_checked_at FROM platform.tenants WHERE slug = 'hillside'",
        )
        .fetch_one(&l.w.db.pool)
        .await
        .unwrap()
    };
    // The Shared Drive was saved without its check (as before checks existed).
    assert!(checked_at().await.is_none());
    let mut admin = l.w.browser();
    let landed =
        l.w.sign_in(&mut admin, invigilator_test_kit::browser::ADMIN)
            .await;
    assert!(
        landed.url.ends_with("/setup"),
        "no rules yet: {}",
        landed.url
    );
    assert!(landed.body.contains("5 of 6 steps done"), "{}", landed.body);
    assert!(step(&landed, "rules").contains("Needs doing"));
    assert!(
        step(&landed, "shared-drive")
            .contains("The next Classroom sync records that it was checked"),
        "{}",
        landed.body
    );
    assert!(
        checked_at().await.is_none(),
        "the checklist only reports: loading it changes nothing"
    );
    let token = l.w.csrf_token(&mut admin).await;
    // Saving the drive in the settings checks it and records the check (as a sync would).
    let saved = admin
        .request(
            Method::PUT,
            &l.w.url("/api/settings"),
            Some(RequestBody::Json(
                json!({"shared_drive_id": invigilator_test_kit::SHARED_DRIVE}),
                Some(token.clone()),
            )),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(checked_at().await.is_some());
    for (kind, rule) in [
        (
            "subjects",
            json!({"pattern": "%Chem%", "subject": "Chemistry"}),
        ),
        ("year-groups", json!({"pattern": "10%", "year_group": 10})),
    ] {
        let added = admin
            .request(
                Method::POST,
                &l.w.url(&format!("/api/class-rules/{kind}")),
                Some(RequestBody::Json(rule, Some(token.clone()))),
            )
            .await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    }

    let page = admin.get(&l.w.url("/setup")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("6 of 6 steps done"), "{}", page.body);
    assert!(page.body.contains("Everything is set up"));
    assert!(step(&page, "shared-drive").contains("manages the Shared Drive “Portfolios”"));
    assert!(!page.body.contains("Needs doing") && !page.body.contains("Could not check"));
    assert!(
        !page.body.contains("action=\"/setup/sync\""),
        "no button for what is done"
    );

    // Set up: home is home now.
    let home = admin.get(&l.w.url("/")).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    assert!(home.body.contains("Drive account is connected"));
}

#[tokio::test]
async fn google_not_answering_is_could_not_check_not_an_error_page() {
    let l = lock_world().await;
    let slow = FaultPlan {
        latency_ms: 9_000,
        ..FaultPlan::default()
    };
    l.w.emu.set_faults("drive.drives.get", slow.clone());
    l.w.emu.set_faults("classroom.userProfiles.get", slow);
    let mut admin = l.w.browser();
    let started = std::time::Instant::now();
    let page =
        l.w.sign_in(&mut admin, invigilator_test_kit::browser::ADMIN)
            .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.url.ends_with("/setup"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(9),
        "the checks give up in time"
    );
    for key in ["shared-drive", "classroom"] {
        let s = step(&page, key);
        assert!(s.contains("Could not check"), "{key}: {s}");
        assert!(s.contains("Reload this page in a minute"), "{key}: {s}");
    }
    assert!(step(&page, "drive-account").contains("Done"));
    assert!(step(&page, "sync").contains("Done"));
}

#[tokio::test]
async fn only_school_admins_see_the_checklist_and_teachers_still_land_on_their_classes() {
    let w = SignInWorld::new().await;
    let mut people = crate::roles::one_of_each(&w).await;
    for (role, browser) in &mut people {
        let page = browser.get(&w.url("/setup")).await;
        let token = w.csrf_token(browser).await;
        let sync = browser
            .request(
                Method::POST,
                &w.url("/setup/sync"),
                Some(RequestBody::Form(vec![("csrf_token".into(), token)])),
            )
            .await;
        let home = browser.get(&w.url("/")).await;
        if *role == Role::SchoolAdmin {
            assert_eq!(page.status, StatusCode::OK);
            assert!(
                page.body.contains("aria-current=\"page\">Checklist"),
                "the tabs"
            );
            assert_eq!(sync.status, StatusCode::SEE_OTHER);
            assert_eq!(home.headers["location"], "/setup");
        } else {
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{role:?}");
            assert_eq!(sync.status, StatusCode::FORBIDDEN, "{role:?}");
            assert!(
                !page.body.contains("href=\"/setup\""),
                "{role:?}: not offered"
            );
        }
        if *role == Role::Teacher {
            assert_eq!(home.headers["location"], "/classes");
        }
    }
    let mut anonymous = w.browser();
    let page = anonymous.get(&w.url("/setup")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers["location"], "/");
}

#[tokio::test]
async fn a_teacher_whose_display_name_is_blank_is_named_by_their_address() {
    let l = lock_world().await;
    let mut people = crate::roles::one_of_each(&l.w).await;
    let teacher = staff_id(&l.w, invigilator_test_kit::TEACHER).await;
    sqlx::query("UPDATE tenant_hillside.staff SET display_name = '   ' WHERE id = $1")
        .bind(teacher)
        .execute(&l.w.db.pool)
        .await
        .unwrap();
    let head = browser_of(&mut people, Role::Headteacher);
    let page = head.get(&l.w.url("/school")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let chemistry = school_row(&page, "10X Chemistry");
    assert!(
        chemistry.contains(invigilator_test_kit::TEACHER),
        "{chemistry}"
    );
    let log = head.get(&l.w.url("/audit")).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    assert!(
        log.body.contains(&format!(
            "<option value=\"{teacher}\">{}</option>",
            invigilator_test_kit::TEACHER
        )),
        "{}",
        log.body
    );
}
