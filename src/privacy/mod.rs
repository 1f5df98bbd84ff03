//! Data-protection tools: what a school (the data controller) needs from us, its processor.
//!
//! - [`archive`]: the streaming zip writer (JSON + CSV per kind of row, and a manifest with each
//!   file's SHA-256) both exports use, and its verification.
//! - [`export`]: subject access export of one student or one member of staff.
//! - [`offboarding`]: the whole school exported, then deleted step by step, with a certificate.

pub mod archive;
pub mod export;
pub mod offboarding;
