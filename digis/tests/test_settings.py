"""Production mode: refuses to start half-configured, and passes `check --deploy`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x7Yq9-production-like-secret-key-that-is-long-enough-1234567890abcdef",
    "ALLOWED_HOSTS": "digis.example",
    "DATABASE_URL": "sqlite:////tmp/digis-deploy-check.sqlite3",
}


def _manage(*args, **env_overrides):
    # A production process sees none of the test run's own variables (the
    # suite points Stripe at localstripe, which check --deploy rightly flags).
    test_only = ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DIGIS_TESTING", "STRIPE_API_HOST", "STRIPE_WEBHOOK_SECRET")
    env = {k: v for k, v in os.environ.items() if k not in test_only and not k.startswith("CSP_EXTRA_")}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_production_refuses_to_start_without_secret_key():
    result = _manage("check", DEBUG="false", ALLOWED_HOSTS="digis.example")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.mark.slow
def test_production_refuses_to_start_without_allowed_hosts():
    result = _manage("check", DEBUG="false", SECRET_KEY=PROD_ENV["SECRET_KEY"])
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


@pytest.mark.slow
def test_check_deploy_reports_nothing_in_production_mode():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.slow
def test_check_deploy_flags_a_stripe_stand_in_left_on_in_production():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", STRIPE_API_HOST="http://127.0.0.1:8420", **PROD_ENV)
    assert result.returncode != 0
    assert "djstripe.W002" in result.stdout + result.stderr
