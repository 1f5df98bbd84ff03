//! Assessment windows: exams officers schedule the locks of whole classes for a time.
//!
//! So far: the wall-clock times officers write, placed on the timeline ([`london_time`]). The
//! windows themselves, their exactly-once start and end, and their routes follow.

pub mod london_time;
