//! One schema per school: provisioning, migrations and isolation, against real PostgreSQL.

use invigilator_test_kit as common;

use common::{TestDb, catalog};
use invigilator::tenancy::{
    self, NewSchool, ProvisionError, SchoolResult, TenantMigrations, begin_school_tx,
};
use sqlx::Row;

/// A later change touching an existing table and adding a new one, to prove upgrades.
fn with_extra_change(base: &TenantMigrations) -> TenantMigrations {
    base.with_next(
        "9999_test_year_groups.sql",
        "ALTER TABLE students ADD COLUMN year_group smallint CHECK (year_group BETWEEN 7 AND 13);\n\
         CREATE TABLE year_group_leads (year_group smallint PRIMARY KEY, staff_id uuid REFERENCES staff (id));\n\
         CREATE INDEX students_year_group ON students (year_group);",
    )
}

fn sqlstate(e: &sqlx::Error) -> String {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn two_schools_are_provisioned_and_listed() {
    let db = TestDb::new().await;
    let latest = TenantMigrations::embedded().latest_version();
    let a = db.school("alder").await;
    let b = db.school("birch").await;

    assert_eq!(a.schema_version, latest);
    assert_eq!(a.schema_name, "tenant_alder");
    assert_eq!(a.role_name, format!("{}tenant_alder", db.role_prefix));
    let listed: Vec<_> = tenancy::list_schools(&db.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.slug, s.workspace_domain, s.schema_version))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("alder".into(), "alder.sch.uk".into(), latest),
            ("birch".into(), "birch.sch.uk".into(), latest)
        ]
    );
    assert_eq!(db.school_schemas().await, ["tenant_alder", "tenant_birch"]);
    let mut roles = db.roles().await;
    roles.sort();
    assert_eq!(roles, [a.role_name, b.role_name]);

    let found = tenancy::find_school_by_domain(&db.pool, "BIRCH.sch.uk")
        .await
        .unwrap();
    assert_eq!(found.map(|s| s.slug).as_deref(), Some("birch"));
}

#[tokio::test]
async fn migrate_twice_does_nothing_the_second_time() {
    let db = TestDb::new().await;
    db.school_with("alder", &TenantMigrations::none()).await;
    db.school_with("birch", &TenantMigrations::none()).await;
    let migrations = TenantMigrations::embedded();

    let first = tenancy::migrate_schools(&db.pool, &migrations, 4, &())
        .await
        .unwrap();
    assert_eq!(first.upgraded(), 2);
    assert_eq!(first.failed().count(), 0);

    let second = tenancy::migrate_schools(&db.pool, &migrations, 4, &())
        .await
        .unwrap();
    assert!(second.outcomes.is_empty(), "{:?}", second.outcomes);
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM platform.tenant_migration_runs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(runs, 2, "one recorded run per school, none for the no-op");
}

#[tokio::test]
async fn a_fresh_school_and_an_upgraded_school_have_identical_catalogs() {
    let db = TestDb::new().await;
    let target = with_extra_change(&TenantMigrations::embedded());
    let old = db.school_with("upgraded", &TenantMigrations::none()).await;
    assert_eq!(old.schema_version, 1);

    let report = tenancy::migrate_schools(&db.pool, &target, 2, &())
        .await
        .unwrap();
    assert_eq!(report.upgraded(), 1);
    let fresh = db.school_with("fresh", &target).await;

    let upgraded = tenancy::find_school_by_slug(&db.pool, "upgraded")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(upgraded.schema_version, target.latest_version());
    let (a, b) = (
        catalog(&db.pool, &upgraded).await,
        catalog(&db.pool, &fresh).await,
    );
    assert!(a.len() > 100, "catalog looks too small to be real: {a:#?}");
    assert!(a.iter().any(|l| l.contains("year_group_leads")));
    assert!(
        a.iter()
            .any(|l| l.starts_with("grant on year_group_leads to <role>")),
        "a table added by a migration is granted to the school role"
    );
    let only_upgraded: Vec<_> = a.iter().filter(|l| !b.contains(l)).collect();
    let only_fresh: Vec<_> = b.iter().filter(|l| !a.contains(l)).collect();
    assert!(
        only_upgraded.is_empty() && only_fresh.is_empty(),
        "upgraded only: {only_upgraded:#?}\nfresh only: {only_fresh:#?}"
    );
    // Both record the same texts, so `migrate` treats them alike from now on.
    assert_eq!(applied(&db, "upgraded").await, applied(&db, "fresh").await);
    assert_eq!(
        schema_checksum(&db, "upgraded").await,
        schema_checksum(&db, "fresh").await
    );
}

