"""The invariants are read from the rows the product keeps, so they catch a real fault."""

import datetime as dt

import pytest
from django.utils import timezone

from fillsim.metrics import double_bookings, figures, lead_bucket, percentile, unanswered_yes
from messaging.models import Message
from offers.models import Offer, Slot
from offers.policy import settings_policy
from offers.tests.factories import OfferFactory, SlotFactory
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db


def _booked(slot, entry):
    OfferFactory(slot=slot, entry=entry, status=Offer.Status.ACCEPTED)
    Slot.objects.filter(pk=slot.pk).update(status=Slot.Status.FILLED, filled_via="sms",
                                           filled_entry=entry, closed_at=timezone.now())


def _slots():
    return list(Slot.objects.values("id", "start", "end", "status", "filled_via",
                                    "filled_entry__patient_id"))


def test_one_patient_booked_into_two_overlapping_slots_is_a_double_booking():
    entry = WaitlistEntryFactory()
    first = SlotFactory()
    second = SlotFactory(start=first.start + dt.timedelta(minutes=10),
                         end=first.end + dt.timedelta(minutes=10))
    _booked(first, entry)
    assert double_bookings(_slots()) == 0
    _booked(second, entry)
    assert double_bookings(_slots()) == 1


def test_a_slot_filled_by_text_for_someone_other_than_its_accepted_offer_is_a_double_booking():
    slot = SlotFactory()
    _booked(slot, WaitlistEntryFactory())
    Slot.objects.filter(pk=slot.pk).update(filled_entry=WaitlistEntryFactory())
    assert double_bookings(_slots()) == 1


def _inbound(phone, body="YES", kind="yes"):
    return Message.objects.create(direction=Message.Direction.IN, from_number=phone,
                                  to_number="+13125550000", body=body, kind=kind,
                                  status=Message.Status.RECEIVED)


def test_a_yes_without_an_answer_logged_with_it_is_unanswered():
    entry = WaitlistEntryFactory()
    phone = entry.patient.phone
    now = timezone.now()
    yes = _inbound(phone)
    Message.objects.filter(pk=yes.pk).update(created_at=now)
    assert unanswered_yes() == 1
    Message.objects.create(direction=Message.Direction.OUT, from_number="+13125550000",
                           to_number=phone, body="It's yours", kind="confirmation",
                           status=Message.Status.SENT, created_at=now)
    assert unanswered_yes() == 0


def test_figures_of_an_empty_run_are_null_where_nothing_was_measured():
    result = figures(start=timezone.now(), policy=settings_policy())
    assert result["slots"] == 0
    assert result["fill_rate"] is None
    assert result["fill_rate_by_lead"] == {"<4h": None, "4-24h": None, "1-3d": None, ">3d": None}
    assert result["median_minutes_to_fill"] is None
    assert result["texts_per_fill"] is None
    assert result["double_bookings"] == 0


def test_lead_buckets_and_percentiles():
    assert lead_bucket(dt.timedelta(hours=3, minutes=59)) == "<4h"
    assert lead_bucket(dt.timedelta(hours=4)) == "4-24h"
    assert lead_bucket(dt.timedelta(hours=30)) == "1-3d"
    assert lead_bucket(dt.timedelta(days=3)) == ">3d"
    assert percentile(list(range(1, 11)), 0.9) == 9
    assert percentile([], 0.9) is None
