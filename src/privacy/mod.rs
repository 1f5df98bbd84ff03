//! Data protection: the tools a School Admin uses to meet the school's obligations as data
//! controller (we are its processor), and what Invigilator's own operators may see of a school
//! (nothing, unless the school grants it). Each idea is its own module; none imports `web`.

pub mod erasure;
pub mod leavers;
pub mod operators;
pub mod retention;
pub mod support;
