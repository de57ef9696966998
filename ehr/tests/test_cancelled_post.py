import datetime as dt

import pytest
from django.utils import timezone

from clinic.models import Patient, Provider
from clinic.tests.factories import AppointmentTypeFactory, ProviderFactory
from ehr.tests.payloads import (
    NPI,
    URL,
    cancelled_appointment,
    database_state,
    get,
    post,
    waitlist_appointment,
    with_changes,
)
from offers.models import Offer, Slot
from waitlist.models import WaitlistEntry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def offers_at_any_hour(settings):
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)


def test_cancelled_post_opens_a_slot(client, key):
    body = cancelled_appointment()

    response = post(client, key, body)

    assert response.status_code == 201, response.content
    slot = Slot.objects.get()
    resource = response.json()
    assert resource["id"] == f"slot-{slot.pk}"
    assert response["Location"].endswith(f"{URL}/slot-{slot.pk}")
    assert resource["status"] == "cancelled"
    assert slot.start == dt.datetime.fromisoformat(body["start"])
    assert slot.end == dt.datetime.fromisoformat(body["end"])
    assert slot.source == Slot.Source.EHR
    assert slot.status == Slot.Status.OFFERING
    assert (slot.provider.name, slot.provider.identifier_value) == ("Dr. Maria Chen", "1234567893")
    assert (slot.ehr_identifier_value) == "APT-2001"
    assert "[API key: Epic test]" in slot.history.earliest().history_change_reason
    assert get(client, key, f"{URL}/slot-{slot.pk}").json() == resource


def test_the_provider_is_matched_by_identifier_and_the_type_by_code(client, key):
    provider = ProviderFactory(identifier_system=NPI, identifier_value="1234567893")
    follow_up = AppointmentTypeFactory(code="follow-up")

    post(client, key, cancelled_appointment(type_code="follow-up"))

    slot = Slot.objects.get()
    assert (slot.provider, slot.appointment_type) == (provider, follow_up)
    assert Provider.objects.count() == 1


def test_the_same_cancellation_posted_twice_opens_one_slot(client, key):
    body = cancelled_appointment()
    first = post(client, key, body)
    before = database_state()

    second = post(client, key, body)

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert database_state() == before


def test_a_repeat_with_another_time_is_a_conflict(client, key):
    body = cancelled_appointment()
    post(client, key, body)
    before = database_state()
    later = dt.datetime.fromisoformat(body["start"]) + dt.timedelta(hours=1)

    response = post(client, key, cancelled_appointment(start=later))

    assert response.status_code == 409
    assert "Appointment.identifier" in response.json()["issue"][0]["diagnostics"]
    assert database_state() == before


def test_the_cancelled_patient_is_not_added_to_the_clinic(client, key):
    def add_patient(resource):
        resource["contained"] = waitlist_appointment()["contained"]
        resource["participant"].append({"actor": {"reference": "#pat"}, "status": "declined"})

    response = post(client, key, with_changes(cancelled_appointment(), add_patient))

    assert response.status_code == 201
    assert not Patient.objects.exists()


def test_offering_starts_at_once(client, key, django_capture_on_commit_callbacks):
    for i, phone in enumerate(["(312) 555-0142", "(312) 555-0143"]):
        post(client, key, waitlist_appointment(phone=phone, identifier=f"WL-{i}", npi=None,
                                               requested=None))

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, key, cancelled_appointment())

    assert response.status_code == 201
    offers = Offer.objects.filter(slot__pk=response.json()["id"].removeprefix("slot-"))
    assert offers.count() == 2
    assert {offer.status for offer in offers} == {Offer.Status.SENT}
    assert set(offers.values_list("entry__status", flat=True)) == {WaitlistEntry.Status.ACTIVE}
    assert all(offer.hold_until > timezone.now() for offer in offers)


@pytest.mark.parametrize("offset", ["-06:00", "Z", "+09:00"])
def test_every_instant_comes_back_in_the_clinics_offset_in_the_echo_and_the_get(
        client, key, offset):
    clinic = timezone.get_current_timezone()
    local = (timezone.localtime() + dt.timedelta(days=3)).replace(
        hour=10, minute=0, second=0, microsecond=0)
    sent_start = local.astimezone(dt.UTC if offset == "Z" else dt.timezone(
        dt.timedelta(hours=int(offset[:3]))))
    body = cancelled_appointment(start=sent_start)
    body["start"] = sent_start.isoformat().replace("+00:00", "Z")
    body["end"] = (sent_start + dt.timedelta(minutes=20)).isoformat().replace("+00:00", "Z")

    echoed = post(client, key, body).json()
    fetched = get(client, key, f"{URL}/{echoed['id']}").json()

    expected_offset = local.astimezone(clinic).strftime("%z")
    expected_offset = f"{expected_offset[:3]}:{expected_offset[3:]}"
    for resource in (echoed, fetched):
        assert resource["start"] == local.isoformat(timespec="seconds")
        assert resource["start"].endswith(expected_offset)
        assert resource["end"] == (local + dt.timedelta(minutes=20)).isoformat(timespec="seconds")
        assert resource["meta"]["lastUpdated"].endswith(
            timezone.localtime(timezone.now()).isoformat()[-6:])
    assert echoed == fetched


def test_a_cancellation_of_a_visit_type_never_offered_is_stored_and_not_offered(
        client, key, django_capture_on_commit_callbacks):
    """Clinic rules (docs/rules.md) apply to the EHR's slots too: stored and answered as
    usual, closed as "not offered by rule", nobody texted."""
    from offers.models import OfferRule
    from waitlist.tests.factories import WaitlistEntryFactory

    neuro = AppointmentTypeFactory(code="neuro-new", name="New neurology visit")
    OfferRule.objects.create(appointment_type=neuro, offer_by_text=False)
    WaitlistEntryFactory()

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, key, cancelled_appointment(type_code="neuro-new"))

    assert response.status_code == 201, response.content
    slot = Slot.objects.get()
    assert slot.appointment_type == neuro
    assert slot.status == Slot.Status.UNFILLED
    assert slot.unfilled_reason == Slot.UnfilledReason.NOT_OFFERED
    assert not Offer.objects.exists()
    assert get(client, key, f"{URL}/slot-{slot.pk}").status_code == 200
