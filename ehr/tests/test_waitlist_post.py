import datetime as dt

import pytest

from clinic.audit import actor_api_key
from clinic.models import Patient, Provider
from clinic.tests.factories import AppointmentTypeFactory, PatientFactory, ProviderFactory
from ehr.fhir import appointment_parse, waitlist_request_from
from ehr.services import appointment_waitlist_save
from ehr.tests.payloads import NPI, URL, database_state, get, post, waitlist_appointment
from waitlist.models import WaitlistEntry

pytestmark = pytest.mark.django_db


def test_waitlist_post_creates_patient_provider_and_entry(client, key):
    response = post(client, key, waitlist_appointment(priority=2, comment="prefers mornings"))

    assert response.status_code == 201, response.content
    assert response["Content-Type"] == "application/fhir+json"
    body = response.json()
    entry = WaitlistEntry.objects.get()
    assert body["id"] == f"waitlist-{entry.pk}"
    assert response["Location"].endswith(f"{URL}/waitlist-{entry.pk}")
    assert body["status"] == "waitlist"
    assert body["identifier"] == [entry_identifier("WL-1001")]
    assert entry.patient.phone == "+13125550142"
    assert (entry.patient.first_name, entry.patient.last_name) == ("Ana", "Ruiz")
    assert entry.patient.preferred_language == "es"
    provider = Provider.objects.get()
    assert (provider.name, provider.identifier_system, provider.identifier_value) == (
        "Dr. Maria Chen", NPI, "1234567893")
    assert list(entry.providers.all()) == [provider]
    assert not entry.any_provider
    assert entry.urgent
    assert entry.source == WaitlistEntry.Source.EHR
    assert (entry.earliest_date, entry.latest_date) == (dt.date(2030, 1, 2), dt.date(2030, 3, 31))
    assert entry.comment == "prefers mornings"
    assert body["contained"][0]["telecom"][0]["value"] == "+13125550142"
    assert body["requestedPeriod"] == [{"start": "2030-01-02", "end": "2030-03-31"}]


def entry_identifier(value):
    return {"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.798268", "value": value}


def test_the_audit_trail_names_the_api_key(client, key):
    post(client, key, waitlist_appointment())

    entry = WaitlistEntry.objects.get()
    assert "[API key: Epic test]" in entry.history.earliest().history_change_reason
    assert "[API key: Epic test]" in entry.patient.history.earliest().history_change_reason


def test_the_key_is_the_actor_even_outside_a_request(api_key):
    row, _ = api_key
    appointment = appointment_parse(waitlist_appointment())

    entry, created = appointment_waitlist_save(request=waitlist_request_from(appointment),
                                               actor=actor_api_key(row.name))

    assert created
    assert entry.history.earliest().history_change_reason == (
        "[API key: Epic test] Added to the waitlist from the EHR (FHIR API)")


def test_existing_patient_is_matched_by_phone_and_provider_by_identifier(client, key):
    patient = PatientFactory(phone="+13125550142", first_name="Ana María")
    provider = ProviderFactory(identifier_system=NPI, identifier_value="1234567893",
                               name="Chen, Maria MD")

    response = post(client, key, waitlist_appointment(phone="+1 312-555-0142"))

    assert response.status_code == 201
    entry = WaitlistEntry.objects.get()
    assert entry.patient == patient
    assert list(entry.providers.all()) == [provider]
    assert Patient.objects.count() == 1
    assert Provider.objects.count() == 1
    patient.refresh_from_db()
    assert patient.first_name == "Ana María"  # the clinic's record is not overwritten


def test_the_same_identifier_posted_twice_updates_the_entry(client, key):
    first = post(client, key, waitlist_appointment(requested=("2030-01-02", "2030-03-31")))
    second = post(client, key, waitlist_appointment(requested=("2030-02-01", "2030-02-28"),
                                                    priority=1))

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    entry = WaitlistEntry.objects.get()
    assert (entry.earliest_date, entry.latest_date) == (dt.date(2030, 2, 1), dt.date(2030, 2, 28))
    assert entry.urgent
    assert "Waitlist request updated from the EHR" in entry.history.latest().history_change_reason
    assert "[API key: Epic test]" in entry.history.latest().history_change_reason


def test_without_identifier_the_same_post_again_answers_with_the_entry_it_made(client, key):
    first = post(client, key, waitlist_appointment(identifier=None))
    again = post(client, key, waitlist_appointment(identifier=None))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert WaitlistEntry.objects.count() == 1
    assert Patient.objects.count() == 1


