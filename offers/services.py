"""The offer engine's writes. Views, webhooks (through offers/replies.py), admin actions,
the FHIR API and tasks all call these functions.

Every function that changes a slot locks the slot row first (`select_for_update`), then
its offers: one lock order everywhere, so claims, declines, expiries and staff actions
on one slot happen one after another and never deadlock each other. Celery work is
queued only after commit.
"""

import datetime as dt
import enum
import logging
import math
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from clinic.models import AppointmentType, Location, Patient, Provider
from messaging.models import Message
from messaging.services import message_send, messages_withdraw_unsent
from offers.models import Offer, Slot
from offers.selectors import (
    patient_offer_to_answer,
    slot_candidates,
    slot_live_offers,
    slots_waiting_for_a_batch,
)
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


@dataclass(frozen=True)
class ReplyResult:
    outcome: Outcome
    offer: Offer | None = None


# --- helpers ----------------------------------------------------------------------


def _tasks():
    # offers.tasks imports this module; importing it lazily avoids the cycle.
    from offers import tasks

    return tasks


def _save(obj, reason: str, by=None) -> None:
    """Save with an audit reason (and the staff user, when a service knows it)."""
    obj._change_reason = reason
    if by is not None:
        obj._history_user = by
    obj.save()


def _lock_slot(slot_id: int, *, skip_locked: bool = False) -> Slot | None:
    return (
        Slot.objects.select_for_update(skip_locked=skip_locked)
        .select_related("provider")
        .filter(pk=slot_id)
        .first()
    )


def _lock_offer(offer_id: int, *, skip_locked: bool = False) -> tuple[Slot, Offer] | None:
    """Lock an offer's slot, then the offer: the one lock order. Call inside a
    transaction. None if there is no such offer, or (with `skip_locked`) another
    transaction holds its slot."""
    slot_id = Offer.objects.filter(pk=offer_id).values_list("slot_id", flat=True).first()
    if slot_id is None:
        return None
    slot = _lock_slot(slot_id, skip_locked=skip_locked)
    if slot is None:
        return None
    return slot, Offer.objects.select_for_update().get(pk=offer_id)


def sms_hours_open(at: dt.datetime | None = None) -> bool:
    """Whether offers may be texted at `at` (SMS_SEND_HOURS, clinic local time)."""
    start, end = settings.SMS_SEND_HOURS
    local = timezone.localtime(at or timezone.now()).time()
    return start <= local and (end is None or local < end)


