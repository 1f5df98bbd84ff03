//! The teachers' dashboard as a browser sees it: the class list, a class's students and their
//! folders' states, history, the stale-page and CSRF refusals, the one "not found" page, and
//! the headers that keep scripts and styles our own.

use invigilator_test_kit::browser::RequestBody;
use invigilator_test_kit::lock_world::{LockWorld, lock_world};
use invigilator_test_kit::pupil;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

async fn class_id(l: &LockWorld) -> Uuid {
    sqlx::query_scalar("SELECT id FROM tenant_hillside.courses WHERE name = '10X Chemistry'")
        .fetch_one(&l.w.db.pool)
        .await
        .unwrap()
}

/// A class in the same school that the teacher does not teach, with one student's folder.
async fn someone_elses_class(l: &LockWorld) -> (Uuid, Uuid) {
    let course: Uuid = sqlx::query_scalar(
        "INSERT INTO tenant_hillside.courses (classroom_id, name) VALUES ('999', '11Y Physics') \
         RETURNING id",
    )
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    let portfolio: Uuid = sqlx::query_scalar(
        "INSERT INTO tenant_hillside.portfolios (course_id, student_id) \
         SELECT $1, id FROM tenant_hillside.students LIMIT 1 RETURNING id",
    )
    .bind(course)
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    (course, portfolio)
}

#[tokio::test]
async fn a_teacher_lands_on_their_classes_and_follows_a_lock_to_done() {
    let mut l = lock_world().await;
    let course = class_id(&l).await;
    let list = l.teacher.get(&l.w.url("/classes")).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("10X Chemistry"), "{}", list.body);
    assert!(list.body.contains("3 students"), "{}", list.body);
    assert!(list.body.contains("0 locked"), "{}", list.body);
    assert!(
        list.body.contains("Ada Lovelace"),
        "the header names who is signed in"
    );

    let page = l.teacher.get(&l.w.url(&format!("/classes/{course}"))).await;
    assert_eq!(page.status, StatusCode::OK);
    for i in 0..3 {
        assert!(page.body.contains(&pupil(i)), "{}", page.body);
    }
    assert!(page.body.contains("0 of 3 locked"));
    let (portfolio, folder) = l.portfolio_of(&pupil(0)).await;
    assert!(
        page.body.contains(&format!(
            "{}/emulator/files/{folder}",
            l.w.emu.url().trim_end_matches('/')
        )),
        "each student's folder opens from the page"
    );
    assert!(page.body.contains("data-action=\"lock\""));

    assert_eq!(
        l.post(&format!("/api/portfolios/{portfolio}/lock"))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let rows_path = format!("/classes/{course}/rows");
    let rows = l.teacher.get(&l.w.url(&rows_path)).await;
    assert_eq!(rows.status, StatusCode::OK);
    assert!(rows.body.contains("Locking…"), "{}", rows.body);
    l.apply(portfolio).await;
    let rows = l.teacher.get(&l.w.url(&rows_path)).await;
    assert!(rows.body.contains(">Locked<"), "{}", rows.body);
    assert!(rows.body.contains("data-action=\"unlock\""));
    let page = l.teacher.get(&l.w.url(&format!("/classes/{course}"))).await;
    assert!(page.body.contains("1 of 3 locked"), "{}", page.body);

    let history = l
        .teacher
        .get(&l.w.url(&format!("/portfolios/{portfolio}")))
        .await;
    assert_eq!(history.status, StatusCode::OK);
    assert!(history.body.contains("Lock asked for"), "{}", history.body);
    assert!(history.body.contains("Locked in Drive"));
    assert!(history.body.contains("Ada Lovelace"), "who asked is named");
}

