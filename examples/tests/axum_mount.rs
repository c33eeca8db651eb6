//! distr mounted inside an axum application: the app's own routes and the
//! registry's `/v2/` API are served side by side by one router.

use std::sync::Arc;

use axum::body::Body;
use axum::routing::get;
use distr_core::{Digest, Registry};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

fn app() -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .fallback_service(distr_hyper::DistrService::new(Arc::new(
            Registry::in_memory(),
        )))
}

#[tokio::test]
async fn app_routes_and_registry_share_one_router() {
    let app = app();
    let health = app
        .clone()
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    let base = app
        .clone()
        .oneshot(Request::get("/v2/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(base.status(), StatusCode::OK);
    assert_eq!(
        base.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );

    let data = b"mounted in axum";
    let digest = Digest::sha256(data);
    let upload = Request::post(format!("/v2/acme/app/blobs/uploads/?digest={digest}"))
        .body(Body::from(&data[..]))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(upload).await.unwrap().status(),
        StatusCode::CREATED
    );
    let got = app
        .clone()
        .oneshot(
            Request::get(format!("/v2/acme/app/blobs/{digest}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(
        &got.into_body().collect().await.unwrap().to_bytes()[..],
        data
    );

    let missing = app
        .oneshot(
            Request::get("/v2/acme/app/manifests/none")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}
