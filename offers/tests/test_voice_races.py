"""Real concurrency for calls (threads, each with its own connection, committing for
real; PostgreSQL's row locks decide, SQLite's BEGIN IMMEDIATE serializes): a key 1 on a
call racing another patient's SMS YES books exactly one of them, and tells the other the
truth; the same keypress delivered twice at once is acted on once."""

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from django.test import Client
from django.utils import timezone

from clinic.models import Patient
from clinic.tests.concurrency import run_together
from clinic.tests.factories import PatientFactory, ProviderFactory
from messaging.models import Message
from messaging.tests.twilio_fakes import FROM_NUMBER, faked_twilio, twilio_post
from offers.models import Offer, Slot
from offers.services import slot_open
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def fake_twilio(monkeypatch, settings):
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    settings.OFFER_BATCH_SIZE = 2
    with faked_twilio(monkeypatch) as transport:
        yield transport


def open_slot():
    start = (timezone.localtime() + dt.timedelta(days=2)).replace(hour=9, minute=0, second=0,
                                                                  microsecond=0)
    return slot_open(provider=ProviderFactory(), start=start, end=start + dt.timedelta(minutes=20))


def spoken(response) -> str:
    assert response.status_code == 200
    return " ".join(s.text or "" for s in ET.fromstring(response.content).iter("Say"))


def answered_call(patient) -> Message:
    call = Message.objects.get(patient=patient, channel="voice", kind="offer")
    spoken(twilio_post(Client(), f"/twilio/voice/answer/?m={call.pk}", {
        "CallSid": call.twilio_sid, "To": call.to_number, "AnsweredBy": "human"}))
    return call


def key_1(call):
    return lambda: spoken(twilio_post(Client(), f"/twilio/voice/gather/?m={call.pk}&step=1", {
        "CallSid": call.twilio_sid, "To": call.to_number, "Digits": "1"}))


@pytest.mark.parametrize("attempt", range(3))
def test_a_key_1_racing_an_sms_yes_books_exactly_one(fake_twilio, attempt):
    ana = PatientFactory(first_name="Ana", offer_channel=Patient.OfferChannel.VOICE)
    ben = PatientFactory(first_name="Ben")
    WaitlistEntryFactory(patient=ana, boost=20)
    WaitlistEntryFactory(patient=ben, boost=10)
    slot = open_slot()
    call = answered_call(ana)

    def sms_yes():
        response = twilio_post(Client(), "/twilio/sms/", {
            "From": ben.phone, "To": FROM_NUMBER, "Body": "YES",
            "MessageSid": f"SM{attempt:032d}"})
        return "".join(m.text or "" for m in ET.fromstring(response.content).iter("Message"))

    by_call, by_text = run_together([key_1(call), sms_yes])

    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED
    assert Offer.objects.filter(slot=slot, status="accepted").count() == 1
    winner = Offer.objects.get(slot=slot, status="accepted").patient
    if winner == ana:
        assert "You're booked, Ana" in by_call
        assert "someone else just took" in by_text
    else:
        assert "someone else just took that appointment" in by_call
        assert "You're booked, Ben" in by_text


def test_the_same_keypress_delivered_twice_at_once_is_acted_on_once(fake_twilio):
    ana = PatientFactory(first_name="Ana", offer_channel=Patient.OfferChannel.VOICE)
    WaitlistEntryFactory(patient=ana)
    slot = open_slot()
    call = answered_call(ana)

    first, second = run_together([key_1(call), key_1(call)])

    assert first == second
    assert "You're booked, Ana" in first
    assert Message.objects.filter(direction="in", channel="voice").count() == 1
    assert Offer.objects.get(slot=slot).history.filter(status="accepted").count() == 1
    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED
