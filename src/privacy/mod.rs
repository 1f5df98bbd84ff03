//! Data protection: the tools a School Admin uses to meet the school's obligations as data
//! controller (we are its processor), and what Invigilator's own operators may see of a school
//! (nothing, unless the school grants it). Each idea is its own module; none imports `web`.
//!
//! - [`data_map`]: what we hold, as `docs/data-map.md` declares it, and how much of it now.
//! - [`archive`]: the streaming zip writer (JSON + CSV per kind of row, and a manifest with each
//!   file's SHA-256) both exports use, and its verification.
//! - [`export`]: subject access export of one student or one member of staff.
//! - [`erasure`]: one student's records erased, with a tombstone roster sync respects.
//! - [`retention`]: the daily purge of what is past the school's retention period, and its preview.
//! - [`leavers`]: a member of staff who left stops being used at once.
//! - [`offboarding`]: the whole school exported, then deleted step by step, with a certificate.
//! - [`breach`]: a suspected breach: every session ended, every stored Google grant revoked.
//! - [`operators`] and [`support`]: Invigilator's operators, and the time-boxed read access a
//!   School Admin may grant one of them.

pub mod archive;
pub mod breach;
pub mod data_map;
pub mod erasure;
pub mod export;
pub mod leavers;
pub mod offboarding;
pub mod operators;
pub mod retention;
pub mod support;
