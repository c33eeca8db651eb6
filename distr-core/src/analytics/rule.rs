//! The counting rule: which recorded manifest GETs are *pulls*.
//!
//! See the [module docs](super) for the rule; [`FOLLOW_UP_WINDOW_MS`] is its
//! window, and [`counted`] its reference implementation (the in-memory
//! store's; SQL backends express the same rule in their queries).

use std::collections::HashMap;

use super::event::PullEvent;
use crate::access::{ArtifactId, OrgId, TokenId};

/// How long after a GET of an index a GET by digest of a non-index manifest
/// with the same token, of the same artifact, is taken as part of the same
/// pull: 10 minutes, in ms.
pub const FOLLOW_UP_WINDOW_MS: i64 = 10 * 60 * 1000;

/// True when `e` is a *follow-up*: a GET by digest of a non-index manifest
/// made with a token that got an index of the same artifact at most
/// [`FOLLOW_UP_WINDOW_MS`] earlier (or at the same millisecond).
/// `index_times` gives the times of the index GETs per (org, artifact, token),
/// sorted.
fn is_follow_up(
    e: &PullEvent,
    index_times: &HashMap<(OrgId, ArtifactId, TokenId), Vec<i64>>,
) -> bool {
    if e.index || e.tag.is_some() {
        return false;
    }
    let Some(token) = e.token else {
        return false;
    };
    let Some(times) = index_times.get(&(e.org, e.artifact, token)) else {
        return false;
    };
    // The first index GET at or after the start of the window.
    let start = e.at_ms.saturating_sub(FOLLOW_UP_WINDOW_MS);
    let i = times.partition_point(|&t| t < start);
    times.get(i).is_some_and(|&t| t <= e.at_ms)
}

/// The events of `events` that are pulls (not follow-ups), in their order.
///
/// Follow-ups are judged against the index GETs among `events` only, so pass
/// every event of the artifacts concerned (a vendor's events, say), not a
/// filtered subset.
pub fn counted<'a>(events: impl IntoIterator<Item = &'a PullEvent>) -> Vec<&'a PullEvent> {
    let events: Vec<&PullEvent> = events.into_iter().collect();
    let mut index_times: HashMap<(OrgId, ArtifactId, TokenId), Vec<i64>> = HashMap::new();
    for e in &events {
        if let (true, Some(token)) = (e.index, e.token) {
            index_times
                .entry((e.org, e.artifact, token))
                .or_default()
                .push(e.at_ms);
        }
    }
    for times in index_times.values_mut() {
        times.sort_unstable();
    }
    events
        .into_iter()
        .filter(|e| !is_follow_up(e, &index_times))
        .collect()
}
