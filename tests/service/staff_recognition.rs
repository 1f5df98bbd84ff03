//! Staff addresses: a student who creates a Google Classroom class does not become a Teacher.
//! Only an address the School Admin listed as staff's becomes one by teaching a class; anyone
//! else is turned away with a page that says why and whom to ask. Invitations and roles work
//! whatever the list says.

use invigilator_test_kit as common;

use common::browser::{ADMIN, Browser, RequestBody, SignInWorld};
use common::{TEACHER, google_seed, list_staff_addresses, pupil};
use google_emulator::seed::{SeedCourse, SeedUser};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A second teacher, who has never signed in.
const NEW_TEACHER: &str = "grace.hopper@hillside.sch.uk";

/// The seeded school, where pupil 0 has created a class of their own (Classroom lets students
/// do that unless the domain restricts it) and a second teacher has a class too.
async fn world() -> SignInWorld {
    let mut seed = google_seed(3);
    seed.users
        .push(SeedUser::person(NEW_TEACHER, "Grace", "Hopper"));
    for (id, name, owner, students) in [
        (
            "500000000002",
            "Revision club",
            pupil(0),
            vec![pupil(1), pupil(2)],
        ),
        (
            "500000000003",
            "11C Computing",
            NEW_TEACHER.to_owned(),
            vec![pupil(1)],
        ),
    ] {
        seed.courses.push(SeedCourse {
            id: Some(id.to_owned()),
            name: name.to_owned(),
            section: None,
            owner,
            teachers: vec![],
            students,
            state: None,
            teacher_group_email: None,
        });
    }
    SignInWorld::with_seed(seed).await
}

