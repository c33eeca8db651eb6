//! The raw-HTTP [`Registry`] client (reqwest) for the OCI Distribution
//! endpoints, sending a token as HTTP Basic credentials, and the helpers
//! around it (headers, `Link` pagination, OCI error assertions, a PUT over a
//! bare socket).

use std::io::{Read as _, Write as _};
use std::time::Duration;

use serde_json::{json, Value};

use crate::auth::basic_auth;
use crate::digest::{pseudo_random_bytes, sha256_digest};
use crate::layout::{image_config, make_layer};
use crate::media::{MANIFEST_ACCEPT, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};

/// Thin wrapper around a reqwest client for the OCI Distribution API.
#[derive(Clone)]
pub struct Registry {
    /// `http://host:port`, without a trailing slash.
    pub base: String,
    /// The client (no proxy, no redirects, 120 s timeout, credentials as default headers).
    pub client: reqwest::Client,
}

/// A pushed single-platform image.
#[derive(Clone, Debug)]
pub struct PushedImage {
    /// The manifest's bytes.
    pub manifest: Vec<u8>,
    /// `sha256:` digest of [`PushedImage::manifest`].
    pub manifest_digest: String,
    /// Digest of the config blob.
    pub config_digest: String,
    /// Size of the config blob.
    pub config_size: usize,
    /// The one layer's bytes (gzip'd tar).
    pub layer: Vec<u8>,
    /// Digest of the layer.
    pub layer_digest: String,
}

impl Registry {
    /// A client that sends no credentials.
    pub fn new(base: &str) -> Registry {
        Self::build(base, reqwest::header::HeaderMap::new())
    }

    /// A client that sends `token` as the password of HTTP Basic credentials
    /// on every request (as `docker login` / `skopeo --creds` do).
    pub fn with_token(base: &str, token: &str) -> Registry {
        let mut headers = reqwest::header::HeaderMap::new();
        let mut value = reqwest::header::HeaderValue::from_str(&basic_auth(token))
            .expect("token is a valid header value");
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
        Self::build(base, headers)
    }

    fn build(base: &str, headers: reqwest::header::HeaderMap) -> Registry {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .expect("build reqwest client");
        Registry {
            base: base.trim_end_matches('/').to_string(),
            client,
        }
    }

    /// Absolute URL for a path (`/v2/...`) or an absolute/relative `Location`.
    pub fn url(&self, path_or_location: &str) -> String {
        if path_or_location.starts_with("http://") || path_or_location.starts_with("https://") {
            path_or_location.to_string()
        } else if path_or_location.starts_with('/') {
            format!("{}{}", self.base, path_or_location)
        } else {
            format!("{}/{}", self.base, path_or_location)
        }
    }

    /// Start an upload session; returns the absolute Location URL.
    pub async fn start_upload(&self, repo: &str) -> String {
        let url = self.url(&format!("/v2/{repo}/blobs/uploads/"));
        let resp = self.client.post(&url).send().await.expect("POST upload");
        let status = resp.status().as_u16();
        let loc = header(&resp, "location");
        let body = resp.text().await.unwrap_or_default();
        assert_eq!(
            status, 202,
            "POST {url}: expected 202, got {status}; body {body}"
        );
        let loc = loc.unwrap_or_else(|| panic!("POST {url}: 202 without Location header"));
        self.url(&loc)
    }

    /// Upload a blob with POST + PUT?digest= (the "monolithic, two-step" flow).
    pub async fn push_blob_with_digest(&self, repo: &str, data: &[u8], digest: &str) {
        let loc = self.start_upload(repo).await;
        let url = with_query(&loc, "digest", digest);
        let resp = self
            .client
            .put(&url)
            .header("content-type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .expect("PUT blob");
        let status = resp.status().as_u16();
        let got_digest = header(&resp, "docker-content-digest");
        let body = resp.text().await.unwrap_or_default();
        assert_eq!(
            status, 201,
            "PUT {url}: expected 201, got {status}; body {body}"
        );
        assert_eq!(
            got_digest.as_deref(),
            Some(digest),
            "PUT {url}: Docker-Content-Digest header"
        );
    }

    /// Upload a blob (sha256) and return its digest.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256_digest(data);
        self.push_blob_with_digest(repo, data, &digest).await;
        digest
    }

