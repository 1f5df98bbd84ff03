//! The emulator against Google's discovery documents (`../shared/google-discovery/`): every path
//! it serves, every parameter it reads and every field it sends must exist in Google's own
//! description of Drive v3 and Classroom v1.

use crate::support;

use std::path::PathBuf;

use axum::http::Method;
use google_emulator::server::route_id;
use serde_json::Value;
use support::*;

fn discovery(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/google-discovery")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "Google's discovery document {} is needed: {e}",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

/// `files/{fileId}` and `/drive/v3/files/{file_id}` both become `files/{}`.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut in_brace = false;
    for c in path.trim_start_matches('/').chars() {
        match c {
            '{' => {
                in_brace = true;
                out.push_str("{}");
            }
            '}' => in_brace = false,
            _ if !in_brace => out.push(c),
            _ => {}
        }
    }
    out
}

fn method<'a>(doc: &'a Value, dotted: &str) -> &'a Value {
    // "drive.permissions.update" → resources.permissions.methods.update;
    // "classroom.courses.students.list" → resources.courses.resources.students.methods.list
    let parts: Vec<&str> = dotted.split('.').skip(1).collect();
    let (name, resources) = parts.split_last().unwrap();
    let mut node = doc;
    for r in resources {
        node = &node["resources"][*r];
    }
    let m = &node["methods"][*name];
    assert!(m.is_object(), "{dotted} is not in the discovery document");
    m
}

/// Our routes: (method, axum path), each checked against Google's path for the same method id.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/courses"),
    ("GET", "/v1/courses/{id}"),
    ("GET", "/v1/courses/{course_id}/students"),
    ("GET", "/v1/courses/{course_id}/teachers"),
    ("GET", "/v1/userProfiles/{user_id}"),
    ("POST", "/upload/drive/v3/files"),
    ("GET", "/drive/v3/files"),
    ("GET", "/drive/v3/files/{file_id}"),
    ("GET", "/drive/v3/drives/{drive_id}"),
    ("PATCH", "/drive/v3/files/{file_id}"),
    ("PATCH", "/upload/drive/v3/files/{file_id}"),
    ("DELETE", "/drive/v3/files/{file_id}"),
    ("POST", "/drive/v3/files/{file_id}/permissions"),
    ("GET", "/drive/v3/files/{file_id}/permissions"),
    (
        "GET",
        "/drive/v3/files/{file_id}/permissions/{permission_id}",
    ),
    (
        "PATCH",
        "/drive/v3/files/{file_id}/permissions/{permission_id}",
    ),
    (
        "DELETE",
        "/drive/v3/files/{file_id}/permissions/{permission_id}",
    ),
];

#[test]
fn every_route_matches_googles_path_and_verb() {
    let drive = discovery("drive.v3.json");
    let classroom = discovery("classroom.v1.json");
    for (verb, path) in ROUTES {
        let id = route_id(&Method::from_bytes(verb.as_bytes()).unwrap(), path)
            .unwrap_or_else(|| panic!("{verb} {path} has no method id"));
        let (doc, service_path) = if id.starts_with("drive.") {
            (&drive, drive["servicePath"].as_str().unwrap())
        } else {
            (&classroom, classroom["servicePath"].as_str().unwrap())
        };
        let m = method(doc, id);
        assert_eq!(m["httpMethod"], *verb, "{id}");
        let google_paths = [
            Some(format!("{service_path}{}", m["path"].as_str().unwrap())),
            m["mediaUpload"]["protocols"]["simple"]["path"]
                .as_str()
                .map(str::to_owned),
        ];
        assert!(
            google_paths
                .iter()
                .flatten()
                .any(|p| shape(p) == shape(path)),
            "{id}: we serve {path}, Google has {google_paths:?}"
        );
    }
}

#[test]
fn every_parameter_we_read_is_googles() {
    let drive = discovery("drive.v3.json");
    let classroom = discovery("classroom.v1.json");
    let read: &[(&str, &[&str])] = &[
        (
            "drive.files.create",
            &[
                "supportsAllDrives",
                "supportsTeamDrives",
                "uploadType",
                "fields",
            ],
        ),
        ("drive.files.get", &["supportsAllDrives", "fields"]),
        ("drive.drives.get", &["fields"]),
        (
            "drive.files.list",
            &[
                "q",
                "corpora",
                "driveId",
                "includeItemsFromAllDrives",
                "includeTeamDriveItems",
                "supportsAllDrives",
                "pageSize",
                "pageToken",
                "orderBy",
                "fields",
            ],
        ),
        (
            "drive.files.update",
            &["supportsAllDrives", "addParents", "removeParents", "fields"],
        ),
        ("drive.files.delete", &["supportsAllDrives"]),
        (
            "drive.permissions.create",
            &["supportsAllDrives", "sendNotificationEmail", "fields"],
        ),
        (
            "drive.permissions.list",
            &["supportsAllDrives", "pageSize", "pageToken", "fields"],
        ),
        ("drive.permissions.get", &["supportsAllDrives", "fields"]),
        ("drive.permissions.update", &["supportsAllDrives", "fields"]),
        ("drive.permissions.delete", &["supportsAllDrives"]),
        (
            "classroom.courses.list",
            &[
                "teacherId",
                "studentId",
                "courseStates",
                "pageSize",
                "pageToken",
            ],
        ),
        (
            "classroom.courses.students.list",
            &["pageSize", "pageToken"],
        ),
        (
            "classroom.courses.teachers.list",
            &["pageSize", "pageToken"],
        ),
    ];
    for (id, params) in read {
        let doc = if id.starts_with("drive.") {
            &drive
        } else {
            &classroom
        };
        let m = method(doc, id);
        for p in *params {
            assert!(
                m["parameters"].get(*p).is_some() || doc["parameters"].get(*p).is_some(),
                "{id} has no parameter {p}"
            );
        }
    }
}

