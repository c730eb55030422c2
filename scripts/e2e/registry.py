"""Schema Registry formats against a real registry (issue 20): kafka-feeder's binary,
a tansu broker and Karapace 3.16.0 (Confluent-API-compatible), each a process on
127.0.0.1. What reached the topic is decoded by Python confluent-kafka's
AvroDeserializer, JSONDeserializer and ProtobufDeserializer (with a message class
grpcio-tools compiles from the .proto the run registered), never by our code, and
every decoded value must equal the JSON the same run sends with VALUE_FORMAT=json
(same RANDOM_SEED).

    scripts/e2e/registry.sh                     # builds, installs, runs every scenario
    python scripts/e2e/registry.py BINARY [scenario ...]

Scenarios: avro, json-schema, protobuf (derived .proto), protobuf-proto (a VALUE_SCHEMA
.proto, its nested message, with MESSAGE_FIELDS), protobuf-imports (a VALUE_SCHEMA .proto
importing others: registered as references, decoded, check, SCHEMA_AUTO_REGISTER=false,
a missing import), fields (Avro with MESSAGE_FIELDS), latest
(SCHEMA_AUTO_REGISTER=false), misfit (records a VALUE_SCHEMA does not take),
check, incompatible (409), unreachable (exit 12), outage (the registry stops after
startup), template (MESSAGE_TEMPLATE as Avro and JSON Schema, schema derived from its
renders), template-protobuf (MESSAGE_TEMPLATE as Protobuf, .proto derived from its renders,
with KEY_FORMAT=avro keys), reload-protobuf (a Protobuf dataset reloaded on SIGHUP: a version
that does not fit refused, one that fits encoded again), json-misfit (records a JSON Schema
VALUE_SCHEMA does not take). Prints one table; exits 1 if any scenario fails.
"""

import importlib
import importlib.resources
import json
import os
import signal
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

from confluent_kafka import Consumer, TopicPartition  # noqa: E402
from confluent_kafka.schema_registry import SchemaRegistryClient  # noqa: E402
from confluent_kafka.schema_registry.avro import AvroDeserializer  # noqa: E402
from confluent_kafka.schema_registry.json_schema import JSONDeserializer  # noqa: E402
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer  # noqa: E402
from google.protobuf import text_format  # noqa: E402
from grpc_tools import protoc  # noqa: E402
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WORK = os.environ.get("E2E_WORK", os.path.join(REPO, "target", "e2e", "registry"))
SEED = os.environ.get("E2E_SEED", "20")
N = int(os.environ.get("E2E_REGISTRY_MESSAGES", "500"))
PARTITIONS = 3

RESULTS = []  # (scenario, check, value, ok)


def check(scenario, what, value, ok):
    RESULTS.append((scenario, what, value, "ok" if ok else "FAILED"))
    print(f"[{scenario}] {what}: {value} -> {'ok' if ok else 'FAILED'}", flush=True)
    return ok


