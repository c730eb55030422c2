#!/usr/bin/env bash
# Schema Registry formats against a real registry (issue 20): kafka-feeder's binary
# with VALUE_FORMAT=avro, json-schema and protobuf (and KEY_FORMAT=avro) against a tansu broker
# and Karapace 3.16.0, each its own process on 127.0.0.1; what reached the topic is
# decoded by Python confluent-kafka's AvroDeserializer, JSONDeserializer and
# ProtobufDeserializer (VALUE_FORMAT=protobuf, the class compiled by grpcio-tools) and must
# equal what VALUE_FORMAT=json sends with the same RANDOM_SEED (also for a .proto that imports
# others, registered as references). Also: SCHEMA_AUTO_REGISTER
# =false, records that do not fit a VALUE_SCHEMA, `check`, a 409, an unreachable
# registry (exit 12), the registry stopping after startup, a MESSAGE_TEMPLATE as Avro,
# JSON Schema and Protobuf (with its key as Avro), and a Protobuf dataset reloaded on
# SIGHUP. One table; exit 1 if a check fails. About two minutes after the builds.
#
#   scripts/e2e/registry.sh                   # every scenario
#   scripts/e2e/registry.sh avro outage       # some, by name (see scripts/e2e/registry.py)
#
# E2E_PROFILE debug (default: the binary `cargo test --all-targets` has built) or
# release; E2E_BIN names any other binary. Karapace comes from ../shared/schema-registry
# (a wheel of its 3.16.0 tag) when that folder exists, else from its public source, into
# target/sr-venv (E2E_SR_VENV); the broker from scripts/tansu.sh; Python from the test
# venv (scripts/venv.sh) plus scripts/e2e/registry-requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."

scripts/install-deps.sh
VENV=$(scripts/venv.sh)
E2E_TANSU=$(scripts/tansu.sh)
export E2E_TANSU
req=scripts/e2e/registry-requirements.txt
if ! cmp -s "$req" "$VENV/.registry-requirements.txt"; then
  echo "== registry: installing $req into $VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
  cp "$req" "$VENV/.registry-requirements.txt"
fi

profile=${E2E_PROFILE:-debug}
[[ $profile =~ ^(release|debug)$ ]] || { echo "E2E_PROFILE must be release or debug" >&2; exit 2; }
cargo build --profile "${profile/debug/dev}" --locked --bin kafka-feeder
exec "$VENV/bin/python" -u scripts/e2e/registry.py "${E2E_BIN:-$PWD/target/$profile/kafka-feeder}" "$@"
