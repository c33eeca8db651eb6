//! Parsing `/v2/...` paths into routes. Repository names have any number of
//! segments, so a path is read from its end.

use distr_core::{Error, RepoName};

/// A recognised registry endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/token`: the Docker token flow's token endpoint.
    Token,
    /// `/v2/<name>/tags/list`
    Tags(RepoName),
    /// `/v2/<name>/manifests/<reference>`
    Manifest(RepoName, String),
    /// `/v2/<name>/blobs/<digest>`
    Blob(RepoName, String),
    /// `/v2/<name>/blobs/uploads/`
    UploadStart(RepoName),
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload(RepoName, String),
    /// `/v2/<name>/referrers/<digest>`
    Referrers(RepoName, String),
}

impl Route {
    /// Parses a request path. `Ok(None)` when the path is not a registry
    /// endpoint; `Err(NameInvalid)` when it is one but the name is malformed.
    pub fn parse(path: &str) -> Result<Option<Route>, Error> {
        let Some(rest) = path.strip_prefix("/v2") else {
            return Ok(None);
        };
        if rest.is_empty() || rest == "/" {
            return Ok(Some(Route::Base));
        }
        let Some(rest) = rest.strip_prefix('/') else {
            return Ok(None);
        };
        if rest == "_catalog" {
            return Ok(Some(Route::Catalog));
        }
        if rest == "token" {
            return Ok(Some(Route::Token));
        }
        let segs: Vec<&str> = rest.split('/').collect();
        let n = segs.len();
        let name = |k: usize| -> Result<RepoName, Error> {
            if k == 0 {
                return Err(Error::NameInvalid("missing repository name".into()));
            }
            segs[..k].join("/").parse()
        };
        let route = if n >= 3 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
            if segs[n - 1].is_empty() {
                Route::UploadStart(name(n - 3)?)
            } else {
                Route::Upload(name(n - 3)?, segs[n - 1].to_owned())
            }
        } else if n >= 2 && segs[n - 2] == "blobs" && segs[n - 1] == "uploads" {
            Route::UploadStart(name(n - 2)?)
        } else if n >= 2 && segs[n - 2] == "blobs" {
            Route::Blob(name(n - 2)?, segs[n - 1].to_owned())
        } else if n >= 2 && segs[n - 2] == "manifests" {
            Route::Manifest(name(n - 2)?, segs[n - 1].to_owned())
        } else if n >= 2 && segs[n - 2] == "tags" && segs[n - 1] == "list" {
            Route::Tags(name(n - 2)?)
        } else if n >= 2 && segs[n - 2] == "referrers" {
            Route::Referrers(name(n - 2)?, segs[n - 1].to_owned())
        } else {
            return Ok(None);
        };
        Ok(Some(route))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> RepoName {
        s.parse().unwrap()
    }

    #[test]
    fn parses_routes() {
        assert_eq!(Route::parse("/v2/").unwrap(), Some(Route::Base));
        assert_eq!(Route::parse("/v2").unwrap(), Some(Route::Base));
        assert_eq!(Route::parse("/v2/_catalog").unwrap(), Some(Route::Catalog));
        assert_eq!(Route::parse("/v2/token").unwrap(), Some(Route::Token));
        assert_eq!(
            Route::parse("/v2/a/b/c/d/e/f/g/h/tags/list").unwrap(),
            Some(Route::Tags(r("a/b/c/d/e/f/g/h")))
        );
        assert_eq!(
            Route::parse("/v2/a/b/manifests/latest").unwrap(),
            Some(Route::Manifest(r("a/b"), "latest".into()))
        );
        assert_eq!(
            Route::parse("/v2/a/b/blobs/sha256:x").unwrap(),
            Some(Route::Blob(r("a/b"), "sha256:x".into()))
        );
        assert_eq!(
            Route::parse("/v2/a/b/blobs/uploads/").unwrap(),
            Some(Route::UploadStart(r("a/b")))
        );
        assert_eq!(
            Route::parse("/v2/a/b/blobs/uploads").unwrap(),
            Some(Route::UploadStart(r("a/b")))
        );
        assert_eq!(
            Route::parse("/v2/a/b/blobs/uploads/u1").unwrap(),
            Some(Route::Upload(r("a/b"), "u1".into()))
        );
        assert_eq!(
            Route::parse("/v2/a/b/referrers/sha256:x").unwrap(),
            Some(Route::Referrers(r("a/b"), "sha256:x".into()))
        );
        assert_eq!(Route::parse("/v2/a/manifests/x/y").unwrap(), None);
        assert_eq!(Route::parse("/v3/a/b/tags/list").unwrap(), None);
        assert_eq!(Route::parse("/v2x").unwrap(), None);
    }

    #[test]
    fn malformed_names_are_name_invalid() {
        for p in [
            "/v2/A/b/tags/list",
            "/v2/a/../b/tags/list",
            "/v2/a/manifests/x",
            "/v2/manifests/x",
            "/v2/a//b/blobs/sha256:x",
        ] {
            assert!(matches!(Route::parse(p), Err(Error::NameInvalid(_))), "{p}");
        }
    }
}
