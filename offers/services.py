"""The offer engine's writes. The signatures here are the engine's public API: views,
webhooks (through offers/replies.py), admin actions, the FHIR API and tasks call them.

Implemented by the offer engine issue (#3).
"""

import datetime as dt

from clinic.models import AppointmentType, Location, Provider
from offers.models import Offer, Slot


def slot_open(
    *,
    provider: Provider,
    start: dt.datetime,
    end: dt.datetime,
    appointment_type: AppointmentType | None = None,
    location: Location | None = None,
    source: str = Slot.Source.PORTAL,
    recorded_by=None,
    ehr_identifier_system: str = "",
    ehr_identifier_value: str = "",
) -> Slot:
    """Record a freed slot; the first batch of offers goes out after commit."""
    raise NotImplementedError


def slot_offer_next_batch(*, slot_id: int) -> list[Offer]:
    """Send the next batch if the current one is resolved (idempotent, race-safe)."""
    raise NotImplementedError


def slot_offer_more(*, slot: Slot, by) -> list[Offer]:
    """Staff: send another batch now, without waiting for the current holds."""
    raise NotImplementedError


def slot_withdraw(*, slot: Slot, by, reason: str = "") -> Slot:
    """Staff: the slot is no longer available; live offers are superseded."""
    raise NotImplementedError


def slot_mark_filled_by_phone(*, slot: Slot, by, entry=None, reason: str = "") -> Slot:
    """Staff filled the slot by phone (optionally from a waitlist entry); live offers end."""
    raise NotImplementedError


def offer_expire(*, offer_id: int) -> bool:
    """Expire one offer if its hold has passed; True if this call expired it."""
    raise NotImplementedError


def offers_expire_due() -> int:
    """The beat sweep: expire every offer whose hold has passed; returns how many."""
    raise NotImplementedError
