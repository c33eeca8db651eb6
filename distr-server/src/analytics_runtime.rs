//! [`AnalyticsRuntime`]: the thread download analytics are written from,
//! apart from the threads serving requests.
//!
//! The recorder's writer task assembles each batch (up to 10 000 events,
//! encoded into statement arguments) between two awaits. On the request
//! runtime that is a stretch of up to milliseconds during which the requests
//! queued on that worker thread wait (tokio tasks yield only at awaits). On
//! a runtime of its own, one thread at a lower CPU priority, the batch work
//! never holds up a request, and the operating system gives requests the
//! cores first.

use std::sync::Arc;

use distr_core::analytics::{DynAnalyticsStore, Recorder, RecorderConfig};
use distr_store_sqlite::{lower_thread_priority, BackgroundPriority};
use tokio::runtime::{Builder, Runtime};

/// A one-thread runtime at a lower CPU priority for the analytics writer.
///
/// Keep it until the recorder has shut down; dropping it stops whatever
/// still runs on it.
#[derive(Debug)]
pub struct AnalyticsRuntime {
    runtime: Option<Runtime>,
}

impl AnalyticsRuntime {
    /// Starts the runtime's thread at `priority`.
    pub fn new(priority: BackgroundPriority) -> std::io::Result<Self> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .thread_name("analytics")
            .on_thread_start(move || lower_thread_priority(priority))
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Starts a [`Recorder`] whose writer task runs on this runtime (the
    /// handles may be used from anywhere).
    pub fn start_recorder(
        &self,
        store: Arc<DynAnalyticsStore>,
        config: RecorderConfig,
    ) -> Recorder {
        let runtime = self
            .runtime
            .as_ref()
            .expect("the runtime is only taken when dropped");
        let _entered = runtime.enter();
        Recorder::start(store, config)
    }
}

impl Drop for AnalyticsRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Allowed inside another runtime, unlike dropping it.
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_writer_runs_on_a_low_priority_thread_and_flushes() {
        let store = Arc::new(distr_core::analytics::MemoryAnalyticsStore::default());
        let runtime = AnalyticsRuntime::new(BackgroundPriority::Nice(6)).unwrap();
        let recorder = runtime.start_recorder(store.clone(), RecorderConfig::default());
        let (org, artifact) = (
            distr_core::access::OrgId::new(),
            distr_core::access::ArtifactId::new(),
        );
        recorder.record_bytes(distr_core::analytics::BytesServed {
            org,
            artifact,
            customer: None,
            bytes: 5,
            at_ms: 1,
        });
        recorder.shutdown().await;
        let totals = distr_core::analytics::AnalyticsStore::bytes_served(&*store, org, None)
            .await
            .unwrap();
        assert_eq!(totals[0].bytes, 5);
        #[cfg(target_os = "linux")]
        {
            let mut nice = Vec::new();
            for task in std::fs::read_dir("/proc/self/task").unwrap() {
                let task = task.unwrap().path();
                let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
                if comm.trim_end() == "analytics" {
                    let stat = std::fs::read_to_string(task.join("stat")).unwrap();
                    let after = &stat[stat.rfind(')').unwrap() + 2..];
                    nice.push(after.split(' ').nth(16).unwrap().to_owned());
                }
            }
            assert!(nice.contains(&"6".to_owned()), "{nice:?}");
        }
        drop(runtime);
    }
}
