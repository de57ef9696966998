"""Replies in a real browser (chromium through playwright, as in test_browser.py): a
stranger's "wrong number" typed into the SMS simulator shows on Today without a reload,
and on the patient page."""

import datetime as dt

import pytest
from django.utils import timezone

from clinic.tests.factories import PatientFactory, ProviderFactory
from offers.models import Offer
from offers.services import slot_open
from portal.tests.browser import axe_violations, sign_in
from portal.tests.test_browser import _shot
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def texting_any_hour(settings):
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)


def test_a_wrong_number_typed_in_the_simulator_shows_on_today_and_the_patient_page(
        page, front_desk_user):
    ana = PatientFactory(first_name="Ana")
    WaitlistEntryFactory(patient=ana, boost=40)
    WaitlistEntryFactory(patient=PatientFactory(first_name="Ben"))
    start = (timezone.localtime() + dt.timedelta(days=1)).replace(hour=10, minute=0,
                                                                  second=0, microsecond=0)
    slot_open(provider=ProviderFactory(name="Dr. Maya Patel"), start=start,
              end=start + dt.timedelta(minutes=20))
    offer = Offer.objects.get(patient=ana)
    sign_in(page, front_desk_user)
    badge = page.locator(f"#offer-{offer.pk}-patient + .badge")
    badge.wait_for()
    page.evaluate("window.__noReload = 1")

    phone = page.context.new_page()
    phone.goto(f"/simulator/?patient={ana.pk}")
    phone.get_by_role("textbox", name="Message").fill("Wrong number, I don't know any Ana")
    phone.get_by_role("button", name="Send").click()
    phone.locator(".bubble.out", has_text="We will not text this number again").wait_for()

    badge.filter(has_text="Wrong number").wait_for(timeout=10_000)
    assert page.evaluate("window.__noReload") == 1
    _shot(page, "today-wrong-number")
    page.goto(f"/patients/{ana.pk}/")
    assert page.locator("[data-testid=wrong-number]").inner_text() == "Wrong number"
    assert "Can receive offers" not in page.locator("dl.facts").inner_text()
    assert page.console_errors == [], page.console_errors


def test_a_simulated_call_answered_with_key_1_fills_the_slot(page, front_desk_user):
    from clinic.models import Patient

    rosa = PatientFactory(first_name="Rosa", offer_channel=Patient.OfferChannel.VOICE)
    WaitlistEntryFactory(patient=rosa)
    start = (timezone.localtime() + dt.timedelta(days=1)).replace(hour=11, minute=0,
                                                                  second=0, microsecond=0)
    slot = slot_open(provider=ProviderFactory(name="Dr. Maya Patel"), start=start,
                     end=start + dt.timedelta(minutes=20))
    sign_in(page, front_desk_user)
    page.goto(f"/simulator/?patient={rosa.pk}")

    page.get_by_text("Incoming call").wait_for()
    page.get_by_role("button", name="Answer").click()
    spoken = page.locator("[data-testid=spoken]")
    spoken.filter(has_text="Dr. Maya Patel").wait_for()
    assert "press 1" in spoken.inner_text()
    assert axe_violations(page) == []
    page.get_by_role("button", name="1", exact=True).click()
    spoken.filter(has_text="You're booked, Rosa").wait_for()

    page.goto("/")
    page.locator(f"#slot-{slot.pk}").get_by_text("Filled").first.wait_for()
    slot.refresh_from_db()
    assert slot.status == "filled"
    assert page.console_errors == [], page.console_errors
