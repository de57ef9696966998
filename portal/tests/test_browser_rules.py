"""Clinic rules in a real browser (chromium through playwright, as in test_browser.py): a
manager makes a visit type require approval on the Rules page; the front desk records a
cancellation of that type; the patient says YES in the SMS simulator; the front desk
approves it on Today; the slot turns filled and the patient's thread shows both texts."""

import datetime as dt

import pytest
from django.utils import timezone

from clinic.tests.factories import AppointmentTypeFactory, PatientFactory, ProviderFactory
from offers.models import Offer, OfferRule, Slot
from portal.tests.browser import axe_violations, sign_in
from portal.tests.test_browser import _shot
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def texting_any_hour(settings):
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    settings.SMS_BACKEND = "console"


def test_a_visit_type_requiring_approval_is_booked_when_the_front_desk_approves(
        open_page, manager_user, front_desk_user):
    provider = ProviderFactory(name="Dr. Maya Patel")
    neuro = AppointmentTypeFactory(code="neuro-new", name="New neurology visit")
    ana = PatientFactory(first_name="Ana")
    WaitlistEntryFactory(patient=ana, boost=40)

    # The manager: Rules page, approval for the visit type, and the preview agrees.
    manager = open_page()
    sign_in(manager, manager_user)
    manager.get_by_role("link", name="Rules").click()
    manager.wait_for_url("**/rules/")
    form = manager.locator("#rule-form")
    form.get_by_label("Appointment type").select_option(str(neuro.pk))
    form.get_by_label("Booking mode").select_option("approval")
    form.get_by_label("Texting from").fill("07:00")
    form.get_by_label("Texting until").fill("20:00")
    form.get_by_role("button", name="Save rule").click()
    # Validation: 7 am is inside TCPA quiet hours.
    manager.get_by_text("must lie within 8:00 AM").wait_for()
    # That page came with its 400, which the browser logs: expected, not a page error.
    assert manager.console_errors == [
        "Failed to load resource: the server responded with a status of 400 (Bad Request)"]
    manager.console_errors.clear()
    form = manager.locator("#rule-form")
    form.get_by_label("Texting from").fill("")
    form.get_by_label("Texting until").fill("")
    form.get_by_role("button", name="Save rule").click()
    manager.get_by_text("Saved the rule for All providers · New neurology visit").wait_for()
    assert OfferRule.objects.get().booking_mode == "approval"
    preview = manager.locator("form[hx-get]")
    preview.get_by_label("Provider").select_option(str(provider.pk))
    preview.get_by_label("Appointment type").select_option(str(neuro.pk))
    preview.get_by_role("button", name="Show the rule").click()
    manager.locator("#rule-preview", has_text="a YES reserves it until staff approve").wait_for()
    manager.get_by_text("Rule added").wait_for()  # the change is in the audit list
    _shot(manager, "rules")
    assert axe_violations(manager) == []
    assert manager.console_errors == [], manager.console_errors

    # The front desk records a cancellation of that type.
    desk = open_page()
    sign_in(desk, front_desk_user)
    when = timezone.localtime() + dt.timedelta(days=2)
    desk.get_by_label("Provider").select_option(str(provider.pk))
    desk.get_by_label("Date").fill(when.date().isoformat())
    desk.get_by_label("Time").fill("10:00")
    desk.get_by_label("Duration (minutes)").fill("20")
    desk.get_by_label("Appointment type").select_option(str(neuro.pk))
    desk.get_by_role("button", name="Record and start offering").click()
    desk.locator("li.offer").first.wait_for()
    offer = Offer.objects.get(patient=ana)

    # Ana says YES in the simulator: told the truth, not booked yet.
    phone = desk.context.new_page()
    phone.goto(f"/simulator/?patient={ana.pk}")
    phone.get_by_role("textbox", name="Message").fill("YES")
    phone.get_by_role("button", name="Send").click()
    phone.locator(".bubble.out", has_text="Thanks! The clinic will confirm shortly.").wait_for()

    # Today shows the pending booking at the top (the list polls), with Approve.
    approve = desk.locator(f"#approve-{offer.pk}")
    approve.wait_for(timeout=10_000)
    assert "waiting 0 min" in desk.locator("[data-testid=pending-bookings]").inner_text()
    _shot(desk, "today-pending-booking")
    approve.click()
    desk.locator("[data-testid=slot-status]", has_text="Filled").wait_for(timeout=10_000)
    assert Slot.objects.get().status == Slot.Status.FILLED
    assert desk.locator("[data-testid=pending-bookings]").count() == 0

    # The patient's thread shows both texts: "will confirm shortly", then "You're booked".
    desk.goto(f"/patients/{ana.pk}/")
    thread = desk.locator("#thread")
    thread.get_by_text("Thanks! The clinic will confirm shortly.").wait_for()
    thread.get_by_text("You're booked").wait_for()
    assert desk.console_errors == [], desk.console_errors
