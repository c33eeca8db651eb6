//! Credentials for an upstream registry.

use std::fmt;

/// How distr authenticates to an upstream registry.
///
/// `Debug` never prints secrets.
#[derive(Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UpstreamAuth {
    /// Anonymous access (still follows Bearer challenges for anonymous tokens).
    #[default]
    None,
    /// Username and password (or token), sent as HTTP Basic to the registry or
    /// to its token realm.
    Basic {
        /// The user name.
        username: String,
        /// The password or access token.
        password: String,
    },
    /// AWS credentials for Amazon ECR (`GetAuthorizationToken`).
    Ecr {
        /// The AWS access key id (not secret, shown in `Debug`).
        access_key_id: String,
        /// The AWS secret access key.
        secret_access_key: String,
    },
}

impl UpstreamAuth {
    /// Basic credentials.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        UpstreamAuth::Basic {
            username: username.into(),
            password: password.into(),
        }
    }
}

const REDACTED: &str = "<redacted>";

impl fmt::Debug for UpstreamAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamAuth::None => f.write_str("None"),
            UpstreamAuth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &format_args!("{REDACTED}"))
                .finish(),
            UpstreamAuth::Ecr { access_key_id, .. } => f
                .debug_struct("Ecr")
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &format_args!("{REDACTED}"))
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let b = UpstreamAuth::basic("robot", "hunter2-secret");
        let s = format!("{b:?} {b:#?}");
        assert!(s.contains("robot") && s.contains(REDACTED), "{s}");
        assert!(!s.contains("hunter2-secret"), "{s}");
        let e = UpstreamAuth::Ecr {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG".into(),
        };
        let s = format!("{e:?} {e:#?}");
        assert!(
            s.contains("AKIAEXAMPLE") && !s.contains("wJalrXUtnFEMI"),
            "{s}"
        );
        assert_eq!(format!("{:?}", UpstreamAuth::None), "None");
    }
}
