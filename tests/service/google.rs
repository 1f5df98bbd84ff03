//! The Google client layer against the emulator, through the real Google crates, with real
//! PostgreSQL (credential store, folder locks) and Redis (shared rate limit).

use invigilator_test_kit as common;

use std::time::{Duration, Instant};

use common::*;
use google_emulator::{CannedResponse, FaultKind, FaultPlan, Quotas, Role};
use invigilator::google::classroom::CourseState;
use invigilator::google::credentials::{self, CredentialStatus};
use invigilator::google::drive::DriveRole;
use invigilator::google::{ErrorClass, GoogleClients, RetryPolicy};
use invigilator::tenancy;
use serde_json::json;

#[tokio::test]
async fn folders_and_a_students_permission_through_every_drive_operation() {
    let w = GoogleWorld::new(2).await;
    let drive = w.clients.drive(&w.school).await.unwrap();
    assert_eq!(drive.account(), OPERATOR);

    let subject = drive
        .ensure_folder(
            SHARED_DRIVE,
            SHARED_DRIVE,
            "Chemistry",
            "invigilatorSubject",
            "chem",
        )
        .await
        .unwrap();
    let class = drive
        .ensure_folder(
            SHARED_DRIVE,
            &subject.id,
            "10X Chemistry (10X)",
            "invigilatorCourse",
            "500000000001",
        )
        .await
        .unwrap();
    let portfolio = drive
        .ensure_folder(
            SHARED_DRIVE,
            &class.id,
            "Learner, Pupil0 — portfolio",
            "invigilatorStudent",
            "s0",
        )
        .await
        .unwrap();
    // Ensuring again finds the same folder.
    let again = drive
        .ensure_folder(
            SHARED_DRIVE,
            &class.id,
            "Learner, Pupil0 — portfolio",
            "invigilatorStudent",
            "s0",
        )
        .await
        .unwrap();
    assert_eq!(again.id, portfolio.id);
    assert_eq!(w.emu.files_in_drive(SHARED_DRIVE).len(), 3);
    assert_eq!(
        drive.folder(&portfolio.id).await.unwrap().name,
        "Learner, Pupil0 — portfolio"
    );

    let permission = drive
        .ensure_user_permission(&portfolio.id, &pupil(0), DriveRole::Writer)
        .await
        .unwrap();
    assert_eq!(w.emu.access(&portfolio.id, &pupil(0)), Some(Role::Writer));
    drive
        .set_permission_role(&portfolio.id, &permission, DriveRole::Reader)
        .await
        .unwrap();
    assert_eq!(w.emu.access(&portfolio.id, &pupil(0)), Some(Role::Reader));

    let listed = drive.list_permissions(&portfolio.id).await.unwrap();
    let mine = listed
        .iter()
        .find(|p| p.email.as_deref() == Some(pupil(0).as_str()))
        .unwrap();
    assert_eq!(
        (mine.role.clone(), mine.inherited),
        (DriveRole::Reader, false)
    );
    let operator = listed
        .iter()
        .find(|p| p.email.as_deref() == Some(OPERATOR))
        .unwrap();
    assert_eq!(
        (operator.role.clone(), operator.inherited),
        (DriveRole::Organizer, true)
    );

    // Ensuring writer again switches the same permission back; no second one appears.
    let same = drive
        .ensure_user_permission(&portfolio.id, &pupil(0), DriveRole::Writer)
        .await
        .unwrap();
    assert_eq!(same, permission);
    assert_eq!(w.emu.access(&portfolio.id, &pupil(0)), Some(Role::Writer));
    assert_eq!(
        w.emu.stats().notification_emails,
        0,
        "students are never emailed"
    );
}

