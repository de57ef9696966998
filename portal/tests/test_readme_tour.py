"""The README's first screen, followed as a newcomer would: the demo's password, then the
five-step tour from a recorded cancellation to a filled slot and its audit trail, in a
real browser against the demo clinic. Also its commands to stop and reset the demo."""

import datetime as dt
import os
import re
import subprocess
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from offers.models import Slot
from portal.demo import DEMO_PASSWORD
from portal.tests.browser import SCREENSHOTS, sign_in

ROOT = Path(django_settings.BASE_DIR)
README = (ROOT / "README.md").read_text()
FIRST_SCREEN = README.split("\n## Tests", 1)[0]
TOUR = re.findall(r"^\d\. (.+?)(?=^\d\. |^\*\*Stop\*\*)", FIRST_SCREEN,
                  flags=re.MULTILINE | re.DOTALL)


def test_the_first_screen_gives_two_commands_the_password_and_how_to_stop_and_reset():
    assert "make run" in FIRST_SCREEN
    assert "make test" in FIRST_SCREEN
    assert f"**`{DEMO_PASSWORD}`**" in FIRST_SCREEN
    assert "Ctrl-C" in FIRST_SCREEN
    assert "`make reset`" in FIRST_SCREEN
    assert len(TOUR) == 5
    assert "at least an hour ahead" in TOUR[1]


def test_make_reset_forgets_the_demo_database_and_the_queue():
    result = subprocess.run(["make", "-n", "reset"], cwd=ROOT, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "db.sqlite3" in result.stdout
    assert "var/celery-queue" in result.stdout
    assert ".venv" not in result.stdout  # a reset is quick: the install stays


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_readme_tour_gets_a_newcomer_to_a_filled_slot(page, settings):
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    settings.SMS_BACKEND = "console"
    call_command("seed_demo", "--force", stdout=open(os.devnull, "w"))  # noqa: SIM115
    frontdesk = get_user_model().objects.get(username="frontdesk")

    # 1. Sign in as frontdesk with the password the README gives.
    assert "`frontdesk` / `waitlist-demo-2026`" in TOUR[0]
    sign_in(page, frontdesk, password=DEMO_PASSWORD)

    # 2. Record a cancellation: Dr. Maya Patel, tomorrow, 10:00.
    for words in ("Record a cancellation", "Dr. Maya Patel", "10:00",
                  "Record and start offering"):
        assert words in TOUR[1]
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    page.get_by_label("Provider").select_option(label="Dr. Maya Patel")
    page.get_by_label("Date").fill(tomorrow.isoformat())
    page.get_by_label("Time").fill("10:00")
    page.get_by_role("button", name="Record and start offering").click()
    slot_card = page.locator("article.slot").first
    slot_card.locator("li.offer").nth(2).wait_for()
    assert slot_card.locator("li.offer").count() == 3
    page.locator(".countdown", has_text="left").first.wait_for()

    # 3. The SMS simulator, in a second tab: a patient holding an offer.
    assert "SMS simulator" in TOUR[2]
    phone = page.context.new_page()
    phone.goto("/")
    phone.get_by_role("link", name="SMS simulator").click()
    phone.locator("#holders a").first.click()
    # The offer, in the patient's language (the demo has Spanish speakers too).
    phone.locator(".bubble.out", has_text=re.compile("earlier visit|cita libre")).wait_for()

    # 4. YES: booked.
    assert "**YES**" in TOUR[3]
    phone.get_by_role("button", name="YES", exact=True).click()
    phone.locator(".bubble.out", has_text=re.compile("You're booked|Listo")).wait_for()

    # 5. Today shows it filled, without a reload; the audit trail names the patient.
    slot_card.locator("[data-testid=slot-status]", has_text="Filled").wait_for(
        timeout=10_000)
    slot = Slot.objects.get()
    patient = slot.filled_entry.patient
    assert slot_card.locator(".winner").inner_text().startswith(f"Filled by {patient}")
    slot_card.get_by_role("link", name=str(patient)).first.click()
    trail = page.locator("#audit-trail-title").locator("..")
    trail.wait_for()
    assert "by SMS (simulated)" in TOUR[4]
    assert f"{patient} (patient), by SMS (simulated)" in trail.inner_text()
    assert "frontdesk" not in trail.inner_text().split("Offer (")[0]
    page.screenshot(path=str(SCREENSHOTS / "readme-tour-audit.png"), full_page=True)
    assert page.console_errors == [], page.console_errors
