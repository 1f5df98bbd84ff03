//! Drive v3.

pub mod query;
