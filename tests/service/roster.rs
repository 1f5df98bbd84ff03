//! Roster sync and portfolio folders against the emulator, real PostgreSQL and real Redis.

use invigilator_test_kit as common;

use common::*;
use google_emulator::{CannedResponse, FaultKind, FaultPlan, Role};
use invigilator::lease::Leases;
use invigilator::roster::{self, SyncError, Trigger};
use invigilator::tenancy::School;
use serde_json::json;

fn leases(w: &GoogleWorld) -> Leases {
    Leases::new(invigilator::redis_client::lazy_connection(&w.config).unwrap())
}

async fn sync(w: &GoogleWorld) -> roster::SyncReport {
    roster::sync_school(&w.db.pool, &w.clients, &leases(w), &w.school, Trigger::Cli)
        .await
        .unwrap()
}

async fn count(w: &GoogleWorld, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(
        sql.replace("{s}", &w.school.schema_name),
    ))
    .fetch_one(&w.db.pool)
    .await
    .unwrap()
}

async fn provision(w: &GoogleWorld, school: &School) -> invigilator::portfolio::FolderReport {
    invigilator::portfolio::provision(&w.db.pool, &w.clients, school, SHARED_DRIVE)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_first_sync_pages_through_everything_and_a_second_writes_nothing() {
    let w = GoogleWorld::new(23).await;
    w.connect_teacher().await;
    w.emu
        .add_course(
            "11Y Art",
            None,
            TEACHER,
            &(0..5).map(pupil).collect::<Vec<_>>(),
        )
        .unwrap();
    w.emu.update_settings(|s| s.max_page_size = Some(4));
    w.emu.reset_stats();

    let first = sync(&w).await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert_eq!(first.courses, 2);
    assert_eq!(count(&w, "SELECT count(*) FROM {s}.students").await, 23);
    assert_eq!(
        count(
            &w,
            "SELECT count(*) FROM {s}.enrolments WHERE ended_at IS NULL"
        )
        .await,
        28
    );
    assert_eq!(
        count(&w, "SELECT count(*) FROM {s}.courses WHERE active").await,
        2
    );
    // Classroom's pages may come up short (the emulator's do), so the calls are at least
    // 1 course page + 2 courses × (teachers 1 page + students ⌈n/4⌉ pages), and all counted.
    let classroom_calls: u64 = w
        .emu
        .stats()
        .calls
        .iter()
        .filter(|(route, _)| route.starts_with("classroom."))
        .flat_map(|(_, by_status)| by_status.values())
        .sum();
    assert!(first.api_calls >= 1 + (1 + 6) + (1 + 2), "{first:?}");
    assert_eq!(first.api_calls, classroom_calls);

    let second = sync(&w).await;
    assert_eq!(
        second.rows_written(),
        0,
        "nothing changed, nothing written: {second:?}"
    );
    assert_eq!(count(&w, "SELECT count(*) FROM {s}.sync_runs").await, 2);
    // Unsorted holds courses no rule claims.
    assert_eq!(
        count(&w, "SELECT count(*) FROM {s}.courses c JOIN {s}.subjects s ON s.id = c.subject_id WHERE s.name = 'Unsorted'").await,
        2
    );
}

#[tokio::test]
async fn moving_class_and_archiving_keep_history() {
    let w = GoogleWorld::new(4).await;
    w.connect_teacher().await;
    let art = w.emu.add_course("11Y Art", None, TEACHER, &[]).unwrap();
    sync(&w).await;
    w.emu.remove_student("500000000001", &pupil(0)).unwrap();
    w.emu.enrol_student(&art.id, &pupil(0)).unwrap();
    let moved = sync(&w).await;
    assert_eq!((moved.ended, moved.added), (1, 1), "{moved:?}");
    assert_eq!(
        count(
            &w,
            "SELECT count(*) FROM {s}.enrolments WHERE ended_at IS NOT NULL"
        )
        .await,
        1
    );

    w.emu.set_course_state(&art.id, "ARCHIVED").unwrap();
    sync(&w).await;
    assert_eq!(
        count(&w, "SELECT count(*) FROM {s}.courses WHERE NOT active").await,
        1
    );
    assert_eq!(
        count(&w, "SELECT count(*) FROM {s}.enrolments").await,
        5,
        "rows stay"
    );
}

#[tokio::test]
async fn a_revoked_teacher_is_marked_and_the_others_still_sync() {
    let w = GoogleWorld::new(3).await;
    w.connect_teacher().await;
    let other = "grace.hopper@hillside.sch.uk";
    w.emu.add_user(other, "Grace", "Hopper").unwrap();
    w.emu
        .add_course("Computing", None, other, &[pupil(1)])
        .unwrap();
    connect_signed_in_staff(&w.db, &w.emu, &w.school, other).await;
    sync(&w).await;
    assert_eq!(
        count(&w, "SELECT count(*) FROM {s}.courses WHERE active").await,
        2
    );

    w.emu.revoke_user(TEACHER);
    w.emu.expire_access_tokens();
    let report = sync(&w).await;
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert!(report.errors[0].contains("reconnect needed"));
    assert_eq!(report.courses, 1, "Grace's class still synced");
    assert_eq!(
        count(&w, "SELECT count(*) FROM {s}.courses WHERE active").await,
        2,
        "Ada's class is not retired because her list could not be read"
    );
    assert_eq!(
        count(
            &w,
            "SELECT count(*) FROM {s}.google_credentials WHERE status = 'needs_reconnect'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_sync_through_server_errors_and_quota_answers_completes() {
    let w = GoogleWorld::new(12).await;
    w.connect_teacher().await;
    w.emu.update_settings(|s| s.max_page_size = Some(3));
    w.emu.set_faults(
        "*",
        FaultPlan {
            probabilities: [(FaultKind::Error503, 0.15), (FaultKind::Error429, 0.1)].into(),
            ..FaultPlan::default()
        },
    );
    let report = sync(&w).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(count(&w, "SELECT count(*) FROM {s}.enrolments").await, 12);
}

#[tokio::test]
async fn odd_rosters_are_handled_with_a_warning_not_a_failure() {
    let w = GoogleWorld::new(2).await;
    // A student without an address is kept only by a school that takes in students it cannot
    // show to be its own (by default they are skipped: see the school boundary tests).
    sqlx::query("UPDATE platform.tenants SET outside_domain_students = 'include' WHERE id = $1")
        .bind(w.school.id)
        .execute(&w.db.pool)
        .await
        .unwrap();
    let teacher_staff = w.connect_teacher().await;
    let _ = teacher_staff;
    let teacher_id = w.emu.user(TEACHER).unwrap().id;
    w.emu.set_faults(
        "classroom.courses.students.list",
        FaultPlan {
            respond_next: vec![CannedResponse {
                status: 200,
                body: json!({"students": [
                    {"userId": "s-no-email", "profile": {"id": "s-no-email", "name": {}}},
                    {"userId": "s-dup", "profile": {"id": "s-dup", "emailAddress": "dup@hillside.sch.uk",
                        "name": {"givenName": "Dup", "familyName": "Licate"}}},
                    {"userId": "s-dup", "profile": {"id": "s-dup", "emailAddress": "dup@hillside.sch.uk"}},
                    {"userId": teacher_id, "profile": {"id": teacher_id, "emailAddress": TEACHER}}
                ]}),
            }],
            ..FaultPlan::default()
        },
    );
    w.emu.set_faults(
        "classroom.courses.list",
        FaultPlan {
            respond_next: vec![CannedResponse {
                status: 200,
                // Classroom always names a course's owner; one without could not be shown to
                // be the school's (tested with the school boundary).
                body: json!({"courses": [{"id": "500000000001", "name": "", "courseState": "ACTIVE",
                                          "ownerId": teacher_id}]}),
            }],
            ..FaultPlan::default()
        },
    );
    let report = sync(&w).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        count(&w, "SELECT count(*) FROM {s}.students").await,
        2,
        "no-email kept, duplicate once, teacher left out"
    );
    let name: String = sqlx::query_scalar("SELECT name FROM tenant_hillside.courses")
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(name, "Course 500000000001");
}

#[tokio::test]
async fn folders_are_made_once_shared_correctly_and_found_again_after_a_crash() {
    let w = GoogleWorld::new(5).await;
    w.connect_teacher().await;
    sync(&w).await;

    // Make every folder, then forget the ids, as a run killed between creating folders in Drive
    // and recording them here would leave things.
    let report = provision(&w, &w.school).await;
    assert_eq!(report.portfolio_folders, 5, "recorded");
    let files = w.emu.files_in_drive(SHARED_DRIVE);
    assert_eq!(files.len(), 1 + 1 + 5, "subject, class, five portfolios");
    sqlx::query(
        "UPDATE tenant_hillside.portfolios SET drive_folder_id = NULL, permission_id = NULL",
    )
    .execute(&w.db.pool)
    .await
    .unwrap();
    let again = provision(&w, &w.school).await;
    assert_eq!(again.portfolio_folders, 5, "recorded again…");
    assert_eq!(
        w.emu.files_in_drive(SHARED_DRIVE).len(),
        7,
        "…without a single new folder"
    );

    // Each student can edit their own folder only; the class folder is the teachers'.
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT p.drive_folder_id, s.email FROM tenant_hillside.portfolios p \
         JOIN tenant_hillside.students s ON s.id = p.student_id",
    )
    .fetch_all(&w.db.pool)
    .await
    .unwrap();
    for (folder, email) in &rows {
        assert_eq!(w.emu.access(folder, email), Some(Role::Writer));
        for (other, _) in rows.iter().filter(|(f, _)| f != folder) {
            assert_eq!(
                w.emu.access(other, email),
                None,
                "{email} must not reach another portfolio"
            );
        }
    }
    let class = files
        .iter()
        .find(|f| f.app_properties.contains_key("invigilatorCourse"))
        .unwrap();
    assert!(
        class
            .permissions
            .iter()
            .any(|(who, role)| who == "10x-teachers@hillside.sch.uk" && role == "writer"),
        "{:?}",
        class.permissions
    );
    let named = files
        .iter()
        .any(|f| f.name == "Learner, Pupil0 — portfolio");
    assert!(named, "{files:#?}");
    assert_eq!(w.emu.stats().notification_emails, 0);
}

#[tokio::test]
async fn two_workers_syncing_one_school_make_one_run_and_no_duplicate_folders() {
    let w = GoogleWorld::new(6).await;
    w.connect_teacher().await;
    w.emu.set_faults(
        "*",
        FaultPlan {
            latency_ms: 20,
            ..FaultPlan::default()
        },
    );
    // Two processes: separate Redis connections and clients.
    let (first, second) = (leases(&w), leases(&w));
    let (a, b) = tokio::join!(
        roster::sync_school(&w.db.pool, &w.clients, &first, &w.school, Trigger::Timer),
        roster::sync_school(&w.db.pool, &w.clients, &second, &w.school, Trigger::Timer),
    );
    let ran = [&a, &b].iter().filter(|r| r.is_ok()).count();
    let skipped = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Err(SyncError::AlreadyRunning)))
        .count();
    assert_eq!((ran, skipped), (1, 1));
    assert_eq!(count(&w, "SELECT count(*) FROM {s}.sync_runs").await, 1);

    let (x, y) = tokio::join!(provision(&w, &w.school), provision(&w, &w.school));
    assert!(
        x.errors.is_empty() && y.errors.is_empty(),
        "{:?} {:?}",
        x.errors,
        y.errors
    );
    assert_eq!(
        w.emu.files_in_drive(SHARED_DRIVE).len(),
        1 + 1 + 6,
        "no duplicate folders"
    );
    assert_eq!(
        count(&w, "SELECT count(*) FROM {s}.portfolios WHERE drive_folder_id IS NOT NULL AND permission_id IS NOT NULL").await,
        6
    );
}

