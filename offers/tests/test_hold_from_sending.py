"""An offer's hold runs OFFER_HOLD_SECONDS from the moment its text is handed to the SMS
provider, not from the moment the offer was made: a text held up by a Twilio outage still
gives the patient the whole hold it promises, and a text that never leaves does not stall
its slot."""

import datetime as dt

import pytest
from django.utils import timezone

from messaging import hooks
from messaging.backends import TemporarySendError
from messaging.models import Message
from messaging.services import message_deliver
from messaging.tests.twilio_fakes import fake_twilio  # noqa: F401  (a shared fixture)
from offers import services
from offers.models import Offer, Slot
from offers.services import Outcome
from offers.tests.conftest import live, open_slot, waitlist

pytestmark = pytest.mark.django_db

HOLD = dt.timedelta(seconds=420)
TWILIO_DOWN = (503, {"code": 20503, "message": "Service unavailable", "status": 503})


class Clock:
    """The time the code reads through timezone.now(), moved on by the test."""

    def __init__(self):
        self.now = timezone.now()

    def advance(self, **delta) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timezone, "now", lambda: clock.now)
    return clock


def offers_waiting_to_send(slot: Slot) -> list[Offer]:
    """Make the slot's next batch without running what waits for commit, so the texts
    stay queued (as while the broker or Twilio is slow)."""
    services.slot_offer_next_batch(slot_id=slot.pk)
    return live(slot)


def offer_text(offer: Offer) -> Message:
    return Message.objects.get(offer=offer, kind="offer")


def hand_over(offer: Offer, commit) -> Message:
    """The SMS worker picks the offer's text up and the backend accepts it."""
    with commit():
        message_deliver(message_id=offer_text(offer).pk)
    return offer_text(offer)


def test_an_offer_waits_to_send_with_no_hold_until_its_text_is_handed_over(provider, commit):
    waitlist(5)
    slot = open_slot(provider)
    offers = offers_waiting_to_send(slot)

    assert len(offers) == 3
    for offer in offers:
        assert offer.status == Offer.Status.PENDING
        assert offer.sent_at is None
        assert offer.hold_until is None
        assert offer_text(offer).status == Message.Status.QUEUED
    # Offers waiting to send are out: the slot waits for them rather than sending more.
    assert services.slot_offer_next_batch(slot_id=slot.pk) == []
    assert services.slots_resume() == 0


def test_the_hold_runs_from_the_hand_over_not_from_when_the_offer_was_made(
        provider, commit, clock):
    waitlist(3)
    slot = open_slot(provider)
    made_at = clock.now
    offer = offers_waiting_to_send(slot)[0]

    handed_over_at = clock.advance(minutes=5)
    message = hand_over(offer, commit)

    offer.refresh_from_db()
    assert offer.created_at == made_at
    assert offer.status == Offer.Status.SENT
    assert message.sent_at == handed_over_at
    assert offer.sent_at == handed_over_at
    assert offer.hold_until == handed_over_at + HOLD


def test_a_yes_near_the_end_of_a_hold_that_started_late_still_takes_the_slot(
        provider, commit, clock):
    waitlist(3)
    slot = open_slot(provider)
    offer = offers_waiting_to_send(slot)[0]
    clock.advance(minutes=5)
    hand_over(offer, commit)

    # Eleven minutes after the offer was made, six after its text left.
    clock.advance(minutes=6)
    with commit():
        assert services.offers_expire_due() == 0
        result = services.offer_claim(patient=offer.patient)
    assert result.outcome == Outcome.BOOKED


