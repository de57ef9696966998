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
