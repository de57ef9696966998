"""Chain fills: a patient who took an earlier slot by SMS no longer needs the later
appointment they held, so it is freed and offered in turn through the engine's own
slot_open (a slot with `chained_from` = the booked slot), and the FHIR write-back reports
it cancelled (`GET /api/fhir/Appointment?status=cancelled`) so the EHR frees it too.
docs/how-offers-work.md, "Chain fills".

What is chained: only an appointment the EHR told us of with its identifier, start, end
and provider (a HeldAppointment from the HL7 feed's S12/S13/S14), starting after the
booked slot and still ahead. A current appointment known only as a date and time staff
typed in (WaitlistEntry.current_appointment_at without a HeldAppointment) is not freed:
nothing says which of the EHR's appointments it is, nor its provider or length, and
offering a guessed time could double-book the clinic. Today tells staff to cancel that one
in the EHR; the EHR's cancellation then comes back as a freed slot like any other.

When: after the booking commits (offers.signals.slot_booked, sent for a YES that booked,
or a reserved booking staff approved; never while approval is pending), as a Celery task,
and again by the beat sweep for a task that was lost. Once: the booked slot's row is
locked while its chain is looked at, the chained slot points at it one-to-one, and the
freed appointment's EHR identifier is unique among slots, so two runs at once (or a
repeated task) open one slot.
"""

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from clinic.audit import SYSTEM, acting_as
from ehr.models import HeldAppointment
from offers.models import Slot
from offers.services import slot_open

log = logging.getLogger(__name__)

# How far back the beat sweep looks for SMS bookings whose chain task was lost.
MISSED_LOOKBACK = dt.timedelta(days=1)


def held_appointment_to_free(*, slot: Slot) -> HeldAppointment | None:
    """The later appointment the booked slot's patient held for this visit: the earliest
    one after the booked slot that is still ahead and complete enough to offer."""
    return (HeldAppointment.objects.filter(
        entry_id=slot.filled_entry_id, start__gt=max(slot.start, timezone.now()),
        end__isnull=False, provider__isnull=False)
        .select_related("provider__location", "appointment_type", "entry")
        .order_by("start", "pk").first())


def slot_chain_fill(*, slot_id: int) -> Slot | None:
    """Free and offer the later appointment of the patient booked into `slot_id`; returns
    the chained slot (the one opened before, on a repeat), or None when there is none."""
    with transaction.atomic(), acting_as(SYSTEM):
        # The booked slot's row is the chain's lock: a second run waits here, then sees
        # the chained slot this one made.
        slot = Slot.objects.select_for_update(of=("self",)).filter(pk=slot_id).first()
        if (slot is None or slot.status != Slot.Status.FILLED
                or slot.filled_via != Slot.FilledVia.SMS or slot.filled_entry_id is None):
            return None
        existing = Slot.objects.filter(chained_from=slot).first()
        if existing is not None:
            return existing
        held = held_appointment_to_free(slot=slot)
        if held is None:
            return None
        if held.end <= timezone.now():
            return None
        chained = slot_open(
            provider=held.provider, start=held.start, end=held.end,
            appointment_type=held.appointment_type, source=Slot.Source.CHAIN,
            ehr_identifier_system=held.identifier_system,
            ehr_identifier_value=held.identifier_value, chained_from=slot)
        if chained.chained_from_id != slot.pk:
            # The EHR had already sent this appointment's cancellation: that slot is
            # offering (or done) on its own, and this booking frees nothing new.
            log.info("chain fill of slot %s: appointment already freed as slot %s",
                     slot.pk, chained.pk)
        held.delete()  # the patient no longer holds it
        log.info("chain fill: booking of slot %s freed slot %s", slot.pk, chained.pk)
        return chained


def chain_fills_missed(*, now: dt.datetime | None = None) -> int:
    """The beat sweep's catch-up: SMS bookings of the last day whose patient still holds a
    later appointment (the task after commit was lost). Returns how many were chained."""
    now = now or timezone.now()
    later = "filled_entry__held_appointments__start__gt"
    candidates = (Slot.objects.filter(
        Q(**{later: now}) & Q(**{later: F("start")}),
        status=Slot.Status.FILLED, filled_via=Slot.FilledVia.SMS,
        closed_at__gte=now - MISSED_LOOKBACK, chained_to__isnull=True)
        .values_list("pk", flat=True).distinct())
    chained = 0
    for slot_id in list(candidates):
        try:
            made = slot_chain_fill(slot_id=slot_id)
        except IntegrityError:  # another run opened it at the same instant
            continue
        chained += made is not None and made.chained_from_id == slot_id
    return chained


def on_slot_booked(sender, *, slot_id: int, **kwargs) -> None:
    """offers.signals.slot_booked (after the booking committed): chain it in a task."""
    from ehr.tasks import slot_chain_fill as task

    task.delay(slot_id)
