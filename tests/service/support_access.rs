//! Support access: an operator reads a school only under a live grant from its School Admin,
//! every read is in the school's log under the operator's name, and a grant ends by revocation,
//! by expiry or by the operator being disabled.

use invigilator_test_kit as common;

use common::browser::{ADMIN, Browser, Page, RequestBody, SignInWorld};
use invigilator::auth::roles::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

const OLIVE: &str = "Olive Operator";
const PETE: &str = "Pete Operator";

/// Adds an operator through the command line; returns their bearer token.
fn add_operator(w: &SignInWorld, name: &str, email: &str) -> String {
    let out = common::invigilator(&w.db, &["operator", "add", name, "--email", email]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    stdout
        .lines()
        .find_map(|l| l.split("): ").nth(1))
        .unwrap_or_else(|| panic!("no token in {stdout}"))
        .trim()
        .to_owned()
}

async fn admin_of(w: &SignInWorld) -> (Browser, String) {
    let mut admin = w.browser();
    assert_eq!(w.sign_in(&mut admin, ADMIN).await.status, StatusCode::OK);
    let token = w.csrf_token(&mut admin).await;
    (admin, token)
}

async fn post_json(
    w: &SignInWorld,
    browser: &mut Browser,
    csrf: &str,
    path: &str,
    body: Value,
) -> Page {
    browser
        .request(
            Method::POST,
            &w.url(path),
            Some(RequestBody::Json(body, Some(csrf.to_owned()))),
        )
        .await
}

/// An operator's read: status and JSON body.
async fn read(w: &SignInWorld, token: Option<&str>, path: &str) -> (StatusCode, Value) {
    let mut request = common::http_client().get(w.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// A class in hillside (no students yet); returns its id.
async fn add_class(w: &SignInWorld) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO tenant_hillside.courses (classroom_id, name) VALUES ('c-support', '10X Art') \
         RETURNING id",
    )
    .fetch_one(&w.db.pool)
    .await
    .unwrap()
}

/// The school's support-access entries: (actor, action, details), oldest first.
async fn support_entries(w: &SignInWorld, schema: &str) -> Vec<(String, String, Value)> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT actor, action, details FROM \"{schema}\".audit_log \
         WHERE action LIKE 'support_access.%' ORDER BY id"
    )))
    .fetch_all(&w.db.pool)
    .await
    .unwrap()
}

const READS: [&str; 3] = [
    "/api/support/hillside/classes",
    "/api/support/hillside/audit",
    "/api/support/hillside/sync-runs",
];

async fn grant(
    w: &SignInWorld,
    admin: &mut Browser,
    csrf: &str,
    operator: &str,
    hours: i64,
) -> Value {
    let page = post_json(
        w,
        admin,
        csrf,
        "/api/support-access",
        json!({"operator": operator, "hours": hours, "reason": "Locks stuck on 10X"}),
    )
    .await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let answer: Value = serde_json::from_str(&page.body).unwrap();
    answer["grant"].clone()
}

#[tokio::test]
async fn a_grant_opens_audited_reads_until_it_is_revoked() {
    let w = SignInWorld::new().await;
    let olive = add_operator(&w, OLIVE, "olive@invigilator.example");
    let class = add_class(&w).await;
    let class_path = format!("/api/support/hillside/classes/{class}");

    // No grant: nothing, and no way round it.
    for path in READS.iter().copied().chain([class_path.as_str()]) {
        let (status, body) = read(&w, Some(&olive), path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("no support access"),
            "{body}"
        );
    }
    let (status, _) = read(&w, None, READS[0]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = read(&w, Some("not-a-token"), READS[0]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = read(&w, Some(&olive), "/api/support/nosuchschool/classes").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (mut admin, csrf) = admin_of(&w).await;
    let granted = grant(&w, &mut admin, &csrf, OLIVE, 2).await;
    assert_eq!(granted["status"], "active");
    assert_eq!(granted["operator"], OLIVE);
    let id = granted["id"].as_str().unwrap().to_owned();

    // A browser's cookies never stand in for the token.
    let with_cookie = common::http_client()
        .get(w.url(READS[0]))
        .bearer_auth(&olive)
        .header("cookie", admin.cookie_header(&w.url("/")))
        .send()
        .await
        .unwrap();
    assert_eq!(with_cookie.status(), StatusCode::UNAUTHORIZED);

    let (status, classes) = read(&w, Some(&olive), READS[0]).await;
    assert_eq!(status, StatusCode::OK, "{classes}");
    assert_eq!(classes["classes"][0]["name"], "10X Art");
    let (status, one) = read(&w, Some(&olive), &class_path).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["class"]["id"], class.to_string());
    assert!(one["folders"].as_array().unwrap().is_empty());
    let (status, log) = read(&w, Some(&olive), READS[1]).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "support_access.granted"),
        "{log}"
    );
    let (status, runs) = read(&w, Some(&olive), READS[2]).await;
    assert_eq!(status, StatusCode::OK, "{runs}");
    assert!(runs["runs"].is_array());
    let (status, _) = read(
        &w,
        Some(&olive),
        &format!("/api/support/hillside/classes/{}", Uuid::new_v4()),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Each read is in the school's log under the operator's name, after the grant.
    let entries = support_entries(&w, "tenant_hillside").await;
    assert_eq!(entries[0].1, "support_access.granted");
    assert!(entries[0].0.starts_with("staff:"), "{:?}", entries[0]);
    assert_eq!(entries[0].2["hours"], 2);
    let reads: Vec<&str> = entries
        .iter()
        .filter(|e| e.1 == "support_access.read")
        .map(|e| {
            assert_eq!(e.0, format!("operator:{OLIVE}"));
            e.2["read"].as_str().unwrap()
        })
        .collect();
    assert_eq!(reads, ["classes", "class", "audit", "sync_runs"]);

    // The School Admin sees the grant, and revokes it.
    let listed: Value =
        serde_json::from_str(&admin.get(&w.url("/api/support-access")).await.body).unwrap();
    assert_eq!(listed["operators"][0]["name"], OLIVE);
    assert_eq!(listed["grants"][0]["id"], id.as_str());
    assert_eq!(listed["max_hours"], 72);
    let revoked = post_json(
        &w,
        &mut admin,
        &csrf,
        &format!("/api/support-access/{id}/revoke"),
        json!({}),
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    let revoked: Value = serde_json::from_str(&revoked.body).unwrap();
    assert_eq!(revoked["grant"]["status"], "revoked");
    for path in READS {
        let (status, body) = read(&w, Some(&olive), path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("revoked"),
            "{body}"
        );
    }
    let again = post_json(
        &w,
        &mut admin,
        &csrf,
        &format!("/api/support-access/{id}/revoke"),
        json!({}),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    for unknown in [Uuid::new_v4().to_string(), "not-an-id".to_owned()] {
        let page = post_json(
            &w,
            &mut admin,
            &csrf,
            &format!("/api/support-access/{unknown}/revoke"),
            json!({}),
        )
        .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{unknown}");
    }
    let last = support_entries(&w, "tenant_hillside").await;
    let revocations: Vec<_> = last
        .iter()
        .filter(|e| e.1 == "support_access.revoked")
        .collect();
    assert_eq!(revocations.len(), 1);
    assert!(revocations[0].0.starts_with("staff:"));
    assert!(revocations[0].2["operator_id"].is_string(), "ids only");
}

#[tokio::test]
async fn a_grant_expires_by_itself_and_a_disabled_operator_reads_nothing() {
    let w = SignInWorld::new().await;
    let olive = add_operator(&w, OLIVE, "olive@invigilator.example");
    let pete = add_operator(&w, PETE, "pete@invigilator.example");
    let (mut admin, csrf) = admin_of(&w).await;
    let olives = grant(&w, &mut admin, &csrf, OLIVE, 1).await;
    grant(&w, &mut admin, &csrf, PETE, 72).await;
    assert_eq!(read(&w, Some(&olive), READS[0]).await.0, StatusCode::OK);

    // Two hours pass for Olive's one-hour grant.
    sqlx::query(
        "UPDATE platform.support_grants \
         SET granted_at = now() - interval '2 hours', expires_at = now() - interval '1 hour' \
         WHERE id = $1",
    )
    .bind(Uuid::parse_str(olives["id"].as_str().unwrap()).unwrap())
    .execute(&w.db.pool)
    .await
    .unwrap();
    let (status, body) = read(&w, Some(&olive), READS[0]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
    let listed: Value =
        serde_json::from_str(&admin.get(&w.url("/api/support-access")).await.body).unwrap();
    let statuses: Vec<&str> = listed["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["active", "expired"], "newest first");
    // An expired grant cannot be revoked: it has already ended.
    let late = post_json(
        &w,
        &mut admin,
        &csrf,
        &format!(
            "/api/support-access/{}/revoke",
            olives["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert_eq!(late.status, StatusCode::CONFLICT);

    // Pete's live grant stops opening anything the moment he is disabled.
    assert_eq!(read(&w, Some(&pete), READS[1]).await.0, StatusCode::OK);
    let out = common::invigilator(&w.db, &["operator", "disable", PETE]);
    assert!(out.status.success());
    let (status, body) = read(&w, Some(&pete), READS[1]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("disabled"),
        "{body}"
    );
    // And a disabled operator cannot be granted access again.
    let page = post_json(
        &w,
        &mut admin,
        &csrf,
        "/api/support-access",
        json!({"operator": PETE, "hours": 1, "reason": "again"}),
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let listed = common::invigilator(&w.db, &["operator", "list"]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.starts_with("NAME"), "{listed}");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(PETE) && l.contains("disabled")),
        "{listed}"
    );
}

#[tokio::test]
async fn another_schools_grant_does_not_open_this_school() {
    let w = SignInWorld::new().await;
    let olive = add_operator(&w, OLIVE, "olive@invigilator.example");
    let oak = w
        .add_school("oakfield", "oakfield.sch.uk", "admin@oakfield.sch.uk")
        .await;
    invigilator::privacy::support::grant(
        &w.db.pool,
        &oak,
        Uuid::new_v4(),
        &invigilator::privacy::support::NewGrant {
            operator: OLIVE.to_owned(),
            hours: 4,
            reason: "Oakfield's sync".to_owned(),
        },
    )
    .await
    .unwrap();
    let (status, _) = read(&w, Some(&olive), "/api/support/oakfield/classes").await;
    assert_eq!(status, StatusCode::OK);
    for path in READS {
        let (status, body) = read(&w, Some(&olive), path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }
    assert!(support_entries(&w, "tenant_hillside").await.is_empty());
    let (mut admin, _) = admin_of(&w).await;
    let listed: Value =
        serde_json::from_str(&admin.get(&w.url("/api/support-access")).await.body).unwrap();
    assert!(
        listed["grants"].as_array().unwrap().is_empty(),
        "oakfield's grant is not hillside's"
    );
    let oak_reads = support_entries(&w, "tenant_oakfield").await;
    assert_eq!(oak_reads.len(), 2, "granted, then one read");
}

#[tokio::test]
async fn only_the_school_admin_grants_and_bad_input_is_refused_beside_its_field() {
    let w = SignInWorld::new().await;
    add_operator(&w, OLIVE, "olive@invigilator.example");
    for (role, mut browser) in crate::roles::one_of_each(&w).await {
        let csrf = w.csrf_token(&mut browser).await;
        let listed = browser.get(&w.url("/api/support-access")).await;
        let made = post_json(
            &w,
            &mut browser,
            &csrf,
            "/api/support-access",
            json!({"operator": OLIVE, "hours": 1, "reason": "Looking at locks"}),
        )
        .await;
        if role == Role::SchoolAdmin {
            assert_eq!(listed.status, StatusCode::OK);
            assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
        } else {
            assert_eq!(listed.status, StatusCode::FORBIDDEN, "{role:?}");
            assert_eq!(made.status, StatusCode::FORBIDDEN, "{role:?}");
        }
    }
    let (mut admin, csrf) = admin_of(&w).await;
    let cases = [
        (
            json!({"operator": OLIVE, "hours": 0, "reason": "x"}),
            "hours",
        ),
        (
            json!({"operator": OLIVE, "hours": 73, "reason": "x"}),
            "hours",
        ),
        (
            json!({"operator": OLIVE, "hours": 1, "reason": "  "}),
            "reason",
        ),
        (
            json!({"operator": OLIVE, "hours": 1, "reason": "a".repeat(501)}),
            "reason",
        ),
        (
            json!({"operator": "Nobody", "hours": 1, "reason": "x"}),
            "operator",
        ),
        (
            json!({"operator": "", "hours": 1, "reason": "x"}),
            "operator",
        ),
    ];
    for (body, field) in cases {
        let page = post_json(&w, &mut admin, &csrf, "/api/support-access", body.clone()).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            page.body
        );
        let answer: Value = serde_json::from_str(&page.body).unwrap();
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
    }
    let page = post_json(
        &w,
        &mut admin,
        &csrf,
        "/api/support-access",
        json!({"operator": OLIVE, "hours": "many"}),
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let grants: i64 = sqlx::query_scalar("SELECT count(*) FROM platform.support_grants")
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(grants, 1, "only the School Admin's good grant was made");
}

#[tokio::test]
async fn the_support_page_grants_shows_and_revokes_with_a_confirmation() {
    let w = SignInWorld::new().await;
    let olive = add_operator(&w, OLIVE, "olive@invigilator.example");
    let (mut admin, csrf) = admin_of(&w).await;
    let page = admin.get(&w.url("/admin/support")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Support access"));
    assert!(
        page.body
            .contains(&format!("<option value=\"{OLIVE}\">{OLIVE}</option>"))
    );
    assert!(page.body.contains("No one has access now."));

    // Bad hours: shown again beside the field, what was typed kept, nothing granted.
    for hours in ["0", "73", "lots"] {
        let shown = w
            .submit_form(
                &mut admin,
                &csrf,
                "/admin/support",
                &[
                    ("operator", OLIVE),
                    ("hours", hours),
                    ("reason", "Sync stuck"),
                ],
            )
            .await;
        assert_eq!(shown.status, StatusCode::UNPROCESSABLE_ENTITY, "{hours}");
        assert!(
            shown.body.contains("id=\"hours-error\""),
            "{hours}: {}",
            shown.body
        );
        assert!(shown.body.contains("value=\"Sync stuck\""));
    }
    let no_reason = w
        .submit_form(
            &mut admin,
            &csrf,
            "/admin/support",
            &[("operator", OLIVE), ("hours", "4"), ("reason", "")],
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_reason.body.contains("id=\"reason-error\""));
    assert_eq!(
        read(&w, Some(&olive), READS[0]).await.0,
        StatusCode::FORBIDDEN
    );

    let granted = w
        .submit_form(
            &mut admin,
            &csrf,
            "/admin/support",
            &[
                ("operator", OLIVE),
                ("hours", "4"),
                ("reason", "Sync stuck"),
            ],
        )
        .await;
    assert_eq!(granted.status, StatusCode::SEE_OTHER, "{}", granted.body);
    let to = granted.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(to, "/admin/support?done=granted");
    let shown = admin.get(&w.url(&to)).await;
    assert!(shown.body.contains("Access granted."));
    assert!(shown.body.contains("Access now (1)"));
    assert!(shown.body.contains("Sync stuck"));
    let expires: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT expires_at FROM platform.support_grants")
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
    let id: Uuid = sqlx::query_scalar("SELECT id FROM platform.support_grants")
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    let london = expires.with_timezone(&chrono_tz::Europe::London);
    assert!(
        shown.body.contains(&london.format("%H:%M").to_string()),
        "the expiry in London time"
    );
    assert!(shown.body.contains(&format!(
        "action=\"/admin/support/{id}/revoke\" data-confirm="
    )));
    assert_eq!(read(&w, Some(&olive), READS[0]).await.0, StatusCode::OK);

    // Without the script, the first press asks; the answer revokes.
    let asking = w
        .submit_form(
            &mut admin,
            &csrf,
            &format!("/admin/support/{id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(asking.status, StatusCode::OK);
    assert!(asking.body.contains("Revoke support access?"));
    assert_eq!(
        read(&w, Some(&olive), READS[0]).await.0,
        StatusCode::OK,
        "not yet"
    );
    let revoked = w
        .submit_form(
            &mut admin,
            &csrf,
            &format!("/admin/support/{id}/revoke"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    let shown = admin.get(&w.url("/admin/support?done=revoked")).await;
    assert!(shown.body.contains("Past grants (1)"));
    assert!(shown.body.contains("Revoked at"));
    assert_eq!(
        read(&w, Some(&olive), READS[0]).await.0,
        StatusCode::FORBIDDEN
    );
    let unknown = w
        .submit_form(
            &mut admin,
            &csrf,
            &format!("/admin/support/{}/revoke", Uuid::new_v4()),
            &[],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}
