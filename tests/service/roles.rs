//! Roles: every role against every route, role administration, school settings.

use invigilator_test_kit as common;

use common::browser::{ADMIN, Browser, RequestBody, SignInWorld};
use common::{OPERATOR, SHARED_DRIVE, TEACHER, connect_drive_operator, serve_app};
use invigilator::auth::roles::{Permission, Role, allows};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Staff holding exactly one role each.
pub(crate) async fn one_of_each(w: &SignInWorld) -> Vec<(Role, Browser)> {
    let subject: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO tenant_hillside.subjects (name) VALUES ('Chemistry') RETURNING id",
    )
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    let invited = [
        ("hos@hillside.sch.uk", "head_of_subject", Some(subject)),
        ("exams@hillside.sch.uk", "exams_officer", None),
        ("head@hillside.sch.uk", "headteacher", None),
    ];
    for (email, role, subject) in invited {
        w.emu.add_user(email, "Role", "Holder").unwrap();
        sqlx::query("INSERT INTO tenant_hillside.role_invitations (email, role, subject_id) VALUES ($1, $2, $3)")
            .bind(email)
            .bind(role)
            .bind(subject)
            .execute(&w.db.pool)
            .await
            .unwrap();
    }
    let people = [
        (Role::Teacher, TEACHER),
        (Role::HeadOfSubject, "hos@hillside.sch.uk"),
        (Role::ExamsOfficer, "exams@hillside.sch.uk"),
        (Role::Headteacher, "head@hillside.sch.uk"),
        (Role::SchoolAdmin, ADMIN),
    ];
    let mut out = Vec::new();
    for (role, email) in people {
        let mut browser = w.browser();
        let page = w.sign_in(&mut browser, email).await;
        assert_eq!(page.status, StatusCode::OK, "{email}: {}", page.body);
        out.push((role, browser));
    }
    out
}

fn csrf(me: &Value) -> String {
    me["csrf_token"].as_str().unwrap().to_owned()
}

