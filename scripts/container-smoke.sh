#!/usr/bin/env bash
# Container smoke test for kafka-feeder, fully offline (no image registry).
#
#   scripts/container-smoke.sh            # everything below, in order
#   scripts/container-smoke.sh bases     # only make the local base images
#   scripts/container-smoke.sh build     # only build the kafka-feeder image
#   scripts/container-smoke.sh run       # only the run checks (image must exist)
#
# 1. Starts a Docker engine (Debian's docker.io) if none answers, without the
#    default bridge: every container here uses the host's network.
# 2. Makes the two base images locally: a Rust builder (debootstrap'd Debian 12
#    + build deps + this machine's Rust toolchain) and a distroless-like
#    runtime (only glibc, libgcc_s, passwd/group with uid 65532), imported
#    with `docker import`, and passes them as RUST_IMAGE / RUNTIME_IMAGE.
# 3. Builds the image with BuildKit, the host CA bundle passed as the optional
#    `ca_bundle` build secret (crate downloads go through an intercepting
#    HTTPS proxy here), and checks the secret is in no layer.
# 4. Runs it as a user would, with --network host, --read-only, --cap-drop ALL,
#    against a broker (an rdkafka mock cluster in a helper process) and an S3
#    server (moto) on 127.0.0.1: checks it runs as non-root, loads the dataset
#    from S3, delivers MAX_MESSAGES messages, and in a second run that
#    `docker stop` makes it drain and exit 0, with the logs showing it.
#
# Slow (the first run builds a Rust toolchain image and the whole dependency
# graph twice): not for every CI run. See docs/deployment.md for timings.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${SMOKE_WORK:-/var/tmp/kafka-feeder-smoke}"
DOCKER="${DOCKER:-/usr/bin/docker}"   # Debian's client: BuildKit built in, no buildx needed
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
BUILDER_IMAGE="${BUILDER_IMAGE:-kafka-feeder-smoke/rust:bookworm}"
RUNTIME_BASE="${RUNTIME_BASE:-kafka-feeder-smoke/runtime:bookworm}"
IMAGE="${IMAGE:-kafka-feeder:smoke}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
N="${SMOKE_MESSAGES:-200}"
export DOCKER_BUILDKIT=1

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
mkdir -p "$WORK"

need_pkgs() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

engine() {
  need_pkgs docker.io debootstrap
  if "$DOCKER" info >/dev/null 2>&1; then return; fi
  log "starting dockerd (no default bridge; containers use the host network)"
  dockerd --bridge=none --iptables=false --ip-masq=false >"$WORK/dockerd.log" 2>&1 &
  echo $! >"$WORK/dockerd.pid"
  for _ in $(seq 60); do "$DOCKER" info >/dev/null 2>&1 && return; sleep 1; done
  tail -n 30 "$WORK/dockerd.log" >&2; die "dockerd did not start"
}

rust_toolchain_dir() {
  local rustc; rustc="$(rustup which rustc 2>/dev/null || command -v rustc)"
  dirname "$(dirname "$(readlink -f "$rustc")")"
}

