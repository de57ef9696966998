"""One vocabulary, in plain words: the portal and the admin call each state the same."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.models import Message
from offers.models import Offer, Slot
from offers.tests.factories import OfferFactory, SlotFactory
from portal.selectors import offer_state

pytestmark = pytest.mark.django_db

JARGON = ["Superseded", "Undelivered", "decided", "sms offer", "Replied YES", "Replied NO"]


def _text(html: str) -> str:
    """What a person reads: the page without tags, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _offers_in_every_state():
    slot = SlotFactory()
    return [OfferFactory(slot=slot, status=status,
                         hold_until=timezone.now() + dt.timedelta(minutes=5)
                         if status == Offer.Status.SENT else None)
            for status in Offer.Status.values]


def test_today_and_the_admin_name_every_offer_state_with_the_same_words(
        client, manager_user, admin_user):
    offers = _offers_in_every_state()
    client.force_login(manager_user)
    today = _text(client.get(reverse("portal:today")).content.decode())
    client.force_login(admin_user)
    admin = _text(client.get(reverse("admin:offers_offer_changelist")).content.decode())
    patient = _text(client.get(reverse("portal:patient", args=[offers[0].patient_id]))
                    .content.decode())

    for offer in offers:
        offer.offer_messages = []
        label, _style = offer_state(offer)
        assert label == offer.get_status_display()
        assert label in today, label
        assert label in admin, label
    assert offers[0].get_status_display() in patient
    for word in JARGON:
        assert word not in today
        assert word not in admin
        assert word.lower() not in patient.lower()


def test_an_undelivered_offer_text_reads_the_same_on_today_as_in_the_message_log(
        client, admin_user):
    offer = OfferFactory(status=Offer.Status.SENT,
                         hold_until=timezone.now() + dt.timedelta(minutes=5))
    message = Message.objects.create(direction="out", from_number="+13125550100",
                                     to_number=offer.patient.phone, body="offer",
                                     kind="offer", status=Message.Status.UNDELIVERED,
                                     patient=offer.patient, subject=offer)
    client.force_login(admin_user)
    today = _text(client.get(reverse("portal:today")).content.decode())
    log = _text(client.get(reverse("admin:messaging_message_change", args=[message.pk]))
                .content.decode())
    assert "Not delivered" in today
    assert "Not delivered" in log


def test_a_filled_slot_says_how_in_a_capitalised_plain_phrase(client, front_desk_user):
    offer = OfferFactory(status=Offer.Status.ACCEPTED)
    Slot.objects.filter(pk=offer.slot_id).update(status=Slot.Status.FILLED,
                                                 filled_via=Slot.FilledVia.SMS,
                                                 filled_entry=offer.entry)
    client.force_login(front_desk_user)
    today = _text(client.get(reverse("portal:today")).content.decode())
    assert f"Filled by {offer.patient} · SMS offer" in today


def test_today_says_it_lists_today_and_later_and_its_empty_state_says_the_same(
        client, front_desk_user):
    client.force_login(front_desk_user)
    empty = _text(client.get(reverse("portal:today")).content.decode())
    assert "Freed slots, today and ahead" in empty
    assert "No freed slots today or ahead." in empty

    later = SlotFactory(start=timezone.now() + dt.timedelta(days=9),
                        end=timezone.now() + dt.timedelta(days=9, minutes=20))
    listed = _text(client.get(reverse("portal:today")).content.decode())
    assert f"{timezone.localtime(later.start):%a %b %-d}" in listed


def test_the_fill_rate_is_explained_in_plain_words(client, manager_user):
    now = timezone.now()
    slot = SlotFactory(start=now - dt.timedelta(days=1), end=now - dt.timedelta(hours=23))
    Slot.objects.filter(pk=slot.pk).update(status=Slot.Status.FILLED,
                                           filled_via=Slot.FilledVia.SMS)
    SlotFactory(start=now - dt.timedelta(days=2), end=now - dt.timedelta(days=2) +
                dt.timedelta(minutes=20), status=Slot.Status.UNFILLED)
    client.force_login(manager_user)
    reports = _text(client.get(reverse("portal:reports")).content.decode())
    assert "Fill rate (1 filled, 1 unfilled)" in reports
    assert "Filled by SMS offer (0 slots still offering)" in reports
    assert "decided" not in reports


