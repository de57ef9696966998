import pytest
from django.test import override_settings

from messaging.tests.twilio_fakes import fake_twilio  # noqa: F401  (a shared fixture)


@pytest.fixture
def console_sms():
    with override_settings(SMS_BACKEND="console", TWILIO_FROM_NUMBER="+13125550100",
                           CLINIC_NAME="Riverside Family Clinic",
                           CLINIC_PHONE="(312) 555-0100"):
        yield


@pytest.fixture
def signals_received():
    """What message_failed and patient_opted_out announced during the test."""
    from messaging import hooks

    received = {"failed": [], "opted_out": []}

    def on_failed(sender, **kwargs):
        received["failed"].append(kwargs)

    def on_opted_out(sender, **kwargs):
        received["opted_out"].append(kwargs)

    hooks.message_failed.connect(on_failed)
    hooks.patient_opted_out.connect(on_opted_out)
    yield received
    hooks.message_failed.disconnect(on_failed)
    hooks.patient_opted_out.disconnect(on_opted_out)


@pytest.fixture
def eager_retries():
    """Let eager tasks run their retries in-process (with propagation on, Celery raises
    the first Retry to the caller instead of applying it)."""
    from clinic.celery import app

    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = True
