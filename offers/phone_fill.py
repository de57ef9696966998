"""Staff filled a slot by phone: its live offers end at once, the patients are told only
once the undo window (PHONE_FILL_UNDO_SECONDS) has passed (slot_phone_fill_announce),
and within it staff may take the fill back (slot_phone_fill_undo). Slot lock first, as
everywhere (offers/locks.py).
"""

import datetime as dt
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.audit import save_with_reason
from messaging.models import Message
from messaging.selectors import messages_reached_or_may
from messaging.services import message_send
from offers import locks
from offers.engine import (
    _booked_overlapping,
    _close,
    _ended_template,
    _patients_freed,
    _queue_next_batch,
    _resolve,
    _tasks,
    _tell_offer_ended,
    entry_offers_end,
    offer_text_context,
    patient_overlapping_offers_end,
    refuse_while_pending,
)
from offers.messages import OFFER_KIND
from offers.models import Offer, Slot
from offers.selectors import patients_booked_overlapping, slot_live_offers
from waitlist.models import WaitlistEntry

PHONE_FILL_REASON = "Slot filled by phone"


@transaction.atomic
def slot_mark_filled_by_phone(*, slot: Slot, by, entry=None, reason: str = "") -> Slot:
    """Staff filled the slot by phone (optionally from a waitlist entry); live offers end
    at once, so no YES can take it meanwhile. The patients are texted only when the undo
    window (PHONE_FILL_UNDO_SECONDS) has passed (slot_phone_fill_announce), so an undo
    leaves nobody told something untrue.

    The patient's own live offer for this slot, through whichever of their entries it
    came, becomes their booking (a confirmation after the window, not "offer closed");
    the entry staff chose is the one booked. The offers it ends end now for the rest of
    the day too: right after commit, the slots waiting for those patients are looked at
    (their patients are free), and the booked patient's live offers through that entry,
    or for a slot at an overlapping time, end: one person, one place at a time."""
    slot = locks.lock_slot(slot.pk)
    if slot.status == Slot.Status.FILLED:
        raise ValidationError("This slot is already filled.")
    if slot.status == Slot.Status.WITHDRAWN:
        raise ValidationError("This slot was withdrawn.")
    refuse_while_pending(slot=slot)
    own_offer = None
    if entry is not None:
        entry = WaitlistEntry.objects.select_for_update().get(pk=entry.pk)
        if entry.status != WaitlistEntry.Status.ACTIVE:
            raise ValidationError({"entry": "That patient is no longer on the waitlist."})
        if patients_booked_overlapping(slot=slot).filter(
                filled_entry__patient_id=entry.patient_id).exists():
            raise ValidationError({"entry": "That patient is already booked at an "
                                            "overlapping time."})
        own_offer = (slot_live_offers(slot=slot).select_for_update(of=("self",))
                     .select_related("patient").filter(patient_id=entry.patient_id).first())
        if own_offer is not None:
            _resolve(own_offer, Offer.Status.ACCEPTED, "Booked by phone", by=by)
    # Closed without a word for now (the text comes after the undo window); a text in
    # flight this moment is told about once it has left (offer_text_left_after_end).
    closed = list(slot_live_offers(slot=slot).select_for_update(of=("self",)))
    for offer in closed:
        _resolve(offer, Offer.Status.SUPERSEDED, PHONE_FILL_REASON, by=by, announce=False)
    # Free at once, not after the window: the slot is closed, and other slots waiting
    # for these patients should not wait two minutes more (an undo gives back only the
    # offers of patients still free then).
    _patients_freed([offer.patient_id for offer in closed])
    slot.filled_via = Slot.FilledVia.PHONE
    slot.filled_entry = entry
    _close(slot, Slot.Status.FILLED, reason or "Filled by phone", by=by)
    if entry is not None:
        entry.status = WaitlistEntry.Status.BOOKED
        save_with_reason(entry, f"Booked by phone into {slot}", by)
        # The slots that waited for this patient may now have nobody who fits.
        _patients_freed([entry.patient_id])
        # After commit, in its own transactions: other slots' locks must not be taken
        # under this one.
        transaction.on_commit(partial(entry_offers_end, entry_id=entry.pk,
                                      reason="Patient booked by phone into another slot"),
                              robust=True)
        transaction.on_commit(partial(patient_overlapping_offers_end, slot_id=slot.pk,
                                      patient_id=entry.patient_id), robust=True)
    _tasks().slot_phone_fill_announce.apply_async_on_commit(
        (slot.pk,), countdown=settings.PHONE_FILL_UNDO_SECONDS + 1)
    return slot


