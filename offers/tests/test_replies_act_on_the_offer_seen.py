"""A reply acts on the offer the patient actually saw: the newest one whose text was handed
over before the reply arrived, never one still waiting to leave. A YES just after the
hold takes the slot only while nobody else holds it. (Issue 11, items 2 and 6.)"""

import datetime as dt
from unittest import mock

import pytest
from django.utils import timezone

from messaging.models import Message
from messaging.services import inbound_handle, message_deliver
from messaging.tasks import message_deliver as message_deliver_task
from offers import services
from offers.models import Offer, Slot
from offers.replies import handle_reply
from offers.services import Outcome
from offers.tests.conftest import live, open_slot, pass_hold, slot_start, waitlist

# One patient is offered several slots within minutes here (conftest.fatigue_caps_off).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fatigue_caps_off")]


def held_up_texts():
    """The broker refuses delivery tasks: offer texts wait in the queue (an outage)."""
    return mock.patch.object(message_deliver_task, "delay",
                             side_effect=ConnectionRefusedError("broker down"))


def reply(patient, body, sid):
    return inbound_handle(from_number=patient.phone, to_number="+13125550100", body=body,
                          sid=sid)


def test_a_late_yes_to_an_expired_offer_never_books_the_newer_offer_still_queued(
        provider, commit, settings):
    settings.OFFER_BATCH_SIZE = 1
    (entry,) = waitlist(1)
    patient = entry.patient
    with commit():
        first = open_slot(provider, start=slot_start(days=2, hour=9))
    [offer_a] = live(first)
    # The hold of offer A passes; first waits for another patient. A second slot opens
    # during an outage: offer B is made for the same patient, its text stays queued.
    with commit():
        pass_hold([offer_a])
        services.offer_expire(offer_id=offer_a.pk)
        services.slot_withdraw(slot=first, by=None)
    with held_up_texts(), commit():
        second = open_slot(provider, start=slot_start(days=3, hour=14))
    [offer_b] = live(second)
    assert offer_b.status == Offer.Status.PENDING

    with commit():
        text = reply(patient, "YES", "SM-late-yes")

    # Before: B was booked and its text suppressed; the patient was "confirmed" for a
    # time they were never told about. Now: the answer is about A, and B is untouched.
    assert "hold on the" in text
    assert timezone.localtime(first.start).strftime("%-I:%M") in text
    offer_b.refresh_from_db()
    assert offer_b.status == Offer.Status.PENDING
    second.refresh_from_db()
    assert second.status == Slot.Status.OFFERING
    # B's text then goes out normally.
    with commit():
        message_deliver(message_id=Message.objects.get(offer=offer_b, kind="offer").pk)
    offer_b.refresh_from_db()
    assert offer_b.status == Offer.Status.SENT


def test_a_reply_counts_only_for_an_offer_handed_over_before_it_arrived(provider, commit):
    waitlist(3)
    with held_up_texts(), commit():
        slot = open_slot(provider)
    offer = live(slot)[0]
    text_of_offer = Message.objects.get(offer=offer, kind="offer")
    arrived = timezone.now()
    # The text is handed over a moment after the reply arrived (the webhook was slow).
    Message.objects.filter(pk=text_of_offer.pk).update(
        status=Message.Status.SENT, sent_at=arrived + dt.timedelta(seconds=2))

    inbound = Message(created_at=arrived)
    answer = handle_reply(patient=offer.patient, intent="yes", message=inbound)

    assert answer.template == "nothing_to_answer"
    offer.refresh_from_db()
    assert offer.status == Offer.Status.PENDING


def test_a_confirmation_names_the_day_time_and_provider_that_were_booked(provider, commit):
    waitlist(3)
    with commit():
        slot = open_slot(provider, start=slot_start(days=2, hour=15))
    patient = live(slot)[0].patient

    with commit():
        text = reply(patient, "YES", "SM-confirm")

    local = timezone.localtime(slot.start)
    assert "You're booked" in text
    assert "Dr. Maya Patel" in text
    assert local.strftime("%-I:%M") in text
    assert local.strftime("%a") in text


def a_slot_waiting_after_an_expired_hold(provider, commit):
    """`slot` was offered to `late`, whose hold passed; the only other patient who fits
    holds another slot's offer, so `slot` waits and nobody holds it."""
    busy, late = waitlist(2)
    with commit():
        elsewhere = open_slot(provider, start=slot_start(days=4))
        slot = open_slot(provider, start=slot_start(days=2))
    assert live(elsewhere)[0].patient_id == busy.patient_id
    [offer] = live(slot)
    assert offer.patient_id == late.patient_id
    return slot, offer


def test_a_late_yes_takes_a_slot_nobody_else_holds(provider, commit, settings):
    settings.OFFER_BATCH_SIZE = 1
    slot, offer = a_slot_waiting_after_an_expired_hold(provider, commit)
    with commit():
        pass_hold([offer])
        services.offer_expire(offer_id=offer.pk)
    slot.refresh_from_db()
    assert slot.waiting_for == Slot.WaitingFor.BUSY_PATIENTS

    with commit():
        text = reply(offer.patient, "YES", "SM-late-taken")

    # Before: "that offer expired", though the slot was open and nobody else held it.
    assert "You're booked" in text
    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED
    assert slot.waiting_for == ""
    offer.refresh_from_db()
    assert offer.status == Offer.Status.ACCEPTED
    assert "after the hold" in offer.history.first().history_change_reason


def test_a_yes_after_the_hold_before_the_sweep_takes_a_slot_nobody_else_holds(
        provider, commit, settings):
    settings.OFFER_BATCH_SIZE = 1
    slot, offer = a_slot_waiting_after_an_expired_hold(provider, commit)
    pass_hold([offer])  # the sweep has not expired it yet

    with commit():
        assert services.offer_claim(patient=offer.patient).outcome == Outcome.BOOKED


def test_a_late_yes_after_the_grace_is_refused(provider, commit, settings):
    settings.OFFER_BATCH_SIZE = 1
    slot, offer = a_slot_waiting_after_an_expired_hold(provider, commit)
    Offer.objects.filter(pk=offer.pk).update(
        hold_until=timezone.now()
        - dt.timedelta(seconds=settings.OFFER_LATE_YES_GRACE_SECONDS + 5))
    with commit():
        services.offer_expire(offer_id=offer.pk)

    with commit():
        assert services.offer_claim(patient=offer.patient).outcome == Outcome.EXPIRED
    slot.refresh_from_db()
    assert slot.status == Slot.Status.OFFERING


def test_a_late_yes_is_refused_while_the_patient_holds_another_offer(
        provider, commit, settings):
    settings.OFFER_BATCH_SIZE = 1
    slot, offer = a_slot_waiting_after_an_expired_hold(provider, commit)
    with commit():
        pass_hold([offer])
        services.offer_expire(offer_id=offer.pk)
        newer = open_slot(provider, start=slot_start(days=6))
    assert live(newer)[0].patient_id == offer.patient_id
    # The newer offer's text was handed over: a YES is about it, not the expired one.
    with commit():
        assert services.offer_claim(patient=offer.patient).offer.slot_id == newer.pk
    slot.refresh_from_db()
    assert slot.status == Slot.Status.OFFERING


def test_a_late_yes_is_refused_while_the_next_batch_holds_the_slot(provider, commit):
    waitlist(6)
    with commit():
        slot = open_slot(provider)
    first = live(slot)
    with commit():
        pass_hold(first)
        services.offers_expire_due()
    assert {o.batch for o in live(slot)} == {2}

    with commit():
        assert services.offer_claim(patient=first[0].patient).outcome == Outcome.EXPIRED
