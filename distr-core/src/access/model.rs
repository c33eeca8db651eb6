//! Who is who: vendor organisations, their customers, users, access tokens,
//! artifacts and entitlements.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::pattern::TagPattern;
use crate::upstream::{UpstreamAuth, UpstreamRef};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A fresh random id.
            pub fn new() -> Self {
                Self(uuid::Uuid::new_v4())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, uuid::Error> {
                Ok(Self(s.parse()?))
            }
        }
    };
}

id_type!(
    /// Id of a vendor organisation.
    OrgId
);
id_type!(
    /// Id of a customer organisation.
    CustomerId
);
id_type!(
    /// Id of a user.
    UserId
);
id_type!(
    /// Id of an access token.
    TokenId
);
id_type!(
    /// Id of an artifact.
    ArtifactId
);
id_type!(
    /// Id of an entitlement.
    EntitlementId
);

/// A vendor organisation. Its slug is the first segment of its repository names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Org {
    /// Id.
    pub id: OrgId,
    /// URL slug, a valid repository name segment.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: i64,
}

/// A customer organisation of a vendor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Id.
    pub id: CustomerId,
    /// The vendor.
    pub org_id: OrgId,
    /// Display name.
    pub name: String,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: i64,
}

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages the vendor organisation: artifacts, customers, entitlements.
    VendorAdmin,
    /// Manages the users and tokens of one customer organisation.
    CustomerAdmin,
    /// Pulls what the customer is entitled to and manages own tokens.
    CustomerMember,
}

impl Role {
    /// The role's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::VendorAdmin => "vendor_admin",
            Role::CustomerAdmin => "customer_admin",
            Role::CustomerMember => "customer_member",
        }
    }

    /// Parses a stored role name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "vendor_admin" => Some(Role::VendorAdmin),
            "customer_admin" => Some(Role::CustomerAdmin),
            "customer_member" => Some(Role::CustomerMember),
            _ => None,
        }
    }
}

/// A person (or robot) who authenticates with access tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// The vendor organisation the user belongs to (directly or through a customer).
    pub org_id: OrgId,
    /// The customer organisation, for customer users; `None` for vendor admins.
    pub customer_id: Option<CustomerId>,
    /// Login / contact address, unique within the user's customer (or among
    /// the vendor's own users): two customers may each have a user with the
    /// same address.
    pub email: String,
    /// Role.
    pub role: Role,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: i64,
}

/// A stored access token: only the hash of the secret is kept.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Id.
    pub id: TokenId,
    /// Owner.
    pub user_id: UserId,
    /// Label chosen by the owner.
    pub name: String,
    /// SHA-256 of the secret, hex.
    pub hash: String,
    /// Expiry, ms since the Unix epoch.
    pub expires_at_ms: Option<i64>,
    /// Last successful use, ms since the Unix epoch.
    pub last_used_at_ms: Option<i64>,
    /// Revocation time, ms since the Unix epoch.
    pub revoked_at_ms: Option<i64>,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: i64,
}

impl TokenRecord {
    /// True when the token may authenticate at `now_ms`.
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.revoked_at_ms.is_none() && self.expires_at_ms.is_none_or(|e| now_ms < e)
    }
}

impl fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRecord")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("hash", &"<redacted>")
            .field("expires_at_ms", &self.expires_at_ms)
            .field("revoked_at_ms", &self.revoked_at_ms)
            .finish_non_exhaustive()
    }
}

/// An artifact of a vendor: one repository `<org-slug>/<name>`.
///
/// `Debug` never prints upstream secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// Id.
    pub id: ArtifactId,
    /// The vendor.
    pub org_id: OrgId,
    /// Artifact name (may contain `/`); the repository is `<org-slug>/<name>`.
    pub name: String,
    /// The upstream repository the artifact mirrors (pull-through cache);
    /// `None` for artifacts the vendor pushes to distr directly.
    pub upstream: Option<ArtifactUpstream>,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: i64,
}

/// The upstream repository behind a pull-through artifact, with the
/// credentials distr uses to read it.
///
/// `Debug` never prints secrets (see [`UpstreamAuth`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactUpstream {
    /// The fully qualified upstream repository, e.g. `ghcr.io/org/repo`.
    pub reference: UpstreamRef,
    /// How distr authenticates to the upstream.
    pub auth: UpstreamAuth,
    /// Plain `http://` instead of `https://` (tests, registries on loopback).
    pub insecure: bool,
}

/// How an artifact's upstream syncs went. All times are ms since the Unix
/// epoch; a failed sync keeps `last_synced_at_ms` of the last success.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    /// End of the last successful sync.
    pub last_synced_at_ms: Option<i64>,
    /// Start of the last sync attempt, successful or not.
    pub last_sync_attempt_at_ms: Option<i64>,
    /// The error of the last attempt; `None` when it succeeded.
    pub last_sync_error: Option<String>,
}

/// Which tags of an artifact an entitlement grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "tags")]
pub enum TagSelection {
    /// Every tag, current and future.
    All,
    /// Tags matching any of these names or patterns.
    Only(Vec<TagPattern>),
}

impl TagSelection {
    /// True when `tag` is selected.
    pub fn matches(&self, tag: &str) -> bool {
        match self {
            TagSelection::All => true,
            TagSelection::Only(ps) => ps.iter().any(|p| p.matches(tag)),
        }
    }
}

/// One artifact of an entitlement with its tag selection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntitlementItem {
    /// The artifact.
    pub artifact_id: ArtifactId,
    /// The tags granted.
    pub tags: TagSelection,
}

/// A named grant of artifacts (and tags) to a customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    /// Id.
    pub id: EntitlementId,
    /// The vendor.
    pub org_id: OrgId,
    /// The customer.
    pub customer_id: CustomerId,
    /// Name, unique per customer.
    pub name: String,
    /// Expiry, ms since the Unix epoch; an expired entitlement grants nothing.
    pub expires_at_ms: Option<i64>,
    /// The artifacts granted.
    pub items: Vec<EntitlementItem>,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: i64,
}

impl Entitlement {
    /// True when the entitlement grants anything at `now_ms`.
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.expires_at_ms.is_none_or(|e| now_ms < e)
    }
}
