"""TLS and SASL against a real broker (issue 14): scenario 14 of scripts/e2e/rig.py.

tansu 0.6.0 cannot be the TLS and SASL end here, so `SecureFront` is: Python's ssl
module (OpenSSL) on its own port, in front of tansu's plaintext listener, with tansu
advertising the front's address. What was tried first, and why it does not work:
- `tansu broker --cert C --key K` exits with "the argument '--cert <CERT>' cannot be
  used with '--key <KEY>'" (both are declared in one clap group, which makes them
  mutually exclusive), so tansu 0.6.0 cannot serve TLS from its command line.
- `--authentication` offers SCRAM-SHA-256/512 and OAUTHBEARER only (rsasl is built
  without PLAIN); a SCRAM user can only be created over an authenticated connection
  (or into a persistent storage by an unauthenticated broker first), and even then
  librdkafka's SCRAM exchange completes but tansu answers its next request with
  NotAuthenticated and closes the connection.
So the front also speaks SASL/PLAIN itself: it answers SaslHandshake and
SaslAuthenticate (the Kafka frames, v0-v1) against one user and password, refuses
any other request before authentication by closing the connection, as Kafka does,
and relays everything after it. The daemon's side is all real: librdkafka's TLS
with certificate and host name verification against a CA the test makes with the
openssl CLI, and its SASL/PLAIN exchange, configured through the passthrough
variables (KAFKA_PRODUCER_SECURITY_PROTOCOL, _SASL_*, _SSL_CA_LOCATION).
"""

import asyncio
import os
import ssl
import struct
import subprocess
import threading
import time

import harness
from harness import http_get, table

USER = "feeder"
RUN_S = 12  # how long a failing case runs before it is judged
MAX_LINES = 8  # warn/error lines a failing case may log in RUN_S: a few, not a retry loop


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {r.stderr}")


