//! The [`AnalyticsStore`] conformance suite: call [`run_all`] with a store.
//!
//! Every case works in organisations of its own (fresh random ids), so the
//! cases share one store and never see each other's data; a backend may run
//! the suite twice on the same store.

use std::net::IpAddr;

mod batches;

pub use batches::a_large_mixed_batch_roundtrips_exactly;

use crate::access::{ArtifactId, CustomerId, OrgId, TokenId, UserId};
use crate::analytics::*;
use crate::digest::Digest;
use crate::reference::{Reference, TagName};

fn tag(s: &str) -> TagName {
    s.parse().expect("test tag")
}

fn digest(seed: &str) -> Digest {
    Digest::sha256(seed.as_bytes())
}

/// A GET by tag of an image manifest at `at_ms`, by nobody in particular.
fn get(org: OrgId, artifact: ArtifactId, t: Option<&str>, at_ms: i64) -> PullEvent {
    PullEvent {
        id: PullId::new(),
        at_ms,
        org,
        artifact,
        tag: t.map(tag),
        digest: digest(t.unwrap_or("by-digest")),
        index: false,
        customer: None,
        user: None,
        token: None,
        ip: None,
        user_agent: None,
    }
}

fn with_customer(mut e: PullEvent, c: CustomerId) -> PullEvent {
    e.customer = Some(c);
    e
}

async fn all(store: &DynAnalyticsStore, filter: &PullFilter) -> Vec<PullEvent> {
    let (events, next) = store.list_pulls(filter, None, 10_000).await.unwrap();
    assert_eq!(next, None);
    events
}

/// `events` newest first, as every listing orders them.
fn newest_first(mut events: Vec<PullEvent>) -> Vec<PullEvent> {
    events.sort_by_key(|e| std::cmp::Reverse((e.at_ms, e.id)));
    events
}

/// Runs every case on `store`.
pub async fn run_all(store: &DynAnalyticsStore) {
    events_roundtrip_and_ids_are_recorded_once(store).await;
    pulls_are_listed_newest_first_in_stable_pages(store).await;
    filters_combine_and_vendors_are_isolated(store).await;
    a_multi_platform_pull_counts_once(store).await;
    pulls_per_tag_count_distinct_customers(store).await;
    customers_are_ranked_by_pulls(store).await;
    a_customers_pulls_are_grouped_by_reference(store).await;
    bytes_are_summed_per_artifact_and_customer(store).await;
    a_large_mixed_batch_roundtrips_exactly(store).await;
}

/// Every field of an event comes back as recorded; an id recorded again
/// keeps the first event; an empty batch is fine.
pub async fn events_roundtrip_and_ids_are_recorded_once(store: &DynAnalyticsStore) {
    let (org, artifact) = (OrgId::new(), ArtifactId::new());
    let full = PullEvent {
        id: PullId::new(),
        at_ms: 1_700_000_000_123,
        org,
        artifact,
        tag: Some(tag("1.2.3-rc.1_b")),
        digest: Digest::sha256(b"manifest"),
        index: true,
        customer: Some(CustomerId::new()),
        user: Some(UserId::new()),
        token: Some(TokenId::new()),
        ip: Some("203.0.113.7".parse().unwrap()),
        user_agent: Some("docker/27.3.1 go/go1.22.7 \"quoted\" ünïcode".into()),
    };
    let v6 = PullEvent {
        ip: Some("2001:db8::1".parse().unwrap()),
        digest: Digest::of(crate::Algorithm::Sha512, b"manifest"),
        ..get(org, artifact, None, 5)
    };
    let bare = get(org, artifact, None, -3);
    store.record(&[], &[]).await.unwrap();
    store
        .record(&[full.clone(), v6.clone(), bare.clone()], &[])
        .await
        .unwrap();
    let mut again = full.clone();
    again.at_ms = 1;
    again.tag = None;
    let fresh = get(org, artifact, Some("new"), 6);
    store.record(&[again, fresh.clone()], &[]).await.unwrap();
    assert_eq!(
        all(store, &PullFilter::org(org)).await,
        vec![full, fresh, v6, bare]
    );
}

