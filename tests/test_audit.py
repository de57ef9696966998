"""The audit trail says who changed a patient's place in line, when, what, and why."""

import datetime as dt

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

from clinic.audit import (
    SYSTEM,
    acting_as,
    actor_api_key,
    actor_patient_sms,
    current_actor,
)
from clinic.tests.factories import PatientFactory, ProviderFactory
from offers.models import Offer
from offers.tests.factories import OfferFactory
from portal.audit import Change, audit_trail_for_patient
from waitlist.services import entry_add, entry_remove, entry_update

pytestmark = pytest.mark.django_db


def test_a_staff_change_through_the_admin_is_recorded_with_the_user(client, admin_user):
    patient = PatientFactory(first_name="Ana")
    client.force_login(admin_user)
    response = client.post(reverse("admin:clinic_patient_change", args=[patient.pk]), {
        "first_name": "Anna", "last_name": patient.last_name, "phone": patient.phone,
        "preferred_language": "es",
    })
    assert response.status_code == 302, response.content.decode()[:2000]

    row = audit_trail_for_patient(patient)[0]
    assert row.who == "admin"
    assert row.what == "Patient"
    assert row.action == "changed"
    assert Change("first name", "Ana", "Anna") in row.changes
    assert Change("preferred language", "English", "Spanish") in row.changes


def test_work_outside_any_request_is_recorded_as_the_system():
    patient = PatientFactory()
    entry = entry_add(patient=patient, any_provider=True)

    row = audit_trail_for_patient(patient)[0]
    assert row.who == SYSTEM
    assert row.what == f"Waitlist entry (added {timezone.localtime(entry.added_at):%b %-d, %Y})"
    assert row.action == "created"
    assert row.reason == "Added to the waitlist"


def test_an_api_key_is_named_as_the_actor_and_keeps_the_reason(manager_user):
    patient = PatientFactory()
    with acting_as(actor_api_key("epic")):
        entry = entry_add(patient=patient, providers=[ProviderFactory()],
                          reason="Requested by the EHR")
        entry_remove(entry=entry, reason="Booked elsewhere")

    removed, added = audit_trail_for_patient(patient)[:2]
    assert added.who == "API key: epic"
    assert added.reason == "Requested by the EHR"
    # update_change_reason rewrites the reason after the save: the actor survives it.
    assert removed.who == "API key: epic"
    assert removed.reason == "Booked elsewhere"
    assert Change("status", "Waiting", "Removed") in removed.changes


def test_a_priority_change_shows_old_and_new_value_who_and_why(manager_user):
    patient = PatientFactory()
    entry = entry_add(patient=patient, any_provider=True)
    HistoricalRecords.context.request = request_as(manager_user)
    try:
        entry_update(entry=entry, by=manager_user, reason="Worsening symptoms", urgent=True,
                     boost=10)
    finally:
        del HistoricalRecords.context.request

    row = audit_trail_for_patient(patient)[0]
    assert row.who == "manager"
    assert row.reason == "Worsening symptoms"
    assert set(row.changes) == {Change("urgent", "no", "yes"), Change("boost", "0", "10")}


def request_as(user=None, path="/", **post):
    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().post(path, post) if post else RequestFactory().get(path)
    request.user = user or AnonymousUser()
    return request


def test_a_twilio_webhook_request_is_the_patient_by_sms_with_the_number_masked():
    HistoricalRecords.context.request = request_as(path="/twilio/sms/", From="+13125550142",
                                                   Body="YES")
    try:
        assert current_actor() == "patient by SMS: +1******0142"
    finally:
        del HistoricalRecords.context.request


def test_a_bearer_request_is_its_api_key():
    request = RequestFactory().post("/api/fhir/Appointment", HTTP_AUTHORIZATION="Bearer sfk_x")
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    request.api_key = "epic"
    HistoricalRecords.context.request = request
    try:
        assert current_actor() == "API key: epic"
    finally:
        del HistoricalRecords.context.request


