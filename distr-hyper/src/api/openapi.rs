//! The OpenAPI 3.1 document of the management API, written by hand. A test
//! checks that it lists every route of [`super::router::ROUTES`] and nothing
//! else.

use http::{header, HeaderValue, Response};
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::json;
use crate::body::ResponseBody;

/// `GET /api/v1/openapi.json` (no authentication needed).
pub(crate) fn response() -> Result<Response<ResponseBody>, ApiError> {
    let mut resp = json::ok(&document())?;
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(resp)
}

pub(super) fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

pub(super) fn array_of(name: &str) -> Value {
    json!({ "type": "array", "items": schema(name) })
}

pub(super) fn path_id(name: &str, what: &str) -> Value {
    json!({
        "name": name, "in": "path", "required": true,
        "description": format!("Id of the {what}."),
        "schema": { "type": "string", "format": "uuid" }
    })
}

pub(super) fn query(name: &str, required: bool, description: &str) -> Value {
    json!({
        "name": name, "in": "query", "required": required,
        "description": description, "schema": { "type": "string" }
    })
}

fn json_body(name: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema(name) } } })
}

/// What an operation returns when it succeeds.
pub(super) enum Success {
    /// A status with a JSON body of this schema.
    Json(&'static str, &'static str, Value),
    /// 204 without a body.
    NoContent(&'static str),
    /// 201 with a YAML body and the `Distr-Token-Id` of the token created,
    /// or 200 with a YAML body (given token).
    YamlCreated(&'static str),
    /// 200 with a CSV body.
    Csv(&'static str),
}

/// An operation: the success response plus the error responses it may give
/// beyond 401, 429 and 500 (which every authenticated operation may give).
pub(super) struct Op {
    pub(super) id: &'static str,
    pub(super) tag: &'static str,
    pub(super) summary: &'static str,
    pub(super) description: &'static str,
    pub(super) params: Vec<Value>,
    pub(super) body: Option<&'static str>,
    pub(super) success: Success,
    pub(super) errors: &'static [&'static str],
}

impl Op {
    pub(super) fn build(self) -> Value {
        let mut responses = Map::new();
        match self.success {
            Success::Json(status, description, s) => {
                responses.insert(
                    status.into(),
                    json!({ "description": description, "content": { "application/json": { "schema": s } } }),
                );
            }
            Success::NoContent(description) => {
                responses.insert("204".into(), json!({ "description": description }));
            }
            Success::Csv(description) => {
                responses.insert(
                    "200".into(),
                    json!({ "description": description, "content": { "text/csv": { "schema": { "type": "string" } } } }),
                );
            }
            Success::YamlCreated(description) => {
                responses.insert(
                    "200".into(),
                    json!({ "description": description, "content": { "application/yaml": { "schema": { "type": "string" } } } }),
                );
                responses.insert(
                    "201".into(),
                    json!({
                        "description": description,
                        "headers": { "Distr-Token-Id": { "description": "The id of the token created for the secret.", "schema": { "type": "string", "format": "uuid" } } },
                        "content": { "application/yaml": { "schema": { "type": "string" } } }
                    }),
                );
            }
        }
        for status in self.errors.iter().chain(["401", "429", "500"].iter()) {
            responses.insert(
                (*status).into(),
                json!({ "$ref": format!("#/components/responses/E{status}") }),
            );
        }
        let mut op = json!({
            "operationId": self.id,
            "tags": [self.tag],
            "summary": self.summary,
            "description": self.description,
            "parameters": self.params,
            "responses": responses,
        });
        if let (Some(body), Some(o)) = (self.body, op.as_object_mut()) {
            o.insert("requestBody".into(), json_body(body));
        }
        op
    }
}

fn customer_id() -> Value {
    path_id("customer_id", "customer")
}

fn paths() -> Value {
    json!({
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "tags": ["meta"],
                "summary": "This document",
                "description": "Needs no authentication.",
                "security": [],
                "responses": { "200": { "description": "The OpenAPI document.", "content": { "application/json": { "schema": { "type": "object" } } } } }
            }
        },
        "/api/v1/orgs": {
            "get": Op {
                id: "listOrgs", tag: "operator", summary: "List vendor organisations",
                description: "The operator token only (DISTR_OPERATOR_TOKEN); any user's token is 403.",
                params: vec![], body: None,
                success: Success::Json("200", "Every organisation, oldest first.", array_of("Org")),
                errors: &["403"],
            }.build(),
            "post": Op {
                id: "createOrg", tag: "operator", summary: "Create a vendor organisation with its first vendor admin",
                description: "Creates the organisation, a vendor admin (admin_email, default admin@<slug>) and a token for them, shown in this response only. The operator token only; 409 when the slug is taken.",
                params: vec![], body: Some("OrgCreate"),
                success: Success::Json("201", "The organisation, its admin and the admin's token.", schema("OrgCreated")),
                errors: &["400", "403", "409", "413"],
            }.build()
        },
        "/api/v1/me": {
            "get": Op {
                id: "getMe", tag: "meta", summary: "The caller",
                description: "Who the presented token belongs to.",
                params: vec![], body: None,
                success: Success::Json("200", "The caller.", schema("Me")),
                errors: &[],
            }.build()
        },
        "/api/v1/access-mode": {
            "get": Op {
                id: "getAccessMode", tag: "entitlements", summary: "The vendor's access mode",
                description: "`open`: every customer may pull every artifact; `entitled`: only what active entitlements grant. A vendor is open until its first entitlement, then entitled until a `PUT` opens it; deleting entitlements never widens access. Vendor admins only.",
                params: vec![], body: None,
                success: Success::Json("200", "The mode and its last change.", schema("AccessMode")),
                errors: &["403"],
            }.build(),
            "put": Op {
                id: "setAccessMode", tag: "entitlements", summary: "Set the vendor's access mode",
                description: "Records who changed it and when, and logs the change on the `distr::audit` target. Setting `open` lets every customer pull every artifact. Vendor admins only.",
                params: vec![], body: Some("AccessModeBody"),
                success: Success::Json("200", "The mode and its last change.", schema("AccessMode")),
                errors: &["400", "403", "413"],
            }.build()
        },
        "/api/v1/artifacts": {
            "get": Op {
                id: "listArtifacts", tag: "artifacts", summary: "List artifacts",
                description: "The vendor's artifacts. Vendor admins only.",
                params: vec![], body: None,
                success: Success::Json("200", "The artifacts, oldest first.", array_of("Artifact")),
                errors: &["403"],
            }.build(),
            "post": Op {
                id: "createArtifact", tag: "artifacts", summary: "Create an artifact",
                description: "`<org-slug>/<name>` must be a valid repository name. With `upstream`, the artifact mirrors that upstream repository (pull-through cache): its credentials and repository are checked against the upstream first, and a failure is a 400 with code `invalid_upstream`, `upstream_auth_failed`, `upstream_not_found`, `upstream_unreachable` or `upstreams_disabled`; nothing is saved then. Vendor admins only.",
                params: vec![], body: Some("ArtifactCreate"),
                success: Success::Json("201", "The artifact.", schema("Artifact")),
                errors: &["400", "403", "409", "413"],
            }.build()
        },
        "/api/v1/artifacts/{artifact_id}": {
            "get": Op {
                id: "getArtifact", tag: "artifacts", summary: "Get an artifact",
                description: "Vendor admins only.",
                params: vec![path_id("artifact_id", "artifact")], body: None,
                success: Success::Json("200", "The artifact.", schema("Artifact")),
                errors: &["400", "403", "404"],
            }.build(),
            "delete": Op {
                id: "deleteArtifact", tag: "artifacts", summary: "Delete an artifact",
                description: "Deletes the artifact record only; registry content stays until repository cleanup exists. Refused with 400 `artifact_entitled` while an entitlement names the artifact. Vendor admins only.",
                params: vec![path_id("artifact_id", "artifact")], body: None,
                success: Success::NoContent("Deleted."),
                errors: &["400", "403", "404"],
            }.build()
        },
        "/api/v1/artifacts/{artifact_id}/upstream": {
            "put": Op {
                id: "setArtifactUpstream", tag: "artifacts", summary: "Set or remove an artifact's upstream",
                description: "An `Upstream` object (checked against the upstream like on create; same 400 codes) or `null` to stop mirroring. Cached content stays. Vendor admins only.",
                params: vec![path_id("artifact_id", "artifact")], body: Some("UpstreamNullable"),
                success: Success::Json("200", "The artifact.", schema("Artifact")),
                errors: &["400", "403", "404", "413"],
            }.build()
        },
        "/api/v1/artifacts/{artifact_id}/sync": {
            "post": Op {
                id: "syncArtifact", tag: "artifacts", summary: "Sync an artifact from its upstream now",
                description: "Starts a sync of the artifact's tags and manifests in the background and returns at once; while a sync runs, a second trigger joins it (`state` is `joined`). Poll the artifact's `sync` status for the outcome. 400 `no_upstream` for artifacts without an upstream. Vendor admins only.",
                params: vec![path_id("artifact_id", "artifact")], body: None,
                success: Success::Json("202", "The sync started or was joined.", schema("SyncStarted")),
                errors: &["400", "403", "404"],
            }.build()
        },
        "/api/v1/artifacts/{artifact_id}/tags": {
            "get": Op {
                id: "listArtifactTags", tag: "artifacts", summary: "List an artifact's tags",
                description: "Every tag with the manifest it points at, ordered by tag, with `pull_count`: its pulls recorded by download analytics (0 when analytics are off). Vendor admins only.",
                params: vec![path_id("artifact_id", "artifact")], body: None,
                success: Success::Json("200", "The tags.", array_of("Tag")),
                errors: &["400", "403", "404"],
            }.build()
        },
        "/api/v1/customers": {
            "get": Op {
                id: "listCustomers", tag: "customers", summary: "List customers",
                description: "Vendor admins only.",
                params: vec![], body: None,
                success: Success::Json("200", "The customers, oldest first.", array_of("Customer")),
                errors: &["403"],
            }.build(),
            "post": Op {
                id: "createCustomer", tag: "customers", summary: "Create a customer",
                description: "Vendor admins only.",
                params: vec![], body: Some("CustomerBody"),
                success: Success::Json("201", "The customer.", schema("Customer")),
                errors: &["400", "403", "413"],
            }.build()
        },
        "/api/v1/customers/{customer_id}": {
            "get": Op {
                id: "getCustomer", tag: "customers", summary: "Get a customer",
                description: "Vendor admins only.",
                params: vec![customer_id()], body: None,
                success: Success::Json("200", "The customer.", schema("Customer")),
                errors: &["400", "403", "404"],
            }.build(),
            "patch": Op {
                id: "updateCustomer", tag: "customers", summary: "Rename a customer",
                description: "Vendor admins only.",
                params: vec![customer_id()], body: Some("CustomerBody"),
                success: Success::Json("200", "The customer.", schema("Customer")),
                errors: &["400", "403", "404", "413"],
            }.build(),
            "delete": Op {
                id: "deleteCustomer", tag: "customers", summary: "Delete a customer",
                description: "With its users, their tokens and its entitlements. Vendor admins only.",
                params: vec![customer_id()], body: None,
                success: Success::NoContent("Deleted."),
                errors: &["400", "403", "404"],
            }.build()
        },
        "/api/v1/customers/{customer_id}/users": {
            "get": Op {
                id: "listCustomerUsers", tag: "users", summary: "List a customer's users",
                description: "Vendor admins (any customer of their vendor) and the customer's admins.",
                params: vec![customer_id()], body: None,
                success: Success::Json("200", "The users, oldest first.", array_of("User")),
                errors: &["400", "403", "404"],
            }.build(),
            "post": Op {
                id: "createCustomerUser", tag: "users", summary: "Add a user to a customer",
                description: "The email must be unique within the vendor (it is stored lower-cased). Vendor admins and the customer's admins.",
                params: vec![customer_id()], body: Some("UserCreate"),
                success: Success::Json("201", "The user.", schema("User")),
                errors: &["400", "403", "404", "409", "413"],
            }.build()
        },
        "/api/v1/customers/{customer_id}/users/{user_id}": {
            "delete": Op {
                id: "deleteCustomerUser", tag: "users", summary: "Remove a user",
                description: "With the user's tokens. Vendor admins and the customer's admins.",
                params: vec![customer_id(), path_id("user_id", "user")], body: None,
                success: Success::NoContent("Deleted."),
                errors: &["400", "403", "404"],
            }.build()
        },
        "/api/v1/tokens": {
            "get": Op {
                id: "listTokens", tag: "tokens", summary: "List own tokens",
                description: "The caller's tokens, revoked ones included; never secrets or hashes.",
                params: vec![], body: None,
                success: Success::Json("200", "The tokens, oldest first.", array_of("Token")),
                errors: &[],
            }.build(),
            "post": Op {
                id: "createToken", tag: "tokens", summary: "Create a token",
                description: "A new token for the caller. The secret is in this response only.",
                params: vec![], body: Some("TokenCreate"),
                success: Success::Json("201", "The token with its secret.", schema("TokenIssued")),
                errors: &["400", "413"],
            }.build()
        },
        "/api/v1/tokens/{token_id}": {
            "delete": Op {
                id: "revokeToken", tag: "tokens", summary: "Revoke a token",
                description: "Own tokens; customer admins: tokens of their customer's users; vendor admins: tokens of any user of their vendor. Refused everywhere within a second. Idempotent.",
                params: vec![path_id("token_id", "token")], body: None,
                success: Success::NoContent("Revoked."),
                errors: &["400", "403", "404"],
            }.build()
        },
        "/api/v1/tokens/{token_id}/rotate": {
            "post": Op {
                id: "rotateToken", tag: "tokens", summary: "Rotate a token",
                description: "A new token for the same user with the same name and expiry; the old one is revoked. Same permissions as revoking. 409 for a revoked or expired token.",
                params: vec![path_id("token_id", "token")], body: None,
                success: Success::Json("201", "The new token with its secret.", schema("TokenIssued")),
                errors: &["400", "403", "404", "409"],
            }.build()
        },
        "/api/v1/users/{user_id}/tokens": {
            "get": Op {
                id: "listUserTokens", tag: "tokens", summary: "List a user's tokens",
                description: "Same scope as revoking: customer admins for their customer's users, vendor admins for every user of their vendor, anyone for themselves.",
                params: vec![path_id("user_id", "user")], body: None,
                success: Success::Json("200", "The tokens, oldest first.", array_of("Token")),
                errors: &["400", "403", "404"],
            }.build(),
            "post": Op {
                id: "createUserToken", tag: "tokens", summary: "Create a token for a user",
                description: "Issues a token for another user (for example a new customer user's first token). Same scope as revoking. The secret is in this response only.",
                params: vec![path_id("user_id", "user")], body: Some("TokenCreate"),
                success: Success::Json("201", "The token with its secret.", schema("TokenIssued")),
                errors: &["400", "403", "404", "413"],
            }.build()
        },
        "/api/v1/customers/{customer_id}/entitlements": {
            "get": Op {
                id: "listEntitlements", tag: "entitlements", summary: "List a customer's entitlements",
                description: "Expired ones included. Vendor admins only.",
                params: vec![customer_id()], body: None,
                success: Success::Json("200", "The entitlements, oldest first.", array_of("Entitlement")),
                errors: &["400", "403", "404"],
            }.build(),
            "post": Op {
                id: "createEntitlement", tag: "entitlements", summary: "Create an entitlement",
                description: "Artifacts must belong to the vendor and patterns be valid (else 400); names are unique per customer (else 409). Applies on the next registry request. Vendor admins only.",
                params: vec![customer_id()], body: Some("EntitlementBody"),
                success: Success::Json("201", "The entitlement.", schema("Entitlement")),
                errors: &["400", "403", "404", "409", "413"],
            }.build()
        },
        "/api/v1/customers/{customer_id}/entitlements/{entitlement_id}": {
            "get": Op {
                id: "getEntitlement", tag: "entitlements", summary: "Get an entitlement",
                description: "Vendor admins only.",
                params: vec![customer_id(), path_id("entitlement_id", "entitlement")], body: None,
                success: Success::Json("200", "The entitlement.", schema("Entitlement")),
                errors: &["400", "403", "404"],
            }.build(),
            "put": Op {
                id: "replaceEntitlement", tag: "entitlements", summary: "Replace an entitlement",
                description: "Replaces name, expiry and items. Vendor admins only.",
                params: vec![customer_id(), path_id("entitlement_id", "entitlement")], body: Some("EntitlementBody"),
                success: Success::Json("200", "The entitlement.", schema("Entitlement")),
                errors: &["400", "403", "404", "409", "413"],
            }.build(),
            "delete": Op {
                id: "deleteEntitlement", tag: "entitlements", summary: "Delete an entitlement",
                description: "Vendor admins only.",
                params: vec![customer_id(), path_id("entitlement_id", "entitlement")], body: None,
                success: Success::NoContent("Deleted."),
                errors: &["400", "403", "404"],
            }.build()
        },
        "/api/v1/customers/{customer_id}/pull-secret": {
            "post": Op {
                id: "createPullSecret", tag: "customers", summary: "A Kubernetes image pull secret",
                description: "A Secret of type kubernetes.io/dockerconfigjson whose `.dockerconfigjson` holds `{\"auths\":{\"<registry>\":{\"username\",\"password\":\"<token>\",\"auth\":\"<base64 user:token>\"}}}`. With `user_id` (a user of the customer), a dedicated token is created for it (201, its id in `Distr-Token-Id`); with `token` (one of a user of the customer, else 400), that token is used (200). Tokens never go in the URL. Vendor admins and the customer's admins.",
                params: vec![customer_id()],
                body: Some("PullSecretBody"),
                success: Success::YamlCreated("The Secret as YAML: 201 with a new token, 200 with the given one."),
                errors: &["400", "403", "404", "413"],
            }.build()
        }
    })
}

