//! The download analytics part of the OpenAPI document (paths and schemas),
//! merged into [`super::openapi::document`].

use serde_json::{json, Value};

use super::openapi::{array_of, path_id, query, schema, timestamp, uuid, Op, Success};

/// The filters of the pull log.
fn filters() -> Vec<Value> {
    vec![
        query("artifact_id", false, "Only this artifact (UUID)."),
        query("tag", false, "Only GETs by this tag."),
        query("customer_id", false, "Only this customer's pulls (UUID)."),
        query("user_id", false, "Only this user's pulls (UUID)."),
        query("ip", false, "Only pulls from this client address."),
        query(
            "from",
            false,
            "Only events at or after this time (ms since the Unix epoch, or RFC 3339 such as 2027-01-31T00:00:00Z).",
        ),
        query(
            "to",
            false,
            "Only events before this time (exclusive; ms since the Unix epoch, or RFC 3339).",
        ),
    ]
}

/// Paths under `/api/v1` served by the analytics endpoints.
pub(super) fn paths() -> Value {
    let mut paged = filters();
    paged.push(query(
        "cursor",
        false,
        "The `next_cursor` of the previous page.",
    ));
    paged.push(query("limit", false, "Events per page, 1 to 1000 [100]."));
    json!({
        "/api/v1/analytics/pulls": {
            "get": Op {
                id: "listPulls", tag: "analytics", summary: "The pull log",
                description: "Every recorded manifest GET (one per request, by tag or by digest; HEADs are not recorded), newest first, filtered; unknown parameters are refused. Page with `cursor`: pages stay stable while new pulls arrive. A malformed filter is 400 `invalid_filter`, a malformed cursor 400 `invalid_cursor`. Vendor admins only.",
                params: paged, body: None,
                success: Success::Json("200", "A page of events.", schema("PullPage")),
                errors: &["400", "403", "404"],
            }.build()
        },
        "/api/v1/analytics/pulls.csv": {
            "get": Op {
                id: "exportPulls", tag: "analytics", summary: "The pull log as CSV",
                description: "The same events and filters as `listPulls`, every page, as RFC 4180 CSV with a header row (`id,at_ms,time,artifact_id,artifact,tag,digest,index,customer_id,customer,user_id,token_id,ip,user_agent`), streamed; at most 1 000 000 rows (narrow `from`/`to` for more). Text starting with `=`, `+`, `-`, `@` is prefixed with `'`. Vendor admins only.",
                params: filters(), body: None,
                success: Success::Csv("The events, newest first."),
                errors: &["400", "403", "404"],
            }.build()
        },
        "/api/v1/analytics/unpulled": {
            "get": Op {
                id: "listUnpulledCustomers", tag: "analytics", summary: "Entitled customers who never pulled",
                description: "Customers with an entitlement active now (to `artifact_id`, or to anything) and no recorded pull (of it, or of any artifact of the vendor). Vendor admins only.",
                params: vec![query("artifact_id", false, "The artifact (UUID); all artifacts when absent.")], body: None,
                success: Success::Json("200", "The customers.", schema("UnpulledCustomers")),
                errors: &["400", "403", "404"],
            }.build()
        },
        "/api/v1/artifacts/{artifact_id}/analytics": {
            "get": Op {
                id: "getArtifactAnalytics", tag: "analytics", summary: "Pulls of an artifact",
                description: "Pulls per tag with the distinct customers that pulled it, the customers that pulled the artifact with their pull counts and first and latest pulls, and blob bytes served per customer. A multi-platform pull (the index, then a platform manifest by digest, with one token within 10 minutes) counts once. Vendor admins only.",
                params: vec![path_id("artifact_id", "artifact")], body: None,
                success: Success::Json("200", "The artifact's analytics.", schema("ArtifactAnalytics")),
                errors: &["400", "403", "404"],
            }.build()
        },
        "/api/v1/customers/{customer_id}/analytics": {
            "get": Op {
                id: "getCustomerAnalytics", tag: "analytics", summary: "What a customer pulled",
                description: "Per artifact and reference (the tag of pulls by tag, the digest of the others): pulls, first and latest pull; and blob bytes served per artifact. Vendor admins only.",
                params: vec![path_id("customer_id", "customer")], body: None,
                success: Success::Json("200", "The customer's analytics.", schema("CustomerAnalytics")),
                errors: &["400", "403", "404"],
            }.build()
        }
    })
}

