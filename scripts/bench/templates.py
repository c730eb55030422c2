#!/usr/bin/env python3
"""MESSAGE_TEMPLATE's cost (issue 18): CPU per delivered message of the
METR-LA template (nesting, derived fields, a lookup, seq() in the id) and of
the synthetic sales template (about eight generator calls and a computed
total), each against the plain path in the same run, alternating rounds.

    cargo build --release --locked --bin kafka-feeder --example bare_producer
    scripts/bench/templates.py [--messages 1000000] [--rounds 3]

Baselines: the plain path sending the template's own messages, rendered
once by `kafka-feeder preview` into a JSON Lines dataset, so the ratio is the
template's cost and not that of a larger message; with the template's key
column and header (MESSAGE_KEY_FIELD, MESSAGE_HEADERS). Every process runs on 127.0.0.1 with librdkafka's mock cluster in
a process of its own (bench.py's MockBroker). CPU is the daemon's user+sys
from `broker_connected` to exit: the template's per-record work at load comes
before it and is reported apart (template_ready's seconds). Writes
target/bench/templates.md and .json. Additive beside bench.py; python 3
standard library only.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import BENCH, BIN, ROOT, MockBroker, event_is, feeder_env, free_port, log, measure, start_feeder  # noqa: E402

TEMPLATES = ROOT / "examples" / "templates"


def readings(path, rows):
    """METR-LA-shaped readings for the sensors of the example lookup, 5 minutes apart."""
    if path.exists() and sum(1 for _ in path.open()) == rows + 1:
        return path
    sensors = [line.split(",")[0] for line in (TEMPLATES / "metr-la-sensors.csv").read_text().splitlines()[1:]]
    rnd = random.Random(18)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        f.write("timestamp,sensor_id,speed_mph\n")
        for i in range(rows):
            minute = (i // len(sensors)) * 5
            day, rest = divmod(minute, 24 * 60)
            ts = f"2012-03-{1 + day % 28:02d} {rest // 60:02d}:{rest % 60:02d}:00"
            f.write(f"{ts},{sensors[i % len(sensors)]},{rnd.uniform(5, 70):.3f}\n")
    return path


def rendered(path, n, **env):
    """`n` messages of a template as a JSON Lines dataset (kafka-feeder preview): the
    plain path sending messages of the template's size, so the ratio is the
    template's own cost, not that of larger messages."""
    if path.exists() and sum(1 for _ in path.open()) == n:
        return path
    e = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    e.update(KAFKA_BOOTSTRAP_SERVERS="embedded", RANDOM_SEED="18", MIN_RECORDS_PER_BATCH="1000",
             MAX_RECORDS_PER_BATCH="1000", **{k: str(v) for k, v in env.items()})
    out = subprocess.run([str(BIN), "preview", str(n)], env=e, cwd=ROOT, capture_output=True, check=True, text=True)
    with path.open("w") as f:
        for line in out.stdout.splitlines():
            f.write(json.dumps(json.loads(line)["value"], separators=(",", ":")) + "\n")
    return path


