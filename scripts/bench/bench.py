#!/usr/bin/env python3
"""kafka-feeder benchmark driver (issue 6). Run it through scripts/bench/run.sh,
which builds the binaries and generates the datasets first.

Every process is a child of this script on 127.0.0.1: a broker (tansu, or
librdkafka's mock cluster in a process of its own), the s3s-fs S3 server
example, kafka-feeder's release binary, and examples/bare_producer. Figures
come from the OS (/proc, wait4 rusage), from the daemon's JSON log lines and
from its /readyz and /metrics endpoints. Prints one table; writes the figures
as JSON and the table as Markdown under target/bench/.

Python 3 standard library only. Standalone use:
    scripts/bench/bench.py [--short] [--only load,schedule,pacing,throughput,keyed,shutdown]
"""
import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import harness  # noqa: E402
from harness import (Feeder, Proc, cpu_seconds, env_with, event_is, free_port, http_get,  # noqa: E402,F401
                     metric, peak_rss_bytes, render_table)

ROOT = Path(__file__).resolve().parents[2]
BENCH = Path(os.environ.get("BENCH_WORK", ROOT / "target" / "bench"))
BIN = Path(os.environ.get("BENCH_FEEDER", ROOT / "target" / "release" / "kafka-feeder"))
BARE = Path(os.environ.get("BENCH_BARE", ROOT / "target" / "release" / "examples" / "bare_producer"))
S3_BIN = Path(os.environ.get("BENCH_S3", ROOT / "target" / "release" / "examples" / "s3_server"))
TOPIC = "bench"
PARTITIONS = 6
S3_KEY, S3_SECRET, S3_BUCKET = "bench", "bench-secret-key", "bench"


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


# ---- brokers ---------------------------------------------------------------------------

class MockBroker:
    """librdkafka's mock cluster in its own process (examples/bare_producer mock-broker)."""
    kind = "librdkafka mock cluster (separate process)"

    def start(self):
        self.proc = Proc([str(BARE), "mock-broker", "--topic", TOPIC, "--partitions", str(PARTITIONS)],
                         name="mock-broker", stdin=subprocess.PIPE)
        e = self.proc.wait_line(lambda e: e[1].startswith("bootstrap="), 30)
        if not e:
            raise RuntimeError(f"mock broker did not start:\n{self.proc.tail()}")
        self.bootstrap = e[1].split("=", 1)[1].strip()
        return self

    def stop(self):
        try:
            self.proc.p.stdin.close()
        except OSError:
            pass
        self.proc.stop(5)


class TansuBroker(harness.Tansu):
    def __init__(self, binary):
        super().__init__(binary=binary)
        self.kind = f"tansu ({self.build_profile()}, memory storage)"

    def start(self):
        super().start(timeout=60, rss_every=None)
        self.create_topic(TOPIC, PARTITIONS)
        return self

    def stop(self):
        super().stop(10)


def make_broker(choice):
    tansu = harness.tansu_binary()
    if choice == "tansu" or (choice == "auto" and tansu):
        if not tansu:
            raise SystemExit("BENCH_BROKER=tansu but no tansu binary (run through scripts/bench/run.sh, "
                             "or set BENCH_TANSU)")
        return lambda: TansuBroker(tansu)
    return MockBroker


# ---- the daemon ------------------------------------------------------------------------

def feeder_env(bootstrap, http_port, **extra):
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "HOME", "LANG", "TZ", "LD_LIBRARY_PATH")}
    env.update({
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_TOPIC": TOPIC,
        "LOG_FORMAT": "json",
        "HTTP_PORT": str(http_port),
        "PROGRESS_INTERVAL": "5",
    })
    return env_with(env, **{k: v for k, v in extra.items() if v is not None})


def start_feeder(env, name="kafka-feeder", hooks=None):
    return Feeder(BIN, env, name=name, hooks=hooks)


def feed(broker_factory, name, extra, during, connect_timeout=120, term_timeout=30):
    """A fresh broker and the daemon feeding it (`extra`: its variables): once connected,
    `during(feeder, http_port)` runs (it sleeps, changes things, or waits for the exit),
    then SIGTERM. Returns (feeder, exit code, SIGTERM -> exit s or None, the stopped
    line or {}, what `during` returned)."""
    broker = broker_factory().start()
    port = free_port()
    f = None
    try:
        f = start_feeder(feeder_env(broker.bootstrap, port, **extra), name=f"feeder-{name}")
        if not f.wait_connected(connect_timeout):
            raise RuntimeError(f"feeder did not connect:\n{f.tail()}")
        out = during(f, port)
        running = f.alive()
        rc, t_down = f.terminate(term_timeout)
    finally:
        if f is not None:
            f.stop()
        broker.stop()
    return f, rc, t_down if running else None, f.stopped(), out


