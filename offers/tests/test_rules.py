"""Clinic rules (offers/rules.py): which rule applies to a slot, and what the engine does
with it: not offered at all, lead times, batch size and hold, texting hours in the
location's time zone (across a daylight-saving change), staff picks."""

import datetime as dt
import itertools
import zoneinfo

import pytest
from django.utils import timezone

from clinic.tests.factories import AppointmentTypeFactory, LocationFactory, ProviderFactory
from messaging.models import Message
from offers import rules, services, staff_picks
from offers.models import Offer, OfferRule, Slot
from offers.policy import policy_for
from offers.tests.conftest import live, open_slot, slot_start, waitlist

pytestmark = pytest.mark.django_db

Mode = OfferRule.BookingMode


@pytest.fixture
def scope(db):
    location = LocationFactory(name="North")
    provider = ProviderFactory(name="Dr. Rule", location=location)
    visit = AppointmentTypeFactory(code="neuro-new", name="New neurology visit")
    return provider, visit, location


def _slot(provider, visit=None, location=None):
    start = slot_start()
    return Slot(provider=provider, appointment_type=visit, location=location, start=start,
                end=start + dt.timedelta(minutes=20))


def test_a_slot_no_rule_matches_gets_the_defaults(scope, settings):
    provider, visit, _ = scope
    applied = rules.rule_for(slot=_slot(provider, visit))
    assert applied.rule is None
    assert applied.label == "Default (no rule)"
    assert applied.offer_by_text
    assert applied.booking_mode == Mode.AUTOMATIC
    assert applied.min_lead == dt.timedelta(minutes=settings.OFFER_MIN_LEAD_MINUTES)
    assert applied.texting_hours == settings.SMS_SEND_HOURS


# Every pair of rules with different scopes: the more specific one wins; among rules
# naming as many fields, provider beats appointment type beats location.
SCOPES = [(p, t, loc) for p, t, loc in itertools.product((0, 1), repeat=3)]
EXPECTED_ORDER = sorted(SCOPES, key=lambda s: (-sum(s), not s[0], not s[1], not s[2]))


@pytest.mark.parametrize(("first", "second"), list(itertools.combinations(SCOPES, 2)))
def test_the_most_specific_matching_rule_applies(scope, first, second):
    provider, visit, location = scope

    def make(named):
        return OfferRule.objects.create(provider=provider if named[0] else None,
                                        appointment_type=visit if named[1] else None,
                                        location=location if named[2] else None)

    # Created in both orders: the order of creation never decides.
    for a, b in ((first, second), (second, first)):
        OfferRule.objects.all().delete()
        rule_a, rule_b = make(a), make(b)
        winner = rule_a if EXPECTED_ORDER.index(a) < EXPECTED_ORDER.index(b) else rule_b
        assert rules.rule_for(slot=_slot(provider, visit)).rule == winner


def test_a_rule_for_another_provider_type_or_location_does_not_apply(scope):
    provider, visit, location = scope
    other_type = AppointmentTypeFactory(code="other", name="Other")
    OfferRule.objects.create(provider=ProviderFactory(), offer_by_text=False)
    OfferRule.objects.create(appointment_type=other_type, offer_by_text=False)
    OfferRule.objects.create(location=LocationFactory(name="South"), offer_by_text=False)
    assert rules.rule_for(slot=_slot(provider, visit)).rule is None
    # A rule naming a type never matches a slot of no type.
    OfferRule.objects.create(appointment_type=visit, offer_by_text=False)
    assert rules.rule_for(slot=_slot(provider, None)).rule is None
    assert rules.rule_for(slot=_slot(provider, visit)).offer_by_text is False


def test_the_slot_s_own_location_comes_before_its_provider_s(scope):
    provider, visit, location = scope
    south = LocationFactory(name="South")
    rule = OfferRule.objects.create(location=south, booking_mode=Mode.APPROVAL)
    assert rules.rule_for(slot=_slot(provider, visit)).rule is None
    assert rules.rule_for(slot=_slot(provider, visit, south)).rule == rule


def test_a_visit_type_never_offered_closes_unfilled_saying_so(scope, commit):
    provider, visit, _ = scope
    waitlist(3)
    OfferRule.objects.create(appointment_type=visit, offer_by_text=False)
    with commit():
        slot = open_slot(provider, appointment_type=visit)
    slot.refresh_from_db()
    assert slot.status == Slot.Status.UNFILLED
    assert slot.unfilled_reason == Slot.UnfilledReason.NOT_OFFERED
    assert not Offer.objects.exists()
    assert not Message.objects.exists()


