"""Pacing scenarios of the benchmark (issue 11): how exactly a rate is held,
and how exactly a replay keeps the original spacing. Called by bench.py with
the bench module itself as `b` (its process, broker and result helpers).

Figures come from the daemon's `batch_sent` debug lines: each carries the
loop's own lateness (`lag_ms`) and is timestamped by the OS clock when the
batch has been handed to librdkafka, so both the schedule's own view and the
wall clock's are measured.
"""
import random


def _batches(b, f):
    """(OS time, size, lag ms) of every batch the daemon logged."""
    return [(b.parse_ts(e[2]["timestamp"]), e[2]["size"], e[2]["lag_ms"]) for e in f.find(b.event_is("batch_sent"))]


def _run(b, broker_factory, name, seconds, extra):
    """The daemon run to its own end (RUN_DURATION, or the replay's end): SIGTERM only
    if it is still running a minute after `seconds`."""
    f, rc, _, stopped, _ = b.feed(broker_factory, name, dict(RUST_LOG="kafka_feeder=debug,warn", **extra),
                                  lambda f, port: f.wait_exit(seconds + 60))
    return f, rc, stopped


def run_rate(res, broker_factory, b, rate, seconds):
    """MESSAGES_PER_SECOND=rate for `seconds` (RUN_DURATION): achieved rate by the
    OS clock, the count against r x T, and how late messages went out."""
    name = f"rate {rate:g}/s"
    f, rc, stopped = _run(b, broker_factory, name, seconds,
                          dict(MESSAGES_PER_SECOND=rate, RUN_DURATION=seconds))
    batches = _batches(b, f)
    if len(batches) < 2:
        raise RuntimeError(f"{name}: only {len(batches)} batches:\n{f.tail()}")
    t0, t1 = batches[0][0], batches[-1][0]
    span = t1 - t0
    # Messages handed over in [first batch, last batch): every batch but the last.
    sent = sum(s for _, s, _ in batches[:-1])
    achieved = sent / span if span > 0 else None
    rate_err = achieved / rate - 1 if achieved else None
    # Over the whole run by the loop's clock: floor(r T) + 1 messages are due.
    scheduled = stopped.get("scheduled")
    expected = int(rate * seconds) + 1
    lags = [lag for _, _, lag in batches]
    p50, p99 = b.pct(lags, 50), b.pct(lags, 99)
    sc = f"pacing {name}"
    res.data[sc] = dict(rate=rate, seconds=seconds, batches=len(batches), span_s=span, achieved=achieved,
                        rate_err=rate_err, scheduled=scheduled, expected_count=expected, lag_p50_ms=p50,
                        lag_p99_ms=p99, exit_code=rc, stopped=stopped)
    res.add(sc, "achieved msg/s (OS clock)", f"{achieved:.4f} ({rate_err * 100:+.4f}%)", "within 0.1%",
            abs(rate_err) <= 0.001)
    res.add(sc, "scheduled vs r x T + 1", f"{scheduled} vs {expected}", "within 1", scheduled is not None
            and abs(scheduled - expected) <= 1)
    res.add(sc, "delivered / failed, exit", f"{stopped.get('delivered')} / {stopped.get('failed')}, {rc}")
    res.add(sc, "lateness p50 / p99", f"{p50:.3f} / {p99:.3f} ms")
    b.log(f"{sc}: {res.data[sc]}")


def replay_csv(path, rows, span_s, seed=11):
    """`rows` records with random (exponential) gaps over `span_s` seconds,
    written in shuffled order; returns the sorted offsets in seconds."""
    rng = random.Random(seed)
    gaps = [rng.expovariate(1.0) for _ in range(rows - 1)]
    scale = span_s / sum(gaps)
    offsets = [0.0]
    for g in gaps:
        offsets.append(offsets[-1] + g * scale)
    offsets = [round(o, 3) for o in offsets]
    base = 1_700_000_000_000  # epoch milliseconds
    lines = [f"{i},{base + round(o * 1000)},{i % 97}" for i, o in enumerate(offsets)]
    rng.shuffle(lines)
    path.write_text("id,ts_ms,value\n" + "\n".join(lines) + "\n")
    return offsets


def run_replay(res, broker_factory, b, rows, span_s, speed):
    """REPLAY_SPEED=speed of `rows` records spread over `span_s`: each batch's
    send time (OS clock) against first + offset / speed."""
    path = b.BENCH / f"replay-{rows}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    offsets = replay_csv(path, rows, span_s)
    name = f"replay {rows} rows over {span_s:g} s at {speed:g}x"
    f, rc, stopped = _run(b, broker_factory, name, span_s / speed,
                          dict(DATASET_URI=str(path), REPLAY_TIME_FIELD="ts_ms", REPLAY_SPEED=speed))
    batches = _batches(b, f)
    if not batches:
        raise RuntimeError(f"{name}: no batches:\n{f.tail()}")
    t0 = batches[0][0]
    errors, k = [], 0
    for t, size, _ in batches:
        # The batch starts at record k of the time order.
        errors.append(((t - t0) - (offsets[k] - offsets[0]) / speed) * 1e3)
        k += size
    abs_err = [abs(e) for e in errors]
    p50, p99, mx = b.pct(abs_err, 50), b.pct(abs_err, 99), max(abs_err)
    took = batches[-1][0] - t0
    sc = f"pacing {name}"
    res.data[sc] = dict(rows=rows, span_s=span_s, speed=speed, batches=len(batches), records=k, took_s=took,
                        err_p50_ms=p50, err_p99_ms=p99, err_max_ms=mx, exit_code=rc, stopped=stopped)
    res.add(sc, "first to last record", f"{took:.3f} s (expected {span_s / speed:.3f} s)")
    res.add(sc, "pacing error p50 / p99 / max (OS clock)", f"{p50:.3f} / {p99:.3f} / {mx:.3f} ms", "p99 < 5 ms",
            p99 < 5.0)
    res.add(sc, "records delivered, exit", f"{stopped.get('delivered')} of {rows}, {rc}", "all, exit 0",
            stopped.get("delivered") == rows and rc == 0)
    b.log(f"{sc}: {res.data[sc]}")
