"""Writes to the waitlist. Every change to a patient's place in line is audited.

The audit trail is django-simple-history: each save records who (the request's user
through HistoryRequestMiddleware, or `changed_by`), when, what changed, and the reason.
"""

import datetime as dt
from collections.abc import Iterable
from functools import partial

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from simple_history.utils import update_change_reason

from clinic.models import AppointmentType, Location, Patient, Provider
from waitlist import signals
from waitlist.models import WaitlistEntry

PRIORITY_FIELDS = ("urgent", "boost")


def _check_priority_change(*, urgent: bool, boost: int, by, reason: str,
                           was_urgent: bool = False, was_boost: int = 0) -> None:
    changed = urgent != was_urgent or boost != was_boost
    if not changed:
        return
    if by is not None and not by.has_perm("waitlist.prioritize_waitlistentry"):
        raise PermissionDenied("Only a manager can set the urgent flag or a manual boost.")
    if not reason.strip():
        raise ValidationError({"reason": "Say why the urgent flag or boost changes."})
    if not 0 <= boost <= 40:
        raise ValidationError({"boost": "A boost is between 0 and 40 points."})


@transaction.atomic
def entry_add(
    *,
    patient: Patient,
    providers: Iterable[Provider] = (),
    any_provider: bool = False,
    appointment_type: AppointmentType | None = None,
    location: Location | None = None,
    earliest_date: dt.date | None = None,
    latest_date: dt.date | None = None,
    urgent: bool = False,
    boost: int = 0,
    current_appointment_at: dt.datetime | None = None,
    comment: str = "",
    source: str = WaitlistEntry.Source.PORTAL,
    by=None,
    reason: str = "",
    ehr_identifier_system: str = "",
    ehr_identifier_value: str = "",
) -> WaitlistEntry:
    """Put a patient on the waitlist. `by` is the staff user (None for the EHR or system)."""
    providers = list(providers)
    if not any_provider and not providers:
        raise ValidationError({"providers": "Choose at least one provider, or any provider."})
    # Staff must say why (kept in the audit trail); the EHR's priority (by=None) comes
    # without a reason of its own.
    if by is None and not reason.strip() and (urgent or boost):
        reason = f"Added with priority by {WaitlistEntry.Source(source).label}"
    _check_priority_change(urgent=urgent, boost=boost, by=by, reason=reason)
    entry = WaitlistEntry(
        patient=patient, any_provider=any_provider, appointment_type=appointment_type,
        location=location, earliest_date=earliest_date, latest_date=latest_date,
        urgent=urgent, boost=boost, current_appointment_at=current_appointment_at,
        comment=comment, source=source, added_by=by,
        ehr_identifier_system=ehr_identifier_system, ehr_identifier_value=ehr_identifier_value,
    )
    entry.full_clean(exclude=["patient", "added_by"])
    entry._change_reason = reason.strip() or "Added to the waitlist"
    entry.save()
    if providers and not any_provider:
        entry.providers.set(providers)
    return entry


@transaction.atomic
def entry_update(*, entry: WaitlistEntry, by=None, reason: str = "", **changes) -> WaitlistEntry:
    """Change an entry's wishes or priority. Urgent and boost need a manager and a reason."""
    entry = WaitlistEntry.objects.select_for_update().get(pk=entry.pk)
    if entry.status != WaitlistEntry.Status.ACTIVE:
        raise ValidationError("Only a waiting entry can be changed.")
    providers = changes.pop("providers", None)
    _check_priority_change(
        urgent=changes.get("urgent", entry.urgent),
        boost=changes.get("boost", entry.boost), by=by, reason=reason,
        was_urgent=entry.urgent, was_boost=entry.boost,
    )
    for field, value in changes.items():
        setattr(entry, field, value)
    if entry.any_provider:
        providers = []
    elif providers is not None and not list(providers):
        raise ValidationError({"providers": "Choose at least one provider, or any provider."})
    entry.full_clean(exclude=["patient", "added_by"])
    entry._change_reason = reason or "Updated"
    entry.save()
    if providers is not None:
        entry.providers.set(providers)
    return entry


@transaction.atomic
def entry_remove(*, entry: WaitlistEntry, by=None, reason: str = "") -> WaitlistEntry:
    """Take a patient off the waitlist (kept, with status removed, for the audit trail).

    After commit, `entry_removed` tells the offer engine, which ends a live offer of this
    entry so its slot moves on (the engine's own locks, after this row lock is released).
    """
    entry = WaitlistEntry.objects.select_for_update().get(pk=entry.pk)
    if entry.status == WaitlistEntry.Status.REMOVED:
        return entry
    if entry.status == WaitlistEntry.Status.BOOKED:
        # Booked a moment ago (a YES, or staff by phone): "removed" would hide the booking,
        # e.g. from the EHR's write-back.
        raise ValidationError("This patient was booked into a slot, so they are no longer "
                              "on the waitlist.")
    entry.status = WaitlistEntry.Status.REMOVED
    entry.save(update_fields=["status", "updated_at"])
    update_change_reason(entry, reason or "Removed from the waitlist")
    # robust: the removal is committed whatever a listener does; an offer left live by a
    # failed listener still ends at its hold, and a YES to it is refused.
    transaction.on_commit(partial(signals.entry_removed.send, sender=WaitlistEntry,
                                  entry=entry), robust=True)
    return entry
