//! What a School Admin sees of the school's Drive operator accounts, through HTTP: the list and
//! removal in the API (`/api/drive-operators`) and on the settings page, the set-up checklist's
//! Drive step, the home page's warning when Google refused an account, and the audit log naming
//! the account instead of its id. (Connecting an account, its refusals and how locks spread over
//! the accounts are tested in `drive_operators.rs`.)

use invigilator_test_kit as common;

use common::browser::{ADMIN, Browser, Page, RequestBody, SignInWorld};
use common::lock_world::lock_world;
use common::{DRIVE_SCOPE, OPERATOR, SHARED_DRIVE, TEACHER, connect_drive_operator};
use invigilator::google::credentials::{self, Purpose};
use invigilator::tenancy::{School, begin_school_tx};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// A second account of the school, a Manager of nothing until a test says so.
const SECOND: &str = "drive.two@hillside.sch.uk";

/// `email` signed in, with their CSRF token.
async fn signed_in(w: &SignInWorld, email: &str) -> (Browser, String) {
    let mut browser = w.browser();
    assert_eq!(w.sign_in(&mut browser, email).await.status, StatusCode::OK);
    let token = w.csrf_token(&mut browser).await;
    (browser, token)
}

/// Connects `email` (added to the emulator if it does not know it) as one of the school's Drive
/// accounts, as the School Admin would through Google; returns the credential's id and the
/// refresh token Google issued, to ask Google later whether it still works.
async fn connect_account(w: &SignInWorld, school: &School, email: &str) -> (Uuid, String) {
    if w.emu.user(email).is_none() {
        w.emu.add_user(email, "Drive", "Account").unwrap();
    }
    let staff = common::add_staff(&w.db, school, email).await;
    let refresh = w
        .emu
        .issue_refresh_token(email, &[DRIVE_SCOPE], "invigilator-local")
        .unwrap();
    let config = w.db.config(&[]);
    let mut tx = begin_school_tx(&w.db.pool, school).await.unwrap();
    let id = credentials::save_oauth(
        &mut tx,
        &config.token_keys,
        staff,
        Purpose::DriveOperator,
        email,
        &[DRIVE_SCOPE.to_owned()],
        &secrecy::SecretString::from(refresh.clone()),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    (id, refresh)
}

/// The credential id of one of the school's Drive accounts.
async fn account_id(w: &SignInWorld, email: &str) -> Uuid {
    sqlx::query_scalar(
        "SELECT id FROM tenant_hillside.google_credentials \
         WHERE purpose = 'drive_operator' AND account_email = $1",
    )
    .bind(email)
    .fetch_one(&w.db.pool)
    .await
    .unwrap()
}

/// Sets an account aside as the Google clients do when Google refuses it.
async fn set_aside(w: &SignInWorld, school: &School, id: Uuid) {
    let mut tx = begin_school_tx(&w.db.pool, school).await.unwrap();
    credentials::mark_needs_reconnect(&mut tx, id, "invalid_grant: Token has been revoked", None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// The audit entries of `action`: (actor, target type, target id).
async fn audited(w: &SignInWorld, action: &str) -> Vec<(String, Option<String>, Option<String>)> {
    sqlx::query_as(
        "SELECT actor, target_type, target_id FROM tenant_hillside.audit_log \
         WHERE action = $1 ORDER BY id",
    )
    .bind(action)
    .fetch_all(&w.db.pool)
    .await
    .unwrap()
}

async fn delete(w: &SignInWorld, browser: &mut Browser, token: &str, id: &str) -> Page {
    browser
        .request(
            Method::DELETE,
            &w.url(&format!("/api/drive-operators/{id}")),
            Some(RequestBody::Json(json!({}), Some(token.to_owned()))),
        )
        .await
}

async fn get_json(w: &SignInWorld, browser: &mut Browser, path: &str) -> Value {
    let page = browser.get(&w.url(path)).await;
    assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
    serde_json::from_str(&page.body).unwrap()
}

fn remove_form(id: Uuid) -> String {
    format!("action=\"/admin/drive-operators/{id}/remove\"")
}

#[tokio::test]
async fn the_school_admin_lists_the_drive_accounts_and_removes_one_which_google_then_revokes() {
    let w = SignInWorld::new().await;
    let school = w.school().await;
    connect_drive_operator(&w.db, &w.emu, &school, OPERATOR).await;
    let (second, refresh) = connect_account(&w, &school, SECOND).await;
    let first = account_id(&w, OPERATOR).await;

    // Nobody but the School Admin: a teacher can neither read the list nor remove an account.
    let (mut teacher, teacher_token) = signed_in(&w, TEACHER).await;
    let refused = teacher.get(&w.url("/api/drive-operators")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let refused = delete(&w, &mut teacher, &teacher_token, &second.to_string()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

    let (mut admin, token) = signed_in(&w, ADMIN).await;
    let list = get_json(&w, &mut admin, "/api/drive-operators").await;
    assert_eq!(list["max"], 8, "{list}");
    let accounts = list["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2, "{list}");
    assert_eq!(accounts[0]["id"], first.to_string(), "in connection order");
    assert_eq!(accounts[0]["account"], OPERATOR);
    assert_eq!(accounts[1]["account"], SECOND);
    for account in accounts {
        assert_eq!(account["status"], "active", "{account}");
        assert!(account["status_reason"].is_null(), "{account}");
        assert!(
            account["connected_at"]
                .as_str()
                .is_some_and(|at| at.parse::<chrono::DateTime<chrono::Utc>>().is_ok()),
            "{account}"
        );
    }

    // An account Google refused says so, and why.
    set_aside(&w, &school, first).await;
    let list = get_json(&w, &mut admin, "/api/drive-operators").await;
    assert_eq!(list["accounts"][0]["status"], "needs_reconnect", "{list}");
    assert_eq!(
        list["accounts"][0]["status_reason"],
        "invalid_grant: Token has been revoked"
    );
    // The settings' set-up state lists every account; `drive_operator` (for older clients) is
    // the first that works.
    let settings = get_json(&w, &mut admin, "/api/settings").await;
    let setup = &settings["setup"];
    assert_eq!(setup["drive_operator"]["account"], SECOND, "{setup}");
    assert_eq!(setup["drive_operator"]["needs_reconnect"], false);
    let listed: Vec<&str> = setup["drive_operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [OPERATOR, SECOND]);
    assert_eq!(setup["drive_operators"][0]["status"], "needs_reconnect");

    // Not the school's, or not an id: not found, in the API's one error shape; nothing removed.
    for id in [Uuid::new_v4().to_string(), "not-an-id".to_owned()] {
        let unknown = delete(&w, &mut admin, &token, &id).await;
        assert_eq!(
            unknown.status,
            StatusCode::NOT_FOUND,
            "{id}: {}",
            unknown.body
        );
        let body: Value = serde_json::from_str(&unknown.body).unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{body}");
    }
    // Without the CSRF token nothing happens either.
    let forged = admin
        .request(
            Method::DELETE,
            &w.url(&format!("/api/drive-operators/{second}")),
            Some(RequestBody::Json(json!({}), None)),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    assert!(audited(&w, "drive_operator.removed").await.is_empty());
    assert!(w.refresh_token_works(&refresh).await, "nothing revoked yet");

    let removed = delete(&w, &mut admin, &token, &second.to_string()).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    // Audited as the School Admin's doing, naming the account by id.
    let entries = audited(&w, "drive_operator.removed").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].0.starts_with("staff:"), "{entries:?}");
    assert_eq!(entries[0].1.as_deref(), Some("google_credential"));
    assert_eq!(entries[0].2, Some(second.to_string()));
    // Google no longer takes its grant, and our copy is gone (or, were Google slow, waiting
    // to be revoked, which nothing uses).
    assert!(!w.refresh_token_works(&refresh).await, "revoked at Google");
    let kept: Option<String> =
        sqlx::query_scalar("SELECT status FROM tenant_hillside.google_credentials WHERE id = $1")
            .bind(second)
            .fetch_optional(&w.db.pool)
            .await
            .unwrap();
    assert!(kept.as_deref().is_none_or(|s| s == "revoking"), "{kept:?}");
    assert_eq!(audited(&w, "google_grant.revoked").await.len(), 1);
    let list = get_json(&w, &mut admin, "/api/drive-operators").await;
    let left: Vec<&str> = list["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account"].as_str().unwrap())
        .collect();
    assert_eq!(left, [OPERATOR]);
    // Removed once is removed: a second time is not found.
    let again = delete(&w, &mut admin, &token, &second.to_string()).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.body);

    // The contract describes both, the list with its own schema.
    let document = get_json(&w, &mut admin, "/api/openapi.json").await;
    let listed = &document["paths"]["/api/drive-operators"]["get"]["responses"]["200"];
    assert_eq!(
        listed["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/DriveOperators",
        "{listed}"
    );
    let account = &document["components"]["schemas"]["DriveOperatorView"];
    assert!(
        account["properties"]["status_reason"].is_object(),
        "{account}"
    );
    assert!(
        document["paths"]["/api/drive-operators/{id}"]["delete"]["responses"]["204"].is_object()
    );
}

#[tokio::test]
async fn the_settings_page_lists_the_accounts_and_removes_one_after_asking() {
    let w = SignInWorld::new().await;
    let school = w.school().await;
    connect_drive_operator(&w.db, &w.emu, &school, OPERATOR).await;
    let (second, _) = connect_account(&w, &school, SECOND).await;
    let first = account_id(&w, OPERATOR).await;
    set_aside(&w, &school, second).await;

    let (mut admin, token) = signed_in(&w, ADMIN).await;
    let page = admin.get(&w.url("/admin/settings")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;
    assert!(body.contains("<h2 id=\"drive-accounts-title\">Drive accounts</h2>"));
    assert!(body.contains(OPERATOR) && body.contains(SECOND));
    assert!(body.contains("<span class=\"state admin-state-connected\">Connected</span>"));
    assert!(body.contains(
        "<span class=\"state admin-state-reconnect\">Set aside: needs reconnecting</span>"
    ));
    // Why it was set aside, and where its work went.
    assert!(
        body.contains("invalid_grant: Token has been revoked"),
        "{body}"
    );
    assert!(body.contains("Its work has gone to the school&#39;s other Drive accounts"));
    // Each account has its Remove; the one set aside its Reconnect; and another can be added.
    assert!(body.contains(&remove_form(first)) && body.contains(&remove_form(second)));
    assert_eq!(body.matches("action=\"/auth/connect-drive\"").count(), 2);
    assert!(body.contains("Connect another Drive account"));
    assert!(body.contains("Each must be a Manager of the Shared Drive"));
    assert!(body.contains("a whole year group locks sooner"));

    // A teacher cannot remove one.
    let (mut teacher, teacher_token) = signed_in(&w, TEACHER).await;
    let path = format!("/admin/drive-operators/{second}/remove");
    let refused = w
        .submit_form(&mut teacher, &teacher_token, &path, &[("confirm", "yes")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Without the script, the first press asks, naming the account and what follows.
    let asking = w.submit_form(&mut admin, &token, &path, &[]).await;
    assert_eq!(asking.status, StatusCode::OK, "{}", asking.body);
    assert!(asking.body.contains("Remove this Drive account?"));
    assert!(asking.body.contains(SECOND));
    assert!(
        asking
            .body
            .contains("Locks go through the school&#39;s other Drive accounts")
    );
    assert!(asking.body.contains("name=\"confirm\" value=\"yes\""));
    assert!(asking.body.contains(&format!("action=\"{path}\"")));
    // Removing the only account that works says what that means.
    let last = format!("/admin/drive-operators/{first}/remove");
    let asking = w.submit_form(&mut admin, &token, &last, &[]).await;
    assert!(
        asking.body.contains("No other Drive account works"),
        "{}",
        asking.body
    );
    assert!(
        audited(&w, "drive_operator.removed").await.is_empty(),
        "asking removes nothing"
    );

    // Yes: back to the settings with a notice, the account gone.
    let removed = w
        .submit_form(&mut admin, &token, &path, &[("confirm", "yes")])
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    let to = removed.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(to, "/admin/settings?done=drive-removed");
    let page = admin.get(&w.url(&to)).await;
    assert!(
        page.body.contains("Drive account removed."),
        "{}",
        page.body
    );
    assert!(!page.body.contains(SECOND));
    assert!(page.body.contains(OPERATOR));
    assert_eq!(audited(&w, "drive_operator.removed").await.len(), 1);

    // An account that is not the school's (or no longer is) is not found.
    for id in [second.to_string(), Uuid::new_v4().to_string(), "x".into()] {
        let path = format!("/admin/drive-operators/{id}/remove");
        for fields in [&[][..], &[("confirm", "yes")][..]] {
            let missing = w.submit_form(&mut admin, &token, &path, fields).await;
            assert_eq!(missing.status, StatusCode::NOT_FOUND, "{path} {fields:?}");
        }
    }

    // At eight accounts, the most a school may have, no more can be connected.
    for i in 3..=9 {
        connect_account(&w, &school, &format!("drive.{i}@hillside.sch.uk")).await;
    }
    let page = admin.get(&w.url("/admin/settings")).await;
    assert_eq!(
        page.body
            .matches("action=\"/admin/drive-operators/")
            .count(),
        8
    );
    assert!(!page.body.contains("Connect another Drive account"));
    assert!(
        page.body
            .contains("The school has 8 Drive accounts, the most it can have")
    );
}

/// A school set up all the way (so its School Admin's home page is home, not the checklist),
/// its one Drive account having locked a folder.
#[tokio::test]
async fn the_home_page_warns_of_an_account_set_aside_and_the_audit_log_names_accounts() {
    let mut l = lock_world().await;
    let school = l.school.clone();
    let (folder, _) = l.portfolio_of(&common::pupil(0)).await;
    let locked = l.post(&format!("/api/portfolios/{folder}/lock")).await;
    assert_eq!(locked.status, StatusCode::ACCEPTED, "{}", locked.body);
    l.apply(folder).await;

    let w = &l.w;
    let (mut admin, token) = signed_in(w, ADMIN).await;
    let saved = admin
        .request(
            Method::PUT,
            &w.url("/api/settings"),
            Some(RequestBody::Json(
                json!({"shared_drive_id": SHARED_DRIVE}),
                Some(token.clone()),
            )),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    for (kind, rule) in [
        (
            "subjects",
            json!({"pattern": "%Chem%", "subject": "Chemistry"}),
        ),
        ("year-groups", json!({"pattern": "10%", "year_group": 10})),
    ] {
        let added = admin
            .request(
                Method::POST,
                &w.url(&format!("/api/class-rules/{kind}")),
                Some(RequestBody::Json(rule, Some(token.clone()))),
            )
            .await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    }
    let (second, _) = connect_account(w, &school, SECOND).await;
    let first = account_id(w, OPERATOR).await;
    let home = admin.get(&w.url("/")).await;
    assert_eq!(home.status, StatusCode::OK, "set up: home is home");
    assert!(
        home.body
            .contains("The school&#39;s 2 Drive accounts are connected.")
    );
    assert!(!home.body.contains("set aside"));

    // Google refuses the second account: the home page names it and says where its work went.
    set_aside(w, &school, second).await;
    let home = admin.get(&w.url("/")).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    let warning = home
        .body
        .split("panel-problem")
        .nth(1)
        .expect("a warning")
        .split("</section>")
        .next()
        .unwrap();
    assert!(
        warning.contains("A Drive account was set aside"),
        "{warning}"
    );
    assert!(warning.contains(SECOND), "{warning}");
    assert!(
        warning.contains("Its work has gone to the school&#39;s other Drive accounts"),
        "{warning}"
    );
    assert!(
        warning.contains("href=\"/admin/settings#drive-accounts\""),
        "{warning}"
    );
    assert!(
        !warning.contains(OPERATOR),
        "only the account set aside is named"
    );
    assert!(
        home.body
            .contains("1 of the school&#39;s 2 Drive accounts are connected.")
    );
    // The checklist's Drive step is still done, and lists both with their states.
    let setup = admin.get(&w.url("/setup")).await;
    let step = setup
        .body
        .split("id=\"step-drive-account\"")
        .nth(1)
        .unwrap()
        .split("id=\"step-shared-drive\"")
        .next()
        .unwrap();
    assert!(step.contains("Done"), "{step}");
    assert!(step.contains(OPERATOR) && step.contains(SECOND), "{step}");
    assert!(step.contains("Set aside: needs reconnecting"), "{step}");
    assert!(step.contains("its work has gone to the school&#39;s other Drive accounts"));

    // And the first too: nothing works, locks wait.
    set_aside(w, &school, first).await;
    let home = admin.get(&w.url("/")).await;
    assert_eq!(home.status, StatusCode::OK, "still home: {}", home.body);
    assert!(home.body.contains("Locks are waiting"), "{}", home.body);
    assert!(home.body.contains(OPERATOR) && home.body.contains(SECOND));
    assert!(
        home.body
            .contains("Until one is connected again, locks are waiting")
    );
    assert!(!home.body.contains("accounts are connected"));
    let setup = admin.get(&w.url("/setup")).await;
    assert!(
        setup.body.contains("so locks are waiting"),
        "{}",
        setup.body
    );
    assert!(
        setup
            .body
            .contains("Reconnect the school&#39;s Drive account")
    );

    // The audit log names the accounts: the lock applied through the first, the second set
    // aside. (Entries hold only ids; the page looks the address up.)
    let audit = admin
        .get(&w.url("/audit?action=portfolio.lock.applied"))
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    assert!(
        audit.body.contains(&format!("Drive account: {OPERATOR}")),
        "{}",
        audit.body
    );
    assert!(!audit.body.contains(&first.to_string()), "no bare id");
    let audit = admin
        .get(&w.url("/audit?action=drive_operator.set_aside"))
        .await;
    assert!(
        audit.body.contains(&format!("Google account {SECOND}")),
        "{}",
        audit.body
    );
    assert!(audit.body.contains(&format!("Google account {OPERATOR}")));
    assert!(!audit.body.contains(&second.to_string()), "no bare id");
}
