//! Several Drive operator accounts: a School Admin connects them (and is refused an account that
//! cannot be one, with nothing stored), lock jobs spread over them within each account's quota
//! and the project's, an account Google refuses mid-cohort is set aside with nothing left
//! unapplied, and a school with one account works as it always has.

use std::time::{Duration, Instant};

use invigilator_test_kit as common;

use common::browser::{ADMIN, Browser, RequestBody, SignInWorld};
use common::{DRIVE_SCOPE, GoogleWorld, OPERATOR, SHARED_DRIVE, connect_drive_operator};
use futures::StreamExt;
use invigilator::audit::Actor;
use invigilator::google::GoogleClients;
use invigilator::google::rate_limit::{Limit, Rate, SharedLimits};
use invigilator::lease::Leases;
use invigilator::portfolio::lock::{self, Applied, LockState};
use invigilator::roster::{self, Trigger};
use invigilator::tenancy::begin_school_tx;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// Makes `email` (a new user of the emulator's school domain, unless it names another) a
/// member of the school's Shared Drive with `role`, as the Shared Drive's Manager would in
/// Drive. `None`: the account exists but is not a member.
async fn add_account(emu: &google_emulator::Emulator, email: &str, role: Option<&str>) {
    if let Some((_, domain)) = email.split_once('@') {
        emu.add_domain(domain);
    }
    emu.add_user(email, "Drive", "Account").unwrap();
    let Some(role) = role else { return };
    let token = emu
        .issue_access_token(OPERATOR, &[DRIVE_SCOPE], "invigilator-local")
        .unwrap();
    let added = common::http_client()
        .post(format!(
            "{}drive/v3/files/{SHARED_DRIVE}/permissions?supportsAllDrives=true",
            emu.base_url()
        ))
        .bearer_auth(token)
        .json(&json!({"type": "user", "role": role, "emailAddress": email}))
        .send()
        .await
        .unwrap();
    assert!(
        added.status().is_success(),
        "{}",
        added.text().await.unwrap()
    );
}

