//! Real upstream registries for the pull-through end-to-end tests.
//!
//! * [`UpstreamRegistry`] (from `distr-test-support`): CNCF Distribution on
//!   a free loopback port, optionally behind htpasswd Basic auth.
//! * [`BearerProxy`]: a small HTTP proxy (the harness's [`HttpServer`]) in
//!   front of such a registry that demands Bearer tokens from its own token
//!   realm (`/token`, issued for HTTP Basic credentials), the way Docker
//!   Hub, Harbor or GHCR do. The registry behind it is the real one.
//! * [`DistrProcess`]: a [`Server`] preset started with extra environment.
//! * [`generate_single_layout`], [`verify_pulled_layout`] (from the
//!   harness): one-image layouts and the check of a pulled layout.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::json;

pub use distr_test_support::auth::basic_header;
pub use distr_test_support::layout::{generate_single_layout, verify_pulled_layout};
pub use distr_test_support::net::free_port;
use distr_test_support::proxy::{
    forward, forward_client, reply, ForwardClient, HttpServer, TokenRealm,
};
pub use distr_test_support::tools::{htpasswd_line, REGISTRY_BIN};
pub use distr_test_support::upstream::UpstreamRegistry;

use super::{sha256_hex, Server};

/// The repository the vendor's images live in upstream.
pub const UPSTREAM_REPO: &str = "team/app";
/// Credentials of the protected upstreams (htpasswd, token realm).
pub const UPSTREAM_USER: &str = "puller";
/// The password of [`UPSTREAM_USER`].
pub const UPSTREAM_PASS: &str = "s3cret-pass";

// ---------------------------------------------------------------------------
// the Bearer token proxy
// ---------------------------------------------------------------------------

/// What a [`BearerProxy`] saw.
#[derive(Default, Debug)]
pub struct ProxyStats {
    /// Tokens issued at `/token` (good Basic credentials).
    pub token_fetches: AtomicUsize,
    /// `/token` requests refused (missing or wrong Basic credentials).
    pub token_refusals: AtomicUsize,
    /// Registry requests answered 401 with a Bearer challenge.
    pub challenges: AtomicUsize,
    /// Registry requests with a valid token, forwarded upstream.
    pub forwarded: AtomicUsize,
}

impl ProxyStats {
    /// The value of one counter.
    pub fn get(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }
}

/// A Bearer-token front for a registry: every `/v2/...` request needs
/// `Authorization: Bearer <token>` with a token from `GET /token`, which
/// wants HTTP Basic `user:pass`. Others get 401 with
/// `WWW-Authenticate: Bearer realm="http://<proxy>/token",service=...,scope=...`.
pub struct BearerProxy {
    server: HttpServer,
    /// What the proxy saw.
    pub stats: Arc<ProxyStats>,
}

/// The service name in the proxy's challenges.
pub const PROXY_SERVICE: &str = "distr-e2e-token-proxy";

struct ProxyState {
    upstream: String,
    own_url: String,
    basic: String,
    stats: Arc<ProxyStats>,
    client: ForwardClient,
    tokens: TokenRealm,
}

impl BearerProxy {
    /// Front `upstream_host_port` (plain HTTP), issuing tokens for `user`/`pass`.
    pub fn start(upstream_host_port: &str, user: &str, pass: &str) -> BearerProxy {
        let stats = Arc::new(ProxyStats::default());
        let server = HttpServer::start("bearer-proxy", |addr| {
            let state = Arc::new(ProxyState {
                upstream: format!("http://{upstream_host_port}"),
                own_url: format!("http://{addr}"),
                basic: basic_header(user, pass),
                stats: stats.clone(),
                client: forward_client(),
                tokens: TokenRealm::default(),
            });
            move |req| {
                let state = state.clone();
                async move { state.handle(req).await }
            }
        });
        BearerProxy { server, stats }
    }

    /// `127.0.0.1:PORT`
    pub fn host_port(&self) -> String {
        self.server.host_port()
    }

    /// `127.0.0.1:PORT/<repo>`
    pub fn reference(&self, repo: &str) -> String {
        self.server.reference(repo)
    }
}

/// The repository a `/v2/<name>/{manifests,blobs,tags}/...` path names.
fn repository_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v2/")?;
    ["/manifests/", "/blobs/", "/tags/"]
        .iter()
        .filter_map(|m| rest.rfind(m).map(|i| &rest[..i]))
        .max_by_key(|name| name.len())
}

impl ProxyState {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if path == "/token" {
            return self.issue(&auth);
        }
        if !self.tokens.accepts(&auth) {
            self.stats.challenges.fetch_add(1, Ordering::SeqCst);
            let mut challenge = format!(
                r#"Bearer realm="{}/token",service="{PROXY_SERVICE}""#,
                self.own_url
            );
            if let Some(repo) = repository_of(&path) {
                challenge.push_str(&format!(r#",scope="repository:{repo}:pull""#));
            }
            return reply(
                StatusCode::UNAUTHORIZED,
                &[
                    ("www-authenticate", challenge),
                    ("content-type", "application/json".into()),
                ],
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#,
            );
        }
        self.stats.forwarded.fetch_add(1, Ordering::SeqCst);
        let headers = ["accept", "range", "content-type", "if-none-match"];
        forward(&self.client, &self.upstream, req, Some(&headers)).await
    }

    /// `GET /token`: a token for good Basic credentials, 401 otherwise.
    fn issue(&self, auth: &str) -> Response<Full<Bytes>> {
        if auth != self.basic {
            self.stats.token_refusals.fetch_add(1, Ordering::SeqCst);
            return reply(
                StatusCode::UNAUTHORIZED,
                &[
                    ("content-type", "application/json".into()),
                    ("www-authenticate", "Basic realm=\"token\"".into()),
                ],
                r#"{"details":"incorrect username or password"}"#,
            );
        }
        let n = self.stats.token_fetches.fetch_add(1, Ordering::SeqCst) + 1;
        let token = format!(
            "e2e-{n}-{}",
            sha256_hex(format!("{n}{:?}", Instant::now()).as_bytes())
        );
        self.tokens.issue(&token, Duration::from_secs(300));
        let body = json!({"token": token, "access_token": token, "expires_in": 300});
        reply(
            StatusCode::OK,
            &[("content-type", "application/json".into())],
            body.to_string(),
        )
    }
}

// ---------------------------------------------------------------------------
// a distr-server with extra environment
// ---------------------------------------------------------------------------

/// A [`Server`] (fresh data dir, [`super::TEST_ORG`] bootstrapped with
/// [`super::TEST_TOKEN`]) started with extra environment variables: e.g.
/// `DISTR_UPSTREAM_SYNC_CRON`. Kept for the tests written against it; new
/// tests call [`Server::start_with_env`].
pub struct DistrProcess(Server);

impl DistrProcess {
    /// Start with `env` applied last.
    pub fn start(env: &[(&str, &str)]) -> DistrProcess {
        DistrProcess(Server::start_with_env(env))
    }
}

impl Deref for DistrProcess {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.0
    }
}

impl DerefMut for DistrProcess {
    fn deref_mut(&mut self) -> &mut Server {
        &mut self.0
    }
}