class Rig:
    def __init__(self, binary):
        self.binary = binary
        self.tansu = harness.Tansu().start()
        venv = os.environ.get("E2E_SR_VENV", os.path.join(REPO, "target", "sr-venv"))
        self.registry = harness.SchemaRegistry(self.tansu.bootstrap, venv).start()
        self.sr = SchemaRegistryClient({"url": self.registry.url})

    def topic(self, name):
        self.tansu.create_topic(name, PARTITIONS, exist_ok=True)
        return name

    def env(self, topic, **extra):
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.tansu.bootstrap, "KAFKA_TOPIC": topic, "LOG_FORMAT": "json",
            "HTTP_PORT": "0", "RANDOM_SEED": SEED, "MAX_MESSAGES": str(N), "MESSAGES_PER_SECOND": "max",
            "SCHEMA_REGISTRY_URL": self.registry.url, "MESSAGE_KEY_FIELD": "account_id",
        }
        # Only what the run is given: nothing from the caller's environment but PATH.
        return harness.env_with({"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, **{**env, **extra})

    def run(self, name, env, timeout=120, args=()):
        """Runs the binary (with a command such as `check`) to its exit: (the Proc, exit code)."""
        f = harness.Feeder(self.binary, env, name=name) if not args else harness.Proc([str(self.binary), *args], env, name)
        code = f.wait_exit(timeout)
        if code is None:
            f.stop()
        return f, code

    def consume(self, topic, n, value_de=None, key_de=None, timeout=60, raw=None):
        """The first n messages of topic, decoded: [(key, value)]; the raw values go to `raw`."""
        c = Consumer({"bootstrap.servers": self.tansu.bootstrap, "group.id": f"check-{topic}",
                      "enable.auto.commit": False})
        c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        out, deadline = [], time.monotonic() + timeout
        try:
            while len(out) < n and time.monotonic() < deadline:
                m = c.poll(1.0)
                if m is None or m.error():
                    continue
                vctx = SerializationContext(topic, MessageField.VALUE)
                kctx = SerializationContext(topic, MessageField.KEY)
                if raw is not None:
                    raw.append(m.value())
                value = value_de(m.value(), vctx) if value_de else json.loads(m.value())
                key = key_de(m.key(), kctx) if key_de and m.key() is not None else m.key()
                out.append((key, value))
        finally:
            c.close()
        return out

    def stop(self):
        self.registry.stop()
        self.tansu.stop()


def canonical(values):
    """Values as sorted JSON texts, a whole float written as the int it equals: an Avro
    double decodes `276` as 276.0, which Python (and JSON) hold equal to 276."""
    def norm(v):
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v
    return sorted(json.dumps(norm(v), sort_keys=True) for v in values)


def reference(rig, name, **extra):
    """What VALUE_FORMAT=json sends with the same seed and settings: the values as JSON."""
    return [v for _, v in reference_messages(rig, name, **extra)]


def reference_messages(rig, name, n=N, **extra):
    """reference(), with each message's key (its text)."""
    topic = rig.topic(f"{name}-json")
    f, code = rig.run(f"feeder-{name}-json", rig.env(topic, MAX_MESSAGES=str(n), **extra))
    assert code == 0, f"the json run exited {code}:\n{f.tail()}"
    return rig.consume(topic, n)


def same_values(scenario, decoded, expected):
    check(scenario, "messages decoded", len(decoded), len(decoded) == N)
    got, want = canonical(decoded), canonical(expected)
    missing = [w for w in want if w not in got]
    if missing:
        print(f"[{scenario}] first value the json run sent that none decoded equals: {missing[0]}", flush=True)
    return check(scenario, "decoded values == the VALUE_FORMAT=json run's (same seed), as a multiset",
                 f"{len(want) - len(missing)} of {len(want)} equal", got == want)


def print_one(scenario, key, value):
    print(f"[{scenario}] a decoded message, as the Python client gives it: key={key!r} value={value!r}", flush=True)


# ---- scenarios ---------------------------------------------------------------------------


def avro(rig):
    expected = reference(rig, "avro")
    topic = rig.topic("avro")
    f, code = rig.run("feeder-avro", rig.env(topic, VALUE_FORMAT="avro", KEY_FORMAT="avro"))
    check("avro", "exit code", code, code == 0)
    schema = f.events("schema_in_use")
    check("avro", "schema_in_use lines (value, key)", [s.get("part") for s in schema],
          [s.get("part") for s in schema] == ["value", "key"])
    if schema:
        print(f"[avro] the schema derived from the bundled sample: {schema[0].get('schema')}", flush=True)
    got = rig.consume(topic, N, AvroDeserializer(rig.sr), AvroDeserializer(rig.sr))
    if got:
        print_one("avro", *got[0])
    same_values("avro", [v for _, v in got], expected)
    check("avro", "every Avro key is its value's account_id (a long)",
          sum(k == v["account_id"] for k, v in got), all(k == v["account_id"] for k, v in got))
    subject = rig.sr.get_latest_version(f"{topic}-value")
    check("avro", "registered subject and type", f"{topic}-value {subject.schema.schema_type}",
          subject.schema.schema_type == "AVRO")


def json_schema(rig):
    expected = reference(rig, "jsonschema")
    topic = rig.topic("jsonschema")
    f, code = rig.run("feeder-jsonschema", rig.env(topic, VALUE_FORMAT="json-schema"))
    check("json-schema", "exit code", code, code == 0)
    schema = f.last_event("schema_in_use") or {}
    if schema:
        print(f"[json-schema] the schema derived from the bundled sample: {schema.get('schema')}", flush=True)
    got = rig.consume(topic, N, JSONDeserializer(None, schema_registry_client=rig.sr))
    if got:
        print_one("json-schema", *got[0])
    same_values("json-schema", [v for _, v in got], expected)


def proto_class(name, text, message):
    """The Python class of `message` (dotted for a nested one) of the .proto `text`,
    compiled by grpcio-tools' protoc into WORK/proto-<name>."""
    folder = os.path.join(WORK, f"proto-{name}")
    os.makedirs(folder, exist_ok=True)
    module = f"{name.replace('-', '_')}_value"
    with open(os.path.join(folder, f"{module}.proto"), "w") as fh:
        fh.write(text)
    code = protoc.main(["protoc", f"-I{folder}", f"--python_out={folder}", f"{module}.proto"])
    assert code == 0, f"protoc exited {code} on {text}"
    sys.path.insert(0, folder)
    cls = importlib.import_module(f"{module}_pb2")
    for part in message.split("."):
        cls = getattr(cls, part)
    return cls


def plain(msg):
    """A decoded message as a dict by field name, an unset field with presence (proto3
    `optional`, a message) None: the values themselves, not MessageToDict's JSON
    mapping (which writes an int64 as a string and leaves out zeros)."""
    out = {}
    for f in msg.DESCRIPTOR.fields:
        if f.has_presence and not msg.HasField(f.name):
            out[f.name] = None
            continue
        v = getattr(msg, f.name)
        if f.message_type is not None:
            v = [plain(x) for x in v] if f.is_repeated else plain(v)
        elif f.is_repeated:
            v = list(v)
        out[f.name] = v
    return out


def no_nulls(values):
    """Protobuf has no null: a null the JSON run sends is an unset optional field."""
    return [{k: x for k, x in v.items() if x is not None} for v in values]


def protobuf_values(rig, scenario, topic, cls):
    """The topic's values decoded by ProtobufDeserializer, as dicts; and the raw bytes."""
    raw = []
    got = rig.consume(topic, N, ProtobufDeserializer(cls, {"use.deprecated.format": False}), raw=raw)
    if got:
        print(f"[{scenario}] a decoded message, as the Python client prints it: "
              f"{text_format.MessageToString(got[0][1], as_one_line=True)}", flush=True)
    return [plain(v) for _, v in got], [v for _, v in got], raw


def protobuf(rig):
    """The schema derived from the bundled sample; `check` before and after registering."""
    expected = reference(rig, "protobuf")
    topic = rig.topic("protobuf")
    f, code = rig.run("feeder-protobuf-check-new", rig.env(topic, VALUE_FORMAT="protobuf"), args=("check",))
    check("protobuf", "check on a new subject: exit 0, the schema printed", code, code == 0 and f.events("schema_in_use"))
    f, code = rig.run("feeder-protobuf", rig.env(topic, VALUE_FORMAT="protobuf"))
    check("protobuf", "exit code", code, code == 0)
    line = f.last_event("schema_in_use") or {}
    text = line.get("schema", "")
    print(f"[protobuf] the schema derived from the bundled sample:\n{text}", flush=True)
    subject = rig.sr.get_latest_version(f"{topic}-value")
    check("protobuf", "registered subject and type", f"{topic}-value {subject.schema.schema_type}",
          subject.schema.schema_type == "PROTOBUF")
    cls = proto_class("protobuf", text, "protobuf")
    got, _, raw = protobuf_values(rig, "protobuf", topic, cls)
    check("protobuf", "frame: byte 0, the registered id, message index 0",
          raw[0][:6].hex() if raw else None,
          bool(raw) and all(r[:6] == b"\0" + subject.schema_id.to_bytes(4, "big") + b"\0" for r in raw))
    same_values("protobuf", no_nulls(got), no_nulls(expected))
    f, code = rig.run("feeder-protobuf-check", rig.env(topic, VALUE_FORMAT="protobuf"), args=("check",))
    check("protobuf", "check against the registered version: exit 0 (compatible)", code, code == 0)


SHOP_PROTO = """syntax = "proto3";

package shop;

// The values are Envelope.Transaction: message indexes [0, 0].
message Envelope {
  string source = 1;
  message Transaction {
    string transaction_id = 1;
    string timestamp = 2;
    int64 account_id = 3;
    string merchant = 4;
    string category = 5;
    double amount = 6;
    string currency = 7;
    string country = 8;
    string city = 9;
    optional string zip = 10;
    string channel = 11;
    bool is_fraud = 12;
    optional string memo = 13;
    int64 seq = 14;
    string source = 15;
  }
}
"""


def protobuf_proto(rig):
    """A VALUE_SCHEMA .proto whose values' message is a nested one, and MESSAGE_FIELDS
    setting a column the records hold (transaction_id) and two they do not."""
    extra = {"MESSAGE_FIELDS": "transaction_id=uuid(),seq=seq(),source=feeder"}
    expected = reference(rig, "protobuf-proto", **extra)
    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, "shop.proto")
    with open(path, "w") as fh:
        fh.write(SHOP_PROTO)
    topic = rig.topic("protobuf-proto")
    env = rig.env(topic, VALUE_FORMAT="protobuf", VALUE_SCHEMA=f"file://{path}",
                  VALUE_SCHEMA_MESSAGE="Envelope.Transaction", **extra)
    f, code = rig.run("feeder-protobuf-proto", env)
    check("protobuf-proto", "exit code", code, code == 0)
    cls = proto_class("protobuf-proto", SHOP_PROTO, "Envelope.Transaction")
    got, messages, raw = protobuf_values(rig, "protobuf-proto", topic, cls)
    check("protobuf-proto", "message indexes of Envelope.Transaction: count 2, 0, 0 (zigzag varints)",
          raw[0][5:8].hex() if raw else None, bool(raw) and all(r[5:8] == b"\x04\0\0" for r in raw))
    # A field written twice would make the value longer than the message it decodes to.
    twice = [i for i, (r, m) in enumerate(zip(raw, messages)) if len(r) - 8 != len(m.SerializeToString())]
    check("protobuf-proto", "no field written twice (each value as long as its message re-encoded)",
          f"{len(raw) - len(twice)} of {len(raw)}", bool(raw) and not twice)
    same_values("protobuf-proto", no_nulls(got), no_nulls(expected))
    wrong = {**env, "VALUE_SCHEMA_MESSAGE": "Transaction"}
    f, code = rig.run("feeder-protobuf-wrong-message", rig.env(topic, **wrong))
    failed = (f.last_event("failed") or {}).get("error", "")
    check("protobuf-proto", "a wrong VALUE_SCHEMA_MESSAGE: exit 2 listing the messages", f"{code} {failed[-90:]}",
          code == 2 and "shop.Envelope.Transaction" in failed)
    with open(path, "w") as fh:
        fh.write(SHOP_PROTO.replace("int64 seq = 14;", "int64 seq = 14"))
    f, code = rig.run("feeder-protobuf-bad", rig.env(topic, **env))
    failed = (f.last_event("failed") or {}).get("error", "")
    check("protobuf-proto", "a .proto that does not compile: exit 2 with protox's message and position",
          f"{code} {failed[-90:]}", code == 2 and "(line " in failed)


# Its own package: the Python client's default descriptor pool already holds shop.Envelope.
ORDERS_PROTO = SHOP_PROTO.replace("package shop;\n", """package orders;

import "billing/money.proto";
import "google/protobuf/timestamp.proto";
""").replace("  int64 seq = 14;\n    string source = 15;\n", """  billing.Money total = 14;
    google.protobuf.Timestamp sent_at = 15;
""")
IMPORTED = {
    "billing/money.proto": 'syntax = "proto3";\n\npackage billing;\n\nimport "billing/currency.proto";\n\n'
                           "message Money {\n  int64 units = 1;\n  Currency currency = 2;\n}\n",
    "billing/currency.proto": 'syntax = "proto3";\n\npackage billing;\n\nmessage Currency {\n  string code = 1;\n}\n',
}


def proto_classes(folder, main, message):
    """The Python class of `message` of `main`, compiled by grpcio-tools' protoc with
    every .proto under `folder` (imports resolved from it, as protoc -I folder)."""
    out = os.path.join(folder, "py")
    os.makedirs(out, exist_ok=True)
    files = sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder)
                   for f in fs if f.endswith(".proto"))
    # Google's well-known types from the .proto files grpcio-tools ships.
    google = str(importlib.resources.files("grpc_tools") / "_proto")
    code = protoc.main(["protoc", f"-I{folder}", f"-I{google}", f"--python_out={out}", *files])
    assert code == 0, f"protoc exited {code} on {files}"
    sys.path.insert(0, out)
    cls = importlib.import_module(main.removesuffix(".proto").replace("/", ".") + "_pb2")
    for part in message.split("."):
        cls = getattr(cls, part)
    return cls