def test_a_second_request_for_the_same_visit_is_refused_and_names_the_first(client, key):
    first = post(client, key, waitlist_appointment(identifier="WL-1"))
    before = database_state()

    second = post(client, key, waitlist_appointment(identifier="WL-2", comment="again"))

    assert second.status_code == 409, second.content
    issue = second.json()["issue"][0]
    assert issue["code"] == "duplicate"
    assert first.json()["id"] in issue["diagnostics"]
    assert database_state() == before


def test_a_second_visit_of_the_same_patient_is_its_own_entry(client, key):
    AppointmentTypeFactory(code="scan")
    post(client, key, waitlist_appointment(identifier="WL-1"))

    second = post(client, key, waitlist_appointment(identifier="WL-2", type_code="scan"))

    assert second.status_code == 201, second.content
    assert WaitlistEntry.objects.filter(status="active").count() == 2
    assert Patient.objects.count() == 1


def test_a_known_phone_with_another_name_keeps_the_posted_name_on_the_entry(client, key):
    owner = PatientFactory(phone="+13125550142", first_name="Rosa", last_name="Ruiz")

    response = post(client, key, waitlist_appointment(given="Ana", family="Ruiz"))

    assert response.status_code == 201, response.content
    entry = WaitlistEntry.objects.get()
    assert entry.patient == owner
    owner.refresh_from_db()
    assert (owner.first_name, owner.last_name) == ("Rosa", "Ruiz")  # the record keeps its own
    assert entry.for_name == "Ana Ruiz"
    assert entry.first_name == "Ana"
    # What the EHR reads back names the person the visit is for, at the owner's phone.
    patient = response.json()["contained"][0]
    assert patient["name"] == [{"given": ["Ana"], "family": "Ruiz"}]
    assert patient["telecom"][0]["value"] == "+13125550142"


def test_a_known_phone_with_the_same_name_is_that_patient(client, key):
    PatientFactory(phone="+13125550142", first_name="Ana", last_name="Ruíz")

    post(client, key, waitlist_appointment(given="ana", family="Ruiz"))

    assert WaitlistEntry.objects.get().for_name == ""


def test_no_provider_participant_means_any_provider(client, key):
    response = post(client, key, waitlist_appointment(npi=None))

    assert response.status_code == 201
    assert WaitlistEntry.objects.get().any_provider


def test_appointment_type_coding_maps_to_the_clinics_type(client, key):
    follow_up = AppointmentTypeFactory(code="follow-up")

    response = post(client, key, waitlist_appointment(type_code="FOLLOW-UP"))

    assert response.status_code == 201
    assert WaitlistEntry.objects.get().appointment_type == follow_up
    assert response.json()["appointmentType"]["coding"][0]["code"] == "follow-up"


def test_an_identifier_of_another_patient_is_refused(client, key):
    post(client, key, waitlist_appointment(phone="(312) 555-0142"))
    before = database_state()

    response = post(client, key, waitlist_appointment(phone="(312) 555-0199"))

    assert response.status_code == 409
    assert "Appointment.identifier" in response.json()["issue"][0]["diagnostics"]
    assert database_state() == before


def test_a_booked_request_can_no_longer_change(client, key):
    post(client, key, waitlist_appointment())
    WaitlistEntry.objects.update(status=WaitlistEntry.Status.BOOKED)
    before = database_state()

    response = post(client, key, waitlist_appointment(priority=1))

    assert response.status_code == 409
    assert database_state() == before


def test_get_by_id_returns_the_posted_entry(client, key):
    created = post(client, key, waitlist_appointment()).json()

    response = get(client, key, f"{URL}/{created['id']}")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json"
    assert response.json() == created


def test_a_phone_without_sms_means_offers_by_call(client, key):
    payload = waitlist_appointment(identifier="WL-2001")
    payload["contained"][0]["telecom"] = [{"system": "phone", "value": "(312) 555-0177",
                                          "use": "home"}]

    response = post(client, key, payload)

    assert response.status_code == 201, response.content
    patient = Patient.objects.get(phone="+13125550177")
    assert patient.offer_channel == Patient.OfferChannel.VOICE
    assert response.json()["contained"][0]["telecom"] == [
        {"system": "phone", "value": "+13125550177"}]


def test_an_sms_number_is_texted_even_beside_a_phone(client, key):
    payload = waitlist_appointment(identifier="WL-2002")
    payload["contained"][0]["telecom"] = [
        {"system": "phone", "value": "(312) 555-0178"},
        {"system": "sms", "value": "(312) 555-0179"}]

    assert post(client, key, payload).status_code == 201
    patient = Patient.objects.get()
    assert patient.phone == "+13125550179"
    assert patient.offer_channel == Patient.OfferChannel.SMS
