//! `docs/data-map.md` against what we really hold: every column of a freshly provisioned school's
//! schema and of the platform schema, and every kind of Redis key real flows write.

use std::collections::BTreeSet;

use invigilator_test_kit as common;

use common::TestDb;
use common::browser::{ADMIN, RequestBody};
use common::lock_world::lock_world;
use invigilator::redis_keys::{self, KINDS};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The first cells of the data map's table rows: `table.column`, `platform.table.column` and
/// `redis:kind`, as `privacy::data_map` reads them for the School Admin's page.
fn map_entries() -> BTreeSet<String> {
    invigilator::privacy::data_map::items()
        .map(str::to_owned)
        .collect()
}

/// `table.column` for every column of `schema`, prefixed with `prefix`.
async fn live_columns(db: &TestDb, schema: &str, prefix: &str) -> BTreeSet<String> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = $1",
    )
    .bind(schema)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(t, c)| format!("{prefix}{t}.{c}"))
        .collect()
}

#[tokio::test]
async fn the_map_declares_every_column_and_nothing_that_is_gone() {
    let db = TestDb::new().await;
    db.school("alder").await;
    let mut live = live_columns(&db, "tenant_alder", "").await;
    live.extend(live_columns(&db, "platform", "platform.").await);
    assert!(live.contains("students.email") && live.contains("platform.tenants.slug"));
    let mapped: BTreeSet<String> = map_entries()
        .into_iter()
        .filter(|e| !e.starts_with("redis:"))
        .collect();

    let undeclared: Vec<&String> = live.difference(&mapped).collect();
    let gone: Vec<&String> = mapped.difference(&live).collect();
    let mut problems = Vec::new();
    if !undeclared.is_empty() {
        problems.push(format!(
            "columns with no row in docs/data-map.md (add each with its category, purpose, who it \
             is about and retention):\n  {}",
            undeclared
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        ));
    }
    if !gone.is_empty() {
        problems.push(format!(
            "rows in docs/data-map.md for columns that no longer exist:\n  {}",
            gone.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_declared_redis_key_kind_is_in_the_map_and_only_those() {
    let mapped: BTreeSet<String> = map_entries()
        .into_iter()
        .filter_map(|e| e.strip_prefix("redis:").map(str::to_owned))
        .collect();
    let declared: BTreeSet<String> = KINDS.iter().map(|k| k.name.to_owned()).collect();
    assert_eq!(
        declared.difference(&mapped).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "key kinds in src/redis_keys.rs with no `redis:` row in docs/data-map.md"
    );
    assert_eq!(
        mapped.difference(&declared).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "`redis:` rows in docs/data-map.md for kinds src/redis_keys.rs does not declare"
    );
}

/// Every key matching `pattern`, through SCAN (as an operator would, never KEYS).
async fn scan(conn: &mut redis::aio::MultiplexedConnection, pattern: &str) -> Vec<String> {
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

/// The patterns that hold every key this deployment (`namespace`) and `school_id` may write.
fn deployment_patterns(namespace: &str, school_id: impl std::fmt::Display) -> [String; 4] {
    [
        format!("invigilator:{namespace}*"),
        format!("invigilator:ratelimit:signin:{namespace}*"),
        format!("invigilator:ratelimit:google:{school_id}*"),
        format!("invigilator:ratelimit:google-project:{namespace}*"),
    ]
}

/// Every key that matched `patterns` at any moment until `stop` is set. Some keys live for
/// about a second (Google's rate limit keeps a key only while calls are spaced by it), so one
/// SCAN at the end of the flows could miss them on a busy machine.
fn watch_keys(
    patterns: [String; 4],
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<BTreeSet<String>> {
    tokio::spawn(async move {
        let client = redis::Client::open(common::redis_url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let mut seen = BTreeSet::new();
        loop {
            // Read the flag first so the last pass runs after the flows have finished.
            let last = stop.load(std::sync::atomic::Ordering::SeqCst);
            for pattern in &patterns {
                seen.extend(scan(&mut conn, pattern).await);
            }
            if last {
                return seen;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
}

#[tokio::test]
async fn real_flows_write_only_declared_redis_keys() {
    // Sign-in (sessions, sign-in attempts, the throttle), a sync and folders (leases, Google's
    // rate limit), a lock asked for and applied (the job queue, a portfolio's lease), and the
    // School Admin's settings and sync request (cached settings, the roster queue).
    let mut l = lock_world().await;
    let namespace = l.w.db.role_prefix.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = watch_keys(deployment_patterns(&namespace, l.school.id), stop.clone());

    let (id, _) = l.portfolio_of(&common::pupil(0)).await;
    let page = l.post(&format!("/api/portfolios/{id}/lock")).await;
    assert_eq!(page.status, StatusCode::ACCEPTED, "{}", page.body);
    l.apply(id).await;
    let mut admin = l.w.browser();
    assert_eq!(l.w.sign_in(&mut admin, ADMIN).await.status, StatusCode::OK);
    let me: Value = serde_json::from_str(&admin.get(&l.w.url("/api/me")).await.body).unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(
        admin.get(&l.w.url("/admin/settings")).await.status,
        StatusCode::OK
    );
    let sync = admin
        .request(
            Method::POST,
            &l.w.url("/api/sync"),
            Some(RequestBody::Json(json!({}), Some(csrf))),
        )
        .await;
    assert_eq!(sync.status, StatusCode::ACCEPTED, "{}", sync.body);

    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let keys = watcher.await.unwrap();
    let undeclared: Vec<&String> = keys
        .iter()
        .filter(|k| redis_keys::kind_of(k, &namespace).is_none())
        .collect();
    assert!(
        undeclared.is_empty(),
        "Redis keys of no kind declared in src/redis_keys.rs (declare the kind, then add its \
         `redis:` row to docs/data-map.md):\n  {}",
        undeclared
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    let seen: BTreeSet<&str> = keys
        .iter()
        .filter_map(|k| redis_keys::kind_of(k, &namespace).map(|kind| kind.name))
        .collect();
    for expected in [
        "session",
        "staff-sessions",
        "jobs",
        "ratelimit-signin",
        "ratelimit-google",
        "ratelimit-google-project",
        "school-settings",
    ] {
        assert!(
            seen.contains(expected),
            "the flows wrote no {expected} key; saw {seen:?}"
        );
    }
    let _ = common::clean_redis(&l.w.db.config(&[]), &namespace).await;
}

#[tokio::test]
async fn the_school_admin_sees_every_kind_of_record_with_how_many_are_held() {
    let l = lock_world().await;
    let mut admin = l.w.browser();
    assert_eq!(l.w.sign_in(&mut admin, ADMIN).await.status, StatusCode::OK);

    let answer = admin.get(&l.w.url("/api/privacy/data-map")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let groups: Vec<Value> = serde_json::from_str(&answer.body).unwrap();
    let rows_of = |table: &str| {
        groups
            .iter()
            .find(|g| g["name"] == table)
            .unwrap_or_else(|| panic!("{table} is listed"))["rows"]
            .as_i64()
    };
    // The counts are the school's own, as its schema holds them now.
    for table in ["students", "enrolments", "portfolios", "audit_log", "staff"] {
        let held: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM tenant_hillside.{table}"
        )))
        .fetch_one(&l.w.db.pool)
        .await
        .unwrap();
        assert!(held > 0, "the world holds some {table}");
        assert_eq!(rows_of(table), Some(held), "{table}");
    }
    // Every table of the school's schema is on it, each with its description and columns.
    let live = live_columns(&l.w.db, "tenant_hillside", "").await;
    let live_tables: BTreeSet<&str> = live.iter().filter_map(|c| c.split('.').next()).collect();
    for table in &live_tables {
        let group = groups.iter().find(|g| g["name"] == *table).unwrap();
        assert_eq!(group["place"], "school", "{table}");
        assert!(group["description"].as_str().is_some_and(|d| !d.is_empty()));
        assert!(!group["entries"].as_array().unwrap().is_empty());
    }
    // The platform's records and the Redis keys are listed without counts.
    let tenants = groups
        .iter()
        .find(|g| g["name"] == "platform.tenants")
        .unwrap();
    assert_eq!(tenants["place"], "platform");
    assert!(tenants["rows"].is_null());
    let redis = groups.iter().find(|g| g["place"] == "redis").unwrap();
    assert!(
        redis["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["item"] == "redis:session" && e["key"].is_string())
    );

    let page = admin.get(&l.w.url("/admin/privacy/held")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("What Invigilator holds"));
    let students = rows_of("students").unwrap();
    assert!(
        page.body
            .contains(&format!("<td data-label=\"Held now\">{students}</td>")),
        "the page shows how many students are held"
    );
    assert!(
        page.body
            .contains("The students of the school&#39;s classes")
    );
    assert!(page.body.contains("<code>erased_classroom_users</code>"));
    // The document's code spans are shown as code, never as backticks.
    assert!(page.body.contains("<code>retention_months</code>"));
    if let Some(at) = page.body.find('`') {
        panic!(
            "a raw backtick on the page: {}",
            &page.body[at.saturating_sub(60)..][..120]
        );
    }
    // The Data protection page leads to it.
    let find = admin.get(&l.w.url("/admin/privacy")).await;
    assert!(find.body.contains("href=\"/admin/privacy/held\""));

    // Nobody else sees it.
    let mut teacher = l.teacher;
    for path in ["/api/privacy/data-map", "/admin/privacy/held"] {
        let page = teacher.get(&l.w.url(path)).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
    }
}