/// Every route of this stage, the permission it needs (None: any signed-in staff), and a body
/// that is valid when the call is allowed.
fn routes() -> Vec<(Method, &'static str, Option<Value>, Option<Permission>)> {
    vec![
        (Method::GET, "/api/me", None, None),
        (
            Method::GET,
            "/api/roles",
            None,
            Some(Permission::ManageRoles),
        ),
        (
            Method::POST,
            "/api/roles",
            Some(json!({"email": "new.colleague@hillside.sch.uk", "role": "teacher"})),
            Some(Permission::ManageRoles),
        ),
        (
            Method::DELETE,
            "/api/roles/00000000-0000-0000-0000-000000000000",
            Some(json!({})),
            Some(Permission::ManageRoles),
        ),
        (
            Method::GET,
            "/api/settings",
            None,
            Some(Permission::ManageSettings),
        ),
        (
            Method::PUT,
            "/api/settings",
            Some(json!({})),
            Some(Permission::ManageSettings),
        ),
        (
            Method::GET,
            "/api/audit/verify",
            None,
            Some(Permission::VerifyAuditLog),
        ),
        (
            Method::GET,
            "/api/shares",
            None,
            Some(Permission::ReviewShares),
        ),
        (
            Method::GET,
            "/api/privacy/students/00000000-0000-0000-0000-000000000000/export",
            None,
            Some(Permission::UsePrivacyTools),
        ),
        (
            Method::GET,
            "/api/privacy/staff/00000000-0000-0000-0000-000000000000/export",
            None,
            Some(Permission::UsePrivacyTools),
        ),
        (
            Method::POST,
            "/api/privacy/students/00000000-0000-0000-0000-000000000000/erase",
            Some(json!({})),
            Some(Permission::UsePrivacyTools),
        ),
        (
            Method::GET,
            "/api/privacy/retention",
            None,
            Some(Permission::UsePrivacyTools),
        ),
        (
            Method::GET,
            "/api/privacy/data-map",
            None,
            Some(Permission::UsePrivacyTools),
        ),
        (
            Method::GET,
            "/api/support-access",
            None,
            Some(Permission::UsePrivacyTools),
        ),
        (
            Method::POST,
            "/api/support-access",
            Some(json!({})),
            Some(Permission::UsePrivacyTools),
        ),
        (
            Method::POST,
            "/api/support-access/00000000-0000-0000-0000-000000000000/revoke",
            Some(json!({})),
            Some(Permission::UsePrivacyTools),
        ),
        (
            Method::POST,
            "/api/shares/00000000-0000-0000-0000-000000000000/keep",
            Some(json!({})),
            Some(Permission::ReviewShares),
        ),
        (
            Method::POST,
            "/api/shares/scans",
            Some(json!({"class_id": "00000000-0000-0000-0000-000000000000"})),
            Some(Permission::ReviewShares),
        ),
        (
            Method::POST,
            "/auth/connect-drive",
            Some(json!({})),
            Some(Permission::ConnectDrive),
        ),
        (
            Method::GET,
            "/api/drive-operators",
            None,
            Some(Permission::ManageSettings),
        ),
        (
            Method::DELETE,
            "/api/drive-operators/00000000-0000-0000-0000-000000000000",
            Some(json!({})),
            Some(Permission::ConnectDrive),
        ),
        (Method::GET, "/api/classes", None, None),
        (
            Method::GET,
            "/api/class-rules",
            None,
            Some(Permission::ManageSettings),
        ),
        (
            Method::POST,
            "/api/class-rules/year-groups",
            Some(json!({"pattern": "10%", "year_group": 10})),
            Some(Permission::ManageSettings),
        ),
        (
            Method::PUT,
            "/api/class-rules/subjects/order",
            Some(json!({"ids": []})),
            Some(Permission::ManageSettings),
        ),
        (
            Method::PUT,
            "/api/class-rules/subjects/00000000-0000-0000-0000-000000000000",
            Some(json!({"pattern": "x%"})),
            Some(Permission::ManageSettings),
        ),
        (
            Method::DELETE,
            "/api/class-rules/year-groups/00000000-0000-0000-0000-000000000000",
            Some(json!({})),
            Some(Permission::ManageSettings),
        ),
        (
            Method::POST,
            "/api/class-rules/apply",
            Some(json!({})),
            Some(Permission::ManageSettings),
        ),
        (
            Method::PUT,
            "/api/classes/00000000-0000-0000-0000-000000000000/placement",
            Some(json!({"year_group": 10})),
            Some(Permission::ManageSettings),
        ),
        (
            Method::POST,
            "/api/windows/preview",
            Some(json!({})),
            Some(Permission::ManageWindows),
        ),
        (
            Method::POST,
            "/api/windows",
            Some(json!({})),
            Some(Permission::ManageWindows),
        ),
        (
            Method::PUT,
            "/api/windows/00000000-0000-0000-0000-000000000000",
            Some(json!({})),
            Some(Permission::ManageWindows),
        ),
        (
            Method::POST,
            "/api/windows/00000000-0000-0000-0000-000000000000/cancel",
            Some(json!({})),
            Some(Permission::ManageWindows),
        ),
        (
            Method::POST,
            "/api/portfolios/00000000-0000-0000-0000-000000000000/override",
            Some(json!({"reason": "access arrangement"})),
            Some(Permission::ManageWindows),
        ),
        (
            Method::GET,
            "/api/windows/calendar-feed",
            None,
            Some(Permission::ManageWindows),
        ),
        (
            Method::POST,
            "/api/windows/calendar-feed",
            Some(json!({})),
            Some(Permission::ManageWindows),
        ),
    ]
}

