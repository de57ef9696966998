"""A patient's reply to an offer: YES claims the slot (offer_claim), NO declines
(offer_decline), STOP releases their live offer (patient_offers_release). offers/replies.py
turns the SMS channel's replies into these calls and answers with what they came to
(Outcome). Slot lock first, as everywhere (offers/locks.py).

Where the slot's clinic rule asks for staff approval, a YES reserves the slot instead of
booking it, and a YES while a booking of the slot awaits approval is next in line
(_reserve_or_next_in_line); staff then decide in offers/approval.py.
"""

import datetime as dt
import enum
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clinic.audit import save_with_reason
from clinic.models import Patient
from offers import locks
from offers.engine import (
    _announce_booked,
    _booked_overlapping,
    _close,
    _queue_next_batch,
    _resolve,
    _supersede_live_offers,
)
from offers.models import Offer, OfferRule, Slot
from offers.rules import rule_for
from offers.selectors import patient_offer_to_answer, slot_booking_pending, slot_live_offers
from waitlist.models import WaitlistEntry

log = logging.getLogger(__name__)


class Outcome(enum.StrEnum):
    """What a patient's YES or NO came to."""

    BOOKED = "booked"  # this YES took the slot
    ALREADY_BOOKED = "already_booked"  # a repeated YES from the winner
    FILLED = "filled"  # someone else took it (by SMS, or staff by phone)
    GONE = "gone"  # no longer available, nobody took it: staff withdrew it, or it closed
    OFF_WAITLIST = "off_waitlist"  # their waitlist entry stopped waiting, so the offer ended
    EXPIRED = "expired"  # the hold passed first
    DECLINED = "declined"
    NOTHING = "nothing"  # no offer this reply could be about
    # Clinic rules' approval mode (offers/approval.py):
    AWAITING_APPROVAL = "awaiting_approval"  # this YES reserved the slot; staff decide
    NEXT_IN_LINE = "next_in_line"  # another patient's booking awaits approval


@dataclass(frozen=True)
class ReplyResult:
    outcome: Outcome
    offer: Offer | None = None


def offer_claim(*, patient: Patient, at: dt.datetime | None = None) -> ReplyResult:
    """A patient's YES, received at `at` (default now), about the newest offer whose text
    they had been handed by then (patient_offer_to_answer). Takes the slot only if it is
    still being offered, the offer is live, the patient has not opted out, their entry
    still waits, they are not booked at an overlapping time, and the hold has not passed
    by the clock (a sweep may lag), or passed so recently that the late YES may still
    take it (_late_yes_may_take). The winner is booked and leaves the waitlist; the
    slot's other live offers are superseded and those patients told."""
    target = patient_offer_to_answer(patient_id=patient.pk, at=at)
    if target is None:
        return ReplyResult(Outcome.NOTHING)
    if not target.is_live:
        outcome = _yes_cannot_claim(target, target.slot, timezone.now())
        if outcome != Outcome.EXPIRED or not _late_yes_worth_a_look(target, timezone.now()):
            # A settled offer never becomes live again and this reply changes nothing, so
            # it is answered from what was read, without locks (most late replies).
            return ReplyResult(outcome, target)
    # No savepoint of its own: an error here fails the caller's whole transaction anyway.
    with transaction.atomic(savepoint=False):
        slot = locks.lock_slot(target.slot_id)
        offer = (Offer.objects.select_for_update(of=("self", "entry"))
                 .select_related("entry", "patient").get(pk=target.pk))
        offer.slot = slot  # locked, with its provider, for the confirmation
        # The clock is read after the locks: whoever waited for them sees the present.
        now = timezone.now()
        outcome = _yes_cannot_claim(offer, slot, now)
        if outcome == Outcome.EXPIRED:
            if not _late_yes_may_take(offer, slot, now):
                return ReplyResult(outcome, offer)
            return _book(offer, slot, now, "Patient replied YES after the hold; nobody else "
                                           "held the slot")
        if outcome is not None:
            if outcome == Outcome.OFF_WAITLIST and offer.is_live:
                # The entry stopped waiting a moment ago and the waitlist's news
                # (entry_offers_end) has not reached this offer yet.
                _resolve(offer, Offer.Status.SUPERSEDED, "Patient left the waitlist")
                _queue_next_batch(slot)
            elif outcome in (Outcome.FILLED, Outcome.GONE) and offer.is_live:
                # cannot happen while slots close their offers; be safe
                _resolve(offer, Offer.Status.SUPERSEDED, "Slot closed")
            return ReplyResult(outcome, offer)

        # The offer is live.
        if offer.patient.sms_opted_out_at:
            _resolve(offer, Offer.Status.SUPERSEDED, "Patient opted out")
            _queue_next_batch(slot)
            return ReplyResult(Outcome.NOTHING, offer)
        if _booked_overlapping(offer, slot):
            # Booked by phone into an overlapping time a moment ago; its news
            # (patient_overlapping_offers_end) has not reached this offer yet.
            _resolve(offer, Offer.Status.SUPERSEDED, "Patient booked at an overlapping time")
            _queue_next_batch(slot)
            return ReplyResult(Outcome.GONE, offer)
        if slot_booking_pending(slot=slot):
            # Another patient's YES awaits staff approval: this one is next in line (its
            # hold is paused until the decision, offers/approval.py).
            return _next_in_line(offer, now)
        if offer.hold_until is not None and now >= offer.hold_until:
            if _late_yes_may_take(offer, slot, now):
                return _book(offer, slot, now, "Patient replied YES just after the hold; "
                                               "nobody else held the slot")
            _resolve(offer, Offer.Status.EXPIRED, "Hold passed before the YES arrived")
            _queue_next_batch(slot)
            return ReplyResult(Outcome.EXPIRED, offer)
        return _book(offer, slot, now, "Patient replied YES")