/// The log is newest first by (time, id), paged by cursor; pages neither
/// repeat nor skip events when newer ones arrive between them.
pub async fn pulls_are_listed_newest_first_in_stable_pages(store: &DynAnalyticsStore) {
    let (org, artifact) = (OrgId::new(), ArtifactId::new());
    // Several events share a millisecond: the id orders them.
    let events: Vec<PullEvent> = (0..23)
        .map(|i| get(org, artifact, Some("1.0"), 1_000 + i / 3))
        .collect();
    store.record(&events, &[]).await.unwrap();
    let expected = newest_first(events);
    assert_eq!(all(store, &PullFilter::org(org)).await, expected);

    let filter = PullFilter::org(org);
    let mut paged = Vec::new();
    let mut cursor: Option<PullCursor> = None;
    let mut pages = 0;
    loop {
        let (page, next) = store.list_pulls(&filter, cursor.as_ref(), 5).await.unwrap();
        assert!(page.len() <= 5);
        pages += 1;
        // Newer events arriving between pages do not show up in later pages.
        store
            .record(&[get(org, artifact, Some("1.0"), 5_000 + pages)], &[])
            .await
            .unwrap();
        paged.extend(page);
        match next {
            Some(c) => {
                assert_eq!(Some(c), paged.last().map(PullCursor::after));
                // The cursor survives its text form.
                cursor = Some(c.to_string().parse().unwrap());
            }
            None => break,
        }
    }
    assert_eq!(paged, expected);
    assert_eq!(pages, 5);
    // A page that ends exactly at the last event has no cursor.
    let (page, next) = store.list_pulls(&filter, None, 23 + 5).await.unwrap();
    assert_eq!((page.len(), next), (23 + 5, None));
    let (page, next) = store.list_pulls(&filter, None, 0).await.unwrap();
    assert_eq!((page, next), (vec![], None));
}

/// Every filter field narrows the log; `from_ms` is inclusive, `to_ms`
/// exclusive; another vendor's events never show.
pub async fn filters_combine_and_vendors_are_isolated(store: &DynAnalyticsStore) {
    let (org, other_org) = (OrgId::new(), OrgId::new());
    let (app, chart) = (ArtifactId::new(), ArtifactId::new());
    let (c1, c2) = (CustomerId::new(), CustomerId::new());
    let (u1, u2) = (UserId::new(), UserId::new());
    let ip1: IpAddr = "10.0.0.1".parse().unwrap();
    let ip2: IpAddr = "::1".parse().unwrap();
    let ev = |artifact, t: Option<&str>, c, u, ip, at| PullEvent {
        customer: c,
        user: u,
        ip,
        ..get(org, artifact, t, at)
    };
    let e1 = ev(app, Some("1.0"), Some(c1), Some(u1), Some(ip1), 10);
    let e2 = ev(app, Some("2.0"), Some(c1), Some(u1), Some(ip2), 20);
    let e3 = ev(app, None, Some(c2), Some(u2), Some(ip1), 30);
    let e4 = ev(chart, Some("1.0"), Some(c2), Some(u2), None, 40);
    let e5 = ev(chart, Some("1.0"), None, None, None, 50);
    let foreign = PullEvent {
        org: other_org,
        ..e1.clone()
    };
    let foreign = PullEvent {
        id: PullId::new(),
        ..foreign
    };
    store
        .record(
            &[
                e1.clone(),
                e2.clone(),
                e3.clone(),
                e4.clone(),
                e5.clone(),
                foreign.clone(),
            ],
            &[],
        )
        .await
        .unwrap();
    let base = PullFilter::org(org);
    let cases: Vec<(PullFilter, Vec<&PullEvent>)> = vec![
        (base.clone(), vec![&e5, &e4, &e3, &e2, &e1]),
        (
            PullFilter {
                artifact: Some(app),
                ..base.clone()
            },
            vec![&e3, &e2, &e1],
        ),
        (
            PullFilter {
                tag: Some(tag("1.0")),
                ..base.clone()
            },
            vec![&e5, &e4, &e1],
        ),
        (
            PullFilter {
                customer: Some(c2),
                ..base.clone()
            },
            vec![&e4, &e3],
        ),
        (
            PullFilter {
                user: Some(u1),
                ..base.clone()
            },
            vec![&e2, &e1],
        ),
        (
            PullFilter {
                ip: Some(ip1),
                ..base.clone()
            },
            vec![&e3, &e1],
        ),
        (
            PullFilter {
                from_ms: Some(20),
                to_ms: Some(40),
                ..base.clone()
            },
            vec![&e3, &e2],
        ),
        (
            PullFilter {
                artifact: Some(chart),
                tag: Some(tag("1.0")),
                customer: Some(c2),
                ..base.clone()
            },
            vec![&e4],
        ),
        (
            PullFilter {
                artifact: Some(app),
                customer: Some(c2),
                tag: Some(tag("1.0")),
                ..base.clone()
            },
            vec![],
        ),
        (
            PullFilter {
                ip: Some("10.0.0.2".parse().unwrap()),
                ..base.clone()
            },
            vec![],
        ),
        (PullFilter::org(other_org), vec![&foreign]),
        (PullFilter::org(OrgId::new()), vec![]),
    ];
    for (filter, expected) in cases {
        let expected: Vec<PullEvent> = expected.into_iter().cloned().collect();
        assert_eq!(all(store, &filter).await, expected, "{filter:?}");
    }
    // Filtered pages page through the filtered events only.
    let filter = PullFilter {
        artifact: Some(app),
        ..base
    };
    let (first, next) = store.list_pulls(&filter, None, 2).await.unwrap();
    assert_eq!(first, vec![e3, e2]);
    let (rest, next) = store.list_pulls(&filter, next.as_ref(), 2).await.unwrap();
    assert_eq!((rest, next), (vec![e1], None));
}

