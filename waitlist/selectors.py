"""Reads of the waitlist that are more than a filter.

Matching is described by plain values (provider, location, type, start, end) because
the waitlist knows nothing about slots; the offer engine adds what only it knows
(who already holds an offer) in offers/selectors.py.
"""

import datetime as dt

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from clinic.models import AppointmentType, Location, Patient, Provider
from waitlist.models import WaitlistEntry


def entries_matching(
    *,
    provider: Provider,
    start: dt.datetime,
    end: dt.datetime,
    location: Location | None = None,
    appointment_type: AppointmentType | None = None,
) -> QuerySet:
    """Active entries that would take an appointment with `provider` at `start`..`end`.

    - provider: one the entry accepts, or the entry takes any provider;
    - location: the entry has none, or it is where the appointment is (the slot's
      location, else the provider's; with neither known, location does not narrow);
    - appointment type: the entry has none; or it is the slot's type; or, when the slot
      has no type, the entry's type fits in the slot's length;
    - the slot's local date lies within the entry's earliest/latest dates;
    - the patient can receive SMS (not opted out, number not flagged invalid);
    - the entry's current appointment, if any, is later than the slot.
    """
    where = location or provider.location
    slot_date = timezone.localtime(start).date()
    accepts_provider = WaitlistEntry.providers.through.objects.filter(
        waitlistentry_id=OuterRef("pk"), provider_id=provider.pk
    )
    entries = WaitlistEntry.objects.filter(
        Q(any_provider=True) | Exists(accepts_provider),
        status=WaitlistEntry.Status.ACTIVE,
    ).exclude(
        # NOT IN over the few unreachable patients: much cheaper than joining every row
        # to its patient on a large waitlist (see bench/README.md).
        patient_id__in=Patient.objects.filter(
            Q(sms_opted_out_at__isnull=False) | Q(phone_invalid_at__isnull=False)
            | Q(phone_wrong_at__isnull=False)
        ).values("pk")
    ).filter(
        Q(earliest_date__isnull=True) | Q(earliest_date__lte=slot_date),
        Q(latest_date__isnull=True) | Q(latest_date__gte=slot_date),
        Q(current_appointment_at__isnull=True) | Q(current_appointment_at__gt=start),
    )
    if where is not None:
        entries = entries.filter(Q(location__isnull=True) | Q(location=where))
    if appointment_type is not None:
        entries = entries.filter(
            Q(appointment_type__isnull=True) | Q(appointment_type=appointment_type)
        )
    else:
        minutes = int((end - start).total_seconds() // 60)
        entries = entries.filter(
            Q(appointment_type__isnull=True) | Q(appointment_type__duration_minutes__lte=minutes)
        )
    return entries
