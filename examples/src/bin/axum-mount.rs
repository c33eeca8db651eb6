//! Mounting distr inside an axum application: the app keeps its own routes
//! (`/healthz` here) and hands everything else to the registry service.
//!
//! `cargo run -p distr-examples --bin axum-mount -- --listen 127.0.0.1:5001`
#![forbid(unsafe_code)]

use std::io::Write;

use axum::routing::get;
use clap::Parser;
use distr_examples::config::{Config, Flags};
use distr_examples::serve::shutdown_signal;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    flags: Flags,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let config = Config::resolve(&Cli::parse().flags)?;
    let registry = config.build_registry().await?;
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .fallback_service(distr_hyper::DistrService::new(registry));
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    writeln!(
        std::io::stdout().lock(),
        "listening on {}",
        listener.local_addr()?
    )?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}