#[tokio::test]
async fn the_timer_claims_each_due_school_once_across_processes() {
    let w = GoogleWorld::new(0).await;
    let other = w.db.school("oakfield").await;
    sqlx::query("UPDATE platform.tenants SET next_sync_at = now() - interval '1 minute'")
        .execute(&w.db.pool)
        .await
        .unwrap();
    let (a, b, c) = tokio::join!(
        invigilator::jobs::claim_due_syncs(&w.db.pool),
        invigilator::jobs::claim_due_syncs(&w.db.pool),
        invigilator::jobs::claim_due_syncs(&w.db.pool),
    );
    let mut claimed: Vec<_> = [a.unwrap(), b.unwrap(), c.unwrap()].concat();
    claimed.sort();
    let mut expected = vec![w.school.id, other.id];
    expected.sort();
    assert_eq!(claimed, expected, "each school once");
    assert!(
        invigilator::jobs::claim_due_syncs(&w.db.pool)
            .await
            .unwrap()
            .is_empty(),
        "not due again yet"
    );
}

#[tokio::test]
async fn a_queued_sync_runs_on_a_worker() {
    let w = GoogleWorld::new(3).await;
    w.connect_teacher().await;
    let ctx = services(&w.db, &w.config, &w.clients);
    invigilator::jobs::enqueue_sync(&ctx.queues.roster, w.school.id, Trigger::Manual)
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let workers = tokio::spawn(invigilator::jobs::run_workers(ctx, 2, async {
        let _ = stopped.await;
    }));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while count(&w, "SELECT count(*) FROM {s}.sync_runs").await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never ran the sync"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(count(&w, "SELECT count(*) FROM {s}.enrolments").await, 3);
    let _ = stop.send(());
    tokio::time::timeout(std::time::Duration::from_secs(40), workers)
        .await
        .expect("workers drain and stop")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_class_folder_follows_its_teachers_when_classroom_gives_no_group() {
    const CO_TEACHER: &str = "co.teacher@hillside.sch.uk";
    let w = GoogleWorld::new(2).await;
    w.connect_teacher().await;
    sync(&w).await;
    // As for a course Classroom gives no teacher group: each teacher is given the folder.
    sqlx::query("UPDATE tenant_hillside.courses SET teacher_group_email = NULL")
        .execute(&w.db.pool)
        .await
        .unwrap();
    let first = provision(&w, &w.school).await;
    assert_eq!(
        (first.class_access_granted, first.class_access_removed),
        (1, 0)
    );
    let class_folder: String =
        sqlx::query_scalar("SELECT drive_folder_id FROM tenant_hillside.courses")
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
    assert_eq!(w.emu.access(&class_folder, TEACHER), Some(Role::Writer));

    // A co-teacher joins the class (as a sync records it after their first sign-in).
    let co = add_staff(&w.db, &w.school, CO_TEACHER).await;
    sqlx::query(
        "INSERT INTO tenant_hillside.course_teachers (course_id, staff_id) \
         SELECT id, $1 FROM tenant_hillside.courses",
    )
    .bind(co)
    .execute(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(w.emu.access(&class_folder, CO_TEACHER), None);
    let joined = provision(&w, &w.school).await;
    assert_eq!(joined.class_access_granted, 1);
    assert_eq!(w.emu.access(&class_folder, CO_TEACHER), Some(Role::Writer));

    // Nothing changed: no Drive call at all.
    let calls = |w: &GoogleWorld| {
        w.emu
            .stats()
            .calls
            .iter()
            .filter(|(route, _)| route.starts_with("drive."))
            .flat_map(|(_, by_status)| by_status.values())
            .sum::<u64>()
    };
    let before = calls(&w);
    let unchanged = provision(&w, &w.school).await;
    assert_eq!(
        (
            unchanged.class_access_granted,
            unchanged.class_access_removed
        ),
        (0, 0)
    );
    assert_eq!(calls(&w), before);

    // The co-teacher leaves: their access to the class's portfolios goes with them.
    sqlx::query("DELETE FROM tenant_hillside.course_teachers WHERE staff_id = $1")
        .bind(co)
        .execute(&w.db.pool)
        .await
        .unwrap();
    let left = provision(&w, &w.school).await;
    assert_eq!(left.class_access_removed, 1);
    assert_eq!(w.emu.access(&class_folder, CO_TEACHER), None);
    assert_eq!(w.emu.access(&class_folder, TEACHER), Some(Role::Writer));
    let unshared: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tenant_hillside.audit_log WHERE action = 'class_folder.unshared'",
    )
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(unshared, 1);
}

/// A second school in the same deployment and the same Google: Riverside, whose teacher Bob
/// co-teaches Hillside's 10X Chemistry and owns 9R Physics, which has two Riverside pupils, a
/// Hillside pupil and a personal account.
struct Riverside {
    school: School,
    bob: String,
    own_pupils: Vec<String>,
    outsiders: Vec<String>,
}

const RIVERSIDE_DRIVE: &str = "0ARiverside";

async fn riverside(w: &GoogleWorld) -> Riverside {
    let school = w.db.school("riverside").await;
    w.emu.add_domain("riverside.sch.uk");
    let bob = "bob.teacher@riverside.sch.uk".to_owned();
    let operator = "drive.operator@riverside.sch.uk";
    w.emu.add_user(&bob, "Bob", "Teacher").unwrap();
    w.emu.add_user(operator, "Drive", "Operator").unwrap();
    let own_pupils: Vec<String> = (0..2)
        .map(|i| format!("river{i}@riverside.sch.uk"))
        .collect();
    for p in &own_pupils {
        w.emu.add_user(p, "River", "Pupil").unwrap();
    }
    w.emu
        .add_user("friend@gmail.com", "Personal", "Account")
        .unwrap();
    let outsiders = vec![pupil(0), "friend@gmail.com".to_owned()];
    // Classroom allows a co-teacher from another domain.
    w.emu.add_teacher("500000000001", &bob).unwrap();
    let mut students = own_pupils.clone();
    students.extend(outsiders.iter().cloned());
    w.emu
        .add_course("9R Physics", Some("9R"), &bob, &students)
        .unwrap();
    w.emu.create_shared_drive(
        Some(RIVERSIDE_DRIVE.to_owned()),
        "Riverside Portfolios",
        &[(operator.to_owned(), Role::Organizer)],
    );
    connect_signed_in_staff(&w.db, &w.emu, &school, &bob).await;
    connect_drive_operator(&w.db, &w.emu, &school, operator).await;
    Riverside {
        school,
        bob,
        own_pupils,
        outsiders,
    }
}

async fn school_rows(w: &GoogleWorld, school: &School, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.replace("{s}", &school.schema_name)))
        .fetch_all(&w.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn another_schools_course_and_pupils_never_reach_this_school() {
    let w = GoogleWorld::new(3).await;
    let r = riverside(&w).await;
    let report = roster::sync_school(&w.db.pool, &w.clients, &leases(&w), &r.school, Trigger::Cli)
        .await
        .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);

    // Only Riverside's own course, pupils and teacher.
    assert_eq!(
        school_rows(&w, &r.school, "SELECT name FROM {s}.courses").await,
        ["9R Physics"]
    );
    let mut students = school_rows(
        &w,
        &r.school,
        "SELECT email FROM {s}.students ORDER BY email",
    )
    .await;
    students.sort();
    assert_eq!(students, r.own_pupils);
    let staff = school_rows(&w, &r.school, "SELECT email FROM {s}.staff").await;
    assert!(staff.contains(&r.bob));
    assert!(
        staff.iter().all(|e| e.ends_with("@riverside.sch.uk")),
        "Hillside's teacher is not Riverside staff: {staff:?}"
    );

    // Counted in the sync run; the outside students named by Classroom id only.
    assert_eq!(report.skipped.other_domain_courses, 1);
    let outsider_ids: std::collections::BTreeSet<String> = r
        .outsiders
        .iter()
        .map(|e| w.emu.user(e).unwrap().id)
        .collect();
    assert_eq!(report.skipped.outside_students, outsider_ids);
    let recorded: serde_json::Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT skipped FROM {}.sync_runs",
        r.school.schema_name
    )))
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(recorded["other_domain_courses"], 1);
    assert_eq!(recorded["outside_students"], 2);
    assert_eq!(
        recorded["outside_student_ids"],
        json!(outsider_ids.iter().collect::<Vec<_>>())
    );
    assert!(!recorded.to_string().contains('@'), "ids, never addresses");

    // Riverside's Drive account makes folders for Riverside's pupils only.
    let folders =
        invigilator::portfolio::provision(&w.db.pool, &w.clients, &r.school, RIVERSIDE_DRIVE)
            .await
            .unwrap();
    assert_eq!(folders.portfolio_folders, 2, "{:?}", folders.errors);
    let names: Vec<String> = w
        .emu
        .files_in_drive(RIVERSIDE_DRIVE)
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.contains("Chemistry") && !n.contains("Learner")),
        "nothing of Hillside in Riverside's drive: {names:?}"
    );

    // Hillside's own sync is unaffected: its course, with Bob as a co-teacher of it.
    w.connect_teacher().await;
    let hillside = sync(&w).await;
    assert_eq!(hillside.skipped.other_domain_courses, 0);
    assert_eq!(count(&w, "SELECT count(*) FROM {s}.students").await, 3);

    // A school that takes guests in gets them at its next sync.
    sqlx::query("UPDATE platform.tenants SET outside_domain_students = 'include' WHERE id = $1")
        .bind(r.school.id)
        .execute(&w.db.pool)
        .await
        .unwrap();
    let again = roster::sync_school(&w.db.pool, &w.clients, &leases(&w), &r.school, Trigger::Cli)
        .await
        .unwrap();
    assert!(again.skipped.outside_students.is_empty());
    assert_eq!(
        again.skipped.other_domain_courses, 1,
        "other schools' courses never"
    );
    assert_eq!(
        school_rows(&w, &r.school, "SELECT email FROM {s}.students")
            .await
            .len(),
        4
    );
}

