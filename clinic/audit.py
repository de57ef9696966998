"""Who changed what: the audit trail over django-simple-history.

Every save of a Patient, WaitlistEntry, Slot or Offer writes a historical row with when,
what (the whole row; the trail diffs consecutive rows) and `history_change_reason`.
*Who* is one of four kinds of actor:

- a staff user: `history_user`, filled from the request by HistoryRequestMiddleware;
- an integration's API key, a patient by SMS, or the system (Celery tasks, beat, commands):
  these have no user row, so the actor is written into the reason as a prefix,
  "[API key: epic] Added from the EHR". The prefix is added on every save of a historical
  row, so `update_change_reason` after the fact keeps it too.

The actor is found, in order: an explicit `acting_as(...)`; the staff user; the request
(a Twilio webhook is the patient who texted, a Bearer-authenticated request is its API
key); otherwise the system. Code that knows better says so:

    from clinic.audit import acting_as, actor_patient_sms

    with acting_as(actor_patient_sms(patient)):
        offer_claim(...)

Bulk writes (`QuerySet.update()`, `bulk_create`) bypass simple-history and therefore the
trail: services that change these models should save instances (or use
simple_history.utils.bulk_update_with_history).
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db.models.signals import pre_save
from django.utils import timezone
from simple_history.models import HistoricalChanges

from clinic.lib.phones import mask_phone

SYSTEM = "system"
REASON_MAX_LENGTH = 100

_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("audit_actor", default=None)


def actor_api_key(name: str) -> str:
    return f"API key: {name}"


def actor_patient_sms(patient_or_phone) -> str:
    phone = getattr(patient_or_phone, "phone", patient_or_phone) or ""
    return f"patient by SMS: {mask_phone(phone)}"


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Every audited change inside the block is recorded as made by `actor`
    (use actor_api_key / actor_patient_sms / SYSTEM, or a short label of your own)."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> str | None:
    """The explicit actor, else the one the current request implies; None for a staff user
    (history_user says who) and for no request at all (the system)."""
    explicit = _actor.get()
    if explicit:
        return explicit
    from simple_history.models import HistoricalRecords

    request = getattr(HistoricalRecords.context, "request", None)
    if request is None:
        return None
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return None
    api_key = getattr(request, "api_key", None)
    if api_key is not None:
        return actor_api_key(str(api_key))
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return actor_api_key("unnamed")
    if request.path.startswith("/twilio/"):
        return actor_patient_sms(request.POST.get("From", ""))
    return None


def _split_reason(reason: str | None) -> tuple[str | None, str]:
    """"[API key: epic] Added" -> ("API key: epic", "Added")."""
    reason = reason or ""
    if reason.startswith("[") and "]" in reason:
        actor, _, rest = reason[1:].partition("]")
        return actor, rest.strip()
    return None, reason


def _stamp_actor(sender, instance, **kwargs) -> None:
    if not isinstance(instance, HistoricalChanges):
        return
    if instance.history_user_id is not None:
        return
    actor, reason = _split_reason(instance.history_change_reason)
    if actor is not None:
        return
    actor = current_actor() or SYSTEM
    stamped = f"[{actor}] {reason}".strip()
    instance.history_change_reason = stamped[:REASON_MAX_LENGTH]


def connect() -> None:
    # pre_save of the historical rows: covers their creation and update_change_reason alike.
    pre_save.connect(_stamp_actor, dispatch_uid="clinic.audit.stamp_actor")


# --- Reading the trail ----------------------------------------------------------------

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
    what: str  # "Patient", "Waitlist entry #4", "Offer #9"
    action: str  # "created", "changed", "deleted"
    changes: list[Change] = field(default_factory=list)
    reason: str = ""


ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


def _display(record, model_field) -> str:
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
        return f"#{value}"
    return str(value)


def _rows_for(records, label) -> list[AuditRow]:
    rows = []
    previous_by_object: dict[int, object] = {}
    for record in sorted(records, key=lambda r: (r.id, r.history_date, r.history_id)):
        model = record.instance_type
        tracked = [f for f in model._meta.concrete_fields if f.name not in SKIPPED_FIELDS]
        previous = previous_by_object.get(record.id)
        changes = []
        if record.history_type == "~" and previous is not None:
            for model_field in tracked:
                old, new = _display(previous, model_field), _display(record, model_field)
                if old != new:
                    changes.append(Change(str(model_field.verbose_name), old, new))
        elif record.history_type == "+":
            changes = [Change(str(f.verbose_name), "—", _display(record, f)) for f in tracked
                       if _display(record, f) != "—"]
        actor, reason = _split_reason(record.history_change_reason)
        user = record.history_user
        who = user.get_username() if user is not None else (actor or SYSTEM)
        rows.append(AuditRow(when=record.history_date, who=who, what=label(record),
                             action=ACTIONS.get(record.history_type, record.history_type),
                             changes=changes, reason=reason))
        previous_by_object[record.id] = record
    return rows


def audit_trail_for_patient(patient) -> list[AuditRow]:
    """Everything that changed the patient, their waitlist entries and their offers (and
    the slots they were booked into), newest first."""
    from offers.models import Offer, Slot
    from waitlist.models import WaitlistEntry

    entry_ids = list(
        WaitlistEntry.history.filter(patient_id=patient.pk).values_list("id", flat=True).distinct()
    )
    slot_ids = list(
        Slot.history.filter(filled_entry_id__in=entry_ids).values_list("id", flat=True).distinct()
    )
    sources = [
        (patient.history.select_related("history_user"), lambda r: "Patient"),
        (WaitlistEntry.history.filter(id__in=entry_ids).select_related("history_user"),
         lambda r: f"Waitlist entry #{r.id}"),
        (Offer.history.filter(patient_id=patient.pk).select_related("history_user"),
         lambda r: f"Offer #{r.id} (slot #{r.slot_id})"),
        (Slot.history.filter(id__in=slot_ids).select_related("history_user"),
         lambda r: f"Slot #{r.id}"),
    ]
    rows = []
    for records, label in sources:
        rows.extend(_rows_for(list(records), label))
    rows.sort(key=lambda row: row.when, reverse=True)
    return rows
