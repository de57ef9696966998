"""Calls in the portal: the console backend simulates them, the simulator shows the
incoming call, reads what the clinic says and has keys 1 and 2 (through the same code as
Twilio's voice webhooks); staff set how offers reach a patient, and see a switch to
calls that Twilio's "not a mobile number" caused."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from clinic.models import Patient
from clinic.tests.factories import PatientFactory, ProviderFactory
from messaging.models import Message
from offers.models import Offer, Slot
from offers.services import slot_open
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def console_calls(settings):
    settings.SMS_BACKEND = "console"
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    settings.OFFER_BATCH_SIZE = 1


def open_slot():
    start = (timezone.localtime() + dt.timedelta(days=1)).replace(hour=10, minute=0,
                                                                  second=0, microsecond=0)
    return slot_open(provider=ProviderFactory(name="Dr. Maya Patel"), start=start,
                     end=start + dt.timedelta(minutes=20))


def test_a_simulated_call_is_answered_and_1_books_the_slot(client, front_desk_user):
    ana = PatientFactory(first_name="Ana", offer_channel=Patient.OfferChannel.VOICE)
    WaitlistEntryFactory(patient=ana)
    slot = open_slot()
    call = Message.objects.get(channel="voice", kind="offer")
    assert call.status == Message.Status.ACCEPTED
    assert call.twilio_sid.startswith("CASIM")
    client.force_login(front_desk_user)

    page = client.get(reverse("portal:simulator"), {"patient": ana.pk}).content.decode()
    assert "Incoming call" in page

    page = client.post(reverse("portal:simulator_call"),
                       {"call": call.pk, "action": "answer"}).content.decode()
    assert "Dr. Maya Patel" in page
    assert "press 1" in page
    assert Offer.objects.get(slot=slot).hold_until is not None
    page = client.post(reverse("portal:simulator_call"),
                       {"call": call.pk, "step": "1", "digits": "1"}).content.decode()

    assert "You&#x27;re booked, Ana" in page or "You're booked, Ana" in page
    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED
    keypress = Message.objects.get(direction="in", channel="voice")
    history = Offer.objects.get(slot=slot).history.first()
    assert keypress.body == "1"
    assert history.history_change_reason.startswith("[patient by phone call (simulated)")


def test_staff_choose_calls_for_a_patient_and_it_is_audited(client, front_desk_user):
    ana = PatientFactory(first_name="Ana")
    client.force_login(front_desk_user)

    response = client.post(reverse("portal:patient_offer_channel", args=[ana.pk]),
                           {"offer_channel": "sms_then_voice"})

    assert response.status_code == 302
    ana.refresh_from_db()
    assert ana.offer_channel == Patient.OfferChannel.SMS_THEN_VOICE
    record = ana.history.first()
    assert record.history_user == front_desk_user
    assert "how offers reach the patient" in record.history_change_reason
    page = client.get(reverse("portal:patient", args=[ana.pk])).content.decode()
    assert "Text, then a call" in page


def test_the_channel_form_needs_permission(client, outsider_user):
    ana = PatientFactory()
    client.force_login(outsider_user)
    response = client.post(reverse("portal:patient_offer_channel", args=[ana.pk]),
                           {"offer_channel": "voice"})
    assert response.status_code == 403
    ana.refresh_from_db()
    assert ana.offer_channel == Patient.OfferChannel.SMS


def test_staff_see_a_switch_to_calls_made_by_twilio(client, front_desk_user):
    from messaging.services import _patient_apply_error

    ana = PatientFactory(first_name="Ana")
    _patient_apply_error(ana, "21614")
    client.force_login(front_desk_user)

    page = client.get(reverse("portal:patient", args=[ana.pk])).content.decode()

    assert "Number cannot receive texts" in page
    assert "Twilio reported it cannot receive SMS, so offers are phone calls" in page
    assert "Twilio error 21614" in page  # the audit trail
