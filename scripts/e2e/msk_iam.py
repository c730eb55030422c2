"""KAFKA_SASL_MECHANISM=AWS_MSK_IAM against a front that checks the token as MSK does
(issue 19): scenario 15 of scripts/e2e/rig.py.

`IamFront` is scenario 14's TLS front (tls_sasl.SecureFront) speaking SASL/OAUTHBEARER
instead of PLAIN: it takes the bearer token from the client's first message, decodes
the presigned URL and recomputes its SigV4 signature with botocore for the one IAM user
it knows (the e2e S3 server's keys: one identity for S3 and Kafka, as in a pod), then
checks the action, service, region, expiry and clock skew. Only then does it relay to
tansu. The topic is read back through the same front by confluent-kafka, whose tokens
come from AWS's Python signer (aws-msk-iam-sasl-signer-python): the front accepts the
reference signer's tokens and the daemon's alike.
"""

import base64
import datetime
import hashlib
import hmac
import os
import threading
import time
from unittest import mock
from urllib.parse import parse_qsl, urlsplit

import botocore.auth
from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
from botocore.awsrequest import AWSRequest
from botocore.credentials import CredentialProvider, Credentials

import harness
import tls_sasl
from harness import http_get, table

REGION = "eu-west-1"
SKEW_S = 300  # MSK, like every SigV4 service, refuses a signature from too far off the clock
RUN_S = 12  # how long a failing case runs before it is judged
_SIGNING = threading.Lock()  # botocore's clock is patched while one signature is recomputed


