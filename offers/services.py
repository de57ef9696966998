"""The offer engine's writes. Views, webhooks (through offers/replies.py), admin actions,
the FHIR API and tasks all call these functions.

Every function that changes a slot locks the slot row first (`select_for_update`, that
row only), then its offers, then their messages: one lock order everywhere, so claims,
declines, expiries and staff actions on one slot happen one after another and never
deadlock each other, while another slot of the same provider goes on at the same time.
Celery work is queued only after commit.

The day, not the slot, is the unit (docs/how-offers-work.md): a slot whose patients who fit all
hold other offers waits (Slot.waiting_for) instead of closing, and whenever an offer ends
anywhere, the waiting slots its patient may concern are looked at, soonest first, right
after commit. A slot is unfilled only when nobody who fits is left at all.
"""

import datetime as dt
import enum
import logging
import math
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from clinic.models import AppointmentType, Location, Patient, Provider
from messaging.models import Message
from messaging.services import message_send, messages_withdraw_unsent
from offers import approval, rules
from offers.models import Offer, OfferRule, Slot
from offers.policy import policy_for
from offers.selectors import (
    patient_offer_to_answer,
    patients_booked_overlapping,
    slot_busy_fitting_entries,
    slot_candidates,
    slot_fitting_entries,
    slot_live_offers,
    slots_to_look_at_for,
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
    # Clinic rules' approval mode (offers/approval.py):
    AWAITING_APPROVAL = "awaiting_approval"  # this YES reserved the slot; staff decide
    NEXT_IN_LINE = "next_in_line"  # another patient's booking awaits approval


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
    # Only the slot's row (`of=("self",)`): the provider comes along for the texts, but a
    # plain FOR UPDATE would lock its row too, and then every reply, expiry and staff
    # action on any of that provider's slots would queue behind this one, and the
    # sweep's skip_locked would skip all of them (bench/README.md, "Eight slots").
    return (
        Slot.objects.select_for_update(skip_locked=skip_locked, of=("self",))
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


def sms_hours_open(at: dt.datetime | None = None, *, slot: Slot | None = None) -> bool:
    """Whether offers may be texted at `at` (SMS_SEND_HOURS, clinic local time). For a
    slot: its clinic rule's texting hours, in its location's time zone (offers/rules.py)."""
    if slot is not None:
        return rules.texting_hours_open(slot=slot, at=at or timezone.now())
    start, end = settings.SMS_SEND_HOURS
    local = timezone.localtime(at or timezone.now()).time()
    return start <= local and (end is None or local < end)


def batch_size_for(*, slot: Slot, at: dt.datetime) -> int:
    """How many offers the next batch of `slot` sends at `at`: the slot's offer policy
    decides (offers/policy.py; by default OFFER_BATCH_SIZE, grown when fewer than
    OFFER_TARGET_BATCHES holds fit before the lead time, never more than
    OFFER_MAX_BATCH_SIZE)."""
    return policy_for(slot=slot, at=at).batch_size_for(slot=slot, at=at)


def hold_seconds_for(*, slot: Slot, at: dt.datetime) -> int:
    """How long an offer of `slot` whose hold starts at `at` is held: the slot's offer
    policy decides (by default OFFER_HOLD_SECONDS)."""
    return policy_for(slot=slot, at=at).hold_seconds_for(slot=slot, at=at)


def too_late_to_offer(*, start: dt.datetime, at: dt.datetime | None = None) -> bool:
    """A slot starting this soon is not offered by text (OFFER_MIN_LEAD_MINUTES): nobody
    could get there in time. The cancellation form warns before recording one."""
    return start - (at or timezone.now()) < dt.timedelta(
        minutes=settings.OFFER_MIN_LEAD_MINUTES)


def _too_late_to_offer(slot: Slot, at: dt.datetime) -> bool:
    # The slot's clinic rule may ask for more (or less) lead time than the default.
    return rules.rule_for(slot=slot).too_late(slot=slot, at=at)


def _close(slot: Slot, status: str, reason: str, *, by=None,
           unfilled_reason: str = Slot.UnfilledReason.NONE) -> None:
    """The slot stops offering (filled, unfilled or withdrawn). The caller has ended or
    accepted its live offers."""
    slot.status = status
    slot.closed_at = timezone.now()
    slot.waiting_for = Slot.WaitingFor.NOTHING
    slot.unfilled_reason = unfilled_reason
    _save(slot, reason, by)
    log.info("slot %s %s: %s", slot.pk, status, reason)


def _set_waiting(slot: Slot, waiting_for: str, reason: str) -> None:
    """The slot keeps offering, with no offer out, and says why."""
    if slot.waiting_for == waiting_for:
        return
    slot.waiting_for = waiting_for
    _save(slot, reason)
    if waiting_for == Slot.WaitingFor.BUSY_PATIENTS:
        # Looked at once more right after commit. An offer that ends in another
        # transaction while this one decided to wait looks for waiting slots after its
        # own commit and may not see this one yet; this second look, after ours, sees
        # that patient free. Between the two, no wake-up is lost. (robust: the sweep
        # looks at waiting slots too, should the broker be down.)
        transaction.on_commit(partial(_tasks().offer_next_batch.delay, slot.pk), robust=True)


def _queue_next_batch(slot: Slot) -> None:
    """Called under the slot's lock after an offer was resolved: once none is live, the
    next batch goes out right after commit. Two resolutions at once both queue it; the
    task is idempotent, so exactly one batch follows."""
    if slot.status == Slot.Status.OFFERING and not slot_live_offers(slot=slot).exists():
        _tasks().offer_next_batch.delay_on_commit(slot.pk)


def _patients_freed(patient_ids, *, everyone: bool = False) -> None:
    """These patients' offers ended (or their entries changed): right after commit, the
    slots waiting for busy patients that they may concern are looked at, soonest first
    (slots_offer_for_patients). One task for all the patients of one transaction."""
    ids = sorted(set(patient_ids))
    if ids:
        # robust: with the broker down the reply or expiry that freed them still stands
        # (and is answered); the sweep looks at every waiting slot anyway.
        transaction.on_commit(partial(_tasks().offers_for_freed_patients.delay, ids,
                                      everyone=everyone), robust=True)


def _resolve(offer: Offer, status: str, reason: str, *, at: dt.datetime | None = None,
             by=None, announce: bool = True) -> bool:
    """End (or accept) an offer. Returns whether the patient may have its text: False
    when the offer text was still waiting to leave and was withdrawn.

    `announce`: tell the waiting slots that this patient is free (the caller does it for
    several patients at once otherwise)."""
    offer.status = status
    if status in (Offer.Status.ACCEPTED, Offer.Status.DECLINED):
        offer.responded_at = at or timezone.now()
    _save(offer, reason, by)
    if status not in Offer.LIVE_STATUSES:
        if announce:
            _patients_freed([offer.patient_id])
        # An offer text still waiting for Twilio (an outage) must not arrive after the
        # offer ended.
        return not messages_withdraw_unsent(offer_id=offer.pk, kind="offer")
    return True


def _offer_text_in_flight(offer: Offer) -> bool:
    """The offer's text is being handed to the SMS provider this moment: too late to
    withdraw, not yet out."""
    return Message.objects.filter(offer_id=offer.pk, kind="offer",
                                  direction=Message.Direction.OUT,
                                  status=Message.Status.SENDING).exists()


def _ended_template(offer: Offer, slot: Slot) -> str:
    return ("offer_closed" if offer.entry.status == WaitlistEntry.Status.ACTIVE
            else "offer_closed_off_waitlist")


def _tell_offer_ended(offer: Offer, slot: Slot, *, template: str, text_reached: bool) -> None:
    """Tell the patient their offer is no longer available, unless they never got it (its
    text was withdrawn before it left): a notice about an offer never received would
    only confuse. A text in flight right now is told about once it has left
    (offer_text_left_after_end), so the notice never arrives before the offer."""
    if text_reached and not _offer_text_in_flight(offer):
        message_send(patient=offer.patient, template=template,
                     context={"start": rules.local_start(slot)}, offer=offer)


def _supersede_live_offers(slot: Slot, reason: str, *, by=None) -> list[Offer]:
    """End every live offer of a slot that just closed, and tell those patients."""
    ended = []
    live = (slot_live_offers(slot=slot).select_for_update(of=("self",))
            .select_related("patient"))
    for offer in live:
        text_reached = _resolve(offer, Offer.Status.SUPERSEDED, reason, by=by, announce=False)
        _tell_offer_ended(offer, slot, template="offer_closed", text_reached=text_reached)
        ended.append(offer)
    _patients_freed([offer.patient_id for offer in ended])
    return ended


def offer_text_context(*, entry: WaitlistEntry, slot: Slot) -> dict:
    """What an offer or confirmation text says: the first name of whoever the visit is
    for (a family member sharing the phone, else the patient; a first name only), the
    day and time, the provider."""
    return {"first_name": entry.first_name, "start": rules.local_start(slot),
            "provider": slot.provider.name}


def _offer_to(slot: Slot, entry: WaitlistEntry, *, batch: int, at: dt.datetime) -> Offer | None:
    """Make one offer, waiting to send, and text it (the SMS leaves after commit).

    Its hold starts only when the text is handed to the SMS provider (offer_start_hold):
    a text held up by a Twilio outage still gives the patient the whole hold it promises.
    """
    hold = hold_seconds_for(slot=slot, at=at)
    offer = Offer(
        slot=slot, entry=entry, patient_id=entry.patient_id, batch=batch, score=entry.score,
        status=Offer.Status.PENDING, created_at=at,
    )
    try:
        # A savepoint: another slot's batch may have given this patient a live offer a
        # moment ago; the database refuses the second one and we move to the next person.
        # (Two batches each waiting for the other's new offer is a deadlock PostgreSQL
        # breaks by failing one statement: that patient is skipped the same way.)
        with transaction.atomic():
            _save(offer, f"Offered in batch {batch}")
    except (IntegrityError, OperationalError):
        return None
    message = message_send(
        patient=entry.patient,
        template="offer",
        # Rounded down: the text must never promise more time than the hold gives.
        context={**offer_text_context(entry=entry, slot=slot),
                 "hold_minutes": max(1, hold // 60)},
        offer=offer,
    )
    if message is None:
        _resolve(offer, Offer.Status.FAILED, "The patient cannot receive SMS")
        return None
    return offer


def _send_batch(slot: Slot, *, at: dt.datetime, by=None, reason: str = "") -> list[Offer]:
    """Send one batch to the best candidates who are free. The caller holds the slot's
    lock. Returns the offers made (none: nobody free fits)."""
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
        slot.waiting_for = Slot.WaitingFor.NOTHING
        _save(slot, reason or f"Batch {batch} sent to {len(offers)} patients", by)
    return offers


def _offer_or_wait(slot: Slot, *, at: dt.datetime) -> list[Offer]:
    """The slot is offering and has no offer out (the caller holds its lock): send the
    next batch; or wait, saying why (texting hours; everyone who fits holds another
    offer); or, when nobody who fits is left at all, or it starts too soon, close it
    unfilled, saying why. The slot's clinic rule (offers/rules.py) may say not to offer
    it at all, to wait until it is within its lead time, or that staff pick who is
    texted."""
    rule = rules.rule_for(slot=slot)
    if not rule.offer_by_text:
        _close(slot, Slot.Status.UNFILLED, f"Not offered by rule: {rule.label}"[:90],
               unfilled_reason=Slot.UnfilledReason.NOT_OFFERED)
        return []
    if _too_late_to_offer(slot, at):
        _close(slot, Slot.Status.UNFILLED, "Too close to the start to offer by SMS",
               unfilled_reason=Slot.UnfilledReason.TOO_SOON)
        return []
    if rule.too_far_ahead(slot=slot, at=at):
        _set_waiting(slot, Slot.WaitingFor.LEAD_TIME,
                     "Waiting until the slot is within its rule's lead time")
        return []
    if not sms_hours_open(at, slot=slot):
        _set_waiting(slot, Slot.WaitingFor.TEXTING_HOURS,
                     "Waiting for texting hours to send the next batch")
        return []
    if (rule.booking_mode == OfferRule.BookingMode.STAFF_PICKS
            and slot_candidates(slot=slot, at=at).exists()):
        # offers/staff_picks.py: Today shows the ranked list; staff tick who is texted.
        _set_waiting(slot, Slot.WaitingFor.STAFF_PICKS,
                     "Waiting for staff to choose who is texted")
        return []
    offers = _send_batch(slot, at=at)
    if offers:
        return offers
    if slot_busy_fitting_entries(slot=slot).exists():
        _set_waiting(slot, Slot.WaitingFor.BUSY_PATIENTS,
                     "Everyone who fits holds another offer: waiting for one to be free")
        return []
    reason = (Slot.UnfilledReason.NOBODY_TOOK_IT if slot.current_batch
              else Slot.UnfilledReason.NOBODY_FITS)
    _close(slot, Slot.Status.UNFILLED, "No one left on the waitlist who fits",
           unfilled_reason=reason)
    return []


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
    """Record a freed slot; the first batch of offers goes out after commit (a slot
    starting within OFFER_MIN_LEAD_MINUTES is recorded and closes unfilled at once, with
    that reason, for staff to call patients).

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


def _reopen_if_someone_fits(slot: Slot, patient_ids: list[int], at: dt.datetime) -> bool:
    """An unfilled slot (nobody fitted) reopens when one of these patients now fits it:
    they joined the waitlist, changed their wishes, or can be texted again."""
    if (slot.unfilled_reason in (Slot.UnfilledReason.TOO_SOON, Slot.UnfilledReason.NOT_OFFERED)
            or _too_late_to_offer(slot, at)
            or not slot_fitting_entries(slot=slot).filter(patient_id__in=patient_ids).exists()):
        return False
    slot.status = Slot.Status.OFFERING
    slot.unfilled_reason = Slot.UnfilledReason.NONE
    slot.closed_at = None
    _save(slot, "Offering again: a patient who fits joined the waitlist or can be texted again")
    return True


def slot_offer_next_batch(*, slot_id: int, reopen_for: list[int] | None = None) -> list[Offer]:
    """Send the next batch if the current one is resolved (idempotent, race-safe).

    Does nothing for a closed slot or while an offer is still out; otherwise offers,
    waits (texting hours, busy patients) or closes unfilled (_offer_or_wait).
    `reopen_for`: patients who may now fit an unfilled slot (it offers again if so).
    """
    with transaction.atomic():
        slot = _lock_slot(slot_id)
        if slot is None:
            return []
        now = timezone.now()
        if slot.status == Slot.Status.UNFILLED and reopen_for:
            if not _reopen_if_someone_fits(slot, reopen_for, now):
                return []
        if slot.status != Slot.Status.OFFERING:
            return []
        if slot_live_offers(slot=slot).exists():
            return []
        if approval.slot_booking_pending(slot=slot):  # staff decide first
            return []
        return _offer_or_wait(slot, at=now)


def slots_offer_for_patients(*, patient_ids: list[int], reopen: bool = False,
                             everyone: bool = False) -> int:
    """Patients became free (an offer of theirs ended), or joined, or changed: look at
    the slots waiting for busy patients that they may concern (and, with `reopen`, the
    unfilled ones they may now fit), soonest first, each in its own transaction under
    its own lock. Soonest first because sooner slots are the most perishable: a free
    patient who fits several waiting slots is offered the soonest one that chooses them.
    Returns how many offers went out. Bounded: see slots_to_look_at_for."""
    sent = 0
    for slot_id in slots_to_look_at_for(patient_ids=patient_ids, reopen=reopen,
                                        everyone=everyone):
        sent += len(slot_offer_next_batch(slot_id=slot_id,
                                          reopen_for=patient_ids if reopen else None))
    return sent


def _nobody_free_error(slot: Slot) -> ValidationError:
    if slot_busy_fitting_entries(slot=slot).exists():
        return ValidationError(
            "Everyone on the waitlist who fits this slot holds another offer right now; "
            "it goes to them as soon as one is free.")
    return ValidationError("No one else on the waitlist fits this slot.")


@transaction.atomic
def slot_offer_more(*, slot: Slot, by) -> list[Offer]:
    """Staff: send another batch now, without waiting for the current holds. Also reopens
    an unfilled slot (new people may have joined the waitlist)."""
    slot = _lock_slot(slot.pk)
    if slot.status not in (Slot.Status.OFFERING, Slot.Status.UNFILLED):
        raise ValidationError(f"This slot is {slot.get_status_display().lower()}.")
    approval.refuse_while_pending(slot=slot)
    if not rules.rule_for(slot=slot).offer_by_text:
        raise ValidationError("The clinic's rule for this slot says not to offer it by text; "
                              "call patients instead.")
    now = timezone.now()
    if _too_late_to_offer(slot, now):
        raise ValidationError("The slot starts too soon to offer it by SMS; call instead.")
    if not sms_hours_open(now, slot=slot):
        raise ValidationError("Offers are only texted during SMS hours.")
    if not slot_candidates(slot=slot, at=now).exists():
        raise _nobody_free_error(slot)
    if slot.status == Slot.Status.UNFILLED:
        slot.status = Slot.Status.OFFERING
        slot.closed_at = None
        slot.unfilled_reason = Slot.UnfilledReason.NONE
    offers = _send_batch(slot, at=now, by=by,
                         reason=f"Staff sent batch {slot.current_batch + 1} early")
    if not offers:
        # Every candidate was taken by another slot's batch this instant.
        raise _nobody_free_error(slot)
    return offers


@transaction.atomic
def slot_withdraw(*, slot: Slot, by, reason: str = "") -> Slot:
    """Staff: the slot is no longer available; live offers are superseded."""
    slot = _lock_slot(slot.pk)
    if slot.status == Slot.Status.WITHDRAWN:
        return slot
    if slot.status == Slot.Status.FILLED:
        raise ValidationError("This slot is already filled; cancel that appointment instead.")
    approval.refuse_while_pending(slot=slot)
    _supersede_live_offers(slot, "Slot withdrawn", by=by)
    _close(slot, Slot.Status.WITHDRAWN, reason or "Withdrawn by staff", by=by)
    return slot


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
    slot = _lock_slot(slot.pk)
    if slot.status == Slot.Status.FILLED:
        raise ValidationError("This slot is already filled.")
    if slot.status == Slot.Status.WITHDRAWN:
        raise ValidationError("This slot was withdrawn.")
    approval.refuse_while_pending(slot=slot)
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
        _save(entry, f"Booked by phone into {slot}", by)
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
            # Named for whoever the booked entry is for (the offer may have come through
            # another entry of the same patient).
            message_send(patient=offer.patient, template="confirmation", offer=offer,
                         context=offer_text_context(entry=slot.filled_entry or offer.entry,
                                                    slot=slot))
        else:
            reached = offer.messages.filter(direction=Message.Direction.OUT, kind="offer").exclude(
                status=Message.Status.SUPPRESSED).exists()
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
    slot = _lock_slot(slot.pk)
    if phone_fill_undo_until(slot) is None:
        raise ValidationError("This fill by phone can no longer be undone: the patients "
                              "have been told. Withdraw or record the slot again instead.")
    now = timezone.now()
    for offer in _phone_fill_offers(slot):
        answered = offer.messages.filter(direction=Message.Direction.OUT,
                                         created_at__gte=slot.closed_at).exclude(
            kind="offer").exists()
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
        _save(entry, "Fill by phone undone: waiting again", by)
        transaction.on_commit(partial(_tasks().offers_for_freed_patients.delay,
                                      [entry.patient_id], reopen=True), robust=True)
    slot.status = Slot.Status.OFFERING
    slot.filled_via = ""
    slot.filled_entry = None
    slot.closed_at = None
    _save(slot, "Fill by phone undone", by)
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


# --- replies ------------------------------------------------------------------------


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
        slot = _lock_slot(target.slot_id)
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
        if approval.slot_booking_pending(slot=slot):
            # Another patient's YES awaits staff approval: this one is next in line (its
            # hold is paused until the decision, offers/approval.py).
            return approval.offer_next_in_line(offer=offer, slot=slot, now=now)
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
    pending = approval.offer_reserve_if_required(offer=offer, slot=slot, now=now,
                                                 reason=reason)
    if pending is not None:
        return pending
    _resolve(offer, Offer.Status.ACCEPTED, reason, at=now)
    _supersede_live_offers(slot, "Another patient took the slot")
    slot.filled_via = Slot.FilledVia.SMS
    slot.filled_entry = offer.entry
    _close(slot, Slot.Status.FILLED, f"Filled by SMS: offer {offer.pk}")
    entry = offer.entry
    entry.status = WaitlistEntry.Status.BOOKED
    _save(entry, f"Booked by SMS into {slot}")
    log.info("slot %s filled by offer %s", slot.pk, offer.pk)
    return ReplyResult(Outcome.BOOKED, offer)


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


def _booked_overlapping(offer: Offer, slot: Slot) -> bool:
    return patients_booked_overlapping(slot=slot).filter(
        filled_entry__patient_id=offer.patient_id).exists()


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
        slot = _lock_slot(target.slot_id)
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


def _offers_end(live: QuerySet, *, reason: str, ends) -> int:
    """End each of these live offers for which `ends(offer)` still holds under the locks,
    each in its own transaction, slot lock first; tell the patient; move the slot on."""
    ended = 0
    for offer_id, slot_id in list(live.values_list("pk", "slot_id")):
        with transaction.atomic():
            slot = _lock_slot(slot_id)
            offer = (Offer.objects.select_for_update(of=("self", "entry"))
                     .select_related("entry", "patient").get(pk=offer_id))
            if not offer.is_live or not ends(offer):
                continue
            text_reached = _resolve(offer, Offer.Status.SUPERSEDED, reason)
            _tell_offer_ended(offer, slot, template=_ended_template(offer, slot),
                              text_reached=text_reached)
            _queue_next_batch(slot)
            ended += 1
    return ended


def entry_offers_end(*, entry_id: int, reason: str = "Patient left the waitlist") -> int:
    """A waitlist entry stopped waiting (staff removed it, or booked it by phone into
    another slot): its live offer (at most one) is superseded, the patient is told it is
    no longer available, and its slot moves on at once instead of stalling until the
    hold ends. Returns how many ended.

    Runs after the change committed (waitlist's entry_removed signal, or
    slot_mark_filled_by_phone), in its own transaction, slot lock first as everywhere."""
    live = Offer.objects.filter(entry_id=entry_id, status__in=Offer.LIVE_STATUSES)
    return _offers_end(live, reason=reason,
                       ends=lambda offer: offer.entry.status != WaitlistEntry.Status.ACTIVE)


def patient_overlapping_offers_end(*, patient_id: int, slot_id: int) -> int:
    """The patient was booked by phone into slot `slot_id`: a live offer of theirs for a
    slot at an overlapping time (through another of their entries) ends, since one
    person cannot be in two places. Runs after commit. Returns how many ended."""
    booked = Slot.objects.get(pk=slot_id)
    live = Offer.objects.filter(patient_id=patient_id, status__in=Offer.LIVE_STATUSES,
                                slot__start__lt=booked.end,
                                slot__end__gt=booked.start).exclude(slot_id=slot_id)
    return _offers_end(live, reason="Patient booked by phone at an overlapping time",
                       ends=lambda offer: True)


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
    for offer_id, slot_id in list(live.values_list("pk", "slot_id")):
        with transaction.atomic():
            slot = _lock_slot(slot_id)
            offer = Offer.objects.select_for_update().get(pk=offer_id)
            if offer.is_live:
                _resolve(offer, Offer.Status.DECLINED, reason)
                _queue_next_batch(slot)
                released += 1
    return released


def offer_text_may_leave(*, offer_id: int) -> bool:
    """messaging asks this (a registered send check) in the transaction that claims an
    offer's text for sending, first attempt or retry: only while the offer is live,
    within texting hours, and the slot far enough ahead. The offer's row lock makes an
    offer ending at this moment wait for the claim, or the claim for the ending: a text
    never starts out after its offer ended."""
    offer = (Offer.objects.select_for_update(of=("self",)).select_related("slot")
             .filter(pk=offer_id).first())
    now = timezone.now()
    return (offer is not None and offer.is_live and sms_hours_open(now, slot=offer.slot)
            and not _too_late_to_offer(offer.slot, now))


def offer_text_left_after_end(*, offer_id: int) -> bool:
    """The offer's text was handed over after the offer ended (it was in flight, past
    withdrawing, when the slot closed): the patient now has an offer that is gone, so
    they are told, after it, that it is no longer available. True if told."""
    with transaction.atomic():
        locked = _lock_offer(offer_id)
        if locked is None:
            return False
        slot, offer = locked
        if offer.status != Offer.Status.SUPERSEDED:
            return False
        told = Message.objects.filter(
            offer_id=offer.pk, direction=Message.Direction.OUT,
            kind__in=["offer_closed", "offer_closed_off_waitlist"]).exists()
        if told:
            return False
        offer = Offer.objects.select_related("entry", "patient").get(pk=offer.pk)
        message_send(patient=offer.patient, template=_ended_template(offer, slot),
                     context={"start": slot.start}, offer=offer)
        return True


# --- holds and expiry ---------------------------------------------------------------

# An offer whose text has not been handed to the SMS provider this long after it was
# made is given up: messaging's retries (30 s doubling to 8 min, 15.5 min in all) are
# over by then, and messaging treats a message untouched for as long as lost
# (messaging.services.LOST_RETRY_AFTER, also 20 minutes).
OFFER_UNSENT_GIVE_UP_AFTER = dt.timedelta(minutes=20)


def offer_start_hold(*, offer_id: int, at: dt.datetime | None = None) -> bool:
    """The offer's text was handed to the SMS provider at `at` (default now): the offer
    is sent, its hold runs from then (hold_seconds_for), and its expiry is scheduled.

    True if this call started the hold. An offer no longer waiting to send (it ended
    meanwhile, or its hold already started) is left as it is: a late or repeated
    hand-over never revives an offer."""
    with transaction.atomic():
        locked = _lock_offer(offer_id)
        if locked is None:
            return False
        slot, offer = locked
        if offer.status != Offer.Status.PENDING:
            return False
        at = at or timezone.now()
        offer.status = Offer.Status.SENT
        offer.sent_at = at
        offer.hold_until = at + dt.timedelta(seconds=hold_seconds_for(slot=slot, at=at))
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
        if approval.slot_booking_pending(slot=slot):
            # Held, not expired, until staff decide on the booking (offers/approval.py).
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
    """The beat sweep's second half: slots still offering with no offer out (waiting for
    texting hours or busy patients, or whose next batch was lost) are looked at again:
    a batch, still waiting, or unfilled (too close now, or nobody left who fits). A
    safety net: offers that end look at the waiting slots at once. Returns how many
    batches went out."""
    sent = 0
    for slot_id in list(slots_waiting_for_a_batch().values_list("pk", flat=True)[:1000]):
        sent += bool(slot_offer_next_batch(slot_id=slot_id))
    return sent
