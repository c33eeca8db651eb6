//! The `analytics-writer` subcommand: arguments and report.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context as _};
use distr_server::config::Settings;
use distr_store_sqlite::BackgroundPriority;

use super::{Options, Target};

/// Arguments of `distr-bench analytics-writer`.
#[derive(Debug, clap::Args)]
pub struct AnalyticsWriterArgs {
    /// Pull events offered per second.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    rate: u64,
    /// Length of the measured window in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    seconds: u64,
    /// Blob byte counts recorded with each pull (0: manifest GETs only).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=64))]
    bytes_per_pull: u32,
    /// Artifacts the pulls are spread over.
    #[arg(long, default_value_t = 10)]
    artifacts: usize,
    /// Customers the pulls are spread over. Each (customer, artifact) pair
    /// is an insertion point of the customer index, so more of them cost
    /// more per event (see the README).
    #[arg(long, default_value_t = 100)]
    customers: usize,
    /// CPU priority of the writer's threads: `idle` or a nice value
    /// [default: distr-server's].
    #[arg(long)]
    writer_priority: Option<BackgroundPriority>,
    /// Pull events written to the store before the measured window.
    #[arg(long, default_value_t = 0)]
    prefill: u64,
    /// SQLite: the data directory whose `analytics.db` is used (created; by
    /// default a fresh temporary directory, removed afterwards).
    #[arg(long, conflicts_with = "database_url")]
    data_dir: Option<PathBuf>,
    /// Measure a Postgres database instead of SQLite (events go to a fresh
    /// organisation and are left there).
    #[arg(long)]
    database_url: Option<String>,
}

/// Runs the subcommand and prints its report, ending with a `RESULT` line.
/// Fails when any item was dropped or lost.
pub async fn run(a: AnalyticsWriterArgs) -> anyhow::Result<()> {
    let server = Settings::from_env().context("resolving the distr-server configuration")?;
    let config = server.recorder_config();
    let writer_priority = a
        .writer_priority
        .unwrap_or(server.analytics.writer_priority);
    let options = Options {
        rate: a.rate,
        duration: Duration::from_secs(a.seconds),
        bytes_per_pull: a.bytes_per_pull,
        artifacts: a.artifacts,
        customers: a.customers,
        prefill: a.prefill,
        writer_priority,
    };
    let (target, temporary) = match (&a.database_url, &a.data_dir) {
        (Some(url), _) => (Target::Postgres(url.clone()), None),
        (None, Some(dir)) => (Target::Sqlite(dir.clone()), None),
        (None, None) => {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let dir = std::env::temp_dir().join(format!(
                "distr-bench-analytics.{}.{nanos}",
                std::process::id()
            ));
            (Target::Sqlite(dir.clone()), Some(dir))
        }
    };
    let store = match &target {
        Target::Sqlite(dir) => format!("SQLite {}", dir.display()),
        Target::Postgres(_) => "Postgres".to_owned(),
    };
    println!(
        "scenario        analytics writer: {} pulls/s offered for {} s ({} byte counts each), {store}, writer priority {writer_priority}",
        a.rate, a.seconds, a.bytes_per_pull
    );
    println!(
        "recorder        capacity {}, batches of up to {} every {:?}",
        config.capacity, config.max_batch, config.max_delay
    );
    let result = super::run(&target, config, &options).await;
    if let Some(dir) = temporary {
        // Best effort: a leftover temporary directory is harmless.
        let _ = std::fs::remove_dir_all(dir);
    }
    let r = result?;
    let pulls_per_s = r.pulls_per_sec(a.bytes_per_pull);
    println!(
        "offered         {} pulls ({} items) in {:.3} s",
        r.offered_pulls,
        r.offered_items,
        r.window.as_secs_f64()
    );
    println!(
        "written         {} items in the window = {:.0} items/s = {pulls_per_s:.0} pulls/s; the rest within {:.3} s after",
        r.written_in_window,
        r.items_per_sec(),
        r.drain.as_secs_f64()
    );
    println!(
        "queue           deepest {} of {}; {} dropped, {} lost",
        r.max_queue, r.capacity, r.dropped, r.lost
    );
    println!(
        "stored          {} pulls (all checked against the store){}",
        r.stored_pulls,
        r.bytes_per_event.map_or_else(String::new, |b| format!(
            ", {b:.0} bytes of database per event"
        ))
    );
    println!(
        "RESULT scenario=analytics_writer rate={} seconds={:.3} offered_pulls={} written_items={} items_per_s={:.0} pulls_per_s={pulls_per_s:.0} max_queue={} capacity={} dropped={} lost={} drain_s={:.3} bytes_per_event={}",
        a.rate,
        r.window.as_secs_f64(),
        r.offered_pulls,
        r.written_in_window,
        r.items_per_sec(),
        r.max_queue,
        r.capacity,
        r.dropped,
        r.lost,
        r.drain.as_secs_f64(),
        r.bytes_per_event
            .map_or_else(|| "nan".to_owned(), |b| format!("{b:.0}")),
    );
    ensure!(
        r.dropped == 0 && r.lost == 0,
        "{} items dropped, {} lost: the writer did not keep up",
        r.dropped,
        r.lost
    );
    Ok(())
}
