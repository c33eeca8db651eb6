//! The smallest useful distr server assembled from the crates: an in-memory
//! registry (metadata and blobs) served over HTTP/1.1 and HTTP/2 by hyper.
//!
//! `cargo run -p distr-examples --bin minimal-server -- 127.0.0.1:5002`
//!
//! Everything is lost when it stops; there is no access control. Swap
//! `Registry::in_memory()` for a `distr_store_sqlite::SqliteStore` and an
//! `object_store` backend (see `axum-mount`) to keep data.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use distr_core::Registry;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listen: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5002".into())
        .parse()
        .context("the argument is the listen address, e.g. 127.0.0.1:5002")?;
    let service = distr_hyper::DistrService::new(Arc::new(Registry::in_memory()));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            // A connection error (client gone, bad request line) ends that
            // connection only.
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
