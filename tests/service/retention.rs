//! The daily retention run: it deletes exactly what its preview showed, once per school per
//! day however many workers try, and audits the counts; the retention period is 1 to 120
//! months; a lapsed invitation lets nobody in.

use invigilator_test_kit as common;

use common::browser::{ADMIN, Browser, OUTSIDER, RequestBody, SignInWorld};
use common::lock_world::{LockWorld, lock_world};
use common::pupil;
use invigilator::privacy::retention;
use invigilator::roster::{self, Trigger};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn signed_in(w: &SignInWorld, email: &str) -> (Browser, String) {
    let mut browser = w.browser();
    assert_eq!(w.sign_in(&mut browser, email).await.status, StatusCode::OK);
    let me: Value = serde_json::from_str(&browser.get(&w.url("/api/me")).await.body).unwrap();
    (browser, me["csrf_token"].as_str().unwrap().to_owned())
}

async fn exec(l: &LockWorld, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&l.w.db.pool)
        .await
        .unwrap();
}

async fn count(l: &LockWorld, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&l.w.db.pool)
        .await
        .unwrap()
}

/// The lock world with something of every kind past a 36-month retention period, and its
/// like still inside it (or still in use) beside it.
async fn aged_world() -> LockWorld {
    let l = lock_world().await;
    // Pupils 0 and 1 leave the class; pupil 0 left long ago, pupil 1 just now.
    for i in [0, 1] {
        l.w.emu.remove_student("500000000001", &pupil(i)).unwrap();
    }
    roster::sync_school(&l.w.db.pool, &l.google, &l.leases, &l.school, Trigger::Cli)
        .await
        .unwrap();
    let old = "now() - interval '40 months'";
    exec(
        &l,
        &format!(
            "UPDATE tenant_hillside.enrolments e SET started_at = now() - interval '50 months', \
             ended_at = {old} FROM tenant_hillside.students s \
         WHERE s.id = e.student_id AND s.email = '{}'",
            pupil(0)
        ),
    )
    .await;
    exec(&l, &format!(
        "UPDATE tenant_hillside.portfolios p SET updated_at = {old} FROM tenant_hillside.students s \
         WHERE s.id = p.student_id AND s.email = '{}'", pupil(0))).await;
    exec(
        &l,
        &format!("UPDATE tenant_hillside.students SET updated_at = {old}"),
    )
    .await;
    // Staff: one long gone (no role, no class, no grant), and the Drive operator, as old but
    // holding the school's Drive grant.
    let gone = common::add_staff(&l.w.db, &l.school, "old.colleague@hillside.sch.uk").await;
    exec(
        &l,
        &format!(
            "UPDATE tenant_hillside.staff SET updated_at = {old}, \
             display_name = CASE WHEN id = '{gone}' THEN 'Old Colleague' ELSE display_name END \
         WHERE id = '{gone}' OR email = '{}'",
            common::OPERATOR
        ),
    )
    .await;
    // Findings on pupil 2's work: one settled long ago, one still open from as long ago.
    let (portfolio, _) = l.portfolio_of(&pupil(2)).await;
    for (item, status) in [("a", "removed"), ("b", "open")] {
        exec(&l, &format!(
            "INSERT INTO tenant_hillside.share_findings (portfolio_id, drive_item_id, item_name, \
                 permission_id, grantee_type, role, status, first_found_at, last_seen_at, decided_at) \
             VALUES ('{portfolio}', '{item}', 'work', 'p-{item}', 'anyone', 'reader', '{status}', \
                     {old}, {old}, {old})")).await;
    }
    // Onward-share checks of the class: two finished long ago (the later is the class's latest,
    // which the sharing page shows, so it stays).
    for status in ["done", "failed"] {
        exec(
            &l,
            &format!(
                "INSERT INTO tenant_hillside.share_scans (course_id, reason, status, status_at) \
             SELECT id, 'manual', '{status}', {old} FROM tenant_hillside.courses"
            ),
        )
        .await;
    }
    // Sync runs: all four old, and the latest kept however old.
    exec(&l, &format!(
        "INSERT INTO tenant_hillside.sync_runs (started_at, trigger) VALUES ({old}, 'timer'), ({old}, 'timer')")).await;
    exec(
        &l,
        &format!("UPDATE tenant_hillside.sync_runs SET started_at = {old}"),
    )
    .await;
    assert_eq!(
        count(&l, "SELECT count(*) FROM tenant_hillside.sync_runs").await,
        4
    );
    // Invitations: one lapsed, one waiting; the first School Admin's never lapses.
    exec(
        &l,
        "INSERT INTO tenant_hillside.role_invitations (email, role, expires_at) VALUES \
             ('lapsed@hillside.sch.uk', 'teacher', now() - interval '1 day'), \
             ('waiting@hillside.sch.uk', 'teacher', now() + interval '1 day')",
    )
    .await;
    // Tombstones: one Classroom has not shown for the period, one it showed lately.
    exec(
        &l,
        &format!(
            "INSERT INTO tenant_hillside.erased_classroom_users (classroom_user_id, last_seen_at) \
         VALUES ('old-erased', {old}), ('recent-erased', now())"
        ),
    )
    .await;
    l
}

