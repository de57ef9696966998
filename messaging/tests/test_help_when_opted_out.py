"""HELP is answered whatever the patient's state: carriers expect every HELP answered, and
an opted-out patient asking for help is told how to get texts again. (Issue 11, item 6.)"""

import pytest
from django.utils import timezone

from clinic.tests.factories import PatientFactory
from messaging.models import Message
from messaging.services import inbound_handle

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("language", "body", "says"), [
    ("en", "HELP", "Reply START"), ("es", "AYUDA", "Responda START")])
def test_help_from_an_opted_out_patient_is_answered(language, body, says, settings):
    settings.SMS_BACKEND = "console"
    patient = PatientFactory(preferred_language=language, sms_opted_out_at=timezone.now())

    text = inbound_handle(from_number=patient.phone, to_number="+13125550100", body=body,
                          sid="SMhelp" + language)

    # Before: silence.
    assert says in text
    assert settings.CLINIC_PHONE in text
    answer = Message.objects.get(direction="out", patient=patient)
    assert answer.kind == "help_opted_out"
    patient.refresh_from_db()
    assert patient.sms_opted_out_at is not None  # HELP does not opt them back in


def test_anything_else_from_an_opted_out_patient_still_gets_silence(settings):
    patient = PatientFactory(sms_opted_out_at=timezone.now())
    for body in ("YES", "hello"):
        assert inbound_handle(from_number=patient.phone, to_number="+13125550100",
                              body=body, sid=f"SM{body}") == ""


def test_help_from_a_number_reported_wrong_is_answered_without_the_patients_details(
        settings):
    # Whoever texts from it is not known to be the patient: the generic answer, with the
    # clinic's phone, never their offers; an opted-out one is told how to opt back in.
    settings.SMS_BACKEND = "console"
    wrong = PatientFactory(phone_wrong_at=timezone.now())
    both = PatientFactory(phone_wrong_at=timezone.now(), sms_opted_out_at=timezone.now())

    text = inbound_handle(from_number=wrong.phone, to_number="+13125550100", body="HELP",
                          sid="SMhelp-wrong")
    assert settings.CLINIC_PHONE in text
    assert Message.objects.get(direction="out", patient=wrong).kind == "unknown_number"

    inbound_handle(from_number=both.phone, to_number="+13125550100", body="HELP",
                   sid="SMhelp-both")
    assert Message.objects.get(direction="out", patient=both).kind == "help_opted_out"
