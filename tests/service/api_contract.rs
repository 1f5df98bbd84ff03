//! The API's contract as a client meets it: the OpenAPI document at `/api/openapi.json`, one
//! error shape carrying the request's id, and the rules for bodies, content types and ids.

use invigilator_test_kit as common;

use common::browser::{ADMIN, Browser, SignInWorld};
use common::http_client;
use invigilator::auth::roles::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A signed-in School Admin and their CSRF token.
async fn admin(w: &SignInWorld) -> (Browser, String) {
    let mut admin = w.browser();
    w.sign_in(&mut admin, ADMIN).await;
    let me: Value = serde_json::from_str(&admin.get(&w.url("/api/me")).await.body).unwrap();
    let token = me["csrf_token"].as_str().unwrap().to_owned();
    (admin, token)
}

/// What came back: status, the `x-request-id` header and the body as JSON.
struct Answer {
    status: StatusCode,
    request_id: String,
    content_type: String,
    body: Value,
}

/// One request as the admin's browser would send it, with any body and headers.
async fn send(
    w: &SignInWorld,
    admin: &Browser,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Answer {
    let url = w.url(path);
    let mut request = http_client()
        .request(method, &url)
        .header("cookie", admin.cookie_header(&url))
        .header("origin", &admin.origin);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let request_id = header("x-request-id");
    let content_type = header("content-type");
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        request_id,
        content_type,
        body,
    }
}

/// Asserts the one error shape, with this code and the request's own id.
fn assert_refused(answer: &Answer, status: StatusCode, code: &str, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    assert!(
        answer.content_type.starts_with("application/json"),
        "{what}: {}",
        answer.content_type
    );
    let error = &answer.body["error"];
    assert_eq!(error["code"], code, "{what}: {}", answer.body);
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {}",
        answer.body
    );
    assert_eq!(
        error["request_id"], answer.request_id,
        "{what}: the id in the body is the one in the header (and the logs)"
    );
    assert!(!answer.request_id.is_empty(), "{what}");
}

