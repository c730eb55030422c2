//! `kafka-feeder preview [N]`: messages exactly as they would be sent, on
//! stdout, with no broker.

use std::io::Write;
use std::time::SystemTime;

use tokio_util::sync::CancellationToken;

use crate::message::registry::ReadBack;
use crate::message::{self, Message};
use crate::observe::events::{self, Stats};
use crate::pacing::replicas::mix_seed;
use crate::pacing::sampler::Sampler;
use crate::pacing::schedule::Pacing;
use crate::run::{self, AppError};
use crate::settings::config::Config;

/// `kafka-feeder preview [N]`: `n` messages as JSON Lines on `out`, in the
/// order a run with the same settings would send them (a replay's: time order).
pub async fn preview(
    config: &Config,
    stats: &Stats,
    n: u64,
    out: &mut impl Write,
    shutdown: &CancellationToken,
) -> Result<(), AppError> {
    let seed = config.pacing.seed.unwrap_or_else(message::os_seed);
    events::random_seed(seed, config.pacing.seed.is_some());
    let dataset = run::load_dataset(config, stats, crate::message::registry::Purpose::Preview, shutdown).await?;
    let (dataset, mut messages, schedule, _) =
        run::messages_for(config, dataset, seed, crate::message::registry::Purpose::Preview, shutdown).await?;
    let shown = shown(config, &schedule.pacing, dataset.len(), seed, n);
    // Protobuf values are shown as a consumer decodes them: only those shown are read back.
    let (records, shown) = match ReadBack::of(&dataset) {
        Some(back) => {
            let records = back.records(&shown);
            messages.reindex(&records)?;
            (records, (0..shown.len()).collect())
        }
        None => (dataset, shown),
    };
    let mut line = Vec::new();
    for i in shown {
        line.clear();
        preview_line(&mut line, messages.build(&records, i, SystemTime::now()));
        out.write_all(&line).map_err(AppError::Output)?;
    }
    out.flush().map_err(AppError::Output)
}

/// The records of the first `n` messages, in the order a run with the same
/// settings sends them: a replay's time order (again and again with
/// `REPLAY_LOOP`), else the batches the run's sampler draws.
fn shown(config: &Config, pacing: &Pacing, len: usize, seed: u64, n: u64) -> Vec<usize> {
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    if let Pacing::Replay { plan, looping, .. } = pacing {
        let passes = if *looping && !plan.order.is_empty() { usize::MAX } else { 1 };
        return std::iter::repeat_n(&plan.order, passes).flatten().copied().take(n).collect();
    }
    let s = &config.schedule;
    // Seeded as a run's sampler is, so the same RANDOM_SEED shows what it sends.
    let sampler_seed = mix_seed(seed, config.pacing.replica);
    let mut sampler = Sampler::new(s.min_records_per_batch, s.max_records_per_batch, len, Some(sampler_seed));
    let mut shown = Vec::with_capacity(n.min(1 << 20));
    while shown.len() < n {
        let k = sampler.batch_size((n - shown.len()) as u64);
        shown.extend_from_slice(sampler.sample(k));
    }
    shown
}

/// One message as a consumer would see it: key and header values as JSON
/// strings (they are text), the value as sent.
fn preview_line(line: &mut Vec<u8>, m: Message<'_>) {
    let text = |b: &[u8]| serde_json::to_string(&String::from_utf8_lossy(b)).expect("a string always serializes");
    line.extend_from_slice(b"{\"key\":");
    line.extend_from_slice(m.key.map_or_else(|| "null".to_owned(), text).as_bytes());
    line.extend_from_slice(b",\"headers\":{");
    for (n, (name, value)) in m.headers.iter().enumerate() {
        if n > 0 {
            line.push(b',');
        }
        line.extend_from_slice(text(name.as_bytes()).as_bytes());
        line.push(b':');
        line.extend_from_slice(text(value).as_bytes());
    }
    line.extend_from_slice(b"},\"value\":");
    line.extend_from_slice(m.payload);
    line.extend_from_slice(b"}\n");
}
