"""The portal in a real browser: Debian's chromium driven by playwright, against
pytest-django's live server (real transactions, so offers go out after commit).

Skipped with a reason when chromium or playwright is missing, unless REQUIRE_BROWSER=1.
Screenshots of each main page go to test-results/screenshots/.
"""

import datetime as dt

import pytest
from django.utils import timezone

from clinic.tests.factories import AppointmentTypeFactory, PatientFactory, ProviderFactory
from offers.models import Offer, Slot
from offers.tests.factories import OfferFactory
from portal.tests.browser import SCREENSHOTS, sign_in
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


_sign_in = sign_in


@pytest.fixture(autouse=True)
def texting_any_hour(settings):
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    settings.SMS_BACKEND = "console"


def _shot(page, name):
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_front_desk_records_a_cancellation_and_sees_it_filled_live(page, front_desk_user):
    provider = ProviderFactory(name="Dr. Maya Patel")
    AppointmentTypeFactory()
    for first in ("Ana", "Ben", "Chloe", "Diego"):
        WaitlistEntryFactory(patient=PatientFactory(first_name=first))

    page.goto("/accounts/login/")
    _shot(page, "login")
    _sign_in(page, front_desk_user)

    when = timezone.localtime() + dt.timedelta(days=2)
    page.get_by_label("Provider").select_option(str(provider.pk))
    page.get_by_label("Date").fill(when.date().isoformat())
    page.get_by_label("Time").fill("10:00")
    page.get_by_label("Duration (minutes)").fill("20")
    page.get_by_role("button", name="Record and start offering").click()

    slot_card = page.locator("article.slot").first
    offers = slot_card.locator("li.offer")
    offers.nth(2).wait_for()
    assert offers.count() == 3
    assert slot_card.locator("[data-testid=slot-status]").inner_text() == "Offering"
    # The countdown script turns "hold until ..." into minutes and seconds left.
    page.wait_for_function(
        "document.querySelector('.countdown') && /\\d+:\\d\\d left/.test("
        "document.querySelector('.countdown').textContent)")
    _shot(page, "today")

    # Reply YES from the first patient's phone, in a second tab of the same session. A
    # reload or navigation of the Today tab would drop this marker.
    page.evaluate("window.__noReload = 1")
    phone = page.context.new_page()
    phone.goto("/simulator/")
    phone.locator("#holders-h + .table-wrap a").first.click()
    phone.get_by_role("button", name="YES", exact=True).click()
    phone.locator(".bubble.out", has_text="booked").or_(
        phone.locator(".bubble.out", has_text="confirmed")).first.wait_for()
    # The list of patients holding an offer reloads after the reply: the slot is taken,
    # so its three offers are gone from it.
    phone.locator("#holders", has_text="Nobody holds an offer right now").wait_for(
        timeout=5_000)
    _shot(phone, "simulator")

    # The Today tab was not reloaded: its poll brings the news.
    slot_card.locator("[data-testid=slot-status]", has_text="Filled").wait_for(timeout=10_000)
    assert slot_card.locator(".winner").inner_text().startswith("Filled by")
    assert page.evaluate("window.__noReload") == 1
    slot = Slot.objects.get()
    assert slot.status == Slot.Status.FILLED
    _shot(page, "today-filled")

    page.get_by_role("link", name="Waitlist").click()
    page.locator("#entries").wait_for()
    _shot(page, "waitlist")
    page.goto(f"/patients/{slot.filled_entry.patient_id}/")
    page.get_by_role("heading", name="Audit trail").wait_for()
    _shot(page, "patient")
    assert page.console_errors == [], page.console_errors
    assert phone.url.endswith("/simulator/") or "patient=" in phone.url


def test_a_keyboard_user_keeps_their_place_while_the_list_would_refresh(page, front_desk_user):
    offer = OfferFactory(status=Offer.Status.SENT,
                         hold_until=timezone.now() + dt.timedelta(minutes=7))
    _sign_in(page, front_desk_user)
    button = page.locator(f"#more-{offer.slot_id}")
    button.focus()
    assert page.evaluate("document.activeElement.matches(':focus-visible')")
    # Meanwhile the patient takes the slot by phone: a poll would show it...
    Slot.objects.filter(pk=offer.slot_id).update(status=Slot.Status.FILLED,
                                                 filled_via=Slot.FilledVia.PHONE)
    page.locator("#poll-paused").wait_for(state="visible", timeout=10_000)
    page.wait_for_timeout(4_000)  # more than one poll interval
    # ...but the list stays put while focus is in it, and focus stays where it was.
    assert page.evaluate("document.activeElement.id") == f"more-{offer.slot_id}"
    assert page.locator("[data-testid=slot-status]").inner_text() == "Offering"
    _shot(page, "today-paused")
    # Leaving the list lets the next poll through.
    page.get_by_label("Provider").focus()
    page.locator("[data-testid=slot-status]", has_text="Filled").wait_for(timeout=10_000)
    assert page.locator("#poll-paused").is_hidden()
    assert page.console_errors == [], page.console_errors