#[tokio::test]
async fn the_run_deletes_exactly_what_its_preview_showed_and_audits_the_counts() {
    let l = aged_world().await;
    let (mut admin, _) = signed_in(&l.w, ADMIN).await;
    let page = admin.get(&l.w.url("/api/privacy/retention")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let preview: Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(preview["retention_months"], json!(36));
    let names = |kind: &str| -> Vec<String> {
        preview[kind]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names("students"), vec!["Pupil0 Learner"]);
    assert_eq!(names("staff"), vec!["Old Colleague"]);
    assert_eq!(
        preview["counts"],
        json!({"students": 1, "staff": 1, "share_findings": 1, "share_scans": 1,
               "sync_runs": 3, "invitations": 1, "tombstones": 1})
    );
    // The page shows the same people.
    let shown = admin.get(&l.w.url("/admin/privacy/retention")).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert!(shown.body.contains("Pupil0 Learner") && shown.body.contains("Old Colleague"));
    assert!(!shown.body.contains("Pupil1 Learner"));

    let due = retention::preview(&l.w.db.pool, &l.school).await.unwrap();
    let students_before = count(&l, "SELECT count(*) FROM tenant_hillside.students").await;
    let counts = retention::run_daily(&l.w.db.pool, &l.school)
        .await
        .unwrap()
        .expect("the day's run");
    assert_eq!(counts, due.counts);
    for (sql, left) in [
        (
            "SELECT count(*) FROM tenant_hillside.students",
            students_before - 1,
        ),
        (
            "SELECT count(*) FROM tenant_hillside.students WHERE email IN ('pupil001@hillside.sch.uk', 'pupil002@hillside.sch.uk')",
            2,
        ),
        ("SELECT count(*) FROM tenant_hillside.portfolios", 2),
        (
            "SELECT count(*) FROM tenant_hillside.staff WHERE display_name = 'Old Colleague'",
            0,
        ),
        (
            &format!(
                "SELECT count(*) FROM tenant_hillside.staff WHERE email = '{}'",
                common::OPERATOR
            ),
            1,
        ),
        (
            "SELECT count(*) FROM tenant_hillside.share_findings WHERE status = 'open'",
            1,
        ),
        ("SELECT count(*) FROM tenant_hillside.share_findings", 1),
        ("SELECT count(*) FROM tenant_hillside.sync_runs", 1),
        (
            "SELECT count(*) FROM tenant_hillside.share_scans WHERE status = 'failed'",
            1,
        ),
        ("SELECT count(*) FROM tenant_hillside.share_scans", 1),
        (
            "SELECT count(*) FROM tenant_hillside.role_invitations WHERE email = 'waiting@hillside.sch.uk'",
            1,
        ),
        (
            "SELECT count(*) FROM tenant_hillside.role_invitations WHERE email = 'lapsed@hillside.sch.uk'",
            0,
        ),
        (
            "SELECT count(*) FROM tenant_hillside.erased_classroom_users",
            1,
        ),
    ] {
        assert_eq!(count(&l, sql).await, left, "{sql}");
    }
    let audited: Vec<(String, Value)> = sqlx::query_as(
        "SELECT actor, details FROM tenant_hillside.audit_log WHERE action = 'retention.purged'",
    )
    .fetch_all(&l.w.db.pool)
    .await
    .unwrap();
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].1["deleted"], preview["counts"]);
    assert!(
        !audited[0].1.to_string().contains("Learner"),
        "counts, not names"
    );
    // Nothing is left for the next run.
    let after = retention::preview(&l.w.db.pool, &l.school).await.unwrap();
    assert_eq!(after.counts.total(), 0, "{:?}", after.counts);
}

