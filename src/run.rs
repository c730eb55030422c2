//! The daemon from start to exit: load, connect, run the loop, report.
//!
//! [`run`] takes the validated config and the shutdown token and returns the
//! final [`Outcome`] or an [`AppError`] that knows its exit code; `main` only sets
//! up logging and signals around it. Tests call [`run`] directly with their own
//! token and a broker they host.

use std::sync::Arc;

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::dataset::reload::{self, Live, Prepare};
use crate::dataset::source::{self, SourceError};
use crate::dataset::{Dataset, LoadSummary};
use crate::exit;
use crate::message::registry::{self, FormatError, Purpose};
use crate::message::template::{self, TemplateError};
use crate::message::{self, IndexError, MessageBuilder, Records};
use crate::observe::events::{self, Stats};
use crate::observe::http;
use crate::pacing::config::Mode;
use crate::pacing::replay::{self, ReplayError, ReplayPlan};
use crate::pacing::replicas::mix_seed;
use crate::pacing::schedule::{self, Outcome, Pacing, Schedule};
use crate::settings::config::Config;
use crate::sink::{CheckError, KafkaSink, SinkError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot listen on HTTP_PORT={port}: {cause}; choose a free port (0 picks any)")]
    Http { port: u16, cause: std::io::Error },
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Check(#[from] CheckError),
    #[error("cannot write the preview: {0}")]
    Output(#[source] std::io::Error),
    #[error(
        "stopped: the Kafka producer stayed broken after {} rebuilds in a row",
        crate::sink::recovery::MAX_REBUILDS_IN_A_ROW
    )]
    ProducerGaveUp,
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The `MESSAGE_*` settings do not fit the loaded dataset.
    #[error(transparent)]
    Messages(#[from] IndexError),
    /// A registry format could not be set up (`VALUE_FORMAT`, `KEY_FORMAT`).
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Template(#[from] TemplateError),
}

impl AppError {
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Source(e) => e.exit_code(),
            AppError::Http { .. } => exit::CONFIG,
            AppError::Sink(SinkError::Cancelled) => exit::OK,
            AppError::Sink(SinkError::Credentials(_)) => crate::sink::msk_iam::MskIamError::EXIT_CODE,
            AppError::Sink(_) => exit::KAFKA_SETUP,
            AppError::Check(_) => exit::KAFKA_UNAVAILABLE,
            // A closed pipe (`preview | head`) is how a reader says it has enough.
            AppError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::OK,
            AppError::Output(_) => exit::INTERNAL,
            AppError::ProducerGaveUp => exit::PRODUCER_FATAL,
            AppError::Replay(ReplayError::NoColumn { .. }) => exit::CONFIG,
            AppError::Replay(ReplayError::NoTimes { .. }) => exit::DATASET_INVALID,
            AppError::Messages(IndexError::UnknownColumn { .. }) => exit::CONFIG,
            AppError::Messages(_) => exit::DATASET_INVALID,
            AppError::Format(e) => e.exit_code(),
            AppError::Template(e) => e.exit_code(),
        }
    }

    /// Stopping on a signal before the loop started is a clean exit, not an error.
    pub fn is_cancelled(&self) -> bool {
        matches!(
            self,
            AppError::Source(SourceError::Cancelled)
                | AppError::Sink(SinkError::Cancelled)
                | AppError::Template(TemplateError::Source { cause: SourceError::Cancelled, .. })
        )
    }
}

/// Exit code for a finished run: 0 only if every message sent was delivered
/// and, for a run that has an end, it reached it (not stopped by a signal).
pub fn outcome_exit_code(o: &Outcome, has_an_end: bool) -> i32 {
    if o.undelivered > 0 || o.totals.failed > 0 {
        exit::UNDELIVERED
    } else if o.signalled && has_an_end {
        exit::INTERRUPTED
    } else {
        exit::OK
    }
}

