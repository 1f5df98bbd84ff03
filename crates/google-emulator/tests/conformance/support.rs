//! A seeded emulator and hubs from the real Google crates pointed at it.
#![allow(dead_code)]

use google_classroom1::Classroom;
use google_drive3::DriveHub;
use google_emulator::seed::{SeedClient, SeedCourse, SeedMember, SeedSharedDrive, SeedUser};
use google_emulator::{RunningEmulator, Seed};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub const DOMAIN: &str = "hillside.sch.uk";
pub const CLIENT_ID: &str = "invigilator-test";
pub const CLIENT_SECRET: &str = "test-secret";
pub const TEACHER: &str = "ada.lovelace@hillside.sch.uk";
pub const OPERATOR: &str = "drive.operator@hillside.sch.uk";
pub const DRIVE_ID: &str = "0APortfoliosDrive";
pub const FOLDER: &str = "application/vnd.google-apps.folder";
pub const DRIVE_SCOPE: &str = "https://www.googleapis.com/auth/drive";
pub const TEACHER_SCOPES: &[&str] = &[
    "openid",
    "email",
    "profile",
    "https://www.googleapis.com/auth/classroom.courses.readonly",
    "https://www.googleapis.com/auth/classroom.rosters.readonly",
    "https://www.googleapis.com/auth/classroom.profile.emails",
];

pub fn student(i: usize) -> String {
    format!("student{i:03}@{DOMAIN}")
}

fn user(email: &str, given: &str, family: &str) -> SeedUser {
    SeedUser::person(email, given, family)
}

/// A school with one teacher, `students` students split over two classes, and a shared drive
/// whose only member is the Drive operator (organizer).
pub fn school_seed(students: usize) -> Seed {
    let mut users = vec![
        user(TEACHER, "Ada", "Lovelace"),
        user(OPERATOR, "Drive", "Operator"),
        user("grace.hopper@hillside.sch.uk", "Grace", "Hopper"),
    ];
    users.extend((0..students).map(|i| user(&student(i), &format!("Student{i}"), "Pupil")));
    let half = students / 2;
    Seed {
        clients: vec![SeedClient {
            client_id: CLIENT_ID.to_owned(),
            client_secret: CLIENT_SECRET.to_owned(),
            redirect_uris: vec!["http://localhost:8080/auth/callback".to_owned()],
        }],
        domains: vec![DOMAIN.to_owned()],
        users,
        service_accounts: vec![],
        courses: vec![
            SeedCourse {
                id: Some("100000000001".to_owned()),
                name: "10X Chemistry".to_owned(),
                section: Some("10X".to_owned()),
                owner: TEACHER.to_owned(),
                teachers: vec![],
                students: (0..half).map(student).collect(),
                state: None,
                teacher_group_email: Some("10x-chemistry-teachers@hillside.sch.uk".to_owned()),
            },
            SeedCourse {
                id: Some("100000000002".to_owned()),
                name: "11Y Art".to_owned(),
                section: None,
                owner: TEACHER.to_owned(),
                teachers: vec!["grace.hopper@hillside.sch.uk".to_owned()],
                students: (half..students).map(student).collect(),
                state: None,
                teacher_group_email: None,
            },
            SeedCourse {
                id: Some("100000000003".to_owned()),
                name: "Old Latin".to_owned(),
                section: None,
                owner: TEACHER.to_owned(),
                teachers: vec![],
                students: vec![],
                state: Some("ARCHIVED".to_owned()),
                teacher_group_email: None,
            },
        ],
        shared_drives: vec![SeedSharedDrive {
            id: Some(DRIVE_ID.to_owned()),
            name: "Portfolios".to_owned(),
            members: vec![SeedMember {
                email: OPERATOR.to_owned(),
                role: "organizer".to_owned(),
            }],
        }],
        quotas: None,
    }
}

pub async fn emulator(students: usize) -> RunningEmulator {
    google_emulator::start(&school_seed(students))
        .await
        .unwrap()
}

type Connector = HttpConnector;

fn client() -> Client<Connector, google_drive3::common::Body> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// A Drive hub from `google-drive3` talking to the emulator with `token`.
pub fn drive(emu: &RunningEmulator, token: &str) -> DriveHub<Connector> {
    let mut hub = DriveHub::new(client(), token.to_owned());
    hub.base_url(format!("{}drive/v3/", emu.url()));
    hub.root_url(emu.url());
    hub
}

/// A Classroom hub from `google-classroom1` talking to the emulator with `token`.
pub fn classroom(emu: &RunningEmulator, token: &str) -> Classroom<Connector> {
    let mut hub = Classroom::new(client(), token.to_owned());
    hub.base_url(emu.url());
    hub.root_url(emu.url());
    hub
}

pub fn operator_token(emu: &RunningEmulator) -> String {
    emu.issue_access_token(OPERATOR, &[DRIVE_SCOPE], CLIENT_ID)
        .unwrap()
}

pub fn teacher_token(emu: &RunningEmulator) -> String {
    emu.issue_access_token(TEACHER, TEACHER_SCOPES, CLIENT_ID)
        .unwrap()
}

/// The JSON error body of a failed call made through a Google crate.
pub fn error_body(e: &google_drive3::Error) -> serde_json::Value {
    match e {
        google_drive3::Error::BadRequest(v) => v.clone(),
        other => panic!("expected a JSON error from Google, got {other:?}"),
    }
}

pub fn reason(e: &google_drive3::Error) -> String {
    error_body(e)["error"]["errors"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

pub fn code(e: &google_drive3::Error) -> u64 {
    error_body(e)["error"]["code"].as_u64().unwrap_or_default()
}

/// An HTTP client for calls the Google crates do not cover. Installs rustls's ring provider
/// first: in a workspace build reqwest's TLS is compiled in without a default provider.
pub fn http_client(follow_redirects: bool) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let policy = if follow_redirects {
        reqwest::redirect::Policy::default()
    } else {
        reqwest::redirect::Policy::none()
    };
    reqwest::Client::builder().redirect(policy).build().unwrap()
}

/// The names of every course `token` lists in these states (all pages), in Classroom's order.
pub async fn course_names(emu: &RunningEmulator, token: &str, states: &[&str]) -> Vec<String> {
    let hub = classroom(emu, token);
    let mut names = Vec::new();
    let mut page_token: Option<String> = None;
    loop {
        let mut call = hub.courses().list();
        for state in states {
            call = call.add_course_states(state);
        }
        if let Some(t) = &page_token {
            call = call.page_token(t);
        }
        let (_, page) = call.doit().await.unwrap();
        names.extend(
            page.courses
                .unwrap_or_default()
                .into_iter()
                .map(|c| c.name.unwrap()),
        );
        page_token = page.next_page_token;
        if page_token.is_none() {
            return names;
        }
    }
}

/// The JSON error body of a failed Classroom call.
pub fn classroom_error(e: &google_classroom1::Error) -> serde_json::Value {
    match e {
        google_classroom1::Error::BadRequest(v) => v.clone(),
        other => panic!("expected a JSON error, got {other:?}"),
    }
}