def protobuf_imports(rig):
    """A VALUE_SCHEMA .proto importing billing/money.proto (which imports
    billing/currency.proto) and Google's timestamp.proto: each import registered under
    its path, the value with references; decoded by a class protoc compiles from the
    same files; then check, SCHEMA_AUTO_REGISTER=false through the references, and a
    missing import."""
    expected = reference(rig, "protobuf-imports")
    folder = os.path.join(WORK, "imports")
    os.makedirs(os.path.join(folder, "billing"), exist_ok=True)
    for name, text in {"orders.proto": ORDERS_PROTO, **IMPORTED}.items():
        with open(os.path.join(folder, name), "w") as fh:
            fh.write(text)
    path = os.path.join(folder, "orders.proto")
    topic = rig.topic("protobuf-imports")
    env = rig.env(topic, VALUE_FORMAT="protobuf", VALUE_SCHEMA=f"file://{path}", VALUE_SCHEMA_MESSAGE="Envelope.Transaction")
    f, code = rig.run("feeder-protobuf-imports", env)
    check("protobuf-imports", "exit code", code, code == 0)
    parts = [(s.get("part"), s.get("subject")) for s in f.events("schema_in_use")]
    check("protobuf-imports", "schema_in_use: each import before what imports it, then the value", parts,
          parts == [("import", "billing/currency.proto"), ("import", "billing/money.proto"), ("value", f"{topic}-value")])
    got_refs = {}
    for name, text in IMPORTED.items():
        v = rig.sr.get_latest_version(name)
        got_refs[name] = [(r.name, r.subject, r.version) for r in v.schema.references or []]
        # Karapace prints a schema again in its own layout: compared without blank lines.
        lines = lambda t: [line for line in t.splitlines() if line.strip()]  # noqa: E731
        check("protobuf-imports", f"subject {name} holds the file as written (blank lines aside)",
              f"{v.schema.schema_type} v{v.version}",
              v.schema.schema_type == "PROTOBUF" and lines(v.schema.schema_str) == lines(text))
    check("protobuf-imports", "billing/money.proto refers to billing/currency.proto", got_refs["billing/money.proto"],
          got_refs["billing/money.proto"] == [("billing/currency.proto", "billing/currency.proto", 1)])
    value = rig.sr.get_latest_version(f"{topic}-value")
    refs = [(r.name, r.subject, r.version) for r in value.schema.references or []]
    check("protobuf-imports", "the value's references: its own import only (not Google's)", refs,
          refs == [("billing/money.proto", "billing/money.proto", 1)])
    subjects = rig.sr.get_subjects()
    check("protobuf-imports", "no subject for google/protobuf/timestamp.proto",
          [s for s in subjects if s.startswith("google/")], not [s for s in subjects if s.startswith("google/")])
    cls = proto_classes(folder, "orders.proto", "Envelope.Transaction")
    got, _, raw = protobuf_values(rig, "protobuf-imports", topic, cls)
    check("protobuf-imports", "frame: the value's registered id, message indexes 2, 0, 0",
          raw[0][:8].hex() if raw else None,
          bool(raw) and all(r[:8] == b"\0" + value.schema_id.to_bytes(4, "big") + b"\x04\0\0" for r in raw))
    same_values("protobuf-imports", no_nulls(got), no_nulls(expected))
    f, code = rig.run("feeder-protobuf-imports-check", env, args=("check",))
    lines = {s.get("subject"): s for s in f.events("schema_in_use")}
    shown = (lines.get(f"{topic}-value") or {}).get("references", "")
    check("protobuf-imports", "check: exit 0, the imports printed, the value's references shown", f"{code} {shown}",
          code == 0 and set(IMPORTED) <= set(lines)
          and shown == "billing/money.proto (subject billing/money.proto, version 1)")
    latest_env = rig.env(topic, VALUE_FORMAT="protobuf", SCHEMA_AUTO_REGISTER="false",
                         VALUE_SCHEMA_MESSAGE="Envelope.Transaction")
    f, code = rig.run("feeder-protobuf-imports-latest", latest_env)
    line = f.last_event("schema_in_use") or {}
    check("protobuf-imports", "SCHEMA_AUTO_REGISTER=false: the latest version compiled through its references",
          f"{code} id={line.get('schema_id')}", code == 0 and str(line.get("schema_id")) == str(value.schema_id))
    os.remove(os.path.join(folder, "billing", "currency.proto"))
    f, code = rig.run("feeder-protobuf-imports-missing", env)
    failed = (f.last_event("failed") or {}).get("error", "")
    print(f"[protobuf-imports] a missing import: {failed}", flush=True)
    place = os.path.join(folder, "billing", "currency.proto")
    check("protobuf-imports", "a missing import: exit 2 naming VALUE_SCHEMA, the import and where it was looked for",
          f"{code} {failed[:160]}",
          code == 2 and failed.startswith(f"VALUE_SCHEMA {path} imports \"billing/currency.proto\" "
                                          f"(imported by billing/money.proto), looked for at {place}: "))


