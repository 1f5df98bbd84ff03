//! A local Google for Invigilator's tests, demo and benchmarks: OAuth 2.0 / OpenID Connect,
//! Classroom v1 and Drive v3, speaking Google's wire format closely enough that the real
//! `google-classroom1`, `google-drive3` and `oauth2` crates cannot tell the difference.

pub mod drive;
pub mod field_mask;
