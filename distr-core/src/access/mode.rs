//! A vendor's access mode: whether its customers see everything it
//! publishes (`open`) or only what their entitlements grant (`entitled`).
//!
//! A vendor that never created an entitlement runs open. Creating its first
//! entitlement switches it to entitled for good: deleting entitlements never
//! widens access again. Only an explicit, recorded call switches a vendor
//! back to open ([`crate::access::AccessStore::set_access_mode`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a vendor's customers are given access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessMode {
    /// Every customer of the vendor may pull every artifact of the vendor.
    Open,
    /// A customer may pull only what an active entitlement grants it.
    Entitled,
}

impl AccessMode {
    /// The mode's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessMode::Open => "open",
            AccessMode::Entitled => "entitled",
        }
    }
}

impl fmt::Display for AccessMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mode name that is neither `open` nor `entitled`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the access mode must be `open` or `entitled`")]
pub struct UnknownAccessMode;

impl FromStr for AccessMode {
    type Err = UnknownAccessMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(AccessMode::Open),
            "entitled" => Ok(AccessMode::Entitled),
            _ => Err(UnknownAccessMode),
        }
    }
}

/// A vendor's access mode with the record of its last change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessModeRecord {
    /// The mode in force.
    pub mode: AccessMode,
    /// When the mode last changed, ms since the Unix epoch (`None`: never).
    pub changed_at_ms: Option<i64>,
    /// Who changed it last: `user:<id>` for a management-API call,
    /// `cli` for the admin command, `entitlement:<id>` when creating the
    /// vendor's first entitlement switched it (`None`: never changed).
    pub changed_by: Option<String>,
}

impl AccessModeRecord {
    /// The record of a vendor that never changed its mode: open.
    pub fn initial() -> Self {
        AccessModeRecord {
            mode: AccessMode::Open,
            changed_at_ms: None,
            changed_by: None,
        }
    }

    /// What every store answers for an organisation that does not exist:
    /// entitled (so nothing is open), never changed.
    pub fn unknown_org() -> Self {
        AccessModeRecord {
            mode: AccessMode::Entitled,
            ..Self::initial()
        }
    }

    /// The record after creating entitlement `entitlement` at `at_ms`: the
    /// vendor is entitled from then on; an entitled record stays as it was.
    pub fn after_entitlement(self, entitlement: &str, at_ms: i64) -> Self {
        if self.mode == AccessMode::Entitled {
            return self;
        }
        AccessModeRecord {
            mode: AccessMode::Entitled,
            changed_at_ms: Some(at_ms),
            changed_by: Some(format!("entitlement:{entitlement}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_others_are_refused() {
        for m in [AccessMode::Open, AccessMode::Entitled] {
            assert_eq!(m.as_str().parse::<AccessMode>(), Ok(m));
            assert_eq!(
                serde_json::to_string(&m).unwrap(),
                format!("\"{}\"", m.as_str())
            );
        }
        assert_eq!("Open".parse::<AccessMode>(), Err(UnknownAccessMode));
        assert_eq!("".parse::<AccessMode>(), Err(UnknownAccessMode));
    }

    #[test]
    fn the_first_entitlement_switches_once() {
        let r = AccessModeRecord::initial().after_entitlement("e1", 10);
        assert_eq!(r.mode, AccessMode::Entitled);
        assert_eq!(r.changed_by.as_deref(), Some("entitlement:e1"));
        let again = r.clone().after_entitlement("e2", 20);
        assert_eq!(again, r);
    }
}