def _phone_fill_offers(slot: Slot) -> list[Offer]:
    """The offers this slot's fill by phone ended (its patient's own, accepted; the
    others closed), as opposed to offers that had ended before."""
    offers = (slot.offers.filter(status__in=(Offer.Status.ACCEPTED, Offer.Status.SUPERSEDED))
              .select_related("patient", "entry"))
    return [offer for offer in offers
            if (offer.history.values_list("history_change_reason", flat=True).first() or ""
                ).endswith(("Booked by phone", PHONE_FILL_REASON))]


def phone_fill_undo_until(slot: Slot) -> dt.datetime | None:
    """Until when staff may undo this slot's fill by phone (None: not undoable)."""
    if slot.status != Slot.Status.FILLED or slot.filled_via != Slot.FilledVia.PHONE:
        return None
    if slot.closed_at is None:
        return None
    until = slot.closed_at + dt.timedelta(seconds=settings.PHONE_FILL_UNDO_SECONDS)
    return until if timezone.now() < until else None


@transaction.atomic
def slot_phone_fill_announce(*, slot_id: int) -> int:
    """Once the undo window has passed, tell the patients of a slot filled by phone what
    is true now: its own patient "you're booked", the others holding an offer "no longer
    available" (unless a reply of theirs was answered meanwhile, or their text never left).
    Does nothing before then, or if the fill was undone; safe to run twice. Returns how
    many texts went out."""
    slot = locks.lock_slot(slot_id)
    if slot is None or slot.status != Slot.Status.FILLED or (
            slot.filled_via != Slot.FilledVia.PHONE) or phone_fill_undo_until(slot):
        return 0
    sent = 0
    for offer in _phone_fill_offers(slot):
        told = offer.messages.filter(direction=Message.Direction.OUT,
                                     created_at__gte=slot.closed_at).exclude(
            kind=OFFER_KIND).exists()
        if told:
            continue
        if offer.status == Offer.Status.ACCEPTED:
            # Named for whoever the booked entry is for (the offer may have come through
            # another entry of the same patient).
            message_send(patient=offer.patient, template="confirmation", subject=offer,
                         context=offer_text_context(entry=slot.filled_entry or offer.entry,
                                                    slot=slot))
        else:
            reached = messages_reached_or_may(offer.messages.filter(
                direction=Message.Direction.OUT, kind=OFFER_KIND)).exists()
            _tell_offer_ended(offer, slot, template=_ended_template(offer, slot),
                              text_reached=reached)
        sent += 1
    return sent


