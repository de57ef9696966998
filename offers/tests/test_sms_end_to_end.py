"""The whole SMS path, with only Twilio's HTTP API faked: a cancellation sends offers
through the real twilio SDK, a signed inbound YES books the slot and is answered in TwiML,
the other offers are superseded (and those patients told), and their late YES hears that
the slot is filled."""

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from django.utils import timezone

from clinic.tests.factories import PatientFactory, ProviderFactory
from messaging.models import Message
from messaging.tests.twilio_fakes import FROM_NUMBER, faked_twilio, twilio_post
from offers.models import Offer, Slot
from offers.services import slot_open
from waitlist.models import WaitlistEntry
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake_twilio(monkeypatch):
    with faked_twilio(monkeypatch) as transport:
        yield transport


@pytest.fixture(autouse=True)
def engine_settings(settings):
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    settings.OFFER_BATCH_SIZE = 3
    settings.OFFER_HOLD_SECONDS = 420
    settings.CLINIC_NAME = "Riverside Family Clinic"


def inbound(client, patient, body, sid):
    response = twilio_post(client, "/twilio/sms/", {
        "From": patient.phone, "To": FROM_NUMBER, "Body": body, "MessageSid": sid})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    return "".join(m.text or "" for m in ET.fromstring(response.content).iter("Message"))


def test_cancellation_to_booking_over_sms(client, fake_twilio):
    provider = ProviderFactory(name="Dr. Maya Patel")
    patients = [PatientFactory(first_name=name) for name in ("Ana", "Ben", "Chloe")]
    entries = [WaitlistEntryFactory(patient=patient) for patient in patients]
    start = (timezone.localtime() + dt.timedelta(days=2)).replace(
        hour=10, minute=20, second=0, microsecond=0)

    slot = slot_open(provider=provider, start=start, end=start + dt.timedelta(minutes=20))

    # Three offers went to Twilio's Messages API, one per patient, and are in the log.
    offers = list(Offer.objects.filter(slot=slot))
    assert len(offers) == 3
    assert all(offer.status == Offer.Status.SENT for offer in offers)
    sent = fake_twilio.sent
    assert sorted(form["To"] for form in sent) == sorted(p.phone for p in patients)
    assert all("Reply YES in 7 min" in form["Body"] for form in sent)
    assert all("Dr. Maya Patel" in form["Body"] for form in sent)
    logged = Message.objects.filter(kind="offer", direction="out")
    assert logged.count() == 3
    assert all(m.status == Message.Status.ACCEPTED and m.twilio_sid for m in logged)
    assert {m.subject_id for m in logged} == {offer.pk for offer in offers}

    # Ben says yes first: booked, and told so in the TwiML answer.
    ana, ben, chloe = patients
    answer = inbound(client, ben, "Yes please!", "SM" + "b" * 32)
    assert answer.startswith("Riverside Family Clinic: You're booked, Ben!")
    assert "Dr. Maya Patel" in answer
    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED
    ben_offer = Offer.objects.get(slot=slot, patient=ben)
    assert ben_offer.status == Offer.Status.ACCEPTED
    assert WaitlistEntry.objects.get(pk=entries[1].pk).status == WaitlistEntry.Status.BOOKED

    # The other two offers are superseded, and those patients were texted about it.
    others = Offer.objects.filter(slot=slot, patient__in=[ana, chloe])
    assert {offer.status for offer in others} == {Offer.Status.SUPERSEDED}
    closed = [form for form in fake_twilio.sent if "no longer available" in form["Body"]]
    assert sorted(form["To"] for form in closed) == sorted([ana.phone, chloe.phone])

    # Ana's late YES: kindly told it is gone; nothing changes for Ben.
    late = inbound(client, ana, "YES", "SM" + "a" * 32)
    assert "someone else just took that appointment" in late
    assert "waitlist" in late
    assert Offer.objects.get(pk=ben_offer.pk).status == Offer.Status.ACCEPTED
    assert Offer.objects.filter(slot=slot, status=Offer.Status.ACCEPTED).count() == 1

    # Twilio retrying Ben's webhook does not book anything twice or answer again.
    assert inbound(client, ben, "Yes please!", "SM" + "b" * 32) == ""
    assert Message.objects.filter(direction="in").count() == 2