pub(super) fn timestamp(description: &str) -> Value {
    json!({ "type": "integer", "format": "int64", "description": format!("{description} (ms since the Unix epoch).") })
}

fn nullable_timestamp(description: &str) -> Value {
    json!({ "type": ["integer", "null"], "format": "int64", "description": format!("{description} (ms since the Unix epoch), or null.") })
}

/// A timestamp a request gives: ms since the Unix epoch or an RFC 3339 string.
fn nullable_timestamp_input(description: &str) -> Value {
    json!({
        "description": format!("{description}: ms since the Unix epoch, an RFC 3339 date-time (e.g. 2027-12-31T23:59:59Z), or null."),
        "oneOf": [
            { "type": "integer", "format": "int64" },
            { "type": "string", "format": "date-time" },
            { "type": "null" }
        ]
    })
}

pub(super) fn uuid() -> Value {
    json!({ "type": "string", "format": "uuid" })
}

fn schemas() -> Value {
    let role =
        json!({ "type": "string", "enum": ["vendor_admin", "customer_admin", "customer_member"] });
    json!({
        "Error": {
            "type": "object", "required": ["error"],
            "properties": { "error": {
                "type": "object", "required": ["code", "message"],
                "properties": {
                    "code": { "type": "string", "enum": [
                        "bad_request", "artifact_entitled", "invalid_filter", "invalid_cursor",
                        "unauthorized", "forbidden", "not_found", "analytics_disabled",
                        "method_not_allowed", "conflict", "payload_too_large", "range_not_satisfiable",
                        "too_many_requests", "rate_limited", "internal", "upstream_failed",
                        "upstream_unavailable"
                    ] },
                    "message": { "type": "string" }
                }
            } }
        },
        "Org": {
            "type": "object", "required": ["id", "slug", "name", "created_at"],
            "properties": {
                "id": uuid(), "slug": { "type": "string" }, "name": { "type": "string" },
                "created_at": timestamp("Creation time")
            }
        },
        "OrgCreate": {
            "type": "object", "required": ["slug"], "additionalProperties": false,
            "properties": {
                "slug": { "type": "string", "description": "One repository-name segment: lower-case letters and digits separated by '.', '_', '__' or '-'." },
                "name": { "type": "string", "minLength": 1, "maxLength": 200, "description": "Display name; default the slug." },
                "admin_email": { "type": "string", "description": "The first vendor admin; default admin@<slug>." }
            }
        },
        "OrgCreated": {
            "type": "object", "required": ["org", "admin_user_id", "admin_email", "token", "token_id"],
            "properties": {
                "org": schema("Org"), "admin_user_id": uuid(), "admin_email": { "type": "string" },
                "token": { "type": "string", "description": "The vendor admin's token, shown only in this response." },
                "token_id": uuid()
            }
        },
        "Me": {
            "type": "object", "required": ["user_id", "email", "org_id", "org_slug", "role"],
            "properties": {
                "user_id": uuid(), "email": { "type": "string" }, "org_id": uuid(),
                "org_slug": { "type": "string" },
                "customer_id": { "type": "string", "format": "uuid", "description": "Present for customer users only." },
                "role": role
            }
        },
        "Artifact": {
            "type": "object", "required": ["id", "name", "repository", "created_at"],
            "properties": {
                "id": uuid(), "name": { "type": "string" },
                "repository": { "type": "string", "description": "<org-slug>/<name>, what clients pull." },
                "upstream": { "description": "The mirrored upstream; null for artifacts pushed to distr.", "oneOf": [{ "$ref": "#/components/schemas/UpstreamView" }, { "type": "null" }] },
                "sync": { "description": "Sync status; null for artifacts without upstream.", "oneOf": [{ "$ref": "#/components/schemas/SyncStatus" }, { "type": "null" }] },
                "created_at": timestamp("Creation time")
            }
        },
        "ArtifactCreate": {
            "type": "object", "required": ["name"], "additionalProperties": false,
            "properties": {
                "name": { "type": "string", "description": "Lower-case path segments separated by '/'; <org-slug>/<name> must be a valid OCI repository name." },
                "upstream": { "$ref": "#/components/schemas/Upstream" },
                "sync_now": { "type": "boolean", "default": true, "description": "With an upstream: start its first tag sync at once (the default). false: tags arrive with the next scheduled or requested sync, content is fetched on demand meanwhile." }
            }
        },
        "Upstream": {
            "type": "object", "required": ["reference"], "additionalProperties": false,
            "properties": {
                "reference": { "type": "string", "description": "Fully qualified upstream repository: docker.io/library/redis, ghcr.io/org/repo, <account>.dkr.ecr.<region>.amazonaws.com/repo, 127.0.0.1:5001/team/app." },
                "insecure": { "type": "boolean", "default": false, "description": "Plain http instead of https (registries on loopback, tests)." },
                "auth": {
                    "description": "Credentials; anonymous when absent. Secrets are write-only.",
                    "oneOf": [
                        { "type": "object", "required": ["kind"], "additionalProperties": false, "properties": { "kind": { "const": "none" } } },
                        { "type": "object", "required": ["kind", "username", "password"], "additionalProperties": false, "properties": { "kind": { "const": "basic" }, "username": { "type": "string" }, "password": { "type": "string", "writeOnly": true } } },
                        { "type": "object", "required": ["kind", "access_key_id", "secret_access_key"], "additionalProperties": false, "properties": { "kind": { "const": "ecr" }, "access_key_id": { "type": "string" }, "secret_access_key": { "type": "string", "writeOnly": true } } }
                    ]
                }
            }
        },
        "UpstreamNullable": {
            "oneOf": [{ "$ref": "#/components/schemas/Upstream" }, { "type": "null" }]
        },
        "UpstreamView": {
            "type": "object", "required": ["reference", "insecure", "auth_kind", "username"],
            "properties": {
                "reference": { "type": "string" }, "insecure": { "type": "boolean" },
                "auth_kind": { "enum": ["none", "basic", "ecr"] },
                "username": { "type": ["string", "null"], "description": "Basic user name or AWS access key id; secrets are never shown." }
            }
        },
        "SyncStatus": {
            "type": "object", "required": ["last_synced_at", "last_sync_attempt_at", "last_sync_error", "running"],
            "properties": {
                "last_synced_at": { "type": ["integer", "null"], "description": "End of the last successful sync, ms since the Unix epoch; kept when later syncs fail." },
                "last_sync_attempt_at": { "type": ["integer", "null"], "description": "Start of the last sync attempt." },
                "last_sync_error": { "type": ["string", "null"], "description": "Why the last attempt failed; null after a success." },
                "running": { "type": "boolean", "description": "A sync runs now on this server." }
            }
        },
        "SyncStarted": {
            "type": "object", "required": ["state"],
            "properties": { "state": { "enum": ["started", "joined"] } }
        },
        "Tag": {
            "type": "object", "required": ["tag", "digest", "size", "media_type", "created_at", "pull_count"],
            "properties": {
                "tag": { "type": "string" }, "digest": { "type": "string" },
                "size": { "type": "integer", "description": "Manifest size in bytes." },
                "media_type": { "type": "string" },
                "created_at": timestamp("When the manifest was first stored"),
                "pull_count": { "type": "integer", "description": "GETs of the manifest by this tag recorded by download analytics (0 when analytics are off)." }
            }
        },
        "AccessMode": {
            "type": "object", "required": ["access_mode", "changed_at", "changed_by"],
            "properties": {
                "access_mode": { "type": "string", "enum": ["open", "entitled"] },
                "changed_at": { "type": ["integer", "null"], "format": "int64", "description": "When the mode last changed (ms since the Unix epoch); null if never." },
                "changed_by": { "type": ["string", "null"], "description": "`user:<id>`, `cli`, `entitlement:<id>` (the first entitlement) or `migration`; null if never changed." }
            }
        },
        "AccessModeBody": {
            "type": "object", "required": ["access_mode"], "additionalProperties": false,
            "properties": { "access_mode": { "type": "string", "enum": ["open", "entitled"] } }
        },
        "Customer": {
            "type": "object", "required": ["id", "name", "created_at"],
            "properties": { "id": uuid(), "name": { "type": "string" }, "created_at": timestamp("Creation time") }
        },
        "CustomerBody": {
            "type": "object", "required": ["name"], "additionalProperties": false,
            "properties": { "name": { "type": "string", "minLength": 1, "maxLength": 200 } }
        },
        "User": {
            "type": "object", "required": ["id", "email", "role", "customer_id", "created_at"],
            "properties": {
                "id": uuid(), "email": { "type": "string" }, "role": role,
                "customer_id": { "type": ["string", "null"], "format": "uuid" },
                "created_at": timestamp("Creation time")
            }
        },
        "UserCreate": {
            "type": "object", "required": ["email", "role"], "additionalProperties": false,
            "properties": {
                "email": { "type": "string", "maxLength": 254 },
                "role": { "type": "string", "enum": ["customer_admin", "customer_member"] }
            }
        },
        "Token": {
            "type": "object", "required": ["id", "user_id", "name", "expires_at", "created_at", "last_used_at", "revoked_at", "active"],
            "properties": {
                "id": uuid(), "user_id": uuid(), "name": { "type": "string" },
                "expires_at": nullable_timestamp("Expiry"),
                "created_at": timestamp("Creation time"),
                "last_used_at": nullable_timestamp("Last use, recorded at most once a minute"),
                "revoked_at": nullable_timestamp("Revocation time"),
                "active": { "type": "boolean", "description": "True when the token authenticates now." }
            }
        },
        "PullSecretBody": {
            "type": "object", "required": ["registry"], "additionalProperties": false,
            "description": "Give user_id (a new token is created) or token, not both.",
            "properties": {
                "registry": { "type": "string", "description": "The registry's host[:port] as the cluster reaches it." },
                "name": { "type": "string", "description": "The Secret's name; default distr-pull-secret." },
                "namespace": { "type": "string", "description": "The Secret's namespace; omitted by default." },
                "user_id": uuid(),
                "token_name": { "type": "string", "minLength": 1, "maxLength": 100, "description": "Name of the created token; default pull-secret." },
                "expires_at": nullable_timestamp_input("Expiry of the created token"),
                "token": { "type": "string", "description": "An existing access token of a user of the customer." }
            }
        },
        "TokenCreate": {
            "type": "object", "required": ["name"], "additionalProperties": false,
            "properties": {
                "name": { "type": "string", "minLength": 1, "maxLength": 100 },
                "expires_at": nullable_timestamp_input("Expiry, in the future")
            }
        },
        "TokenIssued": {
            "type": "object", "required": ["id", "user_id", "name", "token", "expires_at", "created_at"],
            "properties": {
                "id": uuid(), "user_id": uuid(), "name": { "type": "string" },
                "token": { "type": "string", "description": "The secret, shown only in this response. Use it as `Authorization: AccessToken <token>` here and as the password of `docker login`." },
                "expires_at": nullable_timestamp("Expiry"),
                "created_at": timestamp("Creation time")
            }
        },
        "TagSelection": {
            "description": "\"all\" (every tag, now and later) or tag names and glob patterns (`*` any run, `?` one character), 1 to 128 of [A-Za-z0-9_.-*?] not starting with '.' or '-'.",
            "oneOf": [
                { "type": "string", "const": "all" },
                { "type": "array", "minItems": 1, "maxItems": 100, "items": { "type": "string" } }
            ]
        },
        "EntitlementItem": {
            "type": "object", "required": ["artifact_id", "tags"], "additionalProperties": false,
            "properties": { "artifact_id": uuid(), "tags": schema("TagSelection") }
        },
        "EntitlementBody": {
            "type": "object", "required": ["name", "items"], "additionalProperties": false,
            "properties": {
                "name": { "type": "string", "minLength": 1, "maxLength": 200 },
                "expires_at": nullable_timestamp_input("Expiry"),
                "items": { "type": "array", "maxItems": 1000, "items": schema("EntitlementItem"), "description": "Each artifact at most once." }
            }
        },
        "Entitlement": {
            "type": "object", "required": ["id", "customer_id", "name", "expires_at", "active", "items", "created_at"],
            "properties": {
                "id": uuid(), "customer_id": uuid(), "name": { "type": "string" },
                "expires_at": nullable_timestamp("Expiry"),
                "active": { "type": "boolean", "description": "False once expired." },
                "items": { "type": "array", "items": schema("EntitlementItem") },
                "created_at": timestamp("Creation time")
            }
        }
    })
}

