"""Clinic rules: how slots of one provider, appointment type and location are offered
(docs/rules.md). Plain reads; the engine asks `rule_for(slot=...)` and acts on the answer.

A rule names a provider, an appointment type and a location, each of which may be blank
("all"). The rules that match a slot are ranked most specific first: more named fields
win, and among rules naming as many, provider beats appointment type beats location
(the provider is who the clinic plans around). A rule's blank settings fall back to the
global ones (the settings: OFFER_MIN_LEAD_MINUTES, SMS_SEND_HOURS, and the offer policy
for batch size and hold), so a slot no rule matches is offered exactly as before.

Times: a slot's location (its own, else its provider's) has a time zone; texting hours
are that zone's local time, and texts say the slot's time in it (TCPA quiet hours are
the recipient's local time). A rule's texting hours must lie within 8 am-9 pm.
"""

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, QuerySet

from clinic.models import Location
from offers.models import OfferRule, Slot

# TCPA: no marketing-style texts before 8 am or after 9 pm, recipient's local time.
QUIET_HOURS_END = dt.time(8, 0)
QUIET_HOURS_START = dt.time(21, 0)

Mode = OfferRule.BookingMode


@dataclass(frozen=True)
class SlotRule:
    """What applies to one slot: the matching rule (None: the defaults) with its blanks
    filled in from the settings."""

    rule: OfferRule | None
    offer_by_text: bool
    min_lead: dt.timedelta
    max_lead: dt.timedelta | None
    batch_size: int | None  # None: the offer policy chooses
    hold_seconds: int | None  # None: the offer policy chooses
    texting_hours: tuple[dt.time, dt.time | None]
    booking_mode: str
    zone: zoneinfo.ZoneInfo

    @property
    def label(self) -> str:
        return str(self.rule) if self.rule is not None else "Default (no rule)"

    def too_far_ahead(self, *, slot: Slot, at: dt.datetime) -> bool:
        return self.max_lead is not None and slot.start - at > self.max_lead

    def too_late(self, *, slot: Slot, at: dt.datetime) -> bool:
        return slot.start - at < self.min_lead

    def texting_open(self, at: dt.datetime) -> bool:
        start, end = self.texting_hours
        local = at.astimezone(self.zone).time()
        return start <= local and (end is None or local < end)


def _specificity(rule: OfferRule) -> tuple:
    named = (rule.provider_id is not None, rule.appointment_type_id is not None,
             rule.location_id is not None)
    # More named fields first; then provider > appointment type > location; then the
    # older rule (the Rules page refuses two rules for the same three).
    return (-sum(named), *(not n for n in named), rule.pk)


def rules_matching(*, provider_id, appointment_type_id, location_id) -> list[OfferRule]:
    """Every rule that matches these three, most specific first."""
    def field(name, value):
        return Q(**{f"{name}__isnull": True}) | (Q(**{name: value}) if value else Q(pk__in=[]))

    rules = OfferRule.objects.filter(field("provider", provider_id),
                                     field("appointment_type", appointment_type_id),
                                     field("location", location_id))
    return sorted(rules.select_related("provider", "appointment_type", "location"),
                  key=_specificity)


def slot_location(slot: Slot) -> Location | None:
    return slot.location or slot.provider.location


def zone_of(location: Location | None) -> zoneinfo.ZoneInfo:
    return location.zone if location is not None else zoneinfo.ZoneInfo(settings.TIME_ZONE)


def resolve(rule: OfferRule | None, *, location: Location | None) -> SlotRule:
    """`rule` (None: none matched) with its blanks filled in from the settings."""
    default_hours = settings.SMS_SEND_HOURS
    if rule is None:
        return SlotRule(rule=None, offer_by_text=True,
                        min_lead=dt.timedelta(minutes=settings.OFFER_MIN_LEAD_MINUTES),
                        max_lead=None, batch_size=None, hold_seconds=None,
                        texting_hours=default_hours, booking_mode=Mode.AUTOMATIC,
                        zone=zone_of(location))
    min_lead = (rule.min_lead_minutes if rule.min_lead_minutes is not None
                else settings.OFFER_MIN_LEAD_MINUTES)
    return SlotRule(
        rule=rule, offer_by_text=rule.offer_by_text,
        min_lead=dt.timedelta(minutes=min_lead),
        max_lead=(dt.timedelta(hours=rule.max_lead_hours)
                  if rule.max_lead_hours is not None else None),
        batch_size=rule.batch_size,
        hold_seconds=rule.hold_minutes * 60 if rule.hold_minutes else None,
        texting_hours=((rule.texting_from, rule.texting_until)
                       if rule.texting_from and rule.texting_until else default_hours),
        booking_mode=rule.booking_mode, zone=zone_of(location))


def rule_for_scope(*, provider, appointment_type=None, location=None) -> SlotRule:
    """The rule for a slot of this provider, type and location (the Rules page's
    preview). The location defaults to the provider's, as a slot's does."""
    location = location or getattr(provider, "location", None)
    matching = rules_matching(provider_id=getattr(provider, "pk", None),
                              appointment_type_id=getattr(appointment_type, "pk", None),
                              location_id=getattr(location, "pk", None))
    return resolve(matching[0] if matching else None, location=location)


def rule_for(*, slot: Slot) -> SlotRule:
    """The rule that applies to `slot`. Read once per slot instance (the engine loads
    the slot afresh in every transaction, so a rule edited meanwhile applies next time)."""
    cached = getattr(slot, "_offer_rule", None)
    if cached is None:
        cached = rule_for_scope(provider=slot.provider, appointment_type=slot.appointment_type,
                                location=slot_location(slot))
        slot._offer_rule = cached
    return cached


def local_start(slot: Slot) -> dt.datetime:
    """The slot's start in its location's time zone (texts render it as it is). No rule
    lookup: the zone is the location's alone (no query for a slot without one)."""
    return slot.start.astimezone(zone_of(slot_location(slot)))


def texting_hours_open(*, slot: Slot, at: dt.datetime) -> bool:
    return rule_for(slot=slot).texting_open(at)


def rules_list() -> QuerySet:
    return OfferRule.objects.select_related("provider", "appointment_type", "location")


def _audit(rule: OfferRule, reason: str, by) -> None:
    rule._change_reason = reason
    rule._history_user = by


def rule_save(*, rule: OfferRule, by) -> OfferRule:
    """Create or change a rule (validated by the Rules page's form), audited."""
    _audit(rule, "Rule changed" if rule.pk else "Rule added", by)
    rule.save()
    return rule


def rule_delete(*, rule: OfferRule, by) -> None:
    _audit(rule, "Rule deleted", by)
    rule.delete()


def rules_history(limit: int = 30) -> QuerySet:
    """The audit of rule changes, newest first (who, when, what)."""
    return (OfferRule.history.select_related("history_user", "provider", "appointment_type",
                                             "location").order_by("-history_date")[:limit])
