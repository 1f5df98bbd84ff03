//! Responding to a suspected breach with the real binary: `sessions end-all` signs everyone
//! out, `grants revoke-all` revokes every stored Google grant at Google, and each is recorded
//! in the school's audit log under the operator's name.

use invigilator_test_kit as common;

use std::process::Output;

use common::lock_world::{LockWorld, lock_world};
use common::{CLI_OPERATOR, binary};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::Value;

/// Runs the binary against the world's database and Google, as `operator` (`None`: unnamed).
async fn invigilator(l: &LockWorld, operator: Option<&str>, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(binary());
    command
        .args(args)
        .env_clear()
        .envs(l.w.db.env())
        .env("GOOGLE_API_BASE_URL", l.w.emu.url())
        .env("GOOGLE_ISSUER_URL", l.w.emu.url())
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    if let Some(name) = operator {
        command.env("INVIGILATOR_OPERATOR", name);
    }
    // Off the test's thread: the emulator answers on it meanwhile.
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every stored refresh token of the school, opened with the development key.
async fn refresh_tokens(l: &LockWorld) -> Vec<String> {
    let keys = l.w.db.config(&[]).token_keys;
    let mut tx = invigilator::tenancy::begin_school_tx(&l.w.db.pool, &l.school)
        .await
        .unwrap();
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM google_credentials")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    let mut tokens = Vec::new();
    for id in ids {
        let unsealed = invigilator::google::credentials::unseal(&mut tx, &keys, id)
            .await
            .unwrap();
        tokens.push(unsealed.secret.expose_secret().to_owned());
    }
    tx.commit().await.unwrap();
    tokens
}

async fn audit(l: &LockWorld, action: &str) -> Vec<(String, Value)> {
    sqlx::query_as("SELECT actor, details FROM tenant_hillside.audit_log WHERE action = $1")
        .bind(action)
        .fetch_all(&l.w.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn after_a_suspected_breach_everyone_is_signed_out_and_every_grant_revoked_at_google() {
    let mut l = lock_world().await;
    let me = l.w.url("/api/me");
    assert_eq!(l.teacher.get(&me).await.status, StatusCode::OK);
    let tokens = refresh_tokens(&l).await;
    assert_eq!(tokens.len(), 2, "the teacher's and the Drive operator's");
    for token in &tokens {
        assert!(l.w.refresh_token_works(token).await);
    }

    // Without an operator's name nothing happens.
    let refused = invigilator(&l, None, &["sessions", "end-all"]).await;
    assert_eq!(refused.status.code(), Some(2), "{}", out(&refused));
    assert_eq!(l.teacher.get(&me).await.status, StatusCode::OK);

    // A school being offboarded is left as its export holds it.
    let leaving = l.w.db.school("oakfield").await;
    sqlx::query("UPDATE platform.tenants SET status = 'offboarding' WHERE id = $1")
        .bind(leaving.id)
        .execute(&l.w.db.pool)
        .await
        .unwrap();

    let ended = invigilator(&l, Some(CLI_OPERATOR), &["sessions", "end-all"]).await;
    assert!(ended.status.success(), "{}", out(&ended));
    assert!(
        out(&ended).contains("hillside: 1 session(s) ended"),
        "{}",
        out(&ended)
    );
    assert_eq!(l.teacher.get(&me).await.status, StatusCode::UNAUTHORIZED);
    let recorded = audit(&l, "operator.sessions_ended").await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].0, format!("operator:{CLI_OPERATOR}"));
    assert_eq!(recorded[0].1["sessions"], 1);

    let untouched: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tenant_oakfield.audit_log WHERE action = 'operator.sessions_ended'",
    )
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    assert_eq!(untouched, 0, "nothing written to a school being offboarded");
    let offboarding = invigilator(
        &l,
        Some(CLI_OPERATOR),
        &["grants", "revoke-all", "--school", "oakfield"],
    )
    .await;
    assert_eq!(offboarding.status.code(), Some(2), "{}", out(&offboarding));
    assert!(
        out(&offboarding).contains("oakfield is being offboarded"),
        "{}",
        out(&offboarding)
    );

    // A school we do not have is an input error, and touches nothing.
    let unknown = invigilator(
        &l,
        Some(CLI_OPERATOR),
        &["grants", "revoke-all", "--school", "nowhere"],
    )
    .await;
    assert_eq!(unknown.status.code(), Some(2), "{}", out(&unknown));
    assert_eq!(refresh_tokens(&l).await.len(), 2);

    let revoked = invigilator(
        &l,
        Some(CLI_OPERATOR),
        &["grants", "revoke-all", "--school", "hillside"],
    )
    .await;
    assert!(revoked.status.success(), "{}", out(&revoked));
    assert!(
        out(&revoked).contains("hillside: 2 grant(s) set aside; 2 revoked"),
        "{}",
        out(&revoked)
    );
    assert!(refresh_tokens(&l).await.is_empty(), "our copies are gone");
    for token in &tokens {
        assert!(
            !l.w.refresh_token_works(token).await,
            "Google no longer honours it"
        );
    }
    let recorded = audit(&l, "operator.grants_revoked").await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].0, format!("operator:{CLI_OPERATOR}"));
    assert_eq!(recorded[0].1["grants_set_aside"], 2);
    assert_eq!(audit(&l, "google_grant.revoked").await.len(), 2);

    // The chain that records all this is whole.
    let verified = invigilator(&l, Some(CLI_OPERATOR), &["audit", "verify", "hillside"]).await;
    assert!(verified.status.success(), "{}", out(&verified));
}
