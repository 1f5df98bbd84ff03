//! Erasing a student: afterwards no row outside the audit log (and the Classroom-id tombstone)
//! holds their id, the next sync neither brings them back nor forgets to count them, their
//! folders are kept or trashed as chosen, and a refusal changes nothing.

use invigilator_test_kit as common;

use common::browser::{ADMIN, Browser, Page, RequestBody};
use common::lock_world::{LockWorld, lock_world};
use common::pupil;
use invigilator::roster::{self, Trigger};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// The School Admin of the lock world, signed in, with their CSRF token.
async fn admin(l: &LockWorld) -> (Browser, String) {
    let mut admin = l.w.browser();
    assert_eq!(l.w.sign_in(&mut admin, ADMIN).await.status, StatusCode::OK);
    let me: Value = serde_json::from_str(&admin.get(&l.w.url("/api/me")).await.body).unwrap();
    (admin, me["csrf_token"].as_str().unwrap().to_owned())
}

async fn student_id(l: &LockWorld, email: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM tenant_hillside.students WHERE email = $1")
        .bind(email)
        .fetch_one(&l.w.db.pool)
        .await
        .unwrap()
}

async fn erase(l: &LockWorld, browser: &mut Browser, csrf: &str, id: &str, body: Value) -> Page {
    browser
        .request(
            Method::POST,
            &l.w.url(&format!("/api/privacy/students/{id}/erase")),
            Some(RequestBody::Json(body, Some(csrf.to_owned()))),
        )
        .await
}

/// Every place in the school's tables (but the audit log and the tombstones) where `needle`
/// appears as a column's text, found by walking the catalogue: a table added later is
/// checked too.
async fn rows_holding(l: &LockWorld, needle: &str) -> Vec<String> {
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'tenant_hillside' \
           AND table_name NOT IN ('audit_log', 'erased_classroom_users') \
           AND data_type NOT IN ('bytea') ORDER BY table_name, column_name",
    )
    .fetch_all(&l.w.db.pool)
    .await
    .unwrap();
    assert!(columns.len() > 40, "the catalogue walk found the tables");
    let mut found = Vec::new();
    for (table, column) in columns {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM tenant_hillside.\"{table}\" WHERE \"{column}\"::text LIKE '%' || $1 || '%'"
        )))
        .bind(needle)
        .fetch_one(&l.w.db.pool)
        .await
        .unwrap();
        if n > 0 {
            found.push(format!("{table}.{column}"));
        }
    }
    found
}

