import datetime as dt

import pytest
from django.utils import timezone

from clinic.tests.factories import (
    AppointmentTypeFactory,
    LocationFactory,
    PatientFactory,
    ProviderFactory,
)
from waitlist.models import WaitlistEntry
from waitlist.selectors import entries_matching
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def start():
    return (timezone.localtime() + dt.timedelta(days=5)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )


def matching(provider, start, minutes=20, **kwargs):
    return set(
        entries_matching(
            provider=provider, start=start, end=start + dt.timedelta(minutes=minutes), **kwargs
        ).values_list("pk", flat=True)
    )


def test_entry_matches_one_of_its_providers_or_any_provider(start):
    dr_a, dr_b = ProviderFactory(), ProviderFactory()
    wants_a = WaitlistEntryFactory(providers=[dr_a])
    wants_b = WaitlistEntryFactory(providers=[dr_b])
    wants_either = WaitlistEntryFactory(providers=[dr_a, dr_b])
    anyone = WaitlistEntryFactory(any_provider=True)
    assert matching(dr_a, start) == {wants_a.pk, wants_either.pk, anyone.pk}
    assert wants_b.pk not in matching(dr_a, start)


def test_location_narrows_only_when_the_entry_names_one(start):
    north, south = LocationFactory(name="North"), LocationFactory(name="South")
    provider = ProviderFactory(location=north)
    no_preference = WaitlistEntryFactory()
    north_only = WaitlistEntryFactory(location=north)
    south_only = WaitlistEntryFactory(location=south)
    assert matching(provider, start) == {no_preference.pk, north_only.pk}
    # The slot's own location wins over the provider's usual one.
    assert matching(provider, start, location=south) == {no_preference.pk, south_only.pk}


def test_appointment_type_must_fit(start):
    follow_up = AppointmentTypeFactory(code="follow-up", duration_minutes=20)
    new_patient = AppointmentTypeFactory(code="new-patient", name="New", duration_minutes=40)
    provider = ProviderFactory()
    untyped = WaitlistEntryFactory()
    wants_follow_up = WaitlistEntryFactory(appointment_type=follow_up)
    wants_new = WaitlistEntryFactory(appointment_type=new_patient)
    assert matching(provider, start, appointment_type=follow_up) == {untyped.pk,
                                                                      wants_follow_up.pk}
    # A slot of no stated type takes entries whose visit fits its length.
    assert matching(provider, start, minutes=20) == {untyped.pk, wants_follow_up.pk}
    assert matching(provider, start, minutes=45) == {untyped.pk, wants_follow_up.pk,
                                                     wants_new.pk}


def test_slot_date_must_lie_in_the_entry_window(start):
    provider = ProviderFactory()
    day = start.date()
    inside = WaitlistEntryFactory(earliest_date=day, latest_date=day)
    too_late = WaitlistEntryFactory(latest_date=day - dt.timedelta(days=1))
    too_early = WaitlistEntryFactory(earliest_date=day + dt.timedelta(days=1))
    open_ended = WaitlistEntryFactory(earliest_date=day - dt.timedelta(days=3))
    found = matching(provider, start)
    assert found == {inside.pk, open_ended.pk}
    assert too_late.pk not in found
    assert too_early.pk not in found


def test_only_earlier_than_the_current_appointment(start):
    provider = ProviderFactory()
    later = WaitlistEntryFactory(current_appointment_at=start + dt.timedelta(days=30))
    sooner = WaitlistEntryFactory(current_appointment_at=start - dt.timedelta(hours=1))
    same_time = WaitlistEntryFactory(current_appointment_at=start)
    assert matching(provider, start) == {later.pk}
    assert sooner.pk not in matching(provider, start)
    assert same_time.pk not in matching(provider, start)


def test_unreachable_patients_and_inactive_entries_never_match(start):
    provider = ProviderFactory()
    ok = WaitlistEntryFactory()
    WaitlistEntryFactory(patient=PatientFactory(sms_opted_out_at=timezone.now()))
    WaitlistEntryFactory(patient=PatientFactory(phone_invalid_at=timezone.now()))
    WaitlistEntryFactory(status=WaitlistEntry.Status.REMOVED)
    WaitlistEntryFactory(status=WaitlistEntry.Status.BOOKED)
    assert matching(provider, start) == {ok.pk}
