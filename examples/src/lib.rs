//! Building blocks shared by the example binaries: configuration loading and
//! a hyper server loop with graceful shutdown.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod serve;