def make_certs(folder):
    """ca.pem signs server.pem (SAN 127.0.0.1, localhost); other-ca.pem signs nothing here."""
    os.makedirs(folder, exist_ok=True)
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN=kafka-feeder e2e {ca}",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
                cwd=folder)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key",
            "-out", "server.csr", "-subj", "/CN=localhost", cwd=folder)
    with open(os.path.join(folder, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
                "basicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "server.ext", cwd=folder)
    return {n: os.path.join(folder, n) for n in ("ca.pem", "other-ca.pem", "server.pem", "server.key")}


SASL_HANDSHAKE, SASL_AUTHENTICATE, API_VERSIONS = 17, 36, 18
SASL_AUTHENTICATION_FAILED, UNSUPPORTED_SASL_MECHANISM = 58, 33


def kstr(b, i):
    """A Kafka (non-flexible) nullable string at b[i:]: (text, next index)."""
    n = struct.unpack_from(">h", b, i)[0]
    if n < 0:
        return None, i + 2
    return b[i + 2:i + 2 + n].decode(), i + 2 + n


def kafka_response(corr, body):
    payload = struct.pack(">i", corr) + body
    return struct.pack(">i", len(payload)) + payload


class SecureFront:
    """TLS on `port` (the test's certificate) and SASL/PLAIN for `user`/`password`,
    relayed in plain to tansu's `target` port once authenticated. A subclass changes
    MECHANISM and `authenticate` (scripts/e2e/msk_iam.py: OAUTHBEARER)."""

    MECHANISM = "PLAIN"

    def authenticate(self, auth_bytes):
        """(accepted, the error message when not) for SaslAuthenticate's auth_bytes."""
        parts = auth_bytes.split(b"\0")
        ok = len(parts) == 3 and parts[1].decode() == self.user and parts[2].decode() == self.password
        return ok, "" if ok else "Authentication failed: Invalid username or password"

    def __init__(self, cert, key, port, target, user, password):
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(cert, key)
        self.port, self.target, self.user, self.password = port, target, user, password
        self.refused = 0  # SaslAuthenticate answered with SASL_AUTHENTICATION_FAILED
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        if not self.ready.wait(10):
            raise RuntimeError("the TLS front did not start")

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.set_exception_handler(lambda loop, context: None)  # failed TLS handshakes are the point
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self.port, ssl=self.ctx, ssl_handshake_timeout=10))
        self.ready.set()
        self.loop.run_forever()

    async def _client(self, reader, writer):
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        lock = asyncio.Lock()  # our own answers and the broker's must not interleave

        async def to_client(data):
            async with lock:
                writer.write(data)
                await writer.drain()

        async def from_client():
            authed = False
            try:
                while True:
                    head = await reader.readexactly(4)
                    frame = await reader.readexactly(struct.unpack(">i", head)[0])
                    if authed:
                        up_w.write(head + frame)
                        await up_w.drain()
                        continue
                    api, version, corr = struct.unpack_from(">hhi", frame, 0)
                    _, i = kstr(frame, 8)  # client id
                    if api == API_VERSIONS:
                        up_w.write(head + frame)
                        await up_w.drain()
                    elif api == SASL_HANDSHAKE:
                        mechanism, _ = kstr(frame, i)
                        err = 0 if mechanism == self.MECHANISM else UNSUPPORTED_SASL_MECHANISM
                        name = self.MECHANISM.encode()
                        await to_client(kafka_response(corr, struct.pack(">hi", err, 1) + struct.pack(">h", len(name))
                                                       + name))
                    elif api == SASL_AUTHENTICATE:
                        n = struct.unpack_from(">i", frame, i)[0]
                        ok, why = self.authenticate(frame[i + 4:i + 4 + n])
                        msg = why.encode()
                        body = struct.pack(">h", 0 if ok else SASL_AUTHENTICATION_FAILED)
                        body += struct.pack(">h", len(msg)) + msg if msg else struct.pack(">h", -1)
                        body += struct.pack(">i", 0)
                        if version >= 1:
                            body += struct.pack(">q", 0)
                        await to_client(kafka_response(corr, body))
                        if not ok:
                            self.refused += 1
                            break
                        authed = True
                    else:
                        break  # anything else before authentication: the connection is closed
            except (asyncio.IncompleteReadError, OSError, ConnectionError, ssl.SSLError):
                pass
            finally:
                up_w.close()
                writer.close()

        async def from_broker():
            try:
                while data := await up_r.read(65536):
                    await to_client(data)
            except (OSError, ConnectionError, ssl.SSLError):
                pass
            finally:
                writer.close()
        await asyncio.gather(from_client(), from_broker())

    def close(self):
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)


def client_conf(bootstrap, ca, password):
    return {"bootstrap.servers": bootstrap, "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
            "sasl.username": USER, "sasl.password": password, "ssl.ca.location": ca}


def security_env(ca, password, protocol="SASL_SSL"):
    env = {"KAFKA_PRODUCER_SECURITY_PROTOCOL": protocol}
    if protocol == "SASL_SSL":
        env.update(KAFKA_PRODUCER_SASL_MECHANISM="PLAIN", KAFKA_PRODUCER_SASL_USERNAME=USER,
                   KAFKA_PRODUCER_SASL_PASSWORD=password, KAFKA_PRODUCER_SSL_CA_LOCATION=ca)
    return env


def said(d):
    """The warning and error lines (librdkafka's own and the daemon's), in order."""
    return [j for j in d.json_lines() if str(j.get("level", "")).upper() in ("WARN", "ERROR")]


def describe(j):
    text = " ".join(str(j.get(k, "")) for k in ("message", "reason", "error") if j.get(k))
    return f"{j.get('event')}: {text}"[:160]


def deliver(ctx, broker, topic, env):
    """The working case behind a front: the daemon, with `env` over the rig's, delivers
    for 6 s once connected and is stopped by SIGTERM. Returns (daemon, connected,
    exit code, 'healthz/readyz' while it ran, delivered)."""
    rig = ctx["rig"]
    port = harness.free_port()
    d = rig.start_daemon(rig.daemon_env(broker, ctx["s3"], topic, HTTP_PORT=port, **env))
    connected = d.wait_event("broker_connected", 30)
    time.sleep(6 if connected else 0)
    health = f"{http_get(port, '/healthz')[0]}/{http_get(port, '/readyz')[0]}"
    code, _ = d.terminate(40)
    return d, connected, code, health, int(d.stopped().get("delivered", 0))


