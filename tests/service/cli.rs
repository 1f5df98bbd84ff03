//! The `invigilator` binary as an operator uses it: exit codes and what it prints.

use invigilator_test_kit as common;

use common::{TestDb, invigilator};
use invigilator::tenancy::TenantMigrations;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn tenant_create_then_list_shows_a_table() {
    let db = TestDb::new().await;
    let created = invigilator(
        &db,
        &[
            "tenant",
            "create",
            "--slug",
            "hillside",
            "--name",
            "Hillside Academy",
            "--domain",
            "Hillside.sch.uk",
        ],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(stdout(&created).contains("created school hillside"));
    let created = invigilator(
        &db,
        &[
            "tenant",
            "create",
            "--slug",
            "oak_park",
            "--name",
            "Oak Park School",
            "--domain",
            "oakpark.sch.uk",
        ],
    );
    assert!(created.status.success(), "{}", stderr(&created));

    let listed = invigilator(&db, &["tenant", "list"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let out = stdout(&listed);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["SLUG", "NAME", "DOMAIN", "STATUS", "VERSION"]);
    assert!(
        lines[1].starts_with("hillside  Hillside Academy  hillside.sch.uk  active"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("oak_park  Oak Park School   oakpark.sch.uk   active"),
        "{out}"
    );
}

#[tokio::test]
async fn bad_input_gets_one_line_exit_code_2_and_creates_nothing() {
    let db = TestDb::new().await;
    let ok = invigilator(
        &db,
        &[
            "tenant",
            "create",
            "--slug",
            "hillside",
            "--name",
            "Hillside",
            "--domain",
            "hillside.sch.uk",
        ],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));

    let long = "a".repeat(41);
    let cases: Vec<(&str, &str, &str)> = vec![
        ("Hillside2", "x.sch.uk", "lower-case"),
        ("hill'side", "x.sch.uk", "contains"),
        ("hill\"side", "x.sch.uk", "contains"),
        ("hill side", "x.sch.uk", "contains"),
        ("2hillside", "x.sch.uk", "start with"),
        (&long, "x.sch.uk", "limit is 40"),
        ("hillside", "other.sch.uk", "already exists"),
        ("oakfield", "HILLSIDE.SCH.UK", "already belongs"),
        ("oakfield", "not a domain", "not a Workspace domain"),
        ("", "x.sch.uk", "slug is empty"),
        ("_x", "x.sch.uk", "start with"),
        ("ab", "x.sch.uk", "too short"),
    ];
    for (slug, domain, says) in cases {
        let out = invigilator(
            &db,
            &[
                "tenant", "create", "--slug", slug, "--name", "A School", "--domain", domain,
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{slug}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(
            err.lines().count(),
            1,
            "{slug}: one line expected, got {err:?}"
        );
        assert!(
            err.starts_with("error: ") && err.contains(says),
            "{slug}: {err}"
        );
    }
    let blank_name = invigilator(
        &db,
        &[
            "tenant",
            "create",
            "--slug",
            "oakfield",
            "--name",
            "   ",
            "--domain",
            "oak.sch.uk",
        ],
    );
    assert_eq!(blank_name.status.code(), Some(2));
    assert!(stderr(&blank_name).contains("school name"));
    let bad_concurrency = invigilator(&db, &["migrate", "--concurrency", "0"]);
    assert_eq!(bad_concurrency.status.code(), Some(2));

    assert_eq!(db.registry_count().await, 1);
    assert_eq!(db.school_schemas().await, ["tenant_hillside"]);
    assert_eq!(db.roles().await.len(), 1);
}

#[tokio::test]
async fn commands_before_the_first_migrate_say_what_to_do() {
    let db = TestDb::unmigrated(2).await;
    let listed = invigilator(&db, &["tenant", "list"]);
    assert_eq!(listed.status.code(), Some(1));
    assert!(
        stderr(&listed).contains("run `invigilator migrate` first"),
        "{}",
        stderr(&listed)
    );
}

#[tokio::test]
async fn migrate_reports_plain_lines_and_is_a_no_op_the_second_time() {
    let db = TestDb::new().await;
    db.school_with("alder", &invigilator::tenancy::TenantMigrations::none())
        .await;
    let first = invigilator(&db, &["migrate"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let out = stdout(&first);
    assert!(out.contains("alder: version 1 → "), "{out}");
    assert!(out.contains("1 school(s) upgraded"), "{out}");

    let second = invigilator(&db, &["migrate"]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(stdout(&second).contains("every school is at the latest schema version"));
}

#[tokio::test]
async fn migrate_fails_naming_a_school_it_could_not_upgrade() {
    let db = TestDb::new().await;
    db.school_with("alder", &invigilator::tenancy::TenantMigrations::none())
        .await;
    db.school_with("birch", &invigilator::tenancy::TenantMigrations::none())
        .await;
    // Someone changed birch by hand so the shipped change cannot apply there.
    sqlx::query("ALTER TABLE tenant_birch.staff ADD COLUMN last_signed_in_at text")
        .execute(&db.pool)
        .await
        .unwrap();
    let out = invigilator(&db, &["migrate", "--concurrency", "2"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("schema upgrade failed for 1 school(s): birch"),
        "{err}"
    );
    assert!(stdout(&out).contains("birch: FAILED, stays at version 1"));
    let latest = TenantMigrations::embedded().latest_version();
    assert!(
        stdout(&out).contains(&format!("alder: version 1 → {latest}")),
        "{}",
        stdout(&out)
    );
}

#[tokio::test]
async fn configuration_errors_name_every_bad_variable() {
    let db = TestDb::new().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_invigilator"))
        .args(["tenant", "list"])
        .env_clear()
        .envs(db.env())
        .env("PORT", "http")
        .env("TOKEN_KEYS", "1:tooshort")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("PORT:") && err.contains("TOKEN_KEYS:"),
        "{err}"
    );
}

#[tokio::test]
async fn migrate_refuses_a_school_whose_applied_migration_has_changed() {
    let db = TestDb::new().await;
    // Alder ran 0002 as it read before someone edited the file this build carries.
    let mut list = TenantMigrations::embedded().as_slice().to_vec();
    list[0].sql = format!("{}-- as first written\n", list[0].sql).into();
    let as_first_written = TenantMigrations::new(list).unwrap();
    db.school_with("alder", &as_first_written).await;
    db.school("birch").await;

    let out = invigilator(&db, &["migrate"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("schema upgrade failed for 1 school(s): alder"),
        "{err}"
    );
    let latest = TenantMigrations::embedded().latest_version();
    let line = stdout(&out)
        .lines()
        .find(|l| l.starts_with("alder: "))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(
        line.starts_with(&format!("alder: FAILED, stays at version {latest}: version 2 (0002_staff_last_signed_in.sql) has changed since it was applied")),
        "{}",
        stdout(&out)
    );
    assert!(
        !stdout(&out).contains("birch"),
        "birch is current and unchanged"
    );
}

#[tokio::test]
async fn migrate_records_checksums_for_schools_from_before_they_were_kept() {
    let db = TestDb::new().await;
    db.school("alder").await;
    sqlx::query("DELETE FROM platform.tenant_applied_migrations")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE platform.tenants SET schema_checksum = NULL")
        .execute(&db.pool)
        .await
        .unwrap();
    let latest = TenantMigrations::embedded().latest_version();

    let first = invigilator(&db, &["migrate"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let out = stdout(&first);
    assert!(
        out.contains(&format!(
            "alder: at version {latest}; checksums of versions 1–{latest} recorded from this build"
        )),
        "{out}"
    );
    assert!(out.contains("checksums recorded for 1 school(s)"), "{out}");

    let second = invigilator(&db, &["migrate"]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(stdout(&second).contains("every school is at the latest schema version"));
}

/// The audit entries `action` has in `slug`'s log: (actor, details), oldest first.
async fn entries(db: &TestDb, slug: &str, action: &str) -> Vec<(String, serde_json::Value)> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT actor, details FROM \"tenant_{slug}\".audit_log WHERE action = $1 ORDER BY id"
    )))
    .bind(action)
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn commands_on_a_school_refuse_to_run_without_an_operators_name() {
    let db = TestDb::new().await;
    db.school("alder").await;
    for args in [
        &["sync", "alder"][..],
        &["audit", "verify", "alder"],
        &["keys", "rewrap"],
    ] {
        for operator in [None, Some("   "), Some("bad\u{7}name")] {
            let out = common::invigilator_as(&db, operator, args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
            let err = stderr(&out);
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.contains("--operator"), "{args:?}: {err}");
            assert!(stdout(&out).is_empty(), "{args:?}: nothing was done");
        }
    }
    let logged: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_alder.audit_log")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(logged, 0, "nothing was recorded because nothing was done");
    // Commands that touch no school's data need no name.
    let listed = common::invigilator_as(&db, None, &["tenant", "list"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
}

#[tokio::test]
async fn audit_verify_is_recorded_in_the_schools_log_and_stays_truthful() {
    let db = TestDb::new().await;
    db.school("alder").await;
    db.school("birch").await;
    let first = common::invigilator_as(&db, Some("Priya Patel"), &["audit", "verify", "alder"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stdout(&first).contains("audit log intact (0 entries)"));
    let recorded = entries(&db, "alder", "operator.audit_verified").await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].0, "operator:Priya Patel");
    assert_eq!(recorded[0].1["entries"], 0);
    assert_eq!(recorded[0].1["intact"], true);
    assert_eq!(recorded[0].1["first_break"], serde_json::Value::Null);

    // The entry it wrote chains on: the next walk counts it and still finds the log whole.
    let second = invigilator(
        &db,
        &["--operator", "Sam Jones", "audit", "verify", "alder"],
    );
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(stdout(&second).contains("audit log intact (1 entries)"));
    let recorded = entries(&db, "alder", "operator.audit_verified").await;
    assert_eq!(recorded.len(), 2);
    assert_eq!(
        recorded[1].0, "operator:Sam Jones",
        "--operator wins over the variable"
    );
    assert_eq!(recorded[1].1["entries"], 1);
    assert!(recorded[1].1["last_entry_id"].is_i64());
    // Another school's log is untouched.
    assert!(
        entries(&db, "birch", "operator.audit_verified")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn an_operators_sync_is_recorded_with_its_counts() {
    let db = TestDb::new().await;
    db.school("alder").await;
    let out = invigilator(&db, &["sync", "alder"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("alder: 0 course(s)"),
        "{}",
        stdout(&out)
    );
    let recorded = entries(&db, "alder", "operator.sync").await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].0, format!("operator:{}", common::CLI_OPERATOR));
    assert_eq!(recorded[0].1["succeeded"], true);
    assert_eq!(recorded[0].1["courses"], 0);

    let unknown = invigilator(&db, &["sync", "nosuchschool"]);
    assert_eq!(unknown.status.code(), Some(2));
}
