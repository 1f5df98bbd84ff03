//! Encrypted credentials at rest: nothing readable in the database, key rotation, and start-up
//! refusing a key ring that cannot open what is stored.

use invigilator_test_kit as common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use invigilator::crypto::KeyRing;
use invigilator::google::credentials::{self, Purpose};
use invigilator::tenancy::{self, School};
use secrecy::{ExposeSecret, SecretString};

fn operator() -> invigilator::audit::Actor {
    invigilator::audit::Actor::Operator(CLI_OPERATOR.to_owned())
}

fn ring(versions: &[u8]) -> String {
    versions
        .iter()
        .map(|v| format!("{v}:{}", STANDARD.encode([*v; 32])))
        .collect::<Vec<_>>()
        .join(",")
}

async fn store_grant(db: &TestDb, school: &School, keys: &KeyRing, email: &str, token: &str) {
    let staff = add_staff(db, school, email).await;
    let mut tx = tenancy::begin_school_tx(&db.pool, school).await.unwrap();
    let id = credentials::save_oauth(
        &mut tx,
        keys,
        staff,
        Purpose::SignIn,
        email,
        &["openid".to_owned()],
        &SecretString::from(token.to_owned()),
    )
    .await
    .unwrap();
    credentials::store_access_token(
        &mut tx,
        keys,
        id,
        &SecretString::from(format!("ya29.access-for-{email}")),
        chrono::Utc::now() + chrono::Duration::minutes(30),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn stored_prefixes(db: &TestDb, school: &School) -> Vec<String> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT split_part(s, ':', 1) FROM (SELECT refresh_token s FROM {0}.google_credentials \
         UNION ALL SELECT access_token FROM {0}.google_credentials) x WHERE s IS NOT NULL",
        school.schema_name
    )))
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_database_never_holds_a_token_in_plain_text() {
    let db = TestDb::new().await;
    let school = db.school("alder").await;
    let keys = KeyRing::parse(&ring(&[1])).unwrap();
    let token = "1//0refresh-PLAINTEXT-must-never-appear-7f3a";
    store_grant(&db, &school, &keys, "ada@alder.sch.uk", token).await;

    let dump = std::process::Command::new("pg_dump")
        .arg("--data-only")
        .arg(&db.url)
        .output()
        .expect("pg_dump (postgresql-client) is installed by scripts/services.sh");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(
        dump.contains("ada@alder.sch.uk"),
        "the dump has the credential row"
    );
    assert!(
        !dump.contains("PLAINTEXT-must-never-appear"),
        "refresh token in the clear"
    );
    assert!(
        !dump.contains("ya29.access-for"),
        "access token in the clear"
    );
    assert!(dump.contains("v1:"), "sealed values are there");

    // And it opens again with the key.
    let mut tx = tenancy::begin_school_tx(&db.pool, &school).await.unwrap();
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM google_credentials")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let unsealed = credentials::unseal(&mut tx, &keys, id).await.unwrap();
    assert_eq!(unsealed.secret.expose_secret(), token);
}

