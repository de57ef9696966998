import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from clinic.tests.factories import PatientFactory
from messaging.models import Message
from messaging.services import clinic_sms_number
from offers.models import Offer
from offers.tests.factories import OfferFactory

pytestmark = pytest.mark.django_db


def test_a_simulated_reply_goes_through_the_inbound_sms_path(client, front_desk_user):
    patient = PatientFactory(phone="+13125550160")
    client.force_login(front_desk_user)
    response = client.post(reverse("portal:simulator"),
                           {"phone": "(312) 555-0160", "quick": "HELP"})
    assert response.status_code == 200
    inbound = Message.objects.get(direction=Message.Direction.IN)
    assert inbound.patient == patient
    assert inbound.body == "HELP"
    assert inbound.twilio_sid.startswith("SIM")
    reply = Message.objects.get(direction=Message.Direction.OUT)
    assert reply.kind == "help"
    # The same clinic number as the offers the engine sends, so the thread is one line.
    assert inbound.to_number == reply.from_number == clinic_sms_number()
    assert reply.body in response.content.decode()


def test_stop_in_the_simulator_opts_the_patient_out(client, front_desk_user):
    patient = PatientFactory(phone="+13125550161")
    client.force_login(front_desk_user)
    client.post(reverse("portal:simulator"), {"phone": patient.phone, "body": "stop"})
    patient.refresh_from_db()
    assert patient.sms_opted_out
    page = client.get(reverse("portal:patient", args=[patient.pk])).content.decode()
    assert "Opted out" in page


def test_the_simulator_refuses_a_number_that_is_not_one(client, front_desk_user):
    client.force_login(front_desk_user)
    response = client.post(reverse("portal:simulator"), {"phone": "hello", "body": "YES"})
    assert "not a phone number" in response.content.decode()
    assert not Message.objects.exists()


def test_the_simulator_cannot_be_posted_to_with_the_twilio_backend(client, front_desk_user,
                                                                   settings):
    settings.SMS_BACKEND = "twilio"
    client.force_login(front_desk_user)
    response = client.post(reverse("portal:simulator"), {"phone": "+13125550161", "body": "YES"})
    assert response.status_code == 404
    assert not Message.objects.exists()


def test_a_yes_in_the_simulator_takes_the_winner_off_the_holders_list(client, front_desk_user):
    offer = OfferFactory(status=Offer.Status.SENT, sent_at=timezone.now(),
                         hold_until=timezone.now() + dt.timedelta(minutes=7))
    name = str(offer.patient)
    client.force_login(front_desk_user)
    holders = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "holders"}
    before = client.get(reverse("portal:simulator"), **holders).content.decode()
    assert 'id="holders"' in before
    page = client.get(reverse("portal:simulator")).content.decode()
    # No template source leaks into the page (a {# #} comment is one line only).
    assert "{#" not in page
    assert "{%" not in page
    assert name in before

    answer = client.post(reverse("portal:simulator"), {"phone": offer.patient.phone,
                                                       "quick": "YES"},
                         HTTP_HX_REQUEST="true", HTTP_HX_TARGET="phone")
    # The phone's answer tells the holders list to reload, and the list no longer has them.
    assert set(json.loads(answer["HX-Trigger"])) == {"simulatorReplied"}
    after = client.get(reverse("portal:simulator"), **holders).content.decode()
    assert name not in after
    assert "Nobody holds an offer right now" in after