/// The counting rule of [`crate::analytics`]: a GET by digest of a platform
/// manifest following a GET of an index with the same token (within the
/// window) is part of that pull; anything else is a pull of its own.
pub async fn a_multi_platform_pull_counts_once(store: &DynAnalyticsStore) {
    let (org, app, other) = (OrgId::new(), ArtifactId::new(), ArtifactId::new());
    let customer = CustomerId::new();
    let w = FOLLOW_UP_WINDOW_MS;
    let ev = |artifact, t: Option<&str>, d: &str, index, token, at_ms| PullEvent {
        digest: digest(d),
        index,
        token,
        customer: Some(customer),
        ..get(org, artifact, t, at_ms)
    };
    let (t1, t2, t3) = (
        Some(TokenId::new()),
        Some(TokenId::new()),
        Some(TokenId::new()),
    );
    let base = 1_000_000;
    // docker: the index by tag, then the platform manifest by digest.
    let docker = [
        ev(app, Some("1.0"), "index", true, t1, base),
        ev(app, None, "amd64", false, t1, base + 300),
        // Same millisecond as the index, and at the window's very end: still
        // follow-ups.
        ev(app, None, "arm64", false, t1, base),
        ev(app, None, "arm64", false, t1, base + w),
    ];
    // containerd: HEAD by tag (not recorded), the index by digest, then the
    // platform manifest by digest: one pull, under the index digest.
    let containerd = [
        ev(app, None, "index", true, t2, base + 10),
        ev(app, None, "amd64", false, t2, base + 11),
    ];
    // Pulls of their own: after the window, another token, no token, a
    // platform manifest by digest with no index before it, an index of
    // another artifact, a GET by tag after an index.
    let own = [
        ev(app, None, "amd64", false, t1, base + w + 1),
        ev(app, None, "amd64", false, t3, base + 400),
        ev(app, None, "amd64", false, None, base + 401),
        ev(app, None, "amd64", false, t2, base - 1),
        ev(other, None, "amd64", false, t1, base + 500),
        ev(app, Some("1.0-amd64"), "amd64", false, t1, base + 600),
    ];
    // A follow-up recorded before its index (another replica's batch) is
    // still a follow-up.
    store.record(&docker[1..], &[]).await.unwrap();
    store.record(&containerd[1..], &[]).await.unwrap();
    store.record(&own, &[]).await.unwrap();
    store
        .record(&[docker[0].clone(), containerd[0].clone()], &[])
        .await
        .unwrap();

    assert_eq!(
        store.pulls_per_tag(org, app).await.unwrap(),
        vec![
            TagPulls {
                tag: tag("1.0"),
                pulls: 1,
                customers: 1
            },
            TagPulls {
                tag: tag("1.0-amd64"),
                pulls: 1,
                customers: 1
            },
        ]
    );
    let per_reference: Vec<(ArtifactId, Reference, u64)> = store
        .customer_pulls(org, customer)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.artifact, r.reference, r.pulls))
        .collect();
    let mut expected = vec![
        (app, Reference::Tag(tag("1.0")), 1),
        (app, Reference::Tag(tag("1.0-amd64")), 1),
        (app, Reference::Digest(digest("index")), 1),
        (app, Reference::Digest(digest("amd64")), 4),
        (other, Reference::Digest(digest("amd64")), 1),
    ];
    expected.sort_by_key(|(a, r, _)| (*a, r.to_string()));
    assert_eq!(per_reference, expected);
    let app_pulls = store.artifact_customers(org, Some(app)).await.unwrap();
    assert_eq!(
        app_pulls,
        vec![CustomerPulls {
            customer,
            pulls: 7,
            first_ms: base - 1,
            last_ms: base + w + 1,
        }]
    );
    // The log keeps every GET.
    assert_eq!(all(store, &PullFilter::org(org)).await.len(), 12);
}

