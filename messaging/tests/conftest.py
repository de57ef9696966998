import pytest
from django.test import override_settings


@pytest.fixture
def console_sms():
    with override_settings(SMS_BACKEND="console", TWILIO_FROM_NUMBER="+13125550100",
                           CLINIC_NAME="Riverside Family Clinic",
                           CLINIC_PHONE="(312) 555-0100"):
        yield
