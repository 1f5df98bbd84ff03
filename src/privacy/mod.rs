//! The School Admin's data-protection tools: what a school, as data controller, needs from us
//! as its processor. Each idea is its own module; none imports `web`.

pub mod erasure;
pub mod leavers;
pub mod retention;
