"""The adaptive policy (OFFER_POLICY=adaptive) through the engine: what is texted and
for how long, days ahead and close to the slot."""

import datetime as dt

import pytest
from django.utils import timezone

from messaging.models import Message
from offers.tests.conftest import live, open_slot, waitlist

pytestmark = [pytest.mark.django_db, pytest.mark.adaptive_policy]


def test_days_ahead_one_patient_is_texted_at_a_time_with_a_long_hold(provider, commit, settings):
    waitlist(8)
    with commit():
        slot = open_slot(provider, start=timezone.now() + dt.timedelta(days=3))
    (offer,) = live(slot)
    assert offer.hold_until - offer.sent_at == dt.timedelta(seconds=settings.OFFER_MAX_HOLD_SECONDS)
    assert f"{settings.OFFER_MAX_HOLD_SECONDS // 60} min" in Message.objects.get(kind="offer").body


def test_near_the_slot_a_larger_batch_on_a_shorter_hold(provider, commit, settings):
    settings.OFFER_MIN_LEAD_MINUTES = 60
    waitlist(8)
    with commit():
        slot = open_slot(provider, start=timezone.now() + dt.timedelta(minutes=100))
    offers = live(slot)
    assert 3 < len(offers) <= settings.OFFER_MAX_BATCH_SIZE
    hold = offers[0].hold_until - offers[0].sent_at
    # Forty minutes left before offering stops: three holds of about thirteen.
    assert dt.timedelta(minutes=1) <= hold <= dt.timedelta(minutes=14)
    assert hold < dt.timedelta(seconds=settings.OFFER_MAX_HOLD_SECONDS)
