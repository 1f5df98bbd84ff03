//! Subject access export through HTTP, as the School Admin downloads it: every file of a
//! student's and a staff member's zip checked against what the school holds, the manifest's
//! hashes recomputed, the CSV files' first line, and the refusals (404, 403).

use invigilator_test_kit as common;

use std::collections::HashMap;
use std::io::{Cursor, Read};

use common::browser::{ADMIN, Browser};
use common::lock_world::{LockWorld, lock_world};
use common::{TEACHER, pupil};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A downloaded zip: each file's bytes by name.
struct Zip {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    files: HashMap<String, Vec<u8>>,
}

impl Zip {
    fn json(&self, name: &str) -> Vec<Value> {
        let bytes = self
            .files
            .get(&format!("{name}.json"))
            .unwrap_or_else(|| panic!("{name}.json missing"));
        serde_json::from_slice::<Vec<Value>>(bytes).unwrap()
    }

    fn csv(&self, name: &str) -> String {
        String::from_utf8(self.files[&format!("{name}.csv")].clone()).unwrap()
    }

    fn manifest(&self) -> Value {
        serde_json::from_slice(&self.files["manifest.json"]).unwrap()
    }
}

async fn download(l: &LockWorld, browser: &Browser, path: &str) -> Zip {
    let url = l.w.url(path);
    let response = common::http_client()
        .get(&url)
        .header(reqwest::header::COOKIE, browser.cookie_header(&url))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap();
    let mut files = HashMap::new();
    if status == StatusCode::OK {
        let mut zip = zip::ZipArchive::new(Cursor::new(body.to_vec())).unwrap();
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            files.insert(entry.name().unwrap().into_owned(), bytes);
        }
    }
    Zip {
        status,
        headers,
        files,
    }
}

async fn admin(l: &LockWorld) -> Browser {
    let mut admin = l.w.browser();
    assert_eq!(l.w.sign_in(&mut admin, ADMIN).await.status, StatusCode::OK);
    admin
}

async fn student_id(l: &LockWorld, email: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM tenant_hillside.students WHERE email = $1")
        .bind(email)
        .fetch_one(&l.w.db.pool)
        .await
        .unwrap()
}

async fn staff_id(l: &LockWorld, email: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM tenant_hillside.staff WHERE email = $1")
        .bind(email)
        .fetch_one(&l.w.db.pool)
        .await
        .unwrap()
}

/// Every manifest entry's size and SHA-256 match the file, and every file is listed.
fn assert_manifest_matches(zip: &Zip) {
    let manifest = zip.manifest();
    let listed = manifest["files"].as_array().unwrap();
    assert_eq!(listed.len() + 1, zip.files.len());
    for file in listed {
        let name = file["name"].as_str().unwrap();
        let bytes = &zip.files[name];
        let sha: String = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(file["sha256"], sha, "{name}");
        assert_eq!(file["bytes"], bytes.len() as u64, "{name}");
        if let Some(kind) = name.strip_suffix(".json") {
            assert_eq!(file["rows"], zip.json(kind).len() as u64, "{name}");
        }
    }
}

