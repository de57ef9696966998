"""The console a person reads while `make run` works: task ids intact, phone numbers
masked, a refused request in one line, no repeated broker warnings, one clock a line."""

import datetime as dt
import io
import logging
import os
import re
import subprocess
import sys
import uuid
import zoneinfo
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.urls import reverse

from clinic.lib.logmask import mask_phones_in

ROOT = Path(__file__).resolve().parents[1]
HONCHO = Path(sys.executable).with_name("honcho")
CLOCK = re.compile(r"\b\d{1,2}:\d{2}:\d{2}\b")


@contextmanager
def console_output():
    """What the root logger's handlers (those of settings.LOGGING) write meanwhile."""
    stream = io.StringIO()
    swapped = [(handler, handler.setStream(stream)) for handler in logging.getLogger().handlers
               if isinstance(handler, logging.StreamHandler)
               and not type(handler).__module__.startswith("_pytest")]
    assert swapped, "settings.LOGGING gives the root logger a console handler"
    try:
        yield stream
    finally:
        for handler, previous in swapped:
            handler.setStream(previous)


@pytest.mark.parametrize("task_id", [
    str(uuid.UUID("6d1f2a3b-1234-4567-8901-234567890123")),
    "12345678-1234-4567-8901-234567890123",  # a task id of digits only
    *[str(uuid.uuid4()) for _ in range(50)],
])
def test_celery_task_ids_come_through_the_masker_unchanged(task_id):
    for line in (f"Task offers.tasks.offer_next_batch[{task_id}] received",
                 f"Task messaging.tasks.message_deliver[{task_id}] succeeded in 0.0123s: 'sent'",
                 f"task_id={task_id}"):
        assert mask_phones_in(line) == line


@pytest.mark.parametrize(("text", "expected"), [
    ("SMS to +13125550142 queued", "SMS to +1******0142 queued"),
    ("from=+13125550142, to=+13125550100", "from=+1******0142, to=+1******0100"),
    ("GET /waitlist/?q=3125550142 HTTP/1.1", "GET /waitlist/?q=******0142 HTTP/1.1"),
    ("reply from 312-555-0142.", "reply from ******0142."),
])
def test_phone_numbers_beside_task_ids_are_still_masked(text, expected):
    task_id = "6d1f2a3b-1234-4567-8901-234567890123"
    assert mask_phones_in(f"[{task_id}] {text}") == f"[{task_id}] {expected}"


@pytest.mark.django_db
def test_an_ordinary_403_is_one_line_without_a_traceback(client, front_desk_user):
    client.force_login(front_desk_user)
    with console_output() as output:
        response = client.get(reverse("portal:reports"))
    assert response.status_code == 403
    lines = output.getvalue().splitlines()
    assert [line for line in lines if "Forbidden (Permission denied): /reports/" in line]
    assert "Traceback" not in output.getvalue()
    assert "PermissionDenied" not in output.getvalue()


@pytest.mark.django_db
def test_a_server_error_keeps_its_traceback(client, front_desk_user, monkeypatch):
    from portal import views

    def broken(*args, **kwargs):
        raise RuntimeError("the database caught fire")

    monkeypatch.setattr(views.selectors, "today_slots_page", broken)
    client.raise_request_exception = False
    client.force_login(front_desk_user)
    with console_output() as output:
        response = client.get(reverse("portal:today"))
    assert response.status_code == 500
    assert "Traceback" in output.getvalue()
    assert "the database caught fire" in output.getvalue()


def _python(code: str, **env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**base, **env})


SETUP = ("import os, django, logging; os.environ['DJANGO_SETTINGS_MODULE']='clinic.settings';"
         "django.setup();")


def test_the_embedded_broker_connects_without_a_hostname_warning():
    result = _python(SETUP + "from kombu import Connection; from django.conf import settings;"
                     "c = Connection(settings.CELERY_BROKER_URL,"
                     " transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS);"
                     "c.connect(); c.info(); c.release(); print('connected')")
    assert result.returncode == 0, result.stderr
    assert "connected" in result.stdout
    assert "No hostname was supplied" not in result.stderr


def test_log_lines_carry_the_clinic_clock_or_none_when_honcho_gives_its_own():
    code = SETUP + "logging.getLogger('offers.tasks').warning('Slot 4 has no more offers')"
    stamped = _python(code).stderr.strip().splitlines()[-1]
    assert CLOCK.search(stamped)
    assert stamped.endswith("WARNING offers.tasks: Slot 4 has no more offers")
    bare = _python(code, LOG_TIMESTAMPS="false").stderr.strip().splitlines()[-1]
    assert bare == "WARNING offers.tasks: Slot 4 has no more offers"


def test_make_run_gives_each_line_one_clock_the_clinics():
    # Every process of `make run` leaves the clock to honcho...
    processes = [line for line in (ROOT / "Procfile.dev").read_text().splitlines()
                 if line and not line.startswith("#")]
    assert {line.split(":", 1)[0] for line in processes} >= {"web", "worker", "beat"}
    assert all("LOG_TIMESTAMPS=false" in line for line in processes)
    # ...and `make run` sets honcho's clock to the clinic's time zone.
    run_recipe = (ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert 'TZ="$$(' in run_recipe
    assert "settings.TIME_ZONE" in run_recipe


def test_honcho_stamps_lines_with_the_time_zone_it_is_given(tmp_path):
    if not HONCHO.exists():
        pytest.skip("honcho is not installed beside this Python")
    (tmp_path / "Procfile").write_text("say: echo 'INFO offers.tasks: hello'\n")
    zone = "America/Chicago"
    result = subprocess.run([str(HONCHO), "--no-colour", "-f", str(tmp_path / "Procfile"),
                             "start"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=30, env={**os.environ, "TZ": zone})
    line = next(line for line in result.stdout.splitlines() if "hello" in line)
    assert len(CLOCK.findall(line)) == 1
    stamp = dt.datetime.strptime(CLOCK.search(line).group(0), "%H:%M:%S").time()
    now = dt.datetime.now(zoneinfo.ZoneInfo(zone))
    seconds_apart = abs((now.hour * 3600 + now.minute * 60 + now.second)
                        - (stamp.hour * 3600 + stamp.minute * 60 + stamp.second))
    assert min(seconds_apart, 86400 - seconds_apart) < 120