#[tokio::test]
async fn a_teacher_reads_courses_and_rosters_over_many_pages() {
    let w = GoogleWorld::new(23).await;
    let teacher = w.connect_teacher().await;
    w.emu.update_settings(|s| s.max_page_size = Some(5));
    let classroom = w.clients.classroom(&w.school, teacher).await.unwrap();
    let courses = classroom.list_my_courses().await.unwrap();
    assert_eq!(courses.len(), 1);
    assert_eq!(courses[0].state, CourseState::Active);
    assert_eq!(courses[0].section.as_deref(), Some("10X"));
    assert_eq!(
        courses[0].teacher_group_email.as_deref(),
        Some("10x-teachers@hillside.sch.uk")
    );
    let students = classroom.list_students("500000000001").await.unwrap();
    assert_eq!(students.len(), 23);
    assert_eq!(students[0].email.as_deref(), Some(pupil(0).as_str()));
    assert_eq!(students[0].family_name.as_deref(), Some("Learner"));
    let teachers = classroom.list_teachers("500000000001").await.unwrap();
    assert_eq!(teachers[0].email.as_deref(), Some(TEACHER));
    assert!(w.emu.calls("classroom.courses.students.list") >= 5, "paged");
}

#[tokio::test]
async fn every_course_and_student_is_read_though_classroom_pages_come_up_short() {
    let w = GoogleWorld::new(40).await;
    let teacher = w.connect_teacher().await;
    for i in 0..12 {
        w.emu
            .add_course(&format!("Class {i:02}"), None, TEACHER, &[pupil(i)])
            .unwrap();
    }
    // Classes Classroom does not list to a teacher in ACTIVE: not theirs to sync.
    let provisioned = w.emu.add_course("Not yet", None, TEACHER, &[]).unwrap();
    w.emu
        .set_course_state(&provisioned.id, "PROVISIONED")
        .unwrap();
    w.emu.update_settings(|s| s.max_page_size = Some(3));
    w.emu.reset_stats();
    let classroom = w.clients.classroom(&w.school, teacher).await.unwrap();
    let courses = classroom.list_my_courses().await.unwrap();
    let names: Vec<&str> = courses.iter().map(|c| c.name.as_str()).collect();
    let mut expected: Vec<String> = (0..12).rev().map(|i| format!("Class {i:02}")).collect();
    expected.push("10X Chemistry".to_owned());
    assert_eq!(
        names, expected,
        "all of them, newest first, as Classroom lists"
    );
    let students = classroom.list_students("500000000001").await.unwrap();
    assert_eq!(students.len(), 40);
    // Short pages (some empty) cost calls beyond the ⌈n/3⌉ full pages would need.
    assert!(w.emu.calls("classroom.courses.list") > 5);
    assert!(w.emu.calls("classroom.courses.students.list") > 14);
}

#[tokio::test]
async fn concurrent_ensures_of_one_folder_make_one_folder() {
    let w = GoogleWorld::new(0).await;
    w.emu.set_faults(
        "drive.files.list",
        FaultPlan {
            latency_ms: 20,
            ..FaultPlan::default()
        },
    );
    // More callers than the database pool has connections: no connection is held while Drive
    // is called, so nobody starves.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        // Separate clients, as separate worker processes would have.
        let clients = w.clients.clone();
        let school = w.school.clone();
        tasks.spawn(async move {
            let drive = clients.drive(&school).await.unwrap();
            drive
                .ensure_folder(
                    SHARED_DRIVE,
                    SHARED_DRIVE,
                    "Art",
                    "invigilatorSubject",
                    "art",
                )
                .await
                .unwrap()
                .id
        });
    }
    let ids = tasks.join_all().await;
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    assert_eq!(w.emu.files_in_drive(SHARED_DRIVE).len(), 1);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_shared_between_processes() {
    let w = GoogleWorld::new(0).await;
    let drive = w.clients.drive(&w.school).await.unwrap();
    drive.folder(SHARED_DRIVE).await.unwrap();
    assert_eq!(w.emu.calls("oauth2.token"), 1);

    // Another process uses the token the first stored.
    let other_process = GoogleClients::new(
        &w.config,
        w.db.pool.clone(),
        invigilator::redis_client::lazy_connection(&w.config).unwrap(),
    )
    .unwrap();
    other_process
        .drive(&w.school)
        .await
        .unwrap()
        .folder(SHARED_DRIVE)
        .await
        .unwrap();
    assert_eq!(w.emu.calls("oauth2.token"), 1);

    // Google expires it early: the 401 triggers one refresh and the call succeeds.
    w.emu.expire_access_tokens();
    drive.folder(SHARED_DRIVE).await.unwrap();
    assert_eq!(w.emu.calls("oauth2.token"), 2);
    assert_eq!(w.emu.stats().calls["drive.files.get"].get(&401), Some(&1));
}

