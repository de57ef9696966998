"""POST /twilio/status/: statuses only move forward; every report is kept with its time."""

import json

import pytest
from twilio.request_validator import RequestValidator

from clinic.tests.factories import PatientFactory
from messaging.models import Message
from messaging.services import message_send
from messaging.tests.twilio_fakes import AUTH_TOKEN, PUBLIC_BASE_URL, twilio_post
from offers.tests.factories import OfferFactory

pytestmark = pytest.mark.django_db

PATH = "/twilio/status/"


@pytest.fixture
def sent_offer(fake_twilio, django_capture_on_commit_callbacks):
    """An offer SMS that Twilio accepted (through the fake HTTP transport)."""
    patient = PatientFactory()
    offer = OfferFactory(entry__patient=patient)
    with django_capture_on_commit_callbacks(execute=True):
        message = message_send(patient=patient, template="declined", subject=offer)
    message.refresh_from_db()
    assert message.status == Message.Status.ACCEPTED
    return message


def callback(client, message, status, error_code=None):
    params = {"MessageSid": message.twilio_sid, "MessageStatus": status,
              "AccountSid": "AC" + "0" * 32}
    if error_code:
        params["ErrorCode"] = error_code
    return twilio_post(client, PATH, params)


def test_sent_then_delivered(client, sent_offer):
    assert callback(client, sent_offer, "sent").status_code == 204
    assert callback(client, sent_offer, "delivered").status_code == 204

    sent_offer.refresh_from_db()
    assert sent_offer.status == Message.Status.DELIVERED
    assert [status for status, _, _ in sent_offer.status_history()] == [
        "queued", "sending", "accepted", "sent", "delivered"]


def test_a_late_sent_never_overwrites_delivered(client, sent_offer):
    callback(client, sent_offer, "delivered")
    callback(client, sent_offer, "sent")
    callback(client, sent_offer, "queued")

    sent_offer.refresh_from_db()
    assert sent_offer.status == Message.Status.DELIVERED
    events = list(sent_offer.status_events.all())
    assert [event.status for event in events][-3:] == ["delivered", "sent", "queued"]
    assert all(event.at is not None for event in events)


