"""Every page of the portal, on a desk screen and on a phone (390 px wide), in a real
browser, over a realistic day of the demo clinic: nothing wider than the screen, nothing
cut off, a compact top bar on the phone, and no serious or critical accessibility
violation (axe-core from npm, installed by `make install`).

The two-factor pages of signing in (accounts/) are staff pages too: the code check, the
Two-factor page, setting up an authenticator and the recovery codes.

Screenshots go to test-results/screenshots/<page>-<width>.png; with UPDATE_SCREENSHOTS=1
the ones the README shows are refreshed in docs/screenshots/.
"""

import datetime as dt
import os
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from clinic.models import AppointmentType, Patient, Provider
from messaging.services import clinic_sms_number, inbound_handle
from offers import services as engine
from offers.models import Offer, Slot
from portal.tests.browser import (
    AXE,
    DESK,
    PHONE,
    SCREENSHOTS,
    axe_violations,
    browser_required,
    sign_in,
)
from waitlist.models import WaitlistEntry

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

README_SHOTS = Path(django_settings.BASE_DIR) / "docs" / "screenshots"
# Which screenshots the README shows: (page name, width) -> file in docs/screenshots/.
FOR_THE_README = {("today", DESK["width"]): "dashboard.png",
                  ("today", PHONE["width"]): "today-phone.png"}
# A phone's top bar holds the clinic's name, the sign-out and the navigation in two lines.
PHONE_TOP_BAR_MAX_PX = 120


@pytest.fixture(autouse=True)
def demo_settings(settings):
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    settings.SMS_BACKEND = "console"


@pytest.fixture
def axe_installed():
    if not AXE.exists():
        reason = f"axe-core is not installed ({AXE}): run make install (npm ci)"
        if browser_required():
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


def _at(days: int, hour: int, minute: int = 0) -> dt.datetime:
    """That many clinic days (weekdays) from today, at that time."""
    day = timezone.localdate()
    while days:
        day += dt.timedelta(days=1)
        days -= day.weekday() < 5
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def _reply(patient: Patient, body: str) -> None:
    inbound_handle(from_number=patient.phone, to_number=clinic_sms_number(), body=body,
                   sid=f"SM{uuid.uuid4().hex}")


def _a_day_at_the_clinic(manager) -> dict:
    """The demo clinic after a busy morning: slots offering (offers on hold, declined,
    expired), filled by SMS, filled by phone, unfilled and withdrawn."""
    call_command("seed_demo", "--force", stdout=open(os.devnull, "w"))  # noqa: SIM115
    patel, ortega, kim = (Provider.objects.get(name=name) for name in (
        "Dr. Maya Patel", "Dr. Luis Ortega", "Dr. Grace Kim"))

    def slot_at(provider, days, hour, minute=0, appointment_type=None):
        start = _at(days, hour, minute)
        return engine.slot_open(provider=provider, start=start,
                                end=start + dt.timedelta(minutes=20), recorded_by=manager,
                                appointment_type=appointment_type)

    filled = slot_at(patel, 1, 9)
    winner = filled.offers.order_by("batch", "-score", "id").first().patient
    _reply(winner, "YES")
    offering = slot_at(ortega, 1, 10, 40)
    declined = offering.offers.order_by("batch", "-score", "id").first()
    _reply(declined.patient, "no thanks")
    expired = offering.offers.filter(status=Offer.Status.SENT).first()
    Offer.objects.filter(pk=expired.pk).update(hold_until=timezone.now() - dt.timedelta(
        seconds=1))
    engine.offer_expire(offer_id=expired.pk)
    by_phone = slot_at(kim, 2, 14, 20)
    engine.slot_mark_filled_by_phone(slot=Slot.objects.get(pk=by_phone.pk), by=manager,
                                     reason="Called the patient")
    withdrawn = slot_at(kim, 3, 11)
    engine.slot_withdraw(slot=Slot.objects.get(pk=withdrawn.pk), by=manager,
                         reason="Doctor out")
    # Nobody on the demo waitlist waits for an annual physical: unfilled at once.
    unfilled = slot_at(patel, 4, 15, appointment_type=AppointmentType.objects.get(
        code="annual"))
    assert Slot.objects.get(pk=unfilled.pk).status == Slot.Status.UNFILLED
    entry = WaitlistEntry.objects.filter(status=WaitlistEntry.Status.ACTIVE).first()
    return {"winner": winner, "entry": entry}


def _pages(day) -> list[tuple[str, ...]]:
    """(name, who, path, button): who is "manager", "front desk", "manager half-way"
    (password given, not yet the two-factor code) or "nobody" (signed out); the page is
    the path's, or where its button (if any) leads."""
    winner, entry = day["winner"], day["entry"]
    offer = Offer.objects.filter(patient=winner).first()
    return [
        ("login", "nobody", "/accounts/login/"),
        # Within five minutes of the password, or it has to be given again.
        ("two-factor-verify", "manager half-way", "/accounts/two-factor/verify/"),
        ("today", "manager", "/"),
        ("waitlist", "manager", "/waitlist/"),
        ("waitlist-search", "manager", "/waitlist/?q=gomez&urgent=on"),
        ("waitlist-add", "manager", "/waitlist/add/"),
        ("waitlist-edit", "manager", f"/waitlist/{entry.pk}/edit/"),
        ("waitlist-remove", "manager", f"/waitlist/{entry.pk}/remove/"),
        ("patient", "manager", f"/patients/{winner.pk}/"),
        ("reports", "manager", "/reports/"),
        ("staff", "manager", "/staff/"),
        ("simulator", "manager", "/simulator/"),
        ("simulator-phone", "manager", f"/simulator/?patient={winner.pk}"),
        ("forbidden", "front desk", "/reports/"),
        ("not-found", "manager", "/patients/999999/"),
        ("admin", "manager", "/admin/"),
        ("admin-offers", "manager", "/admin/offers/offer/"),
        ("admin-offer", "manager", f"/admin/offers/offer/{offer.pk}/change/"),
        ("admin-slot", "manager", f"/admin/offers/slot/{offer.slot_id}/change/"),
        ("admin-patient", "manager", f"/admin/clinic/patient/{winner.pk}/change/"),
        ("admin-entry", "manager", f"/admin/waitlist/waitlistentry/{entry.pk}/change/"),
        ("admin-messages", "manager", "/admin/messaging/message/"),
        # The two-factor pages (accounts/).
        ("two-factor", "manager", "/accounts/two-factor/"),
        ("two-factor-setup", "front desk", "/accounts/two-factor/setup/"),
        ("two-factor-new-phone", "manager", "/accounts/two-factor/setup/"),
        ("recovery-codes", "manager", "/accounts/two-factor/", "Make new recovery codes"),
    ]


