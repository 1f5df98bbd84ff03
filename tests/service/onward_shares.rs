//! The onward-share scan: after a class is locked, grants students made on their work are
//! reported to the School Admin, who removes or keeps each one; the scan waits for locks.

use invigilator_test_kit as common;

use std::time::{Duration, Instant};

use common::browser::{ADMIN, Browser, RequestBody};
use common::lock_world::{LockWorld, lock_world};
use common::{DRIVE_SCOPE, SHARED_DRIVE, pupil};
use google_emulator::Role;
use invigilator::audit;
use invigilator::portfolio::share_scan::{self, ScanOutcome};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

const FRIEND: &str = "best.friend@elsewhere.example";

/// Acts in Drive as a student, as they could in the browser.
struct Student {
    token: String,
    base: String,
}

impl Student {
    fn new(l: &LockWorld, email: &str) -> Self {
        Self {
            token: l
                .w
                .emu
                .issue_access_token(email, &[DRIVE_SCOPE], "invigilator-local")
                .unwrap(),
            base: l.w.emu.url(),
        }
    }

    async fn create(&self, parent: &str, name: &str, folder: bool) -> String {
        let mut body = json!({"name": name, "parents": [parent]});
        if folder {
            body["mimeType"] = json!("application/vnd.google-apps.folder");
        }
        let created: Value = common::http_client()
            .post(format!(
                "{}drive/v3/files?supportsAllDrives=true",
                self.base
            ))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        created["id"].as_str().unwrap().to_owned()
    }

    /// Changes the role of a grant the student made.
    async fn set_role(&self, item: &str, permission: &str, role: &str) {
        common::http_client()
            .patch(self.permission_url(item, permission))
            .bearer_auth(&self.token)
            .json(&json!({ "role": role }))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }

    /// Takes back a grant the student made.
    async fn unshare(&self, item: &str, permission: &str) {
        common::http_client()
            .delete(self.permission_url(item, permission))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }

    fn permission_url(&self, item: &str, permission: &str) -> String {
        format!(
            "{}drive/v3/files/{item}/permissions/{permission}?supportsAllDrives=true",
            self.base
        )
    }

    async fn share(&self, item: &str, grant: Value) {
        // Drive refuses sendNotificationEmail on domain and anyone grants.
        let notify = match grant["type"].as_str() {
            Some("user" | "group") => "&sendNotificationEmail=false",
            _ => "",
        };
        common::http_client()
            .post(format!(
                "{}drive/v3/files/{item}/permissions?supportsAllDrives=true{notify}",
                self.base
            ))
            .bearer_auth(&self.token)
            .json(&grant)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }
}

async fn course(l: &LockWorld) -> Uuid {
    sqlx::query_scalar("SELECT id FROM tenant_hillside.courses")
        .fetch_one(&l.w.db.pool)
        .await
        .unwrap()
}

/// Runs `invigilator work`'s workers until the returned sender is dropped or fired.
fn start_workers(l: &LockWorld) -> tokio::sync::oneshot::Sender<()> {
    let config = l.w.db.config(&[("GOOGLE_API_BASE_URL", &l.w.emu.url())]);
    let ctx = common::services(&l.w.db, &config, &l.google);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(invigilator::jobs::run_workers(ctx, 1, async {
        let _ = stopped.await;
    }));
    stop
}

async fn scan_statuses(l: &LockWorld) -> Vec<String> {
    sqlx::query_scalar("SELECT status FROM tenant_hillside.share_scans ORDER BY id")
        .fetch_all(&l.w.db.pool)
        .await
        .unwrap()
}

