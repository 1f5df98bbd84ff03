//! Session lifetimes: idle and absolute expiry, one-use sign-in attempts.

mod common;

use chrono::Duration;
use invigilator::auth::session::{LoginAttempt, LoginPurpose, SessionLifetimes, Sessions};
use uuid::Uuid;

fn sessions(idle_secs: i64, absolute_secs: i64) -> Sessions {
    let client = redis::Client::open(common::redis_url()).unwrap();
    let manager =
        redis::aio::ConnectionManager::new_lazy_with_config(client, Default::default()).unwrap();
    Sessions::new(
        manager,
        SessionLifetimes {
            idle: Duration::seconds(idle_secs),
            absolute: Duration::seconds(absolute_secs),
        },
        false,
    )
}

#[tokio::test]
async fn an_idle_session_expires_and_an_active_one_is_renewed() {
    let store = sessions(1, 60);
    let (id, data) = store.create(Uuid::new_v4(), Uuid::new_v4()).await.unwrap();
    assert_eq!(store.load(&id).await.unwrap(), Some(data.clone()));
    // Used every half second: stays alive past the idle limit.
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert!(store.load(&id).await.unwrap().is_some());
    }
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(store.load(&id).await.unwrap(), None, "idle too long");
}

#[tokio::test]
async fn a_busy_session_still_ends_at_its_absolute_limit() {
    let store = sessions(60, 2);
    let (id, _) = store.create(Uuid::new_v4(), Uuid::new_v4()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert!(store.load(&id).await.unwrap().is_some());
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(
        store.load(&id).await.unwrap(),
        None,
        "past the absolute limit"
    );
    assert_eq!(store.load("not-a-session").await.unwrap(), None);
}

#[tokio::test]
async fn a_sign_in_attempt_can_be_used_once() {
    let store = sessions(60, 60);
    let attempt = LoginAttempt {
        state: "s".into(),
        nonce: "n".into(),
        pkce_verifier: "v".into(),
        purpose: LoginPurpose::SignIn,
        forced_consent: false,
    };
    let id = store.start_login(&attempt).await.unwrap();
    assert!(store.take_login(&id).await.unwrap().is_some());
    assert!(store.take_login(&id).await.unwrap().is_none());
}
