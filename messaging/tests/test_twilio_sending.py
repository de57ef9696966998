"""Sending through the real twilio SDK to a fake HTTP transport: what Twilio is asked,
what we record, retries with backoff on temporary trouble, none on permanent errors."""

import base64

import pytest
import requests
from celery.signals import task_retry

from clinic.tests.factories import PatientFactory
from messaging.models import Message
from messaging.services import message_send, messages_reconcile_stuck
from messaging.tasks import MAX_SEND_RETRIES, message_deliver, retry_countdown
from messaging.tests.twilio_fakes import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, twilio_error
from offers.tests.factories import OfferFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_retries")]


@pytest.fixture
def retry_countdowns():
    countdowns = []

    def on_retry(sender, reason, **kwargs):
        countdowns.append(reason.when)

    task_retry.connect(on_retry)
    yield countdowns
    task_retry.disconnect(on_retry)


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """message_send, then what it queued after commit: the Celery task (eagerly) and the
    signals that task sends after its own commits."""

    def send(patient, template="declined", **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            message = message_send(patient=patient, template=template, **kwargs)
        message.refresh_from_db()
        return message

    return send


def test_message_goes_to_twilios_messages_api_with_a_status_callback(fake_twilio, send):
    patient = PatientFactory(phone="+13125550142")

    message = send(patient)

    [request] = fake_twilio.requests
    assert request.method == "POST"
    assert request.url == (
        f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {credentials}"
    form = fake_twilio.sent[0]
    assert form["To"] == "+13125550142"
    assert form["From"] == FROM_NUMBER
    assert form["Body"] == message.body
    assert form["StatusCallback"] == (
        f"https://clinic.example.org/twilio/status/?m={message.pk}")
    assert message.status == Message.Status.ACCEPTED
    assert message.twilio_sid.startswith("SM")
    assert message.attempts == 1
    assert [status for status, _, _ in message.status_history()] == [
        "queued", "sending", "accepted"]


def test_a_redelivered_task_does_not_send_twice(fake_twilio, send):
    message = send(PatientFactory())

    message_deliver.delay(message.pk)
    message_deliver.delay(message.pk)

    assert len(fake_twilio.requests) == 1
    message.refresh_from_db()
    assert message.attempts == 1


@pytest.mark.parametrize("trouble", [
    twilio_error(20500, status=500),
    twilio_error(20503, status=503),
    twilio_error(20429, status=429),
    requests.ConnectionError("connection refused"),
    requests.Timeout("read timed out"),
], ids=["500", "503", "429", "connection", "timeout"])
def test_temporary_trouble_is_retried_with_growing_backoff(
        fake_twilio, retry_countdowns, signals_received, send, trouble):
    fake_twilio.answer_next(trouble, trouble)

    message = send(PatientFactory())

    assert len(fake_twilio.requests) == 3
    assert retry_countdowns == [30, 60]
    assert message.status == Message.Status.ACCEPTED
    assert message.attempts == 3
    assert [status for status, _, _ in message.status_history()] == [
        "queued", "sending", "queued", "sending", "queued", "sending", "accepted"]
    assert signals_received["failed"] == []


def test_retries_exhausted_fail_the_message_and_tell_the_engine(
        fake_twilio, retry_countdowns, signals_received, send):
    fake_twilio.answer_next(*[twilio_error(20500, status=500)] * (MAX_SEND_RETRIES + 1))
    patient = PatientFactory()
    offer = OfferFactory(entry__patient=patient)

    message = send(patient, subject=offer)

    assert len(fake_twilio.requests) == MAX_SEND_RETRIES + 1
    assert retry_countdowns == [retry_countdown(n) for n in range(MAX_SEND_RETRIES)]
    assert retry_countdowns == sorted(retry_countdowns)
    assert message.status == Message.Status.FAILED
    [failure] = signals_received["failed"]
    assert failure["message"].pk == message.pk
    assert failure["message"].subject_id == offer.pk
    assert failure["permanent"] is False
    patient.refresh_from_db()
    assert patient.can_receive_sms


def test_unsubscribed_recipient_is_not_retried_and_the_patient_is_opted_out(
        fake_twilio, retry_countdowns, signals_received, send):
    fake_twilio.answer_next(twilio_error(21610))
    patient = PatientFactory()

    message = send(patient, template="offer_expired")

    assert len(fake_twilio.requests) == 1
    assert retry_countdowns == []
    assert message.status == Message.Status.FAILED
    assert message.error_code == "21610"
    patient.refresh_from_db()
    assert patient.sms_opted_out
    assert "Twilio error 21610" in patient.history.first().history_change_reason
    assert [f["permanent"] for f in signals_received["failed"]] == [True]
    assert [o["patient"].pk for o in signals_received["opted_out"]] == [patient.pk]
    # Twilio already told them; we add nothing, now or later.
    assert message_send(patient=patient, template="declined") is None


@pytest.mark.parametrize("code", [21211, 21614])
def test_invalid_or_landline_number_is_flagged_and_not_retried(
        fake_twilio, retry_countdowns, signals_received, send,
        code):
    fake_twilio.answer_next(twilio_error(code))
    patient = PatientFactory()

    message = send(patient)

    assert len(fake_twilio.requests) == 1
    assert retry_countdowns == []
    assert message.error_code == str(code)
    patient.refresh_from_db()
    assert patient.phone_invalid_at is not None
    assert not patient.sms_opted_out
    assert [f["permanent"] for f in signals_received["failed"]] == [True]
    assert message_send(patient=patient, template="declined") is None


def test_other_refusals_fail_without_blaming_the_patient(
        fake_twilio, retry_countdowns, signals_received, send):
    fake_twilio.answer_next(twilio_error(21408))  # region not enabled: our configuration
    patient = PatientFactory()

    message = send(patient)

    assert retry_countdowns == []
    assert message.status == Message.Status.FAILED
    patient.refresh_from_db()
    assert patient.can_receive_sms
    assert [f["permanent"] for f in signals_received["failed"]] == [False]


def test_message_stuck_in_sending_is_failed_not_resent(
        fake_twilio, signals_received, django_capture_on_commit_callbacks):
    message = message_send(patient=PatientFactory(), template="declined")
    # A worker claimed it and died mid-call, long ago.
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.SENDING, updated_at=message.created_at.replace(year=2020))
    fresh = message_send(patient=PatientFactory(), template="declined")
    Message.objects.filter(pk=fresh.pk).update(status=Message.Status.SENDING)

    with django_capture_on_commit_callbacks(execute=True):
        assert messages_reconcile_stuck() == 1

    message.refresh_from_db()
    fresh.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.error_code == "unknown"
    assert fresh.status == Message.Status.SENDING  # still within its time
    assert fake_twilio.requests == []
    assert [f["message"].pk for f in signals_received["failed"]] == [message.pk]
    message_deliver.delay(message.pk)
    assert fake_twilio.requests == []