LAYOUT_PROBLEMS = """() => {
  const width = window.innerWidth;
  const problems = [];
  if (document.documentElement.scrollWidth > width) {
    problems.push(`page is ${document.documentElement.scrollWidth}px wide`);
  }
  for (const el of document.querySelectorAll('main a, main button, main input, main select, main textarea, header a, header button')) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || el.closest('.visually-hidden, .skip-link')) continue;
    if (box.left < -1 || box.right > width + 1) {
      problems.push(`${el.tagName.toLowerCase()} "${(el.innerText || el.value || el.name || '').trim().slice(0, 30)}" spans ${Math.round(box.left)}-${Math.round(box.right)}px`);
    }
  }
  const top = document.querySelector('header.topbar');
  return {problems, topBar: top ? Math.round(top.getBoundingClientRect().height) : 0};
}"""


@pytest.mark.parametrize("viewport", [DESK, PHONE], ids=["desk", "phone"])
def test_every_page_fits_the_screen_and_passes_axe(open_page, axe_installed, manager_user,
                                                   front_desk_user, viewport):
    day = _a_day_at_the_clinic(manager_user)
    signed_in = {who: open_page(viewport)
                 for who in ("manager", "front desk", "manager half-way", "nobody")}
    sign_in(signed_in["manager"], manager_user)
    sign_in(signed_in["front desk"], front_desk_user)
    sign_in(signed_in["manager half-way"], manager_user, with_code=False)

    failures = {}
    for name, who, path, *button in _pages(day):
        page = signed_in[who]
        response = page.goto(path)
        if button:
            with page.expect_navigation() as navigation:
                page.get_by_role("button", name=button[0]).click()
            response = navigation.value
        expected = {"forbidden": 403, "not-found": 404}.get(name, 200)
        assert response.status == expected, (name, response.status)
        page.wait_for_load_state("networkidle")
        shot = SCREENSHOTS / f"{name}-{viewport['width']}.png"
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("UPDATE_SCREENSHOTS") == "1" and (
                name, viewport["width"]) in FOR_THE_README:
            README_SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(README_SHOTS / FOR_THE_README[name, viewport["width"]]),
                            full_page=viewport is DESK)

        # The browser logs the page's own 403/404 as a failed load: that is the page.
        problems = [error for error in page.console_errors
                    if not (expected != 200 and error.startswith("Failed to load resource"))]
        page.console_errors.clear()
        layout = page.evaluate(LAYOUT_PROBLEMS)
        if name.startswith("admin"):
            # Django's admin scrolls a wide changelist inside its own box, by design:
            # there only the page itself must fit the screen.
            problems += [p for p in layout["problems"] if p.startswith("page is")]
        else:
            problems += layout["problems"]
        if viewport is PHONE and not name.startswith("admin") and (
                layout["topBar"] > PHONE_TOP_BAR_MAX_PX):
            problems.append(f"top bar is {layout['topBar']}px tall")
        problems += [f"axe {v['impact']}: {v['id']} ({v['help']}) at {v['targets']}"
                     for v in axe_violations(page)]
        # axe itself sets inline styles while it measures some pages, which the CSP
        # refuses: the page's own console was checked above, before axe ran.
        page.console_errors.clear()
        if problems:
            failures[name] = problems
    assert failures == {}, "\n".join(f"{name}: {problems}"
                                     for name, problems in failures.items())


def test_on_a_phone_today_shows_the_live_slots_before_the_form(open_page, axe_installed,
                                                                front_desk_user,
                                                                manager_user):
    _a_day_at_the_clinic(manager_user)
    for viewport in (PHONE, DESK):
        page = open_page(viewport)
        sign_in(page, front_desk_user)
        slots = page.locator("#slots-h").bounding_box()
        form = page.locator("#record-h").bounding_box()
        jump = page.get_by_role("link", name="Record a cancellation")
        if viewport is PHONE:
            assert slots["y"] < form["y"]
            assert jump.is_visible()
            jump.click()
            page.wait_for_function("location.hash === '#record-h'")
            page.get_by_label("Provider").wait_for()
        else:
            assert form["x"] < slots["x"]
            assert not jump.is_visible()
        assert page.console_errors == []


def test_the_readme_shows_the_screenshots_this_test_takes():
    readme = (Path(django_settings.BASE_DIR) / "README.md").read_text()
    for name in FOR_THE_README.values():
        assert (README_SHOTS / name).stat().st_size > 10_000, name
        assert f"docs/screenshots/{name}" in readme, name