def _book(offer: Offer, slot: Slot, now: dt.datetime, reason: str) -> ReplyResult:
    """The YES takes the slot. The caller holds the slot's and the offer's locks.
    Where the slot's clinic rule asks for staff approval, it reserves it instead
    (offers/approval.py)."""
    pending = _reserve_or_next_in_line(offer, slot, now, reason)
    if pending is not None:
        return pending
    _resolve(offer, Offer.Status.ACCEPTED, reason, at=now)
    _supersede_live_offers(slot, "Another patient took the slot")
    slot.filled_via = Slot.FilledVia.SMS
    slot.filled_entry = offer.entry
    _close(slot, Slot.Status.FILLED, f"Filled by SMS: offer {offer.pk}")
    entry = offer.entry
    entry.status = WaitlistEntry.Status.BOOKED
    save_with_reason(entry, f"Booked by SMS into {slot}")
    _announce_booked(slot)
    log.info("slot %s filled by offer %s", slot.pk, offer.pk)
    return ReplyResult(Outcome.BOOKED, offer)


def _reserve_or_next_in_line(offer: Offer, slot: Slot, now: dt.datetime,
                             reason: str) -> ReplyResult | None:
    """Where a YES would book the slot, under its locks: while another booking of the
    slot is pending, this YES is next in line; where the rule asks for approval, it
    reserves the slot (staff approve or decline it, offers/approval.py). None: book it as
    usual."""
    if slot_booking_pending(slot=slot):
        if offer.is_live:
            return _next_in_line(offer, now)
        # A late YES to an offer that already expired: nothing to hold for them.
        return ReplyResult(Outcome.EXPIRED, offer)
    if rule_for(slot=slot).booking_mode != OfferRule.BookingMode.APPROVAL:
        return None
    offer.status = Offer.Status.RESERVED
    offer.reserved_at = offer.responded_at = now
    offer.next_in_line_at = None
    save_with_reason(offer, f"{reason}: reserved until staff approve")
    slot.waiting_for = Slot.WaitingFor.APPROVAL
    save_with_reason(slot, f"Awaiting approval of offer {offer.pk}")
    return ReplyResult(Outcome.AWAITING_APPROVAL, offer)


def _next_in_line(offer: Offer, now: dt.datetime) -> ReplyResult:
    """A YES to a live offer while another booking of the slot awaits approval: recorded
    (the first such YES is first in line), the offer stays live."""
    if offer.next_in_line_at is None:
        offer.next_in_line_at = now
        save_with_reason(offer, "Patient replied YES while another booking awaits "
                                "approval: next in line")
    return ReplyResult(Outcome.NEXT_IN_LINE, offer)


def _late_yes_worth_a_look(offer: Offer, now: dt.datetime) -> bool:
    """Cheap, without locks: an expired offer whose late YES might still take its slot."""
    grace = dt.timedelta(seconds=settings.OFFER_LATE_YES_GRACE_SECONDS)
    return (offer.status == Offer.Status.EXPIRED and offer.hold_until is not None
            and now - offer.hold_until <= grace and offer.slot.status == Slot.Status.OFFERING)


def _late_yes_may_take(offer: Offer, slot: Slot, now: dt.datetime) -> bool:
    """A YES after the hold still takes the slot, truthfully, when nothing it would take
    from anyone else: within OFFER_LATE_YES_GRACE_SECONDS of the hold's end, the slot
    still offering, no other live offer of the slot (its batch-mates all ended and no
    later batch has gone out: the slot waits for busy patients or texting hours), the
    patient holding no other offer, reachable, still waiting and free at that time.
    The caller holds the slot's lock."""
    grace = dt.timedelta(seconds=settings.OFFER_LATE_YES_GRACE_SECONDS)
    return (
        offer.hold_until is not None and now - offer.hold_until <= grace
        and offer.status in (Offer.Status.SENT, Offer.Status.EXPIRED)
        and slot.status == Slot.Status.OFFERING and slot.start > now
        and offer.entry.status == WaitlistEntry.Status.ACTIVE
        and offer.patient.can_receive_sms
        and not slot_live_offers(slot=slot).exclude(pk=offer.pk).exists()
        and not Offer.objects.filter(patient_id=offer.patient_id,
                                     status__in=Offer.LIVE_STATUSES).exclude(pk=offer.pk).exists()
        and not _booked_overlapping(offer, slot)
    )


