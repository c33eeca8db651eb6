//! Background syncs: one run per artifact at a time, with its
//! [`SyncStatus`] recorded, and syncing every mirrored artifact.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{FutureExt, StreamExt};

use super::flight::SharedOutcome;
use super::handle::PullThrough;
use super::sync::SyncReport;
use crate::access::{ArtifactId, SyncStatus};
use crate::error::{Error, Result};
use crate::registry::now_ms;

/// Artifacts [`PullThrough::sync_all`] syncs at once.
pub const SYNC_ALL_CONCURRENCY: usize = 4;

/// Longest error message recorded in a [`SyncStatus`].
const MAX_ERROR_LEN: usize = 1024;

/// Whether [`PullThrough::trigger_sync`] started a sync or joined one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncStarted {
    /// A new sync of the artifact started.
    Started,
    /// A sync of the artifact was already running; the caller joined it.
    Joined,
}

/// The outcome of a triggered sync, shared by everyone who awaits it.
pub type SyncOutcome = std::result::Result<SyncReport, Arc<Error>>;

/// A triggered sync. Await it (or [`wait`](Self::wait)) for the outcome;
/// dropping it does not stop the sync.
pub struct SyncHandle {
    outcome: SharedOutcome<SyncReport>,
}

impl SyncHandle {
    /// Waits for the sync to end.
    pub async fn wait(self) -> SyncOutcome {
        self.outcome.await
    }
}

impl Future for SyncHandle {
    type Output = SyncOutcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SyncOutcome> {
        self.outcome.poll_unpin(cx)
    }
}

impl fmt::Debug for SyncHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncHandle")
            .field("done", &self.outcome.peek().is_some())
            .finish()
    }
}

/// What [`PullThrough::sync_all`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncAllReport {
    /// Artifacts whose sync ran, with its report (which may list failed tags).
    pub synced: Vec<(ArtifactId, SyncReport)>,
    /// Artifacts whose sync failed, with the error.
    pub failed: Vec<(ArtifactId, String)>,
    /// Why the artifacts could not be listed (then nothing was synced).
    pub error: Option<String>,
}

impl SyncAllReport {
    /// True when every artifact synced every tag.
    pub fn is_success(&self) -> bool {
        self.error.is_none()
            && self.failed.is_empty()
            && self.synced.iter().all(|(_, r)| r.is_complete())
    }
}

impl PullThrough {
    /// Syncs an artifact in the background, recording its [`SyncStatus`]:
    /// the attempt time at the start; at the end, on success (every tag
    /// synced) the end time as `last_synced_at_ms` and no error, on failure
    /// the error (`last_synced_at_ms` stays that of the last success).
    ///
    /// When a sync of the artifact is running it is joined instead. Returns
    /// at once; the sync runs in its own task and is not cancelled when the
    /// returned [`SyncHandle`] is dropped.
    pub fn trigger_sync(&self, artifact_id: ArtifactId) -> (SyncStarted, SyncHandle) {
        let this = self.clone();
        let (joined, outcome) = self.inner.sync_flights.run(artifact_id, move || {
            async move {
                this.inner.stats.sync_started();
                let outcome = this.recorded_sync(artifact_id).await;
                let complete = matches!(&outcome, Ok(r) if r.is_complete());
                this.inner.stats.sync_ended(complete);
                outcome
            }
            .boxed()
        });
        let started = if joined {
            SyncStarted::Joined
        } else {
            SyncStarted::Started
        };
        (started, SyncHandle { outcome })
    }

    /// True while a triggered sync of the artifact runs.
    pub fn is_syncing(&self, artifact_id: ArtifactId) -> bool {
        self.inner.sync_flights.contains(&artifact_id)
    }

    /// Syncs every artifact with an upstream (each through
    /// [`trigger_sync`](Self::trigger_sync), [`SYNC_ALL_CONCURRENCY`] at a
    /// time) and waits for all; one failing does not stop the others.
    pub async fn sync_all(&self) -> SyncAllReport {
        let artifacts = match self.inner.access.list_upstream_artifacts().await {
            Ok(a) => a,
            Err(e) => {
                return SyncAllReport {
                    error: Some(Error::from(e).to_string()),
                    ..SyncAllReport::default()
                }
            }
        };
        let outcomes: Vec<(ArtifactId, SyncOutcome)> = futures::stream::iter(artifacts)
            .map(|a| {
                let (_, handle) = self.trigger_sync(a.id);
                async move { (a.id, handle.await) }
            })
            .buffer_unordered(SYNC_ALL_CONCURRENCY)
            .collect()
            .await;
        let mut report = SyncAllReport::default();
        for (id, outcome) in outcomes {
            match outcome {
                Ok(r) => report.synced.push((id, r)),
                Err(e) => report.failed.push((id, e.to_string())),
            }
        }
        report.synced.sort_by_key(|(id, _)| *id);
        report.failed.sort();
        report
    }

    async fn recorded_sync(&self, id: ArtifactId) -> Result<SyncReport> {
        let access = &self.inner.access;
        let Some(artifact) = access.get_artifact(id).await? else {
            return Err(Error::NameUnknown);
        };
        let mut status: SyncStatus = access.get_sync_status(id).await?;
        status.last_sync_attempt_at_ms = Some(now_ms());
        access.put_sync_status(id, &status).await?;

        let outcome = self.sync_artifact(&artifact).await;
        match &outcome {
            Ok(report) if report.is_complete() => {
                status.last_synced_at_ms = Some(now_ms());
                status.last_sync_error = None;
            }
            Ok(report) => {
                let (tag, why) = report
                    .failed
                    .first()
                    .map(|(t, e)| (t.as_str(), e.as_str()))
                    .unwrap_or_default();
                status.last_sync_error = Some(truncate(format!(
                    "{} tag(s) failed to sync; {tag}: {why}",
                    report.failed.len()
                )));
            }
            Err(e) => status.last_sync_error = Some(truncate(e.vendor_message())),
        }
        if let Err(e) = access.put_sync_status(id, &status).await {
            tracing::warn!(artifact = %id, error = %e, "recording the sync status failed");
        }
        match &outcome {
            Ok(r) => tracing::info!(
                artifact = %id, added = r.added.len(), updated = r.updated.len(),
                removed = r.removed.len(), failed = r.failed.len(), "artifact synced"
            ),
            Err(e) => tracing::warn!(artifact = %id, error = %e, "artifact sync failed"),
        }
        outcome
    }
}

/// Cuts `s` to at most [`MAX_ERROR_LEN`] bytes, on a character boundary.
fn truncate(mut s: String) -> String {
    if s.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}
