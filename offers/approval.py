"""Bookings that staff approve (a clinic rule's "approval" mode, docs/rules.md).

A YES to a slot whose rule asks for approval reserves it for that patient (the offer is
"reserved": Awaiting approval) and the patient is told the truth at once: "Thanks! The
clinic will confirm shortly." Until staff decide, the slot's other live offers are held,
not superseded: their holds do not expire, no next batch goes out, and a patient who
says YES meanwhile is told they are next in line. Staff see the pending bookings at the
top of Today, with how long each has waited (overdue after APPROVAL_ALERT_MINUTES):

- approve: the slot is filled by SMS, the patient gets the confirmation text, the held
  offers end ("no longer available");
- decline: the patient is told kindly (they stay on the waitlist); the first patient
  next in line gets the reservation, else held offers whose hold has passed expire and
  the slot moves on to the next batch.

A YES reserves the slot, or is next in line, in offers/claims.py (_book), which asks the
slot's rule; the engine holds the slot's other offers while the booking is pending
(offers/engine.py, holds.py). Every step runs under the slot's row lock, taken first as
everywhere in the engine (offers/locks.py), so approve, decline, a concurrent YES and the expiry sweep happen
one after another: a booking is decided once.
"""

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from clinic.audit import save_with_reason
from messaging.services import message_send
from offers import locks
from offers.claims import Outcome, _book
from offers.engine import (
    _announce_booked,
    _booked_overlapping,
    _close,
    _patients_freed,
    _queue_next_batch,
    _resolve,
    _supersede_live_offers,
    offer_text_context,
    refuse_while_pending,
)
from offers.models import Offer, Slot
from offers.rules import local_start
from offers.selectors import slot_booking_pending, slot_live_offers
from waitlist.models import WaitlistEntry

__all__ = ["booking_approve", "booking_decline", "pending_bookings", "refuse_while_pending",
           "slot_booking_pending"]


def _lock_pending(offer_id: int) -> tuple[Slot, Offer]:
    locked = locks.lock_offer(offer_id)
    if locked is None:
        raise ValidationError("There is no such booking.")
    slot, offer = locked
    if offer.status != Offer.Status.RESERVED:
        done = ("approved" if offer.status == Offer.Status.ACCEPTED else "decided")
        raise ValidationError(f"This booking was already {done} by someone else.")
    offer = (Offer.objects.select_for_update(of=("self", "entry"))
             .select_related("entry", "patient").get(pk=offer.pk))
    offer.slot = slot
    return slot, offer


@transaction.atomic
def booking_approve(*, offer_id: int, by) -> Offer:
    """Staff approve a pending booking: the slot is filled by SMS, the patient is texted
    the confirmation, the slot's held offers end and their patients are told."""
    slot, offer = _lock_pending(offer_id)
    entry = offer.entry
    if entry.status != WaitlistEntry.Status.ACTIVE:
        raise ValidationError("The patient is no longer on the waitlist: decline instead.")
    if slot.start <= timezone.now():
        raise ValidationError("The slot has started: decline instead.")
    if _booked_overlapping(offer, slot):
        raise ValidationError("The patient is already booked at an overlapping time: "
                              "decline instead.")
    offer.status = Offer.Status.ACCEPTED
    save_with_reason(offer, "Booking approved by staff", by)
    _supersede_live_offers(slot, "Another patient took the slot", by=by)
    slot.filled_via = Slot.FilledVia.SMS
    slot.filled_entry = entry
    _close(slot, Slot.Status.FILLED, f"Filled by SMS, approved by staff: offer {offer.pk}",
           by=by)
    entry.status = WaitlistEntry.Status.BOOKED
    save_with_reason(entry, f"Booked by SMS into {slot}, approved by staff", by)
    _announce_booked(slot)
    # The slots that waited for this patient may now have nobody who fits.
    _patients_freed([offer.patient_id])
    message_send(patient=offer.patient, template="confirmation", subject=offer,
                 context=offer_text_context(entry=entry, slot=slot))
    return offer


@transaction.atomic
def booking_decline(*, offer_id: int, by, reason: str = "") -> Offer:
    """Staff decline a pending booking: the patient is told kindly (they stay on the
    waitlist) and the slot goes to whoever is next in line, else on to the next batch."""
    slot, offer = _lock_pending(offer_id)
    now = timezone.now()
    _resolve(offer, Offer.Status.DECLINED,
             f"Booking declined by staff{': ' + reason if reason else ''}"[:90], at=now, by=by)
    message_send(patient=offer.patient, template="booking_declined", subject=offer,
                 context={"start": local_start(slot)})
    slot.waiting_for = Slot.WaitingFor.NOTHING
    save_with_reason(slot, f"Booking of offer {offer.pk} declined by staff", by)
    _offer_to_next_in_line(slot, now)
    return offer


def _offer_to_next_in_line(slot: Slot, now: dt.datetime) -> None:
    live = (slot_live_offers(slot=slot).select_for_update(of=("self", "entry"))
            .select_related("entry", "patient"))
    waiting = [o for o in live if o.next_in_line_at is not None]
    for offer in sorted(waiting, key=lambda o: (o.next_in_line_at, o.pk)):
        offer.slot = slot
        if offer.entry.status != WaitlistEntry.Status.ACTIVE or not offer.patient.can_receive_sms:
            continue
        result = _book(offer, slot, now, "Next in line after a declined booking")
        if result.outcome == Outcome.AWAITING_APPROVAL:
            message_send(patient=offer.patient, template="booking_pending_next",
                         subject=offer, context={"start": local_start(slot)})
        else:  # the rule no longer asks for approval: booked
            message_send(patient=offer.patient, template="confirmation", subject=offer,
                         context=offer_text_context(entry=offer.entry, slot=slot))
        return
    # Nobody next in line: holds that ran out while they were held end now.
    for offer in live:
        if offer.is_live and offer.hold_until is not None and offer.hold_until <= now:
            _resolve(offer, Offer.Status.EXPIRED, "Hold passed while a booking awaited approval")
    _queue_next_batch(slot)


def pending_bookings(*, now: dt.datetime | None = None) -> list[Offer]:
    """Bookings awaiting approval, longest waiting first, each with `waited_minutes`,
    `overdue` (waited APPROVAL_ALERT_MINUTES or more: Today alerts staff) and
    `next_in_line` (how many other patients said YES meanwhile) set. Two queries."""
    now = now or timezone.now()
    alert = dt.timedelta(minutes=settings.APPROVAL_ALERT_MINUTES)
    pending = list(Offer.objects.filter(status=Offer.Status.RESERVED).select_related(
        "slot__provider", "slot__appointment_type", "patient", "entry").order_by(
        "reserved_at", "pk"))
    counts = dict(
        Offer.objects.filter(slot_id__in=[o.slot_id for o in pending],
                             status__in=Offer.LIVE_STATUSES, next_in_line_at__isnull=False)
        .values("slot_id").annotate(n=Count("pk")).values_list("slot_id", "n")
    ) if pending else {}
    for offer in pending:
        waited = now - (offer.reserved_at or now)
        offer.waited_minutes = max(0, int(waited.total_seconds() // 60))
        offer.overdue = waited >= alert
        offer.next_in_line = counts.get(offer.slot_id, 0)
    return pending
