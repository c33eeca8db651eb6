//! Kubernetes image pull secrets (`kubernetes.io/dockerconfigjson`) holding
//! a customer user's token, as YAML ready for `kubectl apply -f -`.
//!
//! `POST /api/v1/customers/{customer_id}/pull-secret` with a JSON body:
//! `registry` (`host[:port]` as pods address the registry), optional `name`
//! (default `distr-pull-secret`) and `namespace`, and either `user_id` (a
//! user of that customer: a dedicated token is created for the secret,
//! named `token_name` (default `pull-secret`) with an optional
//! `expires_at`; its id is in the `Distr-Token-Id` response header, so it
//! can be listed and revoked) or `token` (an existing token of a user of
//! that customer). Tokens never travel in a URL, where proxies log them.

use base64::Engine;
use distr_core::access::{Customer, Principal, User, UserId};
use http::{header, HeaderValue, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::customers;
use super::error::ApiError;
use super::{instant, json, tokens, Ctx};
use crate::body::{full, ResponseBody};

/// The secret's name when none is asked for.
const DEFAULT_NAME: &str = "distr-pull-secret";
/// The name of a token created for a secret when none is asked for.
const DEFAULT_TOKEN_NAME: &str = "pull-secret";

/// `POST` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PullSecretBody {
    registry: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    /// A user of the customer to create a dedicated token for...
    #[serde(default)]
    user_id: Option<UserId>,
    /// ...named so...
    #[serde(default)]
    token_name: Option<String>,
    /// ...expiring then (ms or RFC 3339; default never)...
    #[serde(default, deserialize_with = "instant::deserialize_optional")]
    expires_at: Option<i64>,
    /// ...or an existing token of a user of the customer.
    #[serde(default)]
    token: Option<String>,
}

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

/// Makes the pull secret: vendor admins of the customer's vendor and that
/// customer's admins; 400 unless the token (given or created) is one of a
/// user of that customer.
pub(super) async fn create(ctx: &Ctx<'_>) -> Result<Response<ResponseBody>, ApiError> {
    let customer = ctx.caller.administered(customers::find(ctx).await?)?;
    let body: PullSecretBody = json::parse(&ctx.body)?;
    let registry = registry(&body.registry)?;
    let name = k8s_name("name", body.name.as_deref().unwrap_or(DEFAULT_NAME), false)?;
    let namespace = body
        .namespace
        .as_deref()
        .map(|n| k8s_name("namespace", n, true))
        .transpose()?;
    let (user, token, created) = match (body.user_id, body.token) {
        (Some(user_id), None) => {
            let user = customer_user(ctx, &customer, user_id).await?;
            let token_name = body.token_name.as_deref().unwrap_or(DEFAULT_TOKEN_NAME);
            let (id, secret) = tokens::issue_for(ctx, user.id, token_name, body.expires_at).await?;
            (user, secret, Some(id))
        }
        (None, Some(token)) if body.token_name.is_none() && body.expires_at.is_none() => {
            (token_user(ctx, &customer, &token).await?, token, None)
        }
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "token_name and expires_at are for a new token (user_id), not a given token",
            ))
        }
        _ => {
            return Err(ApiError::bad_request(
                "give either user_id (a new token is created for that user) or token",
            ))
        }
    };
    let yaml = secret_yaml(name, namespace, &dockerconfig(registry, &user, &token));
    let mut resp = Response::new(full(yaml));
    *resp.status_mut() = if created.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/yaml"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(id) = created {
        if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
            h.insert("distr-token-id", v);
        }
    }
    Ok(resp)
}

/// The user `id`, when it is one of `customer`'s (else 400, naming no one).
async fn customer_user(ctx: &Ctx<'_>, customer: &Customer, id: UserId) -> Result<User, ApiError> {
    ctx.api
        .access
        .get_user(id)
        .await?
        .filter(|u| u.customer_id == Some(customer.id))
        .ok_or_else(|| ApiError::bad_request("user_id is not a user of this customer"))
}

/// The user `token` authenticates, when it is one of `customer`'s.
async fn token_user(ctx: &Ctx<'_>, customer: &Customer, token: &str) -> Result<User, ApiError> {
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
    ctx.api.access.get_user(user_id).await?.ok_or_else(foreign)
}

/// The `.dockerconfigjson` of `user`'s `token` for `registry`.
fn dockerconfig(registry: &str, user: &User, token: &str) -> Vec<u8> {
    // Docker's `auth` is `user:password`, so a user name must not contain ':'.
    let username = if user.email.contains(':') {
        "distr"
    } else {
        user.email.as_str()
    };
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{token}"));
    json!({
        "auths": { registry: { "username": username, "password": token, "auth": auth } }
    })
    .to_string()
    .into_bytes()
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