# ---- results ---------------------------------------------------------------------------

class Results:
    def __init__(self):
        self.rows = []  # (scenario, metric, value, target, verdict)
        self.data = {}

    def add(self, scenario, metric, value, target="", ok=None):
        verdict = "" if ok is None else ("met" if ok else "MISSED")
        self.rows.append((scenario, metric, value, target, verdict))

    def table(self):
        return render_table(("scenario", "figure", "value", "target", "verdict"), self.rows, markdown=True)


def fmt(x, digits=2):
    if x is None:
        return "n/a"
    return f"{x:,.{digits}f}"


# ---- scenario: loading -----------------------------------------------------------------

def load_once(broker_factory, label, path, s3, **extra):
    """One daemon start against one dataset: figures of that run."""
    broker = broker_factory().start()
    port = free_port()
    env = feeder_env(broker.bootstrap, port, DATASET_URI=f"s3://{S3_BUCKET}/{path.name}",
                     ENDPOINT_URL=s3["endpoint"], KEY=S3_KEY, SECRET=S3_SECRET, PRESET="normal", **extra)
    cpu_at = {}
    f = None
    try:
        def mark_cpu(entry):
            if entry[2] is not None and entry[2].get("event") == "dataset_loaded" and "cpu" not in cpu_at:
                cpu_at["cpu"] = cpu_seconds(f.p.pid)
        f = start_feeder(env, name=f"feeder-load-{label}", hooks=[mark_cpu])
        t0 = f.t_start
        loaded = f.wait_line(event_is("dataset_loaded"), 600)
        if not loaded:
            raise RuntimeError(f"no 'dataset loaded' line:\n{f.tail()}")
        t_ready = t_first = None
        end = time.monotonic() + 120
        while time.monotonic() < end and (t_ready is None or t_first is None):
            if t_ready is None and http_get(port, "/readyz")[0] == 200:
                t_ready = time.monotonic()
            if t_first is None:
                code, body = http_get(port, "/metrics")
                if code == 200 and (metric(body, "kafka_feeder_messages_delivered_total") or 0) >= 1:
                    t_first = time.monotonic()
                    t_ready = t_ready or t_first  # a delivery implies ready
            time.sleep(0.005)
        peak = peak_rss_bytes(f.p.pid)
        rc, t_down = f.terminate(30)
    finally:
        if f is not None:
            f.stop()
        broker.stop()
    d = loaded[2]
    return dict(records=d["records"], of=d.get("of", d["records"]), csv_bytes=d["csv_bytes"],
                json_bytes=d["json_bytes"], records_per_s=d["records"] / d["load_seconds"],
                memory_bytes=d["memory_bytes"], load_seconds=d["load_seconds"],
                mb_per_s=d["csv_bytes"] / 1e6 / d["load_seconds"],
                cpu_to_loaded=cpu_at.get("cpu"), loaded_line_s=loaded[0] - t0,
                ready_s=(t_ready - t0) if t_ready else None,
                first_delivery_s=(t_first - t0) if t_first else None, peak_rss=peak,
                sigterm_to_exit_s=t_down, exit_code=rc, loadavg=os.getloadavg()[0])