#[tokio::test]
async fn a_revoked_grant_needs_reconnecting_and_is_not_retried() {
    let w = GoogleWorld::new(0).await;
    let drive = w.clients.drive(&w.school).await.unwrap();
    drive.folder(SHARED_DRIVE).await.unwrap();
    w.emu.revoke_user(OPERATOR);
    w.emu.expire_access_tokens();

    let err = drive.folder(SHARED_DRIVE).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::NeedsReconnect, "{err}");
    assert!(
        matches!(&err, invigilator::google::GoogleError::NeedsReconnect { account, .. } if account == OPERATOR),
        "{err:?}"
    );
    assert!(
        !err.to_string().contains('@'),
        "no email in the message: {err}"
    );
    let token_calls = w.emu.calls("oauth2.token");

    let mut tx = tenancy::begin_school_tx(&w.db.pool, &w.school)
        .await
        .unwrap();
    let operator = credentials::drive_operators(&mut tx)
        .await
        .unwrap()
        .remove(0);
    tx.commit().await.unwrap();
    assert_eq!(operator.status, CredentialStatus::NeedsReconnect);

    // No retry storm: further attempts fail at once without asking Google.
    let err = drive.folder(SHARED_DRIVE).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::NeedsReconnect);
    let err = w.clients.drive(&w.school).await.err().unwrap();
    assert_eq!(err.class(), ErrorClass::NeedsReconnect);
    assert_eq!(w.emu.calls("oauth2.token"), token_calls);
}

#[tokio::test]
async fn each_injected_fault_becomes_its_class() {
    let w = GoogleWorld::new(1).await;
    // Every attempt must reach the emulator here: no circuit breaker opening half-way.
    let clients = w
        .clients
        .with_circuit_settings(invigilator::google::circuit::CircuitSettings {
            failures_to_open: 1000,
            ..Default::default()
        });
    let drive = clients.drive(&w.school).await.unwrap();
    let always = |kind: FaultKind| FaultPlan {
        probabilities: [(kind, 1.0)].into(),
        ..FaultPlan::default()
    };
    for (kind, class) in [
        (FaultKind::Error503, ErrorClass::Transient),
        (FaultKind::Error500, ErrorClass::Transient),
        (FaultKind::HtmlError, ErrorClass::Transient),
        (FaultKind::MalformedJson, ErrorClass::Transient),
        (FaultKind::Truncated, ErrorClass::Transient),
        (FaultKind::ConnectionReset, ErrorClass::Transient),
        (FaultKind::Error429, ErrorClass::RateLimited),
        (FaultKind::SharingRateLimit, ErrorClass::SharingRateLimited),
    ] {
        w.emu.set_faults("drive.files.get", always(kind));
        let before = w.emu.calls("drive.files.get");
        let err = drive.folder(SHARED_DRIVE).await.unwrap_err();
        assert_eq!(err.class(), class, "{kind:?}: {err}");
        let attempts = w.emu.calls("drive.files.get") - before;
        // The sharing limit needs minutes: it goes back to the caller at once.
        let expected = match kind {
            FaultKind::SharingRateLimit => 1,
            _ => 1 + RetryPolicy::quick().max_retries as u64,
        };
        assert_eq!(attempts, expected, "{kind:?} retried");
    }
    w.emu.clear_faults();

    // A run of faults, then success: the caller sees only the success.
    w.emu.set_faults(
        "drive.files.get",
        FaultPlan {
            next: vec![
                FaultKind::Error503,
                FaultKind::ConnectionReset,
                FaultKind::MalformedJson,
                FaultKind::Error429,
            ],
            ..FaultPlan::default()
        },
    );
    drive.folder(SHARED_DRIVE).await.unwrap();

    // Not found and permanent errors are not retried.
    let before = w.emu.calls("drive.files.get");
    let err = drive.folder("1doesnotexist").await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::NotFound);
    assert_eq!(w.emu.calls("drive.files.get") - before, 1);
    let folder = drive
        .ensure_folder(SHARED_DRIVE, SHARED_DRIVE, "P", "k", "v")
        .await
        .unwrap();
    let id = drive
        .ensure_user_permission(&folder.id, &pupil(0), DriveRole::Writer)
        .await
        .unwrap();
    let err = drive
        .set_permission_role(&folder.id, &id, DriveRole::Other("superUser".into()))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent, "{err}");
}