def scenario_tls(ctx):
    """14. SASL_SSL with a CA made by the test: delivers; a wrong password, an unknown CA
    and a plaintext client against the TLS port each end in one clear line and the
    right health state."""
    rig = ctx["rig"]
    certs = make_certs(os.path.join(rig.WORK, "tls"))
    password = "e2e-sasl-" + os.urandom(8).hex()
    proxy = SecureFront(certs["server.pem"], certs["server.key"], harness.free_port(), harness.free_port(), USER,
                        password)
    broker = rig.Tansu(port=proxy.target, advertised_port=proxy.port).start()
    failures, rows = [], []
    try:
        topic = broker.create_topic(rig.new_topic("tls"), 3)
        # The working case: delivers over SASL_SSL, the certificate verified against the CA.
        d, connected, code, health, delivered = deliver(ctx, broker, topic, security_env(certs["ca.pem"], password))
        found, _, invalid, _ = rig.read_topic(broker.bootstrap, topic,
                                              conf=client_conf(broker.bootstrap, certs["ca.pem"], password))
        ok = connected and code == 0 and delivered > 0 and found == delivered and invalid == 0
        rows.append(["SASL_SSL, PLAIN, CA and host name verified", code, health,
                     f"{delivered} delivered, {found} found", len(said(d)), "-"])
        if not ok:
            failures.append(f"SASL_SSL: connected={bool(connected)} exit={code} delivered={delivered} "
                            f"found={found}\n{d.tail(20)}")

        bad = [
            # name, env, the daemon's event naming the cause, words /readyz must say
            ("wrong password", security_env(certs["ca.pem"], "wrong-" + password),
             "broker_authentication_failed", "SASL credentials"),
            ("unknown CA", security_env(certs["other-ca.pem"], password),
             "broker_certificate_rejected", "certificate is not trusted"),
            ("plaintext client, TLS port", security_env(None, None, protocol="PLAINTEXT"),
             "broker_protocol_mismatch", "security protocol mismatch"),
        ]
        for name, env, event, ready_words in bad:
            port = harness.free_port()
            t0 = time.monotonic()
            d = rig.start_daemon(rig.daemon_env(broker, ctx["s3"], topic, HTTP_PORT=port, **env))
            code = d.wait(RUN_S)
            secs = time.monotonic() - t0
            h, _ = http_get(port, "/healthz")
            r, body = http_get(port, "/readyz")
            if code is None:
                code_shown = f"running after {RUN_S} s"
                d.terminate(30)
            else:
                code_shown = f"{code} after {secs:.1f} s"
            lines = said(d)
            clear = [j for j in lines if j.get("event") == event]
            first = describe(clear[0]) if clear else (describe(lines[0]) if lines else "nothing")
            health = f"{h}/{r}" + (f" {body.strip()[:80]}" if body.strip() else "")
            rows.append([name, code_shown, health, first, len(lines), len(clear)])
            errs = []
            if not clear:
                errs.append(f"no {event} line")
            # One line per 10 s (rate-limited), not librdkafka's retry loop.
            if len(clear) > RUN_S // 10 + 1 or len(lines) > MAX_LINES:
                errs.append(f"a loop: {len(clear)} {event} lines, {len(lines)} warn/error lines in {RUN_S} s")
            if code is None and (r == 200 or ready_words not in body):
                errs.append(f"/readyz {r} does not say {ready_words!r}: {body.strip()[:120]}")
            if code == 0:
                errs.append("exit 0")
            if errs:
                failures.append(f"{name}: " + "; ".join(errs) + "\n" + d.tail(15))
        table("14. TLS and SASL/PLAIN (the test's front before tansu; the daemon's side is librdkafka's)",
              ["case", "exit", "healthz/readyz", "first clear line", "warn/error lines", "naming the cause"], rows)
    finally:
        broker.stop()
        proxy.close()
    return failures


SCENARIOS = [("14", "tls", scenario_tls)]
