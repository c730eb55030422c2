#!/usr/bin/env python3
"""MSK IAM tokens made by AWS's own Python signer (PyPI aws-msk-iam-sasl-signer-python),
for fixed credentials, regions and times: the reference kafka-feeder's tokens are
compared with (src/sink/msk_iam_tests.rs, `tokens_are_the_python_signers`).

    python scripts/msk_iam_tokens.py --write tests/fixtures/msk_iam_tokens.json   # once, to make the fixture
    python scripts/msk_iam_tokens.py --check tests/fixtures/msk_iam_tokens.json --out target/msk_iam_tokens.json

--check regenerates every token with the installed signer, writes them to --out (which
the Rust test then reads through MSK_IAM_TOKENS, so it compares with the real signer's
output of this run) and fails if a signed parameter differs from the committed fixture.
scripts/test.sh runs it in a venv. The signer reads the clock through botocore's
get_current_datetime, which is the only thing patched: the signing is the package's.
"""

import argparse
import base64
import datetime
import importlib.metadata
import json
import sys
from unittest import mock
from urllib.parse import parse_qsl, urlsplit

import botocore.auth
from botocore.credentials import CredentialProvider, Credentials
from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

# AWS's documentation example keys; a session token with the characters that need
# encoding (+ / =); a time with a fraction of a second (X-Amz-Date truncates it).
CASES = [
    {"name": "static keys", "region": "eu-west-1", "access_key_id": "AKIDEXAMPLE",
     "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session_token": None,
     "time": "2024-05-01T12:00:00Z"},
    {"name": "temporary credentials", "region": "eu-west-1", "access_key_id": "ASIAEXAMPLEEXAMPLE",
     "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
     "session_token": "IQoJb3JpZ2luX2VjEXAMPLE+/session/token==", "time": "2024-05-01T12:00:00Z"},
    {"name": "another region, mid-second", "region": "us-east-1", "access_key_id": "AKIAIOSFODNN7EXAMPLE",
     "secret_access_key": "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY", "session_token": None,
     "time": "2025-12-31T23:59:59.750Z"},
]


class Fixed(CredentialProvider):
    METHOD = "fixed"

    def __init__(self, case):
        super().__init__()
        self.case = case

    def load(self):
        c = self.case
        return Credentials(c["access_key_id"], c["secret_access_key"], c["session_token"])


def when(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def generate():
    out = []
    for case in CASES:
        with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when(case["time"])):
            token, expiry_ms = MSKAuthTokenProvider.generate_auth_token_from_credentials_provider(
                case["region"], Fixed(case))
        out.append(dict(case, token=token, expiry_ms=expiry_ms))
    return out


def params(token):
    url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", parse_qsl(parts.query, strict_parsing=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", help="write the fixture here")
    ap.add_argument("--check", help="compare with this fixture")
    ap.add_argument("--out", help="with --check: write the regenerated tokens here")
    a = ap.parse_args()
    signer = importlib.metadata.version("aws-msk-iam-sasl-signer-python")
    fresh = generate()
    doc = {"signer": f"aws-msk-iam-sasl-signer-python {signer}", "cases": fresh}
    if a.write:
        with open(a.write, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        print(f"wrote {len(fresh)} tokens from {doc['signer']} to {a.write}")
    if not a.check:
        return 0
    if a.out:
        with open(a.out, "w") as f:
            json.dump(doc, f, indent=2)
    with open(a.check) as f:
        kept = json.load(f)["cases"]
    failures = 0
    for new, old in zip(fresh, kept):
        (base_n, pn), (base_o, po) = params(new["token"]), params(old["token"])
        signed = lambda ps: [(k, v) for k, v in ps if k != "User-Agent"]  # noqa: E731
        same = base_n == base_o and signed(pn) == signed(po) and new["expiry_ms"] == old["expiry_ms"]
        print(f"{'ok ' if same else 'DIFFERS'} {new['name']}: X-Amz-Signature={dict(pn)['X-Amz-Signature']}")
        failures += not same
    if len(fresh) != len(kept):
        print(f"DIFFERS: {len(fresh)} cases now, {len(kept)} in {a.check}")
        failures += 1
    print(f"msk-iam-tokens: {len(fresh) - failures} passed, {failures} failed (signer {signer})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