/// The schemas the analytics paths refer to.
pub(super) fn schemas() -> Value {
    let nullable_uuid = json!({ "type": ["string", "null"], "format": "uuid" });
    let nullable_text = json!({ "type": ["string", "null"] });
    json!({
        "Pull": {
            "type": "object",
            "required": ["id", "at", "artifact_id", "tag", "digest", "index", "customer_id", "user_id", "token_id", "ip", "user_agent"],
            "properties": {
                "id": uuid(), "at": timestamp("When the manifest was served"), "artifact_id": uuid(),
                "tag": { "type": ["string", "null"], "description": "The tag of a GET by tag; null for a GET by digest." },
                "digest": { "type": "string", "description": "Digest of the manifest served." },
                "index": { "type": "boolean", "description": "True when the manifest is an image index or manifest list." },
                "customer_id": nullable_uuid, "user_id": nullable_uuid, "token_id": nullable_uuid,
                "ip": { "type": ["string", "null"], "description": "The client address (X-Forwarded-For is honoured only from trusted proxies)." },
                "user_agent": { "type": ["string", "null"], "description": "At most 256 characters." }
            }
        },
        "PullPage": {
            "type": "object", "required": ["items", "next_cursor"],
            "properties": {
                "items": array_of("Pull"),
                "next_cursor": { "type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last page." }
            }
        },
        "BytesServed": {
            "type": "object", "required": ["artifact_id", "customer_id", "bytes", "last_download_at"],
            "properties": {
                "artifact_id": uuid(),
                "customer_id": { "type": ["string", "null"], "format": "uuid", "description": "null for vendor users and anonymous downloads." },
                "bytes": { "type": "integer", "description": "Blob bytes sent, counted as they streamed." },
                "last_download_at": timestamp("The latest download")
            }
        },
        "ArtifactAnalytics": {
            "type": "object", "required": ["artifact_id", "tags", "customers", "bytes_served"],
            "properties": {
                "artifact_id": uuid(),
                "tags": { "type": "array", "items": {
                    "type": "object", "required": ["tag", "pulls", "customers"],
                    "properties": { "tag": { "type": "string" }, "pulls": { "type": "integer" }, "customers": { "type": "integer", "description": "Distinct customers." } }
                } },
                "customers": { "type": "array", "items": {
                    "type": "object", "required": ["customer_id", "customer", "pulls", "first_pull_at", "last_pull_at"],
                    "properties": {
                        "customer_id": uuid(), "customer": nullable_text, "pulls": { "type": "integer" },
                        "first_pull_at": timestamp("First pull"), "last_pull_at": timestamp("Latest pull")
                    }
                } },
                "bytes_served": array_of("BytesServed")
            }
        },
        "CustomerAnalytics": {
            "type": "object", "required": ["customer_id", "pulls", "bytes_served"],
            "properties": {
                "customer_id": uuid(),
                "pulls": { "type": "array", "items": {
                    "type": "object", "required": ["artifact_id", "artifact", "reference", "pulls", "first_pull_at", "last_pull_at"],
                    "properties": {
                        "artifact_id": uuid(), "artifact": nullable_text,
                        "reference": { "type": "string", "description": "The tag of pulls by tag, the digest of the others." },
                        "pulls": { "type": "integer" },
                        "first_pull_at": timestamp("First pull"), "last_pull_at": timestamp("Latest pull")
                    }
                } },
                "bytes_served": array_of("BytesServed")
            }
        },
        "UnpulledCustomers": {
            "type": "object", "required": ["artifact_id", "customers"],
            "properties": {
                "artifact_id": nullable_uuid,
                "customers": array_of("Customer")
            }
        }
    })
}