async fn count(l: &LockWorld, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&l.w.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_erased_student_leaves_no_row_but_the_audit_log_and_sync_does_not_bring_them_back() {
    let l = lock_world().await;
    let (mut admin, csrf) = admin(&l).await;
    let (portfolio, folder) = l.portfolio_of(&pupil(0)).await;
    let id = student_id(&l, &pupil(0)).await;
    // Something hanging off the portfolio too: an onward-share finding.
    sqlx::query(
        "INSERT INTO tenant_hillside.share_findings \
             (portfolio_id, drive_item_id, item_name, permission_id, grantee_type, grantee, role) \
         VALUES ($1, 'item-1', 'essay.docx', 'perm-1', 'user', 'friend@elsewhere.example', 'writer')",
    )
    .bind(portfolio)
    .execute(&l.w.db.pool)
    .await
    .unwrap();
    assert!(!rows_holding(&l, &id.to_string()).await.is_empty());

    let page = erase(
        &l,
        &mut admin,
        &csrf,
        &id.to_string(),
        json!({"confirmation": pupil(0).to_uppercase(), "drive_folders": "trash"}),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let report: Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(report["student_id"], json!(id));
    assert_eq!(
        report["still_in_classroom"],
        json!(true),
        "still in the class"
    );
    assert_eq!(report["portfolios"], json!(1));
    assert_eq!(report["share_findings"], json!(1));
    assert_eq!(report["folders"]["trashed"], json!(1));
    assert_eq!(report["folders"]["not_trashed"], json!([]));

    assert_eq!(
        rows_holding(&l, &id.to_string()).await,
        Vec::<String>::new()
    );
    assert_eq!(
        rows_holding(&l, &portfolio.to_string()).await,
        Vec::<String>::new()
    );
    assert_eq!(
        rows_holding(&l, &pupil(0)).await,
        Vec::<String>::new(),
        "nor their address"
    );
    assert!(
        l.w.emu.file(&folder).unwrap().trashed,
        "the folder is in the trash"
    );
    // The other pupils are untouched.
    assert_eq!(
        count(&l, "SELECT count(*) FROM tenant_hillside.students").await,
        2
    );
    let entry: (String, Value) = sqlx::query_as(
        "SELECT target_id, details FROM tenant_hillside.audit_log \
         WHERE action = 'student.erased'",
    )
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    assert_eq!(entry.0, id.to_string());
    assert!(
        !entry.1.to_string().contains("hillside.sch.uk"),
        "ids and counts only"
    );
    assert_eq!(entry.1["portfolios"], json!(1));

    // Classroom still lists them: the next sync skips them, and says so.
    let report = roster::sync_school(&l.w.db.pool, &l.google, &l.leases, &l.school, Trigger::Cli)
        .await
        .unwrap();
    assert_eq!(report.skipped.erased_students, 1);
    assert_eq!(
        count(
            &l,
            "SELECT count(*) FROM tenant_hillside.students WHERE classroom_user_id IN \
             (SELECT classroom_user_id FROM tenant_hillside.erased_classroom_users)"
        )
        .await,
        0
    );
    assert_eq!(
        count(&l, "SELECT count(*) FROM tenant_hillside.students").await,
        2
    );
    let skipped: Value = sqlx::query_scalar(
        "SELECT skipped FROM tenant_hillside.sync_runs ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    assert_eq!(skipped["erased_students"], json!(1));
    // Nor does making folders bring a folder back.
    invigilator::portfolio::provision(&l.w.db.pool, &l.google, &l.school, common::SHARED_DRIVE)
        .await
        .unwrap();
    assert_eq!(
        count(&l, "SELECT count(*) FROM tenant_hillside.portfolios").await,
        2
    );
}

#[tokio::test]
async fn kept_folders_stay_in_drive_and_a_student_who_left_stays_out_when_classroom_lists_them_again()
 {
    let l = lock_world().await;
    let (mut admin, csrf) = admin(&l).await;
    let (_, folder) = l.portfolio_of(&pupil(1)).await;
    let id = student_id(&l, &pupil(1)).await;
    l.w.emu.remove_student("500000000001", &pupil(1)).unwrap();
    roster::sync_school(&l.w.db.pool, &l.google, &l.leases, &l.school, Trigger::Cli)
        .await
        .unwrap();
    let page = erase(
        &l,
        &mut admin,
        &csrf,
        &id.to_string(),
        json!({"confirmation": pupil(1), "drive_folders": "keep"}),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let report: Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(
        report["still_in_classroom"],
        json!(false),
        "no class of ours listed them: nothing to remove in Classroom"
    );
    assert_eq!(report["folders"]["trashed"], json!(0));
    assert!(
        !l.w.emu.file(&folder).unwrap().trashed,
        "the folder is kept"
    );
    assert_eq!(
        count(
            &l,
            "SELECT count(*) FROM tenant_hillside.erased_classroom_users"
        )
        .await,
        1,
        "a tombstone all the same, by Classroom id alone"
    );
    assert_eq!(
        rows_holding(&l, &id.to_string()).await,
        Vec::<String>::new()
    );

    // Classroom lists them in a class again (or one we had not read yet): sync leaves them out.
    l.w.emu.enrol_student("500000000001", &pupil(1)).unwrap();
    roster::sync_school(&l.w.db.pool, &l.google, &l.leases, &l.school, Trigger::Cli)
        .await
        .unwrap();
    assert_eq!(
        count(
            &l,
            &format!(
                "SELECT count(*) FROM tenant_hillside.students WHERE lower(email) = '{}'",
                pupil(1)
            )
        )
        .await,
        0,
        "not taken in again"
    );
}

#[tokio::test]
async fn a_refused_erasure_changes_nothing() {
    let l = lock_world().await;
    let (mut admin, csrf) = admin(&l).await;
    let id = student_id(&l, &pupil(2)).await.to_string();
    let before = rows_holding(&l, &id).await;
    let audit_before = count(&l, "SELECT count(*) FROM tenant_hillside.audit_log").await;
    for (body, field) in [
        (json!({"drive_folders": "keep"}), "confirmation"),
        (
            json!({"confirmation": "", "drive_folders": "trash"}),
            "confirmation",
        ),
        (
            json!({"confirmation": pupil(1), "drive_folders": "keep"}),
            "confirmation",
        ),
        (json!({"confirmation": pupil(2)}), "drive_folders"),
    ] {
        let page = erase(&l, &mut admin, &csrf, &id, body.clone()).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            page.body
        );
        let answer: Value = serde_json::from_str(&page.body).unwrap();
        assert_eq!(answer["error"]["field"], json!(field), "{answer}");
    }
    let page = erase(
        &l,
        &mut admin,
        &csrf,
        &id,
        json!({"confirmation": pupil(2), "drive_folders": "shred"}),
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(rows_holding(&l, &id).await, before);
    assert_eq!(
        count(&l, "SELECT count(*) FROM tenant_hillside.audit_log").await,
        audit_before
    );
    let (_, folder) = l.portfolio_of(&pupil(2)).await;
    assert!(!l.w.emu.file(&folder).unwrap().trashed);
}

#[tokio::test]
async fn only_a_school_admin_erases_and_only_their_own_schools_students() {
    let mut l = lock_world().await;
    let (mut admin, csrf) = admin(&l).await;
    let id = student_id(&l, &pupil(0)).await.to_string();
    let body = json!({"confirmation": pupil(0), "drive_folders": "keep"});

    // A teacher may not, even of their own class.
    let teacher_csrf = l.csrf.clone();
    let mut teacher = std::mem::replace(&mut l.teacher, l.w.browser());
    let page = erase(&l, &mut teacher, &teacher_csrf, &id, body.clone()).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);

    // Unknown ids and another school's student are not found.
    let other =
        l.w.add_school("otherside", "otherside.sch.uk", "admin@otherside.sch.uk")
            .await;
    let theirs: Uuid = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "INSERT INTO \"{}\".students (classroom_user_id, email) VALUES ('9999', 'x@otherside.sch.uk') RETURNING id",
        other.schema_name
    )))
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    for unknown in [
        Uuid::new_v4().to_string(),
        theirs.to_string(),
        "not-an-id".to_owned(),
    ] {
        let page = erase(&l, &mut admin, &csrf, &unknown, body.clone()).await;
        assert_eq!(
            page.status,
            StatusCode::NOT_FOUND,
            "{unknown}: {}",
            page.body
        );
    }
    assert_eq!(
        count(&l, "SELECT count(*) FROM tenant_hillside.students").await,
        3
    );
    let still: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{}\".students",
        other.schema_name
    )))
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    assert_eq!(still, 1);
}

