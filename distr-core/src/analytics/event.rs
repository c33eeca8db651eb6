//! What is recorded: one [`PullEvent`] per manifest GET, one [`BytesServed`]
//! per blob GET.

use std::fmt;
use std::net::IpAddr;

use crate::access::{ArtifactId, CustomerId, OrgId, TokenId, UserId};
use crate::digest::Digest;
use crate::reference::TagName;

/// The longest user agent kept, in characters; [`cap_user_agent`] cuts
/// longer ones (the [`Recorder`](super::Recorder) does so on every event).
pub const USER_AGENT_MAX_CHARS: usize = 256;

/// Id of a recorded pull event.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PullId(pub uuid::Uuid);

impl PullId {
    /// A fresh id, ordered by creation time: a UUIDv7 (RFC 9562), the
    /// current time in ms followed by 74 random bits.
    ///
    /// Ids made later sort after earlier ones (byte-wise, and so as text),
    /// so storing them appends to the end of an index on the id instead of
    /// touching a random page of it for every event.
    pub fn new() -> Self {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        // The bytes of a v4 UUID that are all random (6 and 8 carry its
        // version and variant).
        let v4 = uuid::Uuid::new_v4().into_bytes();
        let mut random = [0u8; 10];
        random[..6].copy_from_slice(&v4[..6]);
        random[6..].copy_from_slice(&v4[9..13]);
        Self(uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid())
    }
}

impl Default for PullId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for PullId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for PullId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PullId({})", self.0)
    }
}

impl std::str::FromStr for PullId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, uuid::Error> {
        Ok(Self(s.parse()?))
    }
}

/// One manifest GET (never a HEAD), by tag or by digest.
///
/// Every GET is stored as an event; which events count as *pulls* in the
/// aggregates is decided when reading (see the [module docs](super)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullEvent {
    /// Id, chosen by the caller ([`PullId::new`]); recording an id twice
    /// keeps the first event.
    pub id: PullId,
    /// When the manifest was served, ms since the Unix epoch.
    pub at_ms: i64,
    /// The vendor organisation owning the artifact.
    pub org: OrgId,
    /// The artifact (repository) pulled from.
    pub artifact: ArtifactId,
    /// The tag, when the manifest was requested by tag; `None` by digest.
    pub tag: Option<TagName>,
    /// The digest of the manifest served.
    pub digest: Digest,
    /// True when the manifest served is an index (OCI image index or Docker
    /// manifest list, [`crate::manifest::ManifestKind::Index`]): the first
    /// manifest of a multi-platform pull.
    pub index: bool,
    /// The customer organisation of the puller; `None` for vendor users
    /// and anonymous pulls.
    pub customer: Option<CustomerId>,
    /// The authenticated user, if any.
    pub user: Option<UserId>,
    /// The access token used, if any.
    pub token: Option<TokenId>,
    /// The client's address.
    pub ip: Option<IpAddr>,
    /// The `User-Agent` header, at most [`USER_AGENT_MAX_CHARS`] characters.
    pub user_agent: Option<String>,
}

/// Bytes of blobs served by one blob GET (or any number of them: backends
/// add them up), counted per (artifact, customer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BytesServed {
    /// The vendor organisation owning the artifact.
    pub org: OrgId,
    /// The artifact (repository) the blob was served from.
    pub artifact: ArtifactId,
    /// The customer organisation of the downloader; `None` for vendor users
    /// and anonymous downloads.
    pub customer: Option<CustomerId>,
    /// Bytes sent.
    pub bytes: u64,
    /// When the bytes were served, ms since the Unix epoch.
    pub at_ms: i64,
}

/// `ua` cut to at most [`USER_AGENT_MAX_CHARS`] characters (never in the
/// middle of a character).
pub fn cap_user_agent(ua: &str) -> &str {
    match ua.char_indices().nth(USER_AGENT_MAX_CHARS) {
        Some((end, _)) => &ua[..end],
        None => ua,
    }
}

/// Adds up a batch of [`BytesServed`] per (org, artifact, customer): one
/// item per key with the sum of the bytes (saturating) and the latest time,
/// ordered by key. Backends use it to write each counter once per batch, in
/// a fixed order (no deadlocks between concurrent writers).
pub fn sum_bytes(batch: &[BytesServed]) -> Vec<BytesServed> {
    let mut sums: std::collections::BTreeMap<(OrgId, ArtifactId, Option<CustomerId>), BytesServed> =
        std::collections::BTreeMap::new();
    for b in batch {
        sums.entry((b.org, b.artifact, b.customer))
            .and_modify(|s| {
                s.bytes = s.bytes.saturating_add(b.bytes);
                s.at_ms = s.at_ms.max(b.at_ms);
            })
            .or_insert_with(|| b.clone());
    }
    sums.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_are_capped_on_a_char_boundary() {
        assert_eq!(cap_user_agent("docker/27"), "docker/27");
        let long = "é".repeat(300);
        let capped = cap_user_agent(&long);
        assert_eq!(capped.chars().count(), USER_AGENT_MAX_CHARS);
        let exact = "a".repeat(USER_AGENT_MAX_CHARS);
        assert_eq!(cap_user_agent(&exact), exact);
    }

    #[test]
    fn ids_are_unique_v7_and_ordered_by_creation_time() {
        let first = PullId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let ids: Vec<PullId> = (0..1_000).map(|_| PullId::new()).collect();
        assert_eq!(first.0.get_version(), Some(uuid::Version::SortRand));
        assert!(ids.iter().all(|id| *id > first));
        assert!(ids.iter().all(|id| id.to_string() > first.to_string()));
        let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }

    #[test]
    fn bytes_are_summed_per_key() {
        let (org, a) = (OrgId::new(), ArtifactId::new());
        let c = CustomerId::new();
        let b = |customer, bytes, at_ms| BytesServed {
            org,
            artifact: a,
            customer,
            bytes,
            at_ms,
        };
        let sums = sum_bytes(&[
            b(Some(c), 10, 5),
            b(None, 1, 1),
            b(Some(c), u64::MAX, 3),
            b(None, 2, 9),
        ]);
        assert_eq!(sums, vec![b(None, 3, 9), b(Some(c), u64::MAX, 5)]);
    }
}