#[tokio::test]
async fn a_school_transaction_cannot_reach_another_school_or_the_registry() {
    let db = TestDb::new().await;
    let a = db.school("alder").await;
    let _b = db.school("birch").await;

    let mut tx = begin_school_tx(&db.pool, &a).await.unwrap();
    let own: i64 = sqlx::query_scalar("SELECT count(*) FROM students")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(own, 0);
    let err = sqlx::query("SELECT * FROM tenant_birch.students")
        .fetch_all(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(
        sqlstate(&err),
        "42501",
        "permission denied expected, got {err}"
    );
    tx.rollback().await.unwrap();

    let mut tx = begin_school_tx(&db.pool, &a).await.unwrap();
    let err = sqlx::query("SELECT * FROM platform.tenants")
        .fetch_all(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "{err}");
    tx.rollback().await.unwrap();

    // Nor write to, or use the sequences and functions of, another school; nor create
    // anything: not in its own schema, not in `public`, not a temporary table.
    for denied in [
        "INSERT INTO tenant_birch.subjects (name) VALUES ('Chemistry')",
        "SELECT nextval('tenant_birch.audit_log_id_seq')",
        "SELECT tenant_birch.audit_log_refuse_change()",
        "CREATE TABLE sneaky (id int)",
        "CREATE TABLE public.sneaky (id int)",
        "CREATE TEMP TABLE students (id int)",
    ] {
        let mut tx = begin_school_tx(&db.pool, &a).await.unwrap();
        let err = sqlx::query(denied).execute(&mut *tx).await.unwrap_err();
        assert_eq!(sqlstate(&err), "42501", "{denied}: {err}");
    }
}

#[tokio::test]
async fn a_pooled_connection_returns_to_defaults_after_a_school_transaction() {
    let db = TestDb::with_pool_size(1).await;
    let a = db.school("alder").await;
    let defaults = |pool: sqlx::PgPool| async move {
        let row = sqlx::query("SELECT current_setting('search_path'), current_user::text")
            .fetch_one(&pool)
            .await
            .unwrap();
        (row.get::<String, _>(0), row.get::<String, _>(1))
    };
    let before = defaults(db.pool.clone()).await;
    assert!(!before.0.contains("tenant_"));

    // Committed.
    let mut tx = begin_school_tx(&db.pool, &a).await.unwrap();
    let inside = sqlx::query("SELECT current_setting('search_path'), current_user::text")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(inside.get::<String, _>(0), "\"tenant_alder\", pg_temp");
    assert_eq!(inside.get::<String, _>(1), a.role_name);
    tx.commit().await.unwrap();
    assert_eq!(defaults(db.pool.clone()).await, before);

    // Dropped without commit.
    {
        let mut tx = begin_school_tx(&db.pool, &a).await.unwrap();
        sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap();
    }
    assert_eq!(defaults(db.pool.clone()).await, before);

    // Aborted by an error.
    let mut tx = begin_school_tx(&db.pool, &a).await.unwrap();
    let _ = sqlx::query("SELECT * FROM no_such_table")
        .execute(&mut *tx)
        .await;
    drop(tx);
    assert_eq!(defaults(db.pool.clone()).await, before);
}

#[tokio::test]
async fn the_audit_log_only_grows() {
    let db = TestDb::new().await;
    let a = db.school("alder").await;
    let insert = "INSERT INTO audit_log (actor, action, prev_hash, hash) \
                  VALUES ('system', 'test', $1, $2)";

    let mut tx = begin_school_tx(&db.pool, &a).await.unwrap();
    sqlx::query(insert)
        .bind(vec![0u8; 32])
        .bind(vec![1u8; 32])
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    for change in [
        "UPDATE audit_log SET action = 'changed'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let mut tx = begin_school_tx(&db.pool, &a).await.unwrap();
        let err = sqlx::query(change).execute(&mut *tx).await.unwrap_err();
        assert_eq!(sqlstate(&err), "42501", "{change}: {err}");
    }
    // Even the schema owner is stopped by the trigger.
    for change in [
        "UPDATE tenant_alder.audit_log SET action = 'changed'",
        "DELETE FROM tenant_alder.audit_log",
        "TRUNCATE tenant_alder.audit_log",
    ] {
        let err = sqlx::query(change).execute(&db.pool).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{change}: {err}");
    }
    // The role itself holds only INSERT and SELECT (not just stopped by the trigger).
    let privileges: Vec<bool> = sqlx::query_scalar(
        "SELECT has_table_privilege($1, 'tenant_alder.audit_log', p) \
         FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p",
    )
    .bind(&a.role_name)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(privileges, [true, true, false, false, false]);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_alder.audit_log")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn bad_and_duplicate_input_creates_nothing() {
    let db = TestDb::new().await;
    db.school("alder").await;
    let migrations = TenantMigrations::embedded();

    for slug in [
        "Alder2",
        "al'der",
        "al\"der",
        "al der",
        "9alder",
        "ab",
        &"a".repeat(41),
    ] {
        let err = NewSchool::parse(slug, "Some School", "some.sch.uk").unwrap_err();
        assert!(err.is_caller_error(), "{slug}: {err}");
    }
    let duplicates = [
        ("alder", "elsewhere.sch.uk", "slug"),
        ("cedar", "ALDER.sch.uk", "domain"),
    ];
    for (slug, domain, what) in duplicates {
        let new = NewSchool::parse(slug, "Some School", domain).unwrap();
        let err = tenancy::provision_school(&db.pool, &db.role_prefix, &migrations, &new)
            .await
            .unwrap_err();
        match (what, &err) {
            ("slug", ProvisionError::SlugTaken(_)) | ("domain", ProvisionError::DomainTaken(_)) => {
            }
            _ => panic!("duplicate {what}: unexpected {err:?}"),
        }
        assert!(err.is_caller_error());
    }
    assert_eq!(db.registry_count().await, 1);
    assert_eq!(db.school_schemas().await, ["tenant_alder"]);
    assert_eq!(db.roles().await.len(), 1);
}

#[tokio::test]
async fn an_existing_role_is_reported_and_nothing_is_created() {
    let db = TestDb::new().await;
    let role = format!("{}tenant_cedar", db.role_prefix);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE \"{role}\" NOLOGIN"
    )))
    .execute(&db.pool)
    .await
    .unwrap();
    let new = NewSchool::parse("cedar", "Cedar", "cedar.sch.uk").unwrap();
    let err = tenancy::provision_school(
        &db.pool,
        &db.role_prefix,
        &TenantMigrations::embedded(),
        &new,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ProvisionError::RoleExists(ref r) if *r == role),
        "{err:?}"
    );
    assert!(err.to_string().contains("already exists"));
    assert_eq!(db.registry_count().await, 0);
    assert!(db.school_schemas().await.is_empty());

    // A stray schema of the same name is reported too, and left as it was.
    sqlx::query("CREATE SCHEMA tenant_dover")
        .execute(&db.pool)
        .await
        .unwrap();
    let new = NewSchool::parse("dover", "Dover", "dover.sch.uk").unwrap();
    let err = tenancy::provision_school(
        &db.pool,
        &db.role_prefix,
        &TenantMigrations::embedded(),
        &new,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ProvisionError::SchemaExists(_)), "{err:?}");
    assert_eq!(db.registry_count().await, 0);
    assert_eq!(db.roles().await, [role], "no role made for dover");
}