/// The loop's configuration. A replay reads its time field from the loaded
/// dataset here, once.
pub fn schedule_for<R: Records + ?Sized>(c: &Config, dataset: &R) -> Result<Schedule, AppError> {
    let p = &c.pacing;
    let pacing = match &p.mode {
        Mode::Interval => Pacing::Interval,
        Mode::Rate { rate, arrivals } => Pacing::Rate { rate: *rate, arrivals: *arrivals },
        Mode::Day { schedule, time_scale, arrivals } => {
            Pacing::Day { schedule: Arc::clone(schedule), time_scale: *time_scale, arrivals: *arrivals }
        }
        Mode::Replay { field, speed, looping } => {
            let values = replay::field_values((0..dataset.count()).map(|i| dataset.record(i)), field)?;
            let plan = ReplayPlan::build(values.iter().map(Option::as_deref), p.replica);
            if plan.total == 0 {
                let first = values.iter().flatten().next().cloned().unwrap_or_default();
                return Err(ReplayError::NoTimes { field: field.clone(), first }.into());
            }
            let (first, last) = plan.span();
            events::replay_ready(
                field,
                plan.total,
                plan.order.len(),
                plan.skipped,
                &first.to_string(),
                &last.to_string(),
            );
            Pacing::Replay { plan: Arc::new(plan), speed: *speed, looping: *looping }
        }
    };
    Ok(Schedule {
        pacing,
        run_duration: p.run_duration,
        replica: p.replica,
        interval: c.schedule.produce_interval,
        min_records: c.schedule.min_records_per_batch,
        max_records: c.schedule.max_records_per_batch,
        max_messages: c.schedule.max_messages,
        shutdown_timeout: c.schedule.shutdown_timeout,
        progress_interval: c.logs.progress_interval,
        seed: p.seed,
        log_batches: c.logs.batches,
    })
}

/// Logs what loading found: skipped rows, renamed columns, the summary line.
pub fn report_loaded(stats: &Stats, source: &str, summary: &LoadSummary, memory_bytes: usize) {
    for (line, reason) in &summary.skipped_rows {
        events::row_skipped(source, *line, reason);
    }
    if summary.skipped > summary.skipped_rows.len() as u64 {
        events::more_rows_skipped(source, summary.skipped - summary.skipped_rows.len() as u64);
    }
    for (name, renamed) in &summary.renamed {
        events::duplicate_column(source, name, renamed);
    }
    for column in &summary.widened {
        events::column_as_text(source, column);
    }
    events::dataset_loaded(
        stats,
        &events::DatasetLoaded {
            source,
            records: summary.records,
            seen: summary.seen,
            objects: summary.objects,
            format: &summary.format,
            skipped: summary.skipped,
            columns: summary.columns,
            input_bytes: summary.csv_bytes,
            json_bytes: summary.json_bytes,
            memory_bytes,
            elapsed: summary.elapsed,
        },
    );
}

/// The dataset for `check` and `preview`, loaded and reported as a run does,
/// with the records a registry format's value schema does not take dropped.
pub async fn load_dataset(
    config: &Config,
    stats: &Stats,
    purpose: Purpose,
    shutdown: &CancellationToken,
) -> Result<Dataset, AppError> {
    let (mut dataset, summary) = source::load(&config.dataset, &config.s3, shutdown).await?;
    report_loaded(stats, &config.dataset.uri.to_string(), &summary, dataset.allocated_bytes());
    registry::prepare(config, &mut dataset, purpose, shutdown).await?;
    Ok(dataset)
}

/// With `KAFKA_BOOTSTRAP_SERVERS=embedded`, librdkafka's mock cluster with the
/// topic (3 partitions); it must outlive every producer that talks to it.
pub fn embedded_broker(config: &Config) -> Result<Option<MockCluster<'static, DefaultProducerContext>>, SinkError> {
    if !config.is_embedded_broker() {
        return Ok(None);
    }
    let cluster = MockCluster::new(1).map_err(SinkError::Embedded)?;
    cluster.create_topic(&config.kafka.topic, 3, 1).map_err(SinkError::Embedded)?;
    events::embedded_broker(&cluster.bootstrap_servers());
    Ok(Some(cluster))
}

/// Indexes the dataset for the `MESSAGE_*` settings, right after loading (an
/// unknown key column stops the daemon before it connects), and says what
/// each message will carry.
pub fn build_messages(
    config: &Config,
    dataset: &crate::dataset::Dataset,
    seed: u64,
) -> Result<MessageBuilder, AppError> {
    let spec = &config.messages.spec;
    let started = std::time::Instant::now();
    // Replicas sharing one RANDOM_SEED must not generate the same ids.
    let messages = MessageBuilder::new(spec, dataset, mix_seed(seed, config.pacing.replica))?;
    if *spec != message::MessageSpec::default() {
        let index = messages.index();
        let generated_key = spec.key_field.as_ref().is_some_and(|k| spec.fields.iter().any(|f| &f.name == k));
        let fields: Vec<(&str, u64)> =
            spec.fields.iter().zip(index.present()).map(|(f, &n)| (f.name.as_str(), n)).collect();
        let headers: Vec<&str> = spec.headers.iter().map(|h| h.name.as_str()).collect();
        events::messages_indexed(
            spec.key_field.as_deref(),
            (!generated_key && spec.key_field.is_some()).then_some(index.keyed()),
            &fields,
            dataset.len() as u64,
            &headers,
            index.allocated_bytes(),
            started.elapsed(),
        );
    }
    Ok(messages)
}

