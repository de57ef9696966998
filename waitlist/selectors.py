"""Reads of the waitlist that are more than a filter.

Matching is described by plain values (provider, location, type, start, end) because
the waitlist knows nothing about slots; the offer engine adds what only it knows
(who already holds an offer) in offers/selectors.py.
"""

import datetime as dt
import unicodedata

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
    statuses: tuple[str, ...] = (WaitlistEntry.Status.ACTIVE,),
    reachable_only: bool = True,
) -> QuerySet:
    """Active entries that would take an appointment with `provider` at `start`..`end`.

    `statuses` and `reachable_only=False` widen it to entries that would have matched
    (the offer engine asks which waiting slots a patient's change may concern).

    - provider: one the entry accepts, or the entry takes any provider;
    - location: the entry has none, or it is where the appointment is (the slot's
      location, else the provider's; with neither known, location does not narrow);
    - appointment type: the entry has none; or it is the slot's type; or, when the slot
      has no type, the entry's type fits in the slot's length;
    - the slot's local date lies within the entry's earliest/latest dates;
    - the patient can receive SMS (not opted out, number not flagged invalid or wrong);
    - the entry's current appointment, if any, is later than the slot.
    """
    where = location or provider.location
    slot_date = timezone.localtime(start).date()
    accepts_provider = WaitlistEntry.providers.through.objects.filter(
        waitlistentry_id=OuterRef("pk"), provider_id=provider.pk
    )
    entries = WaitlistEntry.objects.filter(
        Q(any_provider=True) | Exists(accepts_provider),
        status__in=statuses,
    )
    if reachable_only:
        # NOT IN over the few unreachable patients: much cheaper than joining every row
        # to its patient on a large waitlist (see bench/README.md).
        entries = entries.exclude(patient_id__in=Patient.objects.filter(
            # A number that cannot take texts is still called when offers go by call.
            Q(sms_opted_out_at__isnull=False)
            | (Q(phone_invalid_at__isnull=False) & ~Q(offer_channel="voice"))
            | Q(phone_wrong_at__isnull=False)
        ).values("pk"))
    entries = entries.filter(
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


def names_match(first_a: str, last_a: str, first_b: str, last_b: str) -> bool:
    """Whether two names are one person's as a front desk would judge it: case, accents
    and spacing aside ("Maria Nunez" is "María Núñez"); a missing last name on either side
    does not make them differ."""
    def norm(name: str) -> str:
        decomposed = unicodedata.normalize("NFKD", name or "")
        bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
        return " ".join(bare.casefold().split())

    if norm(first_a) != norm(first_b):
        return False
    return not norm(last_a) or not norm(last_b) or norm(last_a) == norm(last_b)


def _split_name(full_name: str) -> tuple[str, str]:
    first, _, rest = (full_name or "").strip().partition(" ")
    return first, rest


def entry_same_visit(*, patient: Patient, appointment_type: AppointmentType | None,
                     any_provider: bool, providers, for_name: str = "",
                     exclude_pk: int | None = None) -> WaitlistEntry | None:
    """The patient's active entry for the same visit, if any: the same appointment type
    (both "any type" counts as the same), providers that overlap (either takes any
    provider, or they share one), and the same person (`for_name`, names compared as
    names_match does). Two entries of one patient must be two different visits."""
    entries = (WaitlistEntry.objects.filter(patient=patient, status=WaitlistEntry.Status.ACTIVE,
                                            appointment_type=appointment_type)
               .prefetch_related("providers").order_by("added_at", "pk"))
    if exclude_pk is not None:
        entries = entries.exclude(pk=exclude_pk)
    wanted = {p.pk for p in providers}
    for entry in entries:
        if not names_match(*_split_name(entry.for_name), *_split_name(for_name)):
            continue
        theirs = {p.pk for p in entry.providers.all()}
        if any_provider or entry.any_provider or wanted & theirs:
            return entry
    return None
