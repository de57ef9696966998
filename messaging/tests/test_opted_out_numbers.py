"""A STOP from a number that belongs to no patient is kept: whoever gets that number
later (a patient created through the FHIR API or the portal) is not texted until START."""

import pytest

from clinic.tests.factories import PatientFactory
from messaging.models import Message, OptedOutNumber
from messaging.services import inbound_handle, message_send

pytestmark = pytest.mark.django_db

NUMBER = "+13125550177"
_sid = iter(range(1, 10_000))


def text_in(body, number=NUMBER):
    return inbound_handle(from_number=number, to_number="+13125550100", body=body,
                          sid=f"SMoptout{next(_sid)}")


@pytest.fixture
def stopped_number(console_sms):
    reply = text_in("STOP")
    assert "unsubscribed" in reply
    return NUMBER


def test_stop_from_an_unknown_number_is_stored_and_confirmed_once(stopped_number):
    assert OptedOutNumber.objects.filter(phone=NUMBER).exists()

    assert text_in("STOP") == ""
    assert text_in("hello?") == ""
    assert text_in("(312) 555-0177 again: stop please") == ""
    assert OptedOutNumber.objects.count() == 1
    assert Message.objects.filter(direction="out", kind="opt_out").count() == 1


def test_a_patient_created_later_with_that_number_is_not_texted(
        stopped_number, signals_received, django_capture_on_commit_callbacks):
    patient = PatientFactory(phone=NUMBER)

    with django_capture_on_commit_callbacks(execute=True):
        assert message_send(patient=patient, template="declined") is None

    patient.refresh_from_db()
    assert patient.sms_opted_out
    assert not OptedOutNumber.objects.exists()
    assert [o["patient"].pk for o in signals_received["opted_out"]] == [patient.pk]
    reasons = [h.history_change_reason or "" for h in patient.history.all()]
    assert any("before being a patient" in reason for reason in reasons)
    assert not Message.objects.filter(patient=patient, direction="out").exists()


def test_a_patient_created_later_who_texts_gets_silence_until_start(
        stopped_number, console_sms):
    patient = PatientFactory(phone=NUMBER)

    assert text_in("YES") == ""
    patient.refresh_from_db()
    assert patient.sms_opted_out

    assert "subscribed again" in text_in("START")
    patient.refresh_from_db()
    assert not patient.sms_opted_out
    assert message_send(patient=patient, template="declined") is not None


def test_start_from_the_number_forgets_its_stop(stopped_number, console_sms):
    assert "subscribed again" in text_in("UNSTOP")
    assert not OptedOutNumber.objects.exists()

    patient = PatientFactory(phone=NUMBER)
    assert message_send(patient=patient, template="declined") is not None
    patient.refresh_from_db()
    assert not patient.sms_opted_out


def test_an_unknown_number_that_never_stopped_gets_generic_help(console_sms):
    assert "don't recognize this number" in text_in("START")
    assert "don't recognize this number" in text_in("YES")
    assert not OptedOutNumber.objects.exists()


def test_the_opt_out_confirmation_itself_still_goes_to_a_patient_who_just_stopped(
        stopped_number):
    patient = PatientFactory(phone=NUMBER)

    assert message_send(patient=patient, template="opt_out") is not None
