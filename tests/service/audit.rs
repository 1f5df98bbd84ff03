//! The audit log: one unbroken chain under many writers, and tampering found by verify.

use invigilator_test_kit as common;

use common::{TestDb, database_url, invigilator};
use invigilator::audit::{self, Action, Actor, Target};
use invigilator::tenancy::begin_school_tx;
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};

#[tokio::test]
async fn two_hundred_concurrent_writers_make_one_unbroken_chain() {
    let db = TestDb::with_pool_size(20).await;
    let school = db.school("alder").await;
    let mut writers = tokio::task::JoinSet::new();
    for i in 0..200 {
        let pool = db.pool.clone();
        let school = school.clone();
        writers.spawn(async move {
            let mut tx = begin_school_tx(&pool, &school).await.unwrap();
            audit::record(
                &mut tx,
                &Actor::System("test"),
                Action::LockRequested,
                Some(&Target::new("portfolio", i)),
                json!({"version": i, "nested": {"b": 1, "a": [i, "x"]}}),
            )
            .await
            .unwrap();
            tx.commit().await.unwrap();
        });
    }
    writers.join_all().await;
    let result = audit::verify(&db.pool, &school).await.unwrap();
    assert_eq!(result.entries, 200);
    assert_eq!(result.first_break, None);
}

#[tokio::test]
async fn changes_made_behind_the_triggers_are_found() {
    let db = TestDb::new().await;
    let school = db.school("alder").await;
    for i in 0..5 {
        let mut tx = begin_school_tx(&db.pool, &school).await.unwrap();
        audit::record(
            &mut tx,
            &Actor::System("test"),
            Action::SyncRequested,
            Some(&Target::new("thing", i)),
            json!({"i": i}),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let ok = invigilator(&db, &["audit", "verify", "alder"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("audit log intact (5 entries)"));

    // A superuser switches the triggers off and edits an entry.
    let mut superuser = PgConnection::connect(&database_url(&db.name))
        .await
        .unwrap();
    superuser
        .execute("SET session_replication_role = replica")
        .await
        .unwrap();
    let third: i64 =
        sqlx::query_scalar("SELECT id FROM tenant_alder.audit_log ORDER BY id OFFSET 2 LIMIT 1")
            .fetch_one(&mut superuser)
            .await
            .unwrap();
    sqlx::query("UPDATE tenant_alder.audit_log SET details = '{\"i\": 99}' WHERE id = $1")
        .bind(third)
        .execute(&mut superuser)
        .await
        .unwrap();
    let result = audit::verify(&db.pool, &school).await.unwrap();
    let broken = result.first_break.expect("the edit is found");
    assert_eq!(broken.entry_id, third);
    assert!(broken.reason.contains("changed"), "{}", broken.reason);
    let cli = invigilator(&db, &["audit", "verify", "alder"]);
    assert_eq!(cli.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&cli.stderr).contains(&format!("broken at entry {third}")),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );

    // Put it back, then delete an entry instead: the next one no longer follows.
    sqlx::query("UPDATE tenant_alder.audit_log SET details = '{\"i\": 2}' WHERE id = $1")
        .bind(third)
        .execute(&mut superuser)
        .await
        .unwrap();
    assert_eq!(
        audit::verify(&db.pool, &school).await.unwrap().first_break,
        None
    );
    sqlx::query("DELETE FROM tenant_alder.audit_log WHERE id = $1")
        .bind(third)
        .execute(&mut superuser)
        .await
        .unwrap();
    let broken = audit::verify(&db.pool, &school)
        .await
        .unwrap()
        .first_break
        .unwrap();
    assert!(broken.entry_id > third);
    assert!(
        broken.reason.contains("removed or reordered"),
        "{}",
        broken.reason
    );

    let unknown = invigilator(&db, &["audit", "verify", "nosuchschool"]);
    assert_eq!(unknown.status.code(), Some(2));
}
