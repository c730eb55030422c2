#!/usr/bin/env bash
# Installs the system packages the build needs (librdkafka is built from source
# by rdkafka-sys with TLS and zstd). Does nothing when they are already there.
set -euo pipefail
need=()
for pkg in build-essential pkg-config libssl-dev zlib1g-dev perl python3 python3-venv openssl; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
