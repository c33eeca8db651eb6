//! `distr-bench analytics-writer`: how many pull events per second the
//! download analytics writer sustains, without HTTP in the way.
//!
//! Events go through the real [`Recorder`](distr_core::analytics::Recorder) (configured exactly as
//! `distr-server` configures it) into the real store: the SQLite database
//! file `distr-server` would open in a data directory (WAL, same
//! connection options), or a Postgres database. A producer offers pulls at a
//! fixed rate (open loop: the schedule never waits for the writer), each
//! built the way the HTTP layer builds it, optionally with blob byte counts
//! alongside; the queue depth is sampled every millisecond. At the end of the
//! window the items written so far give the sustained rate; then the
//! recorder is shut down (the queue drained) and the store is checked to
//! hold exactly the pulls and bytes offered.

mod cli;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use distr_core::access::{ArtifactId, CustomerId, OrgId, TokenId, UserId};
use distr_core::analytics::{
    AnalyticsStore, BytesServed, DynAnalyticsStore, PullEvent, PullId, RecorderConfig,
};
use distr_core::{Digest, TagName};
use distr_server::analytics_runtime::AnalyticsRuntime;
use distr_store_postgres::PostgresStore;
use distr_store_sqlite::{BackgroundPriority, SqliteStore};

pub use cli::{run as run_cli, AnalyticsWriterArgs};

/// The user agent every benchmark pull carries (a typical one).
const USER_AGENT: &str = "docker/27.3.1 go/go1.22.7 git-commit/41ca978 kernel/6.8.0 os/linux arch/amd64 UpstreamClient(Docker-Client/27.3.1 \\(linux\\))";

/// Events per `record` call when prefilling the store.
const PREFILL_BATCH: usize = 2_000;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Pulls offered per second.
    pub rate: u64,
    /// Length of the measured window.
    pub duration: Duration,
    /// Blob byte counts recorded along with each pull (a pull fetching a
    /// config and layers adds one per blob GET).
    pub bytes_per_pull: u32,
    /// Artifacts the pulls are spread over.
    pub artifacts: usize,
    /// Customers the pulls are spread over.
    pub customers: usize,
    /// Events written straight to the store before the run, so that it
    /// measures inserts into tables and indexes of that size.
    pub prefill: u64,
    /// CPU priority of the writer's threads.
    pub writer_priority: BackgroundPriority,
}

/// The store measured.
#[derive(Debug, Clone)]
pub enum Target {
    /// A fresh SQLite analytics database in this data directory, opened as
    /// `distr-server --data-dir` opens it.
    Sqlite(PathBuf),
    /// A Postgres database (the events go to a fresh organisation).
    Postgres(String),
}

/// What a run measured.
#[derive(Debug)]
pub struct Report {
    /// Pulls offered during the window.
    pub offered_pulls: u64,
    /// Items (pulls and byte counts) offered during the window.
    pub offered_items: u64,
    /// Length of the window.
    pub window: Duration,
    /// Items written by the end of the window.
    pub written_in_window: u64,
    /// Items refused because the queue was full.
    pub dropped: u64,
    /// Items lost to failed writes.
    pub lost: u64,
    /// Deepest queue seen (sampled every millisecond).
    pub max_queue: u64,
    /// The queue's capacity.
    pub capacity: usize,
    /// Time from the end of the window until everything queued was written.
    pub drain: Duration,
    /// Pulls found in the store afterwards (must equal `offered_pulls`).
    pub stored_pulls: u64,
    /// Database bytes per pull event (SQLite: file and WAL growth over the
    /// events stored, prefill included; `None` for Postgres).
    pub bytes_per_event: Option<f64>,
}

impl Report {
    /// Items written per second during the window.
    pub fn items_per_sec(&self) -> f64 {
        self.written_in_window as f64 / self.window.as_secs_f64()
    }