def one_run(name, messages, dataset, template, plain_env=None):
    broker = MockBroker().start()
    try:
        extra = dict(DATASET_URI=dataset, PRODUCE_INTERVAL="0.001", MIN_RECORDS_PER_BATCH=10000,
                     MAX_RECORDS_PER_BATCH=10000, MAX_MESSAGES=messages, RANDOM_SEED=18)
        if template:
            extra["MESSAGE_TEMPLATE"] = str(template)
        extra.update(plain_env or {})
        p = start_feeder(feeder_env(broker.bootstrap, free_port(), **extra), name=name)
        secs, cpu, rc = measure(p, event_is("broker_connected"), 900)
        st = p.find(event_is("stopped"))
        delivered = st[-1][2]["delivered"] if st else 0
        ready = p.find(event_is("template_ready"))
        load_s = ready[-1][2].get("seconds") if ready else None
    finally:
        broker.stop()
    if rc != 0 or delivered < messages:
        raise RuntimeError(f"{name}: exit {rc}, delivered {delivered} of {messages}:\n{p.tail()}")
    return dict(seconds=secs, cpu=cpu, rate=delivered / secs, cpu_per_m=cpu / delivered * 1e6,
                delivered=delivered, template_load_s=load_s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=int(os.environ.get("BENCH_TEMPLATE_MESSAGES", 1_000_000)))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_TEMPLATE_ROUNDS", 3)))
    ap.add_argument("--readings", type=int, default=100_000)
    a = ap.parse_args()
    data = readings(BENCH / "data" / f"metr-la-{a.readings}.csv", a.readings)
    os.chdir(ROOT)  # the templates' lookups are relative to the repository
    metr_plain = rendered(BENCH / "data" / f"metr-la-rendered-{a.readings}.jsonl", a.readings,
                          DATASET_URI=data, MESSAGE_TEMPLATE=TEMPLATES / "metr-la.json")
    sales_plain = rendered(BENCH / "data" / "sales-rendered-100000.jsonl", 100_000,
                           DATASET_URI="none", MESSAGE_TEMPLATE=TEMPLATES / "sales.json")
    cases = {
        # The same keys and headers as the template's: keys spread messages over the partitions.
        "plain readings (as rendered)": (str(metr_plain), None,
                                         dict(MESSAGE_KEY_FIELD="sensor_id", MESSAGE_HEADERS="source=metr-la-replay")),
        "metr-la template": (str(data), TEMPLATES / "metr-la.json"),
        "plain sales (as rendered)": (str(sales_plain), None,
                                      dict(MESSAGE_KEY_FIELD="product_id", MESSAGE_HEADERS="source=sales-generator")),
        "sales template": ("none", TEMPLATES / "sales.json"),
    }
    runs = {k: [] for k in cases}
    for r in range(a.rounds):
        order = list(cases) if r % 2 == 0 else list(reversed(cases))
        for name in order:
            run = one_run(name.replace(" ", "-"), a.messages, *cases[name])
            runs[name].append(run)
            log(f"templates round {r + 1} {name}: {run}")

    def med(name, k):
        return statistics.median(x[k] for x in runs[name])
    rows = []
    for name in cases:
        rows.append((name, f"{med(name, 'cpu_per_m'):.2f}", f"{1e6 / med(name, 'cpu_per_m'):,.0f}",
                     f"{med(name, 'rate'):,.0f}", " ".join(f"{x['cpu_per_m']:.2f}" for x in runs[name])))
    metr = med("metr-la template", "cpu_per_m") / med("plain readings (as rendered)", "cpu_per_m")
    sales = med("sales template", "cpu_per_m") / med("plain sales (as rendered)", "cpu_per_m")
    out = ["| run | CPU s per million (median) | msg/s per core | msg/s | CPU s/M per round |",
           "| --- | --- | --- | --- | --- |"]
    out += [f"| {' | '.join(r)} |" for r in rows]
    out += ["", f"METR-LA template / plain (same messages, as rendered) CPU per message: {metr:.3f} (target <= 1.3: {'met' if metr <= 1.3 else 'MISSED'})",
            f"sales template / plain (same messages, as rendered) CPU per message: {sales:.3f} (target <= 2.5: {'met' if sales <= 2.5 else 'MISSED'})",
            f"messages per run x rounds: {a.messages:,} x {a.rounds}; readings: {a.readings:,} rows; "
            f"METR-LA template load (per-record stage): {med('metr-la template', 'template_load_s'):.3f} s"]
    text = "\n".join(out)
    print(text)
    BENCH.mkdir(parents=True, exist_ok=True)
    (BENCH / "templates.md").write_text(text + "\n")
    (BENCH / "templates.json").write_text(json.dumps(dict(runs=runs, metr_ratio=metr, sales_ratio=sales), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