#[tokio::test]
async fn students_of_a_class_archived_in_classroom_go_once_the_period_has_passed() {
    // Archiving a class at the end of the year is how most students leave: Classroom stops
    // returning the class, its enrolments stay open (the class page still shows who was in it),
    // and the period runs from the archiving.
    let l = lock_world().await;
    l.w.emu
        .set_course_state("500000000001", "ARCHIVED")
        .unwrap();
    roster::sync_school(&l.w.db.pool, &l.google, &l.leases, &l.school, Trigger::Cli)
        .await
        .unwrap();
    assert_eq!(
        count(
            &l,
            "SELECT count(*) FROM tenant_hillside.courses WHERE active"
        )
        .await,
        0
    );
    let old = "now() - interval '40 months'";
    for table in ["students", "portfolios"] {
        exec(
            &l,
            &format!("UPDATE tenant_hillside.{table} SET updated_at = {old}"),
        )
        .await;
    }
    let pupils = count(&l, "SELECT count(*) FROM tenant_hillside.students").await;
    assert!(pupils > 0);
    // Archived just now: their period has not begun to run out.
    let due = retention::preview(&l.w.db.pool, &l.school).await.unwrap();
    assert_eq!(due.counts.students, 0, "{:?}", due.students);

    // Archived 40 months ago: every one of them is due, and the run deletes them.
    exec(
        &l,
        &format!("UPDATE tenant_hillside.courses SET updated_at = {old}"),
    )
    .await;
    let due = retention::preview(&l.w.db.pool, &l.school).await.unwrap();
    assert_eq!(due.counts.students as i64, pupils);
    let counts = retention::run_daily(&l.w.db.pool, &l.school)
        .await
        .unwrap()
        .expect("the day's run");
    assert_eq!(counts.students as i64, pupils);
    assert_eq!(
        count(&l, "SELECT count(*) FROM tenant_hillside.students").await,
        0
    );
}

#[tokio::test]
async fn someone_given_a_role_or_a_class_after_the_preview_is_not_deleted() {
    // What `due` found is checked again as it is deleted: a member of staff given a role, or a
    // student put back in a class, between the two stays (with their new role or enrolment).
    let l = aged_world().await;
    let mut tx = invigilator::tenancy::begin_school_tx(&l.w.db.pool, &l.school)
        .await
        .unwrap();
    let due = retention::due(&mut tx, 36).await.unwrap();
    assert_eq!((due.counts.students, due.counts.staff), (1, 1));
    exec(
        &l,
        "INSERT INTO tenant_hillside.role_assignments (staff_id, role) \
         SELECT id, 'teacher' FROM tenant_hillside.staff WHERE display_name = 'Old Colleague'",
    )
    .await;
    exec(
        &l,
        &format!(
            "UPDATE tenant_hillside.enrolments e SET ended_at = NULL \
             FROM tenant_hillside.students s WHERE s.id = e.student_id AND s.email = '{}'",
            pupil(0)
        ),
    )
    .await;
    let deleted = retention::purge(&mut tx, &due).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!((deleted.students, deleted.staff), (0, 0));
    assert_eq!(
        count(
            &l,
            "SELECT count(*) FROM tenant_hillside.role_assignments r \
             JOIN tenant_hillside.staff s ON s.id = r.staff_id WHERE s.display_name = 'Old Colleague'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &l,
            &format!(
                "SELECT count(*) FROM tenant_hillside.students WHERE email = '{}'",
                pupil(0)
            )
        )
        .await,
        1
    );
    // The audit entry counts what went, not what was found.
    let audited: Value = sqlx::query_scalar(
        "SELECT details FROM tenant_hillside.audit_log WHERE action = 'retention.purged'",
    )
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    assert_eq!(audited["deleted"]["students"], 0);
    assert_eq!(audited["deleted"]["staff"], 0);
}