/// The records a run samples from, its messages and its schedule: with
/// `MESSAGE_TEMPLATE`, the template's stored records (what depends on each
/// record evaluated now, once), else the dataset as loaded with the
/// `MESSAGE_*` settings indexed. A replay reads its times from the source records.
pub async fn messages_for(
    config: &Config,
    dataset: Dataset,
    seed: u64,
    purpose: Purpose,
    shutdown: &CancellationToken,
) -> Result<(Dataset, MessageBuilder, Schedule, Option<Prepare>), AppError> {
    let Some(source) = &config.messages.template else {
        let schedule = schedule_for(config, &dataset)?;
        let messages = build_messages(config, &dataset, seed)?;
        return Ok((dataset, messages, schedule, None));
    };
    let started = std::time::Instant::now();
    let loaded = template::load::load(source, &config.dataset, &config.s3, shutdown).await?;
    let lookups: Vec<(String, usize)> = loaded.lookups.iter().map(|l| (l.name.clone(), l.rows.len())).collect();
    let columns = message::index::columns(&dataset);
    let tables = Arc::new(loaded.lookups);
    // Replicas sharing one RANDOM_SEED must not generate the same values.
    let prepared =
        template::prepare(&loaded.doc, &dataset, &columns, Arc::clone(&tables), mix_seed(seed, config.pacing.replica))?;
    report_skipped(&prepared);
    let (expressions, per_message, native) = prepared.messages.counts();
    events::template_ready(&events::TemplateReady {
        source: &source.to_string(),
        records: prepared.dataset.len() as u64,
        skipped: prepared.skipped,
        lookups: &lookups,
        expressions,
        per_message,
        native,
        stored_bytes: prepared.dataset.allocated_bytes(),
        elapsed: started.elapsed(),
    });
    let schedule = schedule_for(config, &template::Kept { records: &dataset, kept: &prepared.kept })?;
    let mut messages = MessageBuilder::from_template(Box::new(prepared.messages));
    if config.registry.uses_registry() {
        let seed = mix_seed(seed, config.pacing.replica);
        let samples = registry::template::samples(&loaded.doc, &dataset, &columns, Arc::clone(&tables), seed)?;
        if let Some(wire) = registry::template::prepare(config, &samples, purpose, shutdown).await? {
            messages.set_wire(wire);
        }
    }
    let prepare = reload_prepare(loaded.doc, columns, tables);
    Ok((prepared.dataset, messages, schedule, Some(prepare)))
}

fn report_skipped(prepared: &template::Prepared) {
    for (record, member, reason) in &prepared.skipped_rows {
        events::template_record_skipped(*record, member, reason);
    }
    if prepared.skipped > prepared.skipped_rows.len() as u64 {
        events::template_records_skipped(prepared.skipped - prepared.skipped_rows.len() as u64);
    }
}

/// A reloaded dataset through the template's record stage. Its records must
/// have the columns the template was compiled for (the per-message places in
/// the stored records follow from them); else the reload is refused and the
/// dataset in use stays.
fn reload_prepare(doc: template::Document, columns: Vec<String>, tables: Arc<Vec<template::funcs::Lookup>>) -> Prepare {
    Arc::new(move |raw: Dataset| {
        let now = message::index::columns(&raw);
        let set = |c: &[String]| c.iter().cloned().collect::<std::collections::BTreeSet<String>>();
        if set(&now) != set(&columns) {
            return Err(format!(
                "MESSAGE_TEMPLATE: the reloaded dataset's columns ({}) are not those the template was compiled for ({}); keeping the dataset in use (restart to use the new columns)",
                now.join(", "),
                columns.join(", ")
            ));
        }
        // The record stage draws no generator: the seed does not matter.
        let prepared = template::prepare(&doc, &raw, &now, Arc::clone(&tables), 0).map_err(|e| e.to_string())?;
        report_skipped(&prepared);
        Ok(prepared.dataset)
    })
}

