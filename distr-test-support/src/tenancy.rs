//! Tenancy fixtures: the vendor organisation's customers, their members,
//! tokens and entitlements, made the way an operator makes them: through
//! the management API ([`ManagementApi`]) or the admin CLI
//! ([`CliCustomer`]).
//!
//! The vendor organisation and its admin come from the server's bootstrap
//! (`DISTR_BOOTSTRAP_ORG` / `DISTR_BOOTSTRAP_TOKEN`, see the presets in
//! `distr-server/tests/common`); these fixtures build the world below it.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

/// How a [`ManagementApi`] presents its token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenScheme {
    /// `Authorization: AccessToken <token>` (what the API documents).
    AccessToken,
    /// `Authorization: Bearer <token>`.
    Bearer,
}

/// A client of `/api/v1` on one server, as one user.
#[derive(Clone)]
pub struct ManagementApi {
    base: String,
    authorization: String,
    client: reqwest::Client,
}

/// A customer with one member and that member's token.
#[derive(Clone, Debug)]
pub struct CustomerLogin {
    /// The customer's id.
    pub customer_id: String,
    /// The member's user id.
    pub user_id: String,
    /// The member's e-mail.
    pub email: String,
    /// The member's token secret.
    pub token: String,
    /// The token's id.
    pub token_id: String,
}

impl ManagementApi {
    /// A client of `base` (`http://host:port`) sending `AccessToken <token>`.
    pub fn new(base: impl Into<String>, token: &str) -> ManagementApi {
        Self::with_scheme(base, token, TokenScheme::AccessToken)
    }

    /// A client of `base` presenting `token` with `scheme`.
    pub fn with_scheme(base: impl Into<String>, token: &str, scheme: TokenScheme) -> ManagementApi {
        let authorization = match scheme {
            TokenScheme::AccessToken => format!("AccessToken {token}"),
            TokenScheme::Bearer => format!("Bearer {token}"),
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("build reqwest client");
        ManagementApi {
            base: base.into().trim_end_matches('/').to_owned(),
            authorization,
            client,
        }
    }

    /// The same server as another user.
    pub fn as_token(&self, token: &str) -> ManagementApi {
        Self::new(self.base.clone(), token)
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Send a request (`path` from `/api/v1…` on, a query included);
    /// returns the status, the body text and the body as JSON
    /// (`Value::Null` when it is empty; a body that is not JSON fails the
    /// test).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, String, Value) {
        let url = format!("{}{path}", self.base);
        let mut req = self
            .client
            .request(method.clone(), &url)
            .header("authorization", &self.authorization);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| {
                panic!("{method} {path}: {status} with a body that is not JSON ({e}): {text}")
            })
        };
        (status, text, value)
    }

    /// A call that must answer `want`; returns the JSON body.
    pub async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        want: u16,
    ) -> Value {
        let (status, text, value) = self.call(method.clone(), path, body).await;
        assert_eq!(
            status, want,
            "{method} {path}: expected {want}, got {status}: {text}"
        );
        value
    }

    /// `POST /api/v1/customers`: the new customer's id.
    pub async fn create_customer(&self, name: &str) -> String {
        let v = self
            .expect(
                Method::POST,
                "/api/v1/customers",
                Some(&json!({ "name": name })),
                201,
            )
            .await;
        id_of(&v, "customer")
    }

    /// `POST /api/v1/customers/{id}/users`: the new user's id.
    pub async fn create_customer_user(&self, customer_id: &str, email: &str, role: &str) -> String {
        let v = self
            .expect(
                Method::POST,
                &format!("/api/v1/customers/{customer_id}/users"),
                Some(&json!({ "email": email, "role": role })),
                201,
            )
            .await;
        id_of(&v, "user")
    }

    /// `POST /api/v1/users/{id}/tokens`: the new token's secret and id.
    pub async fn issue_token(&self, user_id: &str, name: &str) -> (String, String) {
        let v = self
            .expect(
                Method::POST,
                &format!("/api/v1/users/{user_id}/tokens"),
                Some(&json!({ "name": name })),
                201,
            )
            .await;
        let secret = v["token"]
            .as_str()
            .unwrap_or_else(|| panic!("token response without `token`: {v}"))
            .to_owned();
        (secret, id_of(&v, "token"))
    }

    /// `POST /api/v1/customers/{id}/entitlements` to `tags` of one
    /// artifact; returns the entitlement.
    pub async fn entitle(
        &self,
        customer_id: &str,
        name: &str,
        artifact_id: &str,
        tags: &[&str],
    ) -> Value {
        self.expect(
            Method::POST,
            &format!("/api/v1/customers/{customer_id}/entitlements"),
            Some(&json!({
                "name": name,
                "items": [{ "artifact_id": artifact_id, "tags": tags }]
            })),
            201,
        )
        .await
    }

    /// A customer `name` with one `customer_member` (`email`) and a token
    /// for them named `e2e`.
    pub async fn customer_login(&self, name: &str, email: &str) -> CustomerLogin {
        let customer_id = self.create_customer(name).await;
        let user_id = self
            .create_customer_user(&customer_id, email, "customer_member")
            .await;
        let (token, token_id) = self.issue_token(&user_id, "e2e").await;
        CustomerLogin {
            customer_id,
            user_id,
            email: email.to_owned(),
            token,
            token_id,
        }
    }

    /// The id of the artifact named `name` (`GET /api/v1/artifacts`).
    pub async fn artifact_id(&self, name: &str) -> String {
        let list = self
            .expect(Method::GET, "/api/v1/artifacts", None, 200)
            .await;
        list.as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == name))
            .map(|a| id_of(a, "artifact"))
            .unwrap_or_else(|| panic!("no artifact {name:?} in {list}"))
    }
}

