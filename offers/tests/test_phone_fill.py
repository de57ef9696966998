"""Filled by phone: the slot closes at once, its patients are texted only when the undo
window has passed, and an undo within it leaves nobody told anything untrue."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from messaging.models import Message
from messaging.services import clinic_sms_number, inbound_handle
from offers import services
from offers.models import Offer, Slot
from offers.tests.conftest import live, open_slot, slot_start, waitlist
from waitlist.models import WaitlistEntry

pytestmark = pytest.mark.django_db


def _texts_besides_offers():
    return list(Message.objects.filter(direction="out").exclude(kind="offer")
                .values_list("patient_id", "kind").order_by("patient_id", "kind"))


@pytest.fixture
def window_passes(settings):
    """window_passes(): the undo window is over (as if its two minutes had gone by)."""
    def passes():
        settings.PHONE_FILL_UNDO_SECONDS = 0
    return passes


def _yes(patient) -> str:
    return inbound_handle(from_number=patient.phone, to_number=clinic_sms_number(),
                          body="YES", sid=f"SM{patient.pk:032d}")


def test_nobody_is_texted_until_the_undo_window_has_passed(provider, commit,
                                                           front_desk_user, window_passes):
    waitlist(6)
    with commit():
        slots = [open_slot(provider, start=slot_start(hour=h)) for h in (9, 10)]
    mine, *others = live(slots[0])
    with commit():
        services.slot_mark_filled_by_phone(slot=slots[0], by=front_desk_user,
                                           entry=mine.entry)
    # Closed at once: nobody can take it by SMS meanwhile...
    assert live(slots[0]) == []
    with commit():
        assert "someone else" in _yes(others[0].patient)
    # ...but the only text so far is the answer to that YES; the run of the announcement
    # queued at commit (eager here) found the window still open and did nothing.
    assert _texts_besides_offers() == [(others[0].patient_id, "already_filled")]
    assert services.slot_phone_fill_announce(slot_id=slots[0].pk) == 0

    window_passes()
    with commit():
        told = services.slot_phone_fill_announce(slot_id=slots[0].pk)
    # The booked patient is confirmed; the one still holding an offer told it is taken;
    # the one who already asked is not told twice. The other slot's patients: nothing.
    assert told == 2
    assert _texts_besides_offers() == sorted([
        (mine.patient_id, "confirmation"), (others[0].patient_id, "already_filled"),
        (others[1].patient_id, "offer_closed")])
    with commit():
        assert services.slot_phone_fill_announce(slot_id=slots[0].pk) == 0  # once only
    with pytest.raises(ValidationError, match="can no longer be undone"):
        services.slot_phone_fill_undo(slot=slots[0], by=front_desk_user)


def test_an_undo_within_the_window_offers_the_slot_again_and_texts_nobody(
        provider, commit, front_desk_user, window_passes):
    waitlist(5)
    with commit():
        slot = open_slot(provider)
    first_batch = live(slot)
    mine = first_batch[0]
    with commit():
        services.slot_mark_filled_by_phone(slot=slot, by=front_desk_user, entry=mine.entry,
                                           reason="Called Ana")
    with commit():
        services.slot_phone_fill_undo(slot=slot, by=front_desk_user)

    slot.refresh_from_db()
    assert (slot.status, slot.filled_via, slot.filled_entry, slot.closed_at) == (
        Slot.Status.OFFERING, "", None, None)
    assert WaitlistEntry.objects.get(pk=mine.entry_id).status == WaitlistEntry.Status.ACTIVE
    # The same three offers are live again, with the holds they had; no new batch.
    assert [o.pk for o in live(slot)] == [o.pk for o in first_batch]
    assert {o.status for o in live(slot)} == {Offer.Status.SENT}
    assert all(o.hold_until == before.hold_until
               for o, before in zip(live(slot), first_batch, strict=True))
    assert Offer.objects.get(pk=mine.pk).responded_at is None
    assert slot.offers.count() == 3
    # Nobody was told anything: not now, and not when the window would have passed.
    window_passes()
    with commit():
        assert services.slot_phone_fill_announce(slot_id=slot.pk) == 0
        assert services.slots_phone_fill_announce_due() == 0
    assert _texts_besides_offers() == []
    # The slot is as it was: a YES books it as usual.
    with commit():
        result = services.offer_claim(patient=first_batch[1].patient)
    assert result.outcome == services.Outcome.BOOKED
    # The audit trail says who filled it, who undid it, and why.
    reasons = list(slot.history.order_by("history_id").values_list(
        "history_change_reason", "history_user__username"))
    assert ("Called Ana", "frontdesk") in reasons
    assert ("Fill by phone undone", "frontdesk") in reasons


def test_an_undo_leaves_ended_the_offers_whose_patients_were_answered_or_whose_hold_passed(
        provider, commit, front_desk_user):
    waitlist(5)
    with commit():
        slot = open_slot(provider)
    asked, expired, holding = live(slot)
    with commit():
        services.slot_mark_filled_by_phone(slot=slot, by=front_desk_user)
    _yes(asked.patient)
    Offer.objects.filter(pk=expired.pk).update(hold_until=timezone.now() - dt.timedelta(
        seconds=1))
    with commit():
        services.slot_phone_fill_undo(slot=slot, by=front_desk_user)

    # Told "someone else took it": that stands; a hold that ran out meanwhile expired.
    statuses = {o.pk: o.status for o in slot.offers.all()}
    assert statuses == {asked.pk: Offer.Status.SUPERSEDED, expired.pk: Offer.Status.EXPIRED,
                        holding.pk: Offer.Status.SENT}


def test_the_sweep_announces_a_fill_whose_task_was_lost(provider, commit, front_desk_user,
                                                        window_passes):
    waitlist(3)
    with commit():
        slot = open_slot(provider)
    with commit():
        services.slot_mark_filled_by_phone(slot=slot, by=front_desk_user)
    window_passes()
    with commit():
        assert services.slots_phone_fill_announce_due() == 3
    assert [kind for _, kind in _texts_besides_offers()] == ["offer_closed"] * 3


def test_a_fill_by_phone_can_be_undone_only_while_the_window_lasts(provider, commit,
                                                                  front_desk_user,
                                                                  window_passes, settings):
    waitlist(1)
    with commit():
        slot = open_slot(provider)
    assert services.phone_fill_undo_until(slot) is None  # not filled
    with commit():
        services.slot_mark_filled_by_phone(slot=slot, by=front_desk_user)
    slot.refresh_from_db()
    until = services.phone_fill_undo_until(slot)
    assert until == slot.closed_at + dt.timedelta(seconds=settings.PHONE_FILL_UNDO_SECONDS)
    window_passes()
    assert services.phone_fill_undo_until(slot) is None
