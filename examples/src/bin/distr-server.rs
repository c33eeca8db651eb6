//! `distr-server`: a distr registry on SQLite metadata and local blob files.
//!
//! With no arguments it serves on 127.0.0.1:5000 with data in `./distr-data`.
#![forbid(unsafe_code)]

use std::io::Write;

use anyhow::Context;
use clap::Parser;
use distr_examples::config::{Config, Flags};
use distr_examples::serve::{serve, shutdown_signal};

/// A registry that hands a vendor's OCI artifacts to its customers.
#[derive(Debug, Parser)]
#[command(name = "distr-server", version)]
struct Cli {
    #[command(flatten)]
    flags: Flags,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DISTR_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = Config::resolve(&cli.flags)?;
    let registry = config.build_registry().await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    // The one line on stdout: scripts and tests read the bound address from it.
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {addr}")?;
    out.flush()?;
    drop(out);
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "distr-server started");
    serve(
        listener,
        distr_hyper::DistrService::new(registry),
        shutdown_signal(),
    )
    .await;
    tracing::info!("stopped");
    Ok(())
}
