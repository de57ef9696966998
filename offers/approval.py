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

Every step runs under the slot's row lock, taken first as everywhere in the engine
(offers/services.py), so approve, decline, a concurrent YES and the expiry sweep happen
one after another: a booking is decided once.
"""

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from messaging.services import message_send
from offers.models import Offer, OfferRule, Slot
from offers.rules import local_start, rule_for
from waitlist.models import WaitlistEntry


def _engine():
    # offers.services imports this module (its hooks); imported lazily against the cycle.
    from offers import services

    return services


def slot_booking_pending(*, slot: Slot) -> bool:
    """A booking of this slot awaits staff approval."""
    return slot.offers.filter(status=Offer.Status.RESERVED).exists()


def refuse_while_pending(*, slot: Slot) -> None:
    if slot_booking_pending(slot=slot):
        raise ValidationError("A booking of this slot is awaiting approval: approve or "
                              "decline it first (at the top of Today).")


def offer_reserve_if_required(*, offer: Offer, slot: Slot, now: dt.datetime,
                              reason: str):
    """Called where a YES would book the slot (services._book), under its locks: while
    another booking of the slot is pending, this YES is next in line; where the rule asks
    for approval, it reserves the slot. None: book it as usual."""
    services = _engine()
    if slot_booking_pending(slot=slot):
        if offer.is_live:
            return offer_next_in_line(offer=offer, slot=slot, now=now)
        # A late YES to an offer that already expired: nothing to hold for them.
        return services.ReplyResult(services.Outcome.EXPIRED, offer)
    if rule_for(slot=slot).booking_mode != OfferRule.BookingMode.APPROVAL:
        return None
    offer.status = Offer.Status.RESERVED
    offer.reserved_at = offer.responded_at = now
    offer.next_in_line_at = None
    services._save(offer, f"{reason}: reserved until staff approve")
    slot.waiting_for = Slot.WaitingFor.APPROVAL
    services._save(slot, f"Awaiting approval of offer {offer.pk}")
    return services.ReplyResult(services.Outcome.AWAITING_APPROVAL, offer)


def offer_next_in_line(*, offer: Offer, slot: Slot, now: dt.datetime):
    """A YES to a live offer while another booking of the slot awaits approval: recorded
    (the first such YES is first in line), the offer stays live."""
    services = _engine()
    if offer.next_in_line_at is None:
        offer.next_in_line_at = now
        services._save(offer, "Patient replied YES while another booking awaits approval: "
                              "next in line")
    return services.ReplyResult(services.Outcome.NEXT_IN_LINE, offer)


def _lock_pending(offer_id: int) -> tuple[Slot, Offer]:
    services = _engine()
    locked = services._lock_offer(offer_id)
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
    services = _engine()
    slot, offer = _lock_pending(offer_id)
    entry = offer.entry
    if entry.status != WaitlistEntry.Status.ACTIVE:
        raise ValidationError("The patient is no longer on the waitlist: decline instead.")
    if slot.start <= timezone.now():
        raise ValidationError("The slot has started: decline instead.")
    if services._booked_overlapping(offer, slot):
        raise ValidationError("The patient is already booked at an overlapping time: "
                              "decline instead.")
    offer.status = Offer.Status.ACCEPTED
    services._save(offer, "Booking approved by staff", by)
    services._supersede_live_offers(slot, "Another patient took the slot", by=by)
    slot.filled_via = Slot.FilledVia.SMS
    slot.filled_entry = entry
    services._close(slot, Slot.Status.FILLED, f"Filled by SMS, approved by staff: offer "
                                              f"{offer.pk}", by=by)
    entry.status = WaitlistEntry.Status.BOOKED
    services._save(entry, f"Booked by SMS into {slot}, approved by staff", by)
    # The slots that waited for this patient may now have nobody who fits.
    services._patients_freed([offer.patient_id])
    message_send(patient=offer.patient, template="confirmation", offer=offer,
                 context=services.offer_text_context(entry=entry, slot=slot))
    return offer


@transaction.atomic
def booking_decline(*, offer_id: int, by, reason: str = "") -> Offer:
    """Staff decline a pending booking: the patient is told kindly (they stay on the
    waitlist) and the slot goes to whoever is next in line, else on to the next batch."""
    services = _engine()
    slot, offer = _lock_pending(offer_id)
    now = timezone.now()
    services._resolve(offer, Offer.Status.DECLINED,
                      f"Booking declined by staff{': ' + reason if reason else ''}"[:90],
                      at=now, by=by)
    message_send(patient=offer.patient, template="booking_declined", offer=offer,
                 context={"start": local_start(slot)})
    slot.waiting_for = Slot.WaitingFor.NOTHING
    services._save(slot, f"Booking of offer {offer.pk} declined by staff", by)
    _offer_to_next_in_line(slot, now)
    return offer


def _offer_to_next_in_line(slot: Slot, now: dt.datetime) -> None:
    services = _engine()
    live = (services.slot_live_offers(slot=slot).select_for_update(of=("self", "entry"))
            .select_related("entry", "patient"))
    waiting = [o for o in live if o.next_in_line_at is not None]
    for offer in sorted(waiting, key=lambda o: (o.next_in_line_at, o.pk)):
        offer.slot = slot
        if offer.entry.status != WaitlistEntry.Status.ACTIVE or not offer.patient.can_receive_sms:
            continue
        result = services._book(offer, slot, now, "Next in line after a declined booking")
        if result.outcome == services.Outcome.AWAITING_APPROVAL:
            message_send(patient=offer.patient, template="booking_pending_next", offer=offer,
                         context={"start": local_start(slot)})
        else:  # the rule no longer asks for approval: booked
            message_send(patient=offer.patient, template="confirmation", offer=offer,
                         context=services.offer_text_context(entry=offer.entry, slot=slot))
        return
    # Nobody next in line: holds that ran out while they were held end now.
    for offer in live:
        if offer.is_live and offer.hold_until is not None and offer.hold_until <= now:
            services._resolve(offer, Offer.Status.EXPIRED,
                              "Hold passed while a booking awaited approval")
    services._queue_next_batch(slot)


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
