//! What is asked: the filter and cursor of the pull log, and the rows of the
//! aggregates.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::event::{PullEvent, PullId};
use crate::access::{ArtifactId, CustomerId, OrgId, UserId};
use crate::reference::{Reference, TagName};

/// Which events [`list_pulls`](super::AnalyticsStore::list_pulls) returns:
/// those of one vendor matching every field that is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullFilter {
    /// The vendor organisation (required: every query is vendor scoped).
    pub org: OrgId,
    /// Only this artifact.
    pub artifact: Option<ArtifactId>,
    /// Only GETs by this tag.
    pub tag: Option<TagName>,
    /// Only this customer's pulls.
    pub customer: Option<CustomerId>,
    /// Only this user's pulls.
    pub user: Option<UserId>,
    /// Only pulls from this address.
    pub ip: Option<IpAddr>,
    /// Only events at or after this time, ms since the Unix epoch.
    pub from_ms: Option<i64>,
    /// Only events before this time (exclusive), ms since the Unix epoch.
    pub to_ms: Option<i64>,
}

impl PullFilter {
    /// Every event of `org`.
    pub fn org(org: OrgId) -> Self {
        Self {
            org,
            artifact: None,
            tag: None,
            customer: None,
            user: None,
            ip: None,
            from_ms: None,
            to_ms: None,
        }
    }

    /// True when `e` passes the filter.
    pub fn matches(&self, e: &PullEvent) -> bool {
        e.org == self.org
            && self.artifact.is_none_or(|a| e.artifact == a)
            && self.tag.as_ref().is_none_or(|t| e.tag.as_ref() == Some(t))
            && self.customer.is_none_or(|c| e.customer == Some(c))
            && self.user.is_none_or(|u| e.user == Some(u))
            && self.ip.is_none_or(|ip| e.ip == Some(ip))
            && self.from_ms.is_none_or(|f| e.at_ms >= f)
            && self.to_ms.is_none_or(|t| e.at_ms < t)
    }
}

/// Where a page of the pull log ends: the (time, id) of its last (oldest)
/// event. The next page holds the events strictly older in (time, id)
/// order, so pages neither repeat nor skip events when newer ones arrive.
///
/// Its text form (`Display` / `FromStr`) is `<at_ms>.<id>`, for query
/// strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PullCursor {
    /// Time of the last event returned.
    pub at_ms: i64,
    /// Id of the last event returned.
    pub id: PullId,
}

impl PullCursor {
    /// The cursor just after `e`.
    pub fn after(e: &PullEvent) -> Self {
        Self {
            at_ms: e.at_ms,
            id: e.id,
        }
    }

    /// True when `e` comes after the cursor, that is is older in (time, id).
    pub fn precedes(&self, e: &PullEvent) -> bool {
        (e.at_ms, e.id) < (self.at_ms, self.id)
    }
}

impl fmt::Display for PullCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.at_ms, self.id)
    }
}

/// A malformed [`PullCursor`] text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pull cursor {0:?}")]
pub struct InvalidCursor(pub String);

impl FromStr for PullCursor {
    type Err = InvalidCursor;

    fn from_str(s: &str) -> Result<Self, InvalidCursor> {
        let bad = || InvalidCursor(s.to_owned());
        let (at, id) = s.split_once('.').ok_or_else(bad)?;
        Ok(Self {
            at_ms: at.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

/// Pulls of one tag of an artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagPulls {
    /// The tag.
    pub tag: TagName,
    /// GETs by this tag (every one is a pull).
    pub pulls: u64,
    /// Distinct customers among them (vendor and anonymous pulls not counted).
    pub customers: u64,
}

/// One customer's pulls of an artifact (or of any artifact of a vendor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerPulls {
    /// The customer.
    pub customer: CustomerId,
    /// Pulls.
    pub pulls: u64,
    /// The first pull, ms since the Unix epoch.
    pub first_ms: i64,
    /// The latest pull, ms since the Unix epoch.
    pub last_ms: i64,
}

/// What one customer pulled of one artifact by one reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferencePulls {
    /// The artifact.
    pub artifact: ArtifactId,
    /// The tag of pulls by tag, the digest of pulls by digest.
    pub reference: Reference,
    /// Pulls.
    pub pulls: u64,
    /// The first pull, ms since the Unix epoch.
    pub first_ms: i64,
    /// The latest pull, ms since the Unix epoch.
    pub last_ms: i64,
}

/// Bytes of blobs served from one artifact to one customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BytesTotal {
    /// The artifact.
    pub artifact: ArtifactId,
    /// The customer; `None` for vendor users and anonymous downloads.
    pub customer: Option<CustomerId>,
    /// Bytes served in all.
    pub bytes: u64,
    /// The latest download, ms since the Unix epoch.
    pub last_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_roundtrip_as_text() {
        let c = PullCursor {
            at_ms: -5,
            id: PullId::new(),
        };
        assert_eq!(c.to_string().parse::<PullCursor>(), Ok(c));
        for bad in ["", "12", "x.y", "12.not-a-uuid", ".", "1.2.3"] {
            assert!(bad.parse::<PullCursor>().is_err(), "{bad}");
        }
    }
}