bases() {
  engine
  if ! "$DOCKER" image inspect "$BUILDER_IMAGE" >/dev/null 2>&1; then
    local rootfs="$WORK/rootfs-build"
    if [ ! -x "$rootfs/usr/bin/gcc" ]; then
      log "debootstrap $SUITE builder rootfs"
      rm -rf "$rootfs"
      debootstrap --variant=minbase \
        --include=ca-certificates,gcc,g++,libc6-dev,make,perl,pkg-config,libssl-dev,zlib1g-dev \
        "$SUITE" "$rootfs" "$MIRROR" >"$WORK/debootstrap-build.log" 2>&1 \
        || { tail -n 30 "$WORK/debootstrap-build.log" >&2; die "debootstrap (builder) failed"; }
    fi
    local tc; tc="$(rust_toolchain_dir)"
    log "copying the Rust toolchain from $tc (as in the official rust image: /usr/local/rustup, /usr/local/cargo)"
    rm -rf "$rootfs/usr/local/rustup" "$rootfs/usr/local/cargo"
    mkdir -p "$rootfs/usr/local/rustup/toolchain" "$rootfs/usr/local/cargo/bin"
    cp -a "$tc/bin" "$tc/lib" "$tc/libexec" "$tc/etc" "$rootfs/usr/local/rustup/toolchain/" 2>/dev/null || true
    for b in cargo rustc rustdoc; do ln -s "../../rustup/toolchain/bin/$b" "$rootfs/usr/local/cargo/bin/$b"; done
    rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*
    log "docker import $BUILDER_IMAGE"
    tar -C "$rootfs" -c . | "$DOCKER" import \
      --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV CARGO_HOME=/usr/local/cargo' \
      --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
      --change 'CMD ["/bin/bash"]' - "$BUILDER_IMAGE" >/dev/null
  fi
  if ! "$DOCKER" image inspect "$RUNTIME_BASE" >/dev/null 2>&1; then
    local rootfs="$WORK/rootfs-build" rt="$WORK/rootfs-runtime"
    log "assembling a distroless-like runtime rootfs (libc6, libgcc-s1, uid 65532)"
    rm -rf "$rt"; mkdir -p "$rt/etc" "$rt/tmp" "$rt/home/nonroot"
    chmod 1777 "$rt/tmp"
    for l in lib lib64 bin sbin; do   # merged /usr: /lib -> usr/lib, ...
      if [ -L "$rootfs/$l" ]; then cp -a "$rootfs/$l" "$rt/$l"; fi
    done
    local f
    for f in $(chroot "$rootfs" dpkg-query -L libc6 libgcc-s1 base-files netbase tzdata); do
      case "$f" in /lib/*|/lib64/*|/bin/*|/sbin/*) f="/usr$f" ;; esac
      if [ -f "$rootfs$f" ] || [ -L "$rootfs$f" ]; then
        (cd "$rootfs" && cp -a --parents ".$f" "$rt/")
      fi
    done
    rm -rf "$rt/usr/share/doc" "$rt/usr/share/man" "$rt/usr/share/locale" "$rt/usr/share/lintian"
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rt/etc/passwd"
    printf 'root:x:0:\nnonroot:x:65532:\n' >"$rt/etc/group"
    chown 65532:65532 "$rt/home/nonroot"
    log "docker import $RUNTIME_BASE"
    tar -C "$rt" -c . | "$DOCKER" import - "$RUNTIME_BASE" >/dev/null
  fi
  "$DOCKER" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep kafka-feeder-smoke >&2
}


build() {
  bases
  local version revision secret=()
  version="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n1)"
  revision="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if [ -s "$CA_BUNDLE" ]; then secret=(--secret "id=ca_bundle,src=$CA_BUNDLE"); fi
  log "docker build $IMAGE (version $version, RUST_IMAGE=$BUILDER_IMAGE, RUNTIME_IMAGE=$RUNTIME_BASE)"
  local t0=$SECONDS
  "$DOCKER" build --network host --progress plain "${secret[@]}" \
    --build-arg "RUST_IMAGE=$BUILDER_IMAGE" --build-arg "RUNTIME_IMAGE=$RUNTIME_BASE" \
    --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
    -t "$IMAGE" "$ROOT" >"$WORK/build.log" 2>&1 &
  local bpid=$!
  tail -n +1 -f "$WORK/build.log" --pid "$bpid" | grep --line-buffered -E '^#[0-9]+ (\[|ERROR)|^ERROR|warning: dependency' >&2 || true
  wait "$bpid" || { tail -n 40 "$WORK/build.log" >&2; die "docker build failed (log: $WORK/build.log)"; }
  log "built in $((SECONDS - t0)) s"

  # Checks on the image itself.
  local user label size
  user="$("$DOCKER" image inspect -f '{{.Config.User}}' "$IMAGE")"
  label="$("$DOCKER" image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}}' "$IMAGE")"
  size="$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE")"
  [ "$user" = "65532:65532" ] || die "image user is '$user', want 65532:65532"
  [ "$label" = "$version" ] || die "version label '$label', want $version"
  echo "image $IMAGE: user $user, version label $label, size $((size / 1000 / 1000)) MB ($size bytes)" >&2
  echo "runtime base $RUNTIME_BASE: $(( $("$DOCKER" image inspect -f '{{.Size}}' "$RUNTIME_BASE") / 1000 / 1000 )) MB" >&2
  "$DOCKER" history --no-trunc --format '{{.Size}}\t{{.CreatedBy}}' "$IMAGE" | cut -c1-160 >&2
  # The CA bundle was a secret: none of the certificates that only the build
  # host trusts (the proxy's) may be in the image.
  if [ -s "$CA_BUNDLE" ]; then
    "$DOCKER" save "$IMAGE" >"$WORK/image.tar"
    python3 - "$CA_BUNDLE" "$WORK/rootfs-build/etc/ssl/certs/ca-certificates.crt" "$WORK/image.tar" <<'PY' || die "host-only CA certificate found in the image"
import re, sys, tarfile, io
pat = re.compile(rb'-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----', re.S)
host = set(pat.findall(open(sys.argv[1], 'rb').read()))
debian = set(pat.findall(open(sys.argv[2], 'rb').read()))
extra = host - debian
found = 0
with tarfile.open(sys.argv[3]) as img:
    for m in img.getmembers():
        if m.isfile() and m.name.endswith('.tar'):
            with tarfile.open(fileobj=img.extractfile(m)) as layer:
                for f in layer.getmembers():
                    if f.name.startswith('run/secrets'):
                        print('secret path in layer:', f.name); found += 1
                    if f.isfile():
                        data = layer.extractfile(f).read()
                        if any(c in data for c in extra):
                            print('host-only CA certificate in', f.name); found += 1
print(f'{len(extra)} host-only CA certificate(s) checked: {"FOUND" if found else "absent from every layer"}')
sys.exit(1 if found else 0)
PY
    rm -f "$WORK/image.tar"
  fi
  "$DOCKER" run --rm --network none --read-only "$IMAGE" --version >&2 || die "--version failed"
}

# ---------------------------------------------------------------- helpers
# A Kafka broker on 127.0.0.1: librdkafka's mock cluster in a small helper
# program that also consumes the topic and reports what it received.
mockbroker_bin() {
  local dir="$WORK/mockbroker"
  if [ ! -x "$dir/target/release/mockbroker" ]; then
    mkdir -p "$dir/src"
    cat >"$dir/Cargo.toml" <<'TOML'
[package]
name = "mockbroker"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
rdkafka = { version = "0.39", features = ["zstd"] }
[workspace]
TOML
    cat >"$dir/src/main.rs" <<'RS'
//! mockbroker TOPIC ADDR_FILE SECONDS: run a one-broker librdkafka mock
//! cluster on 127.0.0.1, write its bootstrap address to ADDR_FILE, consume
//! TOPIC from the beginning and print "t=<secs> consumed=<n>" every second,
//! until SECONDS have passed or the file ADDR_FILE.stop appears.
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::time::{Duration, Instant};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (topic, addr_file, secs) = (&a[1], &a[2], a[3].parse::<u64>().unwrap());
    let mock = MockCluster::new(1).expect("mock cluster");
    mock.create_topic(topic, 3, 1).expect("create topic");
    let bootstrap = mock.bootstrap_servers();
    std::fs::write(addr_file, &bootstrap).unwrap();
    eprintln!("mock broker at {bootstrap}, topic {topic}");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "smoke")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let start = Instant::now();
    let (mut n, mut last) = (0u64, Instant::now());
    let stop = format!("{addr_file}.stop");
    while start.elapsed() < Duration::from_secs(secs) && !std::path::Path::new(&stop).exists() {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
            n += 1;
        }
        if last.elapsed() >= Duration::from_secs(1) {
            println!("t={:.1} consumed={n}", start.elapsed().as_secs_f64());
            last = Instant::now();
        }
    }
    println!("t={:.1} consumed={n} final", start.elapsed().as_secs_f64());
}
RS
    log "building the mock broker helper (rdkafka MockCluster)"
    (cd "$dir" && cargo build --release -q) >&2 || die "mock broker helper build failed"
  fi
  echo "$dir/target/release/mockbroker"
}

# An S3 server on 127.0.0.1: moto's standalone server (PyPI), seeded with the
# sample dataset.
S3_PORT="${SMOKE_S3_PORT:-19000}"
s3_start() {
  local venv="$WORK/venv"
  if [ ! -x "$venv/bin/moto_server" ]; then
    log "pip install moto[server] (venv $venv)"
    python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check 'moto[server]==5.*' boto3 >&2
  fi
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" >"$WORK/s3.log" 2>&1 &
  echo $! >"$WORK/s3.pid"
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$S3_PORT/" >/dev/null 2>&1 && break; sleep 0.2; done
  AWS_ACCESS_KEY_ID=smoke AWS_SECRET_ACCESS_KEY=smoke "$venv/bin/python" - "$S3_PORT" "$ROOT/data/transactions.csv" <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1")
s3.create_bucket(Bucket="datasets")
s3.upload_file(sys.argv[2], "datasets", "transactions.csv")
print("s3: uploaded", s3.head_object(Bucket="datasets", Key="transactions.csv")["ContentLength"], "bytes", file=sys.stderr)
PY
}

BG_PIDS=()
cleanup() {
  for c in kf-smoke-once kf-smoke-stop; do "$DOCKER" rm -f "$c" >/dev/null 2>&1 || true; done
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -f "$WORK/s3.pid" ]; then kill "$(cat "$WORK/s3.pid")" 2>/dev/null || true; rm -f "$WORK/s3.pid"; fi
}

start_broker() { # start_broker NAME SECONDS -> sets BROKER (bootstrap) and BROKER_LOG
  local bin; bin="$(mockbroker_bin)"
  rm -f "$WORK/$1.addr" "$WORK/$1.addr.stop"
  BROKER_LOG="$WORK/$1.broker.log"
  "$bin" transactions "$WORK/$1.addr" "$2" >"$BROKER_LOG" 2>"$WORK/$1.broker.err" &
  BG_PIDS+=($!)
  for _ in $(seq 100); do [ -s "$WORK/$1.addr" ] && break; sleep 0.1; done
  BROKER="$(cat "$WORK/$1.addr")"
  case "$BROKER" in 127.0.0.1:*|localhost:*) ;; *) die "mock broker is not on loopback: '$BROKER'" ;; esac
}
consumed() { tail -n1 "$BROKER_LOG" | sed -n 's/.*consumed=\([0-9]*\).*/\1/p'; }

feeder() { # feeder NAME [docker run args...] : run the image as a user would
  local name="$1"; shift
  "$DOCKER" run -d --name "$name" --network host --read-only --cap-drop ALL \
    --security-opt no-new-privileges:true \
    -e KAFKA_BOOTSTRAP_SERVERS="$BROKER" -e KAFKA_TOPIC=transactions \
    -e DATASET_URI=s3://datasets/transactions.csv -e ENDPOINT_URL="http://127.0.0.1:$S3_PORT" \
    -e KEY=smoke -e SECRET=smoke -e AWS_REGION=us-east-1 \
    -e HTTP_PORT="${SMOKE_HTTP_PORT:-18080}" -e PROGRESS_INTERVAL=1 \
    "$@" "$IMAGE" >/dev/null
}

run_checks() {
  engine
  "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1 || die "no image $IMAGE: run '$0 build' first"
  trap cleanup EXIT
  s3_start

  # 1) Bounded run: MAX_MESSAGES=N, exits 0 by itself after delivering them.
  log "run 1: MAX_MESSAGES=$N, PRESET=high, read-only root, no capabilities, host network"
  start_broker once 120
  local t0=$SECONDS
  feeder kf-smoke-once -e PRESET=high -e MAX_MESSAGES="$N"
  local rc; rc="$(timeout 120 "$DOCKER" wait kf-smoke-once || echo timeout)"
  local took=$((SECONDS - t0))
  "$DOCKER" logs kf-smoke-once >"$WORK/run1.log" 2>&1
  sleep 2; local got; got="$(consumed)"
  echo "--- logs (docker logs kf-smoke-once), $took s:" >&2; tail -n 15 "$WORK/run1.log" >&2
  [ "$rc" = 0 ] || die "run 1 exit code $rc (want 0)"
  [ "${got:-0}" -ge "$N" ] || die "broker received ${got:-0} messages, want >= $N"
  grep -qi "transactions.csv" "$WORK/run1.log" || die "logs do not mention the dataset"
  echo "run 1 ok: exit 0 after $took s, broker received $got messages (MAX_MESSAGES=$N)" >&2
  touch "$WORK/once.addr.stop"
  "$DOCKER" rm -f kf-smoke-once >/dev/null

  # 2) Unbounded run stopped with `docker stop`: drains and exits 0.
  log "run 2: PRESET=normal until 'docker stop' (SIGTERM, grace 30 s)"
  start_broker stop 120
  feeder kf-smoke-stop -e PRESET=normal
  sleep "${SMOKE_RUN_SECONDS:-8}"
  [ "$("$DOCKER" inspect -f '{{.State.Running}}' kf-smoke-stop)" = true ] \
    || { "$DOCKER" logs kf-smoke-stop >&2; die "run 2: container is not running"; }
  # What the process really runs as, seen from the host, and the root fs mode.
  local pid uid ro
  pid="$("$DOCKER" inspect -f '{{.State.Pid}}' kf-smoke-stop)"
  uid="$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")"
  ro="$("$DOCKER" inspect -f '{{.HostConfig.ReadonlyRootfs}}' kf-smoke-stop)"
  [ "$uid" = 65532 ] || die "process runs as uid $uid"
  [ "$ro" = true ] || die "root filesystem not read-only"
  grep -q '^CapEff:[[:space:]]*0*$' "/proc/$pid/status" || die "process has capabilities: $(grep CapEff "/proc/$pid/status")"
  echo "process $pid: uid $uid, read-only root fs, no effective capabilities" >&2
  local before; before="$(consumed)"
  t0=$SECONDS
  "$DOCKER" stop -t 30 kf-smoke-stop >/dev/null
  local stop_took=$((SECONDS - t0))
  rc="$("$DOCKER" inspect -f '{{.State.ExitCode}}' kf-smoke-stop)"
  "$DOCKER" logs kf-smoke-stop >"$WORK/run2.log" 2>&1
  sleep 2; got="$(consumed)"
  echo "--- logs (docker logs kf-smoke-stop):" >&2; tail -n 12 "$WORK/run2.log" >&2
  [ "$rc" = 0 ] || die "run 2 exit code after docker stop: $rc (want 0)"
  [ "$stop_took" -lt 25 ] || die "docker stop took $stop_took s"
  [ "${got:-0}" -gt 0 ] || die "run 2 delivered nothing"
  echo "run 2 ok: docker stop -> exit 0 in $stop_took s; broker received $got messages ($before before the stop)" >&2
  touch "$WORK/stop.addr.stop"
  "$DOCKER" rm -f kf-smoke-stop >/dev/null
}

case "${1:-all}" in
  bases) bases ;;
  build) build ;;
  run) run_checks ;;
  all) t_all=$SECONDS; build; run_checks; log "container smoke test passed in $((SECONDS - t_all)) s" ;;
  *) die "usage: $0 [all|bases|build|run]" ;;
esac
