//! The School Admin's pages through HTTP, as the signed-in roles: who reaches them, each form's
//! happy path, and each bad input shown again beside its field with nothing saved.

use invigilator_test_kit as common;

use common::browser::{ADMIN, Browser, Page, SignInWorld};
use common::lock_world::{LockWorld, lock_world};
use common::{OPERATOR, SHARED_DRIVE, connect_drive_operator, pupil};
use invigilator::auth::roles::Role;
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

const PAGES: [&str; 6] = [
    "/admin/settings",
    "/admin/rules",
    "/admin/people",
    "/admin/sync",
    "/admin/sharing",
    "/admin/support",
];

/// A form of each page, which a role refused the page is refused too.
const FORMS: [&str; 6] = [
    "/admin/settings",
    "/admin/rules/apply",
    "/admin/people",
    "/admin/sync",
    "/admin/sharing/scans",
    "/admin/support",
];

/// The School Admin, signed in, with their CSRF token.
async fn admin_of(w: &SignInWorld) -> (Browser, String) {
    let mut admin = w.browser();
    assert_eq!(w.sign_in(&mut admin, ADMIN).await.status, StatusCode::OK);
    let token = w.csrf_token(&mut admin).await;
    (admin, token)
}

fn location(page: &Page) -> String {
    page.headers["location"].to_str().unwrap().to_owned()
}

/// A form that worked: 303 back to its page with a notice code; returns that page.
async fn follow_done(w: &SignInWorld, browser: &mut Browser, page: Page, code: &str) -> Page {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let to = location(&page);
    assert!(to.contains(&format!("done={code}")), "{to}");
    let shown = browser.get(&w.url(&to)).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    shown
}

/// The actions audited so far, oldest first.
async fn actions(w: &SignInWorld) -> Vec<String> {
    w.audit_actions()
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect()
}

/// A class with a name and no placement yet; returns its id.
async fn add_class(w: &SignInWorld, name: &str) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO tenant_hillside.courses (classroom_id, name, subject_id) \
         SELECT $1, $1, id FROM tenant_hillside.subjects WHERE name = 'Unsorted' RETURNING id",
    )
    .bind(name)
    .fetch_one(&w.db.pool)
    .await
    .unwrap()
}

/// The `<tr>` of the classes table naming `class`.
fn class_row<'a>(body: &'a str, class: &str) -> &'a str {
    let table = &body[body.find("id=\"classes\"").unwrap()..];
    table
        .split("<tr")
        .find(|row| row.contains(&format!("<span class=\"name\">{class}</span>")))
        .unwrap_or_else(|| panic!("no row for {class}: {table}"))
}

#[tokio::test]
async fn every_admin_page_is_for_the_school_admin_alone() {
    let w = SignInWorld::new().await;
    for (role, mut browser) in crate::roles::one_of_each(&w).await {
        let token = w.csrf_token(&mut browser).await;
        for (path, form) in PAGES.into_iter().zip(FORMS) {
            let page = browser.get(&w.url(path)).await;
            if role == Role::SchoolAdmin {
                assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
                assert!(page.body.contains("aria-current=\"page\""), "{path}: tabs");
                assert!(
                    page.body.contains("href=\"/setup\""),
                    "{path}: the checklist tab"
                );
                assert!(!page.body.contains(" style="), "{path}: no inline style");
                assert!(!page.body.contains("<script>"), "{path}: no inline script");
            } else {
                assert_eq!(page.status, StatusCode::FORBIDDEN, "{role:?} {path}");
                assert!(page.body.contains("You cannot do that"), "{role:?} {path}");
                // Nor can they act through the page's forms.
                let sent = w.submit_form(&mut browser, &token, form, &[]).await;
                assert_eq!(sent.status, StatusCode::FORBIDDEN, "{role:?} POST {form}");
            }
        }
        if role != Role::SchoolAdmin {
            let preview = browser
                .get(&w.url("/admin/rules/preview?kind=year-groups&pattern=1%25"))
                .await;
            assert_eq!(preview.status, StatusCode::FORBIDDEN, "{role:?} preview");
        }
    }
    let mut anonymous = w.browser();
    for path in PAGES {
        let page = anonymous.get(&w.url(path)).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&page), "/", "{path}");
    }
    assert!(
        !actions(&w).await.iter().any(|a| a == "settings.changed"),
        "nothing was changed by anyone refused"
    );
}