def test_a_text_delayed_by_a_twilio_outage_still_gets_the_full_hold(
        provider, commit, clock, fake_twilio):  # noqa: F811  (the fixture imported above)
    waitlist(3)
    slot = open_slot(provider)
    offer = offers_waiting_to_send(slot)[0]
    fake_twilio.answer_next(TWILIO_DOWN)  # then Twilio takes messages again (201)

    with pytest.raises(TemporarySendError):
        hand_over(offer, commit)
    offer.refresh_from_db()
    assert offer_text(offer).status == Message.Status.QUEUED
    assert offer.status == Offer.Status.PENDING

    # Eight minutes of outage: longer than the hold itself. Nothing expires meanwhile.
    retried_at = clock.advance(minutes=8)
    with commit():
        assert services.offers_expire_due() == 0
        assert services.offers_give_up_unsent() == 0
    message = hand_over(offer, commit)

    offer.refresh_from_db()
    assert [m["To"] for m in fake_twilio.sent] == [offer.patient.phone] * 2
    assert message.status == Message.Status.ACCEPTED
    assert offer.status == Offer.Status.SENT
    assert offer.hold_until == retried_at + HOLD

    clock.advance(seconds=HOLD.total_seconds() - 1)
    with commit():
        assert services.offers_expire_due() == 0
    clock.advance(seconds=1)
    with commit():
        assert services.offers_expire_due() == 1
    offer.refresh_from_db()
    assert offer.status == Offer.Status.EXPIRED


def test_a_pending_offer_whose_text_never_leaves_is_failed_and_the_next_batch_goes_out(
        provider, commit, clock):
    entries = waitlist(6)
    slot = open_slot(provider)
    first = offers_waiting_to_send(slot)

    # Still inside messaging's retry window: the texts may yet leave.
    clock.advance(minutes=19)
    with commit():
        assert services.offers_give_up_unsent() == 0

    clock.advance(minutes=2)
    with commit():
        assert services.offers_give_up_unsent() == 3

    for offer in first:
        offer.refresh_from_db()
        assert offer.status == Offer.Status.FAILED
        # The late text is never sent for an offer that has ended.
        assert offer_text(offer).status == Message.Status.SUPPRESSED
    second = live(slot)
    assert [o.entry_id for o in second] == [e.pk for e in entries[3:6]]
    assert {o.batch for o in second} == {2}
    # The console backend took the new texts at once, so their holds run.
    assert {o.status for o in second} == {Offer.Status.SENT}


def test_a_pending_offer_is_failed_once_its_slot_is_too_close_to_offer_by_sms(
        provider, commit, clock):
    waitlist(4)
    # Offering stops an hour before the slot: ten minutes left to get a text out.
    slot = open_slot(provider, start=clock.now + dt.timedelta(minutes=70))
    first = offers_waiting_to_send(slot)

    clock.advance(minutes=9)
    with commit():
        assert services.offers_give_up_unsent() == 0
    clock.advance(minutes=2)
    with commit():
        assert services.offers_give_up_unsent() == len(first)

    assert not live(slot)
    slot.refresh_from_db()
    # No batch could go out in time: staff see the slot as unfilled and can phone someone.
    assert slot.status == Slot.Status.UNFILLED


def test_a_text_being_handed_over_keeps_its_offer_waiting(provider, commit, clock):
    waitlist(3)
    slot = open_slot(provider)
    offer = offers_waiting_to_send(slot)[0]
    Message.objects.filter(pk=offer_text(offer).pk).update(status=Message.Status.SENDING)

    clock.advance(minutes=21)
    with commit():
        services.offers_give_up_unsent()
    offer.refresh_from_db()
    assert offer.status == Offer.Status.PENDING


def test_the_hand_over_of_an_offer_superseded_meanwhile_does_not_revive_it(
        provider, commit, front_desk_user):
    waitlist(3)
    slot = open_slot(provider)
    offer = offers_waiting_to_send(slot)[0]
    message = offer_text(offer)
    with commit():
        services.slot_withdraw(slot=slot, by=front_desk_user)

    # The text was already on its way when the slot was withdrawn.
    with commit():
        hooks.message_handed_over.send(sender=Message, message=message, at=timezone.now())

    offer.refresh_from_db()
    assert offer.status == Offer.Status.SUPERSEDED
    assert offer.sent_at is None
    assert offer.hold_until is None
    assert services.offer_start_hold(offer_id=offer.pk) is False


