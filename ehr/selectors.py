import datetime as dt

from django.db.models import QuerySet

from offers.models import Slot


def slots_booked(*, updated_after: dt.datetime | None = None) -> QuerySet[Slot]:
    """Slots filled through the system with a known patient, oldest change first."""
    slots = Slot.objects.filter(status=Slot.Status.FILLED, filled_entry__isnull=False)
    if updated_after is not None:
        slots = slots.filter(updated_at__gt=updated_after)
    return slots.select_related(
        "provider", "appointment_type", "filled_entry__patient"
    ).order_by("updated_at", "pk")


def appointments_freed(*, updated_after: dt.datetime | None = None) -> QuerySet[Slot]:
    """The EHR appointments chain fills freed (ehr/chain.py), oldest first. Their
    lastUpdated is when they were freed, which never changes."""
    slots = Slot.objects.filter(chained_from__isnull=False).exclude(ehr_identifier_value="")
    if updated_after is not None:
        slots = slots.filter(created_at__gt=updated_after)
    return slots.select_related(
        "provider", "appointment_type", "chained_from__filled_entry__patient"
    ).order_by("created_at", "pk")
