//! The upstream egress policy ([`EgressPolicy`]) applied where connections
//! are made, so that every request of an upstream client — the first one,
//! each redirect and each token-realm hop — is judged by the same rule:
//!
//! - [`EgressConnector`] checks each target URI before connecting: a literal
//!   address in any spelling (hyper connects to those without a lookup) and
//!   plain HTTP to a host the operator did not list are refused;
//! - [`EgressResolver`] checks every address a name resolves to, at the
//!   moment of the connection, so DNS rebinding between a validation and
//!   the real request gains nothing.
//!
//! A refusal is the same error whatever listens on the target, so the
//! policy cannot be used as a port scanner.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use distr_core::upstream::{EgressDenied, EgressPolicy};
use http::Uri;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

tokio::task_local! {
    /// The port [`EgressConnector`] is connecting to, for the resolver
    /// (hyper asks resolvers for a name only).
    static CONNECT_PORT: u16;
}
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A DNS resolver (getaddrinfo) that answers only with addresses the policy
/// allows for the name and the port being connected to, and fails
/// otherwise. The port comes from [`EgressConnector`]; used without one,
/// the resolver does not know it and entries listed with a port do not
/// apply.
#[derive(Clone, Debug)]
pub struct EgressResolver {
    policy: Arc<EgressPolicy>,
    inner: GaiResolver,
}

impl EgressResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<EgressPolicy>) -> Self {
        Self {
            policy,
            inner: GaiResolver::new(),
        }
    }
}

impl Service<Name> for EgressResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        let port = CONNECT_PORT.try_with(|p| *p).ok();
        let lookup = self.inner.call(name);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = lookup.await?.collect();
            let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
            policy.check_connect(&host, port, &ips).map_err(refused)?;
            Ok(addrs.into_iter())
        })
    }
}

/// A connector that refuses targets the policy does not allow before
/// handing the rest to `C`.
#[derive(Clone, Debug)]
pub struct EgressConnector<C> {
    policy: Arc<EgressPolicy>,
    inner: C,
}

impl<C> EgressConnector<C> {
    /// `inner` behind `policy`.
    pub fn new(policy: Arc<EgressPolicy>, inner: C) -> Self {
        Self { policy, inner }
    }

    /// The policy enforced.
    pub fn policy(&self) -> &EgressPolicy {
        &self.policy
    }
}

impl<C> Service<Uri> for EgressConnector<C>
where
    C: Service<Uri>,
    C::Response: Send + 'static,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<C::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let host = uri.host().unwrap_or_default();
        if let Err(denied) = self.policy.check_target(host, port, https) {
            return Box::pin(std::future::ready(Err(refused(denied))));
        }
        // The inner connector resolves the name while this future is
        // polled: inside the scope, so the resolver judges this port.
        let connecting = CONNECT_PORT.scope(port, self.inner.call(uri));
        Box::pin(async move { connecting.await.map_err(Into::into) })
    }
}

/// A refusal as a connection error. The details (host and address) are for
/// the operator's log; what a vendor is shown is decided by the caller.
fn refused(denied: EgressDenied) -> BoxError {
    tracing::warn!(reason = %denied, "upstream connection refused by the egress policy");
    Box::new(denied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::Empty;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    type TestClient = Client<EgressConnector<HttpConnector<EgressResolver>>, Empty<Bytes>>;

    fn client(policy: EgressPolicy) -> TestClient {
        let policy = Arc::new(policy);
        let mut http = HttpConnector::new_with_resolver(EgressResolver::new(policy.clone()));
        // As in the real stack, where TLS sits on top.
        http.enforce_http(false);
        Client::builder(TokioExecutor::new()).build(EgressConnector::new(policy, http))
    }

    /// A loopback listener answering every connection with `204`, counting
    /// the connections it accepted.
    async fn listener() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
                    let _ = s
                        .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                        .await;
                });
            }
        });
        (port, accepted)
    }

    async fn get(c: &TestClient, url: &str) -> Result<u16, String> {
        let uri: Uri = url.parse().unwrap();
        c.get(uri).await.map(|r| r.status().as_u16()).map_err(|e| {
            // The cause chain, as the client would log it.
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg = format!("{msg}: {s}");
                src = s.source();
            }
            msg
        })
    }

    #[tokio::test]
    async fn internal_targets_are_refused_without_connecting() {
        let (port, accepted) = listener().await;
        let c = client(EgressPolicy::public_only());
        for host in [
            "127.0.0.1",
            "127.1",
            "2130706433",
            "localhost",
            "[::ffff:127.0.0.1]",
        ] {
            let err = get(&c, &format!("http://{host}:{port}/v2/"))
                .await
                .unwrap_err();
            assert!(
                err.contains("not allowed") || err.contains("non-public"),
                "{host}: {err}"
            );
        }
        // Over https too (the scheme does not open internal addresses).
        for host in ["127.0.0.1", "localhost", "0.0.0.0", "[::1]"] {
            let err = get(&c, &format!("https://{host}:{port}/v2/"))
                .await
                .unwrap_err();
            assert!(err.contains("non-public"), "{host}: {err}");
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn open_and_closed_ports_get_the_same_refusal() {
        let (open, _) = listener().await;
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = client(EgressPolicy::public_only());
        let a = get(&c, &format!("https://127.0.0.1:{open}/v2/"))
            .await
            .unwrap_err();
        let b = get(&c, &format!("https://127.0.0.1:{closed}/v2/"))
            .await
            .unwrap_err();
        assert_eq!(a, b);
        let a = get(&c, &format!("https://localhost:{open}/v2/"))
            .await
            .unwrap_err();
        let b = get(&c, &format!("https://localhost:{closed}/v2/"))
            .await
            .unwrap_err();
        assert_eq!(a, b);
    }

    #[tokio::test]
    async fn operator_listed_hosts_are_reached() {
        let (port, accepted) = listener().await;
        let c = client(EgressPolicy::parse("127.0.0.1").unwrap());
        assert_eq!(
            get(&c, &format!("http://127.0.0.1:{port}/v2/")).await,
            Ok(204)
        );
        // `localhost` resolves to a listed literal (where it resolves to ::1
        // too, that address is not listed and the name stays refused).
        let via_name = get(&c, &format!("http://localhost:{port}/v2/")).await;
        assert!(
            via_name.is_err(),
            "plain HTTP needs the name listed: {via_name:?}"
        );
        let c = client(EgressPolicy::parse("localhost,127.0.0.1,::1").unwrap());
        assert_eq!(
            get(&c, &format!("http://localhost:{port}/v2/")).await,
            Ok(204)
        );
        assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    }

    #[tokio::test]
    async fn a_name_listed_with_a_port_reaches_internal_addresses_on_that_port_only() {
        let (port, accepted) = listener().await;
        let (other, other_accepted) = listener().await;
        let c = client(EgressPolicy::parse(&format!("localhost:{port}")).unwrap());
        assert_eq!(
            get(&c, &format!("http://localhost:{port}/v2/")).await,
            Ok(204)
        );
        // Over https the pre-connect check passes (a name, not a literal):
        // the resolver, told the port, refuses the loopback answer.
        let err = get(&c, &format!("https://localhost:{other}/v2/"))
            .await
            .unwrap_err();
        assert!(err.contains("non-public"), "{err}");
        assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1);
        assert_eq!(other_accepted.load(std::sync::atomic::Ordering::SeqCst), 0);
    }
}
