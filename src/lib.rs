//! Invigilator: locks and unlocks students' Google Drive portfolio folders for UK secondary
//! schools, with one PostgreSQL schema per school and an append-only audit log.
//!
//! `main.rs` only parses the command line; everything lives in this library so that tests and
//! benchmarks drive the same code the service runs.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod database;
pub mod demo;
pub mod google;
pub mod input;
pub mod jobs;
pub mod lease;
pub mod metrics;
pub mod portfolio;
pub mod privacy;
pub mod redis_client;
pub mod redis_keys;
pub mod roster;
pub mod services;
pub mod telemetry;
pub mod tenancy;
pub mod web;
pub mod windows;