def verify(auth_bytes, keys, now):
    """(accepted, why not) for a SASL/OAUTHBEARER client-first message carrying an MSK token."""
    try:
        fields = dict(kv.split("=", 1) for kv in auth_bytes.decode().split("\x01")[1:] if "=" in kv)
        bearer = fields.get("auth", "")
        if not bearer.startswith("Bearer "):
            return False, "no bearer token"
        token = bearer[len("Bearer "):]
        url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        parts = urlsplit(url)
        q = dict(parse_qsl(parts.query, strict_parsing=True))
    except (ValueError, UnicodeDecodeError) as e:
        return False, f"not an MSK IAM token: {e}"
    host = f"kafka.{REGION}.amazonaws.com"
    if parts.scheme != "https" or parts.netloc != host or parts.path != "/":
        return False, f"signed for {parts.scheme}://{parts.netloc}{parts.path}, not https://{host}/"
    if q.get("Action") != "kafka-cluster:Connect" or q.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        return False, f"action {q.get('Action')!r}, algorithm {q.get('X-Amz-Algorithm')!r}"
    if q.get("X-Amz-SignedHeaders") != "host" or not q.get("User-Agent"):
        return False, "signed headers or User-Agent missing"
    try:
        access_key, day, region, service, terminal = q["X-Amz-Credential"].split("/")
        signed_at = datetime.datetime.strptime(q["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        expires = int(q["X-Amz-Expires"])
    except (KeyError, ValueError) as e:
        return False, f"malformed signature parameters: {e}"
    if (region, service, terminal) != (REGION, "kafka-cluster", "aws4_request") or day != q["X-Amz-Date"][:8]:
        return False, f"credential scope {day}/{region}/{service}/{terminal}"
    at = signed_at.replace(tzinfo=datetime.timezone.utc).timestamp()
    if not 0 < expires <= 900 or abs(now - at) > SKEW_S + expires or now > at + expires:
        return False, f"expired or from another time: signed {q['X-Amz-Date']}, expires {expires}"
    secret = keys.get(access_key)
    if secret is None:
        return False, f"unknown access key {access_key}"
    creds = Credentials(access_key, secret, q.get("X-Amz-Security-Token"))
    request = AWSRequest(method="GET", url=f"https://{host}/", params={"Action": q["Action"]})
    with _SIGNING, mock.patch.object(botocore.auth, "get_current_datetime", return_value=signed_at):
        botocore.auth.SigV4QueryAuth(creds, "kafka-cluster", REGION, expires=expires).add_auth(request)
        expected = dict(parse_qsl(urlsplit(request.prepare().url).query))["X-Amz-Signature"]
    if not hmac.compare_digest(expected, q.get("X-Amz-Signature", "")):
        return False, "the signature does not match"
    return True, ""


class IamFront(tls_sasl.SecureFront):
    """TLS and SASL/OAUTHBEARER with MSK IAM tokens for `keys` (access key id to secret)."""

    MECHANISM = "OAUTHBEARER"

    def __init__(self, cert, key, port, target, keys):
        self.keys = keys
        self.accepted = set()  # hashes of the distinct tokens let in
        self.reasons = []  # why tokens were refused
        super().__init__(cert, key, port, target, None, None)

    def authenticate(self, auth_bytes):
        ok, why = verify(auth_bytes, self.keys, time.time())
        if ok:
            self.accepted.add(hashlib.sha256(auth_bytes).hexdigest())
        else:
            self.reasons.append(why)
        return ok, "" if ok else f"Authentication failed: access denied ({why})"


class Fixed(CredentialProvider):
    METHOD = "e2e"

    def __init__(self, access_key, secret):
        super().__init__()
        self.creds = Credentials(access_key, secret)

    def load(self):
        return self.creds


def reader_conf(ca, access_key, secret):
    """confluent-kafka through the front, its tokens from AWS's Python signer."""
    def token(_config):
        t, expiry_ms = MSKAuthTokenProvider.generate_auth_token_from_credentials_provider(
            REGION, Fixed(access_key, secret))
        return t, expiry_ms / 1000
    return {"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER", "oauth_cb": token,
            "ssl.ca.location": ca}


def lines(d, event):
    return [j for j in d.json_lines() if j.get("event") == event]


def scenario_msk_iam(ctx):
    """15. AWS_MSK_IAM: the daemon's token is verified with botocore and messages are
    delivered; wrong keys end in one clear line and /readyz 503; no credentials, exit 4."""
    rig = ctx["rig"]
    certs = tls_sasl.make_certs(os.path.join(rig.WORK, "msk-iam"))
    keys = {rig.ACCESS_KEY: rig.SECRET_KEY}
    front = IamFront(certs["server.pem"], certs["server.key"], harness.free_port(), harness.free_port(), keys)
    broker = rig.Tansu(port=front.target, advertised_port=front.port).start()
    iam = {"KAFKA_SASL_MECHANISM": "AWS_MSK_IAM", "AWS_REGION": REGION,
           "KAFKA_PRODUCER_SSL_CA_LOCATION": certs["ca.pem"], "AWS_EC2_METADATA_DISABLED": "true"}
    local = os.path.join(rig.REPO, "data/transactions.csv")
    failures, rows = [], []
    try:
        topic = broker.create_topic(rig.new_topic("msk"), 3)
        # The working case: the S3 keys sign the Kafka token too.
        d, connected, code, health, delivered = tls_sasl.deliver(ctx, broker, topic, iam)
        accepted_daemon = len(front.accepted)
        found, _, invalid, _ = rig.read_topic(broker.bootstrap, topic,
                                              conf=reader_conf(certs["ca.pem"], rig.ACCESS_KEY, rig.SECRET_KEY))
        ready = lines(d, "msk_iam_ready")
        leaked = [line for line in d.text().splitlines() if any(
            t in line for t in ("Bearer ", "X-Amz-Signature", rig.SECRET_KEY, "aHR0cHM6Ly9rYWZrYS"))]
        ok = connected and code == 0 and delivered > 0 and found == delivered and invalid == 0 \
            and accepted_daemon >= 1 and ready and not leaked
        rows.append(["right keys (the S3 identity)", code, health, f"{delivered} delivered, {found} found",
                     f"{accepted_daemon} token(s) verified", len(front.reasons)])
        if not ok:
            failures.append(f"AWS_MSK_IAM: connected={bool(connected)} exit={code} delivered={delivered} "
                            f"found={found} verified={accepted_daemon} ready={bool(ready)} leaked={leaked[:2]} "
                            f"refused={front.reasons[:3]}\n{d.tail(20)}")

        # Wrong keys: the daemon signs with a secret the front does not know.
        refused_before = len(front.reasons)
        port = harness.free_port()
        t0 = time.monotonic()
        d = rig.start_daemon(rig.daemon_env(broker, None, topic, HTTP_PORT=port, DATASET_URI=local,
                                            AWS_SECRET_ACCESS_KEY="wrong-" + rig.SECRET_KEY, **iam))
        code = d.wait(RUN_S)
        h, _ = http_get(port, "/healthz")
        r, body = http_get(port, "/readyz")
        if code is None:
            d.terminate(30)
        clear = lines(d, "broker_authentication_failed")
        said = " ".join(str(j.get("message", "")) for j in clear[:1])
        errs = []
        for words in ("KAFKA_SASL_MECHANISM", "kafka-cluster:Connect", "WriteData"):
            if words not in said:
                errs.append(f"the line does not name {words}: {said[:200]!r}")
        if len(clear) > RUN_S // 10 + 1:
            errs.append(f"{len(clear)} broker_authentication_failed lines in {RUN_S} s: a loop")
        if r != 503 or "AWS_MSK_IAM" not in body:
            errs.append(f"/readyz {r}: {body.strip()[:120]}")
        if code is not None:
            errs.append(f"exited {code} (a refused token is retried, as a down broker is)")
        if len(front.reasons) == refused_before:
            errs.append("the front refused nothing")
        rows.append(["wrong secret", f"running after {time.monotonic() - t0:.0f} s" if code is None else code,
                     f"{h}/{r} {body.strip()[:60]}", f"{len(clear)} broker_authentication_failed",
                     (front.reasons[refused_before:] or ["-"])[0][:40], len(front.reasons) - refused_before])
        if errs:
            failures.append("wrong secret: " + "; ".join(errs) + "\n" + d.tail(15))

        # No credentials anywhere in the chain: exit 4, naming it, before connecting.
        d = rig.start_daemon(rig.daemon_env(broker, None, topic, DATASET_URI=local, AWS_ACCESS_KEY_ID=None,
                                            AWS_SECRET_ACCESS_KEY=None, **iam))
        code = d.exit_within(30)
        failed = lines(d, "failed")
        said = str(failed[0].get("error", "")) if failed else ""
        ok = code == 4 and "no AWS credentials" in said and "AWS_WEB_IDENTITY_TOKEN_FILE" in said \
            and not lines(d, "broker_connected")
        rows.append(["no credentials", code, "-", said[:70], "-", "-"])
        if not ok:
            failures.append(f"no credentials: exit={code} line={said[:200]!r}\n{d.tail(10)}")
        table("15. AWS_MSK_IAM (a TLS front verifying the token with botocore, before tansu)",
              ["case", "exit", "healthz/readyz", "delivered / clear line", "front", "refused"], rows)
    finally:
        broker.stop()
        front.close()
    return failures


SCENARIOS = [("15", "msk-iam", scenario_msk_iam)]
