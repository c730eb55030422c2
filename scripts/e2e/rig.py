#!/usr/bin/env python3
"""End-to-end reliability scenarios for kafka-feeder (issue 3).

Runs the release binary as a child process configured only by environment
variables, against a tansu broker and an s3s-fs S3 server that run as their
own processes on 127.0.0.1, and checks what reached the topic with an
independent consumer (Python confluent-kafka, not the daemon's code).

Called by scripts/e2e/run.sh, which installs and builds everything first. Every
scenario prints one table of figures; the exit code is 1 if any guarantee failed.

Environment (all optional):
  E2E_SCENARIOS      comma-separated scenario numbers or names (default: all)
  E2E_TRIALS         SIGTERM trials in scenario 1 (default 20)
  E2E_RELOAD_TRIALS  SIGTERM trials with reloads in scenario 9 (default 6)
  E2E_SOAK_SECONDS   soak duration in scenario 8 (default 600)
  E2E_STALL_SECONDS  broker stall in scenario 2 (default 15)
  E2E_OUTAGE_SECONDS broker outage in scenario 10 (default 15; the message timeout is 5 s)
  E2E_KILL_DOWN_SECONDS  how long the killed broker stays down in scenario 11 (default 3)
  E2E_TOPIC_GONE_SECONDS how long the topic stays deleted in scenario 12 (default 3)
  E2E_CHAOS_SECONDS  chaos run in scenario 13 (default 600)
  E2E_SEED           seed for the random kill moments (default: random, printed)
  E2E_WORK           work folder (default target/e2e/work)
"""

import functools
import json
import os
import random
import shutil
import signal
import sys
import time
import uuid
from collections import Counter

from confluent_kafka import Consumer, KafkaException, TopicPartition

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402
from harness import PROCS, Feeder, Tansu, env_with, free_port, table  # noqa: E402,F401

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("E2E_BIN", os.path.join(REPO, "target/release/kafka-feeder"))
S3_BIN = os.environ.get("E2E_S3_BIN", os.path.join(REPO, "target/debug/examples/s3_server"))
TANSU = harness.tansu_binary()
WORK = os.path.abspath(os.environ.get("E2E_WORK", os.path.join(REPO, "target/e2e/work")))

ACCESS_KEY = "e2e-access-key"
# A distinctive value, so scenario 7 can look for it in every line of output.
SECRET_KEY = "e2e-secret-" + uuid.uuid4().hex
BUCKET = "e2e"
DATASET_KEY = "transactions.csv"
DATASET_ROWS = 10_000  # data/transactions.csv


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# The S3 server with this run's credentials; the broker and processes are harness's.
S3 = functools.partial(harness.S3, binary=S3_BIN, access_key=ACCESS_KEY, secret_key=SECRET_KEY, bucket=BUCKET)


def daemon_env(broker, s3, topic, **extra):
    """Only what a container would get: no PATH, no HOME, no inherited AWS_*."""
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap if broker else "127.0.0.1:1",
        "KAFKA_TOPIC": topic,
        "DATASET_URI": f"s3://{BUCKET}/{DATASET_KEY}",
        "AWS_ENDPOINT_URL": s3.endpoint if s3 else "http://127.0.0.1:1",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "LOG_FORMAT": "json",
        "PROGRESS_INTERVAL": "1",
        "HTTP_PORT": "0",
    }
    return env_with(env, **extra)


def start_daemon(env, rss_every=None):
    return Feeder(BIN, env, rss_every=rss_every)