def fields(rig):
    extra = {"MESSAGE_FIELDS": "transaction_id=uuid(),seq=seq(),source=feeder,at=now_ms()"}
    expected = reference(rig, "fields", **extra)
    topic = rig.topic("fields")
    f, code = rig.run("feeder-fields", rig.env(topic, VALUE_FORMAT="avro", **extra))
    check("fields", "exit code", code, code == 0)
    got = [v for _, v in rig.consume(topic, N, AvroDeserializer(rig.sr))]
    # now_ms() differs between the two runs; every other value must not.
    strip = lambda vs: [{k: x for k, x in v.items() if k != "at"} for v in vs]  # noqa: E731
    same_values("fields", strip(got), strip(expected))
    check("fields", "now_ms() decoded as a long", type(got[0]["at"]).__name__ if got else None,
          bool(got) and all(isinstance(v["at"], int) for v in got))


def latest(rig):
    """SCHEMA_AUTO_REGISTER=false: the subject's latest version, as registered by hand."""
    topic = rig.topic("latest")
    schema = {"type": "record", "name": "Tx", "namespace": "by.hand", "fields": [
        {"name": "transaction_id", "type": "string"}, {"name": "amount", "type": "double"},
        {"name": "zip", "type": ["null", "string"], "default": None},
        {"name": "note", "type": "string", "default": "none"}]}
    body = json.dumps({"schema": json.dumps(schema)}).encode()
    req = urllib.request.Request(f"{rig.registry.url}/subjects/{topic}-value/versions", body,
                                 {"Content-Type": "application/vnd.schemaregistry.v1+json"})
    sid = json.load(urllib.request.urlopen(req))["id"]
    f, code = rig.run("feeder-latest", rig.env(topic, VALUE_FORMAT="avro", SCHEMA_AUTO_REGISTER="false"))
    check("latest", "exit code", code, code == 0)
    line = f.last_event("schema_in_use") or {}
    check("latest", "schema id in use = the hand-registered one", line.get("schema_id"), str(line.get("schema_id")) == str(sid))
    got = [v for _, v in rig.consume(topic, N, AvroDeserializer(rig.sr))]
    check("latest", "values hold only the registered fields, the default filled in",
          sorted(got[0]) if got else None, bool(got) and all(sorted(v) == ["amount", "note", "transaction_id", "zip"]
                                                            and v["note"] == "none" for v in got))
    f, code = rig.run("feeder-latest-none", rig.env(rig.topic("latest-none"), VALUE_FORMAT="avro",
                                                     SCHEMA_AUTO_REGISTER="false"))
    failed = f.last_event("failed") or {}
    check("latest", "no such subject: exit 2 naming it", f"{code} {failed.get('error', '')[:90]}",
          code == 2 and "latest-none-value" in failed.get("error", ""))


