//! The `upstream` of an artifact in the management API: the request shape,
//! its validation against the upstream registry, and the views (which never
//! show secrets).

use std::fmt;

use distr_core::access::{ArtifactId, ArtifactUpstream, SyncStatus};
use distr_core::pullthrough::UpstreamConnector;
use distr_core::upstream::{UpstreamAuth, UpstreamError, UpstreamFailure, UpstreamRef};
use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// The `upstream` object of a request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpstreamBody {
    /// Fully qualified upstream repository, e.g. `ghcr.io/org/repo`.
    reference: String,
    /// Plain `http://` (registries on loopback, tests).
    #[serde(default)]
    insecure: bool,
    /// Credentials; anonymous when absent.
    #[serde(default)]
    auth: AuthBody,
}

/// The `auth` object of an upstream: `{"kind":"none"|"basic"|"ecr", …}`.
#[derive(Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum AuthBody {
    #[default]
    None,
    Basic {
        username: String,
        password: String,
    },
    Ecr {
        access_key_id: String,
        secret_access_key: String,
    },
}

impl fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamBody")
            .field("reference", &self.reference)
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

impl UpstreamBody {
    /// The configuration the body describes; 400 `invalid_upstream` when the
    /// reference does not parse or a credential is empty.
    pub(super) fn into_config(self) -> Result<ArtifactUpstream, ApiError> {
        let last = self.reference.rsplit('/').next().unwrap_or_default();
        if self.reference.contains('@') || (self.reference.contains('/') && last.contains(':')) {
            return Err(ApiError::bad_request_code(
                INVALID,
                "the upstream reference names a repository (e.g. ghcr.io/org/repo), \
                 without a tag or digest",
            ));
        }
        let reference: UpstreamRef = self
            .reference
            .parse()
            .map_err(|e: UpstreamError| ApiError::bad_request_code(INVALID, e.to_string()))?;
        let auth = match self.auth {
            AuthBody::None => UpstreamAuth::None,
            AuthBody::Basic { username, password } => {
                if username.is_empty() || password.is_empty() {
                    return Err(ApiError::bad_request_code(
                        INVALID,
                        "basic auth needs a username and a password",
                    ));
                }
                UpstreamAuth::basic(username, password)
            }
            AuthBody::Ecr {
                access_key_id,
                secret_access_key,
            } => {
                if access_key_id.is_empty() || secret_access_key.is_empty() {
                    return Err(ApiError::bad_request_code(
                        INVALID,
                        "ECR auth needs an access key id and a secret access key",
                    ));
                }
                UpstreamAuth::Ecr {
                    access_key_id,
                    secret_access_key,
                }
            }
        };
        Ok(ArtifactUpstream {
            reference,
            auth,
            insecure: self.insecure,
        })
    }
}

/// The code of a malformed upstream configuration.
const INVALID: &str = UpstreamFailure::InvalidConfig.code();

/// Checks that the credentials work and the repository exists upstream;
/// 400 with a code naming what failed otherwise.
///
/// `artifact` is the stored artifact whose upstream changes, `None` for an
/// artifact being created.
pub(super) async fn verify(
    connector: Option<&dyn UpstreamConnector>,
    artifact: Option<ArtifactId>,
    upstream: &ArtifactUpstream,
) -> Result<(), ApiError> {
    let Some(connector) = connector else {
        return Err(disabled());
    };
    let client = match artifact {
        Some(id) => connector.connect_artifact(id, upstream),
        None => connector.connect(upstream),
    }
    .map_err(check_failed)?;
    client.check_access().await.map_err(check_failed)
}

/// 400 `upstreams_disabled`: the server has no pull-through cache.
pub(super) fn disabled() -> ApiError {
    ApiError::bad_request_code(
        "upstreams_disabled",
        "this server has no pull-through cache configured",
    )
}

