"""TLS and SASL against a real broker (issue 14): scenario 13 of scripts/e2e/rig.py.

tansu serves TLS with `--cert`/`--key` (rustls) and requires SASL with
`--authentication`. The test makes its own CA with the openssl CLI (a server
certificate for 127.0.0.1 and localhost, and a second, unrelated CA), creates a
SCRAM-SHA-512 user through the Kafka protocol (AlterUserScramCredentials, from the
Python client), and runs the daemon with the librdkafka passthrough variables
(KAFKA_PRODUCER_SECURITY_PROTOCOL, _SASL_*, _SSL_CA_LOCATION).

tansu 0.6.0 accepts any password with SASL PLAIN (its PLAIN check only requires one
to be present), so the wrong-password case uses SCRAM, which it does verify; the
admin connection that creates the user authenticates with PLAIN for that reason.
"""

import os
import signal
import subprocess
import time

from confluent_kafka.admin import (AdminClient, NewTopic, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)

import harness
from harness import http_get, table

USER = "feeder"
RUN_S = 20  # how long a failing case runs before it is judged


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


def client_conf(broker, ca, password, mechanism="SCRAM-SHA-512", user=USER):
    return {"bootstrap.servers": broker.bootstrap, "security.protocol": "SASL_SSL", "sasl.mechanism": mechanism,
            "sasl.username": user, "sasl.password": password, "ssl.ca.location": ca}


def setup_user_and_topic(broker, ca, password, topic):
    # PLAIN with any password passes tansu's check; that admin creates the SCRAM user.
    admin = AdminClient(dict(client_conf(broker, ca, "any", "PLAIN", "admin"), log_level=2))
    up = UserScramCredentialUpsertion(USER, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
                                      password.encode())
    for f in admin.alter_user_scram_credentials([up], request_timeout=30).values():
        f.result()
    for f in admin.create_topics([NewTopic(topic, 3)], request_timeout=30).values():
        f.result()


def security_env(ca, password, protocol="SASL_SSL"):
    env = {"KAFKA_PRODUCER_SECURITY_PROTOCOL": protocol}
    if protocol == "SASL_SSL":
        env.update(KAFKA_PRODUCER_SASL_MECHANISM="SCRAM-SHA-512", KAFKA_PRODUCER_SASL_USERNAME=USER,
                   KAFKA_PRODUCER_SASL_PASSWORD=password, KAFKA_PRODUCER_SSL_CA_LOCATION=ca)
    return env


def said(d):
    """The warning and error lines (librdkafka's own and the daemon's), in order."""
    return [j for j in d.json_lines() if str(j.get("level", "")).upper() in ("WARN", "ERROR")]


def describe(j):
    text = " ".join(str(j.get(k, "")) for k in ("message", "reason", "error") if j.get(k))
    return f"{j.get('event')}: {text}"[:160]


def scenario_tls(ctx):
    """13. SASL_SSL with a CA made by the test: delivers; a wrong password, an unknown CA
    and a plaintext client against the TLS port each end in one clear line and the
    right health state."""
    rig = ctx["rig"]
    certs = make_certs(os.path.join(rig.WORK, "tls"))
    password = "e2e-scram-" + os.urandom(8).hex()
    broker = rig.Tansu(cert=certs["server.pem"], key=certs["server.key"], authentication=True).start()
    failures, rows = [], []
    try:
        topic = rig.new_topic("tls")
        setup_user_and_topic(broker, certs["ca.pem"], password, topic)
        # The working case: delivers over SASL_SSL, the certificate verified against the CA.
        port = harness.free_port()
        d = rig.start_daemon(rig.daemon_env(broker, ctx["s3"], topic, HTTP_PORT=port,
                                            **security_env(certs["ca.pem"], password)))
        connected = d.wait_event("broker_connected", 30)
        time.sleep(6 if connected else 0)
        health = f"{http_get(port, '/healthz')[0]}/{http_get(port, '/readyz')[0]}"
        d.signal(signal.SIGTERM)
        code = d.wait(40)
        if code is None:
            d.stop()
        stopped = d.stopped_line() or {}
        delivered = int(stopped.get("delivered", 0))
        found, _, invalid, _ = rig.read_topic(broker.bootstrap, topic,
                                              conf=client_conf(broker, certs["ca.pem"], password))
        ok = connected and code == 0 and delivered > 0 and found == delivered and invalid == 0
        rows.append(["SASL_SSL, SCRAM-SHA-512, CA verified", code, health, f"{delivered} delivered, {found} found",
                     len(said(d)), "-"])
        if not ok:
            failures.append(f"SASL_SSL: connected={bool(connected)} exit={code} delivered={delivered} "
                            f"found={found}\n{d.tail(20)}")

        bad = [
            # name, env, words one of which the clear line must contain
            ("wrong password (SCRAM)", security_env(certs["ca.pem"], "wrong-" + password),
             ("auth", "sasl", "password", "credential")),
            ("unknown CA", security_env(certs["other-ca.pem"], password),
             ("certificate", "verify", "ssl handshake")),
            ("plaintext client, TLS port", security_env(None, None, protocol="PLAINTEXT"),
             ("security.protocol", "ssl", "tls")),
        ]
        for name, env, words in bad:
            port = harness.free_port()
            t0 = time.monotonic()
            d = rig.start_daemon(rig.daemon_env(broker, ctx["s3"], topic, HTTP_PORT=port, **env))
            code = d.wait(RUN_S)
            secs = time.monotonic() - t0
            h, _ = http_get(port, "/healthz")
            r, body = http_get(port, "/readyz")
            if code is None:
                code_shown = f"running after {RUN_S} s"
                d.signal(signal.SIGTERM)
                if d.wait(30) is None:
                    d.stop()
            else:
                code_shown = f"{code} after {secs:.1f} s"
            lines = said(d)
            clear = [j for j in lines if any(w in describe(j).lower() for w in words)]
            first = describe(clear[0]) if clear else (describe(lines[0]) if lines else "nothing")
            health = f"{h}/{r}" + (f" {body.strip()[:80]}" if body.strip() else "")
            rows.append([name, code_shown, health, first, len(lines), len(clear)])
            errs = []
            if not clear:
                errs.append(f"no line names the cause (looked for {words})")
            if code is None and r == 200:
                errs.append("/readyz says ready")
            if code == 0:
                errs.append("exit 0")
            if errs:
                failures.append(f"{name}: " + "; ".join(errs) + "\n" + d.tail(15))
        table("13. TLS and SASL (tansu --cert/--key --authentication, SCRAM-SHA-512)",
              ["case", "exit", "healthz/readyz", "first clear line", "warn/error lines", "naming the cause"], rows)
    finally:
        broker.stop()
    return failures


SCENARIOS = [("13", "tls", scenario_tls)]
