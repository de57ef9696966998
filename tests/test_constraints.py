"""The database itself refuses the worst bugs, whatever the Python code does."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from clinic.models import Patient
from clinic.tests.factories import PatientFactory
from offers.models import Offer
from offers.tests.factories import OfferFactory, SlotFactory
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db


def test_a_second_accepted_offer_for_a_slot_fails_at_the_database():
    slot = SlotFactory()
    OfferFactory(slot=slot, status=Offer.Status.ACCEPTED)
    second = OfferFactory(slot=slot, status=Offer.Status.DECLINED)
    with pytest.raises(IntegrityError), transaction.atomic():
        Offer.objects.filter(pk=second.pk).update(status=Offer.Status.ACCEPTED)


def test_a_patient_cannot_hold_two_live_offers():
    entry = WaitlistEntryFactory()
    OfferFactory(entry=entry, status=Offer.Status.SENT)
    with pytest.raises(IntegrityError), transaction.atomic():
        OfferFactory(entry=entry, status=Offer.Status.PENDING)


def test_a_patient_may_have_many_finished_offers():
    entry = WaitlistEntryFactory()
    for status in (Offer.Status.DECLINED, Offer.Status.EXPIRED, Offer.Status.SUPERSEDED):
        OfferFactory(entry=entry, status=status)
    OfferFactory(entry=entry, status=Offer.Status.SENT)
    assert Offer.objects.filter(patient=entry.patient).count() == 4


def test_the_same_slot_is_not_offered_twice_to_one_entry():
    offer = OfferFactory(status=Offer.Status.DECLINED)
    with pytest.raises(IntegrityError), transaction.atomic():
        OfferFactory(slot=offer.slot, entry=offer.entry, status=Offer.Status.SENT)


@pytest.mark.parametrize("boost", [-1, 41])
def test_boost_outside_0_to_40_fails_at_the_database(boost):
    entry = WaitlistEntryFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        type(entry).objects.filter(pk=entry.pk).update(boost=boost)


def test_latest_date_before_earliest_fails_at_the_database():
    with pytest.raises(IntegrityError), transaction.atomic():
        WaitlistEntryFactory(earliest_date=dt.date(2027, 3, 1), latest_date=dt.date(2027, 2, 1))


def test_slot_must_end_after_it_starts():
    slot = SlotFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        type(slot).objects.filter(pk=slot.pk).update(end=slot.start)


def test_a_filled_slot_says_how_it_was_filled():
    slot = SlotFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        type(slot).objects.filter(pk=slot.pk).update(status="filled")


def test_patient_phone_is_unique():
    PatientFactory(phone="+13125550142")
    with pytest.raises(IntegrityError), transaction.atomic():
        PatientFactory(phone="+13125550142")


@pytest.mark.parametrize(
    "phone", ["3125550142", "+1 312 555 0142", "+1-312-555-0142", "+01312555014", "+1312",
              "+1312555014200009", "+1312555014x"],
)
def test_patient_phone_must_be_e164(phone):
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.create(first_name="A", phone=phone)


def test_patient_phone_in_e164_is_accepted_by_the_database():
    Patient.objects.create(first_name="A", phone="+13125550142")
    Patient.objects.create(first_name="B", phone="+442071838750")
    assert Patient.objects.count() == 2