/// Pulls per tag, ordered by tag byte-wise, with distinct customers (pulls
/// without a customer count as pulls, not as customers); the convenience
/// map agrees.
pub async fn pulls_per_tag_count_distinct_customers(store: &DynAnalyticsStore) {
    let (org, app, other) = (OrgId::new(), ArtifactId::new(), ArtifactId::new());
    let (c1, c2) = (CustomerId::new(), CustomerId::new());
    let events = vec![
        with_customer(get(org, app, Some("a"), 1), c1),
        with_customer(get(org, app, Some("a"), 2), c1),
        with_customer(get(org, app, Some("a"), 3), c2),
        get(org, app, Some("a"), 4),
        get(org, app, Some("B"), 5),
        with_customer(get(org, app, Some("_x"), 6), c2),
        with_customer(get(org, app, None, 7), c2),
        with_customer(get(org, other, Some("a"), 8), c1),
        with_customer(get(OrgId::new(), app, Some("a"), 9), c1),
    ];
    store.record(&events, &[]).await.unwrap();
    let row = |t: &str, pulls, customers| TagPulls {
        tag: tag(t),
        pulls,
        customers,
    };
    assert_eq!(
        store.pulls_per_tag(org, app).await.unwrap(),
        vec![row("B", 1, 0), row("_x", 1, 1), row("a", 4, 2)]
    );
    let counts = store.pull_counts_by_tag(org, app).await.unwrap();
    assert_eq!(counts.get(&tag("a")), Some(&4));
    assert_eq!(counts.get(&tag("never")), None);
    assert_eq!(counts.len(), 3);
    assert_eq!(
        store.pulls_per_tag(org, ArtifactId::new()).await.unwrap(),
        vec![]
    );
    assert_eq!(
        store.pulls_per_tag(OrgId::new(), app).await.unwrap(),
        vec![]
    );
}

/// The customers of an artifact (or of every artifact of a vendor), most
/// pulls first, then by id, with their first and latest pulls.
pub async fn customers_are_ranked_by_pulls(store: &DynAnalyticsStore) {
    let (org, app, chart) = (OrgId::new(), ArtifactId::new(), ArtifactId::new());
    let mut ids: Vec<CustomerId> = (0..3).map(|_| CustomerId::new()).collect();
    ids.sort();
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let events = vec![
        with_customer(get(org, app, Some("1"), 50), c),
        with_customer(get(org, app, Some("1"), 10), c),
        with_customer(get(org, app, None, 30), b),
        with_customer(get(org, app, Some("2"), 20), a),
        with_customer(get(org, chart, Some("1"), 5), a),
        with_customer(get(org, chart, Some("1"), 99), a),
        get(org, app, Some("1"), 60),
        with_customer(get(OrgId::new(), app, Some("1"), 1), b),
    ];
    store.record(&events, &[]).await.unwrap();
    let row = |customer, pulls, first_ms, last_ms| CustomerPulls {
        customer,
        pulls,
        first_ms,
        last_ms,
    };
    assert_eq!(
        store.artifact_customers(org, Some(app)).await.unwrap(),
        vec![row(c, 2, 10, 50), row(a, 1, 20, 20), row(b, 1, 30, 30)]
    );
    assert_eq!(
        store.artifact_customers(org, None).await.unwrap(),
        vec![row(a, 3, 5, 99), row(c, 2, 10, 50), row(b, 1, 30, 30)]
    );
    assert_eq!(
        store
            .artifact_customers(org, Some(ArtifactId::new()))
            .await
            .unwrap(),
        vec![]
    );
}

