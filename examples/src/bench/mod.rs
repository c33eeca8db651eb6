//! Building blocks of `distr-bench`: a loopback-only HTTP client, a
//! deterministic blob generator and a bounded closed-loop load runner.

pub mod blobgen;
pub mod compare;
pub mod cpu;
pub mod http;
pub mod load;
pub mod recorder;
pub mod seed;
