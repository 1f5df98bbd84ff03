//! Signing in with Google, end to end through the emulator with a cookie-keeping browser, and
//! every way a sign-in can be refused.

use invigilator_test_kit as common;

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
    // A teacher lands on their classes, their name in the header.
    assert!(page.url.ends_with("/classes"), "{}", page.url);
    assert!(page.body.contains("My classes"), "{}", page.body);
    assert!(page.body.contains("Ada Lovelace"), "{}", page.body);

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

#[tokio::test]
async fn the_first_school_admin_named_at_creation_gets_the_role_at_first_sign_in() {
    let w = SignInWorld::new().await;
    let mut browser = w.browser();
    let page = w.sign_in(&mut browser, ADMIN).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("School Admin"), "{}", page.body);
    assert!(
        page.body.contains("Connect the school"),
        "admins may connect Drive"
    );
    let invitations: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tenant_hillside.role_invitations")
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
    assert_eq!(invitations, 0, "the invitation became a role");
}

async fn assert_refused(
    w: &SignInWorld,
    page: &common::browser::Page,
    status: StatusCode,
    says: &str,
) {
    assert_eq!(page.status, status, "{}", page.body);
    assert!(
        page.body.contains(says),
        "expected {says:?} in {}",
        page.body
    );
    assert!(
        !page
            .set_cookies
            .iter()
            .any(|c| c.starts_with("invigilator_session=") && !c.contains("Max-Age=0")),
        "no session after a refusal"
    );
    let _ = w;
}

#[tokio::test]
async fn someone_who_teaches_nothing_and_holds_no_role_is_turned_away_and_audited() {
    let w = SignInWorld::new().await;
    let mut browser = w.browser();
    let page = w.sign_in(&mut browser, OUTSIDER).await;
    assert_refused(
        &w,
        &page,
        StatusCode::FORBIDDEN,
        "does not teach any Google Classroom classes",
    )
    .await;
    let refusals: Vec<Value> = w
        .audit_actions()
        .await
        .into_iter()
        .filter(|(a, _)| a == "signin.refused")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0]["reason"], "not_staff");
    assert!(
        !refusals[0].to_string().contains('@'),
        "ids only, no email: {}",
        refusals[0]
    );
    let staff: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_hillside.staff")
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(staff, 0, "nothing is kept about a refused person");
}