#[tokio::test]
async fn every_role_against_every_route() {
    let w = SignInWorld::new().await;
    for (role, mut browser) in one_of_each(&w).await {
        let me: Value = serde_json::from_str(&browser.get(&w.url("/api/me")).await.body).unwrap();
        assert_eq!(me["roles"], json!([role]), "{role:?}");
        let token = csrf(&me);
        for (method, path, body, permission) in routes() {
            let body = body.map(|b| RequestBody::Json(b, Some(token.clone())));
            let page = browser.request(method.clone(), &w.url(path), body).await;
            let allowed = permission.is_none_or(|p| allows(role, p));
            if allowed {
                assert!(
                    page.status != StatusCode::FORBIDDEN && page.status != StatusCode::UNAUTHORIZED,
                    "{role:?} {method} {path} should be allowed, got {} {}",
                    page.status,
                    page.body
                );
            } else {
                assert_eq!(
                    page.status,
                    StatusCode::FORBIDDEN,
                    "{role:?} {method} {path}: {}",
                    page.body
                );
            }
        }
    }
    // Nobody signed in: 401 everywhere.
    let mut anonymous = w.browser();
    for (method, path, body, _) in routes() {
        let body = body.map(|b| RequestBody::Json(b, None));
        let page = anonymous.request(method.clone(), &w.url(path), body).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
}

#[tokio::test]
async fn a_school_admin_assigns_and_revokes_roles_but_never_the_last_admin() {
    let w = SignInWorld::new().await;
    let mut teacher = w.browser();
    w.sign_in(&mut teacher, TEACHER).await;
    let mut admin = w.browser();
    w.sign_in(&mut admin, ADMIN).await;
    let me: Value = serde_json::from_str(&admin.get(&w.url("/api/me")).await.body).unwrap();
    let token = Some(csrf(&me));
    let post = |body: Value| RequestBody::Json(body, token.clone());

    // The teacher (signed in before) becomes an Examinations Officer at once.
    let granted = admin
        .request(
            Method::POST,
            &w.url("/api/roles"),
            Some(post(json!({"email": TEACHER, "role": "exams_officer"}))),
        )
        .await;
    assert_eq!(granted.status, StatusCode::CREATED, "{}", granted.body);
    let granted: Value = serde_json::from_str(&granted.body).unwrap();
    assert_eq!(granted["kind"], "granted");
    let their_me: Value = serde_json::from_str(&teacher.get(&w.url("/api/me")).await.body).unwrap();
    assert_eq!(their_me["roles"], json!(["teacher", "exams_officer"]));

    // Someone who has never signed in is invited.
    let invited = admin
        .request(
            Method::POST,
            &w.url("/api/roles"),
            Some(post(
                json!({"email": "Future.Head@hillside.sch.uk", "role": "headteacher"}),
            )),
        )
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&invited.body).unwrap()["kind"],
        "invited"
    );
    let list: Value = serde_json::from_str(&admin.get(&w.url("/api/roles")).await.body).unwrap();
    assert_eq!(
        list["invitations"][0]["email"],
        "future.head@hillside.sch.uk"
    );

    // Bad requests change nothing.
    for body in [
        json!({"email": TEACHER, "role": "head_of_subject"}),
        json!({"email": "not-an-email", "role": "teacher"}),
        json!({"email": TEACHER, "role": "overlord"}),
        json!({"email": "someone@gmail.com", "role": "teacher"}),
    ] {
        let page = admin
            .request(Method::POST, &w.url("/api/roles"), Some(post(body.clone())))
            .await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            page.body
        );
    }

    // Revoking: the exams role goes; the only School Admin stays.
    let revoke = admin
        .request(
            Method::DELETE,
            &w.url(&format!("/api/roles/{}", granted["id"].as_str().unwrap())),
            Some(post(json!({}))),
        )
        .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT, "{}", revoke.body);
    let admin_role = list["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["role"] == "school_admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let last = admin
        .request(
            Method::DELETE,
            &w.url(&format!("/api/roles/{admin_role}")),
            Some(post(json!({}))),
        )
        .await;
    assert_eq!(last.status, StatusCode::CONFLICT);
    assert!(last.body.contains("at least one School Admin"));

    let actions: Vec<String> = w
        .audit_actions()
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert_eq!(actions.iter().filter(|a| *a == "role.assigned").count(), 2);
    assert_eq!(actions.iter().filter(|a| *a == "role.revoked").count(), 1);
}

