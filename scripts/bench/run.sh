#!/usr/bin/env bash
# kafka-feeder benchmark (issue 6): builds in release mode, generates the
# datasets, starts the broker, the S3 server and the daemon as separate processes
# on 127.0.0.1, and prints one table (also written to target/bench/results.md
# and results.json). Not a timed test: figures depend on the machine.
#
#   scripts/bench/run.sh                  # full run (~10 min + builds + dataset generation)
#   scripts/bench/run.sh --short          # CI mode: a few seconds per scenario (or BENCH_SHORT=1)
#   scripts/bench/run.sh --only load,throughput
#
# Settings (environment):
#   BENCH_BROKER  auto (tansu if on PATH or BENCH_TANSU, else the mock), tansu, mock.
#                 Short mode defaults to mock.
#   BENCH_TANSU   path of a tansu binary. Unset: target/bench/tansu/bin/tansu if it is
#                 there (a release build), else `tansu` on PATH (the e2e rig's debug build).
#   BENCH_INSTALL_TANSU=1  first install tansu 0.6.0 as a release build into
#                 target/bench/tansu (~22 min of this 2-core machine's CPU, once).
#   BENCH_ROWS    dataset sizes for the loading scenario (default 10000,1000000,5000000;
#                 short: 10000,100000).
#   BENCH_PROFILE release (default) or debug: debug reuses what `cargo test --all-targets`
#                 built, for a CI smoke run where a release build would cost minutes;
#                 its figures say nothing about speed.
#   BENCH_STRICT=1  exit 3 when a target is missed (default: report only; exit 1
#                 only when a scenario fails to run).
set -euo pipefail
cd "$(dirname "$0")/../.."

short=${BENCH_SHORT:-0}
for a in "$@"; do [ "$a" = "--short" ] && short=1; done
export BENCH_SHORT=$short

step() { echo "== bench: $* ($(date -u +%H:%M:%S))" >&2; }

scripts/install-deps.sh >&2

profile=${BENCH_PROFILE:-release}
case $profile in
  release) flag=--release ;;
  debug) flag="" ;;
  *) echo "BENCH_PROFILE must be release or debug" >&2; exit 2 ;;
esac
step "$profile build (kafka-feeder, bare_producer, s3_server)"
# shellcheck disable=SC2086
cargo build $flag --locked --bin kafka-feeder --example bare_producer --example s3_server >&2
export BENCH_FEEDER=$PWD/target/$profile/kafka-feeder
export BENCH_BARE=$PWD/target/$profile/examples/bare_producer
export BENCH_S3=$PWD/target/$profile/examples/s3_server
export BENCH_PROFILE=$profile

if [ "$short" = 1 ]; then rows=${BENCH_ROWS:-10000,100000}; else rows=${BENCH_ROWS:-10000,1000000,5000000}; fi
data=target/bench/data
mkdir -p "$data"
datasets=""
for n in ${rows//,/ }; do
  f="$data/tx-$n.csv"
  if [ ! -s "$f" ]; then
    step "generating $f ($n rows)"
    python3 scripts/gen_transactions.py --rows "$n" --out "$f.tmp" && mv "$f.tmp" "$f"
  fi
  case $n in
    *000000) label="$((n / 1000000))M" ;;
    *000) label="$((n / 1000))k" ;;
    *) label="$n" ;;
  esac
  datasets="$datasets${datasets:+,}$label=$PWD/$f"
done

TANSU_VERSION=0.6.0
if [ "${BENCH_INSTALL_TANSU:-0}" = 1 ] && [ ! -x target/bench/tansu/bin/tansu ]; then
  step "installing tansu $TANSU_VERSION (release build, memory storage only)"
  cargo install tansu --version "$TANSU_VERSION" --locked --no-default-features --features dynostore \
    --root "$PWD/target/bench/tansu" >&2
fi
if [ -z "${BENCH_TANSU:-}" ] && [ -x target/bench/tansu/bin/tansu ]; then
  export BENCH_TANSU=$PWD/target/bench/tansu/bin/tansu
fi

step "running scenarios"
exec python3 -u scripts/bench/bench.py --datasets "$datasets" "$@"
