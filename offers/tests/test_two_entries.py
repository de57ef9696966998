"""Two entries of one patient are two wanted appointments (two visits): each is offered and
booked on its own, booking one leaves the other waiting, and nobody is offered or booked
into a slot overlapping one they are booked into. Every path follows it. (Issue 11,
item 4.)"""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from clinic.tests.factories import AppointmentTypeFactory, ProviderFactory
from offers import services
from offers.models import Offer, Slot
from offers.tests.conftest import live, open_slot, slot_start
from waitlist.models import WaitlistEntry
from waitlist.tests.factories import WaitlistEntryFactory

# One patient is offered several slots within minutes here (conftest.fatigue_caps_off).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fatigue_caps_off")]


@pytest.fixture
def two_visits(db):
    """One patient waiting for a check-up with anyone and a scan with anyone."""
    checkup = AppointmentTypeFactory(code="checkup", duration_minutes=20)
    scan = AppointmentTypeFactory(code="scan", duration_minutes=20)
    first = WaitlistEntryFactory(appointment_type=checkup, boost=20)
    second = WaitlistEntryFactory(patient=first.patient, appointment_type=scan, boost=20)
    return first, second


def test_booking_one_of_two_entries_leaves_the_other_waiting_for_its_own_visit(
        commit, two_visits):
    checkup_entry, scan_entry = two_visits
    provider = ProviderFactory()
    with commit():
        checkup = open_slot(provider, start=slot_start(days=2, hour=9),
                            appointment_type=checkup_entry.appointment_type)
    with commit():
        services.offer_claim(patient=checkup_entry.patient)
    with commit():
        scan = open_slot(provider, start=slot_start(days=3, hour=9),
                         appointment_type=scan_entry.appointment_type)

    assert WaitlistEntry.objects.get(pk=checkup_entry.pk).status == "booked"
    assert WaitlistEntry.objects.get(pk=scan_entry.pk).status == "active"
    [offer] = live(scan)
    assert offer.entry_id == scan_entry.pk
    checkup.refresh_from_db()
    assert checkup.filled_entry_id == checkup_entry.pk


def test_a_patient_is_never_offered_a_slot_overlapping_one_they_are_booked_into(
        commit, two_visits):
    checkup_entry, scan_entry = two_visits
    with commit():
        open_slot(ProviderFactory(), start=slot_start(days=2, hour=9),
                  appointment_type=checkup_entry.appointment_type)
    with commit():
        services.offer_claim(patient=checkup_entry.patient)

    # Another provider's scan ten minutes later, while the check-up still runs.
    with commit():
        overlapping = open_slot(ProviderFactory(),
                                start=slot_start(days=2, hour=9) + dt.timedelta(minutes=10),
                                appointment_type=scan_entry.appointment_type)

    overlapping.refresh_from_db()
    assert not overlapping.offers.exists()
    assert overlapping.status == Slot.Status.UNFILLED


def test_booking_by_phone_ends_the_patients_offer_for_an_overlapping_slot_of_their_other_entry(
        commit, two_visits, front_desk_user):
    checkup_entry, scan_entry = two_visits
    start = slot_start(days=2, hour=9)
    with commit():
        scan = open_slot(ProviderFactory(), start=start,
                         appointment_type=scan_entry.appointment_type)
        checkup = open_slot(ProviderFactory(), start=start + dt.timedelta(minutes=5),
                            appointment_type=checkup_entry.appointment_type)
    [held] = live(scan)
    assert held.entry_id == scan_entry.pk

    with commit():
        services.slot_mark_filled_by_phone(slot=checkup, by=front_desk_user,
                                           entry=checkup_entry)

    # Before: the scan offer stayed live and its YES booked the same patient twice at
    # once. Now it ends (their scan entry still waits, so they stay on the list).
    held.refresh_from_db()
    assert held.status == Offer.Status.SUPERSEDED
    with commit():
        result = services.offer_claim(patient=checkup_entry.patient)
    assert result.outcome != services.Outcome.BOOKED
    assert Slot.objects.filter(status="filled").count() == 1
    assert WaitlistEntry.objects.get(pk=scan_entry.pk).status == "active"


def test_booking_by_phone_accepts_the_patients_own_offer_whichever_entry_it_came_through(
        commit, front_desk_user):
    provider = ProviderFactory()
    any_visit = WaitlistEntryFactory(boost=30)
    other_visit = WaitlistEntryFactory(patient=any_visit.patient,
                                       appointment_type=AppointmentTypeFactory())
    with commit():
        slot = open_slot(provider)
    [mine] = [o for o in live(slot) if o.patient_id == any_visit.patient_id]
    assert mine.entry_id == any_visit.pk

    # Staff booked the patient for their other visit on the phone.
    with commit():
        services.slot_mark_filled_by_phone(slot=slot, by=front_desk_user, entry=other_visit)

    mine.refresh_from_db()
    assert mine.status == Offer.Status.ACCEPTED
    slot.refresh_from_db()
    assert slot.filled_entry_id == other_visit.pk
    assert WaitlistEntry.objects.get(pk=other_visit.pk).status == "booked"
    assert WaitlistEntry.objects.get(pk=any_visit.pk).status == "active"


def test_booking_by_phone_into_a_time_the_patient_is_booked_at_is_refused(
        commit, two_visits, front_desk_user):
    checkup_entry, scan_entry = two_visits
    start = slot_start(days=2, hour=9)
    with commit():
        open_slot(ProviderFactory(), start=start,
                  appointment_type=checkup_entry.appointment_type)
    with commit():
        services.offer_claim(patient=checkup_entry.patient)
    other = open_slot(ProviderFactory(), start=start)

    with pytest.raises(ValidationError, match="overlapping"):
        services.slot_mark_filled_by_phone(slot=other, by=front_desk_user, entry=scan_entry)


def test_an_offer_for_a_family_member_sharing_the_phone_greets_them(commit):
    from messaging.models import Message

    entry = WaitlistEntryFactory(for_name="Leo Lopez",
                                 patient__first_name="Ana", patient__last_name="Lopez")
    with commit():
        slot = open_slot(ProviderFactory())
    [offer] = live(slot)
    text = Message.objects.get(offer=offer, kind="offer").body
    # A first name only: the phone's owner may read it; nothing else about the visit.
    assert "Hi Leo," in text
    assert "Lopez" not in text
    from messaging.services import inbound_handle

    with commit():
        answer = inbound_handle(from_number=entry.patient.phone, to_number="+13125550100",
                                body="YES", sid="SM-leo")
    assert "You're booked, Leo!" in answer