async fn saved_settings(w: &SignInWorld) -> (i32, Option<String>) {
    sqlx::query_as(
        "SELECT retention_months, shared_drive_id FROM platform.tenants WHERE slug = 'hillside'",
    )
    .fetch_one(&w.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn settings_are_saved_through_the_form_and_a_bad_value_is_shown_beside_its_field() {
    let w = SignInWorld::new().await;
    connect_drive_operator(&w.db, &w.emu, &w.school().await, OPERATOR).await;
    let (mut admin, token) = admin_of(&w).await;
    let page = admin.get(&w.url("/admin/settings")).await;
    assert!(page.body.contains(OPERATOR), "the Drive account is shown");
    // In words and its own colours, not with the lock states' ■ mark.
    assert!(
        page.body
            .contains("<span class=\"state admin-state-connected\">Connected</span>")
    );
    assert!(!page.body.contains("state-locked"));
    assert!(page.body.contains("action=\"/auth/connect-drive\""));
    assert!(page.body.contains("Connect another Drive account"));
    assert!(
        page.body.contains("value=\"36\""),
        "what is saved fills the form"
    );
    // The hints give the domain's own limits.
    assert!(page.body.contains("From 1 to 120. Records are removed"));
    assert!(page.body.contains("From 5 to 1440 (24 hours)."));

    let form = |drive: &'static str, retention: &'static str| {
        [
            ("shared_drive_id", drive),
            ("retention_months", retention),
            ("sync_interval_minutes", "30"),
            ("outside_domain_students", "skip"),
        ]
    };
    // Retention out of range: beside its field, typed value kept, nothing saved.
    let bad = w
        .submit_form(
            &mut admin,
            &token,
            "/admin/settings",
            &form(SHARED_DRIVE, "0"),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("There is a problem"));
    assert!(bad.body.contains("id=\"retention_months-error\""));
    assert!(
        bad.body.contains("Retention must be from 1 to 120 months"),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("id=\"retention_months\" name=\"retention_months\" type=\"text\" inputmode=\"numeric\" class=\"admin-short\" value=\"0\""));
    assert!(bad.body.contains(&format!("value=\"{SHARED_DRIVE}\"")));
    let words = w
        .submit_form(&mut admin, &token, "/admin/settings", &form("", "lots"))
        .await;
    assert_eq!(words.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(words.body.contains("value=\"lots\""));
    assert_eq!(saved_settings(&w).await, (36, None));
    // A choice that is not offered: its message is tied to the group of choices.
    let choice = w
        .submit_form(
            &mut admin,
            &token,
            "/admin/settings",
            &[
                ("shared_drive_id", ""),
                ("retention_months", "36"),
                ("sync_interval_minutes", "30"),
                ("outside_domain_students", "sometimes"),
            ],
        )
        .await;
    assert_eq!(choice.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(choice.body.contains("id=\"outside_domain_students-error\""));
    assert!(
        choice
            .body
            .contains("aria-describedby=\"outside-hint outside_domain_students-error\""),
        "{}",
        choice.body
    );

    // A Shared Drive the Drive account cannot reach: refused beside the field, nothing saved.
    let unreachable = w
        .submit_form(
            &mut admin,
            &token,
            "/admin/settings",
            &form("0ANoSuchDrive", "24"),
        )
        .await;
    assert_eq!(unreachable.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unreachable.body.contains("id=\"shared_drive_id-error\""));
    assert!(
        unreachable.body.contains("No Shared Drive with this id"),
        "{}",
        unreachable.body
    );
    assert!(unreachable.body.contains("value=\"0ANoSuchDrive\""));
    assert!(
        unreachable.body.contains("value=\"24\""),
        "the rest kept too"
    );
    assert_eq!(saved_settings(&w).await, (36, None));
    assert!(!actions(&w).await.iter().any(|a| a == "settings.changed"));

    // The school's own drive: checked, saved, shown.
    let saved = w
        .submit_form(
            &mut admin,
            &token,
            "/admin/settings",
            &form(SHARED_DRIVE, "24"),
        )
        .await;
    let shown = follow_done(&w, &mut admin, saved, "saved").await;
    assert!(shown.body.contains("Settings saved."));
    assert!(shown.body.contains("Portfolios (0APortfolios), checked"));
    assert!(shown.body.contains("24 months"));
    assert_eq!(
        saved_settings(&w).await,
        (24, Some(SHARED_DRIVE.to_owned()))
    );
    let audited = w
        .audit_actions()
        .await
        .into_iter()
        .rfind(|(a, _)| a == "settings.changed")
        .unwrap();
    assert_eq!(audited.1["shared_drive_checked"], true);
}

#[tokio::test]
async fn a_year_rule_is_previewed_then_added_and_its_classes_show_their_year() {
    let w = SignInWorld::new().await;
    add_class(&w, "11A Chemistry").await;
    add_class(&w, "11B Physics").await;
    add_class(&w, "10C Biology").await;
    let (mut admin, token) = admin_of(&w).await;
    let year_rules = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM tenant_hillside.year_group_rules")
            .fetch_one(&w.db.pool)
            .await
            .unwrap()
    };

    // While typing: the fragment the script shows.
    let preview = admin
        .get(&w.url("/admin/rules/preview?kind=year-groups&pattern=11%25&value=11"))
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(
        preview.body.contains("catches 2 classes"),
        "{}",
        preview.body
    );
    assert!(preview.body.contains("11A Chemistry"));
    assert!(preview.body.contains("11B Physics"));
    assert!(!preview.body.contains("10C Biology"));
    assert!(preview.body.contains("becomes Year 11"));
    // Without the script: the Preview button shows the same on the page, and saves nothing.
    let shown = w
        .submit_form(
            &mut admin,
            &token,
            "/admin/rules/year-groups",
            &[("pattern", "11%"), ("year_group", "11"), ("preview", "1")],
        )
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert!(shown.body.contains("catches 2 classes"));
    assert!(
        shown.body.contains("value=\"11%\""),
        "the pattern stays typed"
    );
    assert_eq!(year_rules().await, 0);

    // A bad pattern is shown again beside its field, typed as it was; nothing saved.
    let bad = w
        .submit_form(
            &mut admin,
            &token,
            "/admin/rules/year-groups",
            &[("pattern", "11\\"), ("year_group", "11")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(
        bad.body.contains("id=\"year-pattern-error\""),
        "{}",
        bad.body
    );
    assert!(
        bad.body.contains("The pattern ends with a lone"),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("value=\"11\\\""));
    let no_year = w
        .submit_form(
            &mut admin,
            &token,
            "/admin/rules/year-groups",
            &[("pattern", "11%"), ("year_group", "")],
        )
        .await;
    assert_eq!(no_year.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_year.body.contains("id=\"year-year_group-error\""));
    assert!(
        no_year.body.contains("The year is needed"),
        "{}",
        no_year.body
    );
    let bad_preview = admin
        .get(&w.url("/admin/rules/preview?kind=year-groups&pattern=11%5C"))
        .await;
    assert!(bad_preview.body.contains("ends with a lone"));
    assert_eq!(year_rules().await, 0);

    // Added: the classes it catches show the year, by that rule, marked new.
    let added = w
        .submit_form(
            &mut admin,
            &token,
            "/admin/rules/year-groups",
            &[("pattern", "11%"), ("year_group", "11")],
        )
        .await;
    let page = follow_done(&w, &mut admin, added, "added").await;
    for class in ["11A Chemistry", "11B Physics"] {
        let row = class_row(&page.body, class);
        assert!(row.contains("<strong>Year 11</strong>"), "{row}");
        assert!(row.contains("by the rule “11%”"), "{row}");
        assert!(row.contains(">New<"), "{row}");
    }
    let other = class_row(&page.body, "10C Biology");
    assert!(
        other.contains("No year") && !other.contains(">New<"),
        "{other}"
    );
    assert_eq!(year_rules().await, 1);
    assert!(actions(&w).await.contains(&"class_rule.added".to_owned()));

    // The preview of a second rule now says the first one keeps those classes.
    let second = admin
        .get(&w.url("/admin/rules/preview?kind=year-groups&pattern=%25A%25&value=10"))
        .await;
    assert!(
        second
            .body
            .contains("stays as it is: the rule “11%” comes first"),
        "{}",
        second.body
    );
}

#[tokio::test]
async fn rules_are_moved_changed_and_removed_and_a_class_is_placed_by_hand() {
    let w = SignInWorld::new().await;
    let physics = add_class(&w, "11B Physics").await;
    let (mut admin, token) = admin_of(&w).await;
    for (pattern, year) in [("11%", "11"), ("%B%", "9")] {
        let added = w
            .submit_form(
                &mut admin,
                &token,
                "/admin/rules/year-groups",
                &[("pattern", pattern), ("year_group", year)],
            )
            .await;
        assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    }
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id::text FROM tenant_hillside.year_group_rules ORDER BY position",
    )
    .fetch_all(&w.db.pool)
    .await
    .unwrap();
    let year_of = || async {
        sqlx::query_scalar::<_, Option<i16>>(
            "SELECT year_group FROM tenant_hillside.courses WHERE id = $1",
        )
        .bind(physics)
        .fetch_one(&w.db.pool)
        .await
        .unwrap()
    };
    assert_eq!(year_of().await, Some(11));

    // Moving the second rule up: it wins now.
    let order = [("ids", ids[1].as_str()), ("ids", ids[0].as_str())];
    let moved = w
        .submit_form(&mut admin, &token, "/admin/rules/year-groups/order", &order)
        .await;
    follow_done(&w, &mut admin, moved, "moved").await;
    assert_eq!(year_of().await, Some(9));
    // The same button again, from a page now out of date, is refused: nothing moves.
    let stale = w
        .submit_form(
            &mut admin,
            &token,
            "/admin/rules/year-groups/order",
            &[("ids", ids[1].as_str())],
        )
        .await;
    assert_eq!(stale.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        stale
            .body
            .contains("have changed since this page was shown")
    );

    // Changing a rule; a bad change is shown again in its own form.
    let path = format!("/admin/rules/year-groups/{}", ids[1]);
    let bad = w
        .submit_form(
            &mut admin,
            &token,
            &path,
            &[("pattern", ""), ("year_group", "9")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.body.contains("id=\"edit-pattern\""),
        "the failed form is open"
    );
    assert!(bad.body.contains("The pattern is empty"), "{}", bad.body);
    // The message is tied to its input for screen readers.
    assert!(
        bad.body
            .contains("<p class=\"field-error\" id=\"edit-pattern-error\">")
    );
    assert!(
        bad.body
            .contains("aria-invalid=\"true\" aria-describedby=\"edit-pattern-error\"")
    );
    let changed = w
        .submit_form(
            &mut admin,
            &token,
            &path,
            &[("pattern", "%B%"), ("year_group", "10")],
        )
        .await;
    follow_done(&w, &mut admin, changed, "changed").await;
    assert_eq!(year_of().await, Some(10));

    // Removing asks first (without the script), then removes.
    let remove = format!("/admin/rules/year-groups/{}/delete", ids[1]);
    let asked = w.submit_form(&mut admin, &token, &remove, &[]).await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.body.contains("Remove this rule?"));
    assert!(asked.body.contains("name=\"confirm\" value=\"yes\""));
    assert_eq!(year_of().await, Some(10), "nothing removed yet");
    let removed = w
        .submit_form(&mut admin, &token, &remove, &[("confirm", "yes")])
        .await;
    follow_done(&w, &mut admin, removed, "removed").await;
    assert_eq!(year_of().await, Some(11));

    // The class's own year wins over the rules; a bad one is refused beside its field.
    let own = format!("/admin/rules/classes/{physics}");
    let bad = w
        .submit_form(
            &mut admin,
            &token,
            &own,
            &[("subject", ""), ("year_group", "14")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.body.contains("The year is a year group from 1 to 13"),
        "{}",
        bad.body
    );
    assert!(
        bad.body
            .contains("<p class=\"field-error\" id=\"override-year_group-error\">")
    );
    assert!(
        bad.body
            .contains("aria-invalid=\"true\" aria-describedby=\"override-year_group-error\"")
    );
    assert_eq!(year_of().await, Some(11));
    let set = w
        .submit_form(
            &mut admin,
            &token,
            &own,
            &[("subject", "Physics"), ("year_group", "8")],
        )
        .await;
    let page = follow_done(&w, &mut admin, set, "placed").await;
    let row = class_row(&page.body, "11B Physics");
    assert!(
        row.contains("<strong>Year 8</strong>") && row.contains("set by hand"),
        "{row}"
    );
    assert!(row.contains("<strong>Physics</strong>"), "{row}");
    let applied = w
        .submit_form(&mut admin, &token, "/admin/rules/apply", &[])
        .await;
    follow_done(&w, &mut admin, applied, "applied").await;

    let done = actions(&w).await;
    for action in [
        "class_rules.reordered",
        "class_rule.changed",
        "class_rule.removed",
        "class.placement_set",
        "class_rules.applied",
    ] {
        assert!(done.contains(&action.to_owned()), "{action}: {done:?}");
    }
}

#[tokio::test]
async fn a_role_given_by_email_waits_as_an_invitation_and_the_last_school_admin_stays() {
    let w = SignInWorld::new().await;
    let (mut admin, token) = admin_of(&w).await;
    let page = admin.get(&w.url("/admin/people")).await;
    assert!(page.body.contains(ADMIN));
    assert!(page.body.contains("School Admin"));
    assert!(
        !page.body.contains("Never signed in"),
        "the admin has signed in"
    );

    let invited = w
        .submit_form(
            &mut admin,
            &token,
            "/admin/people",
            &[
                ("email", "New.Head@hillside.sch.uk"),
                ("role", "headteacher"),
                ("subject_id", ""),
            ],
        )
        .await;
    let page = follow_done(&w, &mut admin, invited, "invited").await;
    let waiting = &page.body[page.body.find("Waiting for a first sign-in").unwrap()..];
    assert!(waiting.contains("new.head@hillside.sch.uk"), "{waiting}");
    assert!(waiting.contains("Headteacher"));
    assert!(waiting.contains(" by Head Staff"), "who invited: {waiting}");

    // Refusals as the API's: beside their field, typed kept, nothing saved.
    let other_domain = w
        .submit_form(
            &mut admin,
            &token,
            "/admin/people",
            &[
                ("email", "someone@gmail.com"),
                ("role", "teacher"),
                ("subject_id", ""),
            ],
        )
        .await;
    assert_eq!(other_domain.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(other_domain.body.contains("id=\"email-error\""));
    assert!(
        other_domain.body.contains("own domain (hillside.sch.uk)"),
        "{}",
        other_domain.body
    );
    assert!(other_domain.body.contains("value=\"someone@gmail.com\""));
    let no_subject = w
        .submit_form(
            &mut admin,
            &token,
            "/admin/people",
            &[
                ("email", "hos@hillside.sch.uk"),
                ("role", "head_of_subject"),
                ("subject_id", ""),
            ],
        )
        .await;
    assert_eq!(no_subject.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_subject.body.contains("id=\"subject_id-error\""));
    assert!(
        no_subject
            .body
            .contains("value=\"head_of_subject\" selected")
    );
    let invitations: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tenant_hillside.role_invitations")
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
    assert_eq!(invitations, 1);

    // The last School Admin cannot be taken away: the refusal is on the page.
    let list: Value = serde_json::from_str(&admin.get(&w.url("/api/roles")).await.body).unwrap();
    let own = list["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["role"] == "school_admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/admin/people/{own}/revoke");
    let people = admin.get(&w.url("/admin/people")).await;
    assert!(
        !people.body.contains(&path),
        "no button that would be refused"
    );
    assert!(
        people
            .body
            .contains("A school always keeps one School Admin.")
    );
    let asked = w.submit_form(&mut admin, &token, &path, &[]).await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.body.contains("Take this role away?"));
    let refused = w
        .submit_form(&mut admin, &token, &path, &[("confirm", "yes")])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .body
            .contains("A school must keep at least one School Admin"),
        "{}",
        refused.body
    );
    assert_eq!(
        admin.get(&w.url("/admin/people")).await.status,
        StatusCode::OK
    );

    // An invitation is withdrawn the same way, asked about as an invitation.
    let invitation = list["invitations"][0]["id"].as_str().unwrap().to_owned();
    let asked = w
        .submit_form(
            &mut admin,
            &token,
            &format!("/admin/people/{invitation}/revoke"),
            &[],
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(
        asked.body.contains("Withdraw this invitation?"),
        "{}",
        asked.body
    );
    assert!(asked.body.contains("Withdraw the invitation"));
    assert!(!asked.body.contains("Take this role away?"));
    let withdrawn = w
        .submit_form(
            &mut admin,
            &token,
            &format!("/admin/people/{invitation}/revoke"),
            &[("confirm", "yes")],
        )
        .await;
    let page = follow_done(&w, &mut admin, withdrawn, "withdrawn").await;
    assert!(!page.body.contains("new.head@hillside.sch.uk"));
    let done = actions(&w).await;
    assert_eq!(done.iter().filter(|a| *a == "role.assigned").count(), 1);
    assert_eq!(done.iter().filter(|a| *a == "role.revoked").count(), 1);
}

/// Roster-sync jobs in this test's queue.
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
async fn sync_now_queues_a_sync_and_the_history_shows_the_runs() {
    let l: LockWorld = lock_world().await;
    let (mut admin, token) = admin_of(&l.w).await;
    let page = admin.get(&l.w.url("/admin/sync")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let history = &page.body[page.body.find("id=\"history-title\"").unwrap()..];
    assert!(history.contains("From the command line"), "{history}");
    assert!(history.contains("<td data-label=\"Added\">"), "{history}");
    assert!(page.body.contains("Next sync on schedule"));
    assert!(page.body.contains("no problems"), "{}", page.body);

    let before = queued_syncs(&l.w).await;
    let asked =
        l.w.submit_form(&mut admin, &token, "/admin/sync", &[])
            .await;
    let page = follow_done(&l.w, &mut admin, asked, "queued").await;
    assert!(page.body.contains("A sync has been asked for"));
    assert_eq!(queued_syncs(&l.w).await, before + 1);
    assert!(actions(&l.w).await.contains(&"sync.requested".to_owned()));

    // A run whose errors name a teacher and a class reads in words.
    let teacher: Uuid = sqlx::query_scalar(
        "SELECT id FROM tenant_hillside.staff WHERE email = 'ada.lovelace@hillside.sch.uk'",
    )
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO tenant_hillside.sync_runs (started_at, trigger, courses, errors) \
         VALUES (now(), 'timer', 1, $1)",
    )
    .bind(serde_json::json!([
        format!("staff {teacher}: reconnect needed"),
        "course 500000000001: not saved"
    ]))
    .execute(&l.w.db.pool)
    .await
    .unwrap();
    let page = admin.get(&l.w.url("/admin/sync")).await;
    assert!(page.body.contains(": 1 class read,"), "{}", page.body);
    assert!(page.body.contains("What went wrong in the last sync"));
    assert!(
        page.body
            .contains("Ada Lovelace: Google no longer accepts their sign-in"),
        "{}",
        page.body
    );
    assert!(page.body.contains("10X Chemistry: read but not saved"));
    assert!(!page.body.contains(&teacher.to_string()), "no ids shown");
}

#[tokio::test]
async fn a_sync_whose_audit_entry_fails_is_not_queued() {
    let l: LockWorld = lock_world().await;
    let (mut admin, token) = admin_of(&l.w).await;
    // The audit log refuses this one action, as a failing write would.
    sqlx::query(
        "ALTER TABLE tenant_hillside.audit_log ADD CONSTRAINT refuse_sync_requested \
         CHECK (action <> 'sync.requested') NOT VALID",
    )
    .execute(&l.w.db.pool)
    .await
    .unwrap();
    let before = queued_syncs(&l.w).await;
    let asked =
        l.w.submit_form(&mut admin, &token, "/admin/sync", &[])
            .await;
    assert!(asked.status.is_server_error(), "{}", asked.status);
    assert_eq!(queued_syncs(&l.w).await, before, "nothing queued unaudited");
    assert!(!actions(&l.w).await.contains(&"sync.requested".to_owned()));
}

/// An open finding in the first pupil's folder; returns its id.
async fn finding(l: &LockWorld, permission: &str, grantee: Option<&str>) -> Uuid {
    let (portfolio, folder) = l.portfolio_of(&pupil(0)).await;
    sqlx::query_scalar(
        "INSERT INTO tenant_hillside.share_findings (portfolio_id, drive_item_id, item_name, \
             permission_id, grantee_type, grantee, role) \
         VALUES ($1, $2, 'Coursework essay', $3, $4, $5, 'writer') RETURNING id",
    )
    .bind(portfolio)
    .bind(&folder)
    .bind(permission)
    .bind(if grantee.is_some() { "user" } else { "anyone" })
    .bind(grantee)
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap()
}

async fn status_of(l: &LockWorld, id: Uuid) -> String {
    sqlx::query_scalar("SELECT status FROM tenant_hillside.share_findings WHERE id = $1")
        .bind(id)
        .fetch_one(&l.w.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_finding_is_removed_or_kept_through_the_page_and_a_class_scanned_now() {
    let l = lock_world().await;
    let friend = finding(&l, "p-friend", Some("best.friend@elsewhere.example")).await;
    let anyone = finding(&l, "p-anyone", None).await;
    let (mut admin, token) = admin_of(&l.w).await;
    let page = admin.get(&l.w.url("/admin/sharing")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Waiting for your decision (2)"));
    assert!(page.body.contains("best.friend@elsewhere.example"));
    assert!(page.body.contains("Anyone with the link"));
    assert!(page.body.contains("Coursework essay"));
    assert!(page.body.contains("can edit"));

    let kept =
        l.w.submit_form(
            &mut admin,
            &token,
            &format!("/admin/sharing/{friend}/keep"),
            &[],
        )
        .await;
    let page = follow_done(&l.w, &mut admin, kept, "kept").await;
    assert!(page.body.contains("Waiting for your decision (1)"));
    assert_eq!(status_of(&l, friend).await, "kept");
    // Removing asks first, as removing a rule does: the script's dialog, or a page without it.
    assert!(
        page.body.contains(&format!(
            "action=\"/admin/sharing/{anyone}/remove\" data-confirm=\"Anyone with the link \
             will no longer have access to “Coursework essay”"
        )),
        "{}",
        page.body
    );
    let remove = format!("/admin/sharing/{anyone}/remove");
    let asked = l.w.submit_form(&mut admin, &token, &remove, &[]).await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert!(asked.body.contains("Remove this access?"));
    assert!(asked.body.contains("name=\"confirm\" value=\"yes\""));
    assert_eq!(status_of(&l, anyone).await, "open", "nothing removed yet");
    let removed =
        l.w.submit_form(&mut admin, &token, &remove, &[("confirm", "yes")])
            .await;
    let page = follow_done(&l.w, &mut admin, removed, "removing").await;
    assert_eq!(status_of(&l, anyone).await, "removing");
    assert!(
        page.body
            .contains("<span class=\"state admin-state-removing\">Being removed</span>"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("state-locking"));

    // Keeping it again is refused, on the page, as the API refuses it.
    let again =
        l.w.submit_form(
            &mut admin,
            &token,
            &format!("/admin/sharing/{friend}/keep"),
            &[],
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        again.body.contains("only an open one kept"),
        "{}",
        again.body
    );
    let unknown =
        l.w.submit_form(
            &mut admin,
            &token,
            &format!("/admin/sharing/{friend}/forget"),
            &[],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // Scan now.
    let none =
        l.w.submit_form(
            &mut admin,
            &token,
            "/admin/sharing/scans",
            &[("class_id", "")],
        )
        .await;
    assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(none.body.contains("Choose a class to scan"));
    let class: Uuid = sqlx::query_scalar("SELECT id FROM tenant_hillside.courses")
        .fetch_one(&l.w.db.pool)
        .await
        .unwrap();
    let scanned =
        l.w.submit_form(
            &mut admin,
            &token,
            "/admin/sharing/scans",
            &[("class_id", &class.to_string())],
        )
        .await;
    let page = follow_done(&l.w, &mut admin, scanned, "scan").await;
    assert!(page.body.contains("10X Chemistry"));
    let done = actions(&l.w).await;
    for action in [
        "share.kept",
        "share.remove.requested",
        "share_scan.requested",
    ] {
        assert!(done.contains(&action.to_owned()), "{action}: {done:?}");
    }
}
