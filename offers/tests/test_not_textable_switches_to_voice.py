"""A number Twilio reports as unable to receive SMS (21614 "not a mobile number", 30006
landline or unreachable) switches the patient's offers to phone calls, audited, shown to
staff; an opt-out (21610) is an opt-out, never a switch. Twilio faked at the HTTP layer."""

import datetime as dt

import pytest
from django.utils import timezone

from clinic.models import Patient
from clinic.tests.factories import PatientFactory, ProviderFactory
from messaging.models import Message
from messaging.tests.twilio_fakes import faked_twilio, twilio_error, twilio_post
from offers.models import Offer
from offers.services import slot_open
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake_twilio(monkeypatch, settings):
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    settings.OFFER_BATCH_SIZE = 1
    with faked_twilio(monkeypatch) as transport:
        yield transport


def open_slot(provider, days=2):
    start = (timezone.localtime() + dt.timedelta(days=days)).replace(
        hour=10, minute=0, second=0, microsecond=0)
    return slot_open(provider=provider, start=start, end=start + dt.timedelta(minutes=20))


@pytest.mark.parametrize("code", [21614])
def test_a_landline_refused_by_twilio_is_called_for_the_next_offer(fake_twilio, code):
    provider = ProviderFactory()
    ana = PatientFactory(first_name="Ana")
    WaitlistEntryFactory(patient=ana, any_provider=True)
    fake_twilio.answer_next(twilio_error(code))

    open_slot(provider)

    ana.refresh_from_db()
    assert ana.offer_channel == Patient.OfferChannel.VOICE
    assert ana.phone_invalid_at is not None
    assert not ana.sms_opted_out
    assert f"Twilio error {code}" in ana.history.first().history_change_reason
    assert "phone call" in ana.history.first().history_change_reason
    # The next freed slot is offered to her by a call.
    open_slot(provider, days=3)
    assert [c["To"] for c in fake_twilio.calls] == [ana.phone]
    assert Offer.objects.filter(patient=ana, status=Offer.Status.PENDING).exists()


def test_an_undelivered_30006_switches_to_calls(client, fake_twilio):
    ana = PatientFactory(first_name="Ana")
    WaitlistEntryFactory(patient=ana)
    open_slot(ProviderFactory())
    text = Message.objects.get(kind="offer")

    response = twilio_post(client, f"/twilio/status/?m={text.pk}", {
        "MessageSid": text.twilio_sid, "MessageStatus": "undelivered", "ErrorCode": "30006"})

    assert response.status_code == 204
    ana.refresh_from_db()
    assert ana.offer_channel == Patient.OfferChannel.VOICE


def test_an_unsubscribed_number_is_an_opt_out_not_a_call(fake_twilio):
    ana = PatientFactory(first_name="Ana")
    WaitlistEntryFactory(patient=ana)
    fake_twilio.answer_next(twilio_error(21610))

    open_slot(ProviderFactory())

    ana.refresh_from_db()
    assert ana.sms_opted_out
    assert ana.offer_channel == Patient.OfferChannel.SMS
    assert fake_twilio.calls == []