#[tokio::test]
async fn the_openapi_document_is_served_to_anyone_and_describes_the_error_shape() {
    let w = SignInWorld::new().await;
    let anonymous = w.browser();
    let answer = send(&w, &anonymous, Method::GET, "/api/openapi.json", &[], None).await;
    assert_eq!(answer.status, StatusCode::OK);
    let document = answer.body;
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3."),
        "{document}"
    );
    let lock = &document["paths"]["/api/portfolios/{id}/{verb}"]["post"];
    assert!(lock["responses"]["202"].is_object(), "{lock}");
    assert_eq!(
        lock["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    let role = &document["components"]["schemas"]["AssignRole"];
    assert_eq!(role["additionalProperties"], false, "{role}");
}

#[tokio::test]
async fn every_refusal_is_one_json_shape_carrying_the_request_id() {
    let w = SignInWorld::new().await;
    let (admin, token) = admin(&w).await;
    let csrf = [("x-csrf-token", token.as_str())];
    let json_csrf = [
        ("x-csrf-token", token.as_str()),
        ("content-type", "application/json"),
    ];

    let anonymous = w.browser();
    let answer = send(&w, &anonymous, Method::GET, "/api/me", &[], None).await;
    assert_refused(
        &answer,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "no session",
    );

    let answer = send(&w, &admin, Method::GET, "/api/no-such-thing", &[], None).await;
    assert_refused(
        &answer,
        StatusCode::NOT_FOUND,
        "not_found",
        "unknown address",
    );

    let answer = send(&w, &admin, Method::DELETE, "/api/me", &csrf, None).await;
    assert_refused(
        &answer,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "a method the route does not take",
    );

    let body = json!({"email": "new.teacher@hillside.sch.uk", "role": "teacher"});
    let answer = send(
        &w,
        &admin,
        Method::POST,
        "/api/roles",
        &[("content-type", "application/json")],
        Some(body.to_string().into_bytes()),
    )
    .await;
    assert_refused(
        &answer,
        StatusCode::FORBIDDEN,
        "expired_page",
        "no CSRF token",
    );

    // The id a load balancer sent is the one the answer (and the log) carries.
    let answer = send(
        &w,
        &admin,
        Method::GET,
        "/api/portfolios/not-an-id",
        &[("x-request-id", "ticket-4711")],
        None,
    )
    .await;
    assert_refused(&answer, StatusCode::NOT_FOUND, "not_found", "given id");
    assert_eq!(answer.body["error"]["request_id"], "ticket-4711");

    // A 422 names its field inside the error object.
    let answer = send(
        &w,
        &admin,
        Method::PUT,
        "/api/settings",
        &json_csrf,
        Some(json!({"retention_months": 0}).to_string().into_bytes()),
    )
    .await;
    assert_refused(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        "out of range",
    );
    assert_eq!(answer.body["error"]["field"], "retention_months");

    // axum's own refusal of a query string that does not fit comes out the same way.
    let answer = send(&w, &admin, Method::GET, "/api/shares?colour=red", &[], None).await;
    assert_refused(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        "unknown query parameter",
    );
}

#[tokio::test]
async fn bodies_must_be_json_of_the_documented_shape_and_size() {
    let w = SignInWorld::new().await;
    let (admin, token) = admin(&w).await;
    let valid = json!({"email": "new.teacher@hillside.sch.uk", "role": "teacher"}).to_string();

    // Not declared as JSON: 415, whatever the body holds; nothing is saved.
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut headers = vec![("x-csrf-token", token.as_str())];
        if let Some(t) = content_type {
            headers.push(("content-type", t));
        }
        let answer = send(
            &w,
            &admin,
            Method::POST,
            "/api/roles",
            &headers,
            Some(valid.clone().into_bytes()),
        )
        .await;
        assert_refused(
            &answer,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            &format!("{content_type:?}"),
        );
    }
    let json_csrf = [
        ("x-csrf-token", token.as_str()),
        ("content-type", "application/json; charset=utf-8"),
    ];

    // Over the limit (1 MiB by default): 413 before anything is read.
    let huge = format!(r#"{{"reason": "{}"}}"#, "x".repeat(2 * 1024 * 1024));
    let answer = send(
        &w,
        &admin,
        Method::POST,
        "/api/support-access",
        &json_csrf,
        Some(huge.into_bytes()),
    )
    .await;
    assert_refused(
        &answer,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "2 MiB body",
    );

    // A field we do not know is refused, not ignored: on every operation that takes a body.
    let id = uuid::Uuid::new_v4();
    for (method, path) in [
        (Method::POST, "/api/roles".to_owned()),
        (Method::PUT, "/api/settings".to_owned()),
        (Method::POST, format!("/api/portfolios/{id}/lock")),
        (Method::POST, format!("/api/portfolios/{id}/override")),
        (Method::POST, format!("/api/classes/{id}/lock")),
        (Method::PUT, format!("/api/classes/{id}/placement")),
        (Method::POST, "/api/class-rules/subjects".to_owned()),
        (Method::PUT, "/api/class-rules/subjects/order".to_owned()),
        (Method::PUT, format!("/api/class-rules/subjects/{id}")),
        (Method::POST, "/api/windows".to_owned()),
        (Method::POST, "/api/windows/preview".to_owned()),
        (Method::PUT, format!("/api/windows/{id}")),
        (Method::POST, "/api/shares/scans".to_owned()),
        (Method::POST, format!("/api/shares/{id}/keep")),
        (Method::POST, "/api/support-access".to_owned()),
        (Method::POST, format!("/api/support-access/{id}/revoke")),
        (Method::POST, format!("/api/privacy/students/{id}/erase")),
    ] {
        let answer = send(
            &w,
            &admin,
            method.clone(),
            &path,
            &json_csrf,
            Some(json!({"surprise": true}).to_string().into_bytes()),
        )
        .await;
        assert_refused(
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            &format!("{method} {path}"),
        );
    }
    // The officer's own actions ask who is asking first (a School Admin is refused, 403).
    let (_, mut officer) = crate::roles::one_of_each(&w)
        .await
        .into_iter()
        .find(|(role, _)| *role == Role::ExamsOfficer)
        .unwrap();
    let me: Value = serde_json::from_str(&officer.get(&w.url("/api/me")).await.body).unwrap();
    let officer_token = me["csrf_token"].as_str().unwrap().to_owned();
    for path in [
        format!("/api/windows/{id}/cancel"),
        "/api/windows/calendar-feed".to_owned(),
    ] {
        let answer = send(
            &w,
            &officer,
            Method::POST,
            &path,
            &[
                ("x-csrf-token", officer_token.as_str()),
                ("content-type", "application/json"),
            ],
            Some(json!({"surprise": true}).to_string().into_bytes()),
        )
        .await;
        assert_refused(
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            &format!("officer {path}"),
        );
    }
    let roles = admin_roles(&w, &admin).await;
    assert!(
        !roles.contains("new.teacher@hillside.sch.uk"),
        "nothing was saved: {roles}"
    );
}

async fn admin_roles(w: &SignInWorld, admin: &Browser) -> String {
    send(w, admin, Method::GET, "/api/roles", &[], None)
        .await
        .body
        .to_string()
}

#[tokio::test]
async fn ids_in_the_path_that_are_not_ids_are_not_found() {
    let w = SignInWorld::new().await;
    let (admin, token) = admin(&w).await;
    let csrf = [("x-csrf-token", token.as_str())];
    for (method, path) in [
        (Method::GET, "/api/portfolios/12345"),
        (Method::GET, "/api/windows/not-a-uuid"),
        (Method::DELETE, "/api/roles/42"),
        (Method::POST, "/api/portfolios/%20/lock"),
        (Method::POST, "/api/classes/1e3/unlock"),
        (Method::DELETE, "/api/class-rules/subjects/x"),
        (Method::GET, "/api/privacy/students/0/export"),
        (Method::POST, "/api/shares/abc/keep"),
        (Method::DELETE, "/api/drive-operators/7"),
    ] {
        let answer = send(&w, &admin, method.clone(), path, &csrf, None).await;
        assert_refused(
            &answer,
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("{method} {path}"),
        );
    }
}
