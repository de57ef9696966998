import datetime as dt

import pytest
from django.utils import timezone
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle

from clinic.tests.factories import PatientFactory, ProviderFactory
from ehr.tests.payloads import NPI, URL, get
from offers.models import Slot
from offers.tests.factories import SlotFactory
from waitlist.models import WaitlistEntry
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db


def filled_slot(*, first_name="Ana", via=Slot.FilledVia.SMS, **kwargs):
    entry = WaitlistEntryFactory(patient=PatientFactory(first_name=first_name),
                                 status=WaitlistEntry.Status.BOOKED)
    return SlotFactory(status=Slot.Status.FILLED, filled_via=via, filled_entry=entry,
                       closed_at=timezone.now(), **kwargs)


def test_booked_search_returns_filled_slots_with_patient_and_provider(client, key):
    provider = ProviderFactory(name="Dr. Maria Chen", identifier_system=NPI,
                               identifier_value="1234567893")
    slot = filled_slot(provider=provider, ehr_identifier_system="urn:ehr",
                       ehr_identifier_value="APT-9")
    SlotFactory()  # still offering: not booked
    SlotFactory(status=Slot.Status.WITHDRAWN)

    response = get(client, key, status="booked")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json"
    bundle = response.json()
    Bundle.model_validate(bundle)  # a valid FHIR R4 Bundle
    assert (bundle["type"], bundle["total"]) == ("searchset", 1)
    entry = bundle["entry"][0]
    assert entry["fullUrl"].endswith(f"{URL}/slot-{slot.pk}")
    resource = entry["resource"]
    Appointment.model_validate(resource)
    assert resource["status"] == "booked"
    assert resource["identifier"] == [{"system": "urn:ehr", "value": "APT-9"}]
    assert dt.datetime.fromisoformat(resource["start"]) == slot.start
    assert dt.datetime.fromisoformat(resource["end"]) == slot.end
    patient = slot.filled_entry.patient
    assert resource["contained"][0]["resourceType"] == "Patient"
    assert resource["contained"][0]["telecom"][0]["value"] == patient.phone
    assert resource["contained"][0]["name"][0]["given"] == ["Ana"]
    actors = [p["actor"] for p in resource["participant"]]
    assert {"reference": "#patient", "display": patient.full_name} in actors
    assert {"display": "Dr. Maria Chen",
            "identifier": {"system": NPI, "value": "1234567893"}} in actors


def test_last_updated_narrows_the_search(client, key):
    old = filled_slot(first_name="Old")
    Slot.objects.filter(pk=old.pk).update(updated_at=timezone.now() - dt.timedelta(days=3))
    new = filled_slot(first_name="New")
    since = (timezone.now() - dt.timedelta(days=1)).isoformat()

    response = get(client, key, status="booked", _lastUpdated=f"gt{since}")

    ids = [e["resource"]["id"] for e in response.json()["entry"]]
    assert ids == [f"slot-{new.pk}"]


def test_the_search_is_paginated_with_next_links(client, key):
    slots = [filled_slot(first_name=f"P{i}") for i in range(5)]

    seen = []
    response = get(client, key, status="booked", _count="2")
    pages = 0
    while True:
        bundle = response.json()
        assert bundle["total"] == 5
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        pages += 1
        next_links = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not next_links:
            break
        path, _, query = next_links[0].partition("?")
        response = client.get(f"{URL}?{query}", headers={"Authorization": f"Bearer {key}"})
    assert pages == 3
    assert seen == [f"slot-{slot.pk}" for slot in slots]


def test_get_by_id_returns_a_booked_slot(client, key):
    slot = filled_slot()

    response = get(client, key, f"{URL}/slot-{slot.pk}")

    assert response.status_code == 200
    assert response.json()["status"] == "booked"
    assert response.json()["supportingInformation"][0]["reference"] == (
        f"Appointment/waitlist-{slot.filled_entry_id}")


@pytest.mark.parametrize("params", [
    {}, {"status": "waitlist"}, {"status": "booked", "_lastUpdated": "lt2030-01-01"},
    {"status": "booked", "_lastUpdated": "gtyesterday"}, {"status": "booked", "_count": "0"},
    {"status": "booked", "_count": "abc"}, {"status": "booked", "page": "-1"},
    {"status": "booked", "_lastUpdated": "gt2030-13-45T99:00:00Z"},
])
def test_unsupported_searches_are_400(client, key, params):
    response = get(client, key, **params)

    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_last_updated_with_a_date_means_after_that_whole_day(client, key):
    day = timezone.localdate() - dt.timedelta(days=5)
    noon = timezone.make_aware(dt.datetime.combine(day, dt.time(12)))
    during, next_midnight = filled_slot(first_name="During"), filled_slot(first_name="After")
    Slot.objects.filter(pk=during.pk).update(updated_at=noon)
    Slot.objects.filter(pk=next_midnight.pk).update(updated_at=timezone.make_aware(
        dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min)))

    response = get(client, key, status="booked", _lastUpdated=f"gt{day.isoformat()}")

    assert [e["resource"]["id"] for e in response.json()["entry"]] == [f"slot-{next_midnight.pk}"]


def test_polling_from_the_largest_last_updated_seen_never_repeats_a_slot(client, key):
    second = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=1)
    first, later = filled_slot(first_name="First"), filled_slot(first_name="Later")
    # Two changes within the same second: a cursor cut to whole seconds would lose them.
    Slot.objects.filter(pk=first.pk).update(updated_at=second.replace(microsecond=100))
    Slot.objects.filter(pk=later.pk).update(updated_at=second.replace(microsecond=900))

    def poll(cursor):
        response = get(client, key, status="booked", _lastUpdated=f"gt{cursor}")
        return [e["resource"] for e in response.json()["entry"]]

    everything = poll((second - dt.timedelta(seconds=1)).isoformat())
    assert [r["id"] for r in everything] == [f"slot-{first.pk}", f"slot-{later.pk}"]
    assert dt.datetime.fromisoformat(everything[0]["meta"]["lastUpdated"]) == second.replace(
        microsecond=100)
    assert [r["id"] for r in poll(everything[0]["meta"]["lastUpdated"])] == [f"slot-{later.pk}"]
    assert poll(everything[-1]["meta"]["lastUpdated"]) == []
