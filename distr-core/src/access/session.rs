//! Short-lived registry session tokens, issued by the `/v2/token` endpoint of
//! the Docker token flow and presented as `Authorization: Bearer …`.
//!
//! A session token is `base64url(claims JSON) "." base64url(HMAC-SHA256)`,
//! signed with a [`SessionKey`]; verifying one needs no database. It names the
//! personal access token it was issued for, so revoking that token still takes
//! effect within a second (see [`super::TokenAuthenticator`]).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};

use super::model::TokenId;
use super::policy::Principal;

type HmacSha256 = Hmac<sha2::Sha256>;

/// Lifetime of a session token.
pub const SESSION_TTL_MS: i64 = 5 * 60 * 1000;

/// The secret key sessions are signed with. Never printed by `Debug`.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// A fresh random key (sessions then last only as long as the process).
    pub fn generate() -> Result<SessionKey, getrandom::Error> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k)?;
        Ok(SessionKey(k))
    }

    /// A key from 32 bytes of configured secret material.
    pub fn from_bytes(bytes: [u8; 32]) -> SessionKey {
        SessionKey(bytes)
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length; 32 bytes cannot fail.
        <HmacSha256 as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
    }

    /// Signs `claims` into a token.
    pub fn sign(&self, claims: &SessionClaims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{payload}.{sig}")
    }

    /// The claims of a token this key signed that has not expired at `now_ms`.
    pub fn verify(&self, token: &str, now_ms: i64) -> Option<SessionClaims> {
        let (payload, sig) = token.split_once('.')?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&sig).ok()?;
        let claims: SessionClaims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (now_ms < claims.expires_at_ms).then_some(claims)
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

/// What a scope lets a session do: the actions of the Docker token flow's
/// `scope` parameter (`repository:<name>:<action>[,<action>]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Read manifests, blobs and tags (`pull`).
    #[serde(rename = "pull")]
    Pull,
    /// Upload blobs and manifests (`push`).
    #[serde(rename = "push")]
    Push,
    /// Delete manifests and blobs (`delete`).
    #[serde(rename = "delete")]
    Delete,
    /// Everything (`*`).
    #[serde(rename = "*")]
    All,
}