def batch_size_for(*, slot: Slot, at: dt.datetime) -> int:
    """OFFER_BATCH_SIZE, grown when fewer than OFFER_TARGET_BATCHES holds fit before
    offering must stop (the lead time before the slot), so a slot starting soon
    still fills. Never more than OFFER_MAX_BATCH_SIZE."""
    base = settings.OFFER_BATCH_SIZE
    usable = (slot.start - at - dt.timedelta(minutes=settings.OFFER_MIN_LEAD_MINUTES))
    fits = int(usable.total_seconds() // settings.OFFER_HOLD_SECONDS)
    if fits >= settings.OFFER_TARGET_BATCHES:
        return base
    wanted = math.ceil(base * settings.OFFER_TARGET_BATCHES / max(fits, 1))
    return max(base, min(wanted, settings.OFFER_MAX_BATCH_SIZE))


def _too_late_to_offer(slot: Slot, at: dt.datetime) -> bool:
    return slot.start - at < dt.timedelta(minutes=settings.OFFER_MIN_LEAD_MINUTES)


def _close_unfilled(slot: Slot, reason: str) -> None:
    slot.status = Slot.Status.UNFILLED
    slot.closed_at = timezone.now()
    _save(slot, reason)
    log.info("slot %s unfilled: %s", slot.pk, reason)


def _queue_next_batch(slot: Slot) -> None:
    """Called under the slot's lock after an offer was resolved: once none is live, the
    next batch goes out right after commit. Two resolutions at once both queue it; the
    task is idempotent, so exactly one batch follows."""
    if slot.status == Slot.Status.OFFERING and not slot_live_offers(slot=slot).exists():
        _tasks().offer_next_batch.delay_on_commit(slot.pk)


def _resolve(offer: Offer, status: str, reason: str, *, at: dt.datetime | None = None,
             by=None) -> bool:
    """End (or accept) an offer. Returns whether the patient may have its text: False
    when the offer text was still waiting to leave and was withdrawn."""
    offer.status = status
    if status in (Offer.Status.ACCEPTED, Offer.Status.DECLINED):
        offer.responded_at = at or timezone.now()
    _save(offer, reason, by)
    if status not in Offer.LIVE_STATUSES:
        # An offer text still waiting for Twilio (an outage) must not arrive after the
        # offer ended.
        return not messages_withdraw_unsent(offer_id=offer.pk, kind="offer")
    return True


def _tell_offer_ended(offer: Offer, slot: Slot, *, template: str, text_reached: bool) -> None:
    """Tell the patient their offer is no longer available, unless they never got it (its
    text was withdrawn before it left): a notice about an offer never received would
    only confuse."""
    if text_reached:
        message_send(patient=offer.patient, template=template,
                     context={"start": slot.start}, offer=offer)


def _supersede_live_offers(slot: Slot, reason: str, *, by=None) -> list[Offer]:
    """End every live offer of a slot that just closed, and tell those patients."""
    ended = []
    for offer in slot_live_offers(slot=slot).select_for_update().select_related("patient"):
        text_reached = _resolve(offer, Offer.Status.SUPERSEDED, reason, by=by)
        _tell_offer_ended(offer, slot, template="offer_closed", text_reached=text_reached)
        ended.append(offer)
    return ended


def _offer_to(slot: Slot, entry: WaitlistEntry, *, batch: int, at: dt.datetime) -> Offer | None:
    """Make one offer, waiting to send, and text it (the SMS leaves after commit).

    Its hold starts only when the text is handed to the SMS provider (offer_start_hold):
    a text held up by a Twilio outage still gives the patient the whole hold it promises.
    """
    hold = settings.OFFER_HOLD_SECONDS
    offer = Offer(
        slot=slot, entry=entry, patient_id=entry.patient_id, batch=batch, score=entry.score,
        status=Offer.Status.PENDING, created_at=at,
    )
    try:
        # A savepoint: another slot's batch may have given this patient a live offer a
        # moment ago; the database refuses the second one and we move to the next person.
        with transaction.atomic():
            _save(offer, f"Offered in batch {batch}")
    except IntegrityError:
        return None
    message = message_send(
        patient=entry.patient,
        template="offer",
        context={
            "first_name": entry.patient.first_name,
            "start": slot.start,
            "provider": slot.provider.name,
            # Rounded down: the text must never promise more time than the hold gives.
            "hold_minutes": max(1, hold // 60),
        },
        offer=offer,
    )
    if message is None:
        _resolve(offer, Offer.Status.FAILED, "The patient cannot receive SMS")
        return None
    return offer


def _send_batch(slot: Slot, *, at: dt.datetime, by=None, reason: str = "") -> list[Offer]:
    """Send one batch to the best candidates. The caller holds the slot's lock."""
    size = batch_size_for(slot=slot, at=at)
    batch = slot.current_batch + 1
    offers: list[Offer] = []
    tried: set[int] = set()
    while len(offers) < size:
        chunk = list(slot_candidates(slot=slot, at=at).exclude(pk__in=tried)[: size - len(offers)])
        if not chunk:
            break
        for entry in chunk:
            tried.add(entry.pk)
            offer = _offer_to(slot, entry, batch=batch, at=at)
            if offer is not None:
                offers.append(offer)
    if offers:
        slot.current_batch = batch
        _save(slot, reason or f"Batch {batch} sent to {len(offers)} patients", by)
    elif not slot_live_offers(slot=slot).exists():
        _close_unfilled(slot, "No one left on the waitlist who fits")
    return offers


# --- slots --------------------------------------------------------------------------


@transaction.atomic
def slot_open(
    *,
    provider: Provider,
    start: dt.datetime,
    end: dt.datetime,
    appointment_type: AppointmentType | None = None,
    location: Location | None = None,
    source: str = Slot.Source.PORTAL,
    recorded_by=None,
    ehr_identifier_system: str = "",
    ehr_identifier_value: str = "",
) -> Slot:
    """Record a freed slot; the first batch of offers goes out after commit.

    The same EHR identifier posted twice returns the slot recorded the first time.
    """
    if end <= start:
        raise ValidationError({"end": "The slot must end after it starts."})
    if end <= timezone.now():
        raise ValidationError({"start": "That slot is already over."})
    if ehr_identifier_value:
        existing = Slot.objects.filter(
            ehr_identifier_system=ehr_identifier_system, ehr_identifier_value=ehr_identifier_value
        ).first()
        if existing is not None:
            return existing
    slot = Slot(
        provider=provider, start=start, end=end, appointment_type=appointment_type,
        location=location, source=source, recorded_by=recorded_by,
        ehr_identifier_system=ehr_identifier_system, ehr_identifier_value=ehr_identifier_value,
    )
    _save(slot, "Cancellation recorded", recorded_by)
    _tasks().offer_next_batch.delay_on_commit(slot.pk)
    return slot


def slot_offer_next_batch(*, slot_id: int) -> list[Offer]:
    """Send the next batch if the current one is resolved (idempotent, race-safe).

    Does nothing for a closed slot or while an offer is still out; outside SMS hours it
    waits (the sweep calls again); too close to the start, or with nobody left, the slot
    becomes unfilled for staff to see.
    """
    with transaction.atomic():
        slot = _lock_slot(slot_id)
        if slot is None or slot.status != Slot.Status.OFFERING:
            return []
        if slot_live_offers(slot=slot).exists():
            return []
        now = timezone.now()
        if _too_late_to_offer(slot, now):
            _close_unfilled(slot, "Too close to the start to offer by SMS")
            return []
        if not sms_hours_open(now):
            return []
        return _send_batch(slot, at=now)


@transaction.atomic
def slot_offer_more(*, slot: Slot, by) -> list[Offer]:
    """Staff: send another batch now, without waiting for the current holds. Also reopens
    an unfilled slot (new people may have joined the waitlist)."""
    slot = _lock_slot(slot.pk)
    if slot.status not in (Slot.Status.OFFERING, Slot.Status.UNFILLED):
        raise ValidationError(f"This slot is {slot.get_status_display().lower()}.")
    now = timezone.now()
    if _too_late_to_offer(slot, now):
        raise ValidationError("The slot starts too soon to offer it by SMS; call instead.")
    if not sms_hours_open(now):
        raise ValidationError("Offers are only texted during SMS hours.")
    if not slot_candidates(slot=slot, at=now).exists():
        raise ValidationError("No one else on the waitlist fits this slot.")
    if slot.status == Slot.Status.UNFILLED:
        slot.status = Slot.Status.OFFERING
        slot.closed_at = None
    return _send_batch(slot, at=now, by=by,
                       reason=f"Staff sent batch {slot.current_batch + 1} early")


@transaction.atomic
def slot_withdraw(*, slot: Slot, by, reason: str = "") -> Slot:
    """Staff: the slot is no longer available; live offers are superseded."""
    slot = _lock_slot(slot.pk)
    if slot.status == Slot.Status.WITHDRAWN:
        return slot
    if slot.status == Slot.Status.FILLED:
        raise ValidationError("This slot is already filled; cancel that appointment instead.")
    _supersede_live_offers(slot, "Slot withdrawn", by=by)
    slot.status = Slot.Status.WITHDRAWN
    slot.closed_at = timezone.now()
    _save(slot, reason or "Withdrawn by staff", by)
    return slot


PHONE_FILL_REASON = "Slot filled by phone"


@transaction.atomic
def slot_mark_filled_by_phone(*, slot: Slot, by, entry=None, reason: str = "") -> Slot:
    """Staff filled the slot by phone (optionally from a waitlist entry); live offers end
    at once, so no YES can take it meanwhile. The patients are texted only when the undo
    window (PHONE_FILL_UNDO_SECONDS) has passed (slot_phone_fill_announce), so an undo
    leaves nobody told something untrue."""
    slot = _lock_slot(slot.pk)
    if slot.status == Slot.Status.FILLED:
        raise ValidationError("This slot is already filled.")
    if slot.status == Slot.Status.WITHDRAWN:
        raise ValidationError("This slot was withdrawn.")
    own_offer = None
    if entry is not None:
        entry = WaitlistEntry.objects.select_for_update().get(pk=entry.pk)
        if entry.status != WaitlistEntry.Status.ACTIVE:
            raise ValidationError({"entry": "That patient is no longer on the waitlist."})
        # The patient may hold a live offer for this very slot (staff called them while
        # it was out): it becomes their booking, not an "offer closed" text.
        own_offer = (slot_live_offers(slot=slot).select_for_update().select_related("patient")
                     .filter(patient_id=entry.patient_id).first())
        if own_offer is not None:
            _resolve(own_offer, Offer.Status.ACCEPTED, "Booked by phone", by=by)
    for offer in slot_live_offers(slot=slot).select_for_update():
        _resolve(offer, Offer.Status.SUPERSEDED, PHONE_FILL_REASON, by=by)
    slot.status = Slot.Status.FILLED
    slot.filled_via = Slot.FilledVia.PHONE
    slot.filled_entry = entry
    slot.closed_at = timezone.now()
    _save(slot, reason or "Filled by phone", by)
    if entry is not None:
        entry.status = WaitlistEntry.Status.BOOKED
        _save(entry, f"Booked by phone into {slot}", by)
        # A live offer of this entry for another slot must not wait out its hold. After
        # commit, in its own transaction: that slot's lock must not be taken under this one.
        transaction.on_commit(partial(entry_offers_end, entry_id=entry.pk,
                                      reason="Patient booked by phone into another slot"),
                              robust=True)
    _tasks().slot_phone_fill_announce.apply_async_on_commit(
        (slot.pk,), countdown=settings.PHONE_FILL_UNDO_SECONDS + 1)
    return slot


def _phone_fill_offers(slot: Slot) -> list[Offer]:
    """The offers this slot's fill by phone ended (its patient's own, accepted; the
    others closed), as opposed to offers that had ended before."""
    offers = (slot.offers.filter(status__in=(Offer.Status.ACCEPTED, Offer.Status.SUPERSEDED))
              .select_related("patient"))
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
    slot = _lock_slot(slot_id)
    if slot is None or slot.status != Slot.Status.FILLED or (
            slot.filled_via != Slot.FilledVia.PHONE) or phone_fill_undo_until(slot):
        return 0
    sent = 0
    for offer in _phone_fill_offers(slot):
        told = offer.messages.filter(direction=Message.Direction.OUT,
                                     created_at__gte=slot.closed_at).exclude(
            kind="offer").exists()
        if told:
            continue
        if offer.status == Offer.Status.ACCEPTED:
            message_send(patient=offer.patient, template="confirmation", offer=offer,
                         context={"first_name": offer.patient.first_name,
                                  "start": slot.start, "provider": slot.provider.name})
        else:
            reached = offer.messages.filter(direction=Message.Direction.OUT, kind="offer").exclude(
                status=Message.Status.SUPPRESSED).exists()
            _tell_offer_ended(offer, slot, template="offer_closed", text_reached=reached)
        sent += 1
    return sent


@transaction.atomic
def slot_phone_fill_undo(*, slot: Slot, by) -> Slot:
    """Staff take back a fill by phone within the undo window: the slot is offered again,
    its patient waits again, and the offers it ended are live again while their holds
    last (nobody was texted about the fill yet). An offer whose patient's reply was
    answered meanwhile stays ended: what they were told stands."""
    slot = _lock_slot(slot.pk)
    if phone_fill_undo_until(slot) is None:
        raise ValidationError("This fill by phone can no longer be undone: the patients "
                              "have been told. Withdraw or record the slot again instead.")
    now = timezone.now()
    for offer in _phone_fill_offers(slot):
        answered = offer.messages.filter(direction=Message.Direction.OUT,
                                         created_at__gte=slot.closed_at).exclude(
            kind="offer").exists()
        if answered or offer.hold_until is None or (
                offer.hold_until > now and Offer.objects.filter(
                    patient_id=offer.patient_id, status__in=Offer.LIVE_STATUSES).exists()):
            # Never texted (its text was withdrawn), already answered, or the patient
            # holds another offer by now (one live offer each): it stays ended.
            continue
        offer.responded_at = None
        status = Offer.Status.SENT if offer.hold_until > now else Offer.Status.EXPIRED
        _resolve(offer, status, "Fill by phone undone", by=by)
    if slot.filled_entry_id:
        entry = WaitlistEntry.objects.select_for_update().get(pk=slot.filled_entry_id)
        entry.status = WaitlistEntry.Status.ACTIVE
        _save(entry, "Fill by phone undone: waiting again", by)
    slot.status = Slot.Status.OFFERING
    slot.filled_via = ""
    slot.filled_entry = None
    slot.closed_at = None
    _save(slot, "Fill by phone undone", by)
    _queue_next_batch(slot)
    return slot


def slots_phone_fill_announce_due() -> int:
    """The sweep's share: announce fills by phone whose window passed (their own task
    may have been lost, or run too early in eager mode). Looks back an hour."""
    since = timezone.now() - dt.timedelta(hours=1, seconds=settings.PHONE_FILL_UNDO_SECONDS)
    due = timezone.now() - dt.timedelta(seconds=settings.PHONE_FILL_UNDO_SECONDS)
    slot_ids = Slot.objects.filter(status=Slot.Status.FILLED, filled_via=Slot.FilledVia.PHONE,
                                   closed_at__gte=since, closed_at__lte=due).values_list(
        "pk", flat=True)
    return sum(slot_phone_fill_announce(slot_id=pk) for pk in list(slot_ids[:1000]))


# --- replies ------------------------------------------------------------------------


def offer_claim(*, patient: Patient) -> ReplyResult:
    """A patient's YES. Takes the slot only if it is still being offered, the offer is
    live, the patient has not opted out, their entry still waits, and the hold has not
    passed by the clock (a sweep may lag). The winner is booked and leaves the waitlist;
    the slot's other live offers are superseded and those patients told."""
    target = patient_offer_to_answer(patient_id=patient.pk)
    if target is None:
        return ReplyResult(Outcome.NOTHING)
    if not target.is_live:
        # A settled offer never becomes live again and this reply changes nothing, so it
        # is answered from what was read, without locks (most late replies).
        return ReplyResult(_yes_cannot_claim(target, target.slot, timezone.now()), target)
    # No savepoint of its own: an error here fails the caller's whole transaction anyway.
    with transaction.atomic(savepoint=False):
        slot = _lock_slot(target.slot_id)
        offer = (Offer.objects.select_for_update().select_related("entry", "patient")
                 .get(pk=target.pk))
        offer.slot = slot  # locked, with its provider, for the confirmation
        # The clock is read after the locks: whoever waited for them sees the present.
        now = timezone.now()
        outcome = _yes_cannot_claim(offer, slot, now)
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
        if offer.hold_until is not None and now >= offer.hold_until:
            _resolve(offer, Offer.Status.EXPIRED, "Hold passed before the YES arrived")
            _queue_next_batch(slot)
            return ReplyResult(Outcome.EXPIRED, offer)

        _resolve(offer, Offer.Status.ACCEPTED, "Patient replied YES", at=now)
        _supersede_live_offers(slot, "Another patient took the slot")
        slot.status = Slot.Status.FILLED
        slot.filled_via = Slot.FilledVia.SMS
        slot.filled_entry = offer.entry
        slot.closed_at = now
        _save(slot, f"Filled by SMS: offer {offer.pk}")
        entry = offer.entry
        entry.status = WaitlistEntry.Status.BOOKED
        _save(entry, f"Booked by SMS into {slot}")
        log.info("slot %s filled by offer %s", slot.pk, offer.pk)
        return ReplyResult(Outcome.BOOKED, offer)


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
    Never None for an offer that is no longer live. Each answer must be true: "someone
    else took it" only when someone did, "you stay on our waitlist" only while the entry
    waits."""
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


def offer_decline(*, patient: Patient) -> ReplyResult:
    """A patient's NO: their live offer is declined (they stay on the waitlist), and the
    next batch goes out at once if this was the last offer out."""
    target = patient_offer_to_answer(patient_id=patient.pk)
    if target is None:
        return ReplyResult(Outcome.NOTHING)
    if not target.is_live:
        outcome = Outcome.OFF_WAITLIST if _off_waitlist(target, target.slot) else Outcome.NOTHING
        return ReplyResult(outcome, target)
    # No savepoint of its own: an error here fails the caller's whole transaction anyway.
    with transaction.atomic(savepoint=False):
        slot = _lock_slot(target.slot_id)
        offer = Offer.objects.select_for_update().select_related("entry").get(pk=target.pk)
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


def entry_offers_end(*, entry_id: int, reason: str = "Patient left the waitlist") -> int:
    """A waitlist entry stopped waiting (staff removed it, or booked it by phone into
    another slot): its live offer (at most one) is superseded, the patient is told it is
    no longer available, and its slot moves on at once instead of stalling until the
    hold ends. Returns how many ended.

    Runs after the change committed (waitlist's entry_removed signal, or
    slot_mark_filled_by_phone), in its own transaction, slot lock first as everywhere."""
    ended = 0
    live = Offer.objects.filter(entry_id=entry_id, status__in=Offer.LIVE_STATUSES)
    for offer_id, slot_id in live.values_list("pk", "slot_id"):
        with transaction.atomic():
            slot = _lock_slot(slot_id)
            offer = (Offer.objects.select_for_update().select_related("entry", "patient")
                     .get(pk=offer_id))
            if not offer.is_live or offer.entry.status == WaitlistEntry.Status.ACTIVE:
                continue
            text_reached = _resolve(offer, Offer.Status.SUPERSEDED, reason)
            _tell_offer_ended(offer, slot, template="offer_closed_off_waitlist",
                              text_reached=text_reached)
            _queue_next_batch(slot)
            ended += 1
    return ended


def offer_fail(*, offer_id: int, reason: str) -> bool:
    """The offer's SMS will never arrive: the offer fails and the slot moves on."""
    with transaction.atomic():
        locked = _lock_offer(offer_id)
        if locked is None:
            return False
        slot, offer = locked
        if not offer.is_live:
            return False
        _resolve(offer, Offer.Status.FAILED, reason)
        _queue_next_batch(slot)
        return True


def patient_offers_release(*, patient_id: int, reason: str) -> int:
    """The patient opted out: their live offer (at most one) ends as declined and its
    slot moves on. Returns how many ended."""
    released = 0
    live = Offer.objects.filter(patient_id=patient_id, status__in=Offer.LIVE_STATUSES)
    for offer_id, slot_id in live.values_list("pk", "slot_id"):
        with transaction.atomic():
            slot = _lock_slot(slot_id)
            offer = Offer.objects.select_for_update().get(pk=offer_id)
            if offer.is_live:
                _resolve(offer, Offer.Status.DECLINED, reason)
                _queue_next_batch(slot)
                released += 1
    return released


# --- holds and expiry ---------------------------------------------------------------

# An offer whose text has not been handed to the SMS provider this long after it was
# made is given up: messaging's retries (30 s doubling to 8 min, 15.5 min in all) are
# over by then, and messaging treats a message untouched for as long as lost
# (messaging.services.LOST_RETRY_AFTER, also 20 minutes).
OFFER_UNSENT_GIVE_UP_AFTER = dt.timedelta(minutes=20)


def offer_start_hold(*, offer_id: int, at: dt.datetime | None = None) -> bool:
    """The offer's text was handed to the SMS provider at `at` (default now): the offer
    is sent, its hold runs OFFER_HOLD_SECONDS from then, and its expiry is scheduled.

    True if this call started the hold. An offer no longer waiting to send (it ended
    meanwhile, or its hold already started) is left as it is: a late or repeated
    hand-over never revives an offer."""
    with transaction.atomic():
        locked = _lock_offer(offer_id)
        if locked is None:
            return False
        _, offer = locked
        if offer.status != Offer.Status.PENDING:
            return False
        at = at or timezone.now()
        offer.status = Offer.Status.SENT
        offer.sent_at = at
        offer.hold_until = at + dt.timedelta(seconds=settings.OFFER_HOLD_SECONDS)
        _save(offer, "Offer text handed to the SMS provider; hold started")
        # The hold's own expiry; the beat sweep catches it if this task is lost.
        countdown = math.ceil(max((offer.hold_until - timezone.now()).total_seconds(), 0))
        _tasks().offer_expire_at_hold_end.apply_async_on_commit((offer.pk,),
                                                                countdown=countdown)
        return True


def offer_give_up_unsent(*, offer_id: int, at: dt.datetime | None = None,
                         skip_locked: bool = False) -> bool:
    """Fail an offer whose text never left (see _offers_unsent_due), so its slot moves on
    to the next batch; True if this call failed it. Checked again under the locks: a
    text handed over meanwhile keeps its offer."""
    at = at or timezone.now()
    with transaction.atomic():
        locked = _lock_offer(offer_id, skip_locked=skip_locked)
        if locked is None:
            return False
        slot, offer = locked
        if offer.status != Offer.Status.PENDING:
            return False
        if not _offers_unsent_due(at).filter(pk=offer_id).exists():
            return False
        if _too_late_to_offer(slot, at):
            reason = "The offer text had not gone out when the slot came too close to start"
        else:
            minutes = int(OFFER_UNSENT_GIVE_UP_AFTER.total_seconds() // 60)
            reason = f"The offer text had not gone out {minutes} minutes after the offer"
        _resolve(offer, Offer.Status.FAILED, reason)
        _queue_next_batch(slot)
        return True


def _offer_texts() -> QuerySet:
    """The offer text(s) of the offer in the outer query."""
    return Message.objects.filter(offer_id=OuterRef("pk"), kind="offer",
                                  direction=Message.Direction.OUT)


def _offers_unsent_due(at: dt.datetime) -> QuerySet:
    """Offers still waiting to send that should be given up at `at`: their slot is too
    close to start to be offered by SMS, or their text has been stuck too long. Not while
    the text is being handed over (it may yet arrive; a worker that died mid-call is
    settled by messaging's messages_reconcile_stuck, which fails the message and so the
    offer), nor once it was (offers_start_missed_holds starts that hold)."""
    lead = dt.timedelta(minutes=settings.OFFER_MIN_LEAD_MINUTES)
    leaving = _offer_texts().filter(Q(status=Message.Status.SENDING) | Q(sent_at__isnull=False))
    return Offer.objects.filter(
        Q(slot__start__lt=at + lead) | Q(created_at__lte=at - OFFER_UNSENT_GIVE_UP_AFTER),
        status=Offer.Status.PENDING,
    ).filter(~Exists(leaving))


def offers_start_missed_holds() -> int:
    """The beat sweep: offers whose text was handed over but still wait to send (the
    hand-over's handler failed, e.g. on a busy database) start their hold from the
    hand-over, so the patient gets exactly the hold the text promised. Returns how many."""
    handed_over_at = _offer_texts().filter(sent_at__isnull=False).order_by("sent_at")
    due = (Offer.objects.filter(status=Offer.Status.PENDING)
           .annotate(handed_over_at=Subquery(handed_over_at.values("sent_at")[:1]))
           .filter(handed_over_at__isnull=False)
           .values_list("pk", "handed_over_at")[:1000])
    return sum(offer_start_hold(offer_id=offer_id, at=at) for offer_id, at in list(due))


def offers_give_up_unsent() -> int:
    """The beat sweep: fail the offers whose text never left (_offers_unsent_due); returns
    how many. Like offers_expire_due, it skips slots another worker is busy with."""
    now = timezone.now()
    due = _offers_unsent_due(now).order_by("created_at").values_list("pk", flat=True)[:1000]
    return sum(offer_give_up_unsent(offer_id=offer_id, at=now, skip_locked=True)
               for offer_id in list(due))


def offer_expire(*, offer_id: int, skip_locked: bool = False) -> bool:
    """Expire one offer if its hold has passed; True if this call expired it.

    Safe to run any number of times, early (an eager or early countdown task finds the
    hold still running and does nothing), or alongside a claim (it waits for, or with
    `skip_locked` leaves, a slot another transaction holds)."""
    with transaction.atomic():
        locked = _lock_offer(offer_id, skip_locked=skip_locked)
        if locked is None:
            return False
        slot, offer = locked
        if not offer.is_live or offer.hold_until is None or offer.hold_until > timezone.now():
            return False
        _resolve(offer, Offer.Status.EXPIRED, "Hold passed without a reply")
        _queue_next_batch(slot)
        return True


def offers_expire_due() -> int:
    """The beat sweep: expire every offer whose hold has passed; returns how many.

    Slots another worker is busy with are skipped (`skip_locked` on PostgreSQL), so
    parallel sweeps never wait on each other; the next sweep picks up what was left."""
    due = (Offer.objects.filter(status__in=Offer.LIVE_STATUSES, hold_until__lte=timezone.now())
           .order_by("hold_until").values_list("pk", flat=True)[:1000])
    return sum(offer_expire(offer_id=offer_id, skip_locked=True) for offer_id in list(due))


def slots_resume() -> int:
    """The beat sweep's second half: slots still offering with no offer out (paused by
    SMS hours, or whose next batch was lost) get their next batch. Returns how many
    batches went out."""
    sent = 0
    for slot_id in list(slots_waiting_for_a_batch().values_list("pk", flat=True)[:1000]):
        sent += bool(slot_offer_next_batch(slot_id=slot_id))
    return sent