#[tokio::test]
async fn each_school_is_purged_once_a_day_however_many_workers_run() {
    let l = aged_world().await;
    let (a, b) = tokio::join!(
        retention::run_daily(&l.w.db.pool, &l.school),
        retention::run_daily(&l.w.db.pool, &l.school)
    );
    let ran: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(ran.len(), 1, "exactly one of two concurrent runs deletes");
    assert_eq!(ran[0].students, 1);
    // Something falls due later the same day: it waits for tomorrow's run.
    exec(
        &l,
        "UPDATE tenant_hillside.students SET updated_at = now() - interval '40 months' \
              WHERE email = 'pupil001@hillside.sch.uk'",
    )
    .await;
    exec(
        &l,
        "UPDATE tenant_hillside.enrolments SET started_at = now() - interval '50 months', \
              ended_at = now() - interval '40 months' WHERE ended_at IS NOT NULL",
    )
    .await;
    exec(
        &l,
        "UPDATE tenant_hillside.portfolios SET updated_at = now() - interval '40 months'",
    )
    .await;
    assert_eq!(
        retention::preview(&l.w.db.pool, &l.school)
            .await
            .unwrap()
            .counts
            .students,
        1
    );
    assert!(
        retention::run_daily(&l.w.db.pool, &l.school)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(retention::run_due(&l.w.db.pool).await.unwrap(), 0);
    assert_eq!(
        count(&l, "SELECT count(*) FROM tenant_hillside.students").await,
        2
    );
    assert_eq!(
        count(
            &l,
            "SELECT count(*) FROM tenant_hillside.audit_log WHERE action = 'retention.purged'"
        )
        .await,
        1
    );
    let recorded: Value =
        sqlx::query_scalar("SELECT counts FROM platform.retention_runs WHERE tenant_id = $1")
            .bind(l.school.id)
            .fetch_one(&l.w.db.pool)
            .await
            .unwrap();
    assert_eq!(recorded["students"], json!(1));
}

#[tokio::test]
async fn the_retention_period_is_one_to_one_hundred_and_twenty_months() {
    let w = SignInWorld::new().await;
    let (mut admin, csrf) = signed_in(&w, ADMIN).await;
    for (months, status) in [
        (0, StatusCode::UNPROCESSABLE_ENTITY),
        (121, StatusCode::UNPROCESSABLE_ENTITY),
        (-5, StatusCode::UNPROCESSABLE_ENTITY),
        (1, StatusCode::OK),
        (120, StatusCode::OK),
    ] {
        let page = admin
            .request(
                Method::PUT,
                &w.url("/api/settings"),
                Some(RequestBody::Json(
                    json!({"retention_months": months}),
                    Some(csrf.clone()),
                )),
            )
            .await;
        assert_eq!(page.status, status, "{months}: {}", page.body);
        if status != StatusCode::OK {
            let answer: Value = serde_json::from_str(&page.body).unwrap();
            assert_eq!(answer["error"]["field"], "retention_months");
        }
    }
    let stored: i32 =
        sqlx::query_scalar("SELECT retention_months FROM platform.tenants WHERE slug = 'hillside'")
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
    assert_eq!(stored, 120, "the refusals changed nothing");
    // The settings page refuses them too, beside the field.
    for months in ["0", "121"] {
        let page = admin
            .request(
                Method::POST,
                &w.url("/admin/settings"),
                Some(RequestBody::Form(vec![
                    ("csrf_token".into(), csrf.clone()),
                    ("shared_drive_id".into(), String::new()),
                    ("retention_months".into(), months.into()),
                    ("sync_interval_minutes".into(), "30".into()),
                    ("outside_domain_students".into(), "skip".into()),
                ])),
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{months}");
        assert!(
            page.body.contains("retention_months-error"),
            "{}",
            page.body
        );
    }
}

#[tokio::test]
async fn only_a_school_admin_sees_the_preview() {
    let l = lock_world().await;
    let mut teacher = l.teacher;
    for path in ["/api/privacy/retention", "/admin/privacy/retention"] {
        let page = teacher.get(&l.w.url(path)).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn a_lapsed_invitation_lets_nobody_in() {
    let w = SignInWorld::new().await;
    let (mut admin, csrf) = signed_in(&w, ADMIN).await;
    let invited = admin
        .request(
            Method::POST,
            &w.url("/api/roles"),
            Some(RequestBody::Json(
                json!({"email": OUTSIDER, "role": "exams_officer"}),
                Some(csrf),
            )),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    let expires: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "SELECT expires_at FROM tenant_hillside.role_invitations WHERE email = $1",
    )
    .bind(OUTSIDER)
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    let days = (expires.unwrap() - chrono::Utc::now()).num_days();
    assert!((29..=30).contains(&days), "{days}");
    sqlx::query("UPDATE tenant_hillside.role_invitations SET expires_at = now() - interval '1 second' WHERE email = $1")
        .bind(OUTSIDER)
        .execute(&w.db.pool)
        .await
        .unwrap();
    let mut outsider = w.browser();
    let page = w.sign_in(&mut outsider, OUTSIDER).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    let roles: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_hillside.role_assignments")
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(roles, 1, "only the School Admin's");
}
