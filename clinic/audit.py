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
(a fallback for a path that did not say: a Bearer-authenticated request is its API key, a
request under /twilio/ the patient who texted); otherwise the system. The entry points
say who acts themselves (the SMS webhook, the FHIR API, the HL7 listener, the portal's
SMS simulator); code that knows better says so too:

    from clinic.audit import acting_as, actor_patient_sms

    with acting_as(actor_patient_sms(patient)):
        offer_claim(...)

Bulk writes (`QuerySet.update()`, `bulk_create`) bypass simple-history and therefore the
trail: services that change these models should save instances (or use
simple_history.utils.bulk_update_with_history). Reading a patient's trail back, across the
apps above this one, is the portal's (portal/audit.py).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from django.db.models.signals import pre_save
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


PATIENT_VOICE = "patient by phone call"
PATIENT_VOICE_SIMULATED = "patient by phone call (simulated)"


def actor_patient_voice(patient_or_phone, *, simulated: bool = False) -> str:
    """The patient who pressed a key on our call to this number."""
    phone = getattr(patient_or_phone, "phone", patient_or_phone) or ""
    return f"{PATIENT_VOICE_SIMULATED if simulated else PATIENT_VOICE}: {mask_phone(phone)}"


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


def split_reason(reason: str | None) -> tuple[str | None, str]:
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
    actor, reason = split_reason(instance.history_change_reason)
    if actor is not None:
        return
    actor = current_actor() or SYSTEM
    stamped = f"[{actor}] {reason}".strip()
    instance.history_change_reason = stamped[:REASON_MAX_LENGTH]


def connect() -> None:
    # pre_save of the historical rows: covers their creation and update_change_reason alike.
    pre_save.connect(_stamp_actor, dispatch_uid="clinic.audit.stamp_actor")


def save_with_reason(obj, reason: str, by=None, *, update_fields=None) -> None:
    """Save a tracked model with the reason its historical row records (and the staff
    user who did it, when a service knows better than the request). The one way services
    write an audited change: offers, waitlist, messaging and the EHR interfaces alike."""
    obj._change_reason = reason
    if by is not None:
        obj._history_user = by
    obj.save(update_fields=update_fields)
