//! `distr-server`: the distr server product as a library and its binary —
//! configuration loading, storage assembly, a hyper server loop with graceful
//! shutdown, the first-start bootstrap of the tenancy model, the GC job,
//! fleet-wide schedules, sealed-secret keys, the analytics runtime and the
//! `distr-server admin` command line.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod analytics_runtime;
pub mod bootstrap;
pub mod config;
pub mod gc_job;
pub mod metrics_config;
pub mod schedule;
pub mod secrets;
pub mod serve;
pub mod storage;
