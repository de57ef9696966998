"""The offer policy seam (offers/policy.py): the engine sizes batches and holds through
it; by default it is the settings, and a policy put in force changes what the engine does."""

import datetime as dt

import pytest
from django.utils import timezone

from messaging.models import Message
from offers.models import Offer
from offers.policy import (
    UNTIL_LEAD_TIME,
    OfferPolicy,
    policy_for,
    policy_override,
    settings_policy,
)
from offers.tests.conftest import live, open_slot, waitlist

pytestmark = pytest.mark.django_db

TEN_EVERY_FIVE = OfferPolicy(name="ten", batch_size=10, max_batch_size=10, hold_seconds=300,
                             sweep_seconds=30, target_batches=3)


def test_the_default_policy_is_read_from_the_settings_at_every_call(settings, provider):
    settings.OFFER_BATCH_SIZE = 4
    settings.OFFER_HOLD_SECONDS = 600
    slot = open_slot(provider)
    policy = policy_for(slot=slot, at=timezone.now())
    assert policy == settings_policy()
    assert (policy.name, policy.batch_size, policy.hold_seconds) == ("current", 4, 600)
    assert policy.max_batch_size == settings.OFFER_MAX_BATCH_SIZE
    assert policy.sweep_seconds == settings.OFFER_SWEEP_SECONDS


def test_a_policy_in_force_sizes_the_batches_and_holds_the_engine_sends(provider, commit):
    waitlist(12)
    with policy_override(TEN_EVERY_FIVE), commit():
        slot = open_slot(provider)
    offers = live(slot)
    assert len(offers) == 10
    assert {o.hold_until - o.sent_at for o in offers} == {dt.timedelta(minutes=5)}
    # The text promises the hold the policy gives.
    assert all("5 min" in m.body for m in Message.objects.filter(kind="offer"))
    # Outside the block the settings are back.
    assert policy_for(slot=slot, at=timezone.now()) == settings_policy()


def test_a_hold_until_the_lead_time_ends_when_offering_must_stop(provider, commit, settings):
    settings.OFFER_MIN_LEAD_MINUTES = 60
    broadcast = OfferPolicy(name="all", batch_size=50, max_batch_size=50,
                            hold_seconds=UNTIL_LEAD_TIME, sweep_seconds=30, target_batches=1)
    waitlist(4)
    start = (timezone.now() + dt.timedelta(hours=5)).replace(microsecond=0)
    with policy_override(broadcast), commit():
        slot = open_slot(provider, start=start)
    offers = live(slot)
    assert len(offers) == 4  # everyone who fits, at once
    for offer in offers:
        assert abs(offer.hold_until - (start - dt.timedelta(minutes=60))) < dt.timedelta(seconds=2)


def test_overrides_change_the_batch_and_hold_and_keep_the_rest():
    policy = TEN_EVERY_FIVE.with_overrides(batch_size=12, hold_seconds=120)
    assert (policy.batch_size, policy.max_batch_size, policy.hold_seconds) == (12, 12, 120)
    assert policy.sweep_seconds == TEN_EVERY_FIVE.sweep_seconds
    assert TEN_EVERY_FIVE.with_overrides() == TEN_EVERY_FIVE


def test_a_short_slot_grows_the_batch_up_to_the_policy_maximum(provider, settings):
    settings.OFFER_MIN_LEAD_MINUTES = 60
    slot = open_slot(provider, start=timezone.now() + dt.timedelta(minutes=70))
    policy = OfferPolicy(name="p", batch_size=2, max_batch_size=5, hold_seconds=600,
                         sweep_seconds=30, target_batches=3)
    assert policy.batch_size_for(slot=slot, at=timezone.now()) == 5
    assert policy.batch_size_for(slot=slot, at=timezone.now() - dt.timedelta(days=1)) == 2


# --- The adaptive policy (OFFER_POLICY=adaptive) ---------------------

ADAPTIVE = OfferPolicy(name="adaptive", batch_size=3, max_batch_size=10, hold_seconds=420,
                       max_hold_seconds=1680, sweep_seconds=30, target_batches=3,
                       fill_confidence=0.9)


@pytest.mark.adaptive_policy
def test_the_default_policy_is_adaptive_and_a_setting_turns_it_back_to_fixed(provider, settings):
    slot = open_slot(provider)
    assert policy_for(slot=slot, at=timezone.now()).fill_confidence == settings.OFFER_FILL_CONFIDENCE
    settings.OFFER_POLICY = "fixed"
    assert policy_for(slot=slot, at=timezone.now()).fill_confidence is None


def test_far_ahead_one_patient_at_a_time_on_a_long_hold_near_the_slot_a_large_batch_on_a_short_one(
        provider, settings):
    settings.OFFER_MIN_LEAD_MINUTES = 60
    waitlist(12)
    now = timezone.now()
    far = open_slot(provider, start=now + dt.timedelta(days=2))
    near = open_slot(provider, start=now + dt.timedelta(hours=2), minutes=30)
    assert ADAPTIVE.hold_seconds_for(slot=far, at=now) == 1680
    assert ADAPTIVE.batch_size_for(slot=far, at=now) == 1
    hold = ADAPTIVE.hold_seconds_for(slot=near, at=now)
    assert 60 <= hold <= 20 * 60
    assert ADAPTIVE.batch_size_for(slot=near, at=now) == 10  # never beyond the maximum


def test_patients_who_answer_need_a_smaller_batch_than_patients_who_never_do(provider, settings):
    from offers.tests.factories import OfferFactory

    settings.OFFER_MIN_LEAD_MINUTES = 60
    entries = waitlist(20)
    now = timezone.now()
    slot = open_slot(provider, start=now + dt.timedelta(hours=3), minutes=30)
    unknown = ADAPTIVE.batch_size_for(slot=slot, at=now)
    for entry in entries:
        for hours in (30, 50):
            sent = now - dt.timedelta(hours=hours)
            OfferFactory(entry=entry, status=Offer.Status.ACCEPTED, sent_at=sent,
                         created_at=sent, responded_at=sent + dt.timedelta(minutes=2))
    assert ADAPTIVE.batch_size_for(slot=slot, at=now) < unknown


def test_a_sick_day_burst_gives_each_slot_its_share_of_the_free_patients(provider, settings):
    settings.OFFER_MIN_LEAD_MINUTES = 60
    waitlist(12)
    start = timezone.now() + dt.timedelta(hours=2)
    slots = [open_slot(provider, start=start + dt.timedelta(minutes=20 * i)) for i in range(6)]
    # Six slots of one provider's day offering at once over twelve patients: two each,
    # where one slot alone would text ten.
    assert ADAPTIVE.batch_size_for(slot=slots[0], at=timezone.now()) == 2


def test_a_rule_s_batch_size_wins_over_the_adaptive_sizing(provider, settings):
    from offers.models import OfferRule

    OfferRule.objects.create(provider=provider, batch_size=4)
    slot = open_slot(provider)
    policy = policy_for(slot=slot, at=timezone.now())
    assert policy.fill_confidence is None
    assert policy.batch_size_for(slot=slot, at=timezone.now()) == 4
