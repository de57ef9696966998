"""Writes to the waitlist. Every change to a patient's place in line is audited.

The audit trail is django-simple-history: each save records who (the request's user
through HistoryRequestMiddleware, or `changed_by`), when, what changed, and the reason.
"""

import datetime as dt
from collections.abc import Iterable
from functools import partial

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from clinic.audit import save_with_reason
from clinic.models import AppointmentType, Location, Patient, Provider
from waitlist import signals
from waitlist.models import WaitlistEntry
from waitlist.selectors import entry_same_visit

PRIORITY_FIELDS = ("urgent", "boost")


class DuplicateEntry(ValidationError):
    """The patient already waits for this visit: two entries of one patient must be two
    different visits (WaitlistEntry). `existing` is the entry they already have."""

    def __init__(self, existing: WaitlistEntry):
        self.existing = existing
        who = existing.for_name or existing.patient.full_name
        super().__init__(
            f"{who} already waits for this visit (entry added "
            f"{existing.added_at:%b %-d, %Y}: {_wishes(existing)}). Change that entry "
            "instead, or choose another appointment type or provider for a second visit.",
            code="duplicate")


def _wishes(entry: WaitlistEntry) -> str:
    providers = ("any provider" if entry.any_provider
                 else ", ".join(p.name for p in entry.providers.all()))
    return f"{entry.appointment_type or 'any type'}, {providers}"


def _refuse_same_visit(*, patient: Patient, appointment_type, any_provider: bool,
                       providers, for_name: str, exclude_pk: int | None = None) -> None:
    existing = entry_same_visit(patient=patient, appointment_type=appointment_type,
                                any_provider=any_provider, providers=providers,
                                for_name=for_name, exclude_pk=exclude_pk)
    if existing is not None:
        raise DuplicateEntry(existing)


def _announce_waiting(entry: WaitlistEntry, *, created: bool) -> None:
    # robust: the entry is saved whatever a listener does; the offer engine's sweep
    # reaches waiting slots anyway.
    transaction.on_commit(partial(signals.entry_waiting.send, sender=WaitlistEntry,
                                  entry=entry, created=created), robust=True)


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
    for_name: str = "",
) -> WaitlistEntry:
    """Put a patient on the waitlist. `by` is the staff user (None for the EHR or system).

    `for_name`: the family member the visit is for, when the patient (the phone's owner)
    is someone else. Refused with DuplicateEntry when the patient already waits for the
    same visit."""
    providers = list(providers)
    for_name = " ".join(for_name.split())
    if not any_provider and not providers:
        raise ValidationError({"providers": "Choose at least one provider, or any provider."})
    # The row lock makes two adds of one visit at once wait for each other, so the
    # second one sees the first and is refused.
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    _refuse_same_visit(patient=patient, appointment_type=appointment_type,
                       any_provider=any_provider, providers=providers, for_name=for_name)
    # Staff must say why (kept in the audit trail); the EHR's priority (by=None) comes
    # without a reason of its own.
    if by is None and not reason.strip() and (urgent or boost):
        reason = f"Added with priority by {WaitlistEntry.Source(source).label}"
    _check_priority_change(urgent=urgent, boost=boost, by=by, reason=reason)
    entry = WaitlistEntry(
        patient=patient, any_provider=any_provider, appointment_type=appointment_type,
        location=location, earliest_date=earliest_date, latest_date=latest_date,
        urgent=urgent, boost=boost, current_appointment_at=current_appointment_at,
        comment=comment, source=source, added_by=by, for_name=for_name,
        ehr_identifier_system=ehr_identifier_system, ehr_identifier_value=ehr_identifier_value,
    )
    entry.full_clean(exclude=["patient", "added_by"])
    save_with_reason(entry, reason.strip() or "Added to the waitlist")
    if providers and not any_provider:
        entry.providers.set(providers)
    _announce_waiting(entry, created=True)
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
    _refuse_same_visit(
        patient=entry.patient, appointment_type=entry.appointment_type,
        any_provider=entry.any_provider,
        providers=list(providers) if providers is not None else list(entry.providers.all()),
        for_name=entry.for_name, exclude_pk=entry.pk)
    save_with_reason(entry, reason or "Updated")
    if providers is not None:
        entry.providers.set(providers)
    _announce_waiting(entry, created=False)
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
    save_with_reason(entry, reason or "Removed from the waitlist",
                     update_fields=["status", "updated_at"])
    # robust: the removal is committed whatever a listener does; an offer left live by a
    # failed listener still ends at its hold, and a YES to it is refused.
    transaction.on_commit(partial(signals.entry_removed.send, sender=WaitlistEntry,
                                  entry=entry), robust=True)
    return entry
