//! `distr-server`: a distr registry on SQLite metadata and local blob files,
//! with token authentication and entitlements always on.
//!
//! With no arguments it serves on 127.0.0.1:5000 with data in `./distr-data`.
//! On the first start it creates a vendor organisation and prints its admin
//! token once (see `DISTR_BOOTSTRAP_ORG` / `DISTR_BOOTSTRAP_TOKEN`).
//! The management REST API is served under `/api/v1`. Prometheus metrics are
//! served at `/metrics`, on a separate listener with `DISTR_METRICS_LISTEN`
//! (unauthenticated: bind that to a private interface). `distr-server admin …`
//! manages organisations, customers, users, tokens, artifacts and
//! entitlements in the same data directory from the command line.
#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches};
use distr_core::access::{
    AccessStore, PlainToken, Policy, SealingAccessStore, TokenAuthenticator,
    VersionCachedAccessStore,
};
use distr_core::pullthrough::PullThrough;
use distr_core::store::RunClaims;
use distr_hyper::metrics::Metrics;
use distr_hyper::{AccessControl, DistrService, ManagementApi, PublicUrl, PullAnalytics};
use distr_server::admin::{self, AdminArgs};
use distr_server::analytics_runtime::AnalyticsRuntime;
use distr_server::bootstrap::{self, Outcome};
use distr_server::config::{self, process_env, FlagValues, Settings, Stores};
use distr_server::gc_job;
use distr_server::metrics_config::{self, serve_with_metrics};
use distr_server::schedule::run_on_schedule;
use distr_server::secrets::load_key_ring;
use distr_server::serve::shutdown_signal;
use distr_upstream_oci::OciConnector;

/// How stale the access version may be for changes made by other processes.
const ACCESS_VERSION_TTL: std::time::Duration = std::time::Duration::from_millis(100);
/// The run-claim name of the scheduled upstream sync.
const UPSTREAM_SYNC_JOB: &str = "upstream-sync";

/// A registry that hands a vendor's OCI artifacts to its customers.
// The subcommands; the settings' flags are added from `config::cli::args`.
#[derive(Debug, clap::Parser)]
#[command(name = "distr-server", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Manage the tenancy model in the data directory's database (works
    /// while the server runs).
    Admin(AdminArgs),
    /// Run one garbage collection (and cache eviction, when configured)
    /// now, with the `[gc]` settings (works while the server runs).
    Gc,
    /// Show the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, clap::Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (defaults, file, environment and
    /// flags merged) as TOML, with keys, tokens and passwords redacted.
    Print,
}

