//! Series read at scrape time from parts that keep their own counters: the
//! pull-through cache ([`PullThrough::stats`]) and the analytics recorder
//! ([`Recorder::stats`]).

use std::sync::{Arc, PoisonError, RwLock};

use distr_core::analytics::Recorder;
use distr_core::pullthrough::PullThrough;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

/// The parts observed; set after the [`Metrics`](super::Metrics) is made
/// (the pull-through cache needs the metered connector first).
#[derive(Debug, Default)]
pub(crate) struct Sources {
    pull_through: RwLock<Option<PullThrough>>,
    recorder: RwLock<Option<Recorder>>,
}

impl Sources {
    pub(crate) fn set_pull_through(&self, pt: PullThrough) {
        *self
            .pull_through
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(pt);
    }

    pub(crate) fn set_recorder(&self, recorder: Recorder) {
        *self
            .recorder
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(recorder);
    }
}

/// Encodes the [`Sources`]' counters on every scrape.
#[derive(Debug)]
pub(crate) struct SourcesCollector(pub(crate) Arc<Sources>);

/// `object`, `result`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CacheLabels {
    object: &'static str,
    result: &'static str,
}

/// `result`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

impl Collector for SourcesCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let pull_through = self
            .0
            .pull_through
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(PullThrough::stats);
        if let Some(s) = pull_through {
            let mut family = encoder.encode_descriptor(
                "distr_pullthrough_cache_requests",
                "Pull-through reads by object (blob, manifest) and result: hit = served from \
                 distr's storage (artifacts pushed to distr count as hits too), miss = served \
                 from the upstream.",
                None,
                MetricType::Counter,
            )?;
            for (object, result, value) in [
                ("blob", "hit", s.blob_hits),
                ("blob", "miss", s.blob_misses),
                ("manifest", "hit", s.manifest_hits),
                ("manifest", "miss", s.manifest_misses),
            ] {
                let labels = CacheLabels { object, result };
                ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
            }
            gauge(
                &mut encoder,
                "distr_pullthrough_fills_in_flight",
                "Blob fills (upstream fetches into the cache) running now.",
                s.fills_in_flight,
            )?;
            counter(
                &mut encoder,
                "distr_pullthrough_syncs_started",
                "Artifact syncs with the upstream started.",
                s.syncs_started,
            )?;
            let mut family = encoder.encode_descriptor(
                "distr_pullthrough_syncs_finished",
                "Artifact syncs finished, by result (failed: the sync failed or some tags \
                 could not be synced).",
                None,
                MetricType::Counter,
            )?;
            for (result, value) in [("succeeded", s.syncs_succeeded), ("failed", s.syncs_failed)] {
                ConstCounter::new(value).encode(family.encode_family(&ResultLabels { result })?)?;
            }
        }

        let recorder = self
            .0
            .recorder
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(Recorder::stats);
        if let Some(s) = recorder {
            gauge(
                &mut encoder,
                "distr_analytics_queue_depth",
                "Analytics items waiting to be written.",
                s.queued,
            )?;
            counter(
                &mut encoder,
                "distr_analytics_dropped",
                "Analytics items dropped because the queue was full or closed.",
                s.dropped,
            )?;
            counter(
                &mut encoder,
                "distr_analytics_written",
                "Analytics items written to the store.",
                s.written,
            )?;
            counter(
                &mut encoder,
                "distr_analytics_lost",
                "Analytics items given up on after every write attempt failed.",
                s.lost,
            )?;
        }
        Ok(())
    }
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}