def new_topic(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# ---- the independent consumer ------------------------------------------------------


def read_topic(bootstrap, topic, timeout=120.0, keep_payloads=False, conf=None):
    """Reads every message of `topic` from the beginning to the end of each
    partition (the producer has stopped). Returns (count, Counter of payloads or None,
    invalid JSON count, per-partition counts). `conf` adds client settings (TLS, SASL)."""
    c = Consumer(dict({
        "bootstrap.servers": bootstrap,
        "group.id": "e2e-" + uuid.uuid4().hex,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
        "fetch.wait.max.ms": 100,
        "log_level": 2,  # the broker is sometimes gone on purpose
    }, **(conf or {})))
    try:
        md = c.list_topics(topic, timeout=15)
        tmd = md.topics.get(topic)
        if tmd is None or tmd.error is not None:
            raise RuntimeError(f"topic {topic} not readable: {tmd and tmd.error}")
        parts = sorted(tmd.partitions)

        c.assign([TopicPartition(topic, p, 0) for p in parts])
        count = 0
        invalid = 0
        per_part = Counter()
        next_offset = {p: 0 for p in parts}
        payloads = Counter() if keep_payloads else None
        deadline = time.monotonic() + timeout
        # tansu's ListOffsets high watermark can trail the acknowledged writes (and
        # stay behind: seen 1,178 short of 70,396 for 4 s), while Fetch returns
        # everything. So the end is: every partition has reported EOF at the
        # position read so far, and then nothing more arrives for 2 s.
        eof_at = {}
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            msgs = c.consume(num_messages=10_000, timeout=0.5)
            got = False
            for m in msgs:
                if m.error():
                    if m.error().code() == -191:  # _PARTITION_EOF
                        eof_at[m.partition()] = m.offset()
                        continue
                    raise KafkaException(m.error())
                got = True
                count += 1
                per_part[m.partition()] += 1
                next_offset[m.partition()] = m.offset() + 1
                v = m.value()
                if keep_payloads:
                    payloads[v] += 1
                if not (v and v[:1] == b"{" and v[-1:] == b"}"):
                    invalid += 1
            if got:
                quiet_since = time.monotonic()
            all_eof = all(eof_at.get(p, -1) >= next_offset[p] for p in parts)
            if all_eof and time.monotonic() - quiet_since >= 2.0:
                break
        else:
            raise RuntimeError(f"timed out reading {topic}: read {next_offset}, EOF at {eof_at}")
        return count, payloads, invalid, dict(per_part)
    finally:
        c.close()


# ---- scenarios ----------------------------------------------------------------------


def check(ok_list, cond, what):
    if not cond:
        ok_list.append(what)
    return cond


def scenario_sigterm(ctx):
    """1. SIGTERM at a random moment, at the high preset and at a much higher rate."""
    trials = int(os.environ.get("E2E_TRIALS", "20"))
    rng = random.Random(ctx["seed"])
    rates = [
        ("high: 0.2s, 10-20 (~75/s)", {"PRESET": "high"}),
        ("0.01s, 100-300 (~20k/s)", {"PRODUCE_INTERVAL": "0.01", "MIN_RECORDS_PER_BATCH": "100",
                                   "MAX_RECORDS_PER_BATCH": "300"}),
    ]
    broker, s3 = ctx["broker"], ctx["s3"]
    per_rate = {name: Counter() for name, _ in rates}
    failures = []
    rows = []
    for i in range(trials):
        name, vars_ = rates[i % 2]
        topic = broker.create_topic(new_topic("sigterm"), 3)
        # The first trial of each rate is killed while loading or connecting.
        kill_after = round(rng.uniform(0.01, 0.1) if i < 2 else rng.uniform(0.3, 8.0), 2)
        d = start_daemon(daemon_env(broker, s3, topic, **vars_))
        time.sleep(kill_after)
        phase = "running" if d.events("broker_connected") else ("loading/connecting" if d.alive() else "exited early")
        code, drain = d.terminate(40)
        stopped = d.stopped_line()
        delivered, failed, undelivered = d.counts()
        found, _, invalid, _ = read_topic(broker.bootstrap, topic)
        lost = max(0, delivered - found)
        dup = max(0, found - delivered)
        st = per_rate[name]
        st["trials"] += 1
        st["delivered"] += delivered
        st["found"] += found
        st["lost"] += lost
        st["dup"] += dup
        st["bad_exit"] += code != 0
        st["early"] += phase != "running"
        st["max_drain_ms"] = max(st["max_drain_ms"], int(drain * 1000))
        ok = code == 0 and lost == 0 and dup == 0 and invalid == 0 and (
            stopped is None and phase != "running" or (failed == 0 and undelivered == 0))
        # Stopped before the loop started: no "stopped" line is expected, and nothing may be in the topic.
        if stopped is None and found != 0:
            ok = False
        log(f"trial {i + 1}/{trials} {name}: kill at {kill_after}s ({phase}) exit={code} "
            f"delivered={delivered} found={found} failed={failed} undelivered={undelivered} drain={drain:.2f}s")
        if not ok:
            failures.append(f"trial {i + 1} ({name}, kill at {kill_after}s): exit={code} delivered={delivered} "
                            f"found={found} failed={failed} undelivered={undelivered}\n{d.text()[-2000:]}")
    for name, st in per_rate.items():
        rows.append([name, st["trials"], st["early"], st["delivered"], st["found"], st["lost"], st["dup"],
                     st["bad_exit"], st["max_drain_ms"]])
    tot = Counter()
    for st in per_rate.values():
        for k in ("trials", "early", "delivered", "found", "lost", "dup", "bad_exit"):
            tot[k] += st[k]
    rows.append(["all", tot["trials"], tot["early"], tot["delivered"], tot["found"], tot["lost"], tot["dup"], tot["bad_exit"],
                 max(st["max_drain_ms"] for st in per_rate.values())])
    table("1. SIGTERM at a random moment", ["rate", "trials", "killed before connected", "delivered",
                                              "found", "lost", "duplicated", "exit!=0", "max drain ms"], rows)
    return failures


def rss_between(proc, t0, t1):
    vals = [k for t, k in proc.rss if t0 <= t < t1]
    return max(vals) if vals else None


def mib(kib):
    return "-" if kib is None else f"{kib / 1024:.1f}"


def scenario_stall(ctx):
    """2. The broker stopped with SIGSTOP, shorter and longer than the message timeout."""
    stall = float(os.environ.get("E2E_STALL_SECONDS", "15"))
    s3 = ctx["s3"]
    failures = []
    rows = []
    short_timeout = {"PRESET": "high", "KAFKA_PRODUCER_MESSAGE_TIMEOUT_MS": "5000"}
    cases = [
        ("stall < message timeout", {"PRESET": "high"}, stall, "short"),
        # A 5 s message timeout, so the same stall outlasts it.
        ("stall > message timeout", short_timeout, stall, "long"),
        ("stall > timeout, no idempotence", dict(short_timeout, KAFKA_PRODUCER_ENABLE_IDEMPOTENCE="false"), stall,
         "long"),
    ]
    for name, vars_, seconds, kind in cases:
        broker = Tansu().start()
        try:
            topic = broker.create_topic(new_topic("stall"), 3)
            d = start_daemon(daemon_env(broker, s3, topic, **vars_), rss_every=0.25)
            if not d.wait_event("broker_connected", 30):
                failures.append(f"{name}: never connected\n{d.text()[-2000:]}")
                d.stop()
                continue
            time.sleep(8)
            t_stop = time.monotonic()
            broker.proc.signal(signal.SIGSTOP)
            time.sleep(seconds)
            broker.proc.signal(signal.SIGCONT)
            t_cont = time.monotonic()
            delivered_at_cont = last_progress(d).get("delivered", 0)
            time.sleep(12)
            t_end = time.monotonic()
            delivered_after = last_progress(d).get("delivered", 0)
            alive_before_term = d.alive()
            code, _ = d.terminate(40)
            stopped = d.stopped()
            delivered = int(stopped.get("delivered", 0))
            failed = int(stopped.get("failed", -1))
            undelivered = int(stopped.get("undelivered", -1))
            reasons = dict(kv.split("=") for kv in str(stopped.get("failure_reasons", "")).split(",") if "=" in kv)
            found, _, _, _ = read_topic(broker.bootstrap, topic)
            lines = d.json_lines()
            during = [j for j in lines if t_stop <= j["_t"] < t_cont + 1]
            said_unreachable = [j for j in during if j.get("event") in ("broker_not_acknowledging",
                                                                        "kafka_client_error")]
            first_said = (min(j["_t"] for j in said_unreachable) - t_stop) if said_unreachable else None
            ack_lag = max((int(j.get("stalled_s", 0)) for j in lines
                           if j.get("event") == "broker_not_acknowledging"), default=0)
            resumed = [j for j in lines if j.get("event") == "broker_acknowledging"]
            progress_lag = max((float(j.get("max_lag_ms", 0)) for j in lines if j.get("event") == "progress"),
                               default=0)
            rss_before = rss_between(d, t_stop - 6, t_stop)
            rss_during = rss_between(d, t_stop, t_cont)
            rss_after = rss_between(d, t_cont, t_end)
            rows.append([name, f"{seconds:.0f}", delivered, found, failed, max(0, delivered - found), undelivered,
                         f"{first_said:.1f}s" if first_said is not None else "never",
                         f"{ack_lag}s / {progress_lag:.0f}ms", mib(rss_before), mib(rss_during), mib(rss_after),
                         delivered_after - delivered_at_cont, code])
            log(f"{name}: delivered at-cont/after = {delivered_at_cont}/{delivered_after}; "
                f"failure reasons {reasons}; 'acknowledging again' lines {len(resumed)}; "
                f"failed but in the topic {found - delivered}")
            errs = []
            check(errs, delivered <= found, f"lost {delivered - found} delivered messages")
            check(errs, alive_before_term, "the daemon exited during the run")
            check(errs, said_unreachable, "nothing in the log said the broker was unreachable during the stall")
            check(errs, ack_lag > 0, "no delivery lag reported")
            check(errs, rss_during is not None and rss_before is not None and rss_during < rss_before * 2 + 64 * 1024,
                  f"memory grew during the stall: {mib(rss_before)} -> {mib(rss_during)} MiB")
            if kind == "long":
                check(errs, failed > 0, "a stall longer than the message timeout failed no message")
                check(errs, undelivered == 0, f"{undelivered} undelivered at exit")
                check(errs, sum(int(v) for v in reasons.values()) == failed,
                      f"failure reasons {reasons} do not add up to failed={failed}")
                check(errs, code == 8, f"exit {code}, expected 8 (messages failed)")
                if "idempotence" not in name:
                    check(errs, found <= delivered + failed, f"{found - delivered - failed} duplicated")
                # tansu fences librdkafka's idempotent epoch bump (KIP-360) after timed-out
                # in-flight requests; the producer rebuild is what brings deliveries back.
                check(errs, delivered_after > delivered_at_cont, "no delivery after the broker came back")
            else:
                check(errs, delivered_after > delivered_at_cont, "no delivery after the broker came back")
                check(errs, resumed, "no 'acknowledging again' line after the stall")
                check(errs, failed == 0 and undelivered == 0, f"failed={failed} undelivered={undelivered}")
                check(errs, found == delivered, f"found {found} != delivered {delivered}")
                check(errs, code == 0, f"exit {code}")
            if errs:
                failures.append(f"{name}: " + "; ".join(errs) + "\n" + tail_json(d, 25))
        finally:
            broker.stop()
    table("2. Broker stall (SIGSTOP/SIGCONT)",
          ["case", "stall s", "delivered", "found", "failed", "lost", "undelivered", "said unreachable after",
           "ack lag / loop lag", "RSS MiB before", "during", "after", "delivered after resume", "exit"], rows)
    return failures


def last_progress(d):
    p = [j for j in d.json_lines() if j.get("event") == "progress"]
    return p[-1] if p else {}


def tail_json(d, n):
    return d.tail(n)


def scenario_late_broker(ctx):
    """3. No broker at startup; it starts 10 s later."""
    s3 = ctx["s3"]
    broker = Tansu()
    topic = new_topic("late")
    d = start_daemon(daemon_env(broker, s3, topic))
    failures = []
    try:
        time.sleep(10)
        alive_at_10 = d.alive()
        waiting = d.events("waiting_for_broker")
        t_start = time.monotonic()
        broker.start()
        broker.create_topic(topic, 3, exist_ok=True)  # the waiting daemon may have made it first
        first = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and d.alive():
            p = last_progress(d)
            if p.get("delivered", 0) > 0:
                first = p["_t"] - t_start
                break
            time.sleep(0.1)
        connected = d.events("broker_connected")
        time.sleep(3)
        code, _ = d.terminate(30)
        stopped = d.stopped()
        delivered = int(stopped.get("delivered", 0))
        found, _, _, _ = read_topic(broker.bootstrap, topic)
        table("3. Broker absent at startup, started 10 s later",
              ["alive at 10 s", "'waiting' lines", "restarts", "connected after broker start",
               "first delivery after broker start", "delivered", "found", "exit"],
              [[alive_at_10, len(waiting), 0 if alive_at_10 else "exited",
                f"{connected[0]['_t'] - t_start:.1f}s" if connected else "never",
                f"{first:.1f}s" if first is not None else "never", delivered, found, code]])
        errs = []
        check(errs, alive_at_10, "the daemon exited while the broker was absent")
        check(errs, waiting, "no 'waiting for the Kafka broker' line")
        check(errs, first is not None, "never delivered after the broker started")
        check(errs, code == 0 and found == delivered and delivered > 0,
              f"exit={code} delivered={delivered} found={found}")
        if errs:
            failures.append("; ".join(errs) + "\n" + tail_json(d, 20))
    finally:
        d.stop()
        broker.stop()
    return failures


def error_line(d):
    errs = [j for j in d.json_lines() if j.get("level") in ("ERROR", "error")]
    return errs[-1] if errs else {}


def scenario_s3(ctx):
    """4. S3 endpoint down for the whole retry budget, and up late: timing only a
    separate server process shows (the error classes are tests/it/pipeline.rs's)."""
    broker, s3 = ctx["broker"], ctx["s3"]
    dead_port = free_port()
    cases = [
        # name, env overrides, expected exit, text the error must contain, time bound (s)
        ("endpoint down (retry 5 s)", {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{dead_port}",
                                       "DATASET_RETRY_TIMEOUT": "5"}, 5, "unreachable", 10),
    ]
    rows = []
    failures = []
    for name, vars_, want, text, bound in cases:
        topic = new_topic("s3")
        t0 = time.monotonic()
        d = start_daemon(daemon_env(broker, s3, topic, **vars_))
        code = d.exit_within(bound + 20)
        secs = time.monotonic() - t0
        err = d.last_event("failed") or {}
        msg = f"{err.get('message', '')} {err.get('error', '')}"
        ok = code == want and text in msg.lower() and secs <= bound
        rows.append([name, want, code, f"{secs:.1f}", "yes" if text in msg.lower() else "no",
                     (err.get("message", "") or "")[:90]])
        if not ok:
            failures.append(f"{name}: exit {code} (want {want}) in {secs:.1f}s (bound {bound}s): {msg}")

    # The endpoint comes up 4 s after the daemon starts.
    late = S3(s3.root)
    topic = broker.create_topic(new_topic("s3late"), 3)
    t0 = time.monotonic()
    d = start_daemon(daemon_env(broker, late, topic, DATASET_RETRY_TIMEOUT="30"))
    time.sleep(4)
    late.start()
    loaded = d.wait_event("dataset_loaded", 30)
    secs = time.monotonic() - t0
    retries = len(d.events("dataset_retry"))
    d.wait_event("progress", 10)
    code, _ = d.terminate(30)
    late.stop()
    stopped = d.stopped()
    rows.append(["endpoint up after 4 s", 0, code, f"{secs:.1f} (loaded)", f"{retries} retry lines",
                 f"loaded {loaded.get('records') if loaded else None} records, delivered {stopped.get('delivered')}"])
    if not (loaded and code == 0 and retries > 0 and int(stopped.get("delivered", 0)) > 0):
        failures.append(f"late endpoint: loaded={bool(loaded)} exit={code} retries={retries}\n{tail_json(d, 15)}")
    table("4. S3 failures", ["case", "want exit", "exit", "seconds", "message ok", "message"], rows)
    return failures


def scenario_datasets(ctx):
    """5. Dataset faults: the load summary counts equal what the script expects."""
    broker, s3 = ctx["broker"], ctx["s3"]
    good = lambda i: f"r{i},{i}.5,city {i}"  # noqa: E731
    wide_field = "x" * 2_000_000
    cases = [
        # name, bytes, expected (records, skipped) or expected exit code, expected keys of a record
        ("empty object", b"", 6, None),
        ("header only", b"id,amount,city\n", 6, None),
        ("ragged rows", ("id,amount,city\n" + "\n".join(
            [good(i) for i in range(5)] + ["a,b", "c,d", "e", "f,g,h,i", "j,k,l,m,n"]) + "\n").encode(), (5, 5),
         ["id", "amount", "city"]),
        ("invalid UTF-8", b"id,amount,city\n" + b"\n".join(
            [good(i).encode() for i in range(4)] + [b"bad\xff,1,x", b"ok,2,\xc3\x28"]) + b"\n", (4, 2), None),
        ("BOM", b"\xef\xbb\xbfid,amount,city\n" + "\n".join(good(i) for i in range(3)).encode() + b"\n", (3, 0),
         ["id", "amount", "city"]),
        ("CRLF", ("id,amount,city\r\n" + "\r\n".join(good(i) for i in range(7)) + "\r\n").encode(), (7, 0),
         ["id", "amount", "city"]),
        ("quoted newlines", ('id,amount,memo\n1,2,"line one\nline two"\n3,4,"a ""quoted"", multi\r\nline"\n'
                             '5,6,plain\n').encode(), (3, 0), ["id", "amount", "memo"]),
        ("duplicate header names", ("id,amount,amount,id\n" + "\n".join(f"{i},{i},{i + 1},x{i}" for i in range(6))
                                    + "\n").encode(), (6, 0), ["id", "amount", "amount_2", "id_2"]),
        ("one very wide row (2 MB field)", ("id,amount,blob\n" + good(1) + "\n2,3," + wide_field + "\n"
                                            + good(3) + "\n").encode(), (3, 0), None),
        ("very wide header (5,000 columns)", (",".join(f"c{i}" for i in range(5000)) + "\n"
                                             + ",".join(str(i) for i in range(5000)) + "\n").encode(), (1, 0), None),
    ]
    big_rows = 1_000_000
    rows = []
    failures = []
    for name, body, want, keys in cases + [("1,000,000 rows", None, (big_rows, 0), ["id", "amount", "city", "ts"])]:
        key = f"faults/{uuid.uuid4().hex[:8]}.csv"
        if body is None:
            path = os.path.join(s3.root, BUCKET, key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write("id,amount,city,ts\n")
                for i in range(big_rows):
                    f.write(f"{i},{i % 9973}.{i % 100:02d},City {i % 37},2026-01-01T00:00:{i % 60:02d}Z\n")
            size = os.path.getsize(path)
        else:
            s3.put(key, body)
            size = len(body)
        topic = broker.create_topic(new_topic("ds"), 1)
        t0 = time.monotonic()
        d = start_daemon(daemon_env(broker, s3, topic, DATASET_URI=f"s3://{BUCKET}/{key}", MAX_MESSAGES="1"),
                         rss_every=0.1)
        code = d.exit_within(120)
        secs = time.monotonic() - t0
        loaded = d.events("dataset_loaded")
        loaded = loaded[0] if loaded else {}
        got = (loaded.get("records"), loaded.get("skipped")) if loaded else None
        peak = max((k for _, k in d.rss), default=None)
        rec_keys = None
        if isinstance(want, int):
            ok = code == want and not loaded
            shown_want, shown_got = f"exit {want}", f"exit {code}"
            detail = (error_line(d).get("message") or "")[:70]
        else:
            stopped = d.stopped()
            reasons = str(stopped.get("failure_reasons", ""))
            # A record over message.max.bytes (1 MB) is refused by librdkafka: counted as
            # failed (MessageSizeTooLarge), and MAX_MESSAGES then ends in exit 8.
            too_large_ok = "2 MB" in name and code == 8 and reasons.startswith("MessageSizeTooLarge=")
            ok = (code == 0 or too_large_ok) and got == want
            shown_want, shown_got = f"{want[0]}/{want[1]}", f"{got[0]}/{got[1]}" if got else f"exit {code}"
            detail = f"load {float(loaded.get('load_seconds', 0)):.2f}s, {int(loaded.get('memory_bytes', 0)) / 2**20:.1f} MiB data"
            if reasons:
                detail += f"; exit {code}: {reasons}"
            if keys is not None and code == 0:
                n, payloads, _, _ = read_topic(broker.bootstrap, topic, keep_payloads=True)
                rec = json.loads(next(iter(payloads))) if payloads else {}
                rec_keys = list(rec.keys())
                stray_cr = name == "CRLF" and any(isinstance(v, str) and "\r" in v for v in rec.values())
                if rec_keys != keys or stray_cr:
                    ok = False
                    detail += f"; record keys {rec_keys}"
        rows.append([name, f"{size:,}", shown_want, shown_got, f"{secs:.1f}", mib(peak), "ok" if ok else "FAIL",
                     detail])
        if not ok:
            failures.append(f"{name}: want {shown_want} got {shown_got} keys {rec_keys}\n{tail_json(d, 10)}")
        if body is None:
            os.remove(os.path.join(s3.root, BUCKET, key))
    table("5. Dataset faults (loaded/skipped from the 'dataset loaded' line)",
          ["case", "bytes", "want loaded/skipped", "got", "seconds", "peak RSS MiB", "", "detail"], rows)
    return failures


def scenario_secrets(ctx):
    """7. With LOG_LEVEL=debug and every secret set, no secret value appears in the output."""
    broker, s3 = ctx["broker"], ctx["s3"]
    sasl_password = "e2e-sasl-" + uuid.uuid4().hex
    ssl_key_password = "e2e-sslkey-" + uuid.uuid4().hex
    session_token = "e2e-token-" + uuid.uuid4().hex
    wrong_secret = "e2e-wrong-" + uuid.uuid4().hex
    secrets = {"AWS_SECRET_ACCESS_KEY": SECRET_KEY, "KAFKA_PRODUCER_SASL_PASSWORD": sasl_password,
               "KAFKA_PRODUCER_SSL_KEY_PASSWORD": ssl_key_password, "AWS_SESSION_TOKEN": session_token,
               "wrong AWS secret": wrong_secret}
    runs = [
        ("delivering, debug logs, secrets set", dict(LOG_LEVEL="debug", PRESET="high",
                                                     KAFKA_PRODUCER_SASL_USERNAME="feeder",
                                                     KAFKA_PRODUCER_SASL_PASSWORD=sasl_password), 6, None),
        ("librdkafka debug=all", dict(LOG_LEVEL="trace", KAFKA_PRODUCER_DEBUG="all",
                                      KAFKA_PRODUCER_SASL_USERNAME="feeder",
                                      KAFKA_PRODUCER_SASL_PASSWORD=sasl_password), 4, None),
        ("SASL handshake refused", dict(LOG_LEVEL="debug", KAFKA_PRODUCER_SECURITY_PROTOCOL="SASL_PLAINTEXT",
                                        KAFKA_PRODUCER_SASL_MECHANISM="PLAIN",
                                        KAFKA_PRODUCER_SASL_USERNAME="feeder",
                                        KAFKA_PRODUCER_SASL_PASSWORD=sasl_password), 8, None),
        ("SSL key password, session token", dict(LOG_LEVEL="debug", KAFKA_PRODUCER_SSL_KEY_PASSWORD=ssl_key_password,
                                                 AWS_SESSION_TOKEN=session_token), 8, None),
        ("wrong AWS secret", dict(LOG_LEVEL="trace", AWS_SECRET_ACCESS_KEY=wrong_secret), None, 4),
        # LOG_LEVEL scopes debug to kafka-feeder and librdkafka; RUST_LOG=trace reaches
        # every crate (the AWS SDK, hyper) and must not leak either.
        ("RUST_LOG=trace, every crate", dict(RUST_LOG="trace", AWS_SESSION_TOKEN=session_token,
                                             KAFKA_PRODUCER_SASL_USERNAME="feeder",
                                             KAFKA_PRODUCER_SASL_PASSWORD=sasl_password), 4, None),
        ("secret without key id", dict(LOG_LEVEL="debug", AWS_ACCESS_KEY_ID=None, KEY=None), None, 2),
        ("SECRET alias, bad config", dict(LOG_LEVEL="debug", AWS_SECRET_ACCESS_KEY=None, SECRET=wrong_secret,
                                         PRODUCE_INTERVAL="fast"), None, 2),
    ]
    rows = []
    failures = []
    for name, vars_, run_for, want_exit in runs:
        topic = broker.create_topic(new_topic("secrets"), 1)
        d = start_daemon(daemon_env(broker, s3, topic, **vars_))
        if run_for:
            time.sleep(run_for)
            d.signal(signal.SIGTERM)
        code = d.exit_within(40)
        out = d.text()
        leaked = [k for k, v in secrets.items() if v in out or v[-16:] in out]
        ok = not leaked and (want_exit is None or code == want_exit)
        # Control: the secrets were read (and shown redacted), so "none" is not blindness.
        rows.append([name, len(d.lines), f"{len(out):,}", out.count("***"), code, ",".join(leaked) or "none"])
        if not ok:
            failures.append(f"{name}: exit {code} (want {want_exit}); leaked {leaked}")
    table("7. Secrets in the output (LOG_LEVEL=debug/trace, every secret set)",
          ["run", "lines", "bytes", "'***' shown", "exit", "secrets found"], rows)
    return failures


def scenario_soak(ctx):
    """8. Soak at a high rate: resident memory flat, delivered equals found."""
    seconds = float(os.environ.get("E2E_SOAK_SECONDS", "600"))
    broker, s3 = ctx["broker"], ctx["s3"]
    topic = broker.create_topic(new_topic("soak"), 3)
    rate_vars = {"PRODUCE_INTERVAL": "0.01", "MIN_RECORDS_PER_BATCH": "10", "MAX_RECORDS_PER_BATCH": "30"}
    d = start_daemon(daemon_env(broker, s3, topic, PROGRESS_INTERVAL="10", **rate_vars), rss_every=1.0)
    failures = []
    if not d.wait_event("broker_connected", 30):
        d.stop()
        return [f"soak: never connected\n{d.text()[-2000:]}"]
    t0 = time.monotonic()
    marks = {}
    while time.monotonic() - t0 < seconds and d.alive():
        time.sleep(1)
    t_end = time.monotonic()
    alive = d.alive()
    code, _ = d.terminate(40)
    stopped = d.stopped()
    delivered = int(stopped.get("delivered", 0))
    found, _, invalid, _ = read_topic(broker.bootstrap, topic, timeout=600)
    # Start: the first 10% (after the first second of traffic); end: the last 10%.
    warm = t0 + max(5.0, seconds * 0.1)
    start_vals = [k for t, k in d.rss if t0 + 1 <= t < warm]
    end_vals = [k for t, k in d.rss if t_end - seconds * 0.1 <= t <= t_end]
    rss_start = max(start_vals) if start_vals else None
    rss_end = max(end_vals) if end_vals else None
    rss_peak = max((k for _, k in d.rss), default=None)
    lags = [float(j.get("max_lag_ms", 0)) for j in d.json_lines() if j.get("event") == "progress"]
    behind = len(d.events("behind_schedule"))
    broker_rss = max((k for _, k in broker.proc.rss), default=None)
    marks["rate"] = delivered / max(1.0, t_end - t0)
    table("8. Soak", ["seconds", "rate msg/s", "delivered", "found", "failed", "undelivered", "RSS MiB start",
                      "end", "peak", "max lag ms", "behind lines", "broker RSS MiB", "exit"],
          [[f"{t_end - t0:.0f}", f"{marks['rate']:.0f}", delivered, found, stopped.get("failed"),
            stopped.get("undelivered"), mib(rss_start), mib(rss_end), mib(rss_peak),
            f"{max(lags, default=0):.0f}", behind, mib(broker_rss), code]])
    errs = []
    check(errs, alive, "the daemon exited during the soak")
    check(errs, code == 0, f"exit {code}")
    check(errs, delivered == found and delivered > 0 and invalid == 0,
          f"delivered {delivered} != found {found} (invalid {invalid})")
    # Flat: the end of the run holds no more than 10% + 8 MiB over its start.
    check(errs, rss_start and rss_end and rss_end <= rss_start * 1.10 + 8192,
          f"RSS grew from {mib(rss_start)} to {mib(rss_end)} MiB")
    if errs:
        failures.append("soak: " + "; ".join(errs) + "\n" + tail_json(d, 10))
    return failures


def scenario_reload(ctx):
    """9. Reloads while SIGTERM trials run (issue 12): the object changes every 0.3 s,
    DATASET_RELOAD_INTERVAL=0.2 swaps it in, SIGTERM at a random moment loses nothing."""
    trials = int(os.environ.get("E2E_RELOAD_TRIALS", "6"))
    rng = random.Random(ctx["seed"] + 9)
    broker, s3 = ctx["broker"], ctx["s3"]
    with open(os.path.join(REPO, "data/transactions.csv"), "rb") as f:
        base = f.read()
    header, rows = base.split(b"\n", 1)
    failures, table_rows = [], []
    for i in range(trials):
        key = f"reload-{i}.csv"
        s3.put(key, base)
        topic = broker.create_topic(new_topic("reload"), 3)
        d = start_daemon(daemon_env(broker, s3, topic, DATASET_URI=f"s3://{BUCKET}/{key}",
                                    DATASET_RELOAD_INTERVAL="0.2", PRODUCE_INTERVAL="0.01",
                                    MIN_RECORDS_PER_BATCH="10", MAX_RECORDS_PER_BATCH="100"))
        kill_after = round(rng.uniform(1.5, 6.0), 2)
        t_end = time.monotonic() + kill_after
        version = 0
        while time.monotonic() < t_end:
            time.sleep(0.3)
            version += 1
            # Every version a different size: the first `n` rows.
            n = 1000 + (version * 997) % 9000
            # Replaced whole, as an S3 PUT is: a reload never sees half a file.
            path = os.path.join(s3.root, BUCKET, key)
            with open(path + ".next", "wb") as f:
                f.write(header + b"\n" + b"\n".join(rows.split(b"\n")[:n]) + b"\n")
            os.replace(path + ".next", path)
        code, drain = d.terminate(40)
        stopped = d.stopped_line()
        delivered, failed, undelivered = d.counts()
        swaps = len(d.events("dataset_reloaded"))
        bad = len(d.events("dataset_reload_failed"))
        found, _, invalid, _ = read_topic(broker.bootstrap, topic)
        lost, dup = max(0, delivered - found), max(0, found - delivered)
        ok = code == 0 and stopped is not None and lost == 0 and dup == 0 and invalid == 0 and failed == 0 \
            and undelivered == 0 and swaps >= 1
        log(f"reload trial {i + 1}/{trials}: {version} versions, {swaps} swapped, {bad} failed, kill at {kill_after}s "
            f"exit={code} delivered={delivered} found={found} drain={drain:.2f}s")
        table_rows.append([i + 1, version, swaps, bad, delivered, found, lost, dup, code, int(drain * 1000)])
        if not ok:
            failures.append(f"reload trial {i + 1}: exit={code} swaps={swaps} delivered={delivered} found={found} "
                            f"failed={failed} undelivered={undelivered}\n{d.text()[-2000:]}")
    table("9. Reloads during SIGTERM trials", ["trial", "versions", "swapped", "reload failed", "delivered",
                                               "found", "lost", "duplicated", "exit", "drain ms"], table_rows)
    return failures


SCENARIOS = [
    ("1", "sigterm", scenario_sigterm),
    ("2", "stall", scenario_stall),
    ("3", "late-broker", scenario_late_broker),
    ("4", "s3", scenario_s3),
    ("5", "datasets", scenario_datasets),
    ("7", "secrets", scenario_secrets),
    ("8", "soak", scenario_soak),
    ("9", "reload", scenario_reload),
]

# Broker faults (10-13) and TLS/SASL (14) live in their own modules; they reach this
# module's helpers through ctx["rig"].
import faults  # noqa: E402
import tls_sasl  # noqa: E402
import msk_iam  # noqa: E402  (AWS_MSK_IAM, 15)

SCENARIOS += faults.SCENARIOS + tls_sasl.SCENARIOS
SCENARIOS += msk_iam.SCENARIOS


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wanted = os.environ.get("E2E_SCENARIOS", "").strip()
    if len(sys.argv) > 1:
        wanted = ",".join(sys.argv[1:])
    wanted = {w.strip() for w in wanted.split(",") if w.strip()}
    chosen = [s for s in SCENARIOS if not wanted or s[0] in wanted or s[1] in wanted]
    if not chosen:
        print(f"no scenario matches {wanted}; choose from {[f'{n} {m}' for n, m, _ in SCENARIOS]}")
        return 2
    seed = int(os.environ.get("E2E_SEED") or random.randrange(1 << 30))
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    log(f"binary {BIN}; tansu {TANSU}; s3 {S3_BIN}; work {WORK}; seed {seed}")
    s3 = S3(os.path.join(WORK, "s3")).start()
    with open(os.path.join(REPO, "data/transactions.csv"), "rb") as f:
        s3.put(DATASET_KEY, f.read())
    broker = Tansu().start()
    ctx = {"s3": s3, "broker": broker, "seed": seed, "rig": sys.modules[__name__]}
    summary = []
    overall = time.monotonic()
    try:
        for num, name, fn in chosen:
            log(f"---- scenario {num}: {name}")
            t0 = time.monotonic()
            try:
                failures = fn(ctx)
            except Exception as e:  # a rig failure is a failed scenario, with its cause
                import traceback
                traceback.print_exc()
                failures = [f"rig error: {e!r}"]
            secs = time.monotonic() - t0
            for f in failures:
                print(f"FAILED {num} {name}: {f}", flush=True)
            summary.append([num, name, "PASS" if not failures else f"FAIL ({len(failures)})", f"{secs:.0f}"])
    finally:
        if broker:
            broker.stop()
        s3.stop()
        for p in PROCS:
            if p.alive():
                p.signal(signal.SIGCONT)
                p.signal(signal.SIGKILL)
    for note in ctx.get("notes", []):
        print(f"NOTE {note}")
    table(f"Summary (seed {seed}, {time.monotonic() - overall:.0f} s)", ["#", "scenario", "result", "seconds"],
          summary)
    passed = sum(1 for r in summary if r[2] == "PASS")
    print(f"e2e: {passed} passed, {len(summary) - passed} failed", flush=True)
    return 0 if passed == len(summary) else 1


if __name__ == "__main__":
    sys.exit(main())
