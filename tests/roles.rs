//! Roles: every role against every route, role administration, school settings.

mod common;

use common::browser::{ADMIN, Browser, RequestBody, SignInWorld};
use common::{TEACHER, serve_app};
use invigilator::auth::roles::{Permission, Role, allows};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Staff holding exactly one role each.
async fn one_of_each(w: &SignInWorld) -> Vec<(Role, Browser)> {
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
                json!({"retention_months": 24, "shared_drive_id": "0APortfolios"}),
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
    assert_eq!(after["shared_drive_id"], "0APortfolios");

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
