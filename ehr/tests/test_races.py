"""An EHR that retries fast can post one resource twice at the same moment: it must still
be stored once. Real concurrent connections, on PostgreSQL."""

import datetime as dt

import pytest
from django.test import Client

from clinic.models import Patient
from clinic.tests.concurrency import run_together
from ehr.tests.payloads import cancelled_appointment, post, waitlist_appointment
from offers.models import Slot
from waitlist.models import WaitlistEntry


def post_at_once(key, body, times=2):
    return sorted(run_together([lambda: post(Client(), key, body).status_code] * times))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_waitlist_request_posted_twice_at_once_is_stored_once(key):
    statuses = post_at_once(key, waitlist_appointment())

    assert statuses == [200, 201]
    assert WaitlistEntry.objects.count() == 1
    assert Patient.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_cancellation_posted_twice_at_once_opens_one_slot(key, settings):
    # Quiet hours keep the offer engine out of this test: it is about the slot row.
    settings.SMS_SEND_HOURS = (dt.time(0, 0), dt.time(0, 1))

    statuses = post_at_once(key, cancelled_appointment())

    assert statuses == [200, 201]
    assert Slot.objects.count() == 1