/// Serves HTTP, loads the dataset, connects, and runs the loop until `shutdown`
/// or `MAX_MESSAGES`.
pub async fn run(config: &Config, stats: Arc<Stats>, shutdown: CancellationToken) -> Result<Outcome, AppError> {
    let started = std::time::Instant::now();
    events::starting(&config.kafka.bootstrap_servers, &config.kafka.topic, &config.mode());
    events::effective_config(&config.effective());
    for (name, closest) in &config.near_misses {
        events::unknown_variable(name, closest);
    }
    let seed = config.pacing.seed.unwrap_or_else(message::os_seed);
    events::random_seed(seed, config.pacing.seed.is_some());
    stats.status.set_run(crate::observe::status::RunInfo::new(config, seed));

    // The mock cluster must outlive the producer; it lives in this frame.
    let embedded = embedded_broker(config)?;
    let bootstrap = embedded.as_ref().map_or_else(|| config.kafka.bootstrap_servers.clone(), |c| c.bootstrap_servers());

    // Background tasks (the HTTP server, the broker watch) are tracked and
    // stopped together at the end, before the producer and the embedded broker
    // are dropped, so the `stopped` line is the last one. The HTTP server is up
    // before loading so /healthz answers and /readyz says why it is not ready yet.
    let tasks = TaskTracker::new();
    let stop_tasks = CancellationToken::new();
    let _stop_tasks_on_return = stop_tasks.clone().drop_guard();
    let http_err = |cause| AppError::Http { port: config.logs.http_port, cause };
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", config.logs.http_port)).await.map_err(http_err)?;
    events::http_listening(listener.local_addr().map_err(http_err)?);
    let (http_stats, http_stop) = (Arc::clone(&stats), stop_tasks.clone());
    tasks.spawn(async move {
        if let Err(e) = http::serve(listener, http_stats, http_stop).await {
            events::http_failed(&e);
        }
    });
    tasks.spawn(crate::observe::status::sample(Arc::clone(&stats), stop_tasks.clone()));

    let (mut dataset, summary) = source::load(&config.dataset, &config.s3, &shutdown).await?;
    report_loaded(&stats, &config.dataset.uri.to_string(), &summary, dataset.allocated_bytes());
    let setup = registry::prepare(config, &mut dataset, Purpose::Run, &shutdown).await?;
    let (dataset, mut messages, schedule, mut prepare) =
        messages_for(config, dataset, seed, Purpose::Run, &shutdown).await?;
    let schedule = Schedule { seed: Some(seed), ..schedule };
    // A reloaded dataset is checked (and Avro's encoded) against the value schema in use.
    if let Some(setup) = setup {
        messages.set_wire(setup.wire);
        prepare = setup.reload.or(prepare);
    }

    // Caught before the broker wait, so a SIGHUP from here on never ends the process.
    let reloads = !matches!(schedule.pacing, Pacing::Replay { .. });
    let hup = reload::hangups();
    let sink = Arc::new(KafkaSink::new(config, &bootstrap)?);
    sink.first_token().await?;
    sink.wait_for_broker(&stats, &shutdown).await?;
    tasks.spawn(Arc::clone(&sink).watch_broker(Arc::clone(&stats), stop_tasks.clone()));
    // Ends the run early (like a signal) when rebuilding the producer does not help.
    let run = shutdown.child_token();
    tasks.spawn(Arc::clone(&sink).recover(Arc::clone(&stats), stop_tasks.clone(), run.clone()));

    // Reloads (DATASET_RELOAD_INTERVAL, SIGHUP) swap datasets between batches
    // until the loop ends; a replay keeps the records its plan indexes.
    let live = Live::with_prepare(dataset, prepare);
    if reloads {
        tasks.spawn(reload::watch(
            config.dataset.clone(),
            config.s3.clone(),
            Arc::clone(&live),
            summary.version.clone(),
            Arc::clone(&stats),
            report_loaded,
            hup,
            stop_tasks.clone(),
        ));
    } else {
        // A replay's plan indexes the records loaded at startup: SIGHUP is answered, not obeyed.
        tasks.spawn(reload::ignore(hup, stop_tasks.clone()));
    }

    stats.health.set_not_delivering_after(config.logs.not_delivering_after);
    let outcome = schedule::run(&schedule, live, Arc::clone(&sink), messages, Arc::clone(&stats), run).await;
    let failures = stats.failures_by_reason();
    let gave_up = sink.gave_up();
    // Teardown in order: the tasks, then the producer, then the broker it talks to.
    stop_tasks.cancel();
    tasks.close();
    tasks.wait().await;
    drop(sink);
    drop(embedded);
    if let Some(end) = config.end().filter(|_| outcome.signalled) {
        events::stopped_before_end(&end);
    }
    events::final_report(outcome.totals, &failures, started.elapsed());
    if gave_up {
        return Err(AppError::ProducerGaveUp);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::events::Totals;

    #[test]
    fn lost_messages_come_first_then_a_run_cut_short_then_success() {
        let ok = Outcome { totals: Totals::default(), undelivered: 0, ticks: 3, signalled: false };
        assert_eq!(outcome_exit_code(&ok, true), exit::OK, "reached its end");
        let signalled = Outcome { signalled: true, ..ok };
        assert_eq!(outcome_exit_code(&signalled, false), exit::OK, "no end to reach");
        assert_eq!(outcome_exit_code(&signalled, true), exit::INTERRUPTED);
        let lost = Outcome { undelivered: 2, ..signalled };
        assert_eq!(outcome_exit_code(&lost, true), exit::UNDELIVERED);
        let failed = Outcome { totals: Totals { failed: 1, ..Totals::default() }, ..ok };
        assert_eq!(outcome_exit_code(&failed, false), exit::UNDELIVERED);
    }
}
