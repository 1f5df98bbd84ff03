//! Signing in with Google, end to end through the emulator with a cookie-keeping browser, and
//! every way a sign-in can be refused.

mod common;

use common::browser::{ADMIN, OUTSIDER, RequestBody, SignInWorld};
use common::{TEACHER, pupil};
use google_emulator::keys::KeyPair;
use google_emulator::{CannedResponse, FaultPlan};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn a_teacher_signs_in_and_sees_who_they_are() {
    let w = SignInWorld::new().await;
    let mut browser = w.browser();
    let page = w.sign_in(&mut browser, TEACHER).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains("Signed in as <strong>Ada Lovelace</strong>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Teacher"));

    let me: Value = serde_json::from_str(&browser.get(&w.url("/api/me")).await.body).unwrap();
    assert_eq!(me["email"], TEACHER);
    assert_eq!(me["roles"], json!(["teacher"]));
    assert_eq!(me["school"]["slug"], "hillside");

    // Only the essential cookies, with the right attributes.
    let session_cookies: Vec<&String> = browser
        .seen_set_cookies
        .iter()
        .filter(|c| c.starts_with("invigilator_session="))
        .collect();
    assert_eq!(session_cookies.len(), 1);
    let c = session_cookies[0];
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Path=/"),
        "{c}"
    );
    for c in &browser.seen_set_cookies {
        let name = c.split('=').next().unwrap();
        assert!(
            ["invigilator_session", "invigilator_login"].contains(&name),
            "unexpected cookie {c}"
        );
    }
    let id = browser.cookie(&w.app, "invigilator_session").unwrap();
    assert_eq!(base64_len(&id), 32, "a 256-bit session id");

    // The grant is stored, encrypted; the sign-in is audited.
    let stored: String =
        sqlx::query_scalar("SELECT refresh_token FROM tenant_hillside.google_credentials")
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
    assert!(stored.starts_with("v1:"));
    let actions: Vec<String> = w
        .audit_actions()
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert!(actions.contains(&"signin".to_owned()), "{actions:?}");
}

fn base64_len(s: &str) -> usize {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
        .len()
}
