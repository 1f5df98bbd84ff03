//! Session lifetimes: idle and absolute expiry, one-use sign-in attempts.

use invigilator_test_kit as common;

use chrono::Duration;
use invigilator::auth::session::{LoginAttempt, LoginPurpose, SessionLifetimes, Sessions};
use uuid::Uuid;

fn sessions(idle_secs: i64, absolute_secs: i64) -> Sessions {
    sessions_in("", idle_secs, absolute_secs)
}

/// Sessions of the deployment whose Redis names start with `namespace`.
fn sessions_in(namespace: &str, idle_secs: i64, absolute_secs: i64) -> Sessions {
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
        namespace,
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

#[tokio::test]
async fn two_deployments_sharing_one_redis_never_see_each_others_sessions() {
    let tag = &Uuid::new_v4().simple().to_string()[..8];
    let (a, b) = (format!("a{tag}_"), format!("b{tag}_"));
    let first = sessions_in(&a, 60, 60);
    let second = sessions_in(&b, 60, 60);
    let (id, data) = first.create(Uuid::new_v4(), Uuid::new_v4()).await.unwrap();
    assert_eq!(first.load(&id).await.unwrap(), Some(data));
    assert_eq!(second.load(&id).await.unwrap(), None, "not a session here");
    let attempt = LoginAttempt {
        state: "s".into(),
        nonce: "n".into(),
        pkce_verifier: "v".into(),
        purpose: LoginPurpose::SignIn,
        forced_consent: false,
    };
    let login = first.start_login(&attempt).await.unwrap();
    assert!(second.take_login(&login).await.unwrap().is_none());
    assert!(first.take_login(&login).await.unwrap().is_some());

    // Stored under the deployment's prefix: the session's key, named as the service names it.
    let digest: String = {
        use sha2::Digest;
        sha2::Sha256::digest(id.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let client = redis::Client::open(common::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let stored: bool = redis::cmd("EXISTS")
        .arg(format!("invigilator:{a}session:{digest}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(stored, "the session is kept under the deployment's prefix");
    first.end(&id).await.unwrap();
}

#[tokio::test]
async fn ending_a_persons_sessions_ends_every_one_of_them_and_no_one_elses() {
    let store = sessions(60, 60);
    let (school, person, colleague) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let (laptop, _) = store.create(school, person).await.unwrap();
    let (phone, _) = store.create(school, person).await.unwrap();
    let (theirs, _) = store.create(school, colleague).await.unwrap();
    store.end(&phone).await.unwrap();
    assert_eq!(
        store.end_all_for(school, person).await.unwrap(),
        1,
        "the phone had ended"
    );
    assert_eq!(store.load(&laptop).await.unwrap(), None);
    assert!(store.load(&theirs).await.unwrap().is_some());
    assert_eq!(store.end_all_for(school, person).await.unwrap(), 0);
}