#[tokio::main]
async fn main() -> ExitCode {
    let matches = Cli::command().args(config::cli::args()).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match Settings::load(&FlagValues::from_matches(&matches), &process_env) {
        Ok(config) => {
            init_logging(&config, matches!(cli.command, Some(Command::Admin(_))));
            match &cli.command {
                Some(Command::Admin(args)) => admin::main(args, &config).await,
                Some(Command::Gc) => gc_now(&config).await,
                Some(Command::Config(ConfigCommand::Print)) => print_config(&config),
                None => run_server(config).await,
            }
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("distr-server: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, filtered by `log.filter` (`DISTR_LOG`; by default
/// `info`, `warn` for `admin`).
fn init_logging(config: &Settings, admin: bool) {
    let filter = match config.log.filter.as_str() {
        "" if admin => "warn",
        "" => "info",
        filter => filter,
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
}

/// `distr-server config print`.
fn print_config(config: &Settings) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(config::print::render(config)?.as_bytes())?;
    Ok(out.flush()?)
}

async fn run_server(config: Settings) -> anyhow::Result<()> {
    let insecure = config.server.insecure_no_auth;
    let (bootstrap_token, operator_token) = if insecure {
        (None, None)
    } else {
        (
            bootstrap::configured_token(&config.bootstrap)?,
            bootstrap::operator_token(&config.server.operator_token, &config.bootstrap)?,
        )
    };
    let stores = config.open_stores().await?;
    // Bind before the bootstrap, so a busy port fails before anything (a
    // token shown once, say) is created.
    let listen = config.server.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let metrics_listener = metrics_config::bind(&config.metrics).await?;
    let metrics = Metrics::new();
    let keys = load_key_ring(&config)?;
    let sealing = Arc::new(SealingAccessStore::new(
        Arc::new(VersionCachedAccessStore::new(
            stores.access.clone(),
            ACCESS_VERSION_TTL,
        )),
        keys,
    ));
    let access: Arc<dyn AccessStore> = sealing.clone();
    let pull_through = pull_through(&config, &stores, access.clone(), &metrics)?;
    metrics.observe_pull_through(&pull_through);
    // Download analytics: recorded in the background, on a thread of their
    // own at a lower priority, flushed on shutdown.
    let analytics_runtime = match config.analytics.is_enabled() {
        true => Some(
            AnalyticsRuntime::new(config.analytics.writer_priority)
                .context("starting the analytics writer's thread")?,
        ),
        false => None,
    };
    let recorder = analytics_runtime
        .as_ref()
        .map(|rt| rt.start_recorder(stores.analytics.clone(), config.recorder_config()));
    if let Some(r) = &recorder {
        metrics.observe_recorder(r);
    }
    let analytics = recorder.as_ref().map(|r| {
        PullAnalytics::new(r.clone(), access.clone())
            .with_trusted_proxies(config.server.trusted_proxies())
    });
    let service = if insecure {
        tracing::warn!("--insecure-no-auth: NO authentication; anyone who can reach this server may push, pull and delete");
        DistrService::new(stores.registry.clone()).with_pull_through(pull_through.clone())
    } else {
        let outcome = bootstrap::run(
            stores.access.as_ref(),
            &config.bootstrap.org,
            bootstrap_token.as_ref(),
            distr_core::now_ms(),
        )
        .await
        .context("bootstrapping the vendor organisation")?;
        report(&outcome);
        let public_url = public_url(&config, &listener)?;
        secured_service(
            &stores,
            access,
            pull_through.clone(),
            public_url,
            operator_token.as_ref(),
        )
    };
    let service = match analytics {
        Some(a) => service.with_analytics(a),
        None => service,
    };
    let service = service.with_limits(config.request_limits());
    let sync_schedule = config.upstream.sync_cron.cron().cloned().map(|cron| {
        tracing::info!(schedule = %cron, "upstream sync scheduled");
        let (pt, claims) = (pull_through.clone(), stores.claims.clone());
        let holder = format!("{}/{}", listener_addr_or_pid(&listener), std::process::id());
        tokio::spawn(run_on_schedule(
            cron,
            move |at| scheduled_sync(pt.clone(), claims.clone(), holder.clone(), at),
            std::future::pending(),
        ))
    });

    let gc_schedule = {
        let filler = pull_through.filler().clone();
        let in_flight: distr_core::gc::InFlightCheck =
            Arc::new(move |digest| filler.is_filling(digest));
        let holder = format!("{}/{}", listener_addr_or_pid(&listener), std::process::id());
        gc_job::spawn(&stores, config.gc.clone(), Some(in_flight), holder)
    };

    // Seal credentials stored before encryption or under a previous key.
    tokio::spawn(async move {
        match sealing.reseal_all().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                artifacts = n,
                "re-sealed upstream credentials with the current master key"
            ),
            Err(e) => tracing::warn!(error = %e, "could not re-seal upstream credentials"),
        }
    });

    // Handle SIGTERM from now on: anyone who saw the line below may send it.
    let shutdown = shutdown_signal();
    let addr = listener.local_addr()?;
    // The one line on stdout: scripts and tests read the bound address from it.
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {addr}")?;
    out.flush()?;
    drop(out);
    tracing::info!(%addr, data_dir = %config.storage.data_dir.display(), "distr-server started");
    serve_with_metrics(
        listener,
        metrics_listener,
        service,
        &metrics,
        config.metrics.token.get(),
        shutdown,
        config.connection_limits(),
    )
    .await;
    if let Some(task) = sync_schedule {
        task.abort();
    }
    if let Some(task) = gc_schedule {
        task.abort();
    }
    // Every request has drained: write the pulls still queued.
    if let Some(recorder) = recorder {
        recorder.shutdown().await;
    }
    drop(analytics_runtime);
    stores.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The registry with token authentication, entitlement enforcement and the
/// management API.
///
/// One SQLite store is the registry's metadata and the tenancy model; one
/// authenticator serves the registry and the management API, so both agree
/// on tokens (and on revocations, within its one-second cache). One access
/// store serves every in-process reader and writer, so entitlement changes
/// made through the API apply on the very next request; changes made by
/// `distr-server admin` apply within [`ACCESS_VERSION_TTL`].
fn secured_service(
    stores: &Stores,
    access: Arc<dyn AccessStore>,
    pull_through: PullThrough,
    public_url: Option<PublicUrl>,
    operator_token: Option<&PlainToken>,
) -> DistrService {
    let policy = Policy::new(access.clone(), stores.meta.clone());
    let authn = Arc::new(TokenAuthenticator::new(access.clone()));
    let mut api = ManagementApi::new(access, stores.meta.clone(), authn.clone())
        .with_pull_through(pull_through.clone())
        .with_analytics(stores.analytics.clone());
    if let Some(token) = operator_token {
        api = api.with_operator_token(token);
    }
    DistrService::new(stores.registry.clone())
        .with_access_control(match public_url {
            Some(url) => AccessControl::new(policy, authn).with_public_url(url),
            None => AccessControl::new(policy, authn),
        })
        .with_management_api(api)
        .with_pull_through(pull_through)
}

/// The token realm's base: `DISTR_PUBLIC_URL`, else `http://<bound
/// address>` when the server listens on a specific address, else none (the
/// request's `Host`, when it is a plain host, is used).
fn public_url(
    config: &Settings,
    listener: &tokio::net::TcpListener,
) -> anyhow::Result<Option<PublicUrl>> {
    if let Some(url) = &config.server.public_url.0 {
        return Ok(Some(url.clone()));
    }
    let addr = listener.local_addr()?;
    if addr.ip().is_unspecified() {
        return Ok(None);
    }
    Ok(Some(format!("http://{addr}").parse()?))
}

/// The pull-through cache in front of the registry: upstream clients over
/// hyper (TLS by rustls), ECR tokens from the configured ECR endpoint.
fn pull_through(
    config: &Settings,
    stores: &Stores,
    access: Arc<dyn AccessStore>,
    metrics: &Metrics,
) -> anyhow::Result<PullThrough> {
    let mut connector = OciConnector::new()
        .context("setting up the upstream TLS client")?
        .with_egress_policy(config.upstream.allow.policy().clone())
        .with_response_timeout(config.upstream.timeout())
        .with_max_requests_per_host(config.upstream.max_connections as usize);
    if !config.upstream.ecr_endpoint.is_empty() {
        connector = connector.with_ecr_endpoint(config.upstream.ecr_endpoint.clone());
    }
    Ok(PullThrough::new(
        stores.registry.clone(),
        access,
        Arc::new(metrics.connector(Arc::new(connector))),
    ))
}

/// One scheduled upstream sync, run by the replica that claims it.
async fn scheduled_sync(
    pt: PullThrough,
    claims: Arc<dyn RunClaims>,
    holder: String,
    at: std::time::SystemTime,
) {
    let at_ms = at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    match claims.claim_run(UPSTREAM_SYNC_JOB, at_ms, &holder).await {
        Ok(true) => {
            let report = pt.sync_all().await;
            tracing::info!(at_ms, ?report, "scheduled upstream sync done");
        }
        Ok(false) => tracing::debug!("scheduled upstream sync claimed by another replica"),
        Err(e) => tracing::warn!(error = %e, "cannot claim the scheduled upstream sync; skipped"),
    }
}

/// This replica's name in run claims.
fn listener_addr_or_pid(listener: &tokio::net::TcpListener) -> String {
    listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Tells the operator what the bootstrap did. A generated token goes to
/// stderr once, never through the log.
fn report(outcome: &Outcome) {
    match outcome {
        Outcome::Created {
            org,
            admin,
            generated: Some(secret),
        } => {
            eprintln!(
                "bootstrap: vendor organisation {:?} created; vendor admin token (shown once): {}",
                org.slug,
                secret.expose()
            );
            eprintln!(
                "bootstrap: use it as the password of `docker login`/`skopeo --creds` \
                 (any user name); the admin is {}",
                admin.email
            );
        }
        Outcome::Created { org, admin, .. } => tracing::info!(
            org = %org.slug,
            admin = %admin.email,
            "bootstrap: vendor organisation created; its admin authenticates with DISTR_BOOTSTRAP_TOKEN"
        ),
        Outcome::TokenAdded { org, admin } => tracing::info!(
            org = %org.slug,
            admin = %admin.email,
            "bootstrap: added DISTR_BOOTSTRAP_TOKEN as a token of the vendor admin"
        ),
        Outcome::OrgIgnored { slug, existing } => tracing::warn!(
            org = %slug,
            existing = %existing.join(", "),
            "bootstrap: DISTR_BOOTSTRAP_ORG is ignored: the database already has organisations \
             and bootstrap only runs on an empty one; create it with \
             `distr-server admin org create {slug}` or start with the existing slug"
        ),
        Outcome::Unchanged => {}
    }
}

/// `distr-server gc`: one collection now, reported on stdout.
async fn gc_now(config: &Settings) -> anyhow::Result<()> {
    let stores = config.open_stores().await?;
    let (report, evicted) =
        gc_job::run_once(&stores, &config.gc, None, distr_core::now_ms()).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{report:#?}")?;
    if let Some(evicted) = evicted {
        writeln!(out, "{evicted:#?}")?;
    }
    Ok(())
}
