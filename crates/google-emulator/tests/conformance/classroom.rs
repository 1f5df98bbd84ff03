//! Classroom v1 conformance through the real `google-classroom1` crate.

use crate::support;

use support::*;

fn classroom_error_code(e: &google_classroom1::Error) -> u64 {
    match e {
        google_classroom1::Error::BadRequest(v) => v["error"]["code"].as_u64().unwrap_or_default(),
        other => panic!("expected a JSON error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_teacher_pages_through_courses_and_rosters() {
    let emu = emulator(45).await;
    let hub = classroom(&emu, &teacher_token(&emu));

    // Active courses taught by "me", two per page.
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut call = hub
            .courses()
            .list()
            .teacher_id("me")
            .add_course_states("ACTIVE")
            .page_size(1);
        if let Some(t) = &token {
            call = call.page_token(t);
        }
        let (_, page) = call.doit().await.unwrap();
        for c in page.courses.unwrap_or_default() {
            assert_eq!(c.course_state.as_deref(), Some("ACTIVE"));
            assert!(c.owner_id.is_some() && c.creation_time.is_some());
            names.push(c.name.unwrap());
        }
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    // Newest first, as Classroom documents.
    assert_eq!(names, ["11Y Art", "10X Chemistry"]);

    let (_, course) = hub.courses().get("100000000001").doit().await.unwrap();
    assert_eq!(course.section.as_deref(), Some("10X"));
    assert_eq!(
        course.teacher_group_email.as_deref(),
        Some("10x-chemistry-teachers@hillside.sch.uk")
    );

    // 22 students in 10X: default page of 30, then pages of 10.
    let mut emails = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut call = hub.courses().students_list("100000000001").page_size(10);
        if let Some(t) = &token {
            call = call.page_token(t);
        }
        let (_, page) = call.doit().await.unwrap();
        for s in page.students.unwrap_or_default() {
            let profile = s.profile.unwrap();
            assert_eq!(s.user_id, profile.id);
            assert!(profile.name.unwrap().full_name.unwrap().ends_with("Pupil"));
            emails.push(profile.email_address.unwrap());
        }
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(emails, (0..22).map(student).collect::<Vec<_>>());

    let mut teachers = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut call = hub.courses().teachers_list("100000000002");
        if let Some(t) = &token {
            call = call.page_token(t);
        }
        let (_, page) = call.doit().await.unwrap();
        teachers.extend(
            page.teachers
                .unwrap_or_default()
                .into_iter()
                .map(|t| t.profile.unwrap().email_address.unwrap()),
        );
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(teachers, [TEACHER, "grace.hopper@hillside.sch.uk"]);

    let (_, me) = hub.user_profiles().get("me").doit().await.unwrap();
    assert_eq!(me.email_address.as_deref(), Some(TEACHER));
    assert_eq!(me.id, Some(emu.user(TEACHER).unwrap().id));
}

#[tokio::test]
async fn archived_courses_and_other_peoples_classes() {
    let emu = emulator(4).await;
    let hub = classroom(&emu, &teacher_token(&emu));
    assert_eq!(
        course_names(&emu, &teacher_token(&emu), &[]).await,
        ["Old Latin", "11Y Art", "10X Chemistry"],
        "no state filter: archived too"
    );
    let (_, archived) = hub
        .courses()
        .list()
        .teacher_id(TEACHER)
        .add_course_states("ARCHIVED")
        .doit()
        .await
        .unwrap();
    assert_eq!(
        archived.courses.unwrap()[0].name.as_deref(),
        Some("Old Latin")
    );

    // A student cannot read the roster of a class they are not in.
    let outsider = emu
        .issue_access_token(&student(0), TEACHER_SCOPES, CLIENT_ID)
        .unwrap();
    let hub = classroom(&emu, &outsider);
    let err = hub
        .courses()
        .students_list("100000000002")
        .doit()
        .await
        .unwrap_err();
    assert_eq!(classroom_error_code(&err), 403);
    let err = hub.courses().get("999").doit().await.unwrap_err();
    assert_eq!(classroom_error_code(&err), 404);
    let (_, none) = hub.courses().list().teacher_id("me").doit().await.unwrap();
    assert!(
        none.courses.is_none(),
        "an empty list omits the field, as Google does"
    );
}

#[tokio::test]
async fn emails_need_the_profile_emails_scope() {
    let emu = emulator(2).await;
    let without = emu
        .issue_access_token(
            TEACHER,
            &["https://www.googleapis.com/auth/classroom.rosters.readonly"],
            CLIENT_ID,
        )
        .unwrap();
    let hub = classroom(&emu, &without);
    let (_, page) = hub
        .courses()
        .students_list("100000000001")
        .doit()
        .await
        .unwrap();
    let profile = page.students.unwrap()[0].profile.clone().unwrap();
    assert!(profile.email_address.is_none());
    assert!(profile.name.is_some());
    // No courses scope at all: 403.
    let err = hub.courses().list().doit().await.unwrap_err();
    assert_eq!(classroom_error_code(&err), 403);
}

#[tokio::test]
async fn roster_changes_show_on_the_next_call() {
    let emu = emulator(4).await;
    let hub = classroom(&emu, &teacher_token(&emu));
    emu.remove_student("100000000001", &student(0)).unwrap();
    emu.enrol_student("100000000002", &student(0)).unwrap();
    emu.set_course_state("100000000001", "ARCHIVED").unwrap();
    let (_, chemistry) = hub
        .courses()
        .students_list("100000000001")
        .doit()
        .await
        .unwrap();
    assert_eq!(chemistry.students.unwrap().len(), 1);
    let (_, art) = hub
        .courses()
        .students_list("100000000002")
        .doit()
        .await
        .unwrap();
    assert_eq!(art.students.unwrap().len(), 3);
    assert_eq!(
        course_names(&emu, &teacher_token(&emu), &["ACTIVE"]).await,
        ["11Y Art"]
    );
}

#[tokio::test]
async fn courses_list_and_profiles_refuse_as_classroom_documents() {
    let emu = emulator(2).await;
    let hub = classroom(&emu, &teacher_token(&emu));
    let err = hub
        .courses()
        .list()
        .teacher_id("me")
        .student_id(&student(0))
        .doit()
        .await
        .unwrap_err();
    assert_eq!(classroom_error(&err)["error"]["status"], "INVALID_ARGUMENT");
    for unknown in ["nobody@hillside.sch.uk", "123456789"] {
        let err = hub
            .courses()
            .list()
            .teacher_id(unknown)
            .doit()
            .await
            .unwrap_err();
        assert_eq!(classroom_error_code(&err), 404, "{unknown}");
        let err = hub
            .courses()
            .list()
            .student_id(unknown)
            .doit()
            .await
            .unwrap_err();
        assert_eq!(classroom_error(&err)["error"]["status"], "NOT_FOUND");
    }
    // An unknown profile is PERMISSION_DENIED: Classroom does not say who exists.
    let err = hub
        .user_profiles()
        .get("nobody@hillside.sch.uk")
        .doit()
        .await
        .unwrap_err();
    assert_eq!(classroom_error_code(&err), 403);
    assert_eq!(
        classroom_error(&err)["error"]["status"],
        "PERMISSION_DENIED"
    );
    // A page size above the maximum is reduced, not refused.
    hub.courses()
        .list()
        .page_size(100_000)
        .doit()
        .await
        .unwrap();
}

#[tokio::test]
async fn provisioned_declined_and_suspended_courses_are_seen_by_few() {
    let emu = emulator(2).await;
    emu.apply_seed(&google_emulator::Seed {
        users: vec![google_emulator::seed::SeedUser {
            domain_admin: true,
            ..google_emulator::seed::SeedUser::person("it@hillside.sch.uk", "School", "IT")
        }],
        ..google_emulator::Seed::default()
    })
    .unwrap();
    for (name, state) in [
        ("Provisioned", "PROVISIONED"),
        ("Declined", "DECLINED"),
        ("Suspended", "SUSPENDED"),
    ] {
        let course = emu.add_course(name, None, TEACHER, &[student(0)]).unwrap();
        emu.add_teacher(&course.id, "grace.hopper@hillside.sch.uk")
            .unwrap();
        emu.set_course_state(&course.id, state).unwrap();
    }
    let token = |email: &str| {
        emu.issue_access_token(email, TEACHER_SCOPES, CLIENT_ID)
            .unwrap()
    };
    let states = ["PROVISIONED", "DECLINED", "SUSPENDED"];
    assert_eq!(
        course_names(&emu, &token(TEACHER), &states).await,
        ["Suspended", "Declined", "Provisioned"],
        "the owner sees all three, newest first"
    );
    assert_eq!(
        course_names(&emu, &token("it@hillside.sch.uk"), &states).await,
        ["Declined", "Provisioned"],
        "a domain administrator, but not a suspended course"
    );
    for outsider in ["grace.hopper@hillside.sch.uk".to_owned(), student(0)] {
        assert!(
            course_names(&emu, &token(&outsider), &states)
                .await
                .is_empty(),
            "{outsider}: a co-teacher or a student sees none of them"
        );
    }
}