#[tokio::test]
async fn the_erasure_page_asks_for_the_address_and_a_folder_choice() {
    let mut l = lock_world().await;
    let (mut admin, csrf) = admin(&l).await;
    let id = student_id(&l, &pupil(0)).await;
    let path = format!("/admin/privacy/students/{id}/erase");
    let page = admin.get(&l.w.url(&path)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Erase Pupil0 Learner?"));
    assert!(
        page.body.contains(&pupil(0)),
        "the address to type is shown"
    );
    assert!(
        page.body
            .contains("remove them from that class in Classroom")
    );

    let submit = |confirmation: &str, folders: &str| {
        RequestBody::Form(vec![
            ("csrf_token".into(), csrf.clone()),
            ("confirmation".into(), confirmation.into()),
            ("drive_folders".into(), folders.into()),
        ])
    };
    for (typed, folders, field) in [
        ("Pupil0 Learner", "keep", "confirmation-error"),
        (pupil(0).as_str(), "", "drive_folders-error"),
    ] {
        let page = admin
            .request(Method::POST, &l.w.url(&path), Some(submit(typed, folders)))
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{typed}");
        assert!(page.body.contains(field), "{}", page.body);
        assert!(page.body.contains("error-summary"));
    }
    assert_eq!(
        count(&l, "SELECT count(*) FROM tenant_hillside.students").await,
        3
    );

    let done = admin
        .request(
            Method::POST,
            &l.w.url(&path),
            Some(submit(&pupil(0), "trash")),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("Pupil0 Learner has been erased"));
    assert!(done.body.contains("Now remove them in Google Classroom"));
    assert!(
        done.body
            .contains("1 portfolio folder was moved to the Shared Drive's trash")
    );
    assert_eq!(
        count(&l, "SELECT count(*) FROM tenant_hillside.students").await,
        2
    );
    // Gone now, and never there for a teacher.
    assert_eq!(
        admin.get(&l.w.url(&path)).await.status,
        StatusCode::NOT_FOUND
    );
    let other = student_id(&l, &pupil(1)).await;
    let page = l
        .teacher
        .get(&l.w.url(&format!("/admin/privacy/students/{other}/erase")))
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}
