"""The EHR's whole loop: waitlist via FHIR, a cancellation via FHIR, a patient's signed
YES by SMS, and the booked Bundle for write-back."""

import datetime as dt

import pytest
from django.conf import settings as django_settings
from twilio.request_validator import RequestValidator

from ehr.tests.payloads import URL, cancelled_appointment, get, post, waitlist_appointment
from offers.models import Offer, Slot
from waitlist.models import WaitlistEntry

pytestmark = pytest.mark.django_db

PHONES = ["+13125550142", "+13125550143", "+13125550144"]


def signed_sms(client, *, from_number, body, sid):
    path = "/twilio/sms/"
    form = {"From": from_number, "To": django_settings.TWILIO_FROM_NUMBER or "+13125550100",
            "Body": body, "MessageSid": sid, "AccountSid": "AC" + "0" * 32, "NumMedia": "0"}
    signature = RequestValidator(django_settings.TWILIO_AUTH_TOKEN).compute_signature(
        django_settings.PUBLIC_BASE_URL + path, form)
    return client.post(path, form, headers={"X-Twilio-Signature": signature})


def test_waitlist_cancellation_yes_and_booked_bundle(client, key, settings,
                                                     django_capture_on_commit_callbacks):
    settings.TWILIO_AUTH_TOKEN = "e2e-test-auth-token"
    settings.TWILIO_FROM_NUMBER = "+13125550100"
    settings.SMS_BACKEND = "console"
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    settings.OFFER_BATCH_SIZE = 3
    for i, phone in enumerate(PHONES):
        response = post(client, key, waitlist_appointment(
            phone=phone, given=f"Patient{i}", identifier=f"WL-{i}", requested=None))
        assert response.status_code == 201

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, key, cancelled_appointment(identifier="APT-77"))
    assert response.status_code == 201
    slot = Slot.objects.get()
    assert Offer.objects.filter(slot=slot, status=Offer.Status.SENT).count() == 3

    with django_capture_on_commit_callbacks(execute=True):
        reply = signed_sms(client, from_number=PHONES[1], body="YES",
                           sid="SM" + "e2e".ljust(32, "0"))
    assert reply.status_code == 200
    assert reply["Content-Type"].startswith("text/xml")

    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED
    booked = get(client, key, URL, status="booked").json()
    assert booked["total"] == 1
    resource = booked["entry"][0]["resource"]
    assert resource["id"] == f"slot-{slot.pk}"
    assert resource["status"] == "booked"
    assert resource["identifier"][0]["value"] == "APT-77"
    patient = resource["contained"][0]
    assert patient["telecom"][0]["value"] == PHONES[1]
    assert patient["name"][0]["given"] == ["Patient1"]
    entry = WaitlistEntry.objects.get(ehr_identifier_value="WL-1")
    assert entry.status == WaitlistEntry.Status.BOOKED
    assert resource["supportingInformation"][0]["identifier"]["value"] == "WL-1"
    waitlist_resource = get(client, key, f"{URL}/waitlist-{entry.pk}").json()
    assert waitlist_resource["status"] == "booked"
    assert waitlist_resource["start"] == resource["start"]