/// Every key in `value` is a property of `schema` (following `$ref` and `items`).
fn assert_fields(doc: &Value, schema: &str, value: &Value, at: &str) {
    let properties = &doc["schemas"][schema]["properties"];
    assert!(properties.is_object(), "no schema {schema}");
    check_object(doc, properties, value, at);
}

fn check_object(doc: &Value, properties: &Value, value: &Value, at: &str) {
    let Some(object) = value.as_object() else {
        return;
    };
    for (key, v) in object {
        let property = properties
            .get(key)
            .unwrap_or_else(|| panic!("{at}.{key} is not a field Google sends"));
        check_value(doc, property, v, &format!("{at}.{key}"));
    }
}

fn check_value(doc: &Value, property: &Value, value: &Value, at: &str) {
    if let Some(r) = property["$ref"].as_str() {
        assert_fields(doc, r, value, at);
    } else if let Some(props) = property.get("properties") {
        check_object(doc, props, value, at);
    } else if let (Some(items), Some(array)) = (property.get("items"), value.as_array()) {
        for v in array {
            check_value(doc, items, v, at);
        }
    }
}

#[tokio::test]
async fn every_field_we_send_is_googles() {
    let drive_doc = discovery("drive.v3.json");
    let classroom_doc = discovery("classroom.v1.json");
    let emu = emulator(2).await;
    let http = http_client(true);
    let get = |url: String, token: String| {
        let http = http.clone();
        async move {
            let response = http.get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let operator = operator_token(&emu);
    let created: Value = http
        .post(format!(
            "{}drive/v3/files?supportsAllDrives=true&fields=*",
            emu.url()
        ))
        .bearer_auth(&operator)
        .json(
            &serde_json::json!({"name": "F", "mimeType": FOLDER, "parents": [DRIVE_ID],
                                  "appProperties": {"k": "v"}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_fields(&drive_doc, "File", &created, "File");
    let id = created["id"].as_str().unwrap();
    let permission: Value = http
        .post(format!(
            "{}drive/v3/files/{id}/permissions?supportsAllDrives=true&sendNotificationEmail=false&fields=*",
            emu.url()
        ))
        .bearer_auth(&operator)
        .json(&serde_json::json!({"type": "user", "role": "writer", "emailAddress": student(0)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_fields(&drive_doc, "Permission", &permission, "Permission");
    let list = get(
        format!(
            "{}drive/v3/files/{id}/permissions?supportsAllDrives=true&fields=*",
            emu.url()
        ),
        operator.clone(),
    )
    .await;
    assert_fields(&drive_doc, "PermissionList", &list, "PermissionList");
    let files = get(
        format!(
            "{}drive/v3/files?corpora=drive&driveId={DRIVE_ID}&includeItemsFromAllDrives=true&supportsAllDrives=true&fields=*",
            emu.url()
        ),
        operator.clone(),
    )
    .await;
    assert_fields(&drive_doc, "FileList", &files, "FileList");
    let shared_drive = get(
        format!("{}drive/v3/drives/{DRIVE_ID}?fields=*", emu.url()),
        operator.clone(),
    )
    .await;
    assert_fields(&drive_doc, "Drive", &shared_drive, "Drive");
    assert_eq!(shared_drive["capabilities"]["canManageMembers"], true);

    let teacher = teacher_token(&emu);
    let courses = get(format!("{}v1/courses", emu.url()), teacher.clone()).await;
    assert_fields(
        &classroom_doc,
        "ListCoursesResponse",
        &courses,
        "ListCoursesResponse",
    );
    let students = get(
        format!("{}v1/courses/100000000001/students", emu.url()),
        teacher.clone(),
    )
    .await;
    assert_fields(
        &classroom_doc,
        "ListStudentsResponse",
        &students,
        "ListStudentsResponse",
    );
    let teachers = get(
        format!("{}v1/courses/100000000002/teachers", emu.url()),
        teacher.clone(),
    )
    .await;
    assert_fields(
        &classroom_doc,
        "ListTeachersResponse",
        &teachers,
        "ListTeachersResponse",
    );
    let me = get(format!("{}v1/userProfiles/me", emu.url()), teacher).await;
    assert_fields(&classroom_doc, "UserProfile", &me, "UserProfile");
}

#[test]
fn the_fields_refused_as_not_writable_are_those_drive_marks_output_only() {
    let doc = discovery("drive.v3.json");
    let properties = doc["schemas"]["File"]["properties"].as_object().unwrap();
    let mut output_only: Vec<&str> = properties
        .iter()
        .filter(|(_, p)| {
            p["description"]
                .as_str()
                .is_some_and(|d| d.contains("Output only"))
        })
        .map(|(name, _)| name.as_str())
        .collect();
    output_only.sort_unstable();
    let mut refused = google_emulator::drive::metadata::OUTPUT_ONLY.to_vec();
    refused.sort_unstable();
    assert_eq!(refused, output_only);
}