    /// PUT a manifest (any status).
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> reqwest::Response {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        self.client
            .put(&url)
            .header("content-type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .expect("PUT manifest")
    }

    /// PUT a manifest and require 201 with the right Docker-Content-Digest.
    pub async fn put_manifest_ok(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> reqwest::Response {
        let resp = self.put_manifest(repo, reference, media_type, body).await;
        let status = resp.status().as_u16();
        if status != 201 {
            let text = resp.text().await.unwrap_or_default();
            panic!("PUT /v2/{repo}/manifests/{reference}: expected 201, got {status}; body {text}");
        }
        assert_eq!(
            header(&resp, "docker-content-digest").as_deref(),
            Some(sha256_digest(body).as_str()),
            "PUT /v2/{repo}/manifests/{reference}: Docker-Content-Digest"
        );
        assert!(
            header(&resp, "location").is_some(),
            "PUT /v2/{repo}/manifests/{reference}: 201 without Location"
        );
        resp
    }

    /// GET a manifest (with a broad Accept header).
    pub async fn get_manifest(&self, repo: &str, reference: &str) -> reqwest::Response {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        self.client
            .get(&url)
            .header("accept", MANIFEST_ACCEPT)
            .send()
            .await
            .expect("GET manifest")
    }

    /// GET a path (or absolute URL).
    pub async fn get(&self, path: &str) -> reqwest::Response {
        let url = self.url(path);
        self.client
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    /// HEAD a path (or absolute URL).
    pub async fn head(&self, path: &str) -> reqwest::Response {
        let url = self.url(path);
        self.client
            .head(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("HEAD {url}: {e}"))
    }

    /// GET a blob and return its bytes (requires 200).
    pub async fn get_blob(&self, repo: &str, digest: &str) -> Vec<u8> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let resp = self.get(&path).await;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.expect("blob body").to_vec();
        assert_eq!(
            status,
            200,
            "GET {path}: expected 200, got {status}; body {}",
            String::from_utf8_lossy(&body)
        );
        body
    }

    /// Push a small single-platform image (config + one gzip'd tar layer)
    /// under `reference` (a tag). `seed` makes the content unique.
    pub async fn push_image(&self, repo: &str, reference: &str, seed: u64) -> PushedImage {
        let files = vec![(format!("data-{seed}.bin"), pseudo_random_bytes(seed, 2048))];
        let (layer, diff_id) = make_layer(&files);
        let config = image_config("amd64", "linux", &[diff_id]);
        let layer_digest = self.push_blob(repo, &layer).await;
        let config_digest = self.push_blob(repo, &config).await;
        let manifest = serde_json::to_vec_pretty(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer_digest, "size": layer.len()}],
            "annotations": {"org.example.seed": seed.to_string()}
        }))
        .unwrap();
        let resp = self
            .put_manifest_ok(repo, reference, OCI_MANIFEST, &manifest)
            .await;
        drop(resp);
        PushedImage {
            manifest_digest: sha256_digest(&manifest),
            manifest,
            config_digest,
            config_size: config.len(),
            layer,
            layer_digest,
        }
    }

    /// Follow `Link: <...>; rel="next"` from `first_path`, returning each
    /// page's parsed JSON body and the Link header it carried.
    pub async fn paginate(
        &self,
        first_path: &str,
        max_pages: usize,
    ) -> Vec<(Value, Option<String>)> {
        let mut pages = Vec::new();
        let mut next = Some(first_path.to_string());
        while let Some(path) = next.take() {
            assert!(
                pages.len() < max_pages,
                "pagination from {first_path} did not end after {max_pages} pages"
            );
            let resp = self.get(&path).await;
            let status = resp.status().as_u16();
            let link = header(&resp, "link");
            let text = resp.text().await.unwrap_or_default();
            assert_eq!(
                status, 200,
                "GET {path}: expected 200, got {status}; body {text}"
            );
            let value: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("GET {path}: body is not JSON ({e}): {text}"));
            if let Some(link) = &link {
                next = Some(
                    parse_next_link(link)
                        .unwrap_or_else(|| panic!("GET {path}: malformed Link header {link:?}")),
                );
            }
            pages.push((value, link));
        }
        pages
    }
}

/// PUT `body` over a plain TCP socket (HTTP/1.1, `Connection: close`) and
/// return (status, response body). Unlike hyper-based clients it still reads
/// the response when the server answers early and stops reading the body.
/// Authenticates with `token` (HTTP Basic).
pub fn raw_http_put_with_token(
    token: &str,
    host_port: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    use std::net::TcpStream;
    let mut stream = TcpStream::connect(host_port).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host_port}\r\nContent-Type: {content_type}\r\n\
         Authorization: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        basic_auth(token),
        body.len()
    );
    let mut writer = stream.try_clone().expect("clone socket");
    let payload = [head.as_bytes(), body].concat();
    let sender = std::thread::spawn(move || {
        // The server may close early; ignore write errors.
        let _ = writer.write_all(&payload);
        let _ = writer.flush();
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) if response.is_empty() => panic!("PUT {path}: no response ({e})"),
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = sender.join();
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("PUT {path}: malformed response {text:?}"));
    let body_start = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .unwrap_or(response.len());
    (status, response[body_start..].to_vec())
}

/// Header value as a String (None if absent or not UTF-8).
pub fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Append `key=value` to a URL that may already have a query.
pub fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}

/// Extract the target of `<...>; rel="next"`.
pub fn parse_next_link(link: &str) -> Option<String> {
    let link = link.trim();
    let start = link.find('<')?;
    let end = link.find('>')?;
    let rest = &link[end + 1..];
    if !rest.contains("rel=\"next\"") && !rest.contains("rel=next") {
        return None;
    }
    Some(link[start + 1..end].to_string())
}

/// Assert an OCI error response: status, JSON `{"errors":[{code,message,..}]}`
/// and that one of the errors carries `code`. Returns the parsed body.
pub async fn expect_oci_error(
    resp: reqwest::Response,
    status: u16,
    code: &str,
    what: &str,
) -> Value {
    let got_status = resp.status().as_u16();
    let content_type = header(&resp, "content-type");
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(
        got_status, status,
        "{what}: expected HTTP {status} ({code}), got {got_status}; body {text:?}"
    );
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("{what}: error body is not JSON ({e}); content-type {content_type:?}; body {text:?}")
    });
    let errors = value
        .get("errors")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{what}: error body lacks an `errors` array: {text}"));
    assert!(!errors.is_empty(), "{what}: empty `errors` array");
    for e in errors {
        assert!(
            e.get("code").and_then(Value::as_str).is_some(),
            "{what}: error without string `code`: {e}"
        );
        assert!(
            e.get("message").and_then(Value::as_str).is_some(),
            "{what}: error without string `message`: {e}"
        );
    }
    assert!(
        errors.iter().any(|e| e["code"] == code),
        "{what}: expected error code {code}, got {text}"
    );
    if let Some(ct) = content_type {
        assert!(
            ct.starts_with("application/json"),
            "{what}: error Content-Type is {ct:?}"
        );
    }
    value
}
