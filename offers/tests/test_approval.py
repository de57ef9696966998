"""Approval (offers/approval.py): a YES to a slot whose rule asks for approval reserves
it; staff approve (booked, confirmed by SMS) or decline (told kindly, the next in line
or the next batch); other offers are held meanwhile; overdue bookings alert."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from clinic.tests.factories import AppointmentTypeFactory
from messaging.models import Message
from offers import approval, services
from offers.models import Offer, OfferRule, Slot
from offers.replies import handle_reply
from offers.tests.conftest import live, open_slot, pass_hold, waitlist
from waitlist.models import WaitlistEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit(db):
    visit = AppointmentTypeFactory(code="neuro-new", name="New neurology visit")
    OfferRule.objects.create(appointment_type=visit,
                             booking_mode=OfferRule.BookingMode.APPROVAL)
    return visit


@pytest.fixture
def pending(provider, visit, commit):
    """A slot of that type offered to three; the first said YES."""
    waitlist(4)
    with commit():
        slot = open_slot(provider, appointment_type=visit)
    offers = live(slot)
    with commit():
        answer = handle_reply(patient=offers[0].patient, intent="yes")
    return slot, offers, answer


def _texts(patient, kind=None):
    texts = Message.objects.filter(patient=patient, direction="out")
    return list(texts.filter(kind=kind) if kind else texts)


def test_a_yes_reserves_the_slot_and_the_patient_is_told_the_clinic_will_confirm(pending):
    slot, offers, answer = pending
    assert answer.template == "booking_pending"
    first = Offer.objects.get(pk=offers[0].pk)
    assert first.status == Offer.Status.RESERVED
    assert first.reserved_at is not None
    slot.refresh_from_db()
    assert slot.status == Slot.Status.OFFERING
    assert slot.waiting_for == Slot.WaitingFor.APPROVAL
    # The others are held, not superseded, and nobody was told anything else.
    assert [o.pk for o in live(slot)] == [o.pk for o in offers[1:]]
    assert not Message.objects.filter(kind__in=["offer_closed", "already_filled"]).exists()
    assert first.entry.status == WaitlistEntry.Status.ACTIVE


def test_the_pending_text_says_the_truth(pending):
    from messaging.rendering import sms_render

    slot, offers, answer = pending
    text = sms_render(template=answer.template, language="en", context=answer.context)
    assert "Thanks! The clinic will confirm shortly." in text


def test_approve_books_the_slot_and_confirms_by_sms(pending, commit, front_desk_user):
    slot, offers, _ = pending
    with commit():
        approval.booking_approve(offer_id=offers[0].pk, by=front_desk_user)
    slot.refresh_from_db()
    first = Offer.objects.get(pk=offers[0].pk)
    assert slot.status == Slot.Status.FILLED
    assert slot.filled_entry_id == first.entry_id
    assert first.status == Offer.Status.ACCEPTED
    assert first.entry.status == WaitlistEntry.Status.BOOKED
    assert len(_texts(first.patient, "confirmation")) == 1
    # The held offers end, and their patients are told.
    for offer in offers[1:]:
        offer.refresh_from_db()
        assert offer.status == Offer.Status.SUPERSEDED
        assert len(_texts(offer.patient, "offer_closed")) == 1
    assert first.history.first().history_user == front_desk_user
    assert slot.history.first().history_user == front_desk_user


def test_two_staff_approving_one_after_the_other_book_once(pending, front_desk_user,
                                                           manager_user, commit):
    slot, offers, _ = pending
    with commit():
        approval.booking_approve(offer_id=offers[0].pk, by=front_desk_user)
    with pytest.raises(ValidationError, match="already approved"):
        approval.booking_approve(offer_id=offers[0].pk, by=manager_user)
    with pytest.raises(ValidationError, match="already approved"):
        approval.booking_decline(offer_id=offers[0].pk, by=manager_user)
    assert len(_texts(offers[0].patient, "confirmation")) == 1


def test_decline_tells_the_patient_kindly_and_the_slot_moves_on(pending, commit,
                                                                 front_desk_user):
    slot, offers, _ = pending
    with commit():
        approval.booking_decline(offer_id=offers[0].pk, by=front_desk_user)
    first = Offer.objects.get(pk=offers[0].pk)
    assert first.status == Offer.Status.DECLINED
    assert first.entry.status == WaitlistEntry.Status.ACTIVE  # stays on the waitlist
    assert "could not confirm" in _texts(first.patient, "booking_declined")[0].body
    slot.refresh_from_db()
    assert slot.status == Slot.Status.OFFERING
    assert slot.waiting_for == ""
    # The held offers run on; a YES now reserves it again.
    with commit():
        answer = handle_reply(patient=offers[1].patient, intent="yes")
    assert answer.template == "booking_pending"


def test_a_second_yes_while_pending_is_next_in_line_and_gets_the_slot_on_decline(
        pending, commit, front_desk_user):
    slot, offers, _ = pending
    with commit():
        answer = handle_reply(patient=offers[2].patient, intent="yes")
    assert answer.template == "next_in_line"
    third = Offer.objects.get(pk=offers[2].pk)
    assert third.is_live
    assert third.next_in_line_at is not None
    # Asking again changes nothing: still next in line, same place.
    first_place = third.next_in_line_at
    with commit():
        assert handle_reply(patient=offers[2].patient, intent="yes").template == "next_in_line"
    third.refresh_from_db()
    assert third.next_in_line_at == first_place
    assert approval.pending_bookings()[0].next_in_line == 1

    with commit():
        approval.booking_decline(offer_id=offers[0].pk, by=front_desk_user)
    third.refresh_from_db()
    assert third.status == Offer.Status.RESERVED  # their turn, still awaiting approval
    assert len(_texts(third.patient, "booking_pending_next")) == 1
    with commit():
        approval.booking_approve(offer_id=third.pk, by=front_desk_user)
    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED
    assert slot.filled_entry_id == third.entry_id


def test_holds_do_not_expire_while_a_booking_awaits_approval(pending, commit,
                                                              front_desk_user):
    slot, offers, _ = pending
    pass_hold(offers[1:])
    with commit():
        assert services.offers_expire_due() == 0
    assert len(live(slot)) == 2
    # A YES after the hold, while held, is next in line (not "the hold ended").
    with commit():
        assert handle_reply(patient=offers[1].patient, intent="yes").template == "next_in_line"
    # Declined: the one next in line gets it; the other's passed hold ends now.
    with commit():
        approval.booking_decline(offer_id=offers[0].pk, by=front_desk_user)
    assert Offer.objects.get(pk=offers[1].pk).status == Offer.Status.RESERVED
    assert Offer.objects.get(pk=offers[2].pk).status == Offer.Status.SENT


def test_decline_with_nobody_next_expires_passed_holds_and_sends_the_next_batch(
        pending, commit, front_desk_user):
    slot, offers, _ = pending
    pass_hold(offers[1:])
    with commit():
        approval.booking_decline(offer_id=offers[0].pk, by=front_desk_user)
    for offer in offers[1:]:
        assert Offer.objects.get(pk=offer.pk).status == Offer.Status.EXPIRED
    # Batch 2 went to the fourth patient (the first three were offered already).
    assert [o.batch for o in live(slot)] == [2]


def test_no_batch_nor_staff_action_goes_around_a_pending_booking(pending, commit,
                                                                   front_desk_user):
    slot, offers, _ = pending
    for offer in offers[1:]:
        with commit():
            services.offer_decline(patient=offer.patient)
    assert live(slot) == []
    assert Offer.objects.filter(slot=slot, batch=2).count() == 0  # no next batch
    for action in (services.slot_withdraw, services.slot_mark_filled_by_phone,
                   services.slot_offer_more):
        with pytest.raises(ValidationError, match="awaiting approval"):
            action(slot=slot, by=front_desk_user)


def test_a_booking_not_decided_in_time_is_overdue(pending, settings):
    settings.APPROVAL_ALERT_MINUTES = 15
    slot, offers, _ = pending
    (booking,) = approval.pending_bookings()
    assert not booking.overdue
    assert booking.waited_minutes == 0
    later = timezone.now() + dt.timedelta(minutes=16)
    (booking,) = approval.pending_bookings(now=later)
    assert booking.overdue
    assert booking.waited_minutes == 16
    # Never silently lost: it stays pending, with its slot held, until someone decides.
    assert Offer.objects.get(pk=offers[0].pk).status == Offer.Status.RESERVED


def test_the_reserved_patient_s_questions_are_answered_truthfully(pending, commit):
    slot, offers, _ = pending
    with commit():
        again = handle_reply(patient=offers[0].patient, intent="yes")
    assert again.template == "booking_pending"
    asked = handle_reply(patient=offers[0].patient, intent="ask_when")
    assert asked.context["state"] == "pending"


def test_a_visit_type_in_automatic_mode_still_books_at_once(provider, commit):
    waitlist(2)
    with commit():
        slot = open_slot(provider)
    with commit():
        answer = handle_reply(patient=live(slot)[0].patient, intent="yes")
    assert answer.template == "confirmation"
