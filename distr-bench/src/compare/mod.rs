//! Pieces of `scripts/bench-compare`, which runs the same scenarios against
//! distr, CNCF Distribution (`docker-registry`, plain and as a pull-through
//! proxy) and nginx serving the blob as a static file:
//!
//! - [`count_proxy`]: an HTTP proxy in front of the upstream registry that
//!   counts the requests (by kind) the caches send it;
//! - [`pull`]: many clients GETting the same blob at once (first pulls
//!   through a cache), timed;
//! - [`tags`]: pushes one manifest under thousands of tags;
//! - [`tag_sync`]: triggers a distr artifact sync and waits for its end.

pub mod count_proxy;
pub mod pull;
pub mod tag_sync;
pub mod tags;