def _booked_here(offer: Offer, slot: Slot) -> bool:
    """The patient holds this slot: their YES took it, or staff booked their entry into it
    by phone."""
    return offer.status == Offer.Status.ACCEPTED or (
        slot.status == Slot.Status.FILLED and slot.filled_entry_id == offer.entry_id)


def _off_waitlist(offer: Offer, slot: Slot) -> bool:
    """The offer's waitlist entry no longer waits (staff removed it, or it was booked into
    another slot), so the answer must not say "you stay on our waitlist"."""
    return (offer.entry.status != WaitlistEntry.Status.ACTIVE
            and not _booked_here(offer, slot))


def _yes_cannot_claim(offer: Offer, slot: Slot, now: dt.datetime) -> Outcome | None:
    """What a YES to `offer` comes to if it cannot take the slot; None if it may try.
    Never None for an offer that is no longer live (EXPIRED for an expired one, which a
    late YES may still take). Each answer must be true: "someone else took it" only when
    someone did, "you stay on our waitlist" only while the entry waits."""
    if offer.status == Offer.Status.RESERVED:
        return Outcome.AWAITING_APPROVAL  # their YES already reserved it; staff decide
    if _off_waitlist(offer, slot):
        return Outcome.OFF_WAITLIST
    booked_here = _booked_here(offer, slot)
    if slot.start <= now or (not booked_here and offer.status in (Offer.Status.DECLINED,
                                                                  Offer.Status.FAILED)):
        return Outcome.NOTHING
    if booked_here:
        return Outcome.ALREADY_BOOKED
    if offer.status == Offer.Status.EXPIRED:
        return Outcome.EXPIRED
    if offer.status == Offer.Status.SUPERSEDED or slot.status != Slot.Status.OFFERING:
        # Superseded offers of a slot that is not filled were ended without anyone
        # taking it: staff withdrew it, or it closed.
        return Outcome.FILLED if slot.status == Slot.Status.FILLED else Outcome.GONE
    return None


def offer_decline(*, patient: Patient, at: dt.datetime | None = None) -> ReplyResult:
    """A patient's NO, received at `at`, about the offer they had been handed by then: a
    live one is declined (they stay on the waitlist), and the next batch goes out at
    once if this was the last offer out."""
    target = patient_offer_to_answer(patient_id=patient.pk, at=at)
    if target is None:
        return ReplyResult(Outcome.NOTHING)
    if not target.is_live:
        outcome = Outcome.OFF_WAITLIST if _off_waitlist(target, target.slot) else Outcome.NOTHING
        return ReplyResult(outcome, target)
    # No savepoint of its own: an error here fails the caller's whole transaction anyway.
    with transaction.atomic(savepoint=False):
        slot = locks.lock_slot(target.slot_id)
        offer = (Offer.objects.select_for_update(of=("self", "entry")).select_related("entry")
                 .get(pk=target.pk))
        offer.slot = slot
        if _off_waitlist(offer, slot):
            if offer.is_live:
                # The waitlist's news (entry_offers_end) has not reached this offer yet.
                _resolve(offer, Offer.Status.SUPERSEDED, "Patient left the waitlist")
                _queue_next_batch(slot)
            return ReplyResult(Outcome.OFF_WAITLIST, offer)
        if not offer.is_live:
            return ReplyResult(Outcome.NOTHING, offer)
        _resolve(offer, Offer.Status.DECLINED, "Patient replied NO")
        _queue_next_batch(slot)
        return ReplyResult(Outcome.DECLINED, offer)


def patient_offers_release(*, patient_id: int, reason: str) -> int:
    """The patient opted out: their live offer (at most one) ends as declined and its
    slot moves on. Returns how many ended."""
    released = 0
    live = Offer.objects.filter(patient_id=patient_id, status__in=Offer.LIVE_STATUSES)
    for offer_id, slot_id in list(live.values_list("pk", "slot_id")):
        with transaction.atomic():
            slot = locks.lock_slot(slot_id)
            offer = Offer.objects.select_for_update().get(pk=offer_id)
            if offer.is_live:
                _resolve(offer, Offer.Status.DECLINED, reason)
                _queue_next_batch(slot)
                released += 1
    return released
