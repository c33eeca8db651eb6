//! Column representations of the tenancy model, and constraint violations.
//!
//! Ids are bound as their hyphenated lower-case text (`to_string`) and read
//! back with [`crate::codec::parse`].

use distr_core::access::{ArtifactUpstream, Role, TagSelection};
use distr_core::upstream::UpstreamAuth;
use distr_core::{StoreError, StoreResult};

use crate::codec::{corrupt, from_json, parse, to_json};

/// Maps a failed write: a uniqueness violation becomes a
/// [`StoreError::Conflict`] saying `taken`, a foreign-key violation one saying
/// that a referenced record is missing; anything else is a backend error.
/// SQLite aborts the failing statement, so nothing changed.
pub(crate) fn constraint(taken: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(taken.to_owned())
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::Conflict("a referenced record does not exist".to_owned())
        }
        _ => StoreError::backend(e),
    }
}

/// Parses a stored role.
pub(crate) fn role(s: &str) -> StoreResult<Role> {
    Role::parse(s).ok_or_else(|| corrupt("user role", format_args!("unknown role {s:?}")))
}

/// A tag selection as its `kind` and `patterns` columns.
pub(crate) fn selection_to_sql(tags: &TagSelection) -> StoreResult<(&'static str, String)> {
    match tags {
        TagSelection::All => Ok(("all", "[]".to_owned())),
        TagSelection::Only(patterns) => Ok(("only", to_json(patterns)?)),
    }
}

/// A stored tag selection; the patterns are validated again on decoding.
pub(crate) fn selection_from_sql(kind: &str, patterns: &str) -> StoreResult<TagSelection> {
    match kind {
        "all" => Ok(TagSelection::All),
        "only" => Ok(TagSelection::Only(from_json(
            "entitlement tag patterns",
            patterns,
        )?)),
        _ => Err(corrupt(
            "entitlement item",
            format_args!("unknown tag selection {kind:?}"),
        )),
    }
}

/// The upstream columns of an artifact row, in order: `upstream_ref`,
/// `upstream_auth_kind`, `upstream_username`, `upstream_secret`,
/// `upstream_insecure`. All `None` for an artifact without upstream.
pub(crate) type UpstreamColumns = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<bool>,
);

/// An artifact's upstream as its columns (see [`UpstreamColumns`]).
pub(crate) fn upstream_to_sql(upstream: Option<&ArtifactUpstream>) -> StoreResult<UpstreamColumns> {
    let Some(u) = upstream else {
        return Ok((None, None, None, None, None));
    };
    let (kind, username, secret) = auth_to_sql(&u.auth)?;
    Ok((
        Some(u.reference.to_string()),
        Some(kind.to_owned()),
        username,
        secret,
        Some(u.insecure),
    ))
}

/// Upstream credentials as their kind, user name (or access key id) and
/// secret. Fails for a kind this store does not know how to keep.
fn auth_to_sql(auth: &UpstreamAuth) -> StoreResult<(&'static str, Option<String>, Option<String>)> {
    match auth {
        UpstreamAuth::None => Ok(("none", None, None)),
        UpstreamAuth::Basic { username, password } => {
            Ok(("basic", Some(username.clone()), Some(password.clone())))
        }
        UpstreamAuth::Ecr {
            access_key_id,
            secret_access_key,
        } => Ok((
            "ecr",
            Some(access_key_id.clone()),
            Some(secret_access_key.clone()),
        )),
        _ => Err(StoreError::backend(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "this kind of upstream credentials cannot be stored",
        ))),
    }
}

/// A stored upstream: `None` when `upstream_ref` is NULL;
/// [`StoreError::Corrupt`] when the columns do not make a valid upstream.
pub(crate) fn upstream_from_sql(
    (reference, kind, username, secret, insecure): UpstreamColumns,
) -> StoreResult<Option<ArtifactUpstream>> {
    let Some(reference) = reference else {
        return Ok(None);
    };
    let kind = kind.ok_or_else(|| corrupt("artifact upstream", "no credentials kind"))?;
    let insecure = insecure.ok_or_else(|| corrupt("artifact upstream", "no insecure flag"))?;
    Ok(Some(ArtifactUpstream {
        reference: parse("artifact upstream reference", &reference)?,
        auth: auth_from_sql(&kind, username, secret)?,
        insecure,
    }))
}

/// Stored upstream credentials of kind `kind`.
fn auth_from_sql(
    kind: &str,
    username: Option<String>,
    secret: Option<String>,
) -> StoreResult<UpstreamAuth> {
    let pair = || match (username, secret) {
        (Some(u), Some(s)) => Ok((u, s)),
        _ => Err(corrupt(
            "artifact upstream credentials",
            format_args!("{kind} credentials without user name or secret"),
        )),
    };
    match kind {
        "none" => Ok(UpstreamAuth::None),
        "basic" => {
            let (username, password) = pair()?;
            Ok(UpstreamAuth::Basic { username, password })
        }
        "ecr" => {
            let (access_key_id, secret_access_key) = pair()?;
            Ok(UpstreamAuth::Ecr {
                access_key_id,
                secret_access_key,
            })
        }
        _ => Err(corrupt(
            "artifact upstream credentials",
            format_args!("unknown kind {kind:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(auth: UpstreamAuth, insecure: bool) -> ArtifactUpstream {
        ArtifactUpstream {
            reference: "ghcr.io/acme/app".parse().unwrap(),
            auth,
            insecure,
        }
    }

    #[test]
    fn upstreams_roundtrip() {
        let ecr = UpstreamAuth::Ecr {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: "secret/key".into(),
        };
        for u in [
            None,
            Some(upstream(UpstreamAuth::None, false)),
            Some(upstream(UpstreamAuth::basic("robot", "pw"), true)),
            Some(upstream(ecr, false)),
        ] {
            let columns = upstream_to_sql(u.as_ref()).unwrap();
            assert_eq!(upstream_from_sql(columns).unwrap(), u);
        }
    }

    #[test]
    fn bad_stored_upstreams_are_corrupt() {
        let s = |v: &str| Some(v.to_owned());
        for columns in [
            (s("not a reference"), s("none"), None, None, Some(false)),
            (s("ghcr.io/a/b"), s("kerberos"), None, None, Some(false)),
            (s("ghcr.io/a/b"), None, None, None, Some(false)),
            (s("ghcr.io/a/b"), s("none"), None, None, None),
            (s("ghcr.io/a/b"), s("basic"), s("robot"), None, Some(false)),
            (s("ghcr.io/a/b"), s("ecr"), None, s("key"), Some(true)),
        ] {
            assert!(matches!(
                upstream_from_sql(columns),
                Err(StoreError::Corrupt(_))
            ));
        }
    }

    #[test]
    fn selections_roundtrip() {
        let only = TagSelection::Only(vec!["1.2.*".parse().unwrap(), "latest".parse().unwrap()]);
        for tags in [TagSelection::All, TagSelection::Only(vec![]), only] {
            let (kind, patterns) = selection_to_sql(&tags).unwrap();
            assert_eq!(selection_from_sql(kind, &patterns).unwrap(), tags);
        }
    }

    #[test]
    fn bad_stored_values_are_corrupt() {
        for (kind, patterns) in [("some", "[]"), ("only", "[\"-bad\"]"), ("only", "{")] {
            assert!(matches!(
                selection_from_sql(kind, patterns),
                Err(StoreError::Corrupt(_))
            ));
        }
        assert!(matches!(role("root"), Err(StoreError::Corrupt(_))));
        assert_eq!(role("vendor_admin").unwrap(), Role::VendorAdmin);
    }
}