fn id_of(v: &Value, what: &str) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{what} without an `id`: {v}"))
        .to_owned()
}

/// A customer with one member and its token, made with `<server> admin …`
/// (`admin` runs the CLI with the given arguments and returns its stdout,
/// failing the test on a non-zero exit).
#[derive(Clone, Debug)]
pub struct CliCustomer {
    /// The customer's name.
    pub name: String,
    /// The member's e-mail (`<name lower-cased>@customer.test`).
    pub email: String,
    /// The member's token secret.
    pub token: String,
}

impl CliCustomer {
    /// `customer create`, `user create --role <role>`, `token create`.
    pub fn create(admin: impl Fn(&[&str]) -> String, org: &str, name: &str, role: &str) -> Self {
        let out = admin(&["customer", "create", "--org", org, name]);
        assert!(out.contains("created customer"), "{out}");
        let email = format!("{}@customer.test", name.to_lowercase());
        admin(&[
            "user",
            "create",
            "--org",
            org,
            "--customer",
            name,
            "--email",
            &email,
            "--role",
            role,
        ]);
        let out = admin(&[
            "token", "create", "--org", org, "--email", &email, "--name", "e2e",
        ]);
        let token = out.trim().to_owned();
        assert!(
            token.starts_with("distr_") && out.lines().count() == 1,
            "token create prints the secret alone on stdout: {out:?}"
        );
        CliCustomer {
            name: name.to_owned(),
            email,
            token,
        }
    }

    /// `entitlement create` of `artifact` at `tags` (`all` or patterns,
    /// comma-separated) for this customer, optionally expiring.
    pub fn entitle(
        &self,
        admin: impl Fn(&[&str]) -> String,
        org: &str,
        entitlement: &str,
        artifact: &str,
        tags: &str,
        expires_at: Option<&str>,
    ) {
        let mut args = vec![
            "entitlement",
            "create",
            "--org",
            org,
            "--customer",
            &self.name,
            "--name",
            entitlement,
            "--artifact",
            artifact,
            "--tags",
            tags,
        ];
        if let Some(at) = expires_at {
            args.extend(["--expires-at", at]);
        }
        let out = admin(&args);
        assert!(out.contains("created entitlement"), "{out}");
    }
}
