#!/usr/bin/env python3
"""Runs the daemon (embedded broker, bundled sample), scrapes /metrics and parses
it with the official Python client's OpenMetrics parser, an implementation
independent of the Rust crate that writes it. Also checks /healthz and /readyz.

    python3 scripts/check-metrics.py target/debug/kafka-feeder
"""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as text_0_0_4_families

EXPECTED = {
    "kafka_feeder_messages_delivered": "counter",
    "kafka_feeder_messages_scheduled": "counter",
    "kafka_feeder_batches": "counter",
    "kafka_feeder_sent_bytes": "counter",
    "kafka_feeder_delivery_latency_seconds": "histogram",
    "kafka_feeder_batch_size_records": "histogram",
    "kafka_feeder_batch_duration_seconds": "histogram",
    "kafka_feeder_schedule_lag_seconds": "gauge",
    "kafka_feeder_messages_in_flight": "gauge",
    "kafka_feeder_dataset_records": "gauge",
    "kafka_feeder_dataset_bytes": "gauge",
    "kafka_feeder_dataset_load_seconds": "gauge",
    "kafka_feeder_build_info": "gauge",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, accept: str = "application/openmetrics-text; version=1.0.0"):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": accept}), timeout=5) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def main() -> int:
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/kafka-feeder"
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "KAFKA_BOOTSTRAP_SERVERS": "embedded", "PRESET": "high",
           "PRODUCE_INTERVAL": "0.05", "HTTP_PORT": str(port), "LOG_LEVEL": "warn"}
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    failures = []
    checks = 0

    def check(ok: bool, what: str) -> None:
        nonlocal checks
        checks += 1
        if not ok:
            failures.append(what)

    try:
        deadline = time.time() + 20
        status = None
        while time.time() < deadline:
            try:
                status, _, _ = get(base + "/readyz")
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        check(status == 200, f"/readyz never 200 (last {status})")
        time.sleep(1.5)  # some deliveries
        check(get(base + "/healthz")[0] == 200, "/healthz not 200")
        code, ctype, body = get(base + "/metrics")
        check(code == 200 and ctype.startswith("application/openmetrics-text"), f"/metrics: {code} {ctype}")
        def check_types(families, fmt):
            for name, kind in EXPECTED.items():
                fam = families.get(name)
                check(fam is not None and fam.type == kind and bool(fam.documentation),
                      f"{fmt} {name}: {fam.type if fam else 'missing'}, expected a documented {kind}")

        families = {f.name: f for f in text_string_to_metric_families(body)}
        check_types(families, "OpenMetrics")
        delivered = sum(s.value for s in families["kafka_feeder_messages_delivered"].samples if s.name.endswith("_total"))
        latency_count = sum(s.value for s in families["kafka_feeder_delivery_latency_seconds"].samples
                            if s.name.endswith("_count"))
        check(delivered > 0, "no deliveries counted")
        check(latency_count <= delivered, f"latency count {latency_count} > delivered {delivered}")
        build = families["kafka_feeder_build_info"].samples[0]
        check(build.labels.get("preset") == "high" and build.value == 1, f"build_info: {build}")
        # A scraper that does not accept OpenMetrics gets the 0.0.4 text format,
        # and the classic text parser keeps the counter types.
        code, ctype, body = get(base + "/metrics", accept="text/plain")
        check(code == 200 and ctype.startswith("text/plain; version=0.0.4"), f"/metrics as text: {code} {ctype}")
        check_types({f.name: f for f in text_0_0_4_families(body)}, "text format")
        check(get(base + "/nope")[0] == 404, "/nope is not 404")
        print(f"metrics: {len(families)} families parsed, delivered={delivered:.0f}, latency observations={latency_count:.0f}")
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=25)
        check(rc == 0, f"exit code {rc} after SIGTERM")
    for f in failures:
        print("FAIL:", f)
    print(f"check-metrics: {checks - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