    /// Pulls recorded per second during the window (items per second over
    /// the items each pull brings).
    pub fn pulls_per_sec(&self, bytes_per_pull: u32) -> f64 {
        self.items_per_sec() / f64::from(1 + bytes_per_pull)
    }
}

/// The vendor, artifacts, customers and manifest the pulls are about.
struct World {
    org: OrgId,
    artifacts: Vec<ArtifactId>,
    customers: Vec<(CustomerId, UserId, TokenId)>,
    tag: TagName,
    digest: Digest,
}

impl World {
    fn new(o: &Options) -> Self {
        Self {
            org: OrgId::new(),
            artifacts: (0..o.artifacts.max(1)).map(|_| ArtifactId::new()).collect(),
            customers: (0..o.customers.max(1))
                .map(|_| (CustomerId::new(), UserId::new(), TokenId::new()))
                .collect(),
            tag: "1.4.2".parse().expect("a valid tag"),
            digest: Digest::sha256(b"distr-bench analytics-writer manifest"),
        }
    }

    /// Pull `i`, built as the HTTP layer builds one (fresh id, the time
    /// now, a GET by tag of an image manifest by a customer's token).
    fn pull(&self, i: u64) -> PullEvent {
        let (customer, user, token) = self.customers[i as usize % self.customers.len()];
        PullEvent {
            id: PullId::new(),
            at_ms: distr_core::now_ms(),
            org: self.org,
            artifact: self.artifact(i),
            tag: Some(self.tag.clone()),
            digest: self.digest.clone(),
            index: false,
            customer: Some(customer),
            user: Some(user),
            token: Some(token),
            ip: Some(std::net::IpAddr::from([10, 1, (i >> 8) as u8, i as u8])),
            user_agent: Some(USER_AGENT.to_owned()),
        }
    }

    fn artifact(&self, i: u64) -> ArtifactId {
        self.artifacts[i as usize % self.artifacts.len()]
    }

    /// The bytes of one blob GET of pull `i`.
    fn bytes(&self, i: u64) -> BytesServed {
        BytesServed {
            org: self.org,
            artifact: self.artifact(i),
            customer: Some(self.customers[i as usize % self.customers.len()].0),
            bytes: 1 << 20,
            at_ms: distr_core::now_ms(),
        }
    }
}

/// An opened store, with what is needed to close and size it.
enum Opened {
    Sqlite(Arc<SqliteStore>, PathBuf),
    Postgres(Arc<PostgresStore>),
}

impl Opened {
    async fn open(target: &Target, priority: BackgroundPriority) -> anyhow::Result<Self> {
        Ok(match target {
            Target::Sqlite(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let path = distr_server::config::analytics_database_path(dir);
                let store = SqliteStore::open(&path)
                    .await
                    .with_context(|| format!("opening {}", path.display()))?
                    .with_background_analytics(priority);
                Opened::Sqlite(Arc::new(store), path)
            }
            Target::Postgres(url) => Opened::Postgres(Arc::new(
                PostgresStore::connect(url)
                    .await
                    .context("connecting to Postgres")?,
            )),
        })
    }

    fn store(&self) -> Arc<DynAnalyticsStore> {
        match self {
            Opened::Sqlite(s, _) => s.clone(),
            Opened::Postgres(p) => p.clone(),
        }
    }

    /// Bytes of the database file and its WAL (SQLite only).
    fn size(&self) -> Option<u64> {
        match self {
            Opened::Sqlite(_, path) => {
                let len = |p: PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
                let mut wal = path.clone().into_os_string();
                wal.push("-wal");
                Some(len(path.clone()) + len(wal.into()))
            }
            Opened::Postgres(_) => None,
        }
    }

    async fn close(&self) {
        match self {
            Opened::Sqlite(s, _) => s.close().await,
            Opened::Postgres(p) => p.close().await,
        }
    }
}

