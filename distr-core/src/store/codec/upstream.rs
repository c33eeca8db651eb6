//! Column representation of an artifact's upstream (the `upstream_*` columns
//! of the `artifacts` table, the same in every SQL backend).

use super::{corrupt, parse};
use crate::access::ArtifactUpstream;
use crate::error::StoreResult;
use crate::upstream::UpstreamAuth;

/// The upstream columns of an artifact row, in order: `upstream_ref`,
/// `upstream_auth_kind`, `upstream_username`, `upstream_secret`,
/// `upstream_insecure`. All `None` for an artifact without upstream.
pub type UpstreamColumns = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<bool>,
);

/// An artifact's upstream as its columns (see [`UpstreamColumns`]).
pub fn upstream_to_sql(upstream: Option<&ArtifactUpstream>) -> UpstreamColumns {
    let Some(u) = upstream else {
        return (None, None, None, None, None);
    };
    let (kind, username, secret) = auth_to_sql(&u.auth);
    (
        Some(u.reference.to_string()),
        Some(kind.to_owned()),
        username,
        secret,
        Some(u.insecure),
    )
}

/// Upstream credentials as their kind, user name (or access key id) and
/// secret. The match is exhaustive, so a new kind of credentials cannot be
/// added without deciding how it is stored.
fn auth_to_sql(auth: &UpstreamAuth) -> (&'static str, Option<String>, Option<String>) {
    match auth {
        UpstreamAuth::None => ("none", None, None),
        UpstreamAuth::Basic { username, password } => {
            ("basic", Some(username.clone()), Some(password.clone()))
        }
        UpstreamAuth::Ecr {
            access_key_id,
            secret_access_key,
        } => (
            "ecr",
            Some(access_key_id.clone()),
            Some(secret_access_key.clone()),
        ),
    }
}

/// A stored upstream: `None` when `upstream_ref` is NULL;
/// [`crate::StoreError::Corrupt`] when the columns do not make a valid upstream.
pub fn upstream_from_sql(
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
    use crate::StoreError;
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
            let columns = upstream_to_sql(u.as_ref());
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
}