async fn wait_for_scans_done(l: &LockWorld, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let statuses = scan_statuses(l).await;
        if statuses.len() == count && statuses.iter().all(|s| s == "done") {
            return;
        }
        assert!(Instant::now() < deadline, "scans not done: {statuses:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn signed_in_admin(l: &LockWorld) -> (Browser, String) {
    let mut admin = l.w.browser();
    assert_eq!(l.w.sign_in(&mut admin, ADMIN).await.status, StatusCode::OK);
    let me: Value = serde_json::from_str(&admin.get(&l.w.url("/api/me")).await.body).unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    (admin, csrf)
}

async fn post(
    l: &LockWorld,
    browser: &mut Browser,
    csrf: &str,
    path: &str,
    body: Value,
) -> common::browser::Page {
    let csrf = Some(csrf.to_owned()).filter(|c| !c.is_empty());
    browser
        .request(
            Method::POST,
            &l.w.url(path),
            Some(RequestBody::Json(body, csrf)),
        )
        .await
}

/// The School Admin removes or keeps a finding.
async fn decide(
    l: &LockWorld,
    admin: &mut Browser,
    csrf: &str,
    id: &str,
    verb: &str,
) -> common::browser::Page {
    post(
        l,
        admin,
        csrf,
        &format!("/api/shares/{id}/{verb}"),
        json!({}),
    )
    .await
}

async fn findings(l: &LockWorld, admin: &mut Browser, query: &str) -> Vec<Value> {
    let page = admin.get(&l.w.url(&format!("/api/shares{query}"))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body: Value = serde_json::from_str(&page.body).unwrap();
    body["findings"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_locked_class_is_scanned_and_the_admin_removes_or_keeps_each_grant() {
    let mut l = lock_world().await;
    let course = course(&l).await;
    // While the class is open: one student shares a file with a friend outside the school,
    // another shares a file in a subfolder with anyone who has the link, a third only works.
    let (_, folder0) = l.portfolio_of(&pupil(0)).await;
    let (_, folder1) = l.portfolio_of(&pupil(1)).await;
    let (_, folder2) = l.portfolio_of(&pupil(2)).await;
    let ada = Student::new(&l, &pupil(0));
    let essay = ada.create(&folder0, "Coursework essay", false).await;
    ada.share(
        &essay,
        json!({"type": "user", "role": "writer", "emailAddress": FRIEND}),
    )
    .await;
    let ben = Student::new(&l, &pupil(1));
    let drafts = ben.create(&folder1, "Drafts", true).await;
    let chart = ben.create(&drafts, "Results chart", false).await;
    ben.share(&chart, json!({"type": "anyone", "role": "reader"}))
        .await;
    let cal = Student::new(&l, &pupil(2));
    cal.create(&folder2, "Notes", false).await;
    assert_eq!(l.w.emu.access(&essay, FRIEND), Some(Role::Writer));

    let workers = start_workers(&l);
    let lists_before = l.w.emu.calls("drive.files.list");
    let permission_lists_before = l.w.emu.calls("drive.permissions.list");
    let page = l.post(&format!("/api/classes/{course}/lock")).await;
    assert_eq!(page.status, StatusCode::ACCEPTED, "{}", page.body);
    wait_for_scans_done(&l, 1).await;
    // The lock is done before the scan looks.
    assert_eq!(l.w.emu.access(&folder0, &pupil(0)), Some(Role::Reader));
    // Two levels of listing for the whole class, and permissions only for the two items
    // that have their own.
    assert_eq!(l.w.emu.calls("drive.files.list") - lists_before, 2);
    assert_eq!(
        l.w.emu.calls("drive.permissions.list") - permission_lists_before,
        2
    );
    let (folders, items, api_calls, found): (i32, i32, i32, i32) = sqlx::query_as(
        "SELECT folders, items, api_calls, findings FROM tenant_hillside.share_scans",
    )
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    assert_eq!((folders, items, api_calls, found), (3, 4, 4, 2));

    // The teacher cannot see them; the School Admin can.
    let teacher_view = l.teacher.get(&l.w.url("/api/shares")).await;
    assert_eq!(teacher_view.status, StatusCode::FORBIDDEN);
    let (mut admin, csrf) = signed_in_admin(&l).await;
    let open = findings(&l, &mut admin, "?status=open").await;
    assert_eq!(open.len(), 2, "{open:?}");
    let to_friend = open
        .iter()
        .find(|f| f["grantee"] == FRIEND)
        .expect("the share with a friend is reported");
    assert_eq!(to_friend["role"], "writer");
    assert_eq!(to_friend["grantee_type"], "user");
    assert_eq!(to_friend["item_name"], "Coursework essay");
    assert_eq!(to_friend["class_id"], course.to_string());
    let by_link = open
        .iter()
        .find(|f| f["grantee_type"] == "anyone")
        .expect("the link share in a subfolder is reported");
    assert_eq!(by_link["item_id"], chart);

    // Remove the friend's access; keep the link.
    let friend_id = to_friend["id"].as_str().unwrap();
    let link_id = by_link["id"].as_str().unwrap();
    let removed = decide(&l, &mut admin, &csrf, friend_id, "remove").await;
    assert_eq!(removed.status, StatusCode::ACCEPTED, "{}", removed.body);
    let kept = decide(&l, &mut admin, &csrf, link_id, "keep").await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    let again = decide(&l, &mut admin, &csrf, link_id, "keep").await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let deadline = Instant::now() + Duration::from_secs(20);
    while l.w.emu.access(&essay, FRIEND).is_some() {
        assert!(Instant::now() < deadline, "the grant was never removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while findings(&l, &mut admin, "?status=removed").await.len() != 1 {
        assert!(Instant::now() < deadline, "never shown as removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        l.w.emu.access(&chart, "anyone@anywhere.example"),
        Some(Role::Reader)
    );

    // A scan asked for by hand reports nothing new: one removed, one kept.
    let scan = post(
        &l,
        &mut admin,
        &csrf,
        "/api/shares/scans",
        json!({"class_id": course}),
    )
    .await;
    assert_eq!(scan.status, StatusCode::ACCEPTED, "{}", scan.body);
    wait_for_scans_done(&l, 2).await;
    assert!(findings(&l, &mut admin, "?status=open").await.is_empty());
    assert_eq!(findings(&l, &mut admin, "").await.len(), 2);
    let _ = workers.send(());

    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM tenant_hillside.audit_log WHERE action LIKE 'share%' ORDER BY id",
    )
    .fetch_all(&l.w.db.pool)
    .await
    .unwrap();
    for expected in [
        "share.found",
        "share_scan.finished",
        "share.remove.requested",
        "share.kept",
        "share.removed",
        "share_scan.requested",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} missing from {actions:?}"
        );
    }
    assert_eq!(actions.iter().filter(|a| *a == "share.found").count(), 2);
    let chain = audit::verify(&l.w.db.pool, &l.school).await.unwrap();
    assert_eq!(chain.first_break, None);
}

#[tokio::test]
async fn the_scan_waits_while_locks_are_being_applied() {
    let mut l = lock_world().await;
    let course = course(&l).await;
    // Leases requested, but no worker has applied them yet.
    let page = l.post(&format!("/api/classes/{course}/lock")).await;
    assert_eq!(page.status, StatusCode::ACCEPTED, "{}", page.body);
    assert_eq!(scan_statuses(&l).await, ["waiting"]);
    sqlx::query("UPDATE tenant_hillside.share_scans SET status = 'queued'")
        .execute(&l.w.db.pool)
        .await
        .unwrap();
    let scan_id: i64 = sqlx::query_scalar("SELECT id FROM tenant_hillside.share_scans")
        .fetch_one(&l.w.db.pool)
        .await
        .unwrap();
    let lists_before = l.w.emu.calls("drive.files.list");
    let scan = {
        let (pool, google, school) = (l.w.db.pool.clone(), l.google.clone(), l.school.clone());
        tokio::spawn(async move {
            share_scan::run(&pool, &google, &school, SHARED_DRIVE, scan_id)
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        l.w.emu.calls("drive.files.list"),
        lists_before,
        "no Drive call while locks wait"
    );
    assert!(!scan.is_finished());
    for i in 0..3 {
        let (id, _) = l.portfolio_of(&pupil(i)).await;
        l.apply(id).await;
    }
    let outcome = tokio::time::timeout(Duration::from_secs(10), scan)
        .await
        .expect("the scan went ahead once the locks were applied")
        .unwrap();
    assert!(
        matches!(
            outcome,
            ScanOutcome::Done {
                new_findings: 0,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(l.w.emu.calls("drive.files.list") - lists_before, 1);
}

#[tokio::test]
async fn bad_share_requests_change_nothing() {
    let l = lock_world().await;
    let (mut admin, csrf) = signed_in_admin(&l).await;
    let unknown = Uuid::new_v4();
    for (path, body, status) in [
        (
            format!("/api/shares/{unknown}/remove"),
            json!({}),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/shares/not-an-id/keep".to_owned(),
            json!({}),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/shares/{unknown}/ignore"),
            json!({}),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/shares/{unknown}/keep"),
            json!({"reason": 7}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/shares/scans".to_owned(),
            json!({"class_id": unknown}),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/shares/scans".to_owned(),
            json!({"class": "maths"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let page = post(&l, &mut admin, "", &path, body.clone()).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "no CSRF token: {path}");
        let page = post(&l, &mut admin, &csrf, &path, body).await;
        assert_eq!(page.status, status, "{path}: {}", page.body);
    }
    let page = admin.get(&l.w.url("/api/shares?status=bogus")).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Not JSON at all, or an id that is not one: the documented JSON or 422.
    for body in ["class_id=maths", r#"{"class_id": "maths"}"#] {
        let page = admin
            .request(
                Method::POST,
                &l.w.url("/api/shares/scans"),
                Some(RequestBody::Raw(body.to_owned(), Some(csrf.clone()))),
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            page.body
        );
    }
    assert!(scan_statuses(&l).await.is_empty());
}

/// Queues a scan of the class by hand and runs it here.
async fn scan_now(l: &LockWorld, course: Uuid) -> ScanOutcome {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO tenant_hillside.share_scans (course_id, reason, status) \
         VALUES ($1, 'manual', 'queued') RETURNING id",
    )
    .bind(course)
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    share_scan::run(&l.w.db.pool, &l.google, &l.school, SHARED_DRIVE, id)
        .await
        .unwrap()
}

async fn finding_statuses(l: &LockWorld) -> Vec<String> {
    sqlx::query_scalar("SELECT status FROM tenant_hillside.share_findings ORDER BY first_found_at")
        .fetch_all(&l.w.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn findings_follow_drive_and_outlast_a_student_leaving_the_class() {
    let l = lock_world().await;
    let course = course(&l).await;
    let (_, folder0) = l.portfolio_of(&pupil(0)).await;
    let (_, folder1) = l.portfolio_of(&pupil(1)).await;
    let ada = Student::new(&l, &pupil(0));
    let essay = ada.create(&folder0, "Essay", false).await;
    ada.share(
        &essay,
        json!({"type": "user", "role": "reader", "emailAddress": FRIEND}),
    )
    .await;
    let ben = Student::new(&l, &pupil(1));
    let poster = ben.create(&folder1, "Poster", false).await;
    ben.share(
        &poster,
        json!({"type": "domain", "role": "reader", "domain": "elsewhere.example"}),
    )
    .await;
    assert!(matches!(
        scan_now(&l, course).await,
        ScanOutcome::Done {
            new_findings: 2,
            ..
        }
    ));
    assert_eq!(finding_statuses(&l).await, ["open", "open"]);

    // Ada leaves the class: her folder is no longer scanned, and her finding stays open. Ben's
    // grant is taken away in Drive by someone: the next scan marks it gone.
    sqlx::query(
        "UPDATE tenant_hillside.enrolments SET ended_at = now() WHERE student_id = \
         (SELECT id FROM tenant_hillside.students WHERE email = $1)",
    )
    .bind(pupil(0))
    .execute(&l.w.db.pool)
    .await
    .unwrap();
    let grantee: String = sqlx::query_scalar(
        "SELECT permission_id FROM tenant_hillside.share_findings WHERE grantee = 'elsewhere.example'",
    )
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    ben.unshare(&poster, &grantee).await;
    assert!(matches!(
        scan_now(&l, course).await,
        ScanOutcome::Done {
            new_findings: 0,
            ..
        }
    ));
    let statuses: Vec<(String, String)> = sqlx::query_as(
        "SELECT grantee_type, status FROM tenant_hillside.share_findings ORDER BY grantee_type",
    )
    .fetch_all(&l.w.db.pool)
    .await
    .unwrap();
    assert_eq!(
        statuses,
        [
            ("domain".to_owned(), "gone".to_owned()),
            ("user".to_owned(), "open".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_kept_grant_is_reported_again_when_its_role_rises() {
    let l = lock_world().await;
    let course = course(&l).await;
    let (_, folder) = l.portfolio_of(&pupil(2)).await;
    let cal = Student::new(&l, &pupil(2));
    let notes = cal.create(&folder, "Notes", false).await;
    cal.share(
        &notes,
        json!({"type": "user", "role": "reader", "emailAddress": FRIEND}),
    )
    .await;
    scan_now(&l, course).await;
    sqlx::query("UPDATE tenant_hillside.share_findings SET status = 'kept'")
        .execute(&l.w.db.pool)
        .await
        .unwrap();
    assert!(matches!(
        scan_now(&l, course).await,
        ScanOutcome::Done {
            new_findings: 0,
            ..
        }
    ));
    assert_eq!(finding_statuses(&l).await, ["kept"]);

    // The friend is made a writer: that is not what the School Admin kept.
    let permission: String =
        sqlx::query_scalar("SELECT permission_id FROM tenant_hillside.share_findings")
            .fetch_one(&l.w.db.pool)
            .await
            .unwrap();
    cal.set_role(&notes, &permission, "writer").await;
    assert!(matches!(
        scan_now(&l, course).await,
        ScanOutcome::Done {
            new_findings: 1,
            ..
        }
    ));
    assert_eq!(finding_statuses(&l).await, ["open"]);
}

#[tokio::test]
async fn a_cut_off_scan_gives_way_to_one_waiting_and_a_late_run_records_nothing() {
    let mut l = lock_world().await;
    let course = course(&l).await;
    // A scan was running when its worker died; since then the class was locked again.
    let cut_off: i64 = sqlx::query_scalar(
        "INSERT INTO tenant_hillside.share_scans (course_id, reason, status, status_at, attempts) \
         VALUES ($1, 'class_lock', 'running', now() - interval '1 hour', 1) RETURNING id",
    )
    .bind(course)
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    let page = l.post(&format!("/api/classes/{course}/lock")).await;
    assert_eq!(page.status, StatusCode::ACCEPTED, "{}", page.body);
    // A School Admin asks for a scan at the same time: it joins the one waiting.
    let (mut admin, csrf) = signed_in_admin(&l).await;
    let asked = post(
        &l,
        &mut admin,
        &csrf,
        "/api/shares/scans",
        json!({"class_id": course}),
    )
    .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.body);

    // The sweeper neither fails nor runs the cut-off scan twice for the class.
    let requeued = share_scan::stalled(&l.w.db.pool, &l.school, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(!requeued.contains(&cut_off), "{requeued:?}");
    assert_eq!(scan_statuses(&l).await, ["superseded", "queued"]);

    // The dead worker's run, had it lived on, records nothing over another's claim.
    let claim = invigilator::portfolio::share_findings::Claim {
        scan_id: cut_off,
        attempts: 1,
        course_id: course,
    };
    let late = invigilator::portfolio::share_findings::record(
        &l.w.db.pool,
        &l.school,
        &claim,
        &[],
        0,
        0,
        &[],
    )
    .await
    .unwrap();
    assert_eq!(late, None);
    assert_eq!(scan_statuses(&l).await, ["superseded", "queued"]);
}

#[tokio::test]
async fn a_kept_grant_is_judged_against_the_role_that_was_kept() {
    let l = lock_world().await;
    let course = course(&l).await;
    let (_, folder) = l.portfolio_of(&pupil(2)).await;
    let cal = Student::new(&l, &pupil(2));
    let notes = cal.create(&folder, "Notes", false).await;
    cal.share(
        &notes,
        json!({"type": "user", "role": "writer", "emailAddress": FRIEND}),
    )
    .await;
    scan_now(&l, course).await;
    let (mut admin, csrf) = signed_in_admin(&l).await;
    let id: Uuid = sqlx::query_scalar("SELECT id FROM tenant_hillside.share_findings")
        .fetch_one(&l.w.db.pool)
        .await
        .unwrap();
    let kept = decide(&l, &mut admin, &csrf, &id.to_string(), "keep").await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    let permission: String =
        sqlx::query_scalar("SELECT permission_id FROM tenant_hillside.share_findings")
            .fetch_one(&l.w.db.pool)
            .await
            .unwrap();
    // Down to reader and back to writer: still what the School Admin kept.
    for role in ["reader", "writer"] {
        cal.set_role(&notes, &permission, role).await;
        scan_now(&l, course).await;
        assert_eq!(finding_statuses(&l).await, ["kept"], "after {role}");
    }
}

#[tokio::test]
async fn a_stalled_removal_is_queued_again_once_per_interval_not_every_tick() {
    let l = lock_world().await;
    let (_, folder) = l.portfolio_of(&pupil(0)).await;
    let portfolio: Uuid = l.portfolio_of(&pupil(0)).await.0;
    sqlx::query(
        "INSERT INTO tenant_hillside.share_findings (portfolio_id, drive_item_id, item_name, \
             permission_id, grantee_type, grantee, role, status, decided_at) \
         VALUES ($1, $2, 'Essay', 'p1', 'anyone', NULL, 'reader', 'removing', now() - interval '5 minutes')",
    )
    .bind(portfolio)
    .bind(&folder)
    .execute(&l.w.db.pool)
    .await
    .unwrap();
    let every = Duration::from_secs(60);
    let stalled =
        || invigilator::portfolio::share_findings::stalled_removals(&l.w.db.pool, &l.school, every);
    assert_eq!(stalled().await.unwrap().len(), 1);
    assert!(
        stalled().await.unwrap().is_empty(),
        "not again on the next tick"
    );
}
