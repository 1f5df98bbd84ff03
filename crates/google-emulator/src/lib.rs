//! A local Google for Invigilator's tests, demo and benchmarks: OAuth 2.0 / OpenID Connect,
//! Classroom v1 and Drive v3, speaking Google's wire format closely enough that the real
//! `google-classroom1`, `google-drive3` and `oauth2` crates cannot tell the difference.
//!
//! Start one in-process with [`start`], or standalone with the `google-emulator` binary. The
//! [`Emulator`] handle (and the admin API under `/emulator/`) seeds people, classes and shared
//! drives, reads back who can edit which folder, and sets quotas and faults.

pub mod admin;
pub mod auth;
pub mod classroom;
pub mod directory;
pub mod drive;
pub mod emulator;
pub mod error;
pub mod field_mask;
pub mod keys;
pub mod limits;
pub mod oauth;
pub mod paging;
pub mod seed;
pub mod server;
pub mod tokens;

pub use drive::store::Role;
pub use emulator::{Emulator, FileSummary, Settings};
pub use limits::{CannedResponse, FaultKind, FaultPlan, Stats};
pub use seed::{Quotas, Seed};
pub use server::{RunningEmulator, StartError, start, start_on};
