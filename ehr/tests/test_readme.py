"""The README's FHIR examples, run as written: its shell block, in bash, with curl, against
a live server holding the demo clinic after the README's tour (one slot filled by SMS).
Only the server's address is changed, to the live server's."""

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from clinic.models import Provider
from messaging.services import clinic_sms_number, inbound_handle
from offers.models import Slot
from offers.services import slot_open
from waitlist.models import WaitlistEntry

# A fresh demo's ids (its first waitlist entry is waitlist-1), whatever ran before.
pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

ROOT = Path(settings.BASE_DIR)
README = (ROOT / "README.md").read_text()
# The FHIR part of "EHR integration": up to its first subsection (the HL7 and SMART
# examples there are run by test_readme_integration.py).
SECTION = README.split("\n## EHR integration", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
SHELL_BLOCKS = re.findall(r"```sh\n(.*?)```", SECTION, flags=re.DOTALL)
DEMO_URL = "http://127.0.0.1:8000"


def _database_url() -> str:
    """The test database, for the README's `manage.py create_api_key` in a subprocess."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _json_documents(text: str) -> list[dict]:
    decoder, documents, at = json.JSONDecoder(), [], 0
    while (start := text.find("{", at)) != -1:
        document, at = decoder.raw_decode(text, start)
        documents.append(document)
    return documents


@pytest.fixture
def demo_after_the_tour(settings):
    """The demo clinic, and the tour's slot: Dr. Maya Patel tomorrow at 10:00, taken by
    the first patient who answered YES."""
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    settings.SMS_BACKEND = "console"
    call_command("seed_demo", "--force", stdout=open(os.devnull, "w"))  # noqa: SIM115
    start = (timezone.localtime() + dt.timedelta(days=1)).replace(
        hour=10, minute=0, second=0, microsecond=0)
    slot = slot_open(provider=Provider.objects.get(name="Dr. Maya Patel"), start=start,
                     end=start + dt.timedelta(minutes=20))
    patient = slot.offers.first().patient
    inbound_handle(from_number=patient.phone, to_number=clinic_sms_number(), body="YES",
                   sid=f"SM{uuid.uuid4().hex}")
    assert Slot.objects.get(pk=slot.pk).status == Slot.Status.FILLED
    return slot


def test_the_readme_has_one_example_of_each_request():
    assert len(SHELL_BLOCKS) == 1
    block = SHELL_BLOCKS[0]
    assert '"status": "waitlist"' in block
    assert '"status": "cancelled"' in block
    assert "status=booked" in block
    assert "/api/fhir/Appointment/waitlist-1" in block
    # The provider the examples name is the demo's, with the demo's NPI.
    patel = next(line for line in (ROOT / "portal" / "demo.py").read_text().splitlines()
                 if "Dr. Maya Patel" in line)
    assert re.search(r'"(\d{10})"', patel).group(1) in block
    assert "Dr. Maya Patel" in block
    # No date written into the examples: they are computed from today.
    assert not re.search(r"\b20\d\d-\d\d-\d\d", block)


def test_the_readme_examples_run_against_the_demo_as_written(live_server,
                                                             demo_after_the_tour):
    for tool in ("bash", "curl"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed")
    script = SHELL_BLOCKS[0].replace(DEMO_URL, live_server.url)
    assert live_server.url in script
    env = {**os.environ, "DATABASE_URL": _database_url()}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr

    waitlist, cancelled, booked, entry = _json_documents(result.stdout)
    # status waitlist: stored, for the demo's Dr. Maya Patel, dates from tomorrow on.
    assert waitlist["status"] == "waitlist"
    stored = WaitlistEntry.objects.get(pk=int(waitlist["id"].removeprefix("waitlist-")))
    assert (stored.patient.first_name, stored.urgent) == ("Rosa", True)
    assert [p.name for p in stored.providers.all()] == ["Dr. Maya Patel"]
    assert stored.earliest_date == timezone.localdate() + dt.timedelta(days=1)
    # status cancelled: a slot two days ahead at 11:00 clinic time, offering.
    assert cancelled["status"] == "cancelled"
    slot = Slot.objects.get(pk=int(cancelled["id"].removeprefix("slot-")))
    local = timezone.localtime(slot.start)
    assert (local.date(), local.hour) == (timezone.localdate() + dt.timedelta(days=2), 11)
    assert cancelled["start"] == local.isoformat()
    assert slot.offers.exists()
    # status booked: not empty, the tour's slot is there with its patient.
    assert booked["resourceType"] == "Bundle"
    assert booked["total"] >= 1
    ids = [item["resource"]["id"] for item in booked["entry"]]
    assert f"slot-{demo_after_the_tour.pk}" in ids
    # one resource: the demo's first waitlist entry exists.
    assert entry["id"] == "waitlist-1"
    assert entry["resourceType"] == "Appointment"
