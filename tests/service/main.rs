//! The service's integration tests, one binary: every test against real PostgreSQL and Redis
//! and the Google emulator, each with a database and a role prefix of its own, so they run in
//! parallel. (One binary links the whole stack once, not once per file.) The shared test world
//! is the `invigilator-test-kit` crate, which the benchmarks use too.
#![allow(clippy::unwrap_used)] // a test stops at the first surprise

mod admin_pages;
mod api_contract;
mod audit;
mod breach;
mod cli;
mod credentials;
mod dashboard;
mod data_map;
mod demo;
mod deployment;
mod drive_accounts;
mod drive_operators;
mod erasure;
mod failure_drills;
mod google;
mod head_pages;
mod leases;
mod leavers;
mod lock_drills;
mod locks;
mod metrics;
mod offboarding;
mod onward_shares;
mod privacy_export;
mod redis_tls;
mod retention;
mod roles;
mod roster;
mod server;
mod sessions;
mod signin;
mod staff_recognition;
mod support_access;
mod tenancy;
mod window_pages;
mod windows;