def test_an_offer_ended_by_a_wrong_number_reads_the_same_on_today_the_patient_page_and_the_admin(
        client, admin_user, django_capture_on_commit_callbacks):
    from messaging.services import clinic_sms_number, inbound_handle

    offers = [OfferFactory(status=Offer.Status.SENT,
                           hold_until=timezone.now() + dt.timedelta(minutes=5))
              for _ in range(3)]
    stranger = offers[0]
    with django_capture_on_commit_callbacks(execute=True):
        inbound_handle(from_number=stranger.patient.phone, to_number=clinic_sms_number(),
                       body="wrong number", sid="SMwrong0001")
    stranger.refresh_from_db()
    assert stranger.status == Offer.Status.FAILED
    assert stranger.status_label == "Wrong number"
    client.force_login(admin_user)

    patient_page = client.get(reverse("portal:patient", args=[stranger.patient_id]))
    outcomes = re.findall(r'data-label="Outcome"><span class="badge [^"]*">([^<]+)<',
                          patient_page.content.decode())
    assert outcomes == ["Wrong number"]
    pages = {
        "today": reverse("portal:today"),
        "admin offers": reverse("admin:offers_offer_changelist"),
        "admin offer": reverse("admin:offers_offer_change", args=[stranger.pk]),
        "admin slot": reverse("admin:offers_slot_change", args=[stranger.slot_id]),
    }
    for name, url in pages.items():
        html = client.get(url).content.decode()
        # The changelist's filters list the stored statuses, as filters do.
        text = _text(re.sub(r'<nav id="changelist-filter".*?</nav>', "", html, flags=re.S))
        assert "Wrong number" in text, name
        # Its text was sent: nothing calls it a failure to send.
        assert Offer.Status.FAILED.label not in text, name
    # The others' offers keep their own words.
    others = _text(client.get(reverse("admin:offers_offer_changelist")).content.decode())
    assert others.count(Offer.Status.SENT.label) >= 2


def test_why_a_slot_waits_or_closed_unfilled_reads_the_same_on_today_and_in_the_admin(
        client, admin_user):
    waiting = [SlotFactory(waiting_for=reason,
                           start=timezone.now() + dt.timedelta(days=2, hours=i),
                           end=timezone.now() + dt.timedelta(days=2, hours=i, minutes=20))
               for i, reason in enumerate(
                   [Slot.WaitingFor.BUSY_PATIENTS, Slot.WaitingFor.TEXTING_HOURS])]
    unfilled = [SlotFactory(status=Slot.Status.UNFILLED, unfilled_reason=reason,
                            start=timezone.now() + dt.timedelta(days=3, hours=i),
                            end=timezone.now() + dt.timedelta(days=3, hours=i, minutes=20))
                for i, reason in enumerate([r for r in Slot.UnfilledReason.values if r])]
    client.force_login(admin_user)
    today = _text(client.get(reverse("portal:today")).content.decode())
    admin_list = _text(re.sub(r'<nav id="changelist-filter".*?</nav>', "", client.get(
        reverse("admin:offers_slot_changelist")).content.decode(), flags=re.S))

    for slot in waiting:
        label = slot.get_waiting_for_display()
        assert label in today, label
        assert label in admin_list, label
    for slot in unfilled:
        label = slot.get_unfilled_reason_display()
        assert label in today, label
        assert label in admin_list, label
        page = _text(client.get(reverse("admin:offers_slot_change", args=[slot.pk]))
                     .content.decode())
        assert label in page, label