def test_undelivered_offer_message_fails_and_tells_the_engine_once(
        client, sent_offer, signals_received, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        callback(client, sent_offer, "sent")
        callback(client, sent_offer, "undelivered", "30003")
        callback(client, sent_offer, "failed", "30003")  # already final: no second alarm

    sent_offer.refresh_from_db()
    assert sent_offer.status == Message.Status.UNDELIVERED
    assert sent_offer.error_code == "30003"
    [failure] = signals_received["failed"]
    assert failure["message"].subject_id == sent_offer.subject_id
    assert failure["error_code"] == "30003"
    assert failure["permanent"] is False
    assert sent_offer.status_events.filter(error_code="30003").count() == 2


def test_failed_callback_with_21610_opts_the_patient_out(
        client, sent_offer, signals_received, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        callback(client, sent_offer, "failed", "21610")

    sent_offer.patient.refresh_from_db()
    assert sent_offer.patient.sms_opted_out
    assert [f["permanent"] for f in signals_received["failed"]] == [True]
    assert len(signals_received["opted_out"]) == 1


def test_failed_callback_with_21614_flags_the_number(client, sent_offer):
    callback(client, sent_offer, "failed", "21614")

    sent_offer.patient.refresh_from_db()
    assert sent_offer.patient.phone_invalid_at is not None


def test_unknown_sid_is_acknowledged_and_changes_nothing(client, sent_offer):
    response = twilio_post(client, PATH, {"MessageSid": "SM" + "f" * 32,
                                          "MessageStatus": "delivered"})

    assert response.status_code == 204
    sent_offer.refresh_from_db()
    assert sent_offer.status == Message.Status.ACCEPTED


def test_bad_signature_changes_nothing(client, sent_offer):
    response = twilio_post(client, PATH, {"MessageSid": sent_offer.twilio_sid,
                                          "MessageStatus": "failed"}, signature="Zm9v")

    assert response.status_code == 403
    sent_offer.refresh_from_db()
    assert sent_offer.status == Message.Status.ACCEPTED
    assert [status for status, _, _ in sent_offer.status_history()] == [
        "queued", "sending", "accepted"]


@pytest.mark.parametrize("missing", ["MessageSid", "MessageStatus"])
def test_missing_field_is_a_400(client, sent_offer, missing):
    params = {"MessageSid": sent_offer.twilio_sid, "MessageStatus": "delivered"}
    del params[missing]

    response = twilio_post(client, PATH, params)

    assert response.status_code == 400
    assert missing in response.content.decode()


@pytest.fixture
def twilio_calls_back_at_once(client, fake_twilio):
    """Twilio reports a status before its answer to the send has reached our worker (a
    fast "failed"): the callback is posted, to the StatusCallback URL the send asked for,
    while the fake transport is still answering the create request."""
    answer = fake_twilio.send
    posted = []

    def set_status(status, error_code=""):
        def send(request, **kwargs):
            response = answer(request, **kwargs)
            url = fake_twilio.form(request)["StatusCallback"]
            params = {"MessageSid": json.loads(response.content)["sid"],
                      "MessageStatus": status, "ErrorCode": error_code}
            posted.append(twilio_post(client, url.removeprefix(PUBLIC_BASE_URL), params))
            return response

        fake_twilio.send = send
        return posted

    return set_status


def test_failed_callback_before_the_sid_is_saved_still_fails_the_message(
        twilio_calls_back_at_once, signals_received, django_capture_on_commit_callbacks):
    posted = twilio_calls_back_at_once("failed", "30003")
    patient = PatientFactory()
    offer = OfferFactory(entry__patient=patient)

    with django_capture_on_commit_callbacks(execute=True):
        message = message_send(patient=patient, template="declined", subject=offer)

    [response] = posted
    assert response.status_code == 204
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.error_code == "30003"
    assert message.twilio_sid.startswith("SM")
    assert message.sent_at is not None
    assert message.status_events.filter(status="failed", error_code="30003").count() == 1
    # The worker's late "accepted" does not rewind the history after the failure.
    assert list(message.status_events.order_by("pk").values_list("status", flat=True)) == [
        "sending", "failed"]
    [failure] = signals_received["failed"]
    assert failure["message"].pk == message.pk


def test_delivered_callback_before_the_sid_is_saved_is_kept(
        client, twilio_calls_back_at_once, django_capture_on_commit_callbacks):
    twilio_calls_back_at_once("delivered")
    patient = PatientFactory()

    with django_capture_on_commit_callbacks(execute=True):
        message = message_send(patient=patient, template="declined")

    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED
    assert message.twilio_sid.startswith("SM")
    assert message.sent_at is not None


def test_callback_after_the_sid_is_saved_names_the_message_too(client, sent_offer):
    response = twilio_post(client, f"{PATH}?m={sent_offer.pk}",
                           {"MessageSid": sent_offer.twilio_sid,
                            "MessageStatus": "delivered"})

    assert response.status_code == 204
    sent_offer.refresh_from_db()
    assert sent_offer.status == Message.Status.DELIVERED


def test_message_id_never_moves_a_message_that_has_another_sid(client, sent_offer):
    response = twilio_post(client, f"{PATH}?m={sent_offer.pk}",
                           {"MessageSid": "SM" + "e" * 32, "MessageStatus": "failed"})

    assert response.status_code == 204
    sent_offer.refresh_from_db()
    assert sent_offer.status == Message.Status.ACCEPTED
    assert sent_offer.twilio_sid != "SM" + "e" * 32


def test_the_signature_covers_the_message_id_in_the_url(client, sent_offer):
    params = {"MessageSid": "SM" + "d" * 32, "MessageStatus": "failed"}
    signed_for_another = RequestValidator(AUTH_TOKEN).compute_signature(
        f"{PUBLIC_BASE_URL}{PATH}?m={sent_offer.pk + 1}", params)
    response = client.post(f"{PATH}?m={sent_offer.pk}", params,
                           HTTP_X_TWILIO_SIGNATURE=signed_for_another)

    assert response.status_code == 403