#[tokio::test]
async fn odd_but_valid_answers_are_kept_not_refused() {
    let w = GoogleWorld::new(1).await;
    let teacher = w.connect_teacher().await;
    let classroom = w.clients.classroom(&w.school, teacher).await.unwrap();
    w.emu.set_faults(
        "classroom.courses.list",
        FaultPlan {
            respond_next: vec![CannedResponse {
                status: 200,
                body: json!({"courses": [
                    {"id": "1", "name": "Future", "courseState": "COURSE_STATE_FROM_THE_FUTURE"},
                    {"id": "2"},
                    {"name": "no id"},
                    {"id": "1", "name": "Future again"}
                ]}),
            }],
            ..FaultPlan::default()
        },
    );
    let courses = classroom.list_my_courses().await.unwrap();
    assert_eq!(
        courses.len(),
        2,
        "no id skipped, duplicate dropped: {courses:?}"
    );
    assert_eq!(
        courses[0].state,
        CourseState::Other("COURSE_STATE_FROM_THE_FUTURE".into())
    );
    assert_eq!(courses[1].name, "", "a missing name stays empty");

    w.emu.set_faults(
        "classroom.courses.students.list",
        FaultPlan {
            respond_next: vec![CannedResponse {
                status: 200,
                body: json!({"students": [
                    {"userId": "7", "profile": {"id": "7", "name": {}}},
                    {"profile": {"id": "8", "emailAddress": "not-an-email"}}
                ]}),
            }],
            ..FaultPlan::default()
        },
    );
    let students = classroom.list_students("500000000001").await.unwrap();
    assert_eq!(students.len(), 2);
    assert_eq!(
        (students[0].email.clone(), students[0].given_name.clone()),
        (None, None)
    );
    assert_eq!(students[1].user_id, "8");
    assert_eq!(students[1].email, None);

    let drive = w.clients.drive(&w.school).await.unwrap();
    w.emu.set_faults(
        "drive.permissions.list",
        FaultPlan {
            respond_next: vec![CannedResponse {
                status: 200,
                body: json!({"permissions": [{"id": "9", "role": "superUser", "type": "user"}]}),
            }],
            ..FaultPlan::default()
        },
    );
    let permissions = drive.list_permissions(SHARED_DRIVE).await.unwrap();
    assert_eq!(permissions[0].role, DriveRole::Other("superUser".into()));
}

#[tokio::test]
async fn a_token_without_the_drive_scope_needs_reconnecting() {
    use invigilator::google::credentials::{Purpose, save_oauth};
    let w = GoogleWorld::new(0).await;
    w.without_the_seeded_operator().await;
    let staff = add_staff(&w.db, &w.school, TEACHER).await;
    let refresh = w
        .emu
        .issue_refresh_token(TEACHER, &["openid", "email"], "invigilator-local")
        .unwrap();
    let mut tx = tenancy::begin_school_tx(&w.db.pool, &w.school)
        .await
        .unwrap();
    save_oauth(
        &mut tx,
        &w.config.token_keys,
        staff,
        Purpose::DriveOperator,
        TEACHER,
        &["openid".into()],
        &secrecy::SecretString::from(refresh),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let drive = w.clients.drive(&w.school).await.unwrap();
    let err = drive.folder(SHARED_DRIVE).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::NeedsReconnect, "{err}");
}