impl Action {
    /// The action's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
            Action::All => "*",
        }
    }

    /// The action named `s`; `None` for an action distr does not know.
    pub fn parse(s: &str) -> Option<Action> {
        [Action::Pull, Action::Push, Action::Delete, Action::All]
            .into_iter()
            .find(|a| a.as_str() == s)
    }

    /// True when a grant of `self` covers `wanted`.
    pub fn covers(self, wanted: Action) -> bool {
        self == Action::All || self == wanted
    }

    /// True for actions that change a repository (they need write access).
    pub fn writes(self) -> bool {
        self != Action::Pull
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Actions granted on one repository (or `registry:catalog`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantedScope {
    /// `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Repository name, or `catalog`.
    pub name: String,
    /// Granted actions.
    pub actions: Vec<Action>,
}

impl GrantedScope {
    /// Parses one `scope` parameter: `repository:<name>:<action>[,<action>]`.
    /// Actions distr does not know are left out.
    pub fn parse_request(scope: &str) -> Option<GrantedScope> {
        let (kind, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        let actions = actions.split(',').filter_map(Action::parse).collect();
        Some(GrantedScope {
            kind: kind.to_owned(),
            name: name.to_owned(),
            actions,
        })
    }

    /// Parses the `scope` parameters of one token request, one scope per
    /// resource: repeated resources are merged and their actions deduped,
    /// so a client asking twice (or a thousand times) gets one entry. More
    /// than `max` distinct resources is refused ([`TooManyScopes`]), so a
    /// session token always fits in a request header.
    pub fn parse_requests(scopes: &[&str], max: usize) -> Result<Vec<GrantedScope>, TooManyScopes> {
        let mut merged: Vec<GrantedScope> = Vec::new();
        for requested in scopes.iter().filter_map(|s| GrantedScope::parse_request(s)) {
            let entry = match merged
                .iter()
                .position(|m| m.kind == requested.kind && m.name == requested.name)
            {
                Some(i) => &mut merged[i],
                None if merged.len() >= max => return Err(TooManyScopes { max }),
                None => {
                    merged.push(GrantedScope {
                        actions: Vec::new(),
                        ..requested.clone()
                    });
                    merged.last_mut().expect("just pushed")
                }
            };
            for action in requested.actions {
                if !entry.actions.contains(&action) {
                    entry.actions.push(action);
                }
            }
        }
        Ok(merged)
    }

    /// True when this scope grants `action` on repository `repo`.
    pub fn allows(&self, repo: &str, action: Action) -> bool {
        self.kind == "repository"
            && self.name == repo
            && self.actions.iter().any(|a| a.covers(action))
    }
}

/// A token request naming more distinct resources than allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a token request may name at most {max} distinct scopes")]
pub struct TooManyScopes {
    /// The most allowed.
    pub max: usize,
}

/// What a session token asserts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    /// Who.
    pub principal: Principal,
    /// The personal access token the session was issued for.
    pub token_id: TokenId,
    /// What was granted.
    pub scopes: Vec<GrantedScope>,
    /// Expiry, ms since the Unix epoch.
    pub expires_at_ms: i64,
}

impl SessionClaims {
    /// True when the session grants `action` on `repo`.
    pub fn allows(&self, repo: &str, action: Action) -> bool {
        self.scopes.iter().any(|s| s.allows(repo, action))
    }

    /// True when the session grants listing the catalog.
    pub fn allows_catalog(&self) -> bool {
        self.scopes
            .iter()
            .any(|s| s.kind == "registry" && s.name == "catalog")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn repeated_scopes_merge_and_too_many_are_refused() {
        let pull = "repository:acme/app:pull";
        let many = vec![pull; 1000];
        let mut reqs = many.clone();
        reqs.push("repository:acme/app:push,pull");
        let merged = GrantedScope::parse_requests(&reqs, 32).unwrap();
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].actions, vec![Action::Pull, Action::Push]);
        let distinct: Vec<String> = (0..33)
            .map(|i| format!("repository:acme/a{i}:pull"))
            .collect();
        let distinct: Vec<&str> = distinct.iter().map(String::as_str).collect();
        assert!(GrantedScope::parse_requests(&distinct[..32], 32).is_ok());
        assert_eq!(
            GrantedScope::parse_requests(&distinct, 32),
            Err(TooManyScopes { max: 32 })
        );
    }

    use super::*;
    use crate::access::{OrgId, UserId};

    fn claims(exp: i64) -> SessionClaims {
        SessionClaims {
            principal: Principal::VendorAdmin {
                org: OrgId::new(),
                user: UserId::new(),
            },
            token_id: TokenId::new(),
            scopes: vec![GrantedScope::parse_request("repository:acme/app:pull,push").unwrap()],
            expires_at_ms: exp,
        }
    }

    #[test]
    fn sign_verify_tamper_expire() {
        let key = SessionKey::generate().unwrap();
        let c = claims(1_000);
        let token = key.sign(&c);
        assert_eq!(key.verify(&token, 999), Some(c.clone()));
        assert_eq!(key.verify(&token, 1_000), None, "expired");
        assert_eq!(
            SessionKey::generate().unwrap().verify(&token, 0),
            None,
            "other key"
        );
        let (payload, sig) = token.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(i64::MAX)).unwrap());
        assert_eq!(
            key.verify(&format!("{forged}.{sig}"), 0),
            None,
            "forged claims"
        );
        assert_eq!(key.verify(payload, 0), None);
        assert_eq!(key.verify("", 0), None);
        assert!(!format!("{key:?}").contains(&hex::encode(key.0)));
        assert!(
            c.allows("acme/app", Action::Pull)
                && c.allows("acme/app", Action::Push)
                && !c.allows("acme/app", Action::Delete)
                && !c.allows("acme/other", Action::Pull)
        );
    }

    #[test]
    fn actions_on_the_wire() {
        for a in [Action::Pull, Action::Push, Action::Delete, Action::All] {
            assert_eq!(Action::parse(a.as_str()), Some(a));
            assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
        }
        assert_eq!(Action::parse("PULL"), None);
        assert!(Action::All.covers(Action::Delete) && !Action::Push.covers(Action::Pull));
        assert!(!Action::Pull.writes() && Action::Push.writes() && Action::All.writes());
    }

    #[test]
    fn scope_parsing() {
        let s = GrantedScope::parse_request("repository:acme/charts/web:pull").unwrap();
        assert_eq!(
            (s.kind.as_str(), s.name.as_str(), s.actions.clone()),
            ("repository", "acme/charts/web", vec![Action::Pull])
        );
        let s = GrantedScope::parse_request("repository:a:pull,frobnicate,,delete").unwrap();
        assert_eq!(
            s.actions,
            vec![Action::Pull, Action::Delete],
            "unknown actions dropped"
        );
        let c = GrantedScope::parse_request("registry:catalog:*").unwrap();
        assert_eq!(
            (c.name.as_str(), c.actions.clone()),
            ("catalog", vec![Action::All])
        );
        for bad in [
            "",
            "repository",
            "repository:",
            ":a:pull",
            "repository::pull",
        ] {
            assert_eq!(GrantedScope::parse_request(bad), None, "{bad}");
        }
    }
}
