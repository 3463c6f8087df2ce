"""Schemathesis against /api/schema/ of the deployment, as a fan and anonymously.

The schema must tell the truth: no server errors, every response matching its
documented schema and status codes, and the server accepting what the schema
allows and refusing what it does not. Bounded to fit CI
(DIGIS_FUZZ_MAX_EXAMPLES per operation).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from e2e.clients import ProxyClient
from e2e.production.conftest import DEMO_PASSWORD

MAX_EXAMPLES = os.environ.get("DIGIS_FUZZ_MAX_EXAMPLES", "15")
# positive_data_acceptance is left out on purpose: it expects a 2xx for any
# schema-valid body, and many schema-valid bodies break a business rule no
# schema can state (following yourself, an unknown category, a file that is
# not an image); those answer a documented 4xx with a code.
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
])
# The deployment's global limit is 300 requests a minute per address; the
# fuzzer stays under it rather than measuring 429s.
RATE = "280/m"
# Operations that end the fuzzing user's own credentials or account would
# turn the rest of the run into 401s; each is covered by the accounts tests.
EXCLUDE = r"^/api/(auth/(logout|token|token/refresh|password-reset.*|register|verify.*)|me/(delete|password|email)|payments/stripe/webhook|calls/agora/events)/$"


def _fuzz(deployment, tmp_path: Path, *, token: str | None, label: str) -> subprocess.CompletedProcess:
    headers = ["-H", "X-Forwarded-Proto: https", "-H", f"X-Forwarded-For: 192.0.2.{10 if token else 11}"]
    if token:
        headers += ["-H", f"Authorization: Bearer {token}"]
    report = tmp_path / f"{label}.junit.xml"
    command = [
        str(Path(sys.executable).with_name("st")), "run", deployment.url("/api/schema/"),
        "--url", deployment.url("/"),
        "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing",
        "--exclude-path-regex", EXCLUDE,
        "--workers", "2",
        "--request-timeout", "30",
        "--suppress-health-check", "all",
        "--rate-limit", RATE,
        "--report", "junit", "--report-junit-path", str(report),
        *headers,
    ]
    env = dict(os.environ, PYTHONHASHSEED="0")
    return subprocess.run(command + ["--max-examples", MAX_EXAMPLES, "--seed", "1"], capture_output=True, text=True,
                          env=env, timeout=1800, cwd=tmp_path)


@pytest.mark.parametrize("who", ["anonymous", "fan"])
def test_the_api_keeps_the_promises_of_its_schema(deployment, tmp_path, who):
    token = None
    if who == "fan":
        # A fan of its own, with tokens to spend: the fuzzer changes what it touches.
        deployment.shell(
            "from accounts.services import register_user; from ledger.services import grant_promotion\n"
            "u = register_user(username='fuzzer', email='fuzzer@example.test', password='a-long-enough-secret-42', send_verification=False)\n"
            "grant_promotion(user=u, tokens=1000, idempotency_key='fuzzer-grant', reference='test')"
        )
        client = ProxyClient(deployment.url(), client_ip="192.0.2.10")
        token = client.token("fuzzer", "a-long-enough-secret-42")
        client.close()
    result = _fuzz(deployment, tmp_path, token=token, label=who)
    lines = result.stdout.splitlines()
    # Every failure schemathesis found (its FAILURES section), then its summary.
    first = next((i for i, line in enumerate(lines) if "FAILURES" in line and line.startswith("=")), len(lines))
    report = "\n".join(lines[first:first + 400] + ["[...]"] + lines[-60:])
    print(report)
    assert result.returncode == 0, report + result.stderr[-3000:]
    assert not deployment.server_errors()