#[tokio::test]
async fn a_service_account_can_be_the_drive_operator() {
    let w = GoogleWorld::new(1).await;
    w.without_the_seeded_operator().await;
    let robot = "drive-robot@hillside-school.iam.gserviceaccount.com";
    w.emu.add_service_account(robot, Some("invigilator-local"));
    let drive_id =
        w.emu
            .create_shared_drive(None, "Robot drive", &[(robot.to_owned(), Role::Organizer)]);
    let key_file = w.emu.service_account_key_file(robot).unwrap().to_string();
    let mut tx = tenancy::begin_school_tx(&w.db.pool, &w.school)
        .await
        .unwrap();
    credentials::save_service_account(
        &mut tx,
        &w.config.token_keys,
        &secrecy::SecretString::from(key_file),
        &[DRIVE_SCOPE.to_owned()],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let drive = w.clients.drive(&w.school).await.unwrap();
    assert_eq!(drive.account(), robot);
    let folder = drive
        .ensure_folder(&drive_id, &drive_id, "Robots", "k", "v")
        .await
        .unwrap();
    drive
        .ensure_user_permission(&folder.id, &pupil(0), DriveRole::Writer)
        .await
        .unwrap();
    assert_eq!(w.emu.access(&folder.id, &pupil(0)), Some(Role::Writer));

    // A key file that is not one is refused with a reason.
    let mut tx = tenancy::begin_school_tx(&w.db.pool, &w.school)
        .await
        .unwrap();
    let err = credentials::save_service_account(
        &mut tx,
        &w.config.token_keys,
        &secrecy::SecretString::from("{\"type\": \"service_account\"}".to_owned()),
        &[],
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("client_email"), "{err}");
}

#[tokio::test]
async fn two_processes_share_one_rate_limit_and_stay_under_the_quota() {
    let w = GoogleWorld::new(0).await;
    // Google allows the operator 10 calls a second; our limit for the school is 8.
    w.emu.set_quotas(Quotas {
        per_user_per_second: Some(10.0),
        per_project_per_second: None,
    });
    // Warm the token outside the measured window (the token endpoint is not rate limited).
    w.clients
        .drive(&w.school)
        .await
        .unwrap()
        .folder(SHARED_DRIVE)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    w.emu.reset_stats();

    let run_for = Duration::from_millis(2500);
    let mut processes = tokio::task::JoinSet::new();
    // One clock for both: the limit is shared, so the window is from the first call anywhere.
    let origin = Instant::now();
    for _ in 0..2 {
        // Each "process" has its own Redis connection and its own clients.
        let redis = invigilator::redis_client::lazy_connection(&w.config).unwrap();
        let clients = GoogleClients::new(&w.config, w.db.pool.clone(), redis.clone())
            .unwrap()
            .with_rate_limit(redis, 8.0, 2)
            .with_retry_policy(RetryPolicy {
                max_retries: 0,
                ..RetryPolicy::quick()
            });
        let school = w.school.clone();
        processes.spawn(async move {
            let drive = clients.drive(&school).await.unwrap();
            let started = Instant::now();
            let mut ok = 0;
            while started.elapsed() < run_for {
                // Several concurrent callers inside each process too.
                let calls =
                    futures::future::join_all((0..4).map(|_| drive.folder(SHARED_DRIVE))).await;
                ok += calls.iter().filter(|c| c.is_ok()).count();
            }
            (ok, origin.elapsed())
        });
    }
    let results = processes.join_all().await;
    let succeeded: usize = results.iter().map(|(ok, _)| ok).sum();
    let elapsed = results
        .iter()
        .map(|(_, t)| t.as_secs_f64())
        .fold(0.0, f64::max);
    let stats = w.emu.stats();
    let calls = &stats.calls["drive.files.get"];
    let refused: u64 = calls
        .iter()
        .filter(|(status, _)| **status != 200)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(refused, 0, "quota answers at steady state: {calls:?}");
    // 8 per second plus the burst of 2: the limit was used, not just respected.
    let rate = succeeded as f64 / elapsed;
    assert!(
        succeeded as f64 <= 8.0 * elapsed + 2.0 && rate >= 6.0,
        "{succeeded} calls in {elapsed:.2} s"
    );
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_not_made_twice() {
    let w = GoogleWorld::new(0).await;
    let drive = w.clients.drive(&w.school).await.unwrap();
    // Drive makes the folder but the answer never arrives; then a reset on the retry's lookup.
    w.emu.set_faults(
        "drive.files.create",
        FaultPlan {
            next: vec![FaultKind::LostResponse],
            ..FaultPlan::default()
        },
    );
    let folder = drive
        .ensure_folder(
            SHARED_DRIVE,
            SHARED_DRIVE,
            "Music",
            "invigilatorSubject",
            "music",
        )
        .await
        .unwrap();
    let files = w.emu.files_in_drive(SHARED_DRIVE);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].id, folder.id);
}

