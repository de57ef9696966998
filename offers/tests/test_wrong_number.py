"""A wrong number, end to end: offers go out through the real twilio SDK (only its HTTP
is faked), a stranger answers one through the signed webhook, and from then on nothing
is texted to that number, the offer ends (its slot moves on at once), nothing is booked,
it is audited as the patient's by SMS, and staff see it on Today and the patient page."""

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse
from django.utils import timezone

from clinic.tests.factories import PatientFactory, ProviderFactory
from messaging.models import Message
from messaging.services import message_send
from messaging.tests.twilio_fakes import FROM_NUMBER, faked_twilio, twilio_post
from offers.models import Offer, Slot
from offers.services import slot_open
from waitlist.models import WaitlistEntry
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db(transaction=True)

sids = iter(range(1, 10_000))


@pytest.fixture
def fake_twilio(monkeypatch):
    with faked_twilio(monkeypatch) as transport:
        yield transport


@pytest.fixture(autouse=True)
def engine_settings(settings):
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    settings.OFFER_BATCH_SIZE = 1
    settings.OFFER_HOLD_SECONDS = 420
    settings.CLINIC_NAME = "Riverside Family Clinic"


def inbound(client, phone, body):
    response = twilio_post(client, "/twilio/sms/", {
        "From": phone, "To": FROM_NUMBER, "Body": body, "MessageSid": f"SMin{next(sids):030d}"})
    assert response.status_code == 200
    return "".join(m.text or "" for m in ET.fromstring(response.content).iter("Message"))


def open_slot(provider, *, days, hour):
    start = (timezone.localtime() + dt.timedelta(days=days)).replace(
        hour=hour, minute=0, second=0, microsecond=0)
    return slot_open(provider=provider, start=start, end=start + dt.timedelta(minutes=20))


@pytest.fixture
def day(fake_twilio):
    """Two slots offered one patient at a time over five patients, Ana first in line."""
    provider = ProviderFactory(name="Dr. Maya Patel")
    ana = PatientFactory(first_name="Ana")
    WaitlistEntryFactory(patient=ana, boost=40)
    others = [WaitlistEntryFactory(boost=30 - i).patient for i in range(4)]
    first = open_slot(provider, days=1, hour=9)
    second = open_slot(provider, days=1, hour=11)
    return {"provider": provider, "ana": ana, "others": others, "slots": [first, second]}


def test_a_wrong_number_stops_texting_ends_the_offer_and_books_nothing(client, day,
                                                                       fake_twilio):
    ana, first = day["ana"], day["slots"][0]
    offer = Offer.objects.get(patient=ana)
    assert offer.slot == first
    assert offer.status == Offer.Status.SENT
    texts_to_ana = [form for form in fake_twilio.sent if form["To"] == ana.phone]
    assert len(texts_to_ana) == 1

    answer = inbound(client, ana.phone, "Wrong number, I don't know any Ana")

    assert answer == ("Riverside Family Clinic: Sorry for the mix-up. We will not text this "
                      "number again. Questions? Call (312) 555-0100.")
    ana.refresh_from_db()
    assert ana.phone_wrong_at is not None
    assert not ana.can_receive_sms
    # The offer ended (never a booking) and the slot moved on at once to the next patient.
    offer.refresh_from_db()
    assert offer.status == Offer.Status.FAILED
    first.refresh_from_db()
    assert first.status == Slot.Status.OFFERING
    [next_offer] = first.offers.filter(status__in=Offer.LIVE_STATUSES)
    assert next_offer.patient in day["others"]
    assert not Offer.objects.filter(patient=ana, status=Offer.Status.ACCEPTED).exists()
    assert WaitlistEntry.objects.get(patient=ana).status == WaitlistEntry.Status.ACTIVE
    inbound_row = Message.objects.get(direction="in", from_number=ana.phone)
    assert inbound_row.kind == "wrong_number"

    # Audited as the patient's, by SMS, with the reason.
    change = ana.history.first()
    assert change.history_user is None
    assert change.history_change_reason.startswith("[patient by SMS: ")
    assert "Wrong number" in change.history_change_reason
    ended = offer.history.first().history_change_reason
    assert ended.startswith("[patient by SMS: ")
    assert "Wrong number" in ended

    # Nothing more goes to the number: not a repeated "wrong number" answer, not a YES
    # (which books nothing), not a new slot's offer, not a message anyone tries to send.
    assert inbound(client, ana.phone, "wrong number!!") == ""
    yes = inbound(client, ana.phone, "YES")
    assert "don't recognize this number" in yes
    assert not Offer.objects.filter(status=Offer.Status.ACCEPTED).exists()
    open_slot(day["provider"], days=2, hour=10)
    assert Offer.objects.filter(patient=ana).count() == 1
    assert message_send(patient=ana, template="declined") is None
    assert [form for form in fake_twilio.sent if form["To"] == ana.phone] == texts_to_ana


def test_a_spanish_numero_equivocado_is_answered_in_spanish(client, day):
    ana = day["ana"]
    ana.preferred_language = "es"
    ana.save()

    answer = inbound(client, ana.phone, "número equivocado")

    assert "No volveremos a escribir a este teléfono" in answer
    ana.refresh_from_db()
    assert ana.phone_wrong_at is not None


def test_staff_see_the_wrong_number_on_today_and_on_the_patient_page(client, day,
                                                                     front_desk_user):
    ana = day["ana"]
    inbound(client, ana.phone, "I'm not Ana")

    client.force_login(front_desk_user)
    today = client.get(reverse("portal:today")).content.decode()
    offer = Offer.objects.get(patient=ana)
    row = today[today.index(f'id="offer-{offer.pk}-patient"'):]
    row = row[:row.index("</li>")]
    assert "Wrong number" in row

    page = client.get(reverse("portal:patient", args=[ana.pk])).content.decode()
    assert 'data-testid="wrong-number"' in page
    assert "replied that it is not Ana's" in page
    assert "Can receive offers" not in page


def test_a_wrong_number_from_a_number_nobody_has_is_answered_and_stores_nothing(client, day):
    answer = inbound(client, "+13125559999", "wrong number")

    assert "We will not text this number again" in answer
    assert not Message.objects.filter(direction="in", patient__isnull=False,
                                      from_number="+13125559999").exists()