#[tokio::test]
async fn a_failure_while_provisioning_leaves_nothing_behind() {
    let db = TestDb::new().await;
    let broken =
        TenantMigrations::embedded().with_next("9999_broken.sql", "ALTER TABLE nope ADD x int;");
    let new = NewSchool::parse("cedar", "Cedar", "cedar.sch.uk").unwrap();
    let err = tenancy::provision_school(&db.pool, &db.role_prefix, &broken, &new)
        .await
        .unwrap_err();
    assert!(matches!(err, ProvisionError::SchemaBuild(_)), "{err:?}");
    assert!(!err.is_caller_error());
    assert_eq!(db.registry_count().await, 0);
    assert!(db.school_schemas().await.is_empty());
    assert!(db.roles().await.is_empty(), "the role was rolled back too");
}

#[tokio::test]
async fn a_school_whose_upgrade_fails_stays_behind_and_the_others_move_on() {
    let db = TestDb::new().await;
    let base = TenantMigrations::embedded();
    for slug in ["alder", "birch", "cedar"] {
        db.school(slug).await;
    }
    // Birch has a student Classroom gave no email for; the new rule cannot hold there.
    sqlx::query("INSERT INTO tenant_birch.students (classroom_user_id) VALUES ('1001')")
        .execute(&db.pool)
        .await
        .unwrap();
    let target = base.with_next(
        "9999_student_email_required.sql",
        "ALTER TABLE students ALTER COLUMN email SET NOT NULL;",
    );

    let report = tenancy::migrate_schools(&db.pool, &target, 3, &())
        .await
        .unwrap();
    let failed: Vec<_> = report.failed().map(|o| o.slug.as_str()).collect();
    assert_eq!(failed, ["birch"]);
    assert_eq!(report.upgraded(), 2);

    let versions: Vec<(String, i32)> =
        sqlx::query_as("SELECT slug, schema_version FROM platform.tenants ORDER BY slug")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let (old, new) = (base.latest_version(), target.latest_version());
    assert_eq!(
        versions,
        [
            ("alder".into(), new),
            ("birch".into(), old),
            ("cedar".into(), new)
        ]
    );
    let recorded: (bool, Option<String>) = sqlx::query_as(
        "SELECT succeeded, error FROM platform.tenant_migration_runs r \
         JOIN platform.tenants t ON t.id = r.tenant_id WHERE t.slug = 'birch'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(!recorded.0);
    assert!(
        recorded
            .1
            .unwrap()
            .contains("9999_student_email_required.sql")
    );
    // Birch's schema is untouched: email is still optional there.
    let nullable: String = sqlx::query_scalar(
        "SELECT is_nullable::text FROM information_schema.columns \
         WHERE table_schema = 'tenant_birch' AND table_name = 'students' AND column_name = 'email'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(nullable, "YES");
}

#[tokio::test]
async fn two_migrate_runs_at_once_apply_each_change_once() {
    let db = TestDb::new().await;
    for i in 0..6 {
        db.school_with(&format!("school{i}"), &TenantMigrations::none())
            .await;
    }
    let target = with_extra_change(&TenantMigrations::embedded());
    let (one, two) = tokio::join!(
        tenancy::migrate_schools(&db.pool, &target, 3, &()),
        tenancy::migrate_schools(&db.pool, &target, 3, &()),
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.failed().count() + two.failed().count(), 0);
    assert_eq!(one.upgraded() + two.upgraded(), 6);
    let already = one
        .outcomes
        .iter()
        .chain(&two.outcomes)
        .filter(|o| o.result == SchoolResult::AlreadyCurrent)
        .count();
    assert_eq!(one.outcomes.len() + two.outcomes.len(), 6 + already);
    let successes: i64 =
        sqlx::query_scalar("SELECT count(*) FROM platform.tenant_migration_runs WHERE succeeded")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(successes, 6);
}

#[tokio::test]
async fn the_longest_prefix_and_slug_still_make_a_valid_role() {
    let db = TestDb::new().await;
    let prefix = format!(
        "{}{}",
        db.role_prefix,
        "p".repeat(16 - db.role_prefix.len())
    );
    let slug = format!("s{}", "x".repeat(39));
    let new = NewSchool::parse(&slug, "Long", "long.sch.uk").unwrap();
    let school = tenancy::provision_school(&db.pool, &prefix, &TenantMigrations::embedded(), &new)
        .await
        .unwrap();
    assert_eq!(school.role_name.len(), 63);
    let mut tx = begin_school_tx(&db.pool, &school).await.unwrap();
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(
        user, school.role_name,
        "PostgreSQL did not truncate the name"
    );
}

#[tokio::test]
async fn a_school_newer_than_this_build_is_reported_not_skipped() {
    let db = TestDb::new().await;
    db.school("alder").await;
    sqlx::query("UPDATE platform.tenants SET schema_version = 99 WHERE slug = 'alder'")
        .execute(&db.pool)
        .await
        .unwrap();
    let report = tenancy::migrate_schools(&db.pool, &TenantMigrations::embedded(), 2, &())
        .await
        .unwrap();
    let failed: Vec<_> = report.failed().collect();
    assert_eq!(failed.len(), 1);
    assert!(
        matches!(&failed[0].result, SchoolResult::Failed(r) if r.contains("deploy the newer build")),
        "{:?}",
        failed[0]
    );
}

/// What `platform.tenant_applied_migrations` holds for a school: version, name, checksum and
/// how it was recorded.
async fn applied(db: &TestDb, slug: &str) -> Vec<(i32, String, Vec<u8>, String)> {
    sqlx::query_as(
        "SELECT m.version, m.name, m.checksum, m.recorded \
         FROM platform.tenant_applied_migrations m JOIN platform.tenants t ON t.id = m.tenant_id \
         WHERE t.slug = $1 ORDER BY m.version",
    )
    .bind(slug)
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

async fn schema_checksum(db: &TestDb, slug: &str) -> Option<Vec<u8>> {
    sqlx::query_scalar("SELECT schema_checksum FROM platform.tenants WHERE slug = $1")
        .bind(slug)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_new_school_records_the_checksum_of_every_version_it_is_built_from() {
    let db = TestDb::new().await;
    let migrations = TenantMigrations::embedded();
    let latest = migrations.latest_version();
    db.school("alder").await;

    let rows = applied(&db, "alder").await;
    let expected: Vec<_> = migrations
        .checksums_up_to(latest)
        .into_iter()
        .map(|v| (v.version, v.name, v.checksum.to_vec(), "applied".to_owned()))
        .collect();
    assert_eq!(rows, expected);
    assert_eq!(rows[0].1, "tenant_template.sql");
    assert_eq!(rows.len() as i32, latest);
    assert_eq!(
        schema_checksum(&db, "alder").await,
        Some(migrations.schema_checksum(latest).to_vec())
    );
    // The grants were made per schema while building, and nothing of that is left behind.
    let defaults: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_default_acl")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(defaults, 0);
}

#[tokio::test]
async fn a_changed_migration_is_refused_naming_the_school_and_the_version() {
    let db = TestDb::new().await;
    let base = TenantMigrations::embedded();
    let next = base.latest_version() + 1;
    let first = base.with_next(
        "9999_test_notes.sql",
        "ALTER TABLE students ADD COLUMN note text;",
    );
    // Alder got the change as first written; birch is a version behind and never ran it.
    db.school_with("alder", &first).await;
    db.school("birch").await;
    // Then someone edits the change that already ran on alder.
    let edited = base.with_next(
        "9999_test_notes.sql",
        "ALTER TABLE students ADD COLUMN note text NOT NULL DEFAULT '';",
    );

    for _ in 0..2 {
        let report = tenancy::migrate_schools(&db.pool, &edited, 2, &())
            .await
            .unwrap();
        let failed: Vec<_> = report.failed().collect();
        assert_eq!(failed.len(), 1, "{:?}", report.outcomes);
        assert_eq!(failed[0].slug, "alder");
        let SchoolResult::Failed(reason) = &failed[0].result else {
            unreachable!()
        };
        assert!(
            reason.contains(&format!("version {next} (9999_test_notes.sql) has changed")),
            "{reason}"
        );
        // Every run says so again: alder is never quietly taken for current.
        if report.upgraded() == 1 {
            let birch = report.outcomes.iter().find(|o| o.slug == "birch").unwrap();
            assert_eq!(
                birch.to_version, next,
                "birch takes the change as it now is"
            );
        }
    }
    // Alder's schema is as it was, and each refusal was recorded for operators.
    let nullable: String = sqlx::query_scalar(
        "SELECT is_nullable::text FROM information_schema.columns \
         WHERE table_schema = 'tenant_alder' AND table_name = 'students' AND column_name = 'note'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(nullable, "YES");
    let refusals: Vec<String> = sqlx::query_scalar(
        "SELECT r.error FROM platform.tenant_migration_runs r \
         JOIN platform.tenants t ON t.id = r.tenant_id WHERE t.slug = 'alder' AND NOT r.succeeded",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(refusals.len(), 2);
    assert!(refusals[0].contains("has changed"), "{}", refusals[0]);

    // An older version edited is caught too, on a school already at the latest version.
    let mut list = edited.as_slice().to_vec();
    list[0].sql = format!("{}-- tidied\n", list[0].sql).into();
    let older_edited = TenantMigrations::new(list).unwrap();
    let report = tenancy::migrate_schools(&db.pool, &older_edited, 2, &())
        .await
        .unwrap();
    let failed: Vec<_> = report
        .failed()
        .map(|o| match &o.result {
            SchoolResult::Failed(reason) => (o.slug.as_str(), reason.clone()),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    for (slug, reason) in failed {
        assert!(
            reason.contains("version 2 (0002_staff_last_signed_in.sql) has changed"),
            "{slug}: {reason}"
        );
    }
}

#[tokio::test]
async fn schools_from_before_checksums_have_them_recorded_once() {
    let db = TestDb::new().await;
    let migrations = TenantMigrations::embedded();
    let latest = migrations.latest_version();
    db.school("alder").await;
    db.school_with("birch", &TenantMigrations::none()).await;
    // As the platform migration leaves schools provisioned before checksums were kept.
    sqlx::query("DELETE FROM platform.tenant_applied_migrations")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE platform.tenants SET schema_checksum = NULL")
        .execute(&db.pool)
        .await
        .unwrap();

    let report = tenancy::migrate_schools(&db.pool, &migrations, 2, &())
        .await
        .unwrap();
    assert_eq!(report.failed().count(), 0, "{:?}", report.outcomes);
    assert_eq!(report.adopted(), 2);
    let result = |slug: &str| {
        report
            .outcomes
            .iter()
            .find(|o| o.slug == slug)
            .map(|o| o.result.clone())
    };
    assert_eq!(result("alder"), Some(SchoolResult::ChecksumsRecorded));
    assert_eq!(result("birch"), Some(SchoolResult::Upgraded));

    let ours: Vec<_> = migrations
        .checksums_up_to(latest)
        .into_iter()
        .map(|v| (v.version, v.name, v.checksum.to_vec()))
        .collect();
    let without_how = |rows: Vec<(i32, String, Vec<u8>, String)>| {
        rows.into_iter()
            .map(|(v, n, c, _)| (v, n, c))
            .collect::<Vec<_>>()
    };
    let alder = applied(&db, "alder").await;
    assert!(alder.iter().all(|r| r.3 == "adopted"));
    assert_eq!(without_how(alder), ours);
    // Birch vouched only for the template it had; the rest it applied now.
    let birch = applied(&db, "birch").await;
    let how: Vec<&str> = birch.iter().map(|r| r.3.as_str()).collect();
    assert_eq!(how[0], "adopted");
    assert!(how[1..].iter().all(|h| *h == "applied"));
    assert_eq!(without_how(birch), ours);
    for slug in ["alder", "birch"] {
        assert_eq!(
            schema_checksum(&db, slug).await,
            Some(migrations.schema_checksum(latest).to_vec())
        );
    }

    let again = tenancy::migrate_schools(&db.pool, &migrations, 2, &())
        .await
        .unwrap();
    assert!(again.outcomes.is_empty(), "{:?}", again.outcomes);
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM platform.tenant_migration_runs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(runs, 1, "recording checksums is not an upgrade; birch's is");
}

#[tokio::test]
async fn cached_settings_are_kept_apart_per_deployment() {
    use invigilator::tenancy::settings;
    let db = TestDb::new().await;
    let school = db.school("alder").await;
    let redis = invigilator::redis_client::lazy_connection(&db.config(&[])).unwrap();
    let (ours, theirs) = (
        format!("{}a_", db.role_prefix),
        format!("{}b_", db.role_prefix),
    );
    let cached = settings::load(&db.pool, &redis, &ours, school.id)
        .await
        .unwrap();
    assert_eq!(cached.retention_months, 36);
    // Changed behind the cache's back (as by a copy of the database another deployment uses).
    sqlx::query("UPDATE platform.tenants SET retention_months = 24 WHERE id = $1")
        .bind(school.id)
        .execute(&db.pool)
        .await
        .unwrap();
    let again = settings::load(&db.pool, &redis, &ours, school.id)
        .await
        .unwrap();
    assert_eq!(again.retention_months, 36, "our cached copy");
    let other = settings::load(&db.pool, &redis, &theirs, school.id)
        .await
        .unwrap();
    assert_eq!(
        other.retention_months, 24,
        "never ours: its own names in Redis"
    );
}