@transaction.atomic
def slot_phone_fill_undo(*, slot: Slot, by) -> Slot:
    """Staff take back a fill by phone within the undo window: the slot is offered again,
    its patient waits again, and the offers it ended are live again while their holds
    last (nobody was texted about the fill yet). An offer whose patient's reply was
    answered meanwhile stays ended: what they were told stands; so does one whose
    patient's day moved on in the window (_may_be_given_back: another offer made to them
    since, a STOP, a wrong number, a booking elsewhere), and they are told now that it
    is no longer available. The booked patient's own offer, if not given back, ends too.

    The patient booked waits again, so the slots they fit are looked at after commit
    (one that closed unfilled because they were booked offers again). What the fill
    ended elsewhere for them (their offers through that entry or at an overlapping time)
    stays ended: they were told at once."""
    slot = locks.lock_slot(slot.pk)
    if phone_fill_undo_until(slot) is None:
        raise ValidationError("This fill by phone can no longer be undone: the patients "
                              "have been told. Withdraw or record the slot again instead.")
    now = timezone.now()
    for offer in _phone_fill_offers(slot):
        answered = offer.messages.filter(direction=Message.Direction.OUT,
                                         created_at__gte=slot.closed_at).exclude(
            kind=OFFER_KIND).exists()
        texted = offer.hold_until is not None  # else its text was withdrawn, never sent
        if texted and not answered and offer.hold_until <= now:
            # Its hold ran out in the window: as if it had expired.
            offer.responded_at = None
            _resolve(offer, Offer.Status.EXPIRED, "Fill by phone undone", by=by,
                     announce=False)
            continue
        if texted and not answered and _may_be_given_back(offer, slot):
            try:
                # A savepoint: another slot's batch may give this patient an offer this
                # very moment; the database refuses a second live one, and it stays ended.
                with transaction.atomic():
                    offer.responded_at = None
                    _resolve(offer, Offer.Status.SENT, "Fill by phone undone", by=by,
                             announce=False)
                continue
            except IntegrityError:
                pass
        # It stays ended. The booked patient's own offer ends too (the slot is no longer
        # theirs); a patient who has the text and was not told is told now, as they would
        # have been after the window, and one who was told "you're booked" (their reply
        # was answered) hears that it no longer stands.
        offer.refresh_from_db(fields=["status", "responded_at"])
        was_booked = offer.status == Offer.Status.ACCEPTED
        if was_booked:
            _resolve(offer, Offer.Status.SUPERSEDED, "Fill by phone undone", by=by,
                     announce=False)
        if texted and (not answered or was_booked):
            waits = (offer.entry_id == slot.filled_entry_id
                     or offer.entry.status == WaitlistEntry.Status.ACTIVE)
            _tell_offer_ended(offer, slot, text_reached=True, template=(
                "offer_closed" if waits else "offer_closed_off_waitlist"))
    if slot.filled_entry_id:
        entry = WaitlistEntry.objects.select_for_update().get(pk=slot.filled_entry_id)
        entry.status = WaitlistEntry.Status.ACTIVE
        save_with_reason(entry, "Fill by phone undone: waiting again", by)
        transaction.on_commit(partial(_tasks().offers_for_freed_patients.delay,
                                      [entry.patient_id], reopen=True), robust=True)
    slot.status = Slot.Status.OFFERING
    slot.filled_via = ""
    slot.filled_entry = None
    slot.closed_at = None
    save_with_reason(slot, "Fill by phone undone", by)
    _queue_next_batch(slot)
    return slot


def _may_be_given_back(offer: Offer, slot: Slot) -> bool:
    """Whether an undo may make this offer live again: its patient has not been made
    another offer since (the fill freed them at once; one live offer each, and a reply is
    about the newest offer seen, patient_offer_to_answer), the entry still waits, the
    patient can still be texted (no STOP, no wrong number meanwhile) and is not booked
    at an overlapping time by now."""
    # The entry this slot booked waits again with the undo.
    waits = (offer.entry.status == WaitlistEntry.Status.ACTIVE
             or offer.entry_id == slot.filled_entry_id)
    return (waits and offer.patient.can_receive_sms
            and not Offer.objects.filter(patient_id=offer.patient_id, pk__gt=offer.pk).exists()
            and not _booked_overlapping(offer, slot))


def slots_phone_fill_announce_due() -> int:
    """The sweep's share: announce fills by phone whose window passed (their own task
    may have been lost, or run too early in eager mode). Looks back an hour."""
    since = timezone.now() - dt.timedelta(hours=1, seconds=settings.PHONE_FILL_UNDO_SECONDS)
    due = timezone.now() - dt.timedelta(seconds=settings.PHONE_FILL_UNDO_SECONDS)
    slot_ids = Slot.objects.filter(status=Slot.Status.FILLED, filled_via=Slot.FilledVia.PHONE,
                                   closed_at__gte=since, closed_at__lte=due).values_list(
        "pk", flat=True)
    return sum(slot_phone_fill_announce(slot_id=pk) for pk in list(slot_ids[:1000]))
