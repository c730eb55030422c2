#!/usr/bin/env bash
# Runs the whole test suite: unit, in-process integration (S3 + mock Kafka),
# process-level tests of the built binary, the metrics parser check, the
# AWS_MSK_IAM tokens against AWS's Python signer, the status page in headless
# Chromium, the log events the container smoke test waits for, the benchmark smoke
# run, the offline deployment checks, the end-to-end reliability suite (its tansu
# broker comes from a pinned PyPI wheel), and the Schema Registry formats against
# Karapace (from ../shared/schema-registry). Python runs in the one test venv
# (scripts/venv.sh: target/venv). Needs no outside service.
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

echo "== AWS_MSK_IAM tokens: AWS's Python signer regenerates the fixture; ours must match it"
"$venv/bin/python" scripts/msk_iam_tokens.py --check tests/fixtures/msk_iam_tokens.json --out target/msk_iam_tokens.json
MSK_IAM_TOKENS=target/msk_iam_tokens.json cargo test --locked --lib msk_iam::tests::tokens_are_the_python_signers

echo "== the status page in headless Chromium (screenshot kept: target/status-page.png)"
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
"$venv/bin/python" scripts/check-status-page.py target/debug/kafka-feeder

if [ -x scripts/check-deploy.sh ]; then
  echo "== deployment manifests (offline checks)"
  scripts/check-deploy.sh
fi

echo "== end-to-end reliability suite (tansu broker + S3 server processes, CI length, the debug binary built above)"
E2E_CI=1 E2E_PROFILE=debug scripts/e2e/run.sh

echo "== Schema Registry formats against Karapace 3.16.0 (tansu broker, confluent-kafka decoding; the debug binary)"
E2E_PROFILE=debug scripts/e2e/registry.sh
