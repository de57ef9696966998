"""The README's curl examples are real requests: post them and check what comes back."""

import datetime as dt
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from clinic.tests.factories import AppointmentTypeFactory
from ehr.tests.payloads import URL, get, post

pytestmark = pytest.mark.django_db

README = Path(settings.BASE_DIR / "README.md").read_text()
SECTION = README.split("## EHR integration", 1)[1].split("\n## ", 1)[0]
BODIES = re.findall(r"-d '(\{.*?\})'", SECTION, flags=re.DOTALL)


def next_year(text: str) -> str:
    """The examples' dates, moved to next year so that they stay in the future."""
    return re.sub(r"\b20\d\d-", f"{timezone.now().year + 1}-", text)


def test_the_readme_shows_one_post_per_status_and_both_gets():
    assert [re.search(r'"status": "(\w+)"', body).group(1) for body in BODIES] == [
        "waitlist", "cancelled"]
    assert "status=booked" in SECTION
    assert "/api/fhir/Appointment/slot-" in SECTION


def test_the_readme_examples_are_accepted(client, key, settings):
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    AppointmentTypeFactory(code="follow-up")

    waitlist, cancelled = (post(client, key, next_year(body)) for body in BODIES)

    assert (waitlist.status_code, cancelled.status_code) == (201, 201)
    assert waitlist.json()["status"] == "waitlist"
    assert cancelled.json()["status"] == "cancelled"
    booked = get(client, key, URL, status="booked", _lastUpdated=next_year("gt2027-01-09T00:00:00Z"))
    assert booked.status_code == 200
    assert booked.json()["total"] == 0
