"""Logs carry no phone number in full and no message body."""

import io
import logging

import pytest

from clinic.lib.logmask import MaskPhoneNumbers
from clinic.tests.factories import PatientFactory
from messaging.services import inbound_handle, message_send

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_output():
    """What the configured console handler (with its masking filter) writes."""
    handler = next(h for h in logging.getLogger().handlers
                   if any(isinstance(f, MaskPhoneNumbers) for f in h.filters))
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)


def test_a_phone_number_logged_by_anyone_is_masked(log_output):
    logging.getLogger("anything").warning("calling %s then (312) 555-0142", "+13125550142")
    output = log_output.getvalue()
    assert "+1******0142" in output
    assert "5550142" not in output
    assert "555-0142" not in output


def test_sending_and_receiving_log_neither_bodies_nor_numbers(
        log_output, django_capture_on_commit_callbacks):
    patient = PatientFactory(phone="+13125550199", first_name="Rosalind")
    with django_capture_on_commit_callbacks(execute=True):
        message = message_send(patient=patient, template="help")
        inbound_handle(from_number=patient.phone, to_number="+13125550100",
                       body="what is this about my knee surgery", sid="SMprivacy1")
    output = log_output.getvalue()
    assert output, "sending and receiving should leave a trace in the log"
    assert message.body.strip()
    assert message.body.strip()[:30] not in output
    assert "knee surgery" not in output
    assert "Rosalind" not in output
    assert "5550199" not in output