#[tokio::test]
async fn a_students_export_holds_every_row_about_them_and_nobody_elses() {
    let mut l = lock_world().await;
    let pool = l.w.db.pool.clone();
    let student = student_id(&l, &pupil(0)).await;
    let (portfolio, folder) = l.portfolio_of(&pupil(0)).await;
    let (other_portfolio, _) = l.portfolio_of(&pupil(1)).await;

    // A second class, as Classroom would have it, with a folder of its own.
    let second_class: Uuid = sqlx::query_scalar(
        "INSERT INTO tenant_hillside.courses (classroom_id, name, section) \
         VALUES ('900000000001', '11Y Art', '11Y') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO tenant_hillside.enrolments (course_id, student_id) VALUES ($1, $2)")
        .bind(second_class)
        .bind(student)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO tenant_hillside.portfolios (course_id, student_id, drive_folder_id) \
         VALUES ($1, $2, 'art-folder-of-pupil0')",
    )
    .bind(second_class)
    .bind(student)
    .execute(&pool)
    .await
    .unwrap();
    // Their teacher locks their chemistry folder, and another pupil's.
    for id in [portfolio, other_portfolio] {
        let locked = l.post(&format!("/api/portfolios/{id}/lock")).await;
        assert_eq!(locked.status, StatusCode::ACCEPTED, "{}", locked.body);
    }
    // An officer let them out of a window; a friend of theirs was given access to their work.
    let window: Uuid = sqlx::query_scalar(
        "INSERT INTO tenant_hillside.assessment_windows (name, starts_at, ends_at) \
         VALUES ('Mock exams', now(), now() + interval '1 day') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO tenant_hillside.window_overrides (window_id, portfolio_id, reason) \
         VALUES ($1, $2, 'Access arrangements: extra time')",
    )
    .bind(window)
    .bind(portfolio)
    .execute(&pool)
    .await
    .unwrap();
    for (p, item, grantee) in [
        (portfolio, "essay-draft.docx", "friend@elsewhere.example"),
        (
            other_portfolio,
            "not-theirs.docx",
            "someone@elsewhere.example",
        ),
    ] {
        sqlx::query(
            "INSERT INTO tenant_hillside.share_findings \
             (portfolio_id, drive_item_id, item_name, permission_id, grantee_type, grantee, role) \
             VALUES ($1, $2, $2, 'perm-1', 'user', $3, 'writer')",
        )
        .bind(p)
        .bind(item)
        .bind(grantee)
        .execute(&pool)
        .await
        .unwrap();
    }

    let admin = admin(&l).await;
    let zip = download(
        &l,
        &admin,
        &format!("/api/privacy/students/{student}/export"),
    )
    .await;
    assert_eq!(zip.status, StatusCode::OK);
    assert_eq!(zip.headers["content-type"], "application/zip");
    let disposition = zip.headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"subject-access-student-")
            && disposition.ends_with(".zip\""),
        "{disposition}"
    );
    assert_eq!(zip.headers["cache-control"], "no-store");

    let profile = zip.json("profile");
    assert_eq!(profile.len(), 1);
    assert_eq!(profile[0]["email"], pupil(0));
    assert_eq!(profile[0]["id"], student.to_string());

    let enrolments = zip.json("enrolments");
    let mut classes: Vec<&str> = enrolments
        .iter()
        .map(|e| e["class_name"].as_str().unwrap())
        .collect();
    classes.sort();
    assert_eq!(classes, ["10X Chemistry", "11Y Art"]);

    let portfolios = zip.json("portfolios");
    assert_eq!(portfolios.len(), 2);
    let chemistry = portfolios
        .iter()
        .find(|p| p["id"] == portfolio.to_string())
        .unwrap();
    assert_eq!(chemistry["desired"], "locked");
    assert!(
        chemistry["folder_link"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/{folder}")),
        "{chemistry}"
    );

    let history = zip.json("lock_history");
    assert!(
        history
            .iter()
            .all(|h| h["portfolio_id"] == portfolio.to_string()),
        "{history:?}"
    );
    assert!(
        history
            .iter()
            .any(|h| h["action"] == "portfolio.lock.requested"),
        "{history:?}"
    );

    let overrides = zip.json("window_overrides");
    assert_eq!(overrides.len(), 1);
    assert_eq!(overrides[0]["reason"], "Access arrangements: extra time");
    assert_eq!(overrides[0]["window_name"], "Mock exams");

    let findings = zip.json("share_findings");
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0]["grantee"], "friend@elsewhere.example");
    assert_eq!(findings[0]["item_name"], "essay-draft.docx");

    let audit = zip.json("audit_entries");
    assert!(
        audit
            .iter()
            .any(|a| a["action"] == "portfolio.lock.requested"
                && a["target_id"] == portfolio.to_string())
    );
    // Nothing about the other pupil anywhere in the archive.
    for (name, bytes) in &zip.files {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains(&other_portfolio.to_string()) && !text.contains(&pupil(1)),
            "{name} mentions another pupil"
        );
    }

    // Each CSV: who asked and when, then the header, then the same rows as the JSON.
    let csv = zip.csv("enrolments");
    let mut lines = csv.lines();
    let first = lines.next().unwrap();
    assert!(
        first.starts_with(&format!("# Exported for Head Staff <{ADMIN}> at ")),
        "{first}"
    );
    assert_eq!(
        lines.next().unwrap(),
        "course_id,class_name,class_section,started_at,ended_at"
    );
    assert_eq!(lines.count(), 2);
    for file in zip.files.keys().filter(|n| n.ends_with(".csv")) {
        assert!(
            String::from_utf8_lossy(&zip.files[file]).starts_with("# Exported for "),
            "{file}"
        );
    }

    let manifest = zip.manifest();
    assert_eq!(manifest["school"]["slug"], "hillside");
    assert_eq!(manifest["subject"]["kind"], "student");
    assert_eq!(manifest["subject"]["id"], student.to_string());
    assert!(manifest["requester"].as_str().unwrap().contains(ADMIN));
    assert!(
        manifest["generated_at_utc"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(manifest["generated_at_london"].as_str().is_some());
    assert_manifest_matches(&zip);

    // Recorded, by id only.
    let (actor, target, details): (String, String, Value) = sqlx::query_as(
        "SELECT actor, target_id, details FROM tenant_hillside.audit_log \
         WHERE action = 'subject_access.exported'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(actor, format!("staff:{}", staff_id(&l, ADMIN).await));
    assert_eq!(target, student.to_string());
    assert!(!details.to_string().contains('@'), "{details}");
    assert_eq!(details["files"], 14, "seven kinds of row, JSON and CSV");
}

#[tokio::test]
async fn a_staff_members_export_holds_their_classes_and_grants_but_never_a_token() {
    let l = lock_world().await;
    let teacher = staff_id(&l, TEACHER).await;
    // Rows about them found by their address or as the one who asked: a role offered to them,
    // Drive access to a class folder given to them, and a sharing check they asked for.
    for sql in [
        format!(
            "INSERT INTO tenant_hillside.role_invitations (email, role) \
             VALUES (lower('{TEACHER}'), 'exams_officer')"
        ),
        format!(
            "INSERT INTO tenant_hillside.class_folder_grants (course_id, grantee_type, email, \
                 permission_id) SELECT id, 'user', upper('{TEACHER}'), 'perm-teacher' \
             FROM tenant_hillside.courses ON CONFLICT DO NOTHING"
        ),
        format!(
            "INSERT INTO tenant_hillside.share_scans (course_id, reason, requested_by) \
             SELECT id, 'manual', '{teacher}' FROM tenant_hillside.courses"
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&l.w.db.pool)
            .await
            .unwrap();
    }
    let admin = admin(&l).await;
    let zip = download(&l, &admin, &format!("/api/privacy/staff/{teacher}/export")).await;
    assert_eq!(zip.status, StatusCode::OK);
    let invited = zip.json("invitations_received");
    assert_eq!(invited.len(), 1);
    assert_eq!(invited[0]["role"], "exams_officer");
    let access = zip.json("class_folder_access");
    assert!(!access.is_empty());
    assert!(
        access
            .iter()
            .all(|a| a["email"].as_str().unwrap().eq_ignore_ascii_case(TEACHER))
    );
    let scans = zip.json("share_scans_requested");
    assert_eq!(scans.len(), 1);
    assert_eq!(scans[0]["reason"], "manual");

    let profile = zip.json("profile");
    assert_eq!(profile.len(), 1);
    assert_eq!(profile[0]["email"], TEACHER);
    let classes = zip.json("classes_taught");
    assert_eq!(classes.len(), 1);
    assert_eq!(classes[0]["class_name"], "10X Chemistry");
    let grants = zip.json("google_credentials");
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0]["purpose"], "sign_in");
    assert_eq!(grants[0]["account_email"], TEACHER);
    // Sign-in is recorded with them as actor.
    let audit = zip.json("audit_entries");
    assert!(
        audit
            .iter()
            .any(|a| a["action"] == "signin" || a["actor"] == format!("staff:{teacher}")),
        "{audit:?}"
    );
    for (name, bytes) in &zip.files {
        let text = String::from_utf8_lossy(bytes);
        for secret in ["refresh_token", "access_token", "token_sha256", "v1:"] {
            assert!(!text.contains(secret), "{name} holds {secret}");
        }
    }
    assert_manifest_matches(&zip);
    assert_eq!(
        zip.manifest()["files"].as_array().unwrap().len(),
        26,
        "thirteen kinds of row, JSON and CSV"
    );
}