#[tokio::test]
async fn a_settings_change_is_visible_at_once_on_another_process() {
    let w = SignInWorld::new().await;
    let base = w.emu.url();
    let (second, _stop, _server) = serve_app(
        &w.db,
        &[("GOOGLE_API_BASE_URL", &base), ("GOOGLE_ISSUER_URL", &base)],
    )
    .await;
    let second_url = format!("http://127.0.0.1:{}", second.port());

    // A Shared Drive is saved only once the school's Drive operator is found to manage it.
    connect_drive_operator(&w.db, &w.emu, &w.school().await, OPERATOR).await;
    let mut admin = w.browser();
    w.sign_in(&mut admin, ADMIN).await;
    let me: Value = serde_json::from_str(&admin.get(&w.url("/api/me")).await.body).unwrap();
    // The same session works on the other process (sessions live in Redis).
    let mut elsewhere = Browser::new(&second_url);
    elsewhere.set_cookie(
        &second_url,
        "invigilator_session",
        &admin.cookie(&w.app, "invigilator_session").unwrap(),
    );
    let before: Value = serde_json::from_str(
        &elsewhere
            .get(&format!("{second_url}/api/settings"))
            .await
            .body,
    )
    .unwrap();
    assert_eq!(
        before["retention_months"], 36,
        "read (and cached) by the second process"
    );

    let changed = admin
        .request(
            Method::PUT,
            &w.url("/api/settings"),
            Some(RequestBody::Json(
                json!({"retention_months": 24, "shared_drive_id": SHARED_DRIVE}),
                Some(csrf(&me)),
            )),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let after: Value = serde_json::from_str(
        &elsewhere
            .get(&format!("{second_url}/api/settings"))
            .await
            .body,
    )
    .unwrap();
    assert_eq!(after["retention_months"], 24);
    assert_eq!(after["shared_drive_id"], SHARED_DRIVE);

    let bad = admin
        .request(
            Method::PUT,
            &w.url("/api/settings"),
            Some(RequestBody::Json(
                json!({"retention_months": 0}),
                Some(csrf(&me)),
            )),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = admin
        .request(
            Method::PUT,
            &w.url("/api/settings"),
            Some(RequestBody::Json(
                json!({"colour": "blue"}),
                Some(csrf(&me)),
            )),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Signs in the School Admin; returns their browser and CSRF token.
async fn admin_of(w: &SignInWorld) -> (Browser, String) {
    let mut admin = w.browser();
    w.sign_in(&mut admin, ADMIN).await;
    let me: Value = serde_json::from_str(&admin.get(&w.url("/api/me")).await.body).unwrap();
    let token = csrf(&me);
    (admin, token)
}

async fn put_settings(
    w: &SignInWorld,
    admin: &mut Browser,
    token: &str,
    body: Value,
) -> (StatusCode, Value) {
    let page = admin
        .request(
            Method::PUT,
            &w.url("/api/settings"),
            Some(RequestBody::Json(body, Some(token.to_owned()))),
        )
        .await;
    (
        page.status,
        serde_json::from_str(&page.body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_shared_drive_is_saved_only_if_the_drive_operator_manages_it() {
    let w = SignInWorld::new().await;
    let school = w.school().await;
    let (mut admin, token) = admin_of(&w).await;
    let saved_drive = || async {
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT shared_drive_id FROM platform.tenants WHERE slug = 'hillside'",
        )
        .fetch_one(&w.db.pool)
        .await
        .unwrap()
    };

    // No Drive operator yet: nothing to check with.
    let (status, body) = put_settings(
        &w,
        &mut admin,
        &token,
        json!({"shared_drive_id": SHARED_DRIVE}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "shared_drive_id");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Drive account"),
        "{body}"
    );

    connect_drive_operator(&w.db, &w.emu, &school, OPERATOR).await;
    // Another school's drive (the operator is no member), or no such drive: refused alike.
    w.emu.create_shared_drive(
        Some("0AOtherSchool".into()),
        "Riverside Portfolios",
        &[(
            "operator@riverside.sch.uk".into(),
            google_emulator::Role::Organizer,
        )],
    );
    // A drive the operator may only edit in: it could not share folders.
    w.emu.create_shared_drive(
        Some("0AEditorOnly".into()),
        "Staff Shared",
        &[(OPERATOR.into(), google_emulator::Role::Writer)],
    );
    for (drive, words) in [
        ("0AOtherSchool", "no Shared Drive with this id"),
        ("0ANoSuchDrive", "no Shared Drive with this id"),
        ("0AEditorOnly", "not a Manager"),
    ] {
        let (status, body) = put_settings(
            &w,
            &mut admin,
            &token,
            json!({"shared_drive_id": drive, "retention_months": 12}),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{drive}: {body}");
        assert_eq!(body["error"]["field"], "shared_drive_id", "{drive}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(words),
            "{drive}: {body}"
        );
        assert_eq!(saved_drive().await, None, "{drive}: nothing saved");
    }
    let retention: i32 =
        sqlx::query_scalar("SELECT retention_months FROM platform.tenants WHERE slug = 'hillside'")
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
    assert_eq!(retention, 36, "a refused change saves none of its fields");

    // The school's own drive, managed by its operator: saved, and the set-up shows the check.
    let (status, body) = put_settings(
        &w,
        &mut admin,
        &token,
        json!({"shared_drive_id": SHARED_DRIVE}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["shared_drive_id"], SHARED_DRIVE);
    assert_eq!(body["setup"]["shared_drive"]["name"], "Portfolios");
    assert_eq!(
        body["setup"]["shared_drive"]["check"],
        "operator_is_manager"
    );
    assert!(body["setup"]["shared_drive"]["checked_at"].is_string());
    assert_eq!(body["setup"]["drive_operator"]["account"], OPERATOR);
    assert_eq!(body["setup"]["ready"], true);
    let read: Value = serde_json::from_str(&admin.get(&w.url("/api/settings")).await.body).unwrap();
    assert_eq!(read["setup"], body["setup"]);

    // A second school can never take the same drive, even if its operator manages it too.
    let other = w
        .add_school("riverside", "riverside.sch.uk", "admin@riverside.sch.uk")
        .await;
    connect_drive_operator(&w.db, &w.emu, &other, OPERATOR).await;
    let checked = invigilator::portfolio::shared_drive::check(
        &invigilator::google::GoogleClients::new(
            &w.db.config(&[("GOOGLE_API_BASE_URL", &w.emu.url())]),
            w.db.pool.clone(),
            invigilator::redis_client::lazy_connection(&w.db.config(&[])).unwrap(),
        )
        .unwrap(),
        &other,
        SHARED_DRIVE,
    )
    .await
    .unwrap();
    let taken = invigilator::tenancy::settings::update(
        &w.db.pool,
        &invigilator::redis_client::lazy_connection(&w.db.config(&[])).unwrap(),
        &w.db.role_prefix,
        &other,
        &invigilator::audit::Actor::System("test"),
        &serde_json::from_value(json!({"shared_drive_id": SHARED_DRIVE})).unwrap(),
        Some(&checked),
    )
    .await;
    assert!(
        matches!(
            taken,
            Err(invigilator::tenancy::settings::SettingsError::SharedDriveTaken)
        ),
        "{taken:?}"
    );
}

#[tokio::test]
async fn addresses_and_text_that_cannot_be_stored_get_422_naming_the_field() {
    let w = SignInWorld::new().await;
    let (mut admin, token) = admin_of(&w).await;
    let long_local = format!("{}@hillside.sch.uk", "a".repeat(20_000));
    for email in [
        "a\\u0000b@hillside.sch.uk",
        "tab\\tby@hillside.sch.uk",
        long_local.as_str(),
        "not-an-email",
        "someone@gmail.com",
    ] {
        // Built by hand so the JSON carries the escapes exactly.
        let body = format!(r#"{{"email": "{email}", "role": "teacher"}}"#);
        let page = admin
            .request(
                Method::POST,
                &w.url("/api/roles"),
                Some(RequestBody::Raw(body, Some(token.clone()))),
            )
            .await;
        let shown: String = email.chars().take(40).collect();
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{shown}: {}",
            page.body
        );
        let answer: Value = serde_json::from_str(&page.body).unwrap();
        assert_eq!(answer["error"]["field"], "email", "{shown}");
    }

    // A capital outside ASCII is lower-cased as the database would: one invitation, no 500.
    for email in ["ÜBER.LEHRER@hillside.sch.uk", "über.lehrer@HILLSIDE.sch.uk"] {
        let page = admin
            .request(
                Method::POST,
                &w.url("/api/roles"),
                Some(RequestBody::Json(
                    json!({"email": email, "role": "teacher"}),
                    Some(token.clone()),
                )),
            )
            .await;
        assert_eq!(page.status, StatusCode::CREATED, "{email}: {}", page.body);
    }
    let invited: Vec<String> = sqlx::query_scalar(
        "SELECT email FROM tenant_hillside.role_invitations WHERE role = 'teacher'",
    )
    .fetch_all(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(invited, ["über.lehrer@hillside.sch.uk"]);

    // Settings name their field too.
    let (status, body) = put_settings(&w, &mut admin, &token, json!({"retention_months": 0})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "retention_months");
    let (status, body) = put_settings(
        &w,
        &mut admin,
        &token,
        json!({"shared_drive_id": "0A\u{0}x"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "shared_drive_id");
}

#[tokio::test]
async fn taking_away_someones_last_role_ends_all_their_sessions() {
    let w = SignInWorld::new().await;
    let (mut admin, token) = admin_of(&w).await;
    // The teacher is signed in on two devices.
    let mut laptop = w.browser();
    w.sign_in(&mut laptop, TEACHER).await;
    let mut phone = w.browser();
    w.sign_in(&mut phone, TEACHER).await;
    let roles = |id: &str| format!("/api/roles/{id}");
    let list: Value = serde_json::from_str(&admin.get(&w.url("/api/roles")).await.body).unwrap();
    let teacher_roles: Vec<String> = list["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["email"] == TEACHER)
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(teacher_roles.len(), 1);
    let revoked = admin
        .request(
            Method::DELETE,
            &w.url(&roles(&teacher_roles[0])),
            Some(RequestBody::Json(json!({}), Some(token.clone()))),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
    for device in [&mut laptop, &mut phone] {
        assert_eq!(
            device.get(&w.url("/api/me")).await.status,
            StatusCode::UNAUTHORIZED,
            "every session of someone with no role has ended"
        );
    }
    let revoked_entry = w
        .audit_actions()
        .await
        .into_iter()
        .rfind(|(a, _)| a == "role.revoked")
        .unwrap();
    assert_eq!(revoked_entry.1["last_role"], true);
}

/// A class in `subject` with one student and a portfolio (folder made), taught by `teacher` if
/// given; returns (class id, portfolio id).
async fn class_with_portfolio(
    w: &SignInWorld,
    name: &str,
    subject: uuid::Uuid,
    teacher: Option<&str>,
) -> (uuid::Uuid, uuid::Uuid) {
    let course: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO tenant_hillside.courses (classroom_id, name, subject_id) VALUES ($1, $1, $2) RETURNING id",
    )
    .bind(name)
    .bind(subject)
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    if let Some(email) = teacher {
        sqlx::query(
            "INSERT INTO tenant_hillside.course_teachers (course_id, staff_id) \
             SELECT $1, id FROM tenant_hillside.staff WHERE email = $2",
        )
        .bind(course)
        .bind(email)
        .execute(&w.db.pool)
        .await
        .unwrap();
    }
    let portfolio: uuid::Uuid = sqlx::query_scalar(
        "WITH s AS (INSERT INTO tenant_hillside.students (classroom_user_id) VALUES ($2) RETURNING id) \
         INSERT INTO tenant_hillside.portfolios (course_id, student_id, drive_folder_id) \
         SELECT $1, s.id, 'folder-' || $2 FROM s RETURNING id",
    )
    .bind(course)
    .bind(format!("pupil-of-{name}"))
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    (course, portfolio)
}

#[tokio::test]
async fn each_role_reaches_exactly_its_classes_including_a_head_of_subjects_subject() {
    let w = SignInWorld::new().await;
    let people = one_of_each(&w).await;
    // `one_of_each` made Chemistry and gave the Head of Subject that subject.
    let chemistry: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM tenant_hillside.subjects WHERE name = 'Chemistry'")
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
    let physics: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO tenant_hillside.subjects (name) VALUES ('Physics') RETURNING id",
    )
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    let taught = class_with_portfolio(&w, "10X Chemistry", physics, Some(TEACHER)).await;
    let in_subject = class_with_portfolio(&w, "11Y Chemistry", chemistry, None).await;
    let elsewhere = class_with_portfolio(&w, "9Z Physics", physics, None).await;
    let classes = [
        ("taught", taught),
        ("chemistry", in_subject),
        ("physics", elsewhere),
    ];

    for (role, mut browser) in people {
        let sees: Vec<&str> = match role {
            Role::Teacher => vec!["taught"],
            Role::HeadOfSubject => vec!["chemistry"],
            Role::ExamsOfficer | Role::Headteacher => vec!["taught", "chemistry", "physics"],
            Role::SchoolAdmin => vec![],
        };
        let me: Value = serde_json::from_str(&browser.get(&w.url("/api/me")).await.body).unwrap();
        let token = csrf(&me);
        for (name, (class, portfolio)) in classes {
            let expected = sees.contains(&name);
            let view = browser
                .get(&w.url(&format!("/api/portfolios/{portfolio}")))
                .await;
            let lock = browser
                .request(
                    Method::POST,
                    &w.url(&format!("/api/classes/{class}/lock")),
                    Some(RequestBody::Json(json!({}), Some(token.clone()))),
                )
                .await;
            if expected {
                assert_eq!(view.status, StatusCode::OK, "{role:?} views {name}");
                assert_eq!(
                    lock.status,
                    StatusCode::ACCEPTED,
                    "{role:?} locks {name}: {}",
                    lock.body
                );
            } else {
                // A class out of reach looks exactly like one that does not exist.
                let code = if role == Role::SchoolAdmin {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::NOT_FOUND
                };
                assert!(
                    view.status == StatusCode::NOT_FOUND || view.status == code,
                    "{role:?} views {name}: {}",
                    view.status
                );
                assert!(
                    lock.status == StatusCode::NOT_FOUND || lock.status == code,
                    "{role:?} locks {name}: {}",
                    lock.status
                );
            }
        }
    }
}

#[tokio::test]
async fn a_school_admin_places_classes_by_subject_and_year_rules_and_overrides() {
    let w = SignInWorld::new().await;
    let (mut admin, token) = admin_of(&w).await;
    let unsorted: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM tenant_hillside.subjects WHERE name = 'Unsorted'")
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
    let (chemistry, _) = class_with_portfolio(&w, "11A Chemistry", unsorted, None).await;
    let (physics, _) = class_with_portfolio(&w, "10B Physics", unsorted, None).await;
    let send = |method: Method, path: &str, body: Value| {
        let url = w.url(path);
        let token = token.clone();
        (method, url, RequestBody::Json(body, Some(token)))
    };
    let mut call = async |method: Method, path: &str, body: Value| {
        let (method, url, body) = send(method, path, body);
        let page = admin.request(method, &url, Some(body)).await;
        (
            page.status,
            serde_json::from_str::<Value>(&page.body).unwrap_or(Value::Null),
        )
    };
    let placed = |list: &Value, id: uuid::Uuid| -> (Value, Value) {
        let class = list
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id.to_string())
            .unwrap()
            .clone();
        (class["subject"].clone(), class["year_group"].clone())
    };

    for (kind, body) in [
        (
            "subjects",
            json!({"pattern": "%Chemistry%", "subject": "Chemistry"}),
        ),
        ("year-groups", json!({"pattern": "11%", "year_group": 11})),
        ("year-groups", json!({"pattern": "1_B%", "year_group": 10})),
    ] {
        let (status, answer) = call(Method::POST, &format!("/api/class-rules/{kind}"), body).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let (_, list) = call(Method::GET, "/api/classes", Value::Null).await;
    assert_eq!(placed(&list, chemistry), (json!("Chemistry"), json!(11)));
    assert_eq!(placed(&list, physics), (json!("Unsorted"), json!(10)));

    // A catch-all put first wins over everything after it.
    let (_, answer) = call(
        Method::POST,
        "/api/class-rules/subjects",
        json!({"pattern": "%", "subject": "General"}),
    )
    .await;
    let (_, rules) = call(Method::GET, "/api/class-rules", Value::Null).await;
    let ids: Vec<Value> = rules["subject_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .rev()
        .collect();
    assert_eq!(ids[0], answer["id"]);
    let (status, _) = call(
        Method::PUT,
        "/api/class-rules/subjects/order",
        json!({"ids": ids}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = call(Method::GET, "/api/classes", Value::Null).await;
    assert_eq!(placed(&list, chemistry).0, json!("General"));

    // A class's own placement beats the rules; clearing it returns to them.
    let path = format!("/api/classes/{physics}/placement");
    let (status, class) = call(
        Method::PUT,
        &path,
        json!({"subject": "Physics", "year_group": 9}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{class}");
    assert_eq!(
        (class["subject"].clone(), class["year_group"].clone()),
        (json!("Physics"), json!(9))
    );
    assert_eq!(class["year_group_overridden"], true);
    let (_, class) = call(Method::PUT, &path, json!({"year_group": null})).await;
    assert_eq!(
        (class["subject"].clone(), class["year_group"].clone()),
        (json!("Physics"), json!(10))
    );

    // Bad input names its field and changes nothing.
    for (method, path, body, field) in [
        (
            Method::POST,
            "/api/class-rules/subjects".to_owned(),
            json!({"pattern": "a\\", "subject": "X"}),
            "pattern",
        ),
        (
            Method::POST,
            "/api/class-rules/subjects".to_owned(),
            json!({"pattern": "x%", "subject": " "}),
            "subject",
        ),
        (
            Method::POST,
            "/api/class-rules/year-groups".to_owned(),
            json!({"pattern": "x%", "year_group": 14}),
            "year_group",
        ),
        (
            Method::POST,
            "/api/class-rules/year-groups".to_owned(),
            json!({"pattern": "x%"}),
            "year_group",
        ),
        (
            Method::PUT,
            "/api/class-rules/subjects/order".to_owned(),
            json!({"ids": [ids[0]]}),
            "ids",
        ),
        (
            Method::PUT,
            path.clone(),
            json!({"year_group": 0}),
            "year_group",
        ),
    ] {
        let (status, answer) = call(method, &path, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}");
    }
    let (_, after) = call(Method::GET, "/api/class-rules", Value::Null).await;
    assert_eq!(after["subject_rules"].as_array().unwrap().len(), 2);
    assert_eq!(after["year_group_rules"].as_array().unwrap().len(), 2);

    let actions: Vec<String> = w
        .audit_actions()
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "class_rule.added").count(),
        4
    );
    assert!(actions.contains(&"class_rules.reordered".to_owned()));
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "class.placement_set")
            .count(),
        2
    );
}
