//! Mounting distr inside an axum application: the app keeps its own routes
//! (`/healthz` here) and hands everything else to the registry service.
//!
//! `cargo run -p distr-examples --bin axum-mount -- 127.0.0.1:5001 ./axum-data`
//!
//! The registry here is open (no tenancy): every client may push and pull.
//! `distr-server` shows the full product with access control and analytics.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use axum::routing::get;
use distr_core::{BlobStore, Registry, RegistryConfig};
use distr_store_sqlite::SqliteStore;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:5001".into())
        .parse()
        .context("the first argument is the listen address, e.g. 127.0.0.1:5001")?;
    let data = PathBuf::from(args.next().unwrap_or_else(|| "axum-data".into()));

    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    let metadata = SqliteStore::open(data.join("distr.db")).await?;
    let files = object_store::local::LocalFileSystem::new_with_prefix(&data)?;
    let blobs = BlobStore::new(Arc::new(files)).with_local_root(&data);
    let registry = Arc::new(Registry::new(
        Arc::new(metadata),
        blobs,
        RegistryConfig::default(),
    ));

    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .fallback_service(distr_hyper::DistrService::new(registry));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
