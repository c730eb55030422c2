#!/usr/bin/env bash
# End-to-end reliability suite (issue 3): kafka-feeder's release binary against a
# tansu broker and an s3s-fs S3 server, each its own process on 127.0.0.1, checked
# by an independent Python confluent-kafka consumer. Prints one table of figures
# per scenario and exits non-zero if any scenario's guarantee fails.
#
#   scripts/e2e/run.sh                 # every scenario, full length (~20 min + builds)
#   scripts/e2e/run.sh 1 stall 5       # some scenarios, by number or name
#   E2E_CI=1 scripts/e2e/run.sh        # CI length: shorter soak and chaos (see docs/reliability.md)
#
# Settings (environment): E2E_TRIALS (20), E2E_SOAK_SECONDS (600), E2E_STALL_SECONDS
# (15), E2E_OUTAGE_SECONDS (15), E2E_KILL_DOWN_SECONDS (3), E2E_TOPIC_GONE_SECONDS (3),
# E2E_CHAOS_SECONDS (600), E2E_SEED, E2E_SCENARIOS, E2E_WORK (target/e2e/work).
# E2E_CI=1 sets E2E_SOAK_SECONDS=120 and E2E_CHAOS_SECONDS=100 unless they are set.
# The tansu broker is installed with cargo (debug build, ~5 min) unless `tansu` is
# already on PATH or E2E_TANSU names it. Scenario 13 needs the openssl CLI.
set -euo pipefail
cd "$(dirname "$0")/../.."

TANSU_VERSION=0.6.0
VENV=${E2E_VENV:-target/e2e/venv}

if [ "${E2E_CI:-}" = 1 ]; then
  export E2E_SOAK_SECONDS=${E2E_SOAK_SECONDS:-120}
  export E2E_CHAOS_SECONDS=${E2E_CHAOS_SECONDS:-100}
fi

step() { echo "== e2e: $* ($(date -u +%H:%M:%S))"; }

# The daemon's build needs these (librdkafka is built from source).
scripts/install-deps.sh

export PATH="$HOME/.cargo/bin:$PATH"
if [ -z "${E2E_TANSU:-}" ] && ! command -v tansu >/dev/null 2>&1; then
  step "installing tansu $TANSU_VERSION (debug build)"
  cargo install tansu --version "$TANSU_VERSION" --locked --no-default-features --features dynostore --debug
fi
export E2E_TANSU=${E2E_TANSU:-$(command -v tansu)}

step "building the release binary and the S3 server"
cargo build --release --locked --bin kafka-feeder
cargo build --locked --example s3_server

if ! "$VENV/bin/python" -c 'import confluent_kafka' >/dev/null 2>&1; then
  step "installing confluent-kafka into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'confluent-kafka==2.16.1'
fi

# Scenario 15 (AWS_MSK_IAM) verifies tokens with botocore and reads with AWS's Python signer.
if ! "$VENV/bin/python" -c 'import aws_msk_iam_sasl_signer' >/dev/null 2>&1; then
  step "installing aws-msk-iam-sasl-signer-python into $VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'aws-msk-iam-sasl-signer-python==1.0.2'
fi

step "running scenarios"
exec "$VENV/bin/python" -u scripts/e2e/rig.py "$@"