/// The 400 for a failed upstream check: a category code and its fixed
/// sentence ([`UpstreamFailure`]); what the upstream said (or the OS error of
/// a refused connect) goes to the log only, so the check cannot be used to
/// probe what listens where.
fn check_failed(e: UpstreamError) -> ApiError {
    tracing::info!(error = %e, "upstream check failed");
    let failure = e.failure();
    ApiError::bad_request_code(
        failure.code(),
        format!("upstream check failed: {}", failure.message()),
    )
}

/// An artifact's upstream as the API shows it: no secrets.
#[derive(Serialize)]
pub(super) struct UpstreamView {
    reference: String,
    insecure: bool,
    /// `none`, `basic` or `ecr`.
    auth_kind: &'static str,
    /// The Basic user name or the AWS access key id.
    username: Option<String>,
}

/// The view of an artifact's upstream.
pub(super) fn view(u: &ArtifactUpstream) -> UpstreamView {
    let (auth_kind, username) = match &u.auth {
        UpstreamAuth::Basic { username, .. } => ("basic", Some(username.clone())),
        UpstreamAuth::Ecr { access_key_id, .. } => ("ecr", Some(access_key_id.clone())),
        _ => ("none", None),
    };
    UpstreamView {
        reference: u.reference.to_string(),
        insecure: u.insecure,
        auth_kind,
        username,
    }
}

/// An artifact's sync status as the API shows it.
#[derive(Serialize)]
pub(super) struct SyncView {
    last_synced_at: Option<i64>,
    last_sync_attempt_at: Option<i64>,
    last_sync_error: Option<String>,
    /// True while a sync of the artifact runs on this server.
    running: bool,
}

/// The view of a sync status.
pub(super) fn sync_view(s: SyncStatus, running: bool) -> SyncView {
    SyncView {
        last_synced_at: s.last_synced_at_ms,
        last_sync_attempt_at: s.last_sync_attempt_at_ms,
        last_sync_error: s.last_sync_error,
        running,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ArtifactUpstream, ApiError> {
        serde_json::from_str::<UpstreamBody>(json)
            .map_err(|e| ApiError::bad_request(e.to_string()))?
            .into_config()
    }

    #[test]
    fn parses_each_auth_kind() {
        let u = parse(r#"{"reference":"ghcr.io/org/repo"}"#).unwrap();
        assert_eq!(u.auth, UpstreamAuth::None);
        assert!(!u.insecure);
        let u = parse(
            r#"{"reference":"127.0.0.1:5001/a","insecure":true,
                "auth":{"kind":"basic","username":"u","password":"p"}}"#,
        )
        .unwrap();
        assert_eq!(u.auth, UpstreamAuth::basic("u", "p"));
        assert!(u.insecure);
        let u = parse(
            r#"{"reference":"123456789012.dkr.ecr.us-east-1.amazonaws.com/r",
                "auth":{"kind":"ecr","access_key_id":"AKIA","secret_access_key":"s"}}"#,
        )
        .unwrap();
        assert!(matches!(u.auth, UpstreamAuth::Ecr { .. }));
    }

    #[test]
    fn rejects_bad_references_and_empty_credentials() {
        assert!(parse(r#"{"reference":"not a ref"}"#).is_err());
        let e = parse(r#"{"reference":"127.0.0.1:5000/team/app:1.0"}"#).unwrap_err();
        assert!(format!("{e:?}").contains("without a tag"), "{e:?}");
        assert!(parse(r#"{"reference":"127.0.0.1:5000/team/app"}"#).is_ok());
        assert!(parse(
            r#"{"reference":"ghcr.io/a","auth":{"kind":"basic","username":"u","password":""}}"#
        )
        .is_err());
        assert!(parse(r#"{"reference":"ghcr.io/a","auth":{"kind":"token"}}"#).is_err());
    }

    #[test]
    fn view_hides_secrets() {
        let u = parse(
            r#"{"reference":"ghcr.io/a","auth":{"kind":"basic","username":"robot","password":"hunter2"}}"#,
        )
        .unwrap();
        let json = serde_json::to_string(&view(&u)).unwrap();
        assert!(
            json.contains("robot") && !json.contains("hunter2"),
            "{json}"
        );
    }
}