#[tokio::test]
async fn co_teaching_another_schools_class_makes_nobody_a_teacher_here() {
    let w = SignInWorld::new().await;
    w.add_school("riverside", "riverside.sch.uk", "admin@riverside.sch.uk")
        .await;
    w.emu.add_domain("riverside.sch.uk");
    let carol = "carol@riverside.sch.uk";
    let dan = "dan@riverside.sch.uk";
    let eve = "eve@riverside.sch.uk";
    for email in [carol, dan, eve] {
        w.emu.add_user(email, "Riverside", "Teacher").unwrap();
    }
    // Carol only co-teaches Hillside's class; Eve co-teaches Dan's Riverside class.
    w.emu.add_teacher("500000000001", carol).unwrap();
    let physics = w.emu.add_course("9R Physics", None, dan, &[]).unwrap();
    w.emu.add_teacher(&physics.id, eve).unwrap();

    let mut browser = w.browser();
    let page = w.sign_in(&mut browser, carol).await;
    assert_refused(
        &w,
        &page,
        StatusCode::FORBIDDEN,
        "does not teach any Google Classroom classes",
    )
    .await;
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_riverside.staff")
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(
        kept, 0,
        "no staff row, grant or session for Carol at Riverside"
    );
    let refused: Vec<String> = sqlx::query_scalar(
        "SELECT details->>'reason' FROM tenant_riverside.audit_log WHERE action = 'signin.refused'",
    )
    .fetch_all(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(refused, ["not_staff"]);

    // A co-teacher of a class owned within the school is a Teacher; so is its owner.
    for person in [eve, dan] {
        let mut browser = w.browser();
        let page = w.sign_in(&mut browser, person).await;
        assert_eq!(page.status, StatusCode::OK, "{person}: {}", page.body);
        let me: Value = serde_json::from_str(&browser.get(&w.url("/api/me")).await.body).unwrap();
        assert_eq!(me["school"]["slug"], "riverside");
        assert_eq!(me["roles"], json!(["teacher"]), "{person}");
    }
}

#[tokio::test]
async fn a_callback_without_its_attempt_or_with_the_wrong_state_is_refused() {
    let w = SignInWorld::new().await;
    // No sign-in attempt at all (no cookie).
    let mut stranger = w.browser();
    let page = stranger
        .get(&w.url("/auth/callback?code=abc&state=xyz"))
        .await;
    assert_refused(
        &w,
        &page,
        StatusCode::BAD_REQUEST,
        "has expired or was opened in another browser",
    )
    .await;

    // A real attempt, but the state in the URL was swapped.
    let mut browser = w.browser();
    let to_google = browser.get(&w.url("/auth/login")).await;
    assert!(to_google.status.is_redirection());
    let google = to_google.headers["location"].to_str().unwrap().to_owned();
    let mut u = url::Url::parse(&google).unwrap();
    u.query_pairs_mut().append_pair("login_hint", TEACHER);
    let back = browser.get(u.as_str()).await;
    let callback = back.headers["location"].to_str().unwrap().to_owned();
    let forged = callback.replace("state=", "state=forged");
    let page = browser.get(&forged).await;
    assert_refused(
        &w,
        &page,
        StatusCode::BAD_REQUEST,
        "has expired or was opened in another browser",
    )
    .await;
    // The attempt is spent: the genuine callback now fails too.
    let page = browser.get(&callback).await;
    assert_refused(&w, &page, StatusCode::BAD_REQUEST, "has expired").await;
}

#[tokio::test]
async fn a_replayed_code_is_refused() {
    let w = SignInWorld::new().await;
    let mut browser = w.browser();
    let to_google = browser.get(&w.url("/auth/login")).await;
    let mut u = url::Url::parse(to_google.headers["location"].to_str().unwrap()).unwrap();
    u.query_pairs_mut().append_pair("login_hint", TEACHER);
    let back = browser.get(u.as_str()).await;
    let callback = back.headers["location"].to_str().unwrap().to_owned();
    let code: String = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    assert!(
        browser.get(&callback).await.status.is_redirection(),
        "the genuine sign-in works"
    );

    // An attacker replays the code inside a fresh attempt of their own.
    let mut attacker = w.browser();
    let theirs = attacker.get(&w.url("/auth/login")).await;
    let state: String = url::Url::parse(theirs.headers["location"].to_str().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let page = attacker
        .get(&w.url(&format!("/auth/callback?code={code}&state={state}")))
        .await;
    assert_refused(
        &w,
        &page,
        StatusCode::BAD_REQUEST,
        "Google did not accept this sign-in",
    )
    .await;
}

/// Runs a sign-in whose token response carries `id_token` instead of the emulator's own.
async fn sign_in_with_id_token(
    w: &SignInWorld,
    forge: impl Fn(&str, &str) -> String,
) -> common::browser::Page {
    let mut browser = w.browser();
    let to_google = browser.get(&w.url("/auth/login")).await;
    let google = url::Url::parse(to_google.headers["location"].to_str().unwrap()).unwrap();
    let nonce: String = google
        .query_pairs()
        .find(|(k, _)| k == "nonce")
        .unwrap()
        .1
        .into_owned();
    let sub = w.emu.user(TEACHER).unwrap().id;
    let token = w
        .emu
        .issue_access_token(TEACHER, common::TEACHER_SCOPES, "invigilator-local")
        .unwrap();
    w.emu.set_faults(
        "oauth2.token",
        FaultPlan {
            respond_next: vec![CannedResponse {
                status: 200,
                body: json!({
                    "access_token": token,
                    "expires_in": 3599,
                    "token_type": "Bearer",
                    "scope": common::TEACHER_SCOPES.join(" "),
                    "refresh_token": "1//0forged",
                    "id_token": forge(&nonce, &sub),
                }),
            }],
            ..FaultPlan::default()
        },
    );
    let mut u = google.clone();
    u.query_pairs_mut().append_pair("login_hint", TEACHER);
    let back = browser.get(u.as_str()).await;
    let callback = back.headers["location"].to_str().unwrap().to_owned();
    browser.get(&callback).await
}

#[tokio::test]
async fn forged_or_mismatched_id_tokens_are_refused() {
    let w = SignInWorld::new().await;
    let issuer = w.emu.issuer();
    let now = chrono::Utc::now().timestamp();
    let claims = |nonce: &str, sub: &str, changes: Value| {
        let mut c = json!({
            "iss": issuer, "aud": "invigilator-local", "sub": sub, "email": TEACHER,
            "email_verified": true, "hd": "hillside.sch.uk", "nonce": nonce,
            "iat": now, "exp": now + 3600,
        });
        for (k, v) in changes.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let genuine = KeyPair::shared();
    let mut impostor = KeyPair::generate();
    impostor.kid = genuine.kid.clone();

    type Forge<'a> = Box<dyn Fn(&str, &str) -> String + 'a>;
    let cases: Vec<(&str, Forge)> = vec![
        (
            "bad signature",
            Box::new(|n: &str, s: &str| impostor.sign(&claims(n, s, json!({})))),
        ),
        (
            "wrong audience",
            Box::new(|n: &str, s: &str| {
                genuine.sign(&claims(n, s, json!({"aud": "someone-else"})))
            }),
        ),
        (
            "wrong issuer",
            Box::new(|n: &str, s: &str| {
                genuine.sign(&claims(n, s, json!({"iss": "https://evil.example"})))
            }),
        ),
        (
            "expired",
            Box::new(|n: &str, s: &str| {
                genuine.sign(&claims(n, s, json!({"iat": now - 7200, "exp": now - 3600})))
            }),
        ),
        (
            "wrong nonce",
            Box::new(|_: &str, s: &str| genuine.sign(&claims("not-the-nonce", s, json!({})))),
        ),
    ];
    for (what, forge) in cases {
        let page = sign_in_with_id_token(&w, forge).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{what}: {}",
            page.body
        );
        assert!(
            page.body
                .contains("could not confirm this sign-in came from Google"),
            "{what}"
        );
    }
    // Unverified email and no hosted domain, in otherwise genuine tokens.
    let page = sign_in_with_id_token(&w, |n, s| {
        genuine.sign(&claims(n, s, json!({"email_verified": false})))
    })
    .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("email address is not verified"));
    let page = sign_in_with_id_token(&w, |n, s| {
        let mut c = claims(n, s, json!({}));
        c.as_object_mut().unwrap().remove("hd");
        genuine.sign(&c)
    })
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.body
            .contains("school Google account, not a personal one")
    );
    let staff: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_hillside.staff")
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(staff, 0);
}