/// Runs the benchmark against `target` with the recorder configured by
/// `config`.
pub async fn run(target: &Target, config: RecorderConfig, o: &Options) -> anyhow::Result<Report> {
    ensure!(o.rate > 0, "the rate must be positive");
    let opened = Opened::open(target, o.writer_priority).await?;
    let store = opened.store();
    let world = World::new(o);
    prefill(&*store, &world, o.prefill).await?;
    // Sized after the prefill, with its WAL folded in by closing and
    // reopening (SQLite checkpoints on the last close).
    opened.close().await;
    let opened = Opened::open(target, o.writer_priority).await?;
    let store = opened.store();
    let size_before = opened.size();

    let capacity = config.capacity;
    // As distr-server runs it: the writer on a thread of its own.
    let runtime =
        AnalyticsRuntime::new(o.writer_priority).context("starting the writer's thread")?;
    let recorder = runtime.start_recorder(store.clone(), config);
    let per_item = 1 + u64::from(o.bytes_per_pull);
    let started = Instant::now();
    let end = started + o.duration;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let (mut pulls, mut max_queue) = (0u64, 0u64);
    loop {
        tick.tick().await;
        let now = Instant::now().min(end);
        let due = (now - started).as_secs_f64() * o.rate as f64;
        while (pulls as f64) < due {
            recorder.record_pull(world.pull(pulls));
            for _ in 0..o.bytes_per_pull {
                recorder.record_bytes(world.bytes(pulls));
            }
            pulls += 1;
        }
        max_queue = max_queue.max(recorder.queue_depth());
        if now >= end {
            break;
        }
    }
    let window = started.elapsed();
    let at_end = recorder.stats();
    let probe = recorder.clone();
    let drain_started = Instant::now();
    recorder.shutdown().await;
    let drain = drain_started.elapsed();
    let done = probe.stats();

    let stored_pulls = stored_pulls(&*store, &world).await?;
    let stored_bytes: u64 = store
        .bytes_served(world.org, None)
        .await?
        .iter()
        .map(|b| b.bytes)
        .sum();
    let expected_bytes = pulls * u64::from(o.bytes_per_pull) * (1 << 20);
    let dropped = done.dropped;
    if dropped == 0 && done.lost == 0 {
        ensure!(
            stored_pulls == o.prefill + pulls,
            "the store holds {stored_pulls} pulls, {} were recorded",
            o.prefill + pulls
        );
        ensure!(
            stored_bytes == expected_bytes,
            "the store counted {stored_bytes} bytes served, {expected_bytes} were recorded"
        );
    }
    opened.close().await;
    let bytes_per_event = match (size_before, opened.size()) {
        (Some(before), Some(after)) if pulls > 0 => {
            // The prefill's share is measured apart from the run's.
            Some(after.saturating_sub(before) as f64 / pulls as f64)
        }
        _ => None,
    };
    Ok(Report {
        offered_pulls: pulls,
        offered_items: pulls * per_item,
        window,
        written_in_window: at_end.written,
        dropped,
        lost: done.lost,
        max_queue,
        capacity,
        drain,
        stored_pulls: stored_pulls - o.prefill.min(stored_pulls),
        bytes_per_event,
    })
}

/// Writes `events` pulls straight to the store, in batches.
async fn prefill(store: &DynAnalyticsStore, world: &World, events: u64) -> anyhow::Result<()> {
    let mut done = 0;
    while done < events {
        let n = (events - done).min(PREFILL_BATCH as u64);
        let batch: Vec<PullEvent> = (done..done + n).map(|i| world.pull(i)).collect();
        store.record(&batch, &[]).await.context("prefilling")?;
        done += n;
    }
    Ok(())
}

/// Pulls of the benchmark's tag stored, over every artifact.
async fn stored_pulls(store: &DynAnalyticsStore, world: &World) -> anyhow::Result<u64> {
    let mut total = 0;
    for &a in &world.artifacts {
        total += store
            .pulls_per_tag(world.org, a)
            .await?
            .iter()
            .map(|t| t.pulls)
            .sum::<u64>();
    }
    Ok(total)
}