def run_load(res, broker_factory, datasets, s3, repeats):
    for label, path in datasets:
        runs = [load_once(broker_factory, label, path, s3) for _ in range(repeats)]
        for r in runs:
            log(f"load {label}: {r}")
        # The machine is shared: the fastest start is the one least disturbed.
        r = min(runs, key=lambda x: x["ready_s"] or 1e9)
        load_s, mbps, json_b, peak = r["load_seconds"], r["mb_per_s"], r["json_bytes"], r["peak_rss"]
        t_ready, t_first = r["ready_s"], r["first_delivery_s"]
        ratio = peak / json_b if peak else None
        limit = 1.3 * json_b + 40e6
        sc = f"load {label}"
        res.data[sc] = dict(best=r, runs=runs)
        res.add(sc, "records / CSV MB / JSON MB", f"{r['records']:,} / {r['csv_bytes']/1e6:.1f} / {json_b/1e6:.1f}")
        res.add(sc, "runs (best shown; MB/s of each)", f"{repeats}: " + " ".join(f"{x['mb_per_s']:.0f}" for x in runs))
        res.add(sc, "CSV parse+convert (load_seconds)", f"{load_s:.3f} s")
        res.add(sc, "load throughput", f"{mbps:.0f} MB/s", ">= 150 MB/s", mbps >= 150)
        if r["cpu_to_loaded"]:
            res.add(sc, "CSV MB per CPU second (start -> loaded, whole daemon)",
                    f"{r['csv_bytes'] / 1e6 / r['cpu_to_loaded']:.0f}")
        res.add(sc, "start -> 'dataset loaded' line", f"{r['loaded_line_s']:.3f} s")
        res.add(sc, "  of which before the first CSV byte (startup, S3 GET)", f"{r['loaded_line_s'] - load_s:.3f} s")
        one_m = r["records"] == 1_000_000
        res.add(sc, "start -> ready (/readyz 200)", f"{t_ready:.3f} s" if t_ready else "n/a",
                "< 1.5 s" if one_m else "", (t_ready is not None and t_ready < 1.5) if one_m else None)
        res.add(sc, "start -> first delivered", f"{t_first:.3f} s" if t_first else "n/a")
        res.add(sc, "peak RSS (VmHWM)", f"{peak/1e6:.1f} MB" if peak else "n/a",
                f"<= 1.3 x JSON + 40 MB = {limit/1e6:.0f} MB", peak is not None and peak <= limit)
        res.add(sc, "peak RSS / JSON bytes", fmt(ratio))


# ---- scenarios: dataset formats, sampled load, reload (issue 12) ------------------------

def run_formats(res, broker_factory, files, s3, repeats):
    """The same records as CSV, CSV.gz, JSON Lines and Parquet: load figures of each."""
    for label, path in files:
        runs = [load_once(broker_factory, label, path, s3) for _ in range(repeats)]
        for r in runs:
            log(f"format {label}: {r}")
        r = min(runs, key=lambda x: x["load_seconds"])
        sc = f"format {label}"
        res.data[sc] = dict(best=r, runs=runs, file_bytes=path.stat().st_size)
        mbps, rps = r["mb_per_s"], r["records_per_s"]
        # Input MB: what the parser read after decompression (Parquet: its uncompressed column data).
        res.add(sc, "records / file MB / input MB / JSON MB",
                f"{r['records']:,} / {path.stat().st_size/1e6:.1f} / {r['csv_bytes']/1e6:.1f} / {r['json_bytes']/1e6:.1f}")
        res.add(sc, "load seconds (best of runs)", f"{r['load_seconds']:.3f} s ({repeats} runs)")
        res.add(sc, "load throughput", f"{mbps:.0f} MB/s, {rps/1e6:.2f} M records/s",
                ">= 150 MB/s or 1M records/s", mbps >= 150 or rps >= 1e6)
        if r["cpu_to_loaded"]:
            # The machine is shared: CPU seconds say what the load costs whatever else runs.
            res.add(sc, "per CPU second (start -> loaded, whole daemon)",
                    f"{r['csv_bytes'] / 1e6 / r['cpu_to_loaded']:.0f} MB, "
                    f"{r['records'] / 1e6 / r['cpu_to_loaded']:.2f} M records")
        res.add(sc, "peak RSS (VmHWM)", f"{r['peak_rss']/1e6:.1f} MB" if r["peak_rss"] else "n/a")


def run_sampled(res, broker_factory, big, base, keep, s3):
    """A file 10x larger loaded with DATASET_MAX_RECORDS against the smaller file loaded whole."""
    whole = load_once(broker_factory, "whole", base, s3)
    sampled = load_once(broker_factory, "sampled", big, s3, DATASET_MAX_RECORDS=keep)
    log(f"sampled: whole {whole}; sampled {sampled}")
    sc = f"sampled {sampled['of']:,} rows"
    res.data[sc] = dict(whole=whole, sampled=sampled)
    res.add(sc, "records kept of read", f"{sampled['records']:,} of {sampled['of']:,}")
    res.add(sc, "load seconds / input MB/s", f"{sampled['load_seconds']:.2f} s / {sampled['mb_per_s']:.0f} MB/s")
    if sampled["cpu_to_loaded"]:
        res.add(sc, "input MB per CPU second", f"{sampled['csv_bytes'] / 1e6 / sampled['cpu_to_loaded']:.0f}")
    ratio = sampled["peak_rss"] / whole["peak_rss"] if sampled["peak_rss"] and whole["peak_rss"] else None
    res.add(sc, f"peak RSS vs {whole['records']:,} rows loaded whole",
            f"{sampled['peak_rss']/1e6:.1f} MB vs {whole['peak_rss']/1e6:.1f} MB ({fmt(ratio)}x)",
            "<= 1.3x", ratio is not None and ratio <= 1.3)