def test_a_minimum_lead_time_of_72_hours_keeps_a_slot_in_two_days_from_text(scope, commit):
    provider, visit, _ = scope
    waitlist(3)
    OfferRule.objects.create(provider=provider, min_lead_minutes=72 * 60)
    with commit():
        slot = open_slot(provider, start=slot_start(days=2))
    slot.refresh_from_db()
    assert slot.unfilled_reason == Slot.UnfilledReason.TOO_SOON
    with commit():
        later = open_slot(provider, start=slot_start(days=5))
    assert len(live(later)) == 3


def test_a_slot_beyond_the_maximum_lead_time_waits_then_is_offered(scope, commit):
    provider, visit, _ = scope
    waitlist(3)
    OfferRule.objects.create(provider=provider, max_lead_hours=24)
    with commit():
        slot = open_slot(provider, start=slot_start(days=3))
    slot.refresh_from_db()
    assert slot.waiting_for == Slot.WaitingFor.LEAD_TIME
    assert live(slot) == []
    # A day later the sweep finds it within its lead time.
    Slot.objects.filter(pk=slot.pk).update(start=timezone.now() + dt.timedelta(hours=20),
                                           end=timezone.now() + dt.timedelta(hours=21))
    with commit():
        services.slots_resume()
    assert len(live(slot)) == 3


def test_a_rule_s_batch_size_and_hold_are_the_slot_s_policy(scope, commit, settings):
    provider, visit, _ = scope
    waitlist(6)
    rule = OfferRule.objects.create(provider=provider, batch_size=1, hold_minutes=30)
    with commit():
        slot = open_slot(provider)
    offers = live(slot)
    assert len(offers) == 1
    offer = Offer.objects.get(pk=offers[0].pk)
    assert offer.hold_until - offer.sent_at == dt.timedelta(minutes=30)
    policy = policy_for(slot=slot, at=timezone.now())
    assert policy.name == f"rule {rule.pk}"
    assert policy.batch_size == 1
    # Blank: the policy chooses (the settings).
    rule.batch_size = rule.hold_minutes = None
    rule.save()
    fresh = Slot.objects.get(pk=slot.pk)
    assert policy_for(slot=fresh, at=timezone.now()).batch_size == settings.OFFER_BATCH_SIZE


NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


@pytest.mark.parametrize(("local", "open_"), [
    # The Saturday before the spring change (EST, UTC-5) and the Monday after (EDT, UTC-4):
    # 12:30 UTC is 7:30 am, then 8:30 am, in New York.
    (dt.datetime(2026, 3, 7, 7, 30, tzinfo=NEW_YORK), False),
    (dt.datetime(2026, 3, 9, 8, 30, tzinfo=NEW_YORK), True),
    # The day itself, after the change at 2 am.
    (dt.datetime(2026, 3, 8, 7, 59, tzinfo=NEW_YORK), False),
    (dt.datetime(2026, 3, 8, 8, 0, tzinfo=NEW_YORK), True),
    (dt.datetime(2026, 3, 8, 20, 59, tzinfo=NEW_YORK), True),
    (dt.datetime(2026, 3, 8, 21, 0, tzinfo=NEW_YORK), False),
    # The autumn change: 8:00 am EST on Nov 1 is 13:00 UTC, which was 9:00 am the day before.
    (dt.datetime(2026, 11, 1, 7, 59, tzinfo=NEW_YORK), False),
    (dt.datetime(2026, 11, 1, 8, 0, tzinfo=NEW_YORK), True),
])
def test_texting_hours_are_the_location_s_local_time_across_daylight_saving(
        scope, settings, local, open_):
    settings.TIME_ZONE = settings.CLINIC_TIME_ZONE = "America/Chicago"
    provider, visit, location = scope
    location.time_zone = "America/New_York"
    location.save()
    # One rule for every location: the same hours, each location's own clock.
    OfferRule.objects.create(texting_from=dt.time(8, 0), texting_until=dt.time(21, 0))
    slot = _slot(provider, visit)
    at = local.astimezone(dt.UTC)
    assert services.sms_hours_open(at, slot=slot) is open_
    # A Chicago location an hour behind is still closed an hour longer in the morning.
    chicago = Slot(provider=ProviderFactory(location=LocationFactory(name="West",
                                                                     time_zone="America/Chicago")),
                   start=slot.start, end=slot.end)
    if local.hour == 8 and local.minute == 0:
        assert services.sms_hours_open(at, slot=chicago) is False