def misfit(rig):
    """A VALUE_SCHEMA that takes no null zip: those records are skipped and counted."""
    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, "strict.avsc")
    with open(path, "w") as fh:
        json.dump({"type": "record", "name": "Strict", "fields": [
            {"name": "transaction_id", "type": "string"}, {"name": "zip", "type": "string"}]}, fh)
    topic = rig.topic("misfit")
    f, code = rig.run("feeder-misfit", rig.env(topic, VALUE_FORMAT="avro", VALUE_SCHEMA=path))
    check("misfit", "exit code", code, code == 0)
    enc = f.last_event("values_encoded") or {}
    skipped = f.events("record_skipped")
    check("misfit", "records skipped (null zip), counted, first ones named",
          f"{enc.get('skipped')} skipped, {len(skipped)} logged: {(skipped[0].get('reason') if skipped else '')}",
          int(enc.get("skipped", 0)) > 0 and len(skipped) == 5 and "field zip" in skipped[0].get("reason", ""))
    got = [v for _, v in rig.consume(topic, N, AvroDeserializer(rig.sr))]
    check("misfit", "every value sent has a zip", len(got), len(got) == N and all(v["zip"] for v in got))
    with open(path, "w") as fh:
        json.dump({"type": "record", "name": "None", "fields": [{"name": "nope", "type": "string"}]}, fh)
    f, code = rig.run("feeder-misfit-none", rig.env(topic, VALUE_FORMAT="avro", VALUE_SCHEMA=path))
    check("misfit", "no record fits: exit 6", code, code == 6)
    with open(path, "w") as fh:
        fh.write('{"type": "record", "name": "Bad", "fields": [{"name": "a", "type": "lng"}]}')
    f, code = rig.run("feeder-misfit-bad", rig.env(topic, VALUE_FORMAT="avro", VALUE_SCHEMA=path))
    failed = (f.last_event("failed") or {}).get("error", "")
    check("misfit", "a schema that does not parse: exit 2 with the parser's message", f"{code} {failed[:100]}",
          code == 2 and "lng" in failed)