#[tokio::test]
async fn a_course_taken_in_before_the_boundary_is_retired_at_the_next_sync() {
    let w = GoogleWorld::new(2).await;
    let r = riverside(&w).await;
    // As an earlier version did: Hillside's course written into Riverside's schema, taught by
    // Bob.
    let mut tx = invigilator::tenancy::begin_school_tx(&w.db.pool, &r.school)
        .await
        .unwrap();
    let course: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO courses (classroom_id, name, subject_id) \
         SELECT '500000000001', '10X Chemistry', id FROM subjects WHERE name = 'Unsorted' RETURNING id",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    sqlx::query("INSERT INTO course_teachers (course_id, staff_id) SELECT $1, id FROM staff WHERE email = $2")
        .bind(course)
        .bind(&r.bob)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    roster::sync_school(&w.db.pool, &w.clients, &leases(&w), &r.school, Trigger::Cli)
        .await
        .unwrap();
    assert_eq!(
        school_rows(
            &w,
            &r.school,
            "SELECT name FROM {s}.courses WHERE active ORDER BY name"
        )
        .await,
        ["9R Physics"],
        "no folders are made or kept for another school's class"
    );
}

#[tokio::test]
async fn a_shared_drive_saved_before_drives_were_checked_is_checked_before_folders_are_made() {
    let w = GoogleWorld::new(1).await;
    let redis = invigilator::redis_client::lazy_connection(&w.config).unwrap();
    let set_unchecked = |drive: &'static str| {
        let pool = w.db.pool.clone();
        let school = w.school.id;
        async move {
            sqlx::query(
                "UPDATE platform.tenants SET shared_drive_id = $1, shared_drive_checked_at = NULL \
                 WHERE id = $2",
            )
            .bind(drive)
            .bind(school)
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    let verified = || {
        invigilator::portfolio::shared_drive::verified_drive(
            &w.db.pool,
            &redis,
            &w.db.role_prefix,
            &w.clients,
            &w.school,
        )
    };
    // Another school's drive, which this school's operator cannot see: not used.
    w.emu.create_shared_drive(
        Some("0AOtherSchool".into()),
        "Riverside Portfolios",
        &[("operator@riverside.sch.uk".into(), Role::Organizer)],
    );
    set_unchecked("0AOtherSchool").await;
    assert_eq!(verified().await.unwrap(), None);
    // The school's own: checked once, and the check recorded.
    set_unchecked(SHARED_DRIVE).await;
    assert_eq!(verified().await.unwrap().as_deref(), Some(SHARED_DRIVE));
    let (name, checked): (Option<String>, bool) = sqlx::query_as(
        "SELECT shared_drive_name, shared_drive_checked_at IS NOT NULL FROM platform.tenants WHERE id = $1",
    )
    .bind(w.school.id)
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    assert_eq!((name.as_deref(), checked), (Some("Portfolios"), true));
    w.emu.reset_stats();
    assert_eq!(verified().await.unwrap().as_deref(), Some(SHARED_DRIVE));
    assert_eq!(
        w.emu.calls("drive.drives.get"),
        0,
        "checked once, not at every sync"
    );
}

#[tokio::test]
async fn a_sync_places_classes_by_the_rules_and_keeps_a_class_s_own_placement() {
    use invigilator::roster::placement::{self, Override, Placement};
    let w = GoogleWorld::new(1).await;
    w.connect_teacher().await;
    let admin = add_staff(&w.db, &w.school, "head.of.it@hillside.sch.uk").await;
    let mut tx = invigilator::tenancy::begin_school_tx(&w.db.pool, &w.school)
        .await
        .unwrap();
    for (pattern, placement) in [
        ("%Chemistry%", Placement::Subject("Chemistry".into())),
        ("10%", Placement::YearGroup(10)),
    ] {
        placement::add_rule(&mut tx, admin, pattern, &placement)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    sync(&w).await;
    let placed = || async {
        sqlx::query_as::<_, (String, Option<i16>)>(
            "SELECT s.name, c.year_group FROM tenant_hillside.courses c \
             JOIN tenant_hillside.subjects s ON s.id = c.subject_id",
        )
        .fetch_one(&w.db.pool)
        .await
        .unwrap()
    };
    assert_eq!(placed().await, ("Chemistry".to_owned(), Some(10)));

    // The class's own year group survives the next sync; an unchanged class writes nothing.
    let course: uuid::Uuid = sqlx::query_scalar("SELECT id FROM tenant_hillside.courses")
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    let mut tx = invigilator::tenancy::begin_school_tx(&w.db.pool, &w.school)
        .await
        .unwrap();
    let own = Override {
        subject: None,
        year_group: Some(Some(11)),
    };
    placement::set_override(&mut tx, admin, course, &own)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let again = sync(&w).await;
    assert_eq!(placed().await, ("Chemistry".to_owned(), Some(11)));
    assert_eq!(again.rows_written(), 0, "{again:?}");
}