def test_the_default_texting_hours_follow_the_location_s_zone_too(scope, settings):
    settings.TIME_ZONE = settings.CLINIC_TIME_ZONE = "America/Chicago"
    settings.SMS_SEND_HOURS = (dt.time(8, 0), dt.time(20, 0))
    provider, visit, location = scope
    location.time_zone = "America/Los_Angeles"
    location.save()
    at = dt.datetime(2026, 6, 2, 9, 0, tzinfo=zoneinfo.ZoneInfo("America/Chicago"))
    # 9 am in Chicago is 7 am in Los Angeles: not yet.
    assert services.sms_hours_open(at) is True
    assert services.sms_hours_open(at, slot=_slot(provider, visit)) is False


def test_texts_say_the_time_in_the_location_s_zone(scope, commit, settings):
    settings.TIME_ZONE = settings.CLINIC_TIME_ZONE = "America/Chicago"
    provider, visit, location = scope
    location.time_zone = "America/New_York"
    location.save()
    waitlist(1)
    start = (timezone.localtime() + dt.timedelta(days=2)).replace(hour=10, minute=0,
                                                                  second=0, microsecond=0)
    with commit():
        open_slot(provider, start=start)
    body = Message.objects.get(kind="offer").body
    assert "11:00 AM" in body  # 10 am in Chicago is 11 am in New York


def test_staff_picks_wait_for_staff_then_text_only_those_ticked(scope, commit,
                                                                 front_desk_user):
    provider, visit, _ = scope
    entries = waitlist(5)
    OfferRule.objects.create(provider=provider, booking_mode=Mode.STAFF_PICKS)
    with commit():
        slot = open_slot(provider)
    slot.refresh_from_db()
    assert slot.waiting_for == Slot.WaitingFor.STAFF_PICKS
    assert live(slot) == []
    ranked = staff_picks.slot_ranked_candidates(slot=slot)
    assert [e.pk for e in ranked] == [e.pk for e in entries]  # best first
    with commit():
        picked = staff_picks.slot_offer_picked(slot=slot, entry_ids=[entries[3].pk,
                                                                     entries[1].pk],
                                               by=front_desk_user)
    assert sorted(o.entry_id for o in picked) == sorted([entries[3].pk, entries[1].pk])
    assert Message.objects.filter(kind="offer").count() == 2
    slot.refresh_from_db()
    assert slot.history.first().history_user == front_desk_user
    # Both decline: the slot waits for staff again instead of texting the rest.
    for offer in picked:
        with commit():
            services.offer_decline(patient=offer.patient)
    slot.refresh_from_db()
    assert slot.waiting_for == Slot.WaitingFor.STAFF_PICKS
    assert Message.objects.filter(kind="offer").count() == 2


def test_staff_must_tick_someone(scope, commit, front_desk_user):
    from django.core.exceptions import ValidationError

    provider, visit, _ = scope
    waitlist(2)
    OfferRule.objects.create(provider=provider, booking_mode=Mode.STAFF_PICKS)
    with commit():
        slot = open_slot(provider)
    with pytest.raises(ValidationError, match="Tick at least one"):
        staff_picks.slot_offer_picked(slot=slot, entry_ids=[], by=front_desk_user)


def test_a_slot_not_offered_by_rule_stays_closed_when_someone_joins_or_staff_ask(
        scope, commit, front_desk_user):
    from django.core.exceptions import ValidationError

    provider, visit, _ = scope
    OfferRule.objects.create(appointment_type=visit, offer_by_text=False)
    with commit():
        slot = open_slot(provider, appointment_type=visit)
    with commit():
        (entry,) = waitlist(1)
        services.slots_offer_for_patients(patient_ids=[entry.patient_id], reopen=True)
    slot.refresh_from_db()
    assert slot.unfilled_reason == Slot.UnfilledReason.NOT_OFFERED
    with pytest.raises(ValidationError, match="says not to offer it by text"):
        services.slot_offer_more(slot=slot, by=front_desk_user)
    assert not Offer.objects.exists()