#[tokio::test]
async fn unknown_or_another_schools_people_are_not_found_and_teachers_are_refused() {
    let l = lock_world().await;
    let other =
        l.w.add_school("oakfield", "oakfield.sch.uk", "admin@oakfield.sch.uk")
            .await;
    let theirs: Uuid = sqlx::query_scalar(
        "INSERT INTO tenant_oakfield.students (classroom_user_id, email) \
         VALUES ('oak-1', 'pupil@oakfield.sch.uk') RETURNING id",
    )
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    let their_staff: Uuid = sqlx::query_scalar(
        "INSERT INTO tenant_oakfield.staff (google_sub, email) \
         VALUES ('oak-sub', 'teacher@oakfield.sch.uk') RETURNING id",
    )
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    let admin = admin(&l).await;
    for path in [
        format!("/api/privacy/students/{}/export", Uuid::new_v4()),
        format!("/api/privacy/staff/{}/export", Uuid::new_v4()),
        format!("/api/privacy/students/{theirs}/export"),
        format!("/api/privacy/staff/{their_staff}/export"),
        "/api/privacy/students/not-an-id/export".to_owned(),
    ] {
        let zip = download(&l, &admin, &path).await;
        assert_eq!(zip.status, StatusCode::NOT_FOUND, "{path}");
    }

    let student = student_id(&l, &pupil(0)).await;
    let refused = download(
        &l,
        &l.teacher,
        &format!("/api/privacy/students/{student}/export"),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let signed_out = download(
        &l,
        &l.w.browser(),
        &format!("/api/privacy/students/{student}/export"),
    )
    .await;
    assert_eq!(signed_out.status, StatusCode::UNAUTHORIZED);

    let recorded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tenant_hillside.audit_log WHERE action = 'subject_access.exported'",
    )
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    assert_eq!(recorded, 0, "a refusal records no export");
    assert_eq!(other.slug, "oakfield");
}

