//! Reloading the dataset without a restart: the loop samples from a [`Live`]
//! dataset, and [`watch`] swaps a new version into it between two batches.
//!
//! Every `DATASET_RELOAD_INTERVAL` the watcher asks the source for the
//! version of what `DATASET_URI` names (the ETag, or a file's length and
//! modification time: one HEAD, LIST or stat); SIGHUP skips the check. A new
//! version is loaded here, in the background, while the loop keeps sending from
//! the old one; then one atomic pointer store swaps it in. A batch already
//! being sent keeps the old dataset alive until it is done, so no message is
//! lost or torn. A failed load logs why and keeps the old dataset. Two
//! datasets are in memory only while a reload runs, which is why the default
//! memory guard is half the limit.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use crate::dataset::source::{self, DatasetSettings, S3Settings, SourceError};
use crate::dataset::{Dataset, LoadSummary};
use crate::observe::events::{self, Stats};

/// What a reloaded dataset goes through before it is swapped in (a
/// template's record stage); `Err` says why it cannot be used.
pub type Prepare = Arc<dyn Fn(Dataset) -> Result<Dataset, String> + Send + Sync>;

/// The dataset in use, swappable while the loop runs.
pub struct Live {
    current: ArcSwap<Dataset>,
    prepare: Option<Prepare>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").field("current", &self.current).field("prepare", &self.prepare.is_some()).finish()
    }
}

impl Live {
    pub fn new(dataset: Dataset) -> Arc<Self> {
        Arc::new(Live { current: ArcSwap::from_pointee(dataset), prepare: None })
    }

    /// A dataset whose reloaded versions go through `prepare` first.
    pub fn with_prepare(dataset: Dataset, prepare: Option<Prepare>) -> Arc<Self> {
        Arc::new(Live { current: ArcSwap::from_pointee(dataset), prepare })
    }

    /// The dataset to sample the next batch from (one atomic increment).
    pub fn current(&self) -> Arc<Dataset> {
        self.current.load_full()
    }

    /// Puts `dataset` in use from the next batch on.
    pub fn swap(&self, dataset: Dataset) {
        self.current.store(Arc::new(dataset));
    }
}

/// A reloaded dataset that `prepare` refused.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Rejected(pub String);

/// Why a reload is attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Interval,
    Signal,
}

impl Trigger {
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Interval => "interval",
            Trigger::Signal => "SIGHUP",
        }
    }
}

/// What one reload attempt did.
#[derive(Debug)]
pub enum Reloaded {
    Unchanged,
    Swapped(LoadSummary, usize),
    Failed(SourceError),
    /// Loaded, but `prepare` refused it: the dataset in use stays, and this
    /// version is not tried again.
    Rejected(Rejected),
}

/// One reload attempt: on the interval only when the version changed; on
/// SIGHUP always. `version` is updated when a new dataset is swapped in.
pub async fn reload_once(
    settings: &DatasetSettings,
    s3: &S3Settings,
    live: &Live,
    version: &mut String,
    trigger: Trigger,
    shutdown: &CancellationToken,
) -> Reloaded {
    if trigger == Trigger::Interval {
        match source::version(settings, s3).await {
            Ok(v) if v == *version => return Reloaded::Unchanged,
            Ok(_) => {}
            Err(e) => return Reloaded::Failed(e),
        }
    }
    match source::load(settings, s3, shutdown).await {
        Ok((dataset, summary)) => {
            let dataset = match &live.prepare {
                None => dataset,
                // CPU work (every record through a template): off the async workers.
                Some(p) => {
                    let p = Arc::clone(p);
                    let prepared = tokio::task::spawn_blocking(move || p(dataset)).await;
                    match prepared.map_err(|e| e.to_string()).and_then(|r| r) {
                        Ok(d) => d,
                        Err(why) => {
                            version.clone_from(&summary.version);
                            return Reloaded::Rejected(Rejected(why));
                        }
                    }
                }
            };
            let memory = dataset.allocated_bytes();
            live.swap(dataset);
            version.clone_from(&summary.version);
            Reloaded::Swapped(summary, memory)
        }
        Err(e) => Reloaded::Failed(e),
    }
}

/// SIGHUP's stream for [`watch`], taken once the first load is done (SIGHUP
/// before that has nothing to reload) and before the broker is waited for,
/// so that a SIGHUP from the `connected` line on is a reload, not the
/// signal's default of ending the process.
pub fn hangups() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}

/// Reloads on `DATASET_RELOAD_INTERVAL` and on SIGHUP (`hup`, from
/// [`hangups`]) until `shutdown`. `report` logs a swapped-in dataset's load
/// line (as at startup).
#[allow(clippy::too_many_arguments)]
pub async fn watch(
    settings: DatasetSettings,
    s3: S3Settings,
    live: Arc<Live>,
    mut version: String,
    stats: Arc<Stats>,
    report: fn(&Stats, &str, &LoadSummary, usize),
    mut hup: Option<tokio::signal::unix::Signal>,
    shutdown: CancellationToken,
) {
    let source_name = settings.uri.to_string();
    let interval = settings.reload_interval;
    loop {
        let trigger = tokio::select! {
            () = shutdown.cancelled() => return,
            () = sleep_or_forever(interval) => Trigger::Interval,
            Some(()) = recv(&mut hup) => Trigger::Signal,
        };
        match reload_once(&settings, &s3, &live, &mut version, trigger, &shutdown).await {
            Reloaded::Unchanged => events::dataset_unchanged(&source_name),
            Reloaded::Swapped(summary, memory) => {
                report(&stats, &source_name, &summary, memory);
                events::dataset_reloaded(&stats, &source_name, trigger.name());
            }
            Reloaded::Failed(SourceError::Cancelled) => return,
            Reloaded::Failed(e) => events::dataset_reload_failed(&stats, &source_name, trigger.name(), &e),
            Reloaded::Rejected(e) => events::dataset_reload_failed(&stats, &source_name, trigger.name(), &e),
        }
    }
}

async fn sleep_or_forever(interval: Option<Duration>) {
    match interval {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Answers each SIGHUP with a line until `shutdown`, where a reload cannot be
/// done (a replay), so the signal does not end the process by its default.
pub async fn ignore(mut hup: Option<tokio::signal::unix::Signal>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            got = recv(&mut hup) => match got {
                Some(()) => events::sighup_ignored(),
                None => return,
            },
        }
    }
}

async fn recv(hup: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match hup {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}
