//! The `google-emulator` binary with a seed file, driven through the admin API over HTTP.

use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use support::*;

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_serves_a_seed_file_and_the_admin_api() {
    let dir = std::env::temp_dir().join(format!("emulator-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seed_path = dir.join("seed.json");
    std::fs::write(
        &seed_path,
        serde_json::to_string_pretty(&school_seed(2)).unwrap(),
    )
    .unwrap();

    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_google-emulator"))
            .args(["--port", "0", "--seed"])
            .arg(&seed_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("Google emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let http = http_client(true);

    // A token for the operator, through the admin API.
    let token: Value = http
        .post(format!("{base}emulator/tokens"))
        .json(&json!({"email": OPERATOR, "scopes": [DRIVE_SCOPE], "client_id": CLIENT_ID}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();

    // More of the world, added at run time.
    let added = http
        .post(format!("{base}emulator/users"))
        .json(&json!({"email": "new.pupil@hillside.sch.uk", "given_name": "New", "family_name": "Pupil"}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 200);
    let enrolled = http
        .post(format!("{base}emulator/courses/100000000001/students"))
        .json(&json!({"email": "new.pupil@hillside.sch.uk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(enrolled.status(), 204);
    let unknown = http
        .post(format!("{base}emulator/courses/100000000001/students"))
        .json(&json!({"email": "nobody@hillside.sch.uk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);

    // A folder and a permission through Google's API, read back through the admin API.
    let folder: Value = http
        .post(format!("{base}drive/v3/files?supportsAllDrives=true"))
        .bearer_auth(&token)
        .json(&json!({"name": "P", "mimeType": FOLDER, "parents": [DRIVE_ID]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let folder_id = folder["id"].as_str().unwrap();
    let shared = http
        .post(format!(
            "{base}drive/v3/files/{folder_id}/permissions?supportsAllDrives=true&sendNotificationEmail=false"
        ))
        .bearer_auth(&token)
        .json(&json!({"type": "user", "role": "writer", "emailAddress": "new.pupil@hillside.sch.uk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(shared.status(), 200);
    let access: Value = http
        .get(format!(
            "{base}emulator/files/{folder_id}/access/new.pupil@hillside.sch.uk"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(access, json!({"role": "writer", "can_edit": true}));
    let files: Value = http
        .get(format!("{base}emulator/shared-drives/{DRIVE_ID}/files"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(files.as_array().unwrap().len(), 1);

    // Faults and statistics.
    let set = http
        .put(format!("{base}emulator/faults/drive.files.get"))
        .json(&json!({"next": ["error503"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 204);
    let faulted = http
        .get(format!(
            "{base}drive/v3/files/{folder_id}?supportsAllDrives=true"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(faulted.status(), 503);
    let body: Value = faulted.json().await.unwrap();
    assert_eq!(body["error"]["errors"][0]["reason"], "backendError");
    let stats: Value = http
        .get(format!("{base}emulator/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["calls"]["drive.files.get"]["503"], 1);
    assert_eq!(stats["notification_emails"], 0);

    let bad_fault = http
        .put(format!("{base}emulator/faults/drive.files.get"))
        .json(&json!({"next": ["meteor_strike"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_fault.status(), 422);
}