def run_reload(res, broker_factory, base, s3root, s3, seconds):
    """A reload of the base object while sending 1,000 msg/s: lateness and losses."""
    key = "reload-" + base.name
    obj = s3root / S3_BUCKET / key
    shutil.copyfile(base, obj)
    env = dict(DATASET_URI=f"s3://{S3_BUCKET}/{key}", ENDPOINT_URL=s3["endpoint"],
               KEY=S3_KEY, SECRET=S3_SECRET, PRODUCE_INTERVAL="0.01", MIN_RECORDS_PER_BATCH="10",
               MAX_RECORDS_PER_BATCH="10", DATASET_RELOAD_INTERVAL="0.5", RUST_LOG="kafka_feeder=debug,warn")

    def change_and_wait(f, _port):
        time.sleep(seconds)
        # A new version: the same rows plus a copy of the last one, so the ETag changes.
        tmp = Path(str(obj) + ".new")
        shutil.copyfile(base, tmp)
        with open(base, "rb") as src:
            src.seek(max(0, base.stat().st_size - 4096))
            last = src.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
        with open(tmp, "ab") as out:
            out.write(last + b"\n")
        os.replace(tmp, obj)
        t_change = time.monotonic()
        reloaded = f.wait_line(event_is("dataset_reloaded"), 300)
        if not reloaded:
            raise RuntimeError(f"no dataset_reloaded line:\n{f.tail()}")
        time.sleep(seconds)
        return t_change, reloaded

    f, rc, _, stopped, (t_change, reloaded) = feed(broker_factory, "reload", env, change_and_wait,
                                                   connect_timeout=300)
    ticks = [e[2] for e in f.find(event_is("batch_sent"))]
    loads = f.find(event_is("dataset_loaded"))
    lags = [t["lag_ms"] for t in ticks]
    # Ticks from the reload's start (the change) to its end.
    t0 = parse_ts(loads[-1][2]["timestamp"]) - loads[-1][2]["load_seconds"] if loads else None
    t1 = parse_ts(reloaded[2]["timestamp"])
    during = [t["lag_ms"] for t in ticks if t0 is not None and t0 - 0.1 <= parse_ts(t["timestamp"]) <= t1 + 0.1]
    sc = "reload under 1,000 msg/s"
    res.data[sc] = dict(ticks=len(ticks), during=len(during), lag_max_ms=max(lags) if lags else None,
                        lag_max_during_ms=max(during) if during else None, stopped=stopped, exit_code=rc,
                        reload_load_seconds=loads[-1][2]["load_seconds"] if loads else None,
                        change_to_swap_s=reloaded[0] - t_change)
    res.add(sc, "records reloaded / load seconds",
            f"{loads[-1][2]['records']:,} / {loads[-1][2]['load_seconds']:.2f} s" if loads else "n/a")
    res.add(sc, "ticks during the reload / whole run", f"{len(during)} / {len(ticks)}")
    mx = max(during) if during else None
    res.add(sc, "latest tick during the reload", f"{mx:.2f} ms" if mx is not None else "n/a", "<= 50 ms",
            mx is not None and mx <= 50)
    lost = (stopped.get("failed"), stopped.get("undelivered"))
    res.add(sc, "failed / undelivered, exit", f"{lost[0]} / {lost[1]}, {rc}", "0 / 0",
            lost == (0, 0) and rc == 0)


# ---- scenario: schedule accuracy -------------------------------------------------------

def parse_ts(s):
    # RFC 3339 with up to nanoseconds; Python wants at most microseconds.
    s = s.replace("Z", "+00:00")
    if "." in s:
        head, rest = s.split(".", 1)
        digits = "".join(c for c in rest if c.isdigit())
        tz = rest[len(digits):]
        s = f"{head}.{digits[:6].ljust(6, '0')}{tz}"
    return dt.datetime.fromisoformat(s).timestamp()


