//! The emulator against Google's wire format, one binary: every call through the real
//! `google-*` crates, the discovery documents, and the standalone binary.
#![allow(clippy::unwrap_used)] // a test stops at the first surprise

mod classroom;
mod discovery;
mod drive;
mod oauth;
mod standalone;
mod support;
