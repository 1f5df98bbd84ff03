//! Data protection: what Invigilator's own operators may see of a school (nothing, unless the
//! school grants it), and the tools a School Admin uses to meet the school's obligations.

pub mod operators;
pub mod support;
