"""Approval under real concurrency: threads with their own connections, committing for
real (on PostgreSQL the slot's row lock decides; on SQLite BEGIN IMMEDIATE serializes).
Whatever the order, a pending booking is decided once and the slot ends consistent."""

import pytest
from django.core.exceptions import ValidationError

from clinic.tests.concurrency import run_together
from clinic.tests.factories import AppointmentTypeFactory
from messaging.models import Message
from offers import approval, services
from offers.models import Offer, OfferRule, Slot
from offers.replies import handle_reply
from offers.tests.conftest import live, open_slot, pass_hold, waitlist

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def pending(provider, front_desk_user, manager_user):
    visit = AppointmentTypeFactory(code="neuro-new", name="New neurology visit")
    OfferRule.objects.create(appointment_type=visit, booking_mode=OfferRule.BookingMode.APPROVAL)
    waitlist(4)
    slot = open_slot(provider, appointment_type=visit)
    offers = live(slot)
    assert handle_reply(patient=offers[0].patient, intent="yes").template == "booking_pending"
    return slot, offers


def _attempt(call):
    try:
        return call()
    except ValidationError as exc:
        return exc


@pytest.mark.parametrize("attempt", range(3))
def test_two_staff_approving_at_once_book_once_and_confirm_once(pending, front_desk_user,
                                                                manager_user, attempt):
    slot, offers = pending
    results = run_together([
        lambda: _attempt(lambda: approval.booking_approve(offer_id=offers[0].pk,
                                                          by=front_desk_user)),
        lambda: _attempt(lambda: approval.booking_approve(offer_id=offers[0].pk,
                                                          by=manager_user)),
    ])
    assert sum(isinstance(r, Offer) for r in results) == 1
    assert sum(isinstance(r, ValidationError) for r in results) == 1
    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED
    assert Message.objects.filter(patient=offers[0].patient, kind="confirmation").count() == 1


@pytest.mark.parametrize("attempt", range(3))
def test_approve_racing_decline_ends_one_way(pending, front_desk_user, manager_user, attempt):
    slot, offers = pending
    approved, declined = run_together([
        lambda: _attempt(lambda: approval.booking_approve(offer_id=offers[0].pk,
                                                          by=front_desk_user)),
        lambda: _attempt(lambda: approval.booking_decline(offer_id=offers[0].pk,
                                                          by=manager_user)),
    ])
    slot.refresh_from_db()
    first = Offer.objects.get(pk=offers[0].pk)
    texts = set(Message.objects.filter(patient=first.patient, direction="out")
                .values_list("kind", flat=True))
    if isinstance(approved, Offer):
        assert isinstance(declined, ValidationError)
        assert first.status == Offer.Status.ACCEPTED
        assert slot.status == Slot.Status.FILLED
        assert "booking_declined" not in texts
    else:
        assert isinstance(declined, Offer)
        assert first.status == Offer.Status.DECLINED
        assert slot.status == Slot.Status.OFFERING
        assert "confirmation" not in texts


@pytest.mark.parametrize("attempt", range(3))
def test_approve_racing_another_yes_and_the_expiry_sweep(pending, front_desk_user, attempt):
    slot, offers = pending
    pass_hold(offers[1:])  # their holds ran out while the booking was pending
    approved, yes, swept = run_together([
        lambda: _attempt(lambda: approval.booking_approve(offer_id=offers[0].pk,
                                                          by=front_desk_user)),
        lambda: handle_reply(patient=offers[1].patient, intent="yes"),
        services.offers_expire_due,
    ])
    assert isinstance(approved, Offer)
    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED
    assert slot.filled_entry_id == offers[0].entry_id
    assert Offer.objects.filter(slot=slot, status="accepted").count() == 1
    second = Offer.objects.get(pk=offers[1].pk)
    # Before the approval: told next in line, then the slot went to the other patient
    # (their held offer ended, they were told). After it: told it is taken.
    if yes.template == "next_in_line":
        assert second.status == Offer.Status.SUPERSEDED
        assert Message.objects.filter(patient=second.patient, kind="offer_closed").exists()
    else:
        assert yes.template == "already_filled"
    # Nothing expired under the pending booking: the sweep found them held or closed.
    assert not Offer.objects.filter(slot=slot, status="expired").exists()
    assert live(slot) == []


@pytest.mark.parametrize("attempt", range(3))
def test_decline_racing_a_yes_gives_the_slot_to_exactly_one(pending, front_desk_user, attempt):
    slot, offers = pending
    declined, yes = run_together([
        lambda: approval.booking_decline(offer_id=offers[0].pk, by=front_desk_user),
        lambda: handle_reply(patient=offers[1].patient, intent="yes"),
    ])
    # Either way the YES ends up holding the reservation: next in line, promoted by the
    # decline; or after it, reserving the slot itself.
    assert yes.template in ("next_in_line", "booking_pending")
    assert Offer.objects.filter(slot=slot, status="reserved").count() == 1
    assert Offer.objects.get(pk=offers[1].pk).status == Offer.Status.RESERVED
    slot.refresh_from_db()
    assert slot.waiting_for == Slot.WaitingFor.APPROVAL
