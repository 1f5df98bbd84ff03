//! Leases shared through Redis: renewed while their work runs, freed soon after a holder dies.

use invigilator_test_kit as common;

use std::time::Duration;

use invigilator::lease::{LeaseError, Leases};

async fn leases() -> Leases {
    let client = redis::Client::open(common::redis_url()).unwrap();
    let redis = client.get_connection_manager().await.unwrap();
    // A namespace of its own, so parallel runs never meet.
    Leases::new(redis).namespaced(&format!("t{}_", uuid::Uuid::new_v4().simple()))
}

#[tokio::test]
async fn a_lease_is_kept_while_its_work_runs_however_long() {
    let leases = leases().await;
    let ttl = Duration::from_millis(300);
    let lease = leases.acquire("sync", ttl, Duration::ZERO).await.unwrap();
    let work = tokio::spawn(lease.hold_while(ttl, tokio::time::sleep(Duration::from_millis(1200))));
    // Four times the time-to-live later, it is still lease.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(matches!(
        leases.acquire("sync", ttl, Duration::ZERO).await,
        Err(LeaseError::Busy { .. })
    ));
    work.await.unwrap();
    // Released when the work is done, not left to expire.
    let again = leases.acquire("sync", ttl, Duration::ZERO).await.unwrap();
    again.release().await;
}

#[tokio::test]
async fn a_dead_holders_lock_frees_itself_after_its_ttl() {
    let leases = leases().await;
    let ttl = Duration::from_millis(300);
    // The holder stops (as a killed process would): nothing releases or renews the lock.
    let dead = leases.acquire("sync", ttl, Duration::ZERO).await.unwrap();
    assert!(leases.acquire("sync", ttl, Duration::ZERO).await.is_err());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let taken = leases.acquire("sync", ttl, Duration::ZERO).await.unwrap();
    // Its old holder cannot renew what another now holds; the new holder can.
    assert!(!dead.renew(ttl).await);
    assert!(taken.renew(ttl).await);
    drop(dead);
    taken.release().await;
}