#[tokio::test]
async fn a_ciphertext_copied_to_another_row_or_school_does_not_open() {
    let db = TestDb::new().await;
    let alder = db.school("alder").await;
    let birch = db.school("birch").await;
    let keys = KeyRing::parse(&ring(&[1])).unwrap();
    store_grant(&db, &alder, &keys, "ada@alder.sch.uk", "alder-token").await;
    store_grant(&db, &birch, &keys, "bob@birch.sch.uk", "birch-token").await;
    // Someone with database access copies Alder's sealed token into Birch's row.
    sqlx::query(
        "UPDATE tenant_birch.google_credentials SET refresh_token = \
         (SELECT refresh_token FROM tenant_alder.google_credentials)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let mut tx = tenancy::begin_school_tx(&db.pool, &birch).await.unwrap();
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM google_credentials")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let err = credentials::unseal(&mut tx, &keys, id).await.err().unwrap();
    assert!(err.to_string().contains("failed authentication"), "{err}");
}

#[tokio::test]
async fn rewrap_moves_every_secret_to_the_newest_key() {
    let db = TestDb::new().await;
    let alder = db.school("alder").await;
    let birch = db.school("birch").await;
    let old = KeyRing::parse(&ring(&[1])).unwrap();
    store_grant(&db, &alder, &old, "ada@alder.sch.uk", "t1").await;
    store_grant(&db, &alder, &old, "alan@alder.sch.uk", "t2").await;
    store_grant(&db, &birch, &old, "bob@birch.sch.uk", "t3").await;

    let both = KeyRing::parse(&ring(&[1, 2])).unwrap();
    let report = credentials::rewrap_all(&db.pool, &both, &operator())
        .await
        .unwrap();
    assert_eq!(report.per_school["alder"], 4, "2 refresh + 2 access tokens");
    assert_eq!(report.per_school["birch"], 2);
    assert_eq!(report.total(), 6);
    for school in [&alder, &birch] {
        assert!(stored_prefixes(&db, school).await.iter().all(|p| p == "v2"));
    }
    // Each school's log says which operator opened its secrets, and how many.
    let recorded: (String, serde_json::Value) = sqlx::query_as(
        "SELECT actor, details FROM tenant_alder.audit_log \
         WHERE action = 'operator.keys_rewrapped'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(recorded.0, format!("operator:{CLI_OPERATOR}"));
    assert_eq!(recorded.1["secrets"], 4);
    // Key 1 can now be retired.
    let new_only = KeyRing::parse(&ring(&[2])).unwrap();
    credentials::check_key_ring(&db.pool, &new_only)
        .await
        .unwrap();
    let mut tx = tenancy::begin_school_tx(&db.pool, &birch).await.unwrap();
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM google_credentials")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let unsealed = credentials::unseal(&mut tx, &new_only, id).await.unwrap();
    assert_eq!(unsealed.secret.expose_secret(), "t3");
    tx.commit().await.unwrap();
    // Nothing left to do the second time.
    assert_eq!(
        credentials::rewrap_all(&db.pool, &both, &operator())
            .await
            .unwrap()
            .total(),
        0
    );
}

#[tokio::test]
async fn a_key_ring_missing_a_stored_version_is_refused_by_name() {
    let db = TestDb::new().await;
    let alder = db.school("alder").await;
    let old = KeyRing::parse(&ring(&[1])).unwrap();
    store_grant(&db, &alder, &old, "ada@alder.sch.uk", "t1").await;
    let err = credentials::check_key_ring(&db.pool, &KeyRing::parse(&ring(&[2])).unwrap())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("key version 1 (used by alder)"),
        "{err}"
    );

    // The binary: serve refuses to start, keys rewrap moves everything.
    let env = |keys: &str| {
        let mut env = db.env();
        env.insert("TOKEN_KEYS", keys.to_owned());
        env
    };
    let serve = std::process::Command::new(env!("CARGO_BIN_EXE_invigilator"))
        .arg("serve")
        .env_clear()
        .envs(env(&ring(&[2])))
        .env("PORT", "18999")
        .output()
        .unwrap();
    assert_eq!(serve.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&serve.stderr);
    assert!(
        stderr.contains("TOKEN_KEYS lacks key version 1 (used by alder)"),
        "{stderr}"
    );

    let rewrap = std::process::Command::new(env!("CARGO_BIN_EXE_invigilator"))
        .args(["--operator", common::CLI_OPERATOR, "keys", "rewrap"])
        .env_clear()
        .envs(env(&ring(&[1, 2])))
        .output()
        .unwrap();
    assert!(
        rewrap.status.success(),
        "{}",
        String::from_utf8_lossy(&rewrap.stderr)
    );
    let stdout = String::from_utf8_lossy(&rewrap.stdout);
    assert!(
        stdout.contains("alder: 2 secret(s) re-encrypted"),
        "{stdout}"
    );
    assert!(stdout.contains("now under key version 2"), "{stdout}");
}
