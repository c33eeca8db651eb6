//! Fully qualified upstream repository references (`ghcr.io/org/repo`).

use std::fmt;
use std::str::FromStr;

use super::error::UpstreamError;
use crate::name::MAX_NAME_LEN;

/// The registry host Docker Hub's API is served from.
pub const DOCKER_HUB_REGISTRY: &str = "registry-1.docker.io";

/// A repository on an upstream registry: `host[:port]` plus repository path.
///
/// Parsed from a fully qualified reference such as `ghcr.io/org/repo` or
/// `127.0.0.1:5001/team/app`. Docker Hub is normalized the way the Docker CLI
/// does: `docker.io/redis` is host [`DOCKER_HUB_REGISTRY`], path `library/redis`.
/// Unlike [`RepoName`](crate::RepoName) a single path segment is allowed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UpstreamRef {
    registry: String,
    repository: String,
}

impl UpstreamRef {
    /// The registry `host[:port]` (lower-case), e.g. `ghcr.io`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path on the registry, e.g. `library/redis`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// True for Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.registry == DOCKER_HUB_REGISTRY
    }

    /// The AWS region of an Amazon ECR registry
    /// (`<account>.dkr.ecr.<region>.amazonaws.com[.cn]`).
    pub fn ecr_region(&self) -> Option<&str> {
        let host = self.registry.split(':').next()?;
        let (account, rest) = host.split_once(".dkr.ecr.")?;
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let region = rest
            .strip_suffix(".amazonaws.com")
            .or_else(|| rest.strip_suffix(".amazonaws.com.cn"))?;
        (!region.is_empty() && !region.contains('.')).then_some(region)
    }
}

/// True for `host[:port]`: DNS labels (or an IPv4 address) and a port 1..=65535.
pub(super) fn is_registry_host(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        if !matches!(p.parse::<u32>(), Ok(1..=65535)) {
            return false;
        }
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// True when the first segment names a registry rather than a repository
/// component (the Docker CLI's rule).
fn looks_like_registry(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

impl FromStr for UpstreamRef {
    type Err = UpstreamError;

    fn from_str(s: &str) -> Result<Self, UpstreamError> {
        let invalid = |why: &str| UpstreamError::InvalidReference(format!("{s:?}: {why}"));
        let (first, path) = s
            .split_once('/')
            .ok_or_else(|| invalid("expected <registry>/<repository>"))?;
        if !looks_like_registry(first) || !is_registry_host(first) {
            return Err(invalid(
                "the first segment must be a registry host such as docker.io or 127.0.0.1:5000",
            ));
        }
        let mut registry = first.to_ascii_lowercase();
        let mut repository = path.to_owned();
        if matches!(
            registry.as_str(),
            "docker.io" | "index.docker.io" | DOCKER_HUB_REGISTRY
        ) {
            registry = DOCKER_HUB_REGISTRY.to_owned();
            if !repository.contains('/') {
                repository = format!("library/{repository}");
            }
        }
        if repository.len() > MAX_NAME_LEN {
            return Err(invalid("repository path longer than 255 characters"));
        }
        if !repository.split('/').all(crate::name::is_component) {
            return Err(invalid(
                "each path segment must be lower-case letters and digits, separated by '.', '_', '__' or '-'",
            ));
        }
        Ok(UpstreamRef {
            registry,
            repository,
        })
    }
}

impl fmt::Display for UpstreamRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)
    }
}

impl fmt::Debug for UpstreamRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UpstreamRef({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> UpstreamRef {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn known_registries() {
        for (input, host, path) in [
            (
                "docker.io/library/redis",
                DOCKER_HUB_REGISTRY,
                "library/redis",
            ),
            ("docker.io/redis", DOCKER_HUB_REGISTRY, "library/redis"),
            (
                "index.docker.io/bitnami/redis",
                DOCKER_HUB_REGISTRY,
                "bitnami/redis",
            ),
            ("ghcr.io/org/repo", "ghcr.io", "org/repo"),
            ("GHCR.io/org/repo", "ghcr.io", "org/repo"),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                "my-repo",
            ),
            (
                "us-docker.pkg.dev/project/repo/image",
                "us-docker.pkg.dev",
                "project/repo/image",
            ),
            ("127.0.0.1:5001/team/app", "127.0.0.1:5001", "team/app"),
            ("localhost/app", "localhost", "app"),
        ] {
            let r = parse(input);
            assert_eq!((r.registry(), r.repository()), (host, path), "{input}");
            assert_eq!(parse(&r.to_string()), r);
        }
        assert!(parse("docker.io/redis").is_docker_hub());
        assert_eq!(
            parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo").ecr_region(),
            Some("us-east-1")
        );
        assert_eq!(
            parse("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/x").ecr_region(),
            Some("cn-north-1")
        );
        assert_eq!(parse("ghcr.io/org/repo").ecr_region(), None);
        assert_eq!(
            parse("12345.dkr.ecr.us-east-1.amazonaws.com/x").ecr_region(),
            None
        );
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "",
            "redis",
            "library/redis",
            "ghcr.io",
            "ghcr.io/",
            "ghcr.io/Org/repo",
            "ghcr.io/org//repo",
            "ghcr.io/org/repo:latest",
            "ghcr.io/org/repo@sha256:abc",
            "-bad.io/x",
            "host.io:0/x",
            "host.io:99999/x",
            "host.io:/x",
            "a..b/x",
            "https://ghcr.io/org/repo",
        ] {
            assert!(
                matches!(
                    bad.parse::<UpstreamRef>(),
                    Err(UpstreamError::InvalidReference(_))
                ),
                "{bad:?}"
            );
        }
    }

    fn component() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,5}((\\.|_|__|-{1,3})[a-z0-9]{1,5}){0,3}"
    }

    fn host() -> impl Strategy<Value = String> {
        (
            "[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?){1,3}",
            proptest::option::of(1u16..),
        )
            .prop_map(|(h, port)| match port {
                Some(p) => format!("{h}:{p}"),
                None => h,
            })
    }

    proptest! {
        #[test]
        fn grammar_references_parse(host in host(), parts in proptest::collection::vec(component(), 1..5)) {
            let path = parts.join("/");
            let s = format!("{host}/{path}");
            let r: UpstreamRef = s.parse().unwrap();
            prop_assert_eq!(r.to_string().parse::<UpstreamRef>().unwrap(), r.clone());
            if !r.is_docker_hub() {
                prop_assert_eq!(r.registry(), host.as_str());
                prop_assert_eq!(r.repository(), path.as_str());
            }
        }

        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,80}") {
            if let Ok(r) = s.parse::<UpstreamRef>() {
                prop_assert!(!r.repository().contains(".."));
                prop_assert!(!r.repository().chars().any(|c| c.is_ascii_uppercase()));
                prop_assert_eq!(r.to_string().parse::<UpstreamRef>().unwrap(), r);
            }
        }
    }
}
