"""Real concurrent connections on PostgreSQL: a webhook delivered twice at the same moment
is acted on once, and two workers holding the same delivery task send one SMS."""

import time

import pytest

from clinic.tests.concurrency import run_together
from clinic.tests.factories import PatientFactory
from messaging import hooks
from messaging.models import Message
from messaging.services import inbound_handle, message_deliver

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_same_sid_delivered_twice_at_once_is_acted_on_once(fake_twilio):
    patient = PatientFactory()
    calls = []

    def slow_handler(*, patient, intent, message):
        calls.append(message.twilio_sid)
        time.sleep(0.3)  # hold the transaction open while the twin delivery arrives
        return hooks.ReplyAnswer("declined")

    previous = hooks.get_reply_handler()
    hooks.register_reply_handler(slow_handler)
    try:
        results = run_together([lambda: inbound_handle(
            from_number=patient.phone, to_number="+13125550100", body="NO",
            sid="SM" + "7" * 32)] * 2)
    finally:
        hooks.register_reply_handler(previous)

    assert results.count(None) == 1
    [answered] = [text for text in results if text is not None]
    assert "Thanks for letting us know" in answered
    assert len(calls) == 1
    assert Message.objects.filter(direction="in").count() == 1
    assert Message.objects.filter(direction="out").count() == 1


def test_two_workers_with_the_same_task_send_one_sms(fake_twilio):
    patient = PatientFactory()
    # Recorded as message_send records it, minus the task it queues: the threads are it.
    message = Message.objects.create(
        direction="out", from_number="+13125550100", to_number=patient.phone,
        body="Riverside Family Clinic: test", kind="declined", status=Message.Status.QUEUED,
        patient=patient)

    statuses = run_together([lambda: message_deliver(message_id=message.pk)] * 4)

    assert len(fake_twilio.requests) == 1
    message.refresh_from_db()
    assert message.status == Message.Status.ACCEPTED
    assert message.attempts == 1
    assert statuses.count(Message.Status.ACCEPTED) >= 1
