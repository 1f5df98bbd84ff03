//! `invigilator tenant offboard` through the real binary, as an operator runs it at the end of a
//! school's contract: the export, the refusals that leave everything in place, cancelling, the
//! deletion (schema, role, Redis keys, Google grants, the platform's rows about the school),
//! the certificate, and a resumed run.

use invigilator_test_kit as common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{GoogleWorld, TestDb, binary};
use invigilator::auth::session::{SessionLifetimes, Sessions};
use invigilator::tenancy::{School, begin_school_tx};
use redis::AsyncCommands;
use serde_json::Value;
use sha2::{Digest, Sha256};

const OPERATOR_NAME: &str = "Sam Operator";

/// Runs `tenant offboard ARGS` against the test's database and the emulator, with `env` added.
async fn offboard(w: &GoogleWorld, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut full = vec!["tenant", "offboard"];
    full.extend_from_slice(args);
    invigilator(w, &full, env).await
}

/// Runs the binary against the test's database and the emulator, with `env` added, off the
/// test's own thread (the emulator answers on it meanwhile).
async fn invigilator(w: &GoogleWorld, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = std::process::Command::new(binary());
    command
        .args(args)
        .env_clear()
        .envs(w.db.env())
        .env("GOOGLE_API_BASE_URL", w.emu.url())
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn as_operator() -> [(&'static str, &'static str); 1] {
    [("INVIGILATOR_OPERATOR", OPERATOR_NAME)]
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `tenant offboard hillside --export FILE` as the operator, which must succeed.
async fn export_ok(w: &GoogleWorld, file: &str) {
    let exported = offboard(w, &["hillside", "--export", file], &as_operator()).await;
    assert!(exported.status.success(), "{}", stderr(&exported));
}

fn export_path(dir: &Path) -> PathBuf {
    dir.join("hillside-export.zip")
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("offboard-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Hillside with its Drive operator's and a teacher's Google grants, some sessions and cached
/// settings in Redis; Oakfield beside it, with the same kinds of keys.
async fn world() -> (GoogleWorld, School, redis::aio::ConnectionManager) {
    let w = GoogleWorld::new(2).await;
    w.connect_teacher().await;
    let oak = w.db.school("oakfield").await;
    let redis = invigilator::redis_client::lazy_connection(&w.config).unwrap();
    let ns = w.db.role_prefix.clone();
    let sessions = Sessions::new(redis.clone(), SessionLifetimes::default(), false, &ns);
    for school in [&w.school, &oak] {
        sessions
            .create(school.id, uuid::Uuid::new_v4())
            .await
            .unwrap();
        invigilator::tenancy::settings::load(&w.db.pool, &redis, &ns, school.id)
            .await
            .unwrap();
        let mut conn = redis.clone();
        let _: () = conn
            .set_ex(
                format!("invigilator:ratelimit:google:{}", school.id),
                "1",
                600,
            )
            .await
            .unwrap();
        let _: () = conn
            .set_ex(
                format!("invigilator:{ns}lock:share-scan:{}", school.id),
                "x",
                600,
            )
            .await
            .unwrap();
    }
    (w, oak, redis)
}

/// Keys in this test's namespace (and the rate-limit keys) naming `school`, and its sessions.
async fn keys_of(redis: &redis::aio::ConnectionManager, db: &TestDb, school: &School) -> usize {
    let mut conn = redis.clone();
    let ns = &db.role_prefix;
    let mut keys: Vec<String> = conn
        .keys(format!("invigilator:{ns}*{}*", school.id))
        .await
        .unwrap();
    let limit: Vec<String> = conn
        .keys(format!("invigilator:ratelimit:*{}*", school.id))
        .await
        .unwrap();
    keys.extend(limit);
    keys.len()
}

async fn status(db: &TestDb, slug: &str) -> String {
    sqlx::query_scalar("SELECT status FROM platform.tenants WHERE slug = $1")
        .bind(slug)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

fn zip_entry(path: &Path, name: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut text = String::new();
    zip.by_name(name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A support grant to a new operator, a retention run, an audit anchor and a daily verify: the
/// platform's rows about the school.
async fn platform_rows(db: &TestDb, school: &School) {
    let operator: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO platform.operators (name, email, token_sha256) \
         VALUES ($1, 'support@invigilator.example', sha256(convert_to($1, 'UTF8'))) RETURNING id",
    )
    .bind(format!("Support {}", uuid::Uuid::new_v4()))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO platform.support_grants (tenant_id, operator_id, granted_by, reason, \
         expires_at) VALUES ($1, $2, gen_random_uuid(), 'A sync question', now() + interval '1 hour')",
    )
    .bind(school.id)
    .bind(operator)
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO platform.retention_runs (tenant_id, run_on) VALUES ($1, current_date)",
    )
    .bind(school.id)
    .execute(&db.pool)
    .await
    .unwrap();
    // One entry at least, so that the verify has a head to anchor.
    let mut tx = invigilator::tenancy::begin_school_tx(&db.pool, school)
        .await
        .unwrap();
    invigilator::audit::record(
        &mut tx,
        &invigilator::audit::Actor::System("test"),
        invigilator::audit::Action::SyncRequested,
        None,
        serde_json::json!({}),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    invigilator::audit::daily::verify_daily(&db.pool, school)
        .await
        .unwrap()
        .expect("today's verify runs");
}

async fn platform_row_counts(db: &TestDb, school: &School) -> (i64, i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM platform.support_grants WHERE tenant_id = $1), \
                (SELECT count(*) FROM platform.retention_runs WHERE tenant_id = $1), \
                (SELECT count(*) FROM platform.audit_anchors WHERE tenant_id = $1), \
                (SELECT count(*) FROM platform.audit_verify_runs WHERE tenant_id = $1)",
    )
    .bind(school.id)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

async fn audit_actions(db: &TestDb, school: &School) -> Vec<String> {
    let mut tx = begin_school_tx(&db.pool, school).await.unwrap();
    let actions = sqlx::query_scalar("SELECT action FROM audit_log ORDER BY id")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    actions
}

fn sha256_of(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn export_then_confirm_removes_the_school_and_leaves_the_other_untouched() {
    let (w, oak, redis) = world().await;
    let dir = temp_dir();
    let file = export_path(&dir);
    let file_arg = file.to_str().unwrap();
    assert!(keys_of(&redis, &w.db, &w.school).await >= 4);
    let oak_keys = keys_of(&redis, &w.db, &oak).await;
    assert!(oak_keys >= 4);
    platform_rows(&w.db, &w.school).await;
    platform_rows(&w.db, &oak).await;

    // Nobody named: refused before anything happens.
    let anonymous = offboard(&w, &["hillside", "--export", file_arg], &[]).await;
    assert_eq!(anonymous.status.code(), Some(2), "{}", stderr(&anonymous));
    assert!(stderr(&anonymous).contains("--operator"));
    assert_eq!(status(&w.db, "hillside").await, "active");

    let exported = offboard(&w, &["hillside", "--export", file_arg], &as_operator()).await;
    assert!(exported.status.success(), "{}", stderr(&exported));
    assert_eq!(status(&w.db, "hillside").await, "offboarding");
    // The whole school's data: readable by the operator's account alone.
    assert_eq!(mode_of(&file), 0o600);
    // Nothing writes to it now: an operator's sync is refused.
    let sync = invigilator(&w, &["sync", "hillside"], &as_operator()).await;
    assert_eq!(sync.status.code(), Some(2), "{}", stderr(&sync));
    assert!(
        stderr(&sync).contains("only an active school is synced"),
        "{}",
        stderr(&sync)
    );
    // Every table, JSON and CSV; the export holds its own audit entry; never a token.
    let manifest: Value = serde_json::from_str(&zip_entry(&file, "manifest.json")).unwrap();
    let names: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for table in [
        "students",
        "staff",
        "portfolios",
        "audit_log",
        "google_credentials",
    ] {
        assert!(names.contains(&format!("{table}.json").as_str()), "{table}");
        assert!(names.contains(&format!("{table}.csv").as_str()), "{table}");
    }
    let audit = zip_entry(&file, "audit_log.json");
    assert!(audit.contains("offboarding.exported"), "{audit}");
    assert!(audit.contains(&format!("operator:{OPERATOR_NAME}")));
    let grants = zip_entry(&file, "google_credentials.json");
    assert!(
        !grants.contains("refresh_token") && !grants.contains("\"v1:"),
        "{grants}"
    );
    assert!(zip_entry(&file, "students.csv").starts_with(&format!(
        "# Exported for Invigilator operator {OPERATOR_NAME} at "
    )));
    let recorded: String = sqlx::query_scalar(
        "SELECT export_sha256 FROM platform.offboardings o JOIN platform.tenants t \
         ON t.id = o.tenant_id WHERE t.slug = 'hillside'",
    )
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(recorded, sha256_of(&file));

    let confirmed = offboard(
        &w,
        &["hillside", "--confirm", "--export", file_arg],
        &as_operator(),
    )
    .await;
    assert!(confirmed.status.success(), "{}", stderr(&confirmed));

    // Schema, role, Redis keys and registry entry gone; both grants revoked at Google.
    assert_eq!(w.db.school_schemas().await, ["tenant_oakfield"]);
    assert_eq!(w.db.roles().await, vec![oak.role_name.clone()]);
    assert_eq!(keys_of(&redis, &w.db, &w.school).await, 0);
    assert_eq!(status(&w.db, "hillside").await, "deleted");
    assert!(
        invigilator::tenancy::find_school_by_slug(&w.db.pool, "hillside")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(w.emu.calls("oauth2.revoke"), 2);
    assert_eq!(platform_row_counts(&w.db, &w.school).await, (0, 0, 0, 0));
    assert_eq!(platform_row_counts(&w.db, &oak).await, (1, 1, 1, 1));

    // The certificate vouches for the export the school was given.
    let certificate_file = dir.join("hillside-export.zip.certificate.json");
    assert_eq!(mode_of(&certificate_file), 0o600);
    let certificate: Value =
        serde_json::from_slice(&std::fs::read(&certificate_file).unwrap()).unwrap();
    assert_eq!(
        certificate["deleted"]["registry"]["platform_rows"],
        serde_json::json!({
            "support_grants": 1,
            "retention_runs": 1,
            "audit_anchors": 1,
            "audit_verify_runs": 1
        })
    );
    assert!(
        certificate["deleted"]["queued_jobs"]
            .as_str()
            .unwrap()
            .contains("not active")
    );
    assert_eq!(certificate["export"]["sha256"], sha256_of(&file));
    assert_eq!(certificate["school"]["slug"], "hillside");
    assert_eq!(certificate["school"]["workspace_domain"], "hillside.sch.uk");
    assert_eq!(certificate["operator"], OPERATOR_NAME);
    assert_eq!(
        certificate["deleted"]["google_grants"]["counts"]["revoked"],
        2
    );
    assert!(
        certificate["deleted"]["redis_keys"]["count"]
            .as_u64()
            .unwrap()
            >= 4
    );
    assert_eq!(
        certificate["deleted"]["schema_and_role"]["detail"]["schema"],
        "tenant_hillside"
    );
    assert!(
        certificate["deleted"]["schema_and_role"]["detail"]["tables"]["audit_log"]
            .as_i64()
            .unwrap()
            > 0
    );
    for step in ["google_grants", "redis_keys", "schema_and_role", "registry"] {
        assert!(certificate["deleted"][step]["at"].is_string(), "{step}");
    }
    let kept: Value = sqlx::query_scalar(
        "SELECT certificate FROM platform.offboardings o JOIN platform.tenants t \
         ON t.id = o.tenant_id WHERE t.slug = 'hillside'",
    )
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(kept, certificate);

    // Oakfield still works, with all of its keys.
    assert_eq!(status(&w.db, "oakfield").await, "active");
    assert_eq!(keys_of(&redis, &w.db, &oak).await, oak_keys);
    let mut tx = begin_school_tx(&w.db.pool, &oak).await.unwrap();
    sqlx::query(
        "INSERT INTO students (classroom_user_id, email) VALUES ('s1', 'a@oakfield.sch.uk')",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // Done is done: confirming again says so; exporting again is refused.
    let again = offboard(
        &w,
        &["hillside", "--confirm", "--export", file_arg],
        &as_operator(),
    )
    .await;
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("already offboarded"));
    let export_again = offboard(&w, &["hillside", "--export", file_arg], &as_operator()).await;
    assert_eq!(export_again.status.code(), Some(2));
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn confirm_without_a_verified_export_is_refused_and_nothing_is_dropped() {
    let (w, _oak, redis) = world().await;
    let dir = temp_dir();
    let file = export_path(&dir);
    let file_arg = file.to_str().unwrap();
    let keys = keys_of(&redis, &w.db, &w.school).await;
    let confirm = ["hillside", "--confirm", "--export", file_arg];

    let no_export = offboard(&w, &confirm, &as_operator()).await;
    assert_eq!(no_export.status.code(), Some(2), "{}", stderr(&no_export));
    assert!(stderr(&no_export).contains("no complete export"));

    export_ok(&w, file_arg).await;
    // Changed after the export: one byte near the end (in the zip's directory).
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() - 30;
    bytes[at] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let tampered = offboard(&w, &confirm, &as_operator()).await;
    assert_eq!(tampered.status.code(), Some(2), "{}", stderr(&tampered));
    assert!(
        stderr(&tampered).contains("does not verify"),
        "{}",
        stderr(&tampered)
    );
    // A missing file is refused the same way.
    std::fs::remove_file(&file).unwrap();
    let missing = offboard(&w, &confirm, &as_operator()).await;
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));

    assert!(
        w.db.school_schemas()
            .await
            .contains(&"tenant_hillside".to_owned())
    );
    assert_eq!(w.db.roles().await.len(), 2);
    assert_eq!(keys_of(&redis, &w.db, &w.school).await, keys);
    assert_eq!(w.emu.calls("oauth2.revoke"), 0);
    assert_eq!(status(&w.db, "hillside").await, "offboarding");
    let confirmed: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "SELECT confirmed_at FROM platform.offboardings o JOIN platform.tenants t \
         ON t.id = o.tenant_id WHERE t.slug = 'hillside'",
    )
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(confirmed, None);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_school_changed_since_its_export_is_not_deleted_until_exported_again() {
    let (w, _oak, _redis) = world().await;
    let dir = temp_dir();
    let file = export_path(&dir);
    let file_arg = file.to_str().unwrap();
    export_ok(&w, file_arg).await;
    // An operator's command writes to the school's log after the export was taken.
    let verified = invigilator(&w, &["audit", "verify", "hillside"], &as_operator()).await;
    assert!(verified.status.success(), "{}", stderr(&verified));

    let confirm = ["hillside", "--confirm", "--export", file_arg];
    let refused = offboard(&w, &confirm, &as_operator()).await;
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("has changed since its export")
            && stderr(&refused).contains("audit_log"),
        "{}",
        stderr(&refused)
    );
    assert!(
        w.db.school_schemas()
            .await
            .contains(&"tenant_hillside".to_owned())
    );
    assert_eq!(w.emu.calls("oauth2.revoke"), 0);
    assert_eq!(status(&w.db, "hillside").await, "offboarding");

    // Exported again, the copy holds everything, and the deletion goes ahead.
    export_ok(&w, file_arg).await;
    let done = offboard(&w, &confirm, &as_operator()).await;
    assert!(done.status.success(), "{}", stderr(&done));
    assert_eq!(status(&w.db, "hillside").await, "deleted");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_grant_whose_stored_copy_cannot_be_read_does_not_stall_the_deletion() {
    let (w, _oak, _redis) = world().await;
    // One stored grant damaged: it can never be decrypted, so never revoked by us.
    sqlx::query(
        "UPDATE tenant_hillside.google_credentials \
         SET refresh_token = split_part(refresh_token, ':', 1) || ':' || repeat('A', 64) \
         WHERE id = (SELECT min(id::text)::uuid FROM tenant_hillside.google_credentials)",
    )
    .execute(&w.db.pool)
    .await
    .unwrap();
    let dir = temp_dir();
    let file = export_path(&dir);
    let file_arg = file.to_str().unwrap();
    export_ok(&w, file_arg).await;
    let confirm = ["hillside", "--confirm", "--export", file_arg];
    let done = offboard(&w, &confirm, &as_operator()).await;
    assert!(done.status.success(), "{}", stderr(&done));
    assert_eq!(status(&w.db, "hillside").await, "deleted");
    let certificate: Value = serde_json::from_slice(
        &std::fs::read(dir.join("hillside-export.zip.certificate.json")).unwrap(),
    )
    .unwrap();
    let counts = &certificate["deleted"]["google_grants"]["counts"];
    assert_eq!(counts["revoked"], 1, "{counts}");
    assert_eq!(counts["unreadable"], 1, "{counts}");
    assert_eq!(w.emu.calls("oauth2.revoke"), 1);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn an_interrupted_offboarding_resumes_where_it_stopped() {
    let (w, _oak, redis) = world().await;
    let dir = temp_dir();
    let file = export_path(&dir);
    let file_arg = file.to_str().unwrap();
    export_ok(&w, file_arg).await;
    let confirm = ["hillside", "--confirm", "--export", file_arg];
    let stop = |step: &'static str| {
        [
            ("INVIGILATOR_OPERATOR", OPERATOR_NAME),
            ("INVIGILATOR_OFFBOARD_STOP_AFTER", step),
        ]
    };

    // Stopped once the grants were revoked: the schema and the keys are still there.
    let first = offboard(&w, &confirm, &stop("grants_revoked")).await;
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    assert_eq!(w.emu.calls("oauth2.revoke"), 2);
    assert!(
        w.db.school_schemas()
            .await
            .contains(&"tenant_hillside".to_owned())
    );
    assert!(keys_of(&redis, &w.db, &w.school).await > 0);

    // Stopped again once the schema was dropped: the registry row went with it (one
    // transaction), so no live school is left without its schema; only the certificate is due.
    let second = offboard(&w, &confirm, &stop("schema_dropped")).await;
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    assert!(String::from_utf8_lossy(&second.stdout).is_empty());
    assert_eq!(w.db.school_schemas().await, ["tenant_oakfield"]);
    assert_eq!(keys_of(&redis, &w.db, &w.school).await, 0);
    assert_eq!(status(&w.db, "hillside").await, "deleted");
    assert!(!dir.join("hillside-export.zip.certificate.json").exists());
    // No grant was revoked twice.
    assert_eq!(w.emu.calls("oauth2.revoke"), 2);

    let last = offboard(&w, &confirm, &as_operator()).await;
    assert!(last.status.success(), "{}", stderr(&last));
    assert!(String::from_utf8_lossy(&last.stdout).contains("carried on"));
    assert_eq!(status(&w.db, "hillside").await, "deleted");
    let certificate: Value = serde_json::from_slice(
        &std::fs::read(dir.join("hillside-export.zip.certificate.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        certificate["deleted"]["google_grants"]["counts"]["revoked"],
        2
    );
    assert_eq!(certificate["export"]["sha256"], sha256_of(&file));
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn an_unknown_slug_is_refused_with_exit_2() {
    let (w, _oak, _redis) = world().await;
    let dir = temp_dir();
    let file = export_path(&dir);
    let file_arg = file.to_str().unwrap();
    for args in [
        vec!["nosuchschool", "--export", file_arg],
        vec!["nosuchschool", "--confirm", "--export", file_arg],
    ] {
        let out = offboard(&w, &args, &as_operator()).await;
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("no school with slug"),
            "{}",
            stderr(&out)
        );
    }
    assert!(!file.exists());
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn an_export_to_a_path_that_cannot_be_written_leaves_the_school_active_and_unchanged() {
    let (w, _oak, _redis) = world().await;
    let dir = temp_dir();
    let before = audit_actions(&w.db, &w.school).await;
    let nowhere = dir.join("no-such-folder").join("hillside.zip");
    let out = offboard(
        &w,
        &["hillside", "--export", nowhere.to_str().unwrap()],
        &as_operator(),
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing was changed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(status(&w.db, "hillside").await, "active");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM platform.offboardings")
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    assert_eq!(audit_actions(&w.db, &w.school).await, before);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn cancelling_before_confirmation_makes_the_school_active_again() {
    let (w, _oak, _redis) = world().await;
    let dir = temp_dir();
    let file = export_path(&dir);
    let file_arg = file.to_str().unwrap();
    let cancel = ["hillside", "--cancel"];

    // Nothing to cancel yet.
    let early = offboard(&w, &cancel, &as_operator()).await;
    assert_eq!(early.status.code(), Some(2), "{}", stderr(&early));
    assert!(
        stderr(&early).contains("not being offboarded"),
        "{}",
        stderr(&early)
    );

    export_ok(&w, file_arg).await;
    assert_eq!(status(&w.db, "hillside").await, "offboarding");
    let cancelled = offboard(&w, &cancel, &as_operator()).await;
    assert!(cancelled.status.success(), "{}", stderr(&cancelled));
    assert_eq!(status(&w.db, "hillside").await, "active");
    let recorded: Value = sqlx::query_scalar(
        "SELECT deleted -> 'cancelled' FROM platform.offboardings o JOIN platform.tenants t \
         ON t.id = o.tenant_id WHERE t.slug = 'hillside'",
    )
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(recorded["by"], OPERATOR_NAME);
    // The school's own log says so, under the operator's name.
    let actor: String = sqlx::query_scalar(
        "SELECT actor FROM tenant_hillside.audit_log WHERE action = 'offboarding.cancelled'",
    )
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(actor, format!("operator:{OPERATOR_NAME}"));

    // The cancelled export no longer confirms anything; the school keeps its data.
    let confirm = ["hillside", "--confirm", "--export", file_arg];
    let refused = offboard(&w, &confirm, &as_operator()).await;
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        w.db.school_schemas()
            .await
            .contains(&"tenant_hillside".to_owned())
    );
    assert_eq!(w.emu.calls("oauth2.revoke"), 0);

    // Offboarding again, and once the deletion is confirmed, there is no going back.
    export_ok(&w, file_arg).await;
    let stop = [
        ("INVIGILATOR_OPERATOR", OPERATOR_NAME),
        ("INVIGILATOR_OFFBOARD_STOP_AFTER", "confirmed"),
    ];
    let confirmed = offboard(&w, &confirm, &stop).await;
    assert_eq!(confirmed.status.code(), Some(1), "{}", stderr(&confirmed));
    let late = offboard(&w, &cancel, &as_operator()).await;
    assert_eq!(late.status.code(), Some(2), "{}", stderr(&late));
    assert_eq!(status(&w.db, "hillside").await, "offboarding");
    std::fs::remove_dir_all(dir).ok();
}
