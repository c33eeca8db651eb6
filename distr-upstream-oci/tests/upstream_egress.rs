//! The egress rules of upstream clients, end to end over real sockets: a
//! target that is not public (in every spelling), a name resolving to
//! loopback, a redirect to loopback and a token realm on loopback are each
//! refused, with no connection made and a generic vendor-facing error, unless
//! the operator listed them; listed, a real registry (CNCF Distribution)
//! works.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use distr_core::upstream::{EgressPolicy, Upstream, UpstreamError, UpstreamFailure};
use distr_core::Error;
use distr_test_support::proxy::{reply, HttpServer};
use distr_test_support::upstream::{loopback_egress, UpstreamRegistry};
use distr_upstream_oci::OciUpstream;
use http::StatusCode;

/// A loopback listener that never answers; it tells whether anything
/// connected to it.
struct Watched(TcpListener);

impl Watched {
    fn new() -> Watched {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        Watched(l)
    }

    fn port(&self) -> u16 {
        self.0.local_addr().unwrap().port()
    }

    fn was_reached(&self) -> bool {
        self.0.accept().is_ok()
    }
}

fn client(
    target: &str,
    insecure: bool,
    policy: EgressPolicy,
) -> Result<OciUpstream, UpstreamError> {
    OciUpstream::builder(target.parse()?)
        .with_egress_policy(Arc::new(policy))
        .with_insecure(insecure)
        .with_connect_timeout(Duration::from_secs(2))
        .with_response_timeout(Duration::from_secs(5))
        .build()
}

/// `check_access` of `target` under `policy`: the error, if any.
async fn check(target: &str, insecure: bool, policy: EgressPolicy) -> Option<UpstreamError> {
    match client(target, insecure, policy) {
        Ok(up) => up.check_access().await.err(),
        Err(e) => Some(e),
    }
}

/// What a vendor would be shown for `e`.
fn shown(e: UpstreamError) -> (UpstreamFailure, String) {
    let failure = e.failure();
    (failure, Error::Upstream(e).vendor_message())
}

#[tokio::test]
async fn internal_targets_are_refused_in_every_spelling() {
    let watched = Watched::new();
    let port = watched.port();
    let targets = [
        format!("127.0.0.1:{port}/team/app"),
        format!("localhost:{port}/team/app"),
        format!("127.1:{port}/team/app"),
        format!("[::1]:{port}/team/app"),
        format!("0.0.0.0:{port}/team/app"),
        format!("2130706433:{port}/team/app"),
        format!("0x7f.0.0.1:{port}/team/app"),
        format!("[::ffff:127.0.0.1]:{port}/team/app"),
        "169.254.169.254/latest/meta".to_owned(),
        "10.1.2.3:5000/team/app".to_owned(),
    ];
    for target in &targets {
        for insecure in [false, true] {
            let e = check(target, insecure, EgressPolicy::public_only())
                .await
                .unwrap_or_else(|| panic!("{target} (insecure {insecure}) was allowed"));
            let (failure, message) = shown(e);
            assert!(
                matches!(
                    failure,
                    UpstreamFailure::Unreachable | UpstreamFailure::InvalidConfig
                ),
                "{target}: {failure:?}"
            );
            assert!(!message.contains(&port.to_string()), "{target}: {message}");
            assert!(!message.contains("127.0.0.1"), "{target}: {message}");
        }
    }
    assert!(!watched.was_reached(), "a refused target was connected to");
}

#[tokio::test]
async fn open_and_closed_ports_answer_alike() {
    let open = Watched::new();
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut answers = Vec::new();
    for port in [open.port(), closed_port] {
        let e = check(
            &format!("127.0.0.1:{port}/team/app"),
            true,
            EgressPolicy::public_only(),
        )
        .await
        .expect("refused");
        let internal = e.to_string().replace(&port.to_string(), "PORT");
        answers.push((shown(e), internal));
    }
    assert_eq!(answers[0], answers[1]);
    assert!(!open.was_reached());
}

/// A stand-in registry that answers every request with `status` and
/// `header`, pointing at `elsewhere`.
fn pointing_at(status: StatusCode, header: &'static str, value: String) -> HttpServer {
    HttpServer::start("pointer", move |_addr: SocketAddr| {
        move |_req| {
            let value = value.clone();
            async move { reply(status, &[(header, value)], "") }
        }
    })
}

#[tokio::test]
async fn a_redirect_to_an_unlisted_loopback_port_is_refused() {
    let inside = Watched::new();
    let redirector = pointing_at(
        StatusCode::TEMPORARY_REDIRECT,
        "location",
        format!("http://127.0.0.1:{}/v2/secret", inside.port()),
    );
    // The operator listed the redirector's port only.
    let policy = EgressPolicy::parse(&redirector.host_port()).unwrap();
    let e = check(&redirector.reference("team/app"), true, policy)
        .await
        .expect("the redirect is refused");
    assert_eq!(shown(e).0, UpstreamFailure::Unreachable);
    assert!(
        !inside.was_reached(),
        "the redirect target was connected to"
    );
}

#[tokio::test]
async fn a_token_realm_on_an_unlisted_host_is_never_asked() {
    let inside = Watched::new();
    let challenger = pointing_at(
        StatusCode::UNAUTHORIZED,
        "www-authenticate",
        format!(
            "Bearer realm=\"http://127.0.0.1:{}/token\",service=\"x\"",
            inside.port()
        ),
    );
    let policy = EgressPolicy::parse(&challenger.host_port()).unwrap();
    let e = check(&challenger.reference("team/app"), true, policy)
        .await
        .expect("the realm is refused");
    let (_, message) = shown(e);
    assert!(!message.contains(&inside.port().to_string()), "{message}");
    assert!(!inside.was_reached(), "the realm was asked for a token");
}

#[tokio::test]
async fn listed_by_the_operator_a_loopback_registry_works() {
    let registry = UpstreamRegistry::start().await;
    let target = registry.reference("team/app");
    let up = OciUpstream::builder(target.parse().unwrap())
        .with_egress_policy(loopback_egress())
        .with_insecure(true)
        .build()
        .unwrap();
    // An empty repository: the registry answers, so the connection was made.
    match up.check_access().await {
        Ok(()) | Err(UpstreamError::NotFound(_)) => {}
        Err(e) => panic!("a listed registry is reachable: {e}"),
    }
    // Unlisted, the same registry is refused.
    let e = check(&target, true, EgressPolicy::public_only())
        .await
        .expect("refused");
    assert_eq!(shown(e).0, UpstreamFailure::Unreachable);
}

/// HTTPS to a registry that speaks plain HTTP names the fix.
#[tokio::test]
async fn tls_to_a_plain_http_registry_says_to_set_insecure() {
    let registry = UpstreamRegistry::start().await;
    let target = registry.reference("team/app");
    let policy = (*loopback_egress()).clone();
    let e = check(&target, false, policy).await.expect("refused");
    assert!(matches!(e, UpstreamError::PlainHttp), "{e:?}");
    let (failure, message) = shown(e);
    assert_eq!(failure.code(), "upstream_plain_http");
    assert!(message.contains("set upstream.insecure"), "{message}");
}
