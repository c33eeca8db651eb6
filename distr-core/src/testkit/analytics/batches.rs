//! Large batches: what backends write with multi-row statements (split
//! into chunks) comes back exactly as recorded.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{all, newest_first, tag};
use crate::access::{ArtifactId, CustomerId, OrgId, TokenId, UserId};
use crate::analytics::*;
use crate::digest::{Algorithm, Digest};

/// Event `i` of a mixed batch: every optional field set or not, both IP
/// families, index and image manifests, two digest algorithms, awkward
/// user agents, times shared by several events.
fn mixed(org: OrgId, artifacts: &[ArtifactId], customers: &[CustomerId], i: usize) -> PullEvent {
    let ip: Option<IpAddr> = match i % 3 {
        0 => None,
        1 => Some(format!("198.51.100.{}", i % 256).parse().unwrap()),
        _ => Some(format!("2001:db8::{:x}", i).parse().unwrap()),
    };
    PullEvent {
        id: PullId::new(),
        at_ms: 1_700_000_000_000 + (i / 7) as i64,
        org,
        artifact: artifacts[i % artifacts.len()],
        tag: (!i.is_multiple_of(4)).then(|| tag(&format!("v{}.{}", i % 5, i % 11))),
        digest: if i.is_multiple_of(9) {
            Digest::of(Algorithm::Sha512, format!("m{i}").as_bytes())
        } else {
            Digest::sha256(format!("m{i}").as_bytes())
        },
        index: i.is_multiple_of(6),
        customer: (!i.is_multiple_of(5)).then(|| customers[i % customers.len()]),
        user: (i.is_multiple_of(2)).then(UserId::new),
        token: (i % 3 != 1).then(TokenId::new),
        ip,
        user_agent: match i % 4 {
            0 => None,
            1 => Some(String::new()),
            2 => Some(format!("client/{i} \"q\" 'a' ünï ,; \\ {{}}")),
            _ => Some("x".repeat(USER_AGENT_MAX_CHARS)),
        },
    }
}

/// A batch of 1 001 mixed events (so any split into chunks leaves a
/// remainder), with repeated ids inside the batch and of an earlier batch,
/// and byte counts in the same call, round-trips exactly: every field,
/// the first event of each id, the byte sums.
pub async fn a_large_mixed_batch_roundtrips_exactly(store: &DynAnalyticsStore) {
    let org = OrgId::new();
    let artifacts: Vec<ArtifactId> = (0..3).map(|_| ArtifactId::new()).collect();
    let customers: Vec<CustomerId> = (0..17).map(|_| CustomerId::new()).collect();
    let earlier = mixed(org, &artifacts, &customers, 5_000);
    store
        .record(std::slice::from_ref(&earlier), &[])
        .await
        .unwrap();
    let mut batch: Vec<PullEvent> = (0..1_001)
        .map(|i| mixed(org, &artifacts, &customers, i))
        .collect();
    // Repeats: of an event earlier in this batch, and of the earlier batch.
    let mut repeat = batch[10].clone();
    repeat.at_ms = 1;
    repeat.user_agent = Some("the repeat".into());
    batch.insert(600, repeat);
    let mut again = earlier.clone();
    again.tag = None;
    batch.insert(300, again);
    let bytes: Vec<BytesServed> = (0..500u64)
        .map(|i| BytesServed {
            org,
            artifact: artifacts[(i % 3) as usize],
            customer: (!i.is_multiple_of(4)).then(|| customers[(i % 17) as usize]),
            bytes: i * 1_000,
            at_ms: 1_700_000_000_000 + i as i64,
        })
        .collect();
    store.record(&batch, &bytes).await.unwrap();

    let mut expected: Vec<PullEvent> = batch
        .iter()
        .filter(|e| !matches!(e.user_agent.as_deref(), Some("the repeat")))
        .filter(|e| !(e.id == earlier.id && e.tag.is_none()))
        .cloned()
        .collect();
    expected.push(earlier);
    assert_eq!(expected.len(), 1_002);
    assert_eq!(
        all(store, &PullFilter::org(org)).await,
        newest_first(expected)
    );

    let mut sums: BTreeMap<(ArtifactId, Option<CustomerId>), (u64, i64)> = BTreeMap::new();
    for b in &bytes {
        let s = sums.entry((b.artifact, b.customer)).or_default();
        s.0 += b.bytes;
        s.1 = s.1.max(b.at_ms);
    }
    let expected: Vec<BytesTotal> = sums
        .into_iter()
        .map(|((artifact, customer), (bytes, last_ms))| BytesTotal {
            artifact,
            customer,
            bytes,
            last_ms,
        })
        .collect();
    assert_eq!(store.bytes_served(org, None).await.unwrap(), expected);
}
