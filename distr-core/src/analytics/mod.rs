//! Download analytics: who pulled which artifact, tag and digest, when, and
//! how many blob bytes each customer downloaded.
//!
//! - [`PullEvent`] (one per manifest GET) and [`BytesServed`] (blob bytes
//!   per artifact and customer) are what is recorded;
//! - the [`AnalyticsStore`] trait stores them and answers the queries, with
//!   [`MemoryAnalyticsStore`] in memory (SQL backends live in the store
//!   crates);
//! - the [`Recorder`] takes them from request handlers without ever making
//!   a request wait or fail, and writes them in batches;
//! - [`entitled_customers_without_pulls`] combines the access store with
//!   the analytics store.
//!
//! # What counts as a pull
//!
//! Every manifest GET (never a HEAD) is stored as one event, and
//! [`AnalyticsStore::list_pulls`] returns them all. The aggregates count
//! *pulls*, so that one `docker pull` of a multi-platform tag (a GET of the
//! index, then a GET by digest of the platform's manifest) is one pull of
//! that tag. An event is a **follow-up**, and not a pull, when all of these
//! hold:
//!
//! 1. it is a GET by digest (`tag` is `None`),
//! 2. of a manifest that is not an index (`index` is false),
//! 3. made with an access token (`token` is `Some`),
//! 4. and the same token got an index of the same artifact (by tag or by
//!    digest) at most [`FOLLOW_UP_WINDOW_MS`] (10 minutes) earlier, or in
//!    the same millisecond.
//!
//! Every other event is a pull: every GET by tag, every GET of an index,
//! and every GET by digest of an image manifest not preceded by an index
//! (`docker pull app@sha256:…`, a single-platform pull by a client that
//! resolved the tag with a HEAD first). So a pull by tag (`docker`), and a
//! pull that resolves the tag with HEAD and then gets the index by digest
//! (containerd, Kubernetes), are each one pull; the latter is counted
//! under its index digest, as its tag is never requested by GET.
//!
//! The rule is evaluated when reading, over all stored events, so it gives
//! the same answer whatever order events arrive in (several replicas may
//! record the index and the platform manifest of one pull). It can only
//! merge too much when one token pulls an index and then, within the window,
//! a different single-platform image of the same artifact by digest.

mod event;
mod memory;
mod query;
mod recorder;
mod rule;
mod store;
mod unpulled;

pub use event::{cap_user_agent, sum_bytes, BytesServed, PullEvent, PullId, USER_AGENT_MAX_CHARS};
pub use memory::MemoryAnalyticsStore;
pub use query::{
    BytesTotal, CustomerPulls, InvalidCursor, PullCursor, PullFilter, ReferencePulls, TagPulls,
};
pub use recorder::{Recorder, RecorderConfig, RecorderStats};
pub use rule::{counted, FOLLOW_UP_WINDOW_MS};
pub use store::{AnalyticsStore, AnalyticsStoreExt, DynAnalyticsStore};
pub use unpulled::entitled_customers_without_pulls;