def test_the_trail_follows_the_patients_offers_too():
    offer = OfferFactory()
    patient = offer.patient
    with acting_as(actor_patient_sms(patient)):
        offer.status = Offer.Status.DECLINED
        offer._change_reason = "Replied NO"
        offer.save()

    rows = audit_trail_for_patient(patient)
    declined = rows[0]
    assert declined.what == f"Offer ({offer.slot})"
    assert declined.who == f"{patient} (patient), by SMS"
    assert Change("status", "Waiting to send", "Declined") in declined.changes
    assert declined.reason == "Replied NO"
    # Another patient's trail shows none of it.
    other_rows = audit_trail_for_patient(PatientFactory())
    assert [(row.what, row.action) for row in other_rows] == [("Patient", "created")]


def test_the_trail_partial_renders_rows_for_the_patient_page():
    patient = PatientFactory()
    with acting_as(actor_api_key("epic")):
        entry_add(patient=patient, any_provider=True, reason="From the EHR")
    html = render_to_string("audit/_trail.html", {"rows": audit_trail_for_patient(patient)})
    assert "API key: epic" in html
    assert "From the EHR" in html
    assert "style=" not in html
    assert "No recorded changes" in render_to_string("audit/_trail.html", {"rows": []})


def test_the_trail_names_providers_slots_staff_and_entries_instead_of_ids(
        front_desk_user, django_capture_on_commit_callbacks):
    from offers.services import offer_claim, slot_open
    from waitlist.tests.factories import WaitlistEntryFactory

    patient = PatientFactory(first_name="Ana", last_name="Gomez")
    entry = WaitlistEntryFactory(patient=patient)
    provider = ProviderFactory(name="Dr. Maya Patel")
    start = (timezone.localtime() + dt.timedelta(days=2)).replace(hour=10, minute=0,
                                                                  second=0, microsecond=0)
    with django_capture_on_commit_callbacks(execute=True):
        slot = slot_open(provider=provider, start=start,
                         end=start + dt.timedelta(minutes=20), recorded_by=front_desk_user)
    assert Offer.objects.filter(slot=slot, entry=entry).exists()
    with acting_as(actor_patient_sms(patient)):
        offer_claim(patient=patient)

    rows = audit_trail_for_patient(patient)
    shown = [f"{change.field}: {change.old} → {change.new}" for row in rows
             for change in row.changes]
    assert not [line for line in shown if "#" in line], shown
    booked = next(row for row in rows if row.what == f"Slot ({slot})" and row.changes)
    assert Change("filled entry", "—",
                  f"Ana Gomez's waitlist entry (added "
                  f"{timezone.localtime(entry.added_at):%b %-d, %Y})") in booked.changes
    created = next(row for row in rows if row.what == f"Slot ({slot})"
                   and row.action == "created")
    assert Change("provider", "—", "Dr. Maya Patel") in created.changes
    assert Change("recorded by", "—", "frontdesk") in created.changes
    offered = next(row for row in rows if row.what == f"Offer ({slot})"
                   and row.action == "created")
    assert Change("patient", "—", "Ana Gomez") in offered.changes
    assert Change("slot", "—", str(slot)) in offered.changes


def test_a_relatives_phone_keeps_its_masked_number_on_the_patients_trail():
    offer = OfferFactory()
    with acting_as(actor_patient_sms("+13125559999")):
        offer.status = Offer.Status.DECLINED
        offer.save()
    assert audit_trail_for_patient(offer.patient)[0].who == "patient by SMS: +1******9999"


def test_a_staff_user_with_a_full_name_is_named_with_their_username(front_desk_user):
    from portal.audit import user_name

    assert user_name(front_desk_user) == "frontdesk"
    front_desk_user.first_name, front_desk_user.last_name = "Jane", "Doe"
    assert user_name(front_desk_user) == "Jane Doe (frontdesk)"
