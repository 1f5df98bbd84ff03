//! How many calls the emulator answers, so benchmarks of Invigilator know it is not their limit.
//!
//! 1,200 student folders in 40 class folders; then, from 64 concurrent clients through the real
//! `google-drive3` crate: `permissions.update` (the lock call) on every folder, twice, and
//! `files.list` by parent and appProperties (the idempotent folder lookup). No quota, no latency.
//! Prints a table and a final JSON line. `cargo bench -p google-emulator --bench throughput`.
#![allow(clippy::unwrap_used)] // a test stops at the first surprise

use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use google_drive3::DriveHub;
use google_drive3::api::{File, Permission};
use google_emulator::seed::{SeedClient, SeedMember, SeedSharedDrive, SeedUser};
use google_emulator::{Role, Seed};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;

const CLASSES: usize = 40;
const PER_CLASS: usize = 30;
const CONCURRENCY: usize = 64;
const FOLDER: &str = "application/vnd.google-apps.folder";
const DRIVE: &str = "0ABench";

type Hub = DriveHub<HttpConnector>;

fn hub(base: &str, token: &str) -> Hub {
    let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut hub = DriveHub::new(client, token.to_owned());
    hub.base_url(format!("{base}drive/v3/"));
    hub.root_url(base.to_owned());
    hub
}

fn student(i: usize) -> String {
    format!("s{i:05}@bench.sch.uk")
}

async fn folder(hub: &Hub, name: String, parent: &str, key: usize) -> String {
    let file = File {
        name: Some(name),
        mime_type: Some(FOLDER.into()),
        parents: Some(vec![parent.to_owned()]),
        app_properties: Some([("invigilatorStudent".to_owned(), key.to_string())].into()),
        ..File::default()
    };
    let (_, f) = hub
        .files()
        .create(file)
        .supports_all_drives(true)
        .param("fields", "id")
        .upload(Cursor::new(Vec::<u8>::new()), FOLDER.parse().unwrap())
        .await
        .unwrap();
    f.id.unwrap()
}

