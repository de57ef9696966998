"""The offer engine: a freed slot, its batches of offers, and the waiting and waking of
the slots of one day. Views, webhooks (through offers/replies.py), admin actions, the
FHIR API and tasks call these functions; replies are in offers/claims.py, holds and
their expiry in offers/holds.py, fills by phone in offers/phone_fill.py
(offers/services.py gathers them all under one name).

Every function that changes a slot locks the slot row first (offers/locks.py), then its
offers, then their messages. Celery work is queued only after commit.

The day, not the slot, is the unit (docs/how-offers-work.md): a slot whose patients who
fit all hold other offers waits (Slot.waiting_for) instead of closing, and whenever an
offer ends anywhere, the waiting slots its patient may concern are looked at, soonest
first, right after commit. A slot is unfilled only when nobody who fits is left at all.
"""

import datetime as dt
import logging
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from clinic.audit import save_with_reason
from clinic.models import AppointmentType, Location, Patient, Provider
from messaging.models import Message
from messaging.selectors import messages_in_flight
from messaging.services import message_send, messages_withdraw_unsent
from offers import locks, rules, signals
from offers.messages import OFFER_KIND, offer_texts
from offers.models import Offer, OfferRule, Slot
from offers.policy import policy_for
from offers.selectors import (
    patients_booked_overlapping,
    slot_booking_pending,
    slot_busy_fitting_entries,
    slot_candidates,
    slot_fitting_entries,
    slot_live_offers,
    slots_to_look_at_for,
    slots_waiting_for_a_batch,
    sms_hours_open,
)
from waitlist.models import WaitlistEntry

log = logging.getLogger(__name__)


def _tasks():
    # offers.tasks imports this module; importing it lazily avoids the cycle.
    from offers import tasks

    return tasks


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


def refuse_while_pending(*, slot: Slot) -> None:
    """Staff may not change a slot whose booking awaits their approval (offers/approval.py)
    until they approve or decline it."""
    if slot_booking_pending(slot=slot):
        raise ValidationError("A booking of this slot is awaiting approval: approve or "
                              "decline it first (at the top of Today).")


def _close(slot: Slot, status: str, reason: str, *, by=None,
           unfilled_reason: str = Slot.UnfilledReason.NONE) -> None:
    """The slot stops offering (filled, unfilled or withdrawn). The caller has ended or
    accepted its live offers."""
    slot.status = status
    slot.closed_at = timezone.now()
    slot.waiting_for = Slot.WaitingFor.NOTHING
    slot.unfilled_reason = unfilled_reason
    save_with_reason(slot, reason, by)
    log.info("slot %s %s: %s", slot.pk, status, reason)


def _announce_booked(slot: Slot) -> None:
    """A YES booked the slot: after commit, the apps above hear it (offers/signals.py).
    robust: the booking stands whatever a listener does."""
    transaction.on_commit(partial(signals.slot_booked.send, sender=Slot, slot_id=slot.pk,
                                  entry_id=slot.filled_entry_id), robust=True)


def _set_waiting(slot: Slot, waiting_for: str, reason: str) -> None:
    """The slot keeps offering, with no offer out, and says why."""
    if slot.waiting_for == waiting_for:
        return
    slot.waiting_for = waiting_for
    save_with_reason(slot, reason)
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
    save_with_reason(offer, reason, by)
    if status not in Offer.LIVE_STATUSES:
        if announce:
            _patients_freed([offer.patient_id])
        # An offer text still waiting for Twilio (an outage) must not arrive after the
        # offer ended.
        return not messages_withdraw_unsent(subject=offer, kind=OFFER_KIND,
                                            reason="Offer ended before it could be sent.")
    return True


def _offer_text_in_flight(offer: Offer) -> bool:
    """The offer's text is being handed to the SMS provider this moment: too late to
    withdraw, not yet out."""
    return messages_in_flight(offer_texts(offer.pk)).exists()


def _ended_template(offer: Offer, slot: Slot) -> str:
    return ("offer_closed" if offer.entry.status == WaitlistEntry.Status.ACTIVE
            else "offer_closed_off_waitlist")