#[tokio::test]
async fn the_data_protection_pages_find_a_person_and_offer_their_download() {
    let l = lock_world().await;
    let mut admin = admin(&l).await;
    let student = student_id(&l, &pupil(0)).await;

    let tab = admin.get(&l.w.url("/admin/privacy")).await;
    assert_eq!(tab.status, StatusCode::OK);
    assert!(tab.body.contains("Data protection"));
    let found = admin
        .get(&l.w.url("/admin/privacy?q=pupil000%40hillside"))
        .await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(
        found
            .body
            .contains(&format!("/admin/privacy/students/{student}")),
        "{}",
        found.body
    );
    assert!(!found.body.contains(&pupil(1)));
    let by_teacher = admin.get(&l.w.url("/admin/privacy?q=Lovelace")).await;
    let teacher = staff_id(&l, TEACHER).await;
    assert!(
        by_teacher
            .body
            .contains(&format!("/admin/privacy/staff/{teacher}"))
    );

    let page = admin
        .get(&l.w.url(&format!("/admin/privacy/students/{student}")))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&pupil(0)));
    assert!(page.body.contains("Classes they are or were in"));
    assert!(page.body.contains(&format!(
        "href=\"/api/privacy/students/{student}/export\" download>Download their data"
    )));
    let staff_page = admin
        .get(&l.w.url(&format!("/admin/privacy/staff/{teacher}")))
        .await;
    assert_eq!(staff_page.status, StatusCode::OK);
    assert!(staff_page.body.contains("Classes they teach"));

    let unknown = admin
        .get(&l.w.url(&format!("/admin/privacy/students/{}", Uuid::new_v4())))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let mut teacher_browser = l.teacher;
    let refused = teacher_browser.get(&l.w.url("/admin/privacy")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // A page view alone records no export.
    let recorded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tenant_hillside.audit_log WHERE action = 'subject_access.exported'",
    )
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    assert_eq!(recorded, 0);
}
