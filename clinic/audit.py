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
from collections import defaultdict
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


PATIENT_SMS = "patient by SMS"
PATIENT_SMS_SIMULATED = "patient by SMS (simulated)"


def actor_patient_sms(patient_or_phone, *, simulated: bool = False) -> str:
    """The patient who texted from this number: "patient by SMS: +1******0142". A reply
    typed into the portal's SMS simulator is the patient's too, marked as simulated."""
    phone = getattr(patient_or_phone, "phone", patient_or_phone) or ""
    return f"{PATIENT_SMS_SIMULATED if simulated else PATIENT_SMS}: {mask_phone(phone)}"


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Every audited change inside the block is recorded as made by `actor`
    (use actor_api_key / actor_patient_sms / SYSTEM, or a short label of your own), even
    inside a staff user's request: the SMS simulator's replies are the patient's, not
    those of the staff member at the keyboard."""
    from simple_history.models import HistoricalRecords

    token = _actor.set(actor)
    # simple-history would take history_user from the signed-in request: hide the
    # request from it for the block (current_actor() reads the explicit actor first).
    context = HistoricalRecords.context
    request = getattr(context, "request", None)
    if request is not None:
        del context.request
    try:
        yield
    finally:
        _actor.reset(token)
        if request is not None:
            context.request = request


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
        from offers.models import Slot
        from waitlist.models import WaitlistEntry

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
        actor, reason = _split_reason(record.history_change_reason)
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
        if kind in (PATIENT_SMS, PATIENT_SMS_SIMULATED) and number == own:
            return f"{patient} (patient), {kind.removeprefix('patient ')}"
        return actor
    return who


def audit_trail_for_patient(patient) -> list[AuditRow]:
    """Everything that changed the patient, their waitlist entries and their offers (and
    the slots they were booked into), newest first. Related rows are named (provider,
    slot, staff user), never shown as bare ids."""
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
