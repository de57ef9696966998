"""Settings rules: production refuses unsafe defaults; check --deploy is silent."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "k" * 20 + "-random-production-secret-value-0123456789"


def run_manage(*args: str, **env_overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEBUG"))}
    # The developer's .env must not leak in: these runs describe production. An empty
    # value is "unset" to the settings, and the real environment wins over .env.
    env.update({"DEBUG": "false", "DATABASE_URL": "sqlite:///:memory:",
                "SECURE_SSL_REDIRECT": ""})
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = run_manage("check", SECRET_KEY="", ALLOWED_HOSTS="clinic.example.org")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_the_development_secret_key():
    from clinic.settings import DEV_SECRET_KEY

    result = run_manage("check", SECRET_KEY=DEV_SECRET_KEY, ALLOWED_HOSTS="clinic.example.org")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_empty_allowed_hosts():
    result = run_manage("check", SECRET_KEY=GOOD_SECRET, ALLOWED_HOSTS="")
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must list" in result.stderr


def test_check_deploy_reports_nothing_under_production_settings():
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING",
        SECRET_KEY=GOOD_SECRET, ALLOWED_HOSTS="clinic.example.org",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OFFER_BATCH_SIZE", "three", "OFFER_BATCH_SIZE='three' is not a whole number"),
        ("OFFER_BATCH_SIZE", "0", "OFFER_BATCH_SIZE=0 must be between"),
        ("OFFER_HOLD_SECONDS", "5", "OFFER_HOLD_SECONDS=5 must be between"),
        ("SMS_SEND_HOURS", "8am-8pm", "SMS_SEND_HOURS='8am-8pm' must look like 08:00-20:00"),
        ("SMS_SEND_HOURS", "20:00-08:00", "the end must be after the start"),
        ("SMS_BACKEND", "carrier-pigeon", "SMS_BACKEND='carrier-pigeon' must be one of"),
        ("CLINIC_TIME_ZONE", "Mars/Olympus", "is not a time zone name"),
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
        ("PUBLIC_BASE_URL", "clinic.example.org", "must start with https://"),
    ],
)
def test_a_bad_value_stops_start_up_with_a_clear_message(name, value, message):
    result = run_manage("check", **{"SECRET_KEY": GOOD_SECRET, "ALLOWED_HOSTS": "x.org",
                                    name: value})
    assert result.returncode != 0
    assert message in result.stderr


TWILIO_ON = {"SECRET_KEY": GOOD_SECRET, "ALLOWED_HOSTS": "x.org", "SMS_BACKEND": "twilio",
             "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t" * 32,
             "TWILIO_FROM_NUMBER": "+13125550100"}


def test_twilio_behind_an_https_redirect_needs_an_https_public_base_url():
    result = run_manage("check", **TWILIO_ON, PUBLIC_BASE_URL="http://x.org")
    assert result.returncode != 0
    assert "PUBLIC_BASE_URL='http://x.org' must start with https:// while " \
           "SECURE_SSL_REDIRECT is on" in result.stderr
    assert run_manage("check", **TWILIO_ON, PUBLIC_BASE_URL="https://x.org").returncode == 0


def test_an_http_public_base_url_is_accepted_where_no_tls_is_in_front():
    result = run_manage("check", **TWILIO_ON, PUBLIC_BASE_URL="http://x.org",
                        SECURE_SSL_REDIRECT="false")
    assert result.returncode == 0, result.stderr


def test_the_default_public_base_url_works_in_development():
    result = run_manage("check", DEBUG="true", SMS_BACKEND="twilio",
                        **{k: v for k, v in TWILIO_ON.items() if k.startswith("TWILIO")})
    assert result.returncode == 0, result.stderr


def test_twilio_backend_needs_its_credentials():
    result = run_manage("check", SECRET_KEY=GOOD_SECRET, ALLOWED_HOSTS="x.org",
                        SMS_BACKEND="twilio", TWILIO_ACCOUNT_SID="", TWILIO_AUTH_TOKEN="",
                        TWILIO_FROM_NUMBER="")
    assert result.returncode != 0
    assert "SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID" in result.stderr


def test_embedded_defaults_need_no_server(settings):
    # The suite itself may run on PostgreSQL; the defaults are read from a fresh process.
    result = subprocess.run(
        [sys.executable, "-c",
         "import django, os; os.environ.pop('DATABASE_URL', None); os.environ.pop('REDIS_URL', None);"
         "os.environ['DJANGO_SETTINGS_MODULE']='clinic.settings'; django.setup();"
         "from django.conf import settings as s;"
         "print(s.DATABASES['default']['ENGINE'], s.DATABASES['default']['OPTIONS']['transaction_mode'],"
         " s.CELERY_BROKER_URL, s.SMS_BACKEND, s.OFFER_BATCH_SIZE, s.OFFER_HOLD_SECONDS)"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3", "IMMEDIATE", "filesystem://localhost/", "console", "3", "420"
    ]