TEMPLATE = json.dumps({"key": "{{ account_id }}", "value": {
    "id": "{{ uuid() }}", "n": "{{ seq() }}", "account": "{{ account_id }}", "amount": "{{ amount }}",
    "city": "{{ city | upper }}", "zip": "{{ zip }}", "memo": "{{ memo }}", "pick": "{{ int(1, 6) }}",
    "big": "{{ amount > 100 }}"}})


def template(rig):
    """MESSAGE_TEMPLATE: every decoded value equals what the template sends as JSON (same seed)."""
    extra = {"MESSAGE_TEMPLATE": TEMPLATE, "MESSAGE_KEY_FIELD": None}
    expected = reference(rig, "template", **extra)
    for fmt, de in (("avro", AvroDeserializer(rig.sr)),
                    ("json-schema", JSONDeserializer(None, schema_registry_client=rig.sr))):
        topic = rig.topic(f"template-{fmt}")
        f, code = rig.run(f"feeder-template-{fmt}", rig.env(topic, VALUE_FORMAT=fmt, **extra))
        check(f"template {fmt}", "exit code", code, code == 0)
        schema = f.last_event("schema_in_use") or {}
        check(f"template {fmt}", "schema derived from the renders", schema.get("origin"),
              "renders of MESSAGE_TEMPLATE" in str(schema.get("origin")))
        if fmt == "avro":
            print(f"[template avro] the schema derived from the template: {schema.get('schema')}", flush=True)
        check(f"template {fmt}", "values_skipped lines (none expected)", len(f.events("values_skipped")),
              not f.events("values_skipped"))
        got = rig.consume(topic, N, de)
        if got:
            print_one(f"template {fmt}", *got[0])
        same_values(f"template {fmt}", [v for _, v in got], expected)


def template_protobuf(rig):
    """MESSAGE_TEMPLATE as Protobuf (the .proto derived from its renders) with its key as
    Avro: every decoded value equals what the template sends as JSON (same seed), and every
    decoded key the key it sends as text."""
    extra = {"MESSAGE_TEMPLATE": TEMPLATE, "MESSAGE_KEY_FIELD": None}
    expected = reference_messages(rig, "template-protobuf", **extra)
    topic = rig.topic("template-protobuf")
    f, code = rig.run("feeder-template-protobuf", rig.env(topic, VALUE_FORMAT="protobuf", KEY_FORMAT="avro", **extra))
    sc = "template protobuf"
    check(sc, "exit code", code, code == 0)
    value, key = (next((e for e in f.events("schema_in_use") if e.get("part") == part), {}) for part in ("value", "key"))
    check(sc, "the .proto derived from the renders", value.get("origin"),
          "renders of MESSAGE_TEMPLATE" in str(value.get("origin")))
    print(f"[{sc}] the .proto derived from the template:\n{value.get('schema')}", flush=True)
    check(sc, "the key's schema: long under <topic>-key", f"{key.get('subject')} {key.get('schema')}",
          key.get("subject") == f"{topic}-key" and key.get("schema") == '"long"')
    check(sc, "values_skipped lines (none expected)", len(f.events("values_skipped")), not f.events("values_skipped"))
    cls = proto_class("template-protobuf", value.get("schema", ""), "template_protobuf")
    raw = []
    got = rig.consume(topic, N, ProtobufDeserializer(cls, {"use.deprecated.format": False}), AvroDeserializer(rig.sr),
                      raw=raw)
    if got:
        print(f"[{sc}] a decoded message, as the Python client prints it: key={got[0][0]!r} "
              f"value={text_format.MessageToString(got[0][1], as_one_line=True)}", flush=True)
    same_values(sc, no_nulls([plain(v) for _, v in got]), no_nulls([v for _, v in expected]))
    keys = sorted(k for k, _ in got)
    want = sorted(int(k) for k, _ in expected)
    check(sc, "decoded Avro keys == the keys the json run sent as text (a multiset)",
          f"{sum(k in want for k in keys)} of {len(want)}", keys == want)


