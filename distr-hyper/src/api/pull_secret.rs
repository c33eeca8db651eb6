//! `GET /api/v1/customers/{customer_id}/pull-secret`: a Kubernetes image pull
//! secret (`kubernetes.io/dockerconfigjson`) holding a customer user's token,
//! as YAML ready for `kubectl apply -f -`.
//!
//! Query: `token` (a token of a user of that customer), `registry`
//! (`host[:port]` as pods address the registry), optional `name` (default
//! `distr-pull-secret`) and `namespace`. The token travels in the query
//! string, so callers should keep such URLs out of shared logs.

use base64::Engine;
use distr_core::access::Principal;
use http::{header, HeaderValue, Response};
use serde_json::json;

use super::customers;
use super::error::ApiError;
use super::Ctx;
use crate::body::{full, ResponseBody};

/// The secret's name when none is asked for.
const DEFAULT_NAME: &str = "distr-pull-secret";

/// A registry address: `host[:port]`, a DNS name, IPv4 or bracketed IPv6.
fn registry(value: &str) -> Result<&str, ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 255
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        && !value.starts_with(['.', '-', ':']);
    if ok {
        Ok(value)
    } else {
        Err(ApiError::bad_request(
            "registry must be the registry's host[:port], e.g. registry.example.com:5000",
        ))
    }
}

/// A Kubernetes name: a DNS label (`label_only`, for namespaces) or subdomain.
fn k8s_name<'a>(field: &str, value: &'a str, label_only: bool) -> Result<&'a str, ApiError> {
    let max = if label_only { 63 } else { 253 };
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| alnum(b) || b == b'-' || (!label_only && b == b'.'))
        && value.bytes().next().is_some_and(alnum)
        && value.bytes().last().is_some_and(alnum);
    if ok {
        Ok(value)
    } else {
        Err(ApiError::bad_request(format!(
            "{field} must be a Kubernetes name: lower-case letters, digits and '-'{}, at most {max} characters",
            if label_only { "" } else { " or '.'" }
        )))
    }
}

/// The secret's YAML. Every interpolated value was validated to be plain
/// (names, host, base64), so no quoting is needed.
fn secret_yaml(name: &str, namespace: Option<&str>, dockerconfig: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(dockerconfig);
    let ns = namespace
        .map(|n| format!("  namespace: {n}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n{ns}type: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {b64}\n"
    )
}

/// Serves the pull secret: vendor admins of the customer's vendor and that
/// customer's admins; 400 unless `token` authenticates a user of that customer.
pub(super) async fn get(ctx: &Ctx<'_>) -> Result<Response<ResponseBody>, ApiError> {
    let customer = ctx.caller.administered(customers::find(ctx).await?)?;
    let q = &ctx.query;
    let token = q
        .get("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("the token query parameter is required"))?;
    let registry = registry(q.get("registry").unwrap_or(""))?;
    let name = k8s_name("name", q.get("name").unwrap_or(DEFAULT_NAME), false)?;
    let namespace = q
        .get("namespace")
        .map(|n| k8s_name("namespace", n, true))
        .transpose()?;

    let foreign =
        || ApiError::bad_request("token is not an active token of a user of this customer");
    let user_id = match ctx
        .api
        .authenticator
        .tokens()
        .authenticate(token, ctx.now)
        .await
    {
        Ok(Principal::Customer {
            customer: c, user, ..
        }) if c == customer.id => user,
        Ok(_) | Err(distr_core::Error::Unauthorized) => return Err(foreign()),
        Err(e) => return Err(e.into()),
    };
    let user = ctx
        .api
        .access
        .get_user(user_id)
        .await?
        .ok_or_else(foreign)?;
    // Docker's `auth` is `user:password`, so a user name must not contain ':'.
    let username = if user.email.contains(':') {
        "distr"
    } else {
        user.email.as_str()
    };
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{token}"));
    let config = json!({
        "auths": { registry: { "username": username, "password": token, "auth": auth } }
    });
    let yaml = secret_yaml(name, namespace, config.to_string().as_bytes());
    let mut resp = Response::new(full(yaml));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/yaml"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_registries() {
        assert!(registry("registry.example.com:5000").is_ok());
        assert!(registry("[::1]:5000").is_ok() && registry("10.0.0.1").is_ok());
        for bad in ["", "a b", "a/b", "a\"b", "-x", "x\ny"] {
            assert!(registry(bad).is_err(), "{bad:?}");
        }
        assert!(k8s_name("n", "distr-pull-secret", false).is_ok());
        assert!(k8s_name("n", "a.b", false).is_ok() && k8s_name("n", "a.b", true).is_err());
        for bad in ["", "A", "-a", "a-", "a_b", "a b"] {
            assert!(k8s_name("n", bad, false).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn yaml_shape() {
        let y = secret_yaml("s", Some("ns"), b"{}");
        assert_eq!(
            y,
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: ns\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: e30=\n"
        );
    }
}