#[tokio::test]
async fn a_withdrawn_scope_is_recorded_so_nothing_retries_it() {
    let w = GoogleWorld::new(0).await;
    let teacher = w.connect_teacher().await;
    // The teacher's token has no Classroom scope after all (unticked at consent).
    w.emu.set_faults(
        "classroom.courses.list",
        FaultPlan {
            respond_next: vec![CannedResponse {
                status: 403,
                body: json!({"error": {"code": 403, "message": "Request had insufficient authentication scopes.",
                    "status": "PERMISSION_DENIED",
                    "details": [{"reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}]}}),
            }],
            ..FaultPlan::default()
        },
    );
    let classroom = w.clients.classroom(&w.school, teacher).await.unwrap();
    let err = classroom.list_my_courses().await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::NeedsReconnect, "{err}");
    assert!(
        matches!(&err, invigilator::google::GoogleError::NeedsReconnect { account, .. } if account == TEACHER),
        "{err:?}"
    );
    let mut tx = tenancy::begin_school_tx(&w.db.pool, &w.school)
        .await
        .unwrap();
    let stored = credentials::sign_in_credential(&mut tx, teacher)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, CredentialStatus::NeedsReconnect);
    tx.commit().await.unwrap();
    let err = w.clients.classroom(&w.school, teacher).await.err().unwrap();
    assert_eq!(err.class(), ErrorClass::NeedsReconnect);
}

#[tokio::test]
async fn a_rate_that_does_not_divide_a_second_is_still_kept() {
    let w = GoogleWorld::new(0).await;
    w.emu.set_quotas(Quotas {
        per_user_per_second: Some(16.0),
        per_project_per_second: None,
    });
    w.clients
        .drive(&w.school)
        .await
        .unwrap()
        .folder(SHARED_DRIVE)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    w.emu.reset_stats();
    // 15 a second is an interval of 66.67 ms: fractional milliseconds must not leak calls.
    let redis = invigilator::redis_client::lazy_connection(&w.config).unwrap();
    let clients = w
        .clients
        .with_rate_limit(redis, 15.0, 1)
        .with_retry_policy(RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::quick()
        });
    let drive = clients.drive(&w.school).await.unwrap();
    let started = Instant::now();
    let mut ok = 0;
    while started.elapsed() < Duration::from_secs(2) {
        let calls = futures::future::join_all((0..8).map(|_| drive.folder(SHARED_DRIVE))).await;
        ok += calls.iter().filter(|c| c.is_ok()).count();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let calls = &w.emu.stats().calls["drive.files.get"];
    let refused: u64 = calls
        .iter()
        .filter(|(s, _)| **s != 200)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(refused, 0, "{calls:?}");
    assert!(
        ok as f64 <= 15.0 * elapsed + 1.0,
        "{ok} calls in {elapsed:.2} s"
    );
}