RELOAD_VERSIONS = ("city,temp,id\nOslo,1,1\nBergen,2,2\n", "city,temp,id\nNuuk,cold,3\n",
                   "city,temp,id\nLima,20,4\nQuito,14,5\n")


def reload_protobuf(rig):
    """A Protobuf dataset reloaded on SIGHUP: a version whose temp is text (the derived
    .proto's int64) is refused and the records in use stay; one that fits is encoded again
    against the schema in use (nothing registered again). Every decoded value is one the
    same dataset sends as JSON."""
    sc = "reload-protobuf"
    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, "reload.csv")
    expected = []
    for k in (0, 2):
        with open(path, "w") as fh:
            fh.write(RELOAD_VERSIONS[k])
        expected += [v for _, v in reference_messages(rig, f"reload-protobuf-{k}", n=20, DATASET_URI=path,
                                                     MESSAGE_KEY_FIELD=None)]
    with open(path, "w") as fh:
        fh.write(RELOAD_VERSIONS[0])
    topic = rig.topic("reload-protobuf")
    env = rig.env(topic, VALUE_FORMAT="protobuf", DATASET_URI=path, MESSAGE_KEY_FIELD=None, MAX_MESSAGES=None,
                  MESSAGES_PER_SECOND="200", RUN_DURATION="8")
    f = harness.Feeder(rig.binary, env, name="feeder-reload-protobuf")
    f.wait_connected(60)
    time.sleep(1)
    with open(path, "w") as fh:
        fh.write(RELOAD_VERSIONS[1])
    f.signal(signal.SIGHUP)
    refused = f.wait_event("dataset_reload_failed", 10) or {}
    check(sc, "a version whose records do not fit: refused, naming the field", str(refused.get("error"))[:100],
          "field temp" in str(refused.get("error")))
    time.sleep(1)
    with open(path, "w") as fh:
        fh.write(RELOAD_VERSIONS[2])
    f.signal(signal.SIGHUP)
    reloaded = f.wait_event("dataset_reloaded", 10)
    check(sc, "a version that fits: reloaded and encoded again (values_encoded)",
          f"{bool(reloaded)}, {len(f.events('values_encoded'))} values_encoded",
          bool(reloaded) and len(f.events("values_encoded")) == 2)
    code = f.wait_exit(60)
    delivered, failed, _ = f.counts()
    check(sc, "exit code, nothing failed", f"{code}, {delivered} delivered, {failed} failed", code == 0 and failed == 0)
    versions = rig.sr.get_versions(f"{topic}-value")
    check(sc, "registered once", versions, versions == [1])
    text = (f.last_event("schema_in_use") or {}).get("schema", "")
    cls = proto_class("reload-protobuf", text, "reload_protobuf")
    got = [plain(v) for _, v in rig.consume(topic, delivered, ProtobufDeserializer(cls, {"use.deprecated.format": False}))]
    cities = []
    for v in got:
        if v["city"] not in cities:
            cities.append(v["city"])
    check(sc, "cities decoded: the first and the third version's (never Nuuk)", cities,
          set(cities) == {"Oslo", "Bergen", "Lima", "Quito"})
    want = set(canonical(expected))
    check(sc, "every decoded value is one the same dataset sends as JSON",
          f"{sum(c in want for c in canonical(got))} of {len(got)}", len(got) == delivered and set(canonical(got)) <= want)


def json_misfit(rig):
    """A JSON Schema VALUE_SCHEMA that wants a string memo: the rows without one are skipped."""
    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, "strict.json")
    with open(path, "w") as fh:
        json.dump({"type": "object", "properties": {"memo": {"type": "string"}}, "required": ["memo"]}, fh)
    topic = rig.topic("json-misfit")
    f, code = rig.run("feeder-json-misfit", rig.env(topic, VALUE_FORMAT="json-schema", VALUE_SCHEMA=path))
    check("json-misfit", "exit code", code, code == 0)
    skipped = f.events("record_skipped")
    check("json-misfit", "rows without a memo skipped, the first ones named with the field",
          f"{len(skipped)} logged: {(skipped[0].get('reason') if skipped else '')}",
          len(skipped) == 5 and "field memo" in skipped[0].get("reason", ""))
    got = [v for _, v in rig.consume(topic, N, JSONDeserializer(None, schema_registry_client=rig.sr))]
    check("json-misfit", "every value sent has a memo", len(got), len(got) == N and all(v["memo"] for v in got))
    with open(path, "w") as fh:
        json.dump({"type": "object", "properties": {"amount": {"type": "string"}}}, fh)
    f, code = rig.run("feeder-json-misfit-none", rig.env(topic, VALUE_FORMAT="json-schema", VALUE_SCHEMA=path))
    failed = (f.last_event("failed") or {}).get("error", "")
    check("json-misfit", "no record fits: exit 6 naming the field", f"{code} {failed[:110]}",
          code == 6 and "field amount" in failed)