def run_schedule(res, broker_factory, name, interval, lo, hi, seconds, preset=None):
    extra = {"RUST_LOG": "kafka_feeder=debug,warn"}
    if preset:
        extra["PRESET"] = preset
    else:
        extra.update(PRODUCE_INTERVAL=interval, MIN_RECORDS_PER_BATCH=lo, MAX_RECORDS_PER_BATCH=hi)
    f, rc, t_down, stopped, _ = feed(broker_factory, name, extra, lambda f, port: time.sleep(seconds))
    ticks = [e[2] for e in f.find(event_is("batch_sent"))]
    if len(ticks) < 3:
        raise RuntimeError(f"{name}: only {len(ticks)} 'batch sent' lines:\n{f.tail()}")
    # When each batch was actually enqueued, by the OS clock (the log line's time).
    sched = [(t["tick"], parse_ts(t["timestamp"]), t["size"], t["lag_ms"]) for t in ticks]
    k0, s0 = sched[0][0], sched[0][1]
    k1, s1 = sched[-1][0], sched[-1][1]
    span = s1 - s0
    nominal = (k1 - k0) * interval
    # >0: the last batch went out later than first + ticks x interval: the schedule
    # slipped over the run. A fixed-rate loop keeps this at the last tick's own lateness.
    drift_ms = (span - nominal) * 1e3
    tick_rate_err = (nominal / span - 1) if span > 0 else None
    # Messages per second over [first tick, last tick): sizes of every tick but the last.
    sent = sum(t[2] for t in sched[:-1])
    achieved = sent / span if span > 0 else None
    expected = (lo + hi) / 2 / interval
    rate_err = achieved / expected - 1 if achieved else None
    # The batch sizes are random: over n ticks their mean has a standard deviation
    # of sd(U{lo..hi})/sqrt(n); a perfect schedule still lands within +-2 of those.
    n = len(sched) - 1
    band = 2 * ((((hi - lo + 1) ** 2 - 1) / 12) ** 0.5) / ((lo + hi) / 2) / max(n, 1) ** 0.5
    # The same rate, corrected for the sizes actually drawn: what the schedule controls.
    drawn_expected = (sent / n) / interval if n else None
    sched_err = achieved / drawn_expected - 1 if achieved and drawn_expected else None
    lags = [t[3] for t in sched]
    late_end = statistics.median(lags[-max(len(lags) // 10, 1):])
    late_start = statistics.median(lags[:max(len(lags) // 10, 1)])
    p50, p99, mx = pct(lags, 50), pct(lags, 99), max(lags)
    res.data[f"schedule {name}"] = dict(interval=interval, min=lo, max=hi, ticks=len(sched), span_s=span,
                                        drift_ms=drift_ms, tick_rate_err=tick_rate_err, achieved=achieved,
                                        expected=expected, rate_err=rate_err, sampling_band=band,
                                        sched_err=sched_err, lag_p50_ms=p50, lag_p99_ms=p99, lag_max_ms=mx,
                                        lag_median_first_10pct=late_start, lag_median_last_10pct=late_end,
                                        sigterm_to_exit_s=t_down, exit_code=rc, stopped=stopped)
    sc = f"schedule {name}"
    res.add(sc, "ticks / span", f"{len(sched):,} ticks / {span:.2f} s")
    res.add(sc, "achieved vs expected msg/s", f"{achieved:.2f} vs {expected:.2f} ({rate_err*100:+.2f}%)",
            f"within 0.5% (sampling noise +-{band*100:.1f}%)", abs(rate_err) <= max(0.005, band))
    res.add(sc, "rate vs drawn batch sizes (schedule only)", f"{sched_err*100:+.4f}%", "within 0.5%",
            abs(sched_err) <= 0.005)
    res.add(sc, "tick rate error (OS clock)", f"{tick_rate_err*1e6:+.1f} ppm")
    res.add(sc, "total drift (last batch vs first + n x interval)", f"{drift_ms:+.3f} ms", "no cumulative drift",
            abs(drift_ms) < max(2.0, 2 * p99))
    late2 = sum(1 for x in lags if x >= 2.0)
    res.add(sc, "ticks enqueued >= 2 ms late", f"{late2} of {len(lags)}")
    res.add(sc, "lateness median first/last 10%", f"{late_start:.3f} / {late_end:.3f} ms")
    target = "p99 < 2 ms" if preset == "normal" else ""
    res.add(sc, "tick lateness p50 / p99 / max", f"{p50:.3f} / {p99:.3f} / {mx:.3f} ms", target,
            (p99 < 2.0) if preset == "normal" else None)
    res.add(sc, "SIGTERM -> exit", f"{t_down:.3f} s" if t_down else "n/a", "< 1 s",
            t_down is not None and t_down < 1.0)
    res.add(sc, "delivered / failed / undelivered, exit",
            f"{stopped.get('delivered')} / {stopped.get('failed')} / {stopped.get('undelivered')}, {rc}")
    log(f"{sc}: {res.data[sc]}")


# ---- scenario: shutdown under heavy load ------------------------------------------------

def run_shutdown(res, broker_factory, seconds, interval, batch):
    def in_flight_after(f, port):
        time.sleep(seconds)
        code, body = http_get(port, "/metrics")
        return metric(body, "kafka_feeder_messages_in_flight") if code == 200 else None

    f, rc, t_down, stopped, in_flight = feed(
        broker_factory, "shutdown", dict(PRODUCE_INTERVAL=interval, MIN_RECORDS_PER_BATCH=batch,
                                         MAX_RECORDS_PER_BATCH=batch), in_flight_after, term_timeout=60)
    sc = "shutdown under load"
    rate = batch / interval
    res.data[sc] = dict(interval=interval, batch=batch, seconds=seconds, in_flight_at_term=in_flight,
                        sigterm_to_exit_s=t_down, exit_code=rc, stopped=stopped)
    res.add(sc, "load", f"{batch} msgs every {interval*1e3:g} ms ({rate:,.0f} msg/s asked), {seconds:g} s")
    res.add(sc, "in flight at SIGTERM", fmt(in_flight, 0))
    res.add(sc, "SIGTERM -> exit", f"{t_down:.3f} s" if t_down else "n/a", "< 1 s",
            t_down is not None and t_down < 1.0)
    res.add(sc, "delivered / failed / undelivered, exit",
            f"{stopped.get('delivered')} / {stopped.get('failed')} / {stopped.get('undelivered')}, {rc}")
    log(f"{sc}: {res.data[sc]}")


# ---- scenario: throughput ceiling --------------------------------------------------------

def measure(proc, ready_pred, timeout):
    """Seconds and CPU seconds from the ready line to exit."""
    mark = {}

    def hook(entry):
        if "t" not in mark and ready_pred(entry):
            mark["t"], mark["cpu"] = entry[0], cpu_seconds(proc.p.pid)
    proc.hooks.append(hook)
    # The line may have arrived before the hook was installed.
    early = proc.find(ready_pred)
    if early and "t" not in mark:
        mark["t"], mark["cpu"] = early[0][0], cpu_seconds(proc.p.pid)
    rc = proc.wait_exit(timeout)
    if rc is None:
        proc.stop()
        raise RuntimeError(f"{proc.name} did not finish in {timeout} s:\n{proc.tail()}")
    if "t" not in mark:
        raise RuntimeError(f"{proc.name}: no ready line:\n{proc.tail()}")
    return proc.t_exit - mark["t"], proc.cpu_total() - mark["cpu"], rc


# The keyed round (issue 10): the key from a generated field and two generated
# fields, against the bare producer sending the same messages, built once.
KEYED = dict(MESSAGE_KEY_FIELD="transaction_id", MESSAGE_FIELDS="transaction_id=uuid(),timestamp=now()")


def run_throughput(res, broker_factory, messages, rounds, dataset, keyed=False):
    runs = {"bare": [], "feeder": []}
    sc = "throughput keyed" if keyed else "throughput"
    extra_bare = ["--key-field", KEYED["MESSAGE_KEY_FIELD"], "--fields", KEYED["MESSAGE_FIELDS"]] if keyed else []
    extra_env = KEYED if keyed else {}
    broker_kind = None
    for r in range(rounds):
        # Alternate who goes first, so a slow spell on the machine hits both.
        for who in (("bare", "feeder") if r % 2 == 0 else ("feeder", "bare")):
            broker = broker_factory().start()
            broker_kind = broker.kind
            cpu_b0 = cpu_seconds(broker.proc.p.pid)
            try:
                if who == "bare":
                    p = Proc([str(BARE), "produce", "--bootstrap", broker.bootstrap, "--topic", TOPIC,
                              "--dataset", str(dataset), "--messages", str(messages)] + extra_bare, name="bare")
                    secs, cpu, rc = measure(p, lambda e: e[1] == "ready", 600)
                    done = p.find(lambda e: e[1].startswith("done "))
                    delivered = int(done[-1][1].split("delivered=")[1].split()[0]) if done else 0
                else:
                    env = feeder_env(broker.bootstrap, free_port(), DATASET_URI=str(dataset),
                                     PRODUCE_INTERVAL="0.001", MIN_RECORDS_PER_BATCH=10000,
                                     MAX_RECORDS_PER_BATCH=10000, MAX_MESSAGES=messages, **extra_env)
                    p = start_feeder(env, name="feeder-throughput")
                    secs, cpu, rc = measure(p, event_is("broker_connected"), 600)
                    delivered = p.counts()[0]
                cpu_b = cpu_seconds(broker.proc.p.pid) - cpu_b0
            finally:
                broker.stop()
            if rc != 0 or delivered < messages:
                raise RuntimeError(f"{who}: exit {rc}, delivered {delivered} of {messages}:\n{p.tail()}")
            run = dict(seconds=secs, cpu=cpu, rate=delivered / secs, cpu_per_m=cpu / delivered * 1e6,
                       broker_cpu_per_m=cpu_b / delivered * 1e6, delivered=delivered)
            runs[who].append(run)
            log(f"{sc} round {r + 1} {who}: {run}")

    def med(who, k):
        return statistics.median(x[k] for x in runs[who])
    b_rate, f_rate = med("bare", "rate"), med("feeder", "rate")
    b_cpu, f_cpu = med("bare", "cpu_per_m"), med("feeder", "cpu_per_m")
    res.data[sc] = dict(broker=broker_kind, messages=messages, rounds=rounds, runs=runs, keyed=keyed)
    res.add(sc, "broker", broker_kind)
    if keyed:
        res.add(sc, "feeder settings (bare: the same messages, built once)",
                " ".join(f"{k}={v}" for k, v in KEYED.items()))
    res.add(sc, "messages per run x rounds (median shown)", f"{messages:,} x {rounds}")
    for who, label in (("bare", "bare"), ("feeder", "feeder")):
        res.add(sc, f"{label} CPU s/M per round", " ".join(f"{x['cpu_per_m']:.2f}" for x in runs[who]))
    res.add(sc, "bare producer msg/s", f"{b_rate:,.0f}")
    res.add(sc, "kafka-feeder msg/s", f"{f_rate:,.0f}")
    res.add(sc, "feeder / bare throughput", f"{f_rate / b_rate:.3f}", ">= 0.90", f_rate / b_rate >= 0.90)
    res.add(sc, "bare CPU s per million (user+sys)", f"{b_cpu:.2f}")
    res.add(sc, "kafka-feeder CPU s per million", f"{f_cpu:.2f}")
    limit = 1.3 if keyed else 1.2
    res.add(sc, "feeder / bare CPU per message", f"{f_cpu / b_cpu:.3f}", f"<= {limit}", f_cpu / b_cpu <= limit)
    res.add(sc, "broker CPU s per million (bare / feeder runs)",
            f"{med('bare', 'broker_cpu_per_m'):.2f} / {med('feeder', 'broker_cpu_per_m'):.2f}")


# ---- main ------------------------------------------------------------------------------

def attempt(failures, what, fn, *args, **kw):
    """Runs one scenario; a failure is noted and the next scenario runs."""
    try:
        fn(*args, **kw)
    except Exception as e:
        failures.append(f"{what}: {e}")
        log(f"{what} FAILED: {e}")


def machine():
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")) * 1024
    except (OSError, StopIteration):
        mem = 0
    return dict(nproc=os.cpu_count(), cpu=model, mem_gib=round(mem / 2**30, 1), kernel=platform.release(),
                loadavg=os.getloadavg())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", action="store_true", default=os.environ.get("BENCH_SHORT") == "1")
    ap.add_argument("--only", default=os.environ.get("BENCH_ONLY",
                                                      "load,formats,sampled,reload,schedule,pacing,shutdown,throughput,keyed"))
    ap.add_argument("--broker", default=os.environ.get("BENCH_BROKER", ""))
    ap.add_argument("--datasets", default=os.environ.get("BENCH_DATASETS", ""),
                    help="comma list of label=path (run.sh passes them)")
    args = ap.parse_args()
    only = set(args.only.split(","))
    broker_choice = args.broker or ("mock" if args.short else "auto")
    broker_factory = make_broker(broker_choice)
    short = args.short
    res = Results()
    m = machine()
    started = dt.datetime.now(dt.timezone.utc)
    log(f"machine {m}; broker {broker_choice}; short={short}")
    datasets = [(lbl, Path(p)) for lbl, p in (x.split("=", 1) for x in args.datasets.split(",") if x)]
    formats = [(lbl, Path(p)) for lbl, p in (x.split("=", 1) for x in os.environ.get("BENCH_FORMATS", "").split(",") if x)]
    sampled = os.environ.get("BENCH_SAMPLED", "")
    big, keep = (Path(sampled.rsplit(":", 1)[0]), int(sampled.rsplit(":", 1)[1])) if sampled else (None, None)
    uploads = list(datasets) + (formats if only & {"formats", "sampled", "reload"} else [])
    if big is not None and "sampled" in only:
        uploads.append(("big", big))

    s3proc = None
    failures = []
    try:
        if only & {"load", "formats", "sampled", "reload"} and uploads:
            s3root = BENCH / "s3"
            bucket = s3root / S3_BUCKET
            bucket.mkdir(parents=True, exist_ok=True)
            for _, p in uploads:
                dst = bucket / p.name
                if not dst.exists() or dst.stat().st_size != p.stat().st_size:
                    dst.unlink(missing_ok=True)
                    try:
                        os.link(p, dst)
                    except OSError:
                        shutil.copyfile(p, dst)
            s3proc = harness.S3(s3root, binary=S3_BIN, access_key=S3_KEY, secret_key=S3_SECRET,
                                bucket=S3_BUCKET).start()
            s3 = {"endpoint": s3proc.endpoint}
            repeats = 1 if short else int(os.environ.get("BENCH_LOAD_REPEATS", "3"))
            if "load" in only and datasets:
                attempt(failures, "load", run_load, res, broker_factory, datasets, s3, repeats=repeats)
            if "formats" in only and formats:
                attempt(failures, "formats", run_formats, res, broker_factory, formats, s3, repeats=repeats)
            base = dict(formats).get("csv")
            if "sampled" in only and big is not None and base is not None:
                attempt(failures, "sampled", run_sampled, res, broker_factory, big, base, keep, s3)
            if "reload" in only and base is not None:
                attempt(failures, "reload", run_reload, res, broker_factory, base, s3root, s3,
                        seconds=2 if short else 5)
        secs = 5 if short else 60
        if "schedule" in only:
            for name, kw in (("normal preset", dict(interval=0.5, lo=1, hi=10, preset="normal")),
                             ("10 ms interval", dict(interval=0.01, lo=1, hi=10))):
                attempt(failures, f"schedule {name}", run_schedule, res, broker_factory, name, seconds=secs, **kw)
        if "pacing" in only:
            import pacing  # scripts/bench/pacing.py
            me = sys.modules[__name__]
            for rate in (0.5, 37.5, 20_000):
                attempt(failures, f"pacing rate {rate}", pacing.run_rate, res, broker_factory, me, rate,
                        seconds=secs)
            rows, span, speed = (200, 20.0, 10.0) if short else (3000, 600.0, 20.0)
            attempt(failures, "pacing replay", pacing.run_replay, res, broker_factory, me, rows, span, speed)
        if "shutdown" in only:
            attempt(failures, "shutdown", run_shutdown, res, broker_factory, seconds=3 if short else 10,
                    interval=0.01, batch=1000)
        messages, rounds = (200_000, 1) if short else (2_000_000, 5)
        for scenario, keyed in (("throughput", False), ("keyed", True)):
            if scenario in only:
                attempt(failures, "throughput keyed" if keyed else "throughput", run_throughput, res,
                        broker_factory, messages=messages, rounds=rounds, dataset=ROOT / "data" / "transactions.csv",
                        keyed=keyed)
    finally:
        if s3proc:
            s3proc.stop()

    m_end = machine()
    profile = os.environ.get("BENCH_PROFILE", "release")
    header = (f"kafka-feeder benchmark, {started:%Y-%m-%d %H:%M} UTC, {'SHORT (CI) mode' if short else 'full'}, "
              f"{profile} binaries" + (" (figures say nothing about speed)" if profile != "release" else "") + "\n"
              f"machine: {m['nproc']} cores, {m['cpu']}, {m['mem_gib']} GiB, Linux {m['kernel']}; "
              f"load average at start {m['loadavg'][0]:.2f}, at end {m_end['loadavg'][0]:.2f}\n")
    table = res.table()
    print(header)
    print(table)
    missed = [r for r in res.rows if r[4] == "MISSED"]
    print(f"\n{len([r for r in res.rows if r[4] == 'met'])} targets met, {len(missed)} missed"
          + (f"; {len(failures)} scenario(s) FAILED: " + "; ".join(failures) if failures else ""))
    BENCH.mkdir(parents=True, exist_ok=True)
    stem = "results-short" if short else "results"
    (BENCH / f"{stem}.md").write_text(header + "\n" + table + "\n")
    (BENCH / f"{stem}.json").write_text(json.dumps(dict(machine=m, started=started.isoformat(), short=short,
                                                        figures=res.data, rows=res.rows, failures=failures),
                                                   indent=2, default=str))
    log(f"written {BENCH / (stem + '.md')} and .json")
    if failures:
        return 1
    if os.environ.get("BENCH_STRICT") == "1" and missed:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
