import datetime as dt

import pytest
from django.test import override_settings

from clinic.tests.factories import PatientFactory
from messaging import hooks
from messaging.models import Message
from messaging.services import FALLBACK_FROM_NUMBER, inbound_handle, message_send
from offers.tests.factories import OfferFactory

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 3, 4, 16, 20, tzinfo=dt.UTC)  # 10:20 AM in Chicago


def test_offer_is_recorded_before_anything_is_sent(console_sms):
    patient = PatientFactory(first_name="Ana")
    offer = OfferFactory(entry__patient=patient)

    message = message_send(patient=patient, template="offer", subject=offer, context={
        "first_name": "Ana", "start": START, "provider": "Dr. Maya Patel", "hold_minutes": 7})

    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.direction == "out"
    assert message.to_number == patient.phone
    assert message.from_number == "+13125550100"
    assert message.subject == offer
    assert message.patient == patient
    assert message.kind == "offer"
    assert message.body == (
        "Riverside Family Clinic: Hi Ana, an earlier visit is open Wed Mar 4, 10:20 AM with "
        "Dr. Maya Patel. Reply YES in 7 min to book, NO to pass. STOP=opt out")
    # Recorded as queued by the row itself; no change has happened yet.
    assert [status for status, _, _ in message.status_history()] == ["queued"]
    assert not message.status_events.exists()


def test_console_backend_sends_after_commit(console_sms, django_capture_on_commit_callbacks):
    patient = PatientFactory()

    with django_capture_on_commit_callbacks(execute=True):
        message = message_send(patient=patient, template="help")

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 1
    assert message.sent_at is not None
    assert [status for status, _, _ in message.status_history()] == [
        "queued", "sending", "sent"]
    assert list(message.status_events.values_list("status", flat=True)) == ["sending", "sent"]


def test_spanish_patient_gets_spanish_text_in_clinic_time(console_sms):
    patient = PatientFactory(preferred_language="es")

    message = message_send(patient=patient, template="confirmation", context={
        "first_name": "Lucia", "start": START, "provider": "Dr. Luis Ortega"})

    assert message.body == (
        "Riverside Family Clinic: ¡Listo, Lucia! Su cita es el 4 de marzo, 10:20 a.m. con "
        "Dr. Luis Ortega. Para cambiarla, llame al (312) 555-0100.")


def test_opted_out_patient_gets_nothing(console_sms, django_capture_on_commit_callbacks):
    patient = PatientFactory(sms_opted_out_at=START)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = message_send(patient=patient, template="declined")

    assert result is None
    assert callbacks == []
    assert not Message.objects.exists()


def test_opted_out_patient_still_gets_the_opt_out_confirmation(console_sms):
    patient = PatientFactory(sms_opted_out_at=START)

    message = message_send(patient=patient, template="opt_out")

    assert message is not None
    assert "unsubscribed" in message.body


def test_flagged_number_gets_nothing_not_even_opt_out_confirmation(console_sms):
    patient = PatientFactory(phone_invalid_at=START)

    assert message_send(patient=patient, template="offer_expired") is None
    assert message_send(patient=patient, template="opt_out") is None
    assert not Message.objects.exists()


def test_opt_out_that_arrived_after_the_caller_loaded_the_patient_is_respected(console_sms):
    patient = PatientFactory()
    type(patient).objects.filter(pk=patient.pk).update(sms_opted_out_at=START)

    assert message_send(patient=patient, template="declined") is None


def test_patient_opted_out_between_queue_and_send_is_suppressed(
        console_sms, django_capture_on_commit_callbacks):
    patient = PatientFactory()
    failures = []

    def listener(**kwargs):
        failures.append(kwargs)

    hooks.message_failed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=False) as queued:
            message = message_send(patient=patient, template="declined")
        type(patient).objects.filter(pk=patient.pk).update(sms_opted_out_at=START)
        with django_capture_on_commit_callbacks(execute=True):
            for callback in queued:
                callback()
    finally:
        hooks.message_failed.disconnect(listener)

    message.refresh_from_db()
    assert message.status == Message.Status.SUPPRESSED
    assert [f["message"].pk for f in failures] == [message.pk]
    assert failures[0]["permanent"] is True


def test_unknown_template_is_refused(console_sms):
    with pytest.raises(ValueError, match="No SMS template"):
        message_send(patient=PatientFactory(), template="diagnosis")


@pytest.mark.parametrize(("clinic_phone", "expected"), [
    ("(312) 555-0100", "+13125550100"), ("+1 773 555 0199", "+17735550199"),
    ("call the front desk", FALLBACK_FROM_NUMBER)])
def test_console_backend_logs_the_clinics_number_in_e164_as_sender(
        console_sms, django_capture_on_commit_callbacks, clinic_phone, expected):
    patient = PatientFactory()

    with override_settings(TWILIO_FROM_NUMBER="", CLINIC_PHONE=clinic_phone):
        with django_capture_on_commit_callbacks(execute=True):
            message = message_send(patient=patient, template="declined")
        inbound_handle(from_number=patient.phone, to_number="", body="HELP", sid="SMfrom1")

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.from_number == expected
    inbound = Message.objects.get(direction="in")
    answer = Message.objects.get(direction="out", kind="help")
    assert inbound.to_number == expected
    assert answer.from_number == expected