/// Runs `calls` with at most CONCURRENCY in flight; returns total time and sorted latencies.
async fn run<F, Fut>(n: usize, call: F) -> (Duration, Vec<Duration>)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let gate = Arc::new(Semaphore::new(CONCURRENCY));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let call = call.clone();
        tasks.spawn(async move {
            let t = Instant::now();
            call(i).await;
            drop(permit);
            t.elapsed()
        });
    }
    let mut latencies = tasks.join_all().await;
    latencies.sort();
    (started.elapsed(), latencies)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let students = CLASSES * PER_CLASS;
    let mut users = vec![SeedUser {
        id: None,
        email: "ops@bench.sch.uk".into(),
        given_name: "Ops".into(),
        family_name: "Bench".into(),
        photo_url: None,
        email_verified: true,
        domain_admin: false,
    }];
    users.extend((0..students).map(|i| SeedUser {
        id: None,
        email: student(i),
        given_name: format!("S{i}"),
        family_name: "Bench".into(),
        photo_url: None,
        email_verified: true,
        domain_admin: false,
    }));
    let seed = Seed {
        clients: vec![SeedClient {
            client_id: "bench".into(),
            client_secret: "bench".into(),
            redirect_uris: vec![],
        }],
        domains: vec!["bench.sch.uk".into()],
        users,
        shared_drives: vec![SeedSharedDrive {
            id: Some(DRIVE.into()),
            name: "Bench".into(),
            members: vec![SeedMember {
                email: "ops@bench.sch.uk".into(),
                role: "organizer".into(),
            }],
        }],
        ..Seed::default()
    };
    let emu = google_emulator::start(&seed).await.unwrap();
    let base = emu.url();
    let token = emu
        .issue_access_token(
            "ops@bench.sch.uk",
            &["https://www.googleapis.com/auth/drive"],
            "bench",
        )
        .unwrap();
    let setup = hub(&base, &token);

    let mut classes = Vec::new();
    for c in 0..CLASSES {
        classes.push(folder(&setup, format!("Class {c}"), DRIVE, usize::MAX - c).await);
    }
    let classes = Arc::new(classes);

    // Folder creation + first permission, concurrently.
    let created: Arc<std::sync::Mutex<Vec<(String, String)>>> = Arc::default();
    let (create_time, create_lat) = {
        let (base, token, classes, created) = (
            base.clone(),
            token.clone(),
            classes.clone(),
            created.clone(),
        );
        run(students, move |i| {
            let (hub, classes, created) = (hub(&base, &token), classes.clone(), created.clone());
            async move {
                let id = folder(&hub, format!("Student {i}"), &classes[i / PER_CLASS], i).await;
                let (_, p) = hub
                    .permissions()
                    .create(
                        Permission {
                            type_: Some("user".into()),
                            role: Some("writer".into()),
                            email_address: Some(student(i)),
                            ..Permission::default()
                        },
                        &id,
                    )
                    .send_notification_email(false)
                    .supports_all_drives(true)
                    .param("fields", "id")
                    .doit()
                    .await
                    .unwrap();
                created.lock().unwrap().push((id, p.id.unwrap()));
            }
        })
        .await
    };
    let folders = Arc::new(created.lock().unwrap().clone());

    // The lock call: permissions.update on every folder, twice (lock, unlock).
    let (update_time, update_lat) = {
        let (base, token, folders) = (base.clone(), token.clone(), folders.clone());
        run(students * 2, move |i| {
            let (hub, folders) = (hub(&base, &token), folders.clone());
            async move {
                let (file, permission) = &folders[i % folders.len()];
                let role = if i < folders.len() {
                    "reader"
                } else {
                    "writer"
                };
                hub.permissions()
                    .update(
                        Permission {
                            role: Some(role.into()),
                            ..Permission::default()
                        },
                        file,
                        permission,
                    )
                    .supports_all_drives(true)
                    .param("fields", "id,role")
                    .doit()
                    .await
                    .unwrap();
            }
        })
        .await
    };
    for (i, (file, _)) in folders.iter().enumerate().take(50) {
        assert_eq!(
            emu.access(file, &student_of(&emu, file, i)),
            Some(Role::Writer)
        );
    }

    // The lookup: files.list by parent and appProperties.
    let (list_time, list_lat) = {
        let (base, token, classes) = (base.clone(), token.clone(), classes.clone());
        run(students, move |i| {
            let (hub, classes) = (hub(&base, &token), classes.clone());
            async move {
                let (_, list) = hub
                    .files()
                    .list()
                    .q(&format!(
                        "'{}' in parents and trashed = false and appProperties has {{ key='invigilatorStudent' and value='{i}' }}",
                        classes[i / PER_CLASS]
                    ))
                    .corpora("drive")
                    .drive_id(DRIVE)
                    .include_items_from_all_drives(true)
                    .supports_all_drives(true)
                    .param("fields", "files(id)")
                    .doit()
                    .await
                    .unwrap();
                assert_eq!(list.files.unwrap().len(), 1);
            }
        })
        .await
    };

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let row = |name: &str, n: usize, t: Duration, lat: &[Duration]| {
        println!(
            "| {name:<38} | {n:>6} | {:>9.0} | {:>7.2} | {:>7.2} |",
            n as f64 / t.as_secs_f64(),
            pct(lat, 0.5),
            pct(lat, 0.99)
        );
    };
    println!();
    println!(
        "emulator throughput: {students} folders, {CONCURRENCY} concurrent clients, {cores} cores, release build"
    );
    println!();
    println!("| operation                              |  calls |  calls/s | p50 ms  | p99 ms  |");
    println!("|----------------------------------------|-------:|---------:|--------:|--------:|");
    row(
        "files.create + permissions.create",
        students,
        create_time,
        &create_lat,
    );
    row(
        "permissions.update (lock/unlock)",
        students * 2,
        update_time,
        &update_lat,
    );
    row(
        "files.list by parent + appProperties",
        students,
        list_time,
        &list_lat,
    );
    println!();
    println!(
        "{}",
        serde_json::json!({
            "bench": "emulator_throughput",
            "folders": students,
            "concurrency": CONCURRENCY,
            "create_pairs_per_s": (students as f64 / create_time.as_secs_f64()).round(),
            "update_per_s": ((students * 2) as f64 / update_time.as_secs_f64()).round(),
            "update_p99_ms": (pct(&update_lat, 0.99) * 100.0).round() / 100.0,
            "list_per_s": (students as f64 / list_time.as_secs_f64()).round(),
            "list_p99_ms": (pct(&list_lat, 0.99) * 100.0).round() / 100.0,
            "cores": cores,
        })
    );
}

/// The student whose folder this is (from the admin view of its permissions).
fn student_of(emu: &google_emulator::RunningEmulator, file: &str, _i: usize) -> String {
    emu.file(file)
        .and_then(|f| f.permissions.first().map(|(who, _)| who.clone()))
        .unwrap_or_default()
}