/// Takes `email` out of the school's Shared Drive, as its Manager would in Drive.
async fn remove_from_drive(emu: &google_emulator::Emulator, email: &str) {
    let token = emu
        .issue_access_token(OPERATOR, &[DRIVE_SCOPE], "invigilator-local")
        .unwrap();
    let http = common::http_client();
    let base = format!(
        "{}drive/v3/files/{SHARED_DRIVE}/permissions",
        emu.base_url()
    );
    let listed: Value = http
        .get(format!(
            "{base}?supportsAllDrives=true&fields=permissions(id,emailAddress)"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = listed["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["emailAddress"] == email)
        .and_then(|p| p["id"].as_str())
        .unwrap()
        .to_owned();
    let removed = http
        .delete(format!("{base}/{id}?supportsAllDrives=true"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(removed.status().is_success(), "{}", removed.status());
}

/// The school's Drive operator accounts as stored: (account, status).
async fn stored_accounts(db: &common::TestDb) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT account_email, status FROM tenant_hillside.google_credentials \
         WHERE purpose = 'drive_operator' ORDER BY created_at, id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

/// A School Admin's connection of `account` through Google's consent; the final page.
async fn connect_through_google(
    w: &SignInWorld,
    admin: &mut Browser,
    account: &str,
) -> common::browser::Page {
    let token = w.csrf_token(admin).await;
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
        !google.contains("login_hint="),
        "another account is chosen at Google: {google}"
    );
    admin.follow(&google, Some(account)).await
}

#[tokio::test]
async fn a_school_admin_connects_more_accounts_and_is_refused_those_that_cannot_be_one() {
    let w = SignInWorld::new().await;
    let school = w.school().await;
    connect_drive_operator(&w.db, &w.emu, &school, OPERATOR).await;
    sqlx::query("UPDATE platform.tenants SET shared_drive_id = $1 WHERE id = $2")
        .bind(SHARED_DRIVE)
        .bind(school.id)
        .execute(&w.db.pool)
        .await
        .unwrap();
    let mut admin = w.browser();
    w.sign_in(&mut admin, ADMIN).await;

    // A Manager of the Shared Drive: connected.
    add_account(&w.emu, "drive.two@hillside.sch.uk", Some("organizer")).await;
    let page = connect_through_google(&w, &mut admin, "drive.two@hillside.sch.uk").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Drive account is connected"),
        "{}",
        page.body
    );
    assert_eq!(stored_accounts(&w.db).await.len(), 2);

    // Each refusal says why and stores nothing.
    add_account(
        &w.emu,
        "content.manager@hillside.sch.uk",
        Some("fileOrganizer"),
    )
    .await;
    add_account(&w.emu, "not.a.member@hillside.sch.uk", None).await;
    add_account(&w.emu, "drive@elsewhere.sch.uk", Some("organizer")).await;
    for (account, says) in [
        (
            "drive.two@hillside.sch.uk",
            "already one of the school&#39;s Drive accounts",
        ),
        (
            "content.manager@hillside.sch.uk",
            "is not a Manager of the school&#39;s Shared Drive",
        ),
        (
            "not.a.member@hillside.sch.uk",
            "cannot see the school&#39;s Shared Drive",
        ),
        ("drive@elsewhere.sch.uk", "Google Workspace"),
    ] {
        let page = connect_through_google(&w, &mut admin, account).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{account}: {}",
            page.body
        );
        assert!(
            page.body.contains("The Drive account was not connected")
                && page.body.contains(says)
                // Named, with a capital only where our words start the sentence.
                && (account.ends_with("@elsewhere.sch.uk")
                    || page.body.contains(&format!("The account {account} "))),
            "{account}: {}",
            page.body
        );
        assert_eq!(stored_accounts(&w.db).await.len(), 2, "{account}");
    }

    // Up to eight; a ninth is refused.
    for i in 3..=8 {
        let account = format!("drive.{i}@hillside.sch.uk");
        add_account(&w.emu, &account, Some("organizer")).await;
        connect_drive_operator(&w.db, &w.emu, &school, &account).await;
    }
    add_account(&w.emu, "drive.nine@hillside.sch.uk", Some("organizer")).await;
    let page = connect_through_google(&w, &mut admin, "drive.nine@hillside.sch.uk").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("the most it can have"), "{}", page.body);
    assert_eq!(stored_accounts(&w.db).await.len(), 8);

    // An account Google refused may be connected again: that is not a second copy of it.
    sqlx::query(
        "UPDATE tenant_hillside.google_credentials SET status = 'needs_reconnect' \
         WHERE account_email = 'drive.two@hillside.sch.uk'",
    )
    .execute(&w.db.pool)
    .await
    .unwrap();
    let page = connect_through_google(&w, &mut admin, "drive.two@hillside.sch.uk").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let accounts = stored_accounts(&w.db).await;
    assert_eq!(accounts.len(), 8);
    assert!(
        accounts.iter().all(|(_, status)| status == "active"),
        "{accounts:?}"
    );

    let refusals: Vec<String> = w
        .audit_actions()
        .await
        .into_iter()
        .filter(|(action, _)| action == "signin.refused")
        .map(|(_, details)| details["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    for reason in [
        "drive_account_already_connected",
        "drive_account_not_manager",
        "drive_account_cannot_see_drive",
        "too_many_drive_accounts",
    ] {
        assert!(
            refusals.iter().any(|r| r == reason),
            "{reason} in {refusals:?}"
        );
    }
}

/// A school with one class of `pupils` in folders, its first Drive operator account connected
/// and `extra` more (each a Manager of the Shared Drive), and clients whose every account may
/// make `per_account` calls a second within a project limit of `project`; the emulator holds
/// Google's quotas to the same. Returns the world, the portfolio ids, the accounts' credential
/// ids (first account first), the clients and leases.
struct PoolWorld {
    w: GoogleWorld,
    portfolios: Vec<Uuid>,
    operators: Vec<Uuid>,
    google: GoogleClients,
    leases: Leases,
}

async fn pool_world(pupils: usize, extra: usize, per_account: f64, project: f64) -> PoolWorld {
    let w = GoogleWorld::new(pupils).await;
    let teacher = w.connect_teacher().await;
    // Setting up is not measured: quick, with no quota.
    let redis = invigilator::redis_client::lazy_connection(&w.config).unwrap();
    let setup = w.clients.with_rate_limit(redis, 1000.0, 250);
    let leases = Leases::new(invigilator::redis_client::lazy_connection(&w.config).unwrap())
        .namespaced(&w.db.role_prefix);
    sqlx::query("UPDATE platform.tenants SET shared_drive_id = $1 WHERE id = $2")
        .bind(SHARED_DRIVE)
        .bind(w.school.id)
        .execute(&w.db.pool)
        .await
        .unwrap();
    roster::sync_school(&w.db.pool, &setup, &leases, &w.school, Trigger::Cli)
        .await
        .unwrap();
    let folders = invigilator::portfolio::provision(&w.db.pool, &setup, &w.school, SHARED_DRIVE)
        .await
        .unwrap();
    assert_eq!(
        folders.portfolio_folders as usize, pupils,
        "{:?}",
        folders.errors
    );
    let mut operators = vec![w.operator_credential];
    for i in 0..extra {
        let account = format!("drive.{i}@hillside.sch.uk");
        add_account(&w.emu, &account, Some("organizer")).await;
        connect_drive_operator(&w.db, &w.emu, &w.school, &account).await;
        let id: Uuid = sqlx::query_scalar(
            "SELECT id FROM tenant_hillside.google_credentials WHERE account_email = $1",
        )
        .bind(&account)
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
        operators.push(id);
    }
    // The teacher locks the class: every folder's lock is recorded, as the click does.
    let mut tx = begin_school_tx(&w.db.pool, &w.school).await.unwrap();
    let course: Uuid = sqlx::query_scalar("SELECT id FROM courses")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let requested = lock::request_class(&mut tx, &Actor::Staff(teacher), course, LockState::Locked)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let config = w.db.config(&[
        ("GOOGLE_API_BASE_URL", &w.emu.url()),
        ("GOOGLE_REQUESTS_PER_SECOND", &per_account.to_string()),
        ("GOOGLE_PROJECT_REQUESTS_PER_SECOND", &project.to_string()),
    ]);
    let redis = invigilator::redis_client::lazy_connection(&config).unwrap();
    let google = GoogleClients::new(&config, w.db.pool.clone(), redis)
        .unwrap()
        .with_retry_policy(invigilator::google::RetryPolicy::quick());
    // Tokens first, outside the measured time (the token endpoint has no quota), and a second
    // for the setup's calls to leave Google's buckets.
    for _ in 0..operators.len() * 2 {
        google
            .drive(&w.school)
            .await
            .unwrap()
            .folder(SHARED_DRIVE)
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    w.emu.set_quotas(google_emulator::seed::Quotas {
        per_user_per_second: Some(per_account),
        per_project_per_second: Some(project),
    });
    w.emu.reset_stats();
    PoolWorld {
        portfolios: requested.iter().map(|r| r.portfolio_id).collect(),
        w,
        operators,
        google,
        leases,
    }
}

impl PoolWorld {
    /// Applies every lock, `at_once` jobs at a time as workers do; the outcomes and the time.
    async fn apply_all(&self, at_once: usize) -> (Vec<Applied>, Duration) {
        let started = Instant::now();
        let outcomes = futures::stream::iter(self.portfolios.iter().copied())
            .map(|id| async move {
                lock::apply(
                    &self.w.db.pool,
                    &self.google,
                    &self.leases,
                    &self.w.school,
                    id,
                )
                .await
                .unwrap()
            })
            .buffer_unordered(at_once)
            .collect()
            .await;
        (outcomes, started.elapsed())
    }

    /// How many applied locks each account made, by the audit log.
    async fn applied_by(&self) -> Vec<(Uuid, i64)> {
        sqlx::query_as(
            "SELECT (details->>'operator')::uuid, count(*) FROM tenant_hillside.audit_log \
             WHERE action = 'portfolio.lock.applied' GROUP BY 1 ORDER BY 1",
        )
        .fetch_all(&self.w.db.pool)
        .await
        .unwrap()
    }

    /// Google's quota refusals (Drive answers 403 for per-user and per-project rate limits).
    fn refused(&self) -> u64 {
        self.w
            .emu
            .stats()
            .calls
            .values()
            .flat_map(|by_status| by_status.iter())
            .filter(|(status, _)| **status == 403 || **status == 429)
            .map(|(_, n)| n)
            .sum()
    }

    fn permission_updates(&self) -> u64 {
        self.w.emu.calls("drive.permissions.update")
    }
}

fn all_done(outcomes: &[Applied]) -> bool {
    outcomes.iter().all(|o| {
        matches!(
            o,
            Applied::Done {
                state: LockState::Locked,
                ..
            }
        )
    })
}

#[tokio::test]
async fn locks_spread_over_the_accounts_and_each_keeps_to_its_quota() {
    // Two accounts at 4 calls a second each: 24 locks take about 3 s, where one account would
    // need 6 s, and Google refuses none.
    let p = pool_world(24, 1, 4.0, 200.0).await;
    let (outcomes, took) = p.apply_all(8).await;
    assert!(all_done(&outcomes), "{outcomes:?}");
    assert_eq!(p.refused(), 0, "no account went over Google's quota");
    assert_eq!(p.permission_updates(), 24, "one Drive call per lock");
    let by = p.applied_by().await;
    assert_eq!(by.len(), 2, "{by:?}");
    for (operator, locks) in &by {
        assert!(p.operators.contains(operator));
        assert!((8..=16).contains(locks), "{by:?}");
    }
    assert!(
        took >= Duration::from_millis(2000) && took < Duration::from_millis(5000),
        "24 locks at 2 × 4 a second took {took:?}"
    );
}

#[tokio::test]
async fn the_projects_quota_binds_above_the_accounts() {
    // Three accounts at 10 a second could make 30 calls a second; the project allows 12.
    let p = pool_world(48, 2, 10.0, 12.0).await;
    let (outcomes, took) = p.apply_all(12).await;
    assert!(all_done(&outcomes), "{outcomes:?}");
    assert_eq!(p.refused(), 0, "the project's quota was kept");
    assert_eq!(p.permission_updates(), 48);
    assert_eq!(p.applied_by().await.len(), 3);
    assert!(
        took >= Duration::from_millis(3000),
        "48 locks at the project's 12 a second took {took:?}"
    );
}

#[tokio::test]
async fn an_account_revoked_mid_cohort_is_set_aside_and_leaves_nothing_unapplied() {
    let p = pool_world(30, 2, 5.0, 200.0).await;
    let revoked = "drive.0@hillside.sch.uk";
    let revoking = async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(p.w.emu.revoke_user(revoked) > 0);
    };
    let ((outcomes, _), ()) = tokio::join!(p.apply_all(10), revoking);
    assert!(all_done(&outcomes), "every lock applied: {outcomes:?}");
    let unapplied: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tenant_hillside.portfolios WHERE applied_version < desired_version \
             OR failed_permanently OR attempts > 0",
    )
    .fetch_one(&p.w.db.pool)
    .await
    .unwrap();
    assert_eq!(
        unapplied, 0,
        "nothing left, nothing counted as a failed attempt"
    );
    let accounts = stored_accounts(&p.w.db).await;
    assert!(
        accounts.contains(&(revoked.to_owned(), "needs_reconnect".to_owned())),
        "{accounts:?}"
    );
    let entries: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT action, target_id FROM tenant_hillside.audit_log \
         WHERE action = 'drive_operator.set_aside'",
    )
    .fetch_all(&p.w.db.pool)
    .await
    .unwrap();
    assert_eq!(
        entries.len(),
        1,
        "the School Admin is told once: {entries:?}"
    );
    let revoked_id: Uuid = sqlx::query_scalar(
        "SELECT id FROM tenant_hillside.google_credentials WHERE account_email = $1",
    )
    .bind(revoked)
    .fetch_one(&p.w.db.pool)
    .await
    .unwrap();
    assert_eq!(entries[0].1, Some(revoked_id.to_string()));
    // Later locks go to the others only.
    p.w.emu.reset_stats();
    let mut tx = begin_school_tx(&p.w.db.pool, &p.w.school).await.unwrap();
    let again = lock::request(
        &mut tx,
        &Actor::System("test"),
        p.portfolios[0],
        LockState::Unlocked,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let applied = lock::apply(
        &p.w.db.pool,
        &p.google,
        &p.leases,
        &p.w.school,
        again.portfolio_id,
    )
    .await
    .unwrap();
    assert!(matches!(applied, Applied::Done { .. }), "{applied:?}");
    assert_eq!(
        p.w.emu.calls("oauth2.token"),
        0,
        "no call tries the revoked account"
    );
}

#[tokio::test]
async fn an_account_taken_out_of_the_shared_drive_is_set_aside_and_its_locks_go_to_another() {
    let p = pool_world(12, 1, 20.0, 200.0).await;
    let gone = "drive.0@hillside.sch.uk";
    remove_from_drive(&p.w.emu, gone).await;
    let (outcomes, _) = p.apply_all(4).await;
    assert!(all_done(&outcomes), "every lock applied: {outcomes:?}");
    let accounts = stored_accounts(&p.w.db).await;
    assert!(
        accounts.contains(&(gone.to_owned(), "needs_reconnect".to_owned())),
        "{accounts:?}"
    );
    let reason: String = sqlx::query_scalar(
        "SELECT status_reason FROM tenant_hillside.google_credentials WHERE account_email = $1",
    )
    .bind(gone)
    .fetch_one(&p.w.db.pool)
    .await
    .unwrap();
    assert!(reason.contains("no longer a Manager"), "{reason}");
    assert_eq!(
        p.applied_by().await,
        vec![(p.w.operator_credential, 12)],
        "every lock made by the account still in the drive"
    );
}

#[tokio::test]
async fn with_every_account_refused_a_lock_fails_as_it_always_has() {
    let p = pool_world(2, 1, 20.0, 200.0).await;
    p.w.emu.revoke_user(OPERATOR);
    p.w.emu.revoke_user("drive.0@hillside.sch.uk");
    let (outcomes, _) = p.apply_all(1).await;
    for outcome in outcomes {
        match outcome {
            Applied::Failed(reason) => assert!(reason.contains("reconnected"), "{reason}"),
            other => panic!("expected a failure needing a reconnect, got {other:?}"),
        }
    }
    let accounts = stored_accounts(&p.w.db).await;
    assert!(
        accounts.iter().all(|(_, s)| s == "needs_reconnect"),
        "{accounts:?}"
    );
}

#[tokio::test]
async fn a_school_with_one_account_locks_as_before() {
    let p = pool_world(6, 0, 20.0, 200.0).await;
    let (outcomes, _) = p.apply_all(4).await;
    assert!(all_done(&outcomes), "{outcomes:?}");
    assert_eq!(p.permission_updates(), 6, "one Drive call per lock");
    assert_eq!(p.applied_by().await, vec![(p.w.operator_credential, 6)]);
    assert_eq!(
        p.google.drive_requests_per_second(&p.w.school).await,
        20.0,
        "one account's quota"
    );
}

#[tokio::test]
async fn the_shared_limit_gives_the_call_to_the_account_with_room() {
    let config = common::TestDb::new().await.config(&[]);
    let redis = invigilator::redis_client::lazy_connection(&config).unwrap();
    let limits = SharedLimits::new(redis);
    let key = |name: &str| format!("test:{}:{name}", Uuid::new_v4());
    let rate = Rate::new(2.0, 1);
    let (a, b) = (Limit::new(key("a"), rate), Limit::new(key("b"), rate));
    let project = Limit::new(key("project"), Rate::new(100.0, 10));
    let within = Duration::from_secs(5);
    let both = [a.clone(), b.clone()];
    let project = std::slice::from_ref(&project);
    let first = limits.acquire_one_of(&both, project, within).await;
    let second = limits.acquire_one_of(&both, project, within).await;
    assert_eq!(
        [first, second].iter().filter(|c| c.is_some()).count(),
        2,
        "{first:?} {second:?}"
    );
    assert_ne!(
        first, second,
        "the second call goes to the account with room"
    );
    // Both accounts are busy for half a second: a third call waits, then takes one, and a
    // fourth the other.
    let started = Instant::now();
    let third = limits.acquire_one_of(&both, project, within).await;
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    let fourth = limits.acquire_one_of(&both, project, within).await;
    assert!(
        third.is_some() && fourth.is_some() && third != fourth,
        "{third:?} {fourth:?}"
    );
    // Nothing fits within a short bound: no slot is taken.
    assert_eq!(
        limits
            .acquire_one_of(&both, project, Duration::from_millis(10))
            .await,
        None
    );
    assert_eq!(
        limits.check(&[a]).await.is_err(),
        limits.check(&[b]).await.is_err()
    );
}
