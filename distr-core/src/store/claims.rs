//! [`RunClaims`]: "exactly one process does this scheduled run", for jobs
//! (the upstream sync) that every replica schedules on the same cron.

use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::StoreResult;

/// A shared, type-erased claim store.
pub type DynRunClaims = dyn RunClaims;

/// Claims of scheduled job runs, shared by every process on one database.
///
/// Each replica computes the same schedule times; before running the job
/// for the time `scheduled_at_ms` it claims that run. Exactly one claim of
/// a `(job, scheduled_at_ms)` pair succeeds, whichever process makes it,
/// so a fleet runs each scheduled job once.
#[async_trait]
pub trait RunClaims: Debug + Send + Sync + 'static {
    /// Claims the run of `job` scheduled at `scheduled_at_ms` for `holder`
    /// (a replica name, for the record). True for exactly one caller per
    /// `(job, scheduled_at_ms)`; false when another caller claimed it first.
    /// Claims older than a week may be forgotten.
    async fn claim_run(&self, job: &str, scheduled_at_ms: i64, holder: &str) -> StoreResult<bool>;
}

/// [`RunClaims`] of one process, in memory.
#[derive(Debug, Default)]
pub struct MemoryRunClaims {
    claimed: Mutex<HashSet<(String, i64)>>,
}

impl MemoryRunClaims {
    /// No claims yet.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl RunClaims for MemoryRunClaims {
    async fn claim_run(&self, job: &str, scheduled_at_ms: i64, _holder: &str) -> StoreResult<bool> {
        let mut claimed = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
        Ok(claimed.insert((job.to_owned(), scheduled_at_ms)))
    }
}