def check_command(rig):
    topic = rig.topic("check")
    f, code = rig.run("feeder-check", rig.env(topic, VALUE_FORMAT="avro"), args=("check",))
    line = f.last_event("schema_in_use") or {}
    check("check", "exit 0, the schema printed, nothing registered",
          f"{code} id={line.get('schema_id')}", code == 0 and line.get("schema_id") == "not registered")
    subjects = rig.sr.get_subjects()
    check("check", "no subject created", f"{topic}-value in subjects: {f'{topic}-value' in subjects}",
          f"{topic}-value" not in subjects)


def incompatible(rig):
    topic = rig.topic("incompat")
    schema = {"type": "record", "name": "incompat", "namespace": "kafka_feeder",
              "fields": [{"name": "other", "type": "long"}]}
    body = json.dumps({"schema": json.dumps(schema)}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{rig.registry.url}/subjects/{topic}-value/versions", body,
                                                  {"Content-Type": "application/vnd.schemaregistry.v1+json"}))
    for what, args in (("run", ()), ("check", ("check",))):
        f, code = rig.run(f"feeder-incompat-{what}", rig.env(topic, VALUE_FORMAT="avro"), args=args)
        failed = (f.last_event("failed") or {}).get("error", "")
        print(f"[incompatible] {what}: {failed}", flush=True)
        check("incompatible", f"{what}: exit 2, one line with subject, level and the registry's message",
              f"{code}", code == 2 and f"{topic}-value" in failed and "BACKWARD" in failed and "not compatible" in failed)


def unreachable(rig):
    port = harness.free_port()
    env = rig.env(rig.topic("unreachable"), VALUE_FORMAT="avro", SCHEMA_REGISTRY_URL=f"http://127.0.0.1:{port}",
                  DATASET_RETRY_TIMEOUT="2")
    t0 = time.monotonic()
    f, code = rig.run("feeder-unreachable", env)
    failed = (f.last_event("failed") or {}).get("error", "")
    check("unreachable", "exit 12 naming the URL, after retrying (registry_retry lines)",
          f"{code} in {time.monotonic() - t0:.1f} s, {len(f.events('registry_retry'))} retries",
          code == 12 and f"127.0.0.1:{port}" in failed and f.events("registry_retry"))


def outage(rig):
    """The registry stops once the run has its id: sending goes on."""
    topic = rig.topic("outage")
    env = rig.env(topic, VALUE_FORMAT="avro", MAX_MESSAGES=None, MESSAGES_PER_SECOND="200", RUN_DURATION="6")
    f = harness.Feeder(rig.binary, env, name="feeder-outage")
    connected = f.wait_connected(60)
    f.signal(signal.SIGHUP)
    reloaded = f.wait_event("dataset_reloaded", 10)
    check("outage", "SIGHUP: the records reloaded and encoded again (dataset_reloaded), and the run goes on",
          bool(reloaded), bool(reloaded) and f.alive())
    rig.registry.stop()
    t_stop = time.monotonic()
    code = f.wait_exit(60)
    delivered, failed, _ = f.counts()
    check("outage", "registry stopped after startup: run ends 0, messages delivered after the stop",
          f"exit {code}, {delivered} delivered, {failed} failed, stopped {t_stop - (connected or {}).get('_t', t_stop):.1f} s after connecting",
          code == 0 and failed == 0 and delivered >= 200 * 3)


# outage stops the registry: it runs last.
SCENARIOS = {"avro": avro, "json-schema": json_schema, "protobuf": protobuf, "protobuf-proto": protobuf_proto,
             "protobuf-imports": protobuf_imports,
             "fields": fields, "latest": latest, "misfit": misfit,
             "json-misfit": json_misfit, "template": template, "template-protobuf": template_protobuf,
             "reload-protobuf": reload_protobuf, "check": check_command, "incompatible": incompatible,
             "unreachable": unreachable, "outage": outage}


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    wanted = sys.argv[2:] or list(SCENARIOS)
    try:
        rig = Rig(binary)
    except RuntimeError as e:  # the registry could not be installed or started: one line, not a traceback
        sys.exit(f"registry: not run: {e}")
    try:
        for name in wanted:
            try:
                SCENARIOS[name](rig)
            except Exception as e:  # a scenario that cannot run is a failure, the others still run
                check(name, "ran", repr(e), False)
    finally:
        rig.stop()
    harness.table("schema registry (Karapace 3.16.0, tansu): decoded by confluent-kafka",
                  ("scenario", "check", "value", "verdict"), RESULTS)
    ok = sum(r[3] == "ok" for r in RESULTS)
    print(f"registry: {ok} passed, {len(RESULTS) - ok} failed")
    sys.exit(0 if ok == len(RESULTS) else 1)


if __name__ == "__main__":
    main()