#[tokio::test]
async fn unknown_and_suspended_schools_and_missing_scopes_are_refused() {
    let w = SignInWorld::new().await;
    // A Workspace account of a school that does not use Invigilator.
    w.emu.add_domain("elsewhere.sch.uk");
    w.emu
        .add_user("teacher@elsewhere.sch.uk", "Else", "Where")
        .unwrap();
    let mut browser = w.browser();
    let page = w.sign_in(&mut browser, "teacher@elsewhere.sch.uk").await;
    assert_refused(
        &w,
        &page,
        StatusCode::FORBIDDEN,
        "does not use Invigilator yet",
    )
    .await;

    // The teacher unticks a Classroom permission at consent.
    w.emu.update_settings(|s| {
        s.declined_scopes.insert(
            TEACHER.to_owned(),
            ["https://www.googleapis.com/auth/classroom.rosters.readonly".to_owned()].into(),
        );
    });
    let page = w.sign_in(&mut w.browser(), TEACHER).await;
    assert_refused(
        &w,
        &page,
        StatusCode::BAD_REQUEST,
        "leave all the boxes ticked",
    )
    .await;
    assert!(page.body.contains("/auth/login"), "offers to ask again");
    w.emu.update_settings(|s| s.declined_scopes.clear());

    // The school is suspended.
    sqlx::query("UPDATE platform.tenants SET status = 'suspended' WHERE slug = 'hillside'")
        .execute(&w.db.pool)
        .await
        .unwrap();
    let page = w.sign_in(&mut w.browser(), TEACHER).await;
    assert_refused(
        &w,
        &page,
        StatusCode::FORBIDDEN,
        "not available for your school",
    )
    .await;
    let reasons: Vec<String> = w
        .audit_actions()
        .await
        .into_iter()
        .filter(|(a, _)| a == "signin.refused")
        .map(|(_, d)| d["reason"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        reasons.contains(&"scopes_not_granted".to_owned()),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited() {
    let w = SignInWorld::new().await;
    let mut browser = w.browser();
    let mut limited = None;
    for attempt in 0..100 {
        let page = browser.get(&w.url("/auth/login")).await;
        if page.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((attempt, page));
            break;
        }
        assert_eq!(page.status, StatusCode::SEE_OTHER, "off to Google");
    }
    // A burst of /auth/login alone is enough: no callback was ever reached.
    let (attempt, page) = limited.expect("throttled within 100 attempts");
    assert!(
        attempt >= 50,
        "a staffroom's burst passes (throttled at {attempt})"
    );
    let wait: u64 = page.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in whole seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(page.body.contains("Too many sign-in attempts"));
    // The callback shares the address's budget.
    let callback = browser.get(&w.url("/auth/callback?code=x&state=y")).await;
    assert_eq!(callback.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn signing_out_needs_the_csrf_token_and_ends_the_session() {
    let w = SignInWorld::new().await;
    let mut browser = w.browser();
    let home = w.sign_in(&mut browser, TEACHER).await;
    let token = home
        .body
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();

    let no_token = browser
        .request(
            Method::POST,
            &w.url("/auth/logout"),
            Some(RequestBody::Form(vec![])),
        )
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let mut foreign = w.browser();
    foreign.origin = "https://evil.example".to_owned();
    let stolen = browser.cookie(&w.app, "invigilator_session").unwrap();
    foreign.set_cookie(&w.app, "invigilator_session", &stolen);
    let cross_site = foreign
        .request(
            Method::POST,
            &w.url("/auth/logout"),
            Some(RequestBody::Form(vec![(
                "csrf_token".into(),
                token.clone(),
            )])),
        )
        .await;
    assert_eq!(
        cross_site.status,
        StatusCode::FORBIDDEN,
        "another origin, even with the token"
    );
    assert_eq!(browser.get(&w.url("/api/me")).await.status, StatusCode::OK);

    let out = browser
        .request(
            Method::POST,
            &w.url("/auth/logout"),
            Some(RequestBody::Form(vec![("csrf_token".into(), token)])),
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        browser.get(&w.url("/api/me")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let actions: Vec<String> = w
        .audit_actions()
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert!(actions.contains(&"signout".to_owned()));
}

#[tokio::test]
async fn signing_out_works_for_someone_whose_every_role_was_taken_away() {
    let w = SignInWorld::new().await;
    let mut browser = w.browser();
    w.sign_in(&mut browser, TEACHER).await;
    let me: serde_json::Value =
        serde_json::from_str(&browser.get(&w.url("/api/me")).await.body).unwrap();
    let token = me["csrf_token"].as_str().unwrap().to_owned();
    // Taken away behind the service's back (as if ending the sessions at revocation failed).
    let roles = sqlx::query(
        "DELETE FROM tenant_hillside.role_assignments r USING tenant_hillside.staff s \
         WHERE s.id = r.staff_id AND s.email = $1",
    )
    .bind(TEACHER)
    .execute(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(roles.rows_affected(), 1);
    let cookie = browser.cookie(&w.app, "invigilator_session").unwrap();

    let out = browser
        .request(
            Method::POST,
            &w.url("/auth/logout"),
            Some(RequestBody::Form(vec![("csrf_token".into(), token)])),
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
    // The role given back and the old cookie replayed: the session itself has ended.
    sqlx::query(
        "INSERT INTO tenant_hillside.role_assignments (staff_id, role) \
         SELECT id, 'teacher' FROM tenant_hillside.staff WHERE email = $1",
    )
    .bind(TEACHER)
    .execute(&w.db.pool)
    .await
    .unwrap();
    browser.set_cookie(&w.app, "invigilator_session", &cookie);
    assert_eq!(
        browser.get(&w.url("/api/me")).await.status,
        StatusCode::UNAUTHORIZED,
        "the session is gone from Redis"
    );
    let actions: Vec<String> = w
        .audit_actions()
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert_eq!(actions.last().map(String::as_str), Some("signout"));
}

#[tokio::test]
async fn a_new_sign_in_gets_a_new_session_id() {
    let w = SignInWorld::new().await;
    let mut browser = w.browser();
    w.sign_in(&mut browser, TEACHER).await;
    let first = browser.cookie(&w.app, "invigilator_session").unwrap();
    w.sign_in(&mut browser, TEACHER).await;
    let second = browser.cookie(&w.app, "invigilator_session").unwrap();
    assert_ne!(first, second);
    let mut old = w.browser();
    old.set_cookie(&w.app, "invigilator_session", &first);
    assert_eq!(
        old.get(&w.url("/api/me")).await.status,
        StatusCode::UNAUTHORIZED,
        "the old id ended"
    );
}

#[tokio::test]
async fn a_school_admin_connects_the_drive_operator() {
    let w = SignInWorld::new().await;
    let mut teacher = w.browser();
    let home = w.sign_in(&mut teacher, TEACHER).await;
    assert!(
        !home.body.contains("connect-drive"),
        "no button for a teacher"
    );
    let token = w.csrf_token(&mut teacher).await;
    let refused = teacher
        .request(
            Method::POST,
            &w.url("/auth/connect-drive"),
            Some(RequestBody::Form(vec![("csrf_token".into(), token)])),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let mut admin = w.browser();
    w.sign_in(&mut admin, ADMIN).await;
    // Not from another site: a GET does nothing, a POST needs the token.
    assert_eq!(
        admin.get(&w.url("/auth/connect-drive")).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let token = w.csrf_token(&mut admin).await;
    let to_google = admin
        .request(
            Method::POST,
            &w.url("/auth/connect-drive"),
            Some(RequestBody::Form(vec![("csrf_token".into(), token)])),
        )
        .await;
    assert!(to_google.status.is_redirection(), "{}", to_google.body);
    let google = to_google.headers["location"].to_str().unwrap().to_owned();
    assert!(
        google.contains("prompt=consent") && google.contains("auth%2Fdrive"),
        "{google}"
    );
    // The admin connects their own account (the app suggests it with login_hint).
    let page = admin.follow(&google, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Drive account is connected"),
        "{}",
        page.body
    );
    let (email, purpose): (String, String) = sqlx::query_as(
        "SELECT account_email, purpose FROM tenant_hillside.google_credentials WHERE purpose = 'drive_operator'",
    )
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(
        (email.as_str(), purpose.as_str()),
        (ADMIN, "drive_operator")
    );
    let actions: Vec<String> = w
        .audit_actions()
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert!(actions.contains(&"drive_operator.connected".to_owned()));
    let _ = pupil(0);
}

#[tokio::test]
async fn cancelling_at_google_is_a_clear_refusal() {
    let w = SignInWorld::new().await;
    let mut browser = w.browser();
    let to_google = browser.get(&w.url("/auth/login")).await;
    let google = url::Url::parse(to_google.headers["location"].to_str().unwrap()).unwrap();
    let state: String = google
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let page = browser
        .get(&w.url(&format!("/auth/callback?error=access_denied&state={state}")))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("You cancelled the sign-in"));
}

/// Roster-sync jobs in this test's queue (a new job is stored, then scheduled for now).
async fn queued_syncs(w: &SignInWorld) -> i64 {
    let config = w.db.config(&[]);
    let redis = invigilator::redis_client::lazy_connection(&config).unwrap();
    let queue = invigilator::jobs::roster_queue(redis.clone(), &w.db.role_prefix);
    let mut conn = redis;
    redis::cmd("HLEN")
        .arg(queue.get_config().job_data_hash())
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_co_teacher_known_from_the_roster_gets_a_sync_at_their_first_sign_in() {
    let w = SignInWorld::new().await;
    let school = w.school().await;
    // A roster sync already recorded them (their Google id, no grant yet).
    let sub = w.emu.user(TEACHER).unwrap().id;
    let mut tx = invigilator::tenancy::begin_school_tx(&w.db.pool, &school)
        .await
        .unwrap();
    sqlx::query("INSERT INTO staff (google_sub, email, display_name) VALUES ($1, $2, 'Ada')")
        .bind(&sub)
        .bind(TEACHER)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut browser = w.browser();
    assert_eq!(
        w.sign_in(&mut browser, TEACHER).await.status,
        StatusCode::OK
    );
    assert_eq!(queued_syncs(&w).await, 1, "their classes are synced now");

    let mut again = w.browser();
    assert_eq!(w.sign_in(&mut again, TEACHER).await.status, StatusCode::OK);
    assert_eq!(queued_syncs(&w).await, 1, "not at every sign-in");
}
