"""A patient's audit trail as the patient page shows it: every change to the patient, their
waitlist entries and offers (and the slots they were booked into), read back from
django-simple-history with the actor clinic/audit.py stamped on each row.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.utils import timezone

from clinic.audit import (
    PATIENT_SMS,
    PATIENT_SMS_SIMULATED,
    PATIENT_VOICE,
    PATIENT_VOICE_SIMULATED,
    SYSTEM,
    split_reason,
)
from clinic.lib.phones import mask_phone
from offers.models import Offer, Slot
from waitlist.models import WaitlistEntry

# Bookkeeping that changes on every save and says nothing to an auditor.
SKIPPED_FIELDS = {"id", "updated_at", "created_at"}


@dataclass(frozen=True)
class Change:
    field: str
    old: str
    new: str


@dataclass(frozen=True)
class AuditRow:
    when: dt.datetime
    who: str
    what: str  # "Patient", "Waitlist entry (added Dec 2, 2026)", "Offer (Dr. Maya Patel Fri Dec 4 10:00 AM)"
    action: str  # "created", "changed", "deleted"
    changes: list[Change] = field(default_factory=list)
    reason: str = ""


ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


def user_name(user) -> str:
    """A staff user as the trail names them: "Jane Doe (jdoe)", or the username alone."""
    username = user.get_username()
    full = user.get_full_name().strip()
    return f"{full} ({username})" if full and full.lower() != username.lower() else username


class _Names:
    """What the historical rows point at, by name instead of "#3": one query per kind of
    object (provider, appointment type, staff user, slot, ...), whatever the rows."""

    def __init__(self, records, also: dict[type, list] | None = None):
        wanted: dict[type, set] = defaultdict(set)
        for model, ids in (also or {}).items():
            wanted[model].update(ids)
        for record in records:
            for model_field in record.instance_type._meta.concrete_fields:
                value = getattr(record, model_field.attname)
                if model_field.is_relation and value is not None:
                    wanted[model_field.related_model].add(value)
        self._names = {model: self._read(model, ids) for model, ids in wanted.items()}

    @staticmethod
    def _read(model, ids) -> dict:
        objects = model._default_manager.all()
        if model is Slot:
            return {pk: str(slot) for pk, slot in
                    objects.select_related("provider").in_bulk(ids).items()}
        if model is WaitlistEntry:
            return {pk: f"{entry.patient}'s waitlist entry (added "
                        f"{timezone.localtime(entry.added_at):%b %-d, %Y})"
                    for pk, entry in objects.select_related("patient").in_bulk(ids).items()}
        if hasattr(model, "get_username"):
            return {pk: user_name(user) for pk, user in objects.in_bulk(ids).items()}
        return {pk: str(obj) for pk, obj in objects.in_bulk(ids).items()}

    def of(self, model, pk) -> str:
        name = self._names.get(model, {}).get(pk)
        # A deleted row keeps its id in the history: say so rather than invent a name.
        return name if name is not None else f"#{pk} (deleted)"


def _display(record, model_field, names: _Names) -> str:
    value = getattr(record, model_field.attname)
    if value is None or value == "":
        return "—"
    if model_field.name == "phone":
        return mask_phone(value)
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, dt.datetime):
        return f"{timezone.localtime(value):%Y-%m-%d %H:%M}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if model_field.is_relation:
        return names.of(model_field.related_model, value)
    return str(value)


def _rows_for(records, label, names: _Names, who_for_actor) -> list[AuditRow]:
    rows = []
    previous_by_object: dict[int, object] = {}
    for record in sorted(records, key=lambda r: (r.id, r.history_date, r.history_id)):
        model = record.instance_type
        tracked = [f for f in model._meta.concrete_fields if f.name not in SKIPPED_FIELDS]
        previous = previous_by_object.get(record.id)
        changes = []
        if record.history_type == "~" and previous is not None:
            for model_field in tracked:
                old = _display(previous, model_field, names)
                new = _display(record, model_field, names)
                if old != new:
                    changes.append(Change(str(model_field.verbose_name), old, new))
        elif record.history_type == "+":
            changes = [Change(str(f.verbose_name), "—", shown) for f in tracked
                       if (shown := _display(record, f, names)) != "—"]
        actor, reason = split_reason(record.history_change_reason)
        user = record.history_user
        who = user_name(user) if user is not None else who_for_actor(actor or SYSTEM)
        rows.append(AuditRow(when=record.history_date, who=who, what=label(record),
                             action=ACTIONS.get(record.history_type, record.history_type),
                             changes=changes, reason=reason))
        previous_by_object[record.id] = record
    return rows


def _patient_actor_name(patient):
    """The patient's own texts, on their own trail, by name: "Ana Gomez (patient), by
    SMS". Another number (a relative's phone) keeps its masked number."""
    own = mask_phone(patient.phone)

    def who(actor: str) -> str:
        kind, _, number = actor.partition(": ")
        if kind in (PATIENT_SMS, PATIENT_SMS_SIMULATED, PATIENT_VOICE,
                    PATIENT_VOICE_SIMULATED) and number == own:
            return f"{patient} (patient), {kind.removeprefix('patient ')}"
        return actor
    return who


def audit_trail_for_patient(patient) -> list[AuditRow]:
    """Everything that changed the patient, their waitlist entries and their offers (and
    the slots they were booked into), newest first. Related rows are named (provider,
    slot, staff user), never shown as bare ids."""
    entry_ids = list(
        WaitlistEntry.history.filter(patient_id=patient.pk).values_list("id", flat=True).distinct()
    )
    slot_ids = list(
        Slot.history.filter(filled_entry_id__in=entry_ids).values_list("id", flat=True).distinct()
    )
    sources = [
        (patient.history.select_related("history_user"), lambda r: "Patient"),
        (WaitlistEntry.history.filter(id__in=entry_ids).select_related("history_user"),
         lambda r: f"Waitlist entry (added {timezone.localtime(r.added_at):%b %-d, %Y})"),
        (Offer.history.filter(patient_id=patient.pk).select_related("history_user"),
         lambda r: f"Offer ({names.of(Slot, r.slot_id)})"),
        (Slot.history.filter(id__in=slot_ids).select_related("history_user"),
         lambda r: f"Slot ({names.of(Slot, r.id)})"),
    ]
    read = [(list(records), label) for records, label in sources]
    names = _Names([record for records, _ in read for record in records],
                   also={Slot: slot_ids})
    who = _patient_actor_name(patient)
    rows = []
    for records, label in read:
        rows.extend(_rows_for(records, label, names, who))
    rows.sort(key=lambda row: row.when, reverse=True)
    return rows