fn refusal_reasons(actions: &[(String, Value)]) -> Vec<String> {
    actions
        .iter()
        .filter(|(a, _)| a == "signin.refused")
        .map(|(_, d)| d["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn no_session(page: &common::browser::Page) -> bool {
    !page
        .set_cookies
        .iter()
        .any(|c| c.starts_with("invigilator_session=") && !c.contains("Max-Age=0"))
}

#[tokio::test]
async fn a_student_who_creates_a_class_is_turned_away_and_told_whom_to_ask() {
    let w = world().await;
    // Staff are given.family@, students pupilNNN@.
    list_staff_addresses(&w.db, "hillside", &["*.*@hillside.sch.uk"]).await;

    let page = w.sign_in(&mut w.browser(), &pupil(0)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(
        page.body.contains("You could not be signed in"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("not one of the staff addresses"),
        "{}",
        page.body
    );
    assert!(page.body.contains("School Admin"), "says whom to ask");
    assert!(no_session(&page), "no session after a refusal");
    assert!(refusal_reasons(&w.audit_actions().await).contains(&"not_staff_address".to_owned()));
    let teachers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tenant_hillside.role_assignments r \
         JOIN tenant_hillside.staff s ON s.id = r.staff_id WHERE s.email = $1",
    )
    .bind(pupil(0))
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(teachers, 0, "the student holds no role");

    // A teacher at a staff address still becomes a Teacher by teaching their class.
    let page = w.sign_in(&mut w.browser(), TEACHER).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.url.ends_with("/classes"), "{}", page.url);
}

#[tokio::test]
async fn with_no_staff_addresses_only_invitations_and_roles_let_staff_in() {
    let w = world().await;
    // Every school's starting point: no addresses listed.
    list_staff_addresses(&w.db, "hillside", &[]).await;

    let page = w.sign_in(&mut w.browser(), NEW_TEACHER).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(page.body.contains("invite you"), "{}", page.body);
    assert!(no_session(&page));

    // The School Admin was invited when the school was created: in without any address.
    let mut admin = w.browser();
    assert_eq!(w.sign_in(&mut admin, ADMIN).await.status, StatusCode::OK);
    // ... and lists the staff addresses; the teacher then comes in by teaching their class.
    let token = w.csrf_token(&mut admin).await;
    let saved = submit_settings(&w, &mut admin, &token, "*.*@hillside.sch.uk").await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let page = w.sign_in(&mut w.browser(), NEW_TEACHER).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let me: Value = serde_json::from_str(&{
        let mut teacher = w.browser();
        w.sign_in(&mut teacher, NEW_TEACHER).await;
        teacher.get(&w.url("/api/me")).await.body
    })
    .unwrap();
    assert_eq!(me["roles"], json!(["teacher"]));
}

/// The settings page's form, as saved now but for the staff addresses.
async fn submit_settings(
    w: &SignInWorld,
    browser: &mut Browser,
    token: &str,
    staff_addresses: &str,
) -> common::browser::Page {
    let fields = [
        ("csrf_token", token),
        ("shared_drive_id", ""),
        ("retention_months", "36"),
        ("sync_interval_minutes", "30"),
        ("outside_domain_students", "skip"),
        ("staff_addresses", staff_addresses),
    ];
    let pairs = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    browser
        .request(
            Method::POST,
            &w.url("/admin/settings"),
            Some(RequestBody::Form(pairs)),
        )
        .await
}

#[tokio::test]
async fn the_school_admin_lists_staff_addresses_on_the_settings_page_and_the_api() {
    let w = world().await;
    list_staff_addresses(&w.db, "hillside", &[]).await;
    let mut admin = w.browser();
    assert_eq!(w.sign_in(&mut admin, ADMIN).await.status, StatusCode::OK);
    let token = w.csrf_token(&mut admin).await;

    let page = admin.get(&w.url("/admin/settings")).await;
    assert!(
        page.body
            .contains("<label for=\"staff_addresses\">Staff addresses</label>")
    );
    assert!(
        page.body
            .contains("none: teaching a Classroom class makes nobody a Teacher"),
        "what no addresses means is said"
    );
    // The checklist asks for them until they are set.
    let setup = admin.get(&w.url("/setup")).await;
    let step = setup
        .body
        .split("id=\"step-staff-addresses\"")
        .nth(1)
        .and_then(|rest| rest.split("</li>").next())
        .unwrap_or_default();
    assert!(step.contains("Needs doing"), "{}", setup.body);
    assert!(
        step.contains("href=\"/admin/settings#staff_addresses\""),
        "{step}"
    );

    // A line that is not an address comes back beside the field, nothing saved.
    let bad = submit_settings(
        &w,
        &mut admin,
        &token,
        "*@staff.hillside.sch.uk\nstaff.hillside",
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(
        bad.body.contains("id=\"staff_addresses-error\""),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("needs one @"), "{}", bad.body);
    assert!(bad.body.contains("staff.hillside</textarea>"), "as typed");

    let saved = submit_settings(
        &w,
        &mut admin,
        &token,
        " *@Staff.Hillside.sch.uk\r\n\r\n?.*@hillside.sch.uk ",
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let settings: Value =
        serde_json::from_str(&admin.get(&w.url("/api/settings")).await.body).unwrap();
    assert_eq!(
        settings["staff_addresses"],
        json!(["*@staff.hillside.sch.uk", "?.*@hillside.sch.uk"])
    );
    let page = admin.get(&w.url("/admin/settings")).await;
    assert!(
        page.body
            .contains("*@staff.hillside.sch.uk, ?.*@hillside.sch.uk")
    );
    let audited = w
        .audit_actions()
        .await
        .into_iter()
        .rev()
        .find(|(a, _)| a == "settings.changed")
        .unwrap();
    assert_eq!(
        audited.1["staff_addresses"],
        json!(["*@staff.hillside.sch.uk", "?.*@hillside.sch.uk"])
    );

    // The JSON API: a bad pattern is a 422 naming the field; [] removes them all.
    let refused = admin
        .request(
            Method::PUT,
            &w.url("/api/settings"),
            Some(RequestBody::Json(
                json!({"staff_addresses": ["a b@hillside.sch.uk"]}),
                Some(token.clone()),
            )),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("staff_addresses"), "{}", refused.body);
    let cleared = admin
        .request(
            Method::PUT,
            &w.url("/api/settings"),
            Some(RequestBody::Json(
                json!({"staff_addresses": []}),
                Some(token),
            )),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    let settings: Value = serde_json::from_str(&cleared.body).unwrap();
    assert_eq!(settings["staff_addresses"], json!([]));
}