def test_a_repeated_hand_over_does_not_move_the_hold(provider, commit, clock):
    waitlist(3)
    slot = open_slot(provider)
    offer = offers_waiting_to_send(slot)[0]
    message = hand_over(offer, commit)
    offer.refresh_from_db()
    hold_until = offer.hold_until

    clock.advance(minutes=3)
    with commit():
        hooks.message_handed_over.send(sender=Message, message=message, at=clock.now)
    offer.refresh_from_db()
    assert offer.hold_until == hold_until


def test_a_yes_before_the_offer_text_left_does_not_take_the_slot(provider, commit):
    waitlist(3)
    slot = open_slot(provider)
    offer = offers_waiting_to_send(slot)[0]

    with commit():
        result = services.offer_claim(patient=offer.patient)

    # The patient has not seen this offer: the YES is about nothing they were offered.
    assert result.outcome == Outcome.NOTHING
    offer.refresh_from_db()
    assert offer.status == Offer.Status.PENDING
    slot.refresh_from_db()
    assert slot.status == Slot.Status.OFFERING


def test_a_no_before_the_offer_text_left_leaves_the_offer_alone(provider, commit):
    waitlist(3)
    slot = open_slot(provider)
    offer = offers_waiting_to_send(slot)[0]

    with commit():
        result = services.offer_decline(patient=offer.patient)

    assert result.outcome == Outcome.NOTHING
    offer.refresh_from_db()
    assert offer.status == Offer.Status.PENDING


def test_a_yes_once_the_text_was_handed_over_counts_before_the_hold_is_recorded(
        provider, commit):
    waitlist(3)
    slot = open_slot(provider)
    offer = offers_waiting_to_send(slot)[0]
    # Twilio took the text; the hand-over's own handler has not run yet.
    Message.objects.filter(pk=offer_text(offer).pk).update(
        status=Message.Status.ACCEPTED, sent_at=timezone.now(), twilio_sid="SM" + "2" * 32)

    with commit():
        result = services.offer_claim(patient=offer.patient)

    assert result.outcome == Outcome.BOOKED


def test_the_sweep_starts_a_hold_whose_hand_over_was_missed(provider, commit, clock):
    waitlist(3)
    slot = open_slot(provider)
    offer = offers_waiting_to_send(slot)[0]
    # The text left, but the worker stopped before the offer heard of it.
    handed_over_at = clock.now
    Message.objects.filter(pk=offer_text(offer).pk).update(
        status=Message.Status.ACCEPTED, sent_at=handed_over_at, twilio_sid="SM" + "1" * 32)

    clock.advance(minutes=2)
    with commit():
        assert services.offers_start_missed_holds() == 1
        assert services.offers_give_up_unsent() == 0
    offer.refresh_from_db()
    assert offer.status == Offer.Status.SENT
    # The hold the text promised, counted from when it left.
    assert offer.hold_until == handed_over_at + HOLD
    with commit():
        assert services.offers_start_missed_holds() == 0


def test_patients_whose_offer_text_never_left_are_not_told_it_is_gone(
        provider, commit, front_desk_user):
    waitlist(3)
    slot = open_slot(provider)
    never_left, on_its_way, _ = offers_waiting_to_send(slot)
    # One text was picked up by the SMS worker just before staff withdrew the slot.
    Message.objects.filter(pk=offer_text(on_its_way).pk).update(status=Message.Status.SENDING)

    with commit():
        services.slot_withdraw(slot=slot, by=front_desk_user)

    assert offer_text(never_left).status == Message.Status.SUPPRESSED
    closed = Message.objects.filter(kind="offer_closed")
    # Nobody is told yet: one text never left, the other is still on its way, and a
    # notice must not overtake the offer it is about.
    assert not closed.exists()

    # The text on its way arrives: now its patient is told, after it.
    with commit():
        Message.objects.filter(pk=offer_text(on_its_way).pk).update(
            status=Message.Status.ACCEPTED, sent_at=timezone.now(), twilio_sid="SM" + "3" * 32)
        hooks.message_handed_over.send(sender=Message, message=offer_text(on_its_way),
                                       at=timezone.now())
    assert list(closed.values_list("patient_id", flat=True)) == [on_its_way.patient_id]
    assert closed.get().created_at >= offer_text(on_its_way).sent_at