#[tokio::test]
async fn a_class_out_of_reach_is_the_same_not_found_page_as_a_missing_one() {
    let mut l = lock_world().await;
    let (theirs, their_portfolio) = someone_elses_class(&l).await;
    let list = l.teacher.get(&l.w.url("/classes")).await;
    assert!(!list.body.contains("11Y Physics"), "{}", list.body);

    let strip = |body: &str| body.split("<code>").next().unwrap_or_default().to_owned();
    let out_of_reach = l.teacher.get(&l.w.url(&format!("/classes/{theirs}"))).await;
    let missing = l
        .teacher
        .get(&l.w.url(&format!("/classes/{}", Uuid::new_v4())))
        .await;
    let malformed = l.teacher.get(&l.w.url("/classes/not-an-id")).await;
    let their_history = l
        .teacher
        .get(&l.w.url(&format!("/portfolios/{their_portfolio}")))
        .await;
    for page in [&out_of_reach, &missing, &malformed, &their_history] {
        assert_eq!(page.status, StatusCode::NOT_FOUND);
        assert_eq!(strip(&page.body), strip(&missing.body));
        assert!(page.body.contains("Page not found"));
    }
    let rows = l
        .teacher
        .get(&l.w.url(&format!("/classes/{theirs}/rows")))
        .await;
    assert_eq!(rows.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn error_pages_are_friendly_and_carry_the_request_id() {
    let mut l = lock_world().await;
    let page = l.teacher.get(&l.w.url("/no/such/page")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let id = page.headers["x-request-id"].to_str().unwrap();
    assert!(page.body.contains(id), "{}", page.body);
    assert!(page.body.contains("Page not found"));
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let api = l.teacher.get(&l.w.url("/api/no-such-thing")).await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert!(
        serde_json::from_str::<Value>(&api.body).is_ok(),
        "the API answers JSON"
    );
}

#[tokio::test]
async fn a_form_or_button_without_the_csrf_token_is_told_to_reload() {
    let mut l = lock_world().await;
    let page = l
        .teacher
        .request(
            Method::POST,
            &l.w.url("/auth/logout"),
            Some(RequestBody::Form(vec![])),
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("This page has expired"), "{}", page.body);
    assert!(page.body.contains("reload"));
    let (portfolio, _) = l.portfolio_of(&pupil(0)).await;
    let wrong = l
        .teacher
        .request(
            Method::POST,
            &l.w.url(&format!("/api/portfolios/{portfolio}/lock")),
            Some(RequestBody::Json(
                json!({}),
                Some("not-the-token".to_owned()),
            )),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let answer: Value = serde_json::from_str(&wrong.body).unwrap();
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("reload"),
        "{answer}"
    );
    assert_eq!(l.versions(portfolio).await, (0, 0), "nothing was requested");
}

#[tokio::test]
async fn a_stale_class_page_is_told_who_joined_instead_of_acting() {
    let mut l = lock_world().await;
    let course = class_id(&l).await;
    let (first, _) = l.portfolio_of(&pupil(0)).await;
    let (second, _) = l.portfolio_of(&pupil(1)).await;
    let (third, _) = l.portfolio_of(&pupil(2)).await;
    let stale = l
        .teacher
        .request(
            Method::POST,
            &l.w.url(&format!("/api/classes/{course}/lock")),
            Some(RequestBody::Json(
                json!({"expected_portfolios": [first, second]}),
                Some(l.csrf.clone()),
            )),
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    let answer: Value = serde_json::from_str(&stale.body).unwrap();
    assert_eq!(answer["error"]["joined"], json!(["Pupil2 Learner"]));
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Nothing was changed")
    );
    assert_eq!(l.versions(third).await, (0, 0), "nothing was requested");

    let current = l
        .teacher
        .request(
            Method::POST,
            &l.w.url(&format!("/api/classes/{course}/lock")),
            Some(RequestBody::Json(
                json!({"expected_portfolios": [first, second, third]}),
                Some(l.csrf.clone()),
            )),
        )
        .await;
    assert_eq!(current.status, StatusCode::ACCEPTED, "{}", current.body);
}

#[tokio::test]
async fn pages_allow_only_our_own_scripts_and_styles() {
    let mut l = lock_world().await;
    let course = class_id(&l).await;
    let (portfolio, _) = l.portfolio_of(&pupil(0)).await;
    let mut anonymous = l.w.browser();
    let sign_in = anonymous.get(&l.w.url("/")).await;
    assert!(sign_in.body.contains("Sign in with Google"));
    for path in [
        "/".to_owned(),
        "/classes".to_owned(),
        format!("/classes/{course}"),
        format!("/portfolios/{portfolio}"),
    ] {
        let browser = if path == "/" {
            &mut anonymous
        } else {
            &mut l.teacher
        };
        let page = browser.get(&l.w.url(&path)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(page.headers["x-frame-options"], "DENY");
        assert!(
            !page.body.contains("<script>") && !page.body.contains("<style"),
            "{path}"
        );
        assert!(!page.body.contains(" style=\""), "{path}: no inline styles");
        assert!(
            !page.body.contains("https://"),
            "{path}: nothing from elsewhere"
        );
    }
    let page = l.teacher.get(&l.w.url("/classes")).await;
    for (attr, kind) in [
        ("href=\"/static/app-", "text/css"),
        ("src=\"/static/app-", "text/javascript"),
    ] {
        let tail = page.body.split(attr).nth(1).unwrap();
        let path = format!("/static/app-{}", tail.split('"').next().unwrap());
        let asset = l.teacher.get(&l.w.url(&path)).await;
        assert_eq!(asset.status, StatusCode::OK, "{path}");
        assert!(
            asset.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        assert!(
            asset.headers["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
    }
}

#[tokio::test]
async fn every_role_gets_the_pages_its_permissions_give_and_nothing_else() {
    use invigilator::auth::roles::{Permission, allows};
    let w = invigilator_test_kit::browser::SignInWorld::new().await;
    for (role, mut browser) in crate::roles::one_of_each(&w).await {
        let sees_classes =
            allows(role, Permission::ViewOwnClasses) || allows(role, Permission::ViewAllClasses);
        let list = browser.get(&w.url("/classes")).await;
        // `/` sends a teacher to their classes and a School Admin of a school not yet set up
        // to the checklist: follow it to where each lands.
        let home = browser.follow(&w.url("/"), None).await;
        // The nav on every page links exactly the sections the roles may open.
        for (href, permission) in [
            ("/school", Permission::ViewAllClasses),
            ("/audit", Permission::ReadAuditLog),
            ("/setup", Permission::ManageSettings),
        ] {
            assert_eq!(
                home.body.contains(&format!("href=\"{href}\"")),
                allows(role, permission),
                "{role:?}: the nav and {href}"
            );
        }
        if sees_classes {
            assert_eq!(list.status, StatusCode::OK, "{role:?}");
            assert!(
                list.body.contains("href=\"/classes\""),
                "{role:?}: the nav offers classes"
            );
        } else {
            assert_eq!(
                list.status,
                StatusCode::FORBIDDEN,
                "{role:?}: {}",
                list.body
            );
            assert!(list.body.contains("You cannot do that"));
            assert_eq!(home.status, StatusCode::OK);
            assert!(
                !home.body.contains("href=\"/classes\""),
                "{role:?}: no link to a page refused"
            );
        }
        let connect = home.body.contains("/auth/connect-drive");
        assert_eq!(connect, allows(role, Permission::ConnectDrive), "{role:?}");
    }
    // Nobody signed in: every page sends them to sign in.
    let mut anonymous = w.browser();
    for path in [
        "/classes",
        "/classes/00000000-0000-0000-0000-000000000000",
        "/portfolios/x",
    ] {
        let page = anonymous.get(&w.url(path)).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.headers["location"], "/");
    }
}

#[tokio::test]
async fn a_class_in_an_assessment_window_says_so_and_offers_no_unlock_but_for_who_was_let_out() {
    let mut l = lock_world().await;
    let course = class_id(&l).await;
    let (held, _) = l.portfolio_of(&pupil(0)).await;
    let (let_out, _) = l.portfolio_of(&pupil(1)).await;
    let window: Uuid = sqlx::query_scalar(
        "INSERT INTO tenant_hillside.assessment_windows (name, starts_at, ends_at, state) \
         VALUES ('Mock exam', now() - interval '1 hour', now() + interval '1 hour', 'active') \
         RETURNING id",
    )
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO tenant_hillside.window_classes (window_id, course_id, chosen) VALUES ($1, $2, true)",
    )
    .bind(window)
    .bind(course)
    .execute(&l.w.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO tenant_hillside.window_overrides (window_id, portfolio_id, reason) \
         VALUES ($1, $2, 'access arrangement')",
    )
    .bind(window)
    .bind(let_out)
    .execute(&l.w.db.pool)
    .await
    .unwrap();
    sqlx::query("UPDATE tenant_hillside.portfolios SET desired = 'locked' WHERE id = ANY($1)")
        .bind([held, let_out])
        .execute(&l.w.db.pool)
        .await
        .unwrap();

    let page = l.teacher.get(&l.w.url(&format!("/classes/{course}"))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Assessment window “Mock exam” until"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("Unlock the class"),
        "no class unlock during a window"
    );
    let row = |id: Uuid| {
        page.body
            .split(&format!("data-portfolio=\"{id}\""))
            .nth(1)
            .unwrap()
            .split("</tr>")
            .next()
            .unwrap()
            .to_owned()
    };
    assert!(row(held).contains("Held by an assessment window"));
    assert!(
        !row(held).contains("data-action=\"unlock\""),
        "{}",
        row(held)
    );
    assert!(
        row(let_out).contains("data-action=\"unlock\""),
        "{}",
        row(let_out)
    );
    let list = l.teacher.get(&l.w.url("/classes")).await;
    assert!(
        list.body.contains("Assessment window “Mock exam”"),
        "{}",
        list.body
    );
}