def test_a_manager_adds_a_front_desk_user_on_the_staff_page(page, manager_user):
    _sign_in(page, manager_user)
    page.get_by_role("link", name="Staff").click()
    page.get_by_label("First name").fill("Jane")
    page.get_by_label("Last name").fill("Doe")
    page.get_by_label("Username").fill("jdoe")
    page.get_by_label("Password:", exact=True).fill("plum-orchard-lantern-42")
    page.get_by_label("Password confirmation").fill("plum-orchard-lantern-42")
    page.get_by_role("button", name="Add staff member").click()
    page.get_by_text("Added jdoe as front desk.").wait_for()
    row = page.locator("tr", has_text="jdoe")
    assert "Front desk" in row.inner_text()
    _shot(page, "staff")
    assert page.console_errors == [], page.console_errors


def test_front_desk_cannot_reach_manager_pages(page, front_desk_user):
    _sign_in(page, front_desk_user)
    assert page.get_by_role("link", name="Reports").count() == 0
    assert page.get_by_role("link", name="Staff").count() == 0
    response = page.goto("/reports/")
    assert response.status == 403
    assert page.get_by_role("heading", name="You can't open this page").is_visible()
    _shot(page, "forbidden")
    response = page.goto("/admin/")
    assert "login" in page.url  # the Django admin is for staff accounts only


def test_an_idle_page_that_never_polls_signs_itself_out(page, front_desk_user, settings):
    settings.SESSION_IDLE_MINUTES = 0.1  # six seconds
    _sign_in(page, front_desk_user)
    page.goto("/waitlist/")
    page.locator("#entries").wait_for()
    # Nobody touches the page: its own timer signs out, with no request from the page.
    page.wait_for_url("**/accounts/login/**", timeout=20_000)
    assert page.get_by_text("You were signed out after 0.1 idle minutes.").is_visible()
    assert "next=/waitlist/" in page.url
    # Signed out on the server too, not only sent away.
    page.goto("/waitlist/")
    assert "/accounts/login/" in page.url
    assert page.console_errors == [], page.console_errors


def test_manager_reports_page(page, manager_user):
    provider = ProviderFactory(name="Dr. Grace Kim")
    now = timezone.now()
    for days, status in ((3, "filled"), (10, "filled"), (10, "unfilled"), (17, "filled")):
        start = now - dt.timedelta(days=days)
        Slot.objects.create(provider=provider, start=start, end=start + dt.timedelta(minutes=20),
                            status=status, created_at=start - dt.timedelta(hours=5),
                            closed_at=start - dt.timedelta(hours=4),
                            filled_via="sms" if status == "filled" else "")
    _sign_in(page, manager_user)
    page.get_by_role("link", name="Reports").click()
    page.locator("svg.chart").first.wait_for()
    assert page.locator("[data-testid=fill-rate]").inner_text() == "75%"
    _shot(page, "reports")
    assert page.console_errors == [], page.console_errors


# The text of a menu's chosen option fits inside it (the arrow takes about 24 px).
SELECT_TEXT_FITS = """(select) => {
  const probe = document.createElement('span');
  const style = getComputedStyle(select);
  probe.style.font = style.font;
  probe.style.position = 'absolute';
  probe.style.whiteSpace = 'nowrap';
  probe.textContent = select.options[select.selectedIndex].text;
  document.body.appendChild(probe);
  const text = probe.getBoundingClientRect().width;
  probe.remove();
  const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 24;
  return {text, room};
}"""


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900},
                                      {"width": 390, "height": 844}], ids=["desk", "phone"])
def test_filled_by_phone_asks_first_then_can_be_undone_before_anyone_is_told(
        open_page, front_desk_user, viewport):
    offer = OfferFactory(status=Offer.Status.SENT, entry__patient__first_name="Ana",
                         hold_until=timezone.now() + dt.timedelta(minutes=7))
    page = open_page(viewport)
    _sign_in(page, front_desk_user)
    menu = page.get_by_label("Booked by phone:")
    assert menu.is_visible()
    fits = menu.evaluate(SELECT_TEXT_FITS)
    assert fits["text"] <= fits["room"], fits  # "Someone not offered" is not cut off
    menu.select_option(label=str(offer.patient))

    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Filled by phone").click()
    page.wait_for_timeout(500)
    assert asked
    assert asked[0].startswith("Mark this slot filled by phone?")
    assert Slot.objects.get(pk=offer.slot_id).status == Slot.Status.OFFERING  # said no

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_label("Booked by phone:").select_option(label=str(offer.patient))
    page.get_by_role("button", name="Filled by phone").click()
    undo = page.get_by_role("button", name="Undo filled by phone")
    undo.wait_for()
    page.locator("[data-testid=undo-phone-fill] .countdown", has_text="left").wait_for()
    assert Slot.objects.get(pk=offer.slot_id).status == Slot.Status.FILLED
    _shot(page, f"filled-by-phone-undo-{viewport['width']}")

    undo.click()
    page.locator("[data-testid=slot-status]", has_text="Offering").wait_for()
    offer.refresh_from_db()
    assert offer.status == Offer.Status.SENT
    assert not offer.messages.exclude(kind="offer").exists()  # nobody was told anything
    assert page.console_errors == [], page.console_errors