/// A customer's pulls per artifact and reference (tag, or digest for pulls
/// by digest), ordered by artifact id then reference text.
pub async fn a_customers_pulls_are_grouped_by_reference(store: &DynAnalyticsStore) {
    let org = OrgId::new();
    let mut artifacts: Vec<ArtifactId> = (0..2).map(|_| ArtifactId::new()).collect();
    artifacts.sort();
    let (first, second) = (artifacts[0], artifacts[1]);
    let (me, someone) = (CustomerId::new(), CustomerId::new());
    let by_digest = |artifact, d: &str, at| PullEvent {
        digest: digest(d),
        ..with_customer(get(org, artifact, None, at), me)
    };
    let events = vec![
        with_customer(get(org, second, Some("v2"), 40), me),
        with_customer(get(org, second, Some("v2"), 41), me),
        with_customer(get(org, second, Some("V1"), 42), me),
        by_digest(second, "x", 43),
        by_digest(second, "x", 3),
        with_customer(get(org, first, Some("latest"), 7), me),
        with_customer(get(org, first, Some("latest"), 8), someone),
        get(org, first, Some("latest"), 9),
        with_customer(get(OrgId::new(), first, Some("latest"), 9), me),
    ];
    store.record(&events, &[]).await.unwrap();
    let row = |artifact, reference, pulls, first_ms, last_ms| ReferencePulls {
        artifact,
        reference,
        pulls,
        first_ms,
        last_ms,
    };
    let mut second_rows = vec![
        row(second, Reference::Tag(tag("V1")), 1, 42, 42),
        row(second, Reference::Tag(tag("v2")), 2, 40, 41),
        row(second, Reference::Digest(digest("x")), 2, 3, 43),
    ];
    second_rows.sort_by_key(|r| r.reference.to_string());
    let mut expected = vec![row(first, Reference::Tag(tag("latest")), 1, 7, 7)];
    expected.extend(second_rows);
    assert_eq!(store.customer_pulls(org, me).await.unwrap(), expected);
    assert_eq!(
        store.customer_pulls(org, CustomerId::new()).await.unwrap(),
        vec![]
    );
}

/// Bytes served add up per (artifact, customer) across and within batches,
/// vendor pulls (no customer) apart, with the latest time; ordered by
/// artifact id, then customer (none first).
pub async fn bytes_are_summed_per_artifact_and_customer(store: &DynAnalyticsStore) {
    let org = OrgId::new();
    let mut artifacts: Vec<ArtifactId> = (0..2).map(|_| ArtifactId::new()).collect();
    artifacts.sort();
    let (first, second) = (artifacts[0], artifacts[1]);
    let mut customers: Vec<CustomerId> = (0..2).map(|_| CustomerId::new()).collect();
    customers.sort();
    let (c1, c2) = (customers[0], customers[1]);
    let b = |artifact, customer, bytes, at_ms| BytesServed {
        org,
        artifact,
        customer,
        bytes,
        at_ms,
    };
    store
        .record(
            &[],
            &[
                b(second, Some(c2), 100, 5),
                b(second, Some(c2), 1, 9),
                b(second, None, 7, 1),
                b(first, Some(c1), 1 << 40, 3),
            ],
        )
        .await
        .unwrap();
    store
        .record(
            &[get(org, first, Some("1"), 1)],
            &[
                b(second, Some(c2), 1000, 2),
                b(second, Some(c1), 0, 4),
                b(first, Some(c1), 1 << 40, 8),
                BytesServed {
                    org: OrgId::new(),
                    ..b(first, Some(c1), 1, 1)
                },
            ],
        )
        .await
        .unwrap();
    let row = |artifact, customer, bytes, last_ms| BytesTotal {
        artifact,
        customer,
        bytes,
        last_ms,
    };
    let second_rows = vec![
        row(second, None, 7, 1),
        row(second, Some(c1), 0, 4),
        row(second, Some(c2), 1101, 9),
    ];
    let mut every = vec![row(first, Some(c1), 2 << 40, 8)];
    every.extend(second_rows.clone());
    assert_eq!(store.bytes_served(org, None).await.unwrap(), every);
    assert_eq!(
        store.bytes_served(org, Some(second)).await.unwrap(),
        second_rows
    );
    assert_eq!(
        store
            .bytes_served(org, Some(ArtifactId::new()))
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        store.bytes_served(OrgId::new(), None).await.unwrap(),
        vec![]
    );
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_analytics_store_conforms() {
        let store = crate::analytics::MemoryAnalyticsStore::new();
        super::run_all(&store).await;
        // The cases share nothing: a second run on the same store passes too.
        super::run_all(&store).await;
    }
}
