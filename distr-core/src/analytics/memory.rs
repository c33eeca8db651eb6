//! [`MemoryAnalyticsStore`]: pull events and byte counters held in memory.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;

use super::event::{sum_bytes, BytesServed, PullEvent, PullId};
use super::query::{BytesTotal, CustomerPulls, PullCursor, PullFilter, ReferencePulls, TagPulls};
use super::rule::counted;
use super::store::AnalyticsStore;
use crate::access::{ArtifactId, CustomerId, OrgId};
use crate::error::StoreResult;
use crate::reference::{Reference, TagName};

/// Bytes and latest time of one (org, artifact, customer) counter.
type Counters = BTreeMap<(OrgId, ArtifactId, Option<CustomerId>), (u64, i64)>;

#[derive(Default)]
struct State {
    events: Vec<PullEvent>,
    ids: HashSet<PullId>,
    bytes: Counters,
}

/// An [`AnalyticsStore`] in memory; everything is lost on drop. Queries scan
/// every event of the vendor: meant for tests and small installations.
#[derive(Default)]
pub struct MemoryAnalyticsStore {
    state: Mutex<State>,
}

impl std::fmt::Debug for MemoryAnalyticsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryAnalyticsStore")
    }
}

impl MemoryAnalyticsStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// The pulls (see [`counted`]) of `org`, optionally of one artifact.
    fn pulls(&self, org: OrgId, artifact: Option<ArtifactId>) -> Vec<PullEvent> {
        self.with(|s| {
            let of_scope = s
                .events
                .iter()
                .filter(|e| e.org == org && artifact.is_none_or(|a| e.artifact == a));
            counted(of_scope).into_iter().cloned().collect()
        })
    }
}

/// Count, first and latest time of a group of pulls.
#[derive(Clone, Copy)]
struct Span {
    pulls: u64,
    first_ms: i64,
    last_ms: i64,
}

impl Span {
    fn add(span: Option<Span>, at_ms: i64) -> Span {
        match span {
            None => Span {
                pulls: 1,
                first_ms: at_ms,
                last_ms: at_ms,
            },
            Some(s) => Span {
                pulls: s.pulls + 1,
                first_ms: s.first_ms.min(at_ms),
                last_ms: s.last_ms.max(at_ms),
            },
        }
    }
}

#[async_trait]
impl AnalyticsStore for MemoryAnalyticsStore {
    async fn record(&self, pulls: &[PullEvent], bytes: &[BytesServed]) -> StoreResult<()> {
        self.with(|s| {
            for e in pulls {
                if s.ids.insert(e.id) {
                    s.events.push(e.clone());
                }
            }
            for b in sum_bytes(bytes) {
                let c = s
                    .bytes
                    .entry((b.org, b.artifact, b.customer))
                    .or_insert((0, b.at_ms));
                c.0 = c.0.saturating_add(b.bytes);
                c.1 = c.1.max(b.at_ms);
            }
            Ok(())
        })
    }

    async fn list_pulls(
        &self,
        filter: &PullFilter,
        cursor: Option<&PullCursor>,
        limit: usize,
    ) -> StoreResult<(Vec<PullEvent>, Option<PullCursor>)> {
        let mut page: Vec<PullEvent> = self.with(|s| {
            s.events
                .iter()
                .filter(|e| filter.matches(e) && cursor.is_none_or(|c| c.precedes(e)))
                .cloned()
                .collect()
        });
        page.sort_by_key(|e| std::cmp::Reverse((e.at_ms, e.id)));
        let more = page.len() > limit;
        page.truncate(limit);
        let next = if more {
            page.last().map(PullCursor::after)
        } else {
            None
        };
        Ok((page, next))
    }

    async fn pulls_per_tag(&self, org: OrgId, artifact: ArtifactId) -> StoreResult<Vec<TagPulls>> {
        let mut per_tag: BTreeMap<TagName, (u64, HashSet<CustomerId>)> = BTreeMap::new();
        for e in self.pulls(org, Some(artifact)) {
            if let Some(tag) = e.tag {
                let entry = per_tag.entry(tag).or_default();
                entry.0 += 1;
                entry.1.extend(e.customer);
            }
        }
        Ok(per_tag
            .into_iter()
            .map(|(tag, (pulls, customers))| TagPulls {
                tag,
                pulls,
                customers: customers.len() as u64,
            })
            .collect())
    }

    async fn artifact_customers(
        &self,
        org: OrgId,
        artifact: Option<ArtifactId>,
    ) -> StoreResult<Vec<CustomerPulls>> {
        let mut per_customer: HashMap<CustomerId, Span> = HashMap::new();
        for e in self.pulls(org, artifact) {
            if let Some(c) = e.customer {
                let span = per_customer.get(&c).copied();
                per_customer.insert(c, Span::add(span, e.at_ms));
            }
        }
        let mut rows: Vec<CustomerPulls> = per_customer
            .into_iter()
            .map(|(customer, s)| CustomerPulls {
                customer,
                pulls: s.pulls,
                first_ms: s.first_ms,
                last_ms: s.last_ms,
            })
            .collect();
        rows.sort_by(|a, b| b.pulls.cmp(&a.pulls).then(a.customer.cmp(&b.customer)));
        Ok(rows)
    }

    async fn customer_pulls(
        &self,
        org: OrgId,
        customer: CustomerId,
    ) -> StoreResult<Vec<ReferencePulls>> {
        // Keyed by the reference's text, which orders rows as documented.
        let mut groups: BTreeMap<(ArtifactId, String), (Reference, Span)> = BTreeMap::new();
        for e in self.pulls(org, None) {
            if e.customer != Some(customer) {
                continue;
            }
            let reference = match e.tag {
                Some(t) => Reference::Tag(t),
                None => Reference::Digest(e.digest),
            };
            let key = (e.artifact, reference.to_string());
            let span = Span::add(groups.get(&key).map(|g| g.1), e.at_ms);
            groups.insert(key, (reference, span));
        }
        Ok(groups
            .into_iter()
            .map(|((artifact, _), (reference, s))| ReferencePulls {
                artifact,
                reference,
                pulls: s.pulls,
                first_ms: s.first_ms,
                last_ms: s.last_ms,
            })
            .collect())
    }

    async fn bytes_served(
        &self,
        org: OrgId,
        artifact: Option<ArtifactId>,
    ) -> StoreResult<Vec<BytesTotal>> {
        self.with(|s| {
            Ok(s.bytes
                .iter()
                .filter(|((o, a, _), _)| *o == org && artifact.is_none_or(|x| *a == x))
                .map(|(&(_, artifact, customer), &(bytes, last_ms))| BytesTotal {
                    artifact,
                    customer,
                    bytes,
                    last_ms,
                })
                .collect())
        })
    }
}