fn error_responses() -> Value {
    let mut out = Map::new();
    for (status, description) in [
        ("400", "Malformed request (`bad_request`), an artifact still entitled (`artifact_entitled`), or a bad analytics filter or cursor (`invalid_filter`, `invalid_cursor`)."),
        ("401", "Missing, unknown, revoked or expired token (`unauthorized`)."),
        ("403", "The caller's role does not allow this (`forbidden`)."),
        ("404", "No such object, or one of another vendor or customer (`not_found`); download analytics not enabled on the server (`analytics_disabled`)."),
        ("409", "A name is taken, or the object's state forbids this (`conflict`)."),
        ("413", "The request body exceeds 1 MiB (`payload_too_large`)."),
        ("429", "Too many failed authentications from this address or an upstream's rate limit (`too_many_requests`), or a request limit of the server (`rate_limited`); with Retry-After."),
        ("500", "Internal error (`internal`); details are logged, never shown."),
    ] {
        out.insert(
            format!("E{status}"),
            json!({ "description": description, "content": { "application/json": { "schema": schema("Error") } } }),
        );
    }
    Value::Object(out)
}

/// `a` with the members of `b` added (both objects).
fn merged(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// The whole document.
pub(crate) fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "distr management API",
            "version": "1",
            "description": "Manage artifacts, customers, users, access tokens and entitlements of a vendor organisation, and see who pulled what (download analytics).\n\nAuthenticate with `Authorization: AccessToken <token>` (or `Bearer <token>`). Ids are UUID strings. Timestamps are integers: milliseconds since the Unix epoch. Request bodies are JSON of at most 1 MiB; unknown fields are refused. Errors are `{\"error\":{\"code\",\"message\"}}` with the codes of the Error schema; objects of another vendor, or of another customer for customer users, are reported as 404."
        },
        "servers": [{ "url": "/" }],
        "security": [{ "accessToken": [] }],
        "tags": [
            { "name": "meta" }, { "name": "artifacts" }, { "name": "customers" },
            { "name": "users" }, { "name": "tokens" }, { "name": "entitlements" },
            { "name": "analytics" },
            { "name": "operator", "description": "The server operator's token (DISTR_OPERATOR_TOKEN): organisations." }
        ],
        "paths": merged(paths(), super::openapi_analytics::paths()),
        "components": {
            "securitySchemes": {
                "accessToken": {
                    "type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "`AccessToken <token>` or `Bearer <token>` with a personal access token."
                }
            },
            "schemas": merged(schemas(), super::openapi_analytics::schemas()),
            "responses": error_responses()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::router::ROUTES;
    use super::*;

    #[test]
    fn lists_every_route_and_only_those() {
        let doc = document();
        let paths = doc["paths"].as_object().expect("paths");
        for r in ROUTES {
            let op = &paths
                .get(r.path)
                .unwrap_or_else(|| panic!("{} missing", r.path))[r.method.to_lowercase()];
            assert!(op.is_object(), "{} {} missing", r.method, r.path);
            assert!(op["responses"].is_object());
        }
        let documented: usize = paths
            .values()
            .map(|p| p.as_object().map_or(0, |o| o.len()))
            .sum();
        assert_eq!(documented, ROUTES.len());
    }

    #[test]
    fn every_reference_resolves() {
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(o) => {
                    if let Some(Value::String(r)) = o.get("$ref") {
                        out.push(r.clone());
                    }
                    o.values().for_each(|x| refs(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
                _ => {}
            }
        }
        let doc = document();
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let pointer = r.trim_start_matches('#');
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }
}