def _tell_offer_ended(offer: Offer, slot: Slot, *, template: str, text_reached: bool) -> None:
    """Tell the patient their offer is no longer available, unless they never got it (its
    text was withdrawn before it left): a notice about an offer never received would
    only confuse. A text in flight right now is told about once it has left
    (offer_text_left_after_end), so the notice never arrives before the offer."""
    if offer.patient.offer_channel == Patient.OfferChannel.VOICE:
        return  # offered by call: the call says the truth if they press 1 (offers/voice.py)
    if text_reached and not _offer_text_in_flight(offer):
        message_send(patient=offer.patient, template=template,
                     context={"start": rules.local_start(slot)}, subject=offer)


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
            # The fatigue caps, rechecked under the patient's lock: another slot's batch
            # may have texted them since the candidates were chosen.
            if (policy_for(slot=slot, at=at).fatigue_caps
                    and not locks.lock_patient_within_caps(entry.patient_id, at=at)):
                return None
            save_with_reason(offer, f"Offered in batch {batch}")
    except (IntegrityError, OperationalError):
        return None
    by_call = entry.patient.offer_channel == Patient.OfferChannel.VOICE
    message = message_send(
        patient=entry.patient,
        template=OFFER_KIND,
        # Rounded down: the text must never promise more time than the hold gives.
        context={**offer_text_context(entry=entry, slot=slot),
                 "hold_minutes": max(1, hold // 60)},
        subject=offer,
        # A patient offered by call (offers/voice.py): the offer is spoken, and its hold
        # starts when the call is answered.
        channel=Message.Channel.VOICE if by_call else Message.Channel.SMS,
    )
    if message is None:
        _resolve(offer, Offer.Status.FAILED, "The patient cannot be called" if by_call
                 else "The patient cannot receive SMS")
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
        save_with_reason(slot, reason or f"Batch {batch} sent to {len(offers)} patients", by)
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
    if slot_busy_fitting_entries(slot=slot, at=at).exists():
        _set_waiting(slot, Slot.WaitingFor.BUSY_PATIENTS,
                     "Everyone who fits holds another offer or was just texted one: "
                     "waiting for one to be free")
        return []
    reason = (Slot.UnfilledReason.NOBODY_TOOK_IT if slot.current_batch
              else Slot.UnfilledReason.NOBODY_FITS)
    _close(slot, Slot.Status.UNFILLED, "No one left on the waitlist who fits",
           unfilled_reason=reason)
    return []


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
    chained_from: Slot | None = None,
) -> Slot:
    """Record a freed slot; the first batch of offers goes out after commit (a slot
    starting within OFFER_MIN_LEAD_MINUTES is recorded and closes unfilled at once, with
    that reason, for staff to call patients).

    The same EHR identifier posted twice returns the slot recorded the first time.
    `chained_from`: the booked slot whose patient held this appointment (a chain fill).
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
        chained_from=chained_from,
    )
    save_with_reason(slot, f"Freed by the booking of slot {chained_from.pk} (chain fill)"
                     if chained_from is not None else "Cancellation recorded", recorded_by)
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
    save_with_reason(slot, "Offering again: a patient who fits joined the waitlist or can be texted again")
    return True


def slot_offer_next_batch(*, slot_id: int, reopen_for: list[int] | None = None) -> list[Offer]:
    """Send the next batch if the current one is resolved (idempotent, race-safe).

    Does nothing for a closed slot or while an offer is still out; otherwise offers,
    waits (texting hours, busy patients) or closes unfilled (_offer_or_wait).
    `reopen_for`: patients who may now fit an unfilled slot (it offers again if so).
    """
    with transaction.atomic():
        slot = locks.lock_slot(slot_id)
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
        if slot_booking_pending(slot=slot):  # staff decide first (offers/approval.py)
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
    slot = locks.lock_slot(slot.pk)
    if slot.status not in (Slot.Status.OFFERING, Slot.Status.UNFILLED):
        raise ValidationError(f"This slot is {slot.get_status_display().lower()}.")
    refuse_while_pending(slot=slot)
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
    slot = locks.lock_slot(slot.pk)
    if slot.status == Slot.Status.WITHDRAWN:
        return slot
    if slot.status == Slot.Status.FILLED:
        raise ValidationError("This slot is already filled; cancel that appointment instead.")
    refuse_while_pending(slot=slot)
    _supersede_live_offers(slot, "Slot withdrawn", by=by)
    _close(slot, Slot.Status.WITHDRAWN, reason or "Withdrawn by staff", by=by)
    return slot


def _offers_end(live: QuerySet, *, reason: str, ends) -> int:
    """End each of these live offers for which `ends(offer)` still holds under the locks,
    each in its own transaction, slot lock first; tell the patient; move the slot on."""
    ended = 0
    for offer_id, slot_id in list(live.values_list("pk", "slot_id")):
        with transaction.atomic():
            slot = locks.lock_slot(slot_id)
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


def _booked_overlapping(offer: Offer, slot: Slot) -> bool:
    return patients_booked_overlapping(slot=slot).filter(
        filled_entry__patient_id=offer.patient_id).exists()


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
