"""Offers by phone call, end to end through the signed Twilio voice webhooks, with only
Twilio's HTTP API faked: the call is placed through the real SDK (Calls API, machine
detection), answered, and 1 or 2 pressed; machines, busy lines, repeats and forgeries."""

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from django.core.management import call_command
from django.utils import timezone

from clinic.models import Patient
from clinic.tests.factories import PatientFactory, ProviderFactory
from messaging.models import Message
from messaging.tests.twilio_fakes import (
    FROM_NUMBER,
    PUBLIC_BASE_URL,
    faked_twilio,
    twilio_post,
)
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
    settings.OFFER_BATCH_SIZE = 1
    settings.OFFER_HOLD_SECONDS = 420
    settings.CLINIC_NAME = "Riverside Family Clinic"
    settings.CLINIC_PHONE = "(312) 555-0100"


def voice_patient(name, **kwargs):
    return PatientFactory(first_name=name, offer_channel=Patient.OfferChannel.VOICE, **kwargs)


def open_slot(provider):
    start = (timezone.localtime() + dt.timedelta(days=2)).replace(
        hour=10, minute=20, second=0, microsecond=0)
    return slot_open(provider=provider, start=start, end=start + dt.timedelta(minutes=20))


def the_call(patient) -> Message:
    return Message.objects.get(patient=patient, channel="voice", direction="out", kind="offer")


def path_of(url: str) -> str:
    assert url.startswith(PUBLIC_BASE_URL)
    return url[len(PUBLIC_BASE_URL):]


def answer(client, call, answered_by="human", **extra):
    response = twilio_post(client, f"/twilio/voice/answer/?m={call.pk}", {
        "CallSid": call.twilio_sid, "From": FROM_NUMBER, "To": call.to_number,
        "CallStatus": "in-progress", "AnsweredBy": answered_by, **extra})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    return ET.fromstring(response.content)


def press(client, twiml_root, call, digits="", speech=""):
    """Post what Twilio would post to the <Gather>'s action (or its <Redirect>, with
    nothing heard)."""
    gather = twiml_root.find("Gather")
    url = gather.get("action") if gather is not None else twiml_root.find("Redirect").text
    params = {"CallSid": call.twilio_sid, "From": FROM_NUMBER, "To": call.to_number}
    if digits:
        params["Digits"] = digits
    if speech:
        params["SpeechResult"] = speech
    response = twilio_post(client, path_of(url), params)
    assert response.status_code == 200
    return ET.fromstring(response.content)


def said(root) -> str:
    return " ".join(say.text or "" for say in root.iter("Say"))


def call_status(client, call, status):
    response = twilio_post(client, f"/twilio/voice/status/?m={call.pk}", {
        "CallSid": call.twilio_sid, "CallStatus": status, "From": FROM_NUMBER,
        "To": call.to_number})
    assert response.status_code == 204


def test_a_call_answered_and_1_pressed_books_the_slot(client, fake_twilio):
    provider = ProviderFactory(name="Dr. Maya Patel")
    rosa = voice_patient("Rosa", preferred_language="es")
    entry = WaitlistEntryFactory(patient=rosa)

    slot = open_slot(provider)

    # The offer went out as a call through the Calls API, with machine detection and
    # our signed webhooks; no text was sent.
    assert fake_twilio.sent == []
    [placed] = fake_twilio.calls
    assert placed["To"] == rosa.phone
    assert placed["From"] == FROM_NUMBER
    assert placed["MachineDetection"] == "DetectMessageEnd"
    assert placed["Url"].startswith(f"{PUBLIC_BASE_URL}/twilio/voice/answer/")
    assert placed["StatusCallback"].startswith(f"{PUBLIC_BASE_URL}/twilio/voice/status/")
    offer = Offer.objects.get(slot=slot)
    assert offer.status == Offer.Status.PENDING
    assert offer.hold_until is None
    assert offer.status_label == "Calling"  # as Today shows it while the phone rings
    call = the_call(rosa)
    assert call.status == Message.Status.ACCEPTED
    assert call.twilio_sid.startswith("CA")

    before = timezone.now()
    root = answer(client, call)
    # Spoken in Spanish, with the offer's facts, then listening for 1/2 or yes/no.
    gather = root.find("Gather")
    assert gather.get("input") == "dtmf speech"
    assert gather.get("numDigits") == "1"
    say = gather.find("Say")
    assert say.get("language") == "es-MX"
    assert "Rosa" in say.text
    assert "Dr. Maya Patel" in say.text
    assert "marque 1" in say.text
    offer.refresh_from_db()
    # The hold runs from the answer.
    assert offer.status == Offer.Status.SENT
    assert offer.hold_until >= before + dt.timedelta(
        seconds=419)

    root = press(client, root, call, digits="1")
    assert "Listo, Rosa" in said(root)
    assert root.find("Hangup") is not None
    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED
    assert slot.filled_entry_id == entry.pk
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.ACCEPTED
    # The keypress is in the log, as the patient's.
    keypress = Message.objects.get(direction="in", channel="voice")
    assert keypress.body == "1"
    assert keypress.kind == "yes"
    assert keypress.patient == rosa
    assert keypress.twilio_sid == f"{call.twilio_sid}:1"


def test_saying_yes_books_as_pressing_1_does(client, fake_twilio):
    ana = voice_patient("Ana")
    WaitlistEntryFactory(patient=ana)
    slot = open_slot(ProviderFactory())
    call = the_call(ana)
    root = press(client, answer(client, call), call, speech="Yes, please.")
    assert "You're booked, Ana" in said(root)
    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED


def test_2_declines_and_the_next_batch_goes_out(client, fake_twilio):
    provider = ProviderFactory()
    ana, ben = voice_patient("Ana"), voice_patient("Ben")
    WaitlistEntryFactory(patient=ana, boost=20)
    WaitlistEntryFactory(patient=ben, boost=0)
    slot = open_slot(provider)
    assert [c["To"] for c in fake_twilio.calls] == [ana.phone]

    call = the_call(ana)
    root = press(client, answer(client, call), call, digits="2")

    assert "we will offer it to someone else" in said(root)
    assert Offer.objects.get(slot=slot, patient=ana).status == Offer.Status.DECLINED
    # Batch 2: Ben is called.
    assert [c["To"] for c in fake_twilio.calls] == [ana.phone, ben.phone]
    assert Offer.objects.get(slot=slot, patient=ben).batch == 2


def test_an_answering_machine_gets_a_voicemail_without_the_offer(client, fake_twilio):
    provider = ProviderFactory(name="Dr. Maya Patel")
    ana, ben = voice_patient("Ana"), voice_patient("Ben")
    WaitlistEntryFactory(patient=ana, boost=20)
    WaitlistEntryFactory(patient=ben, boost=0)
    slot = open_slot(provider)
    call = the_call(ana)

    root = answer(client, call, answered_by="machine_end_beep")

    text = said(root)
    assert "Please call us back at (312) 555-0100" in text
    for private in ("Ana", "Maya", "Patel", "10:20", "earlier visit"):
        assert private not in text
    assert root.find("Gather") is None
    assert root.find("Hangup") is not None
    # Not answered: the offer ends (as a hold passing would) and the slot moves on.
    offer = Offer.objects.get(slot=slot, patient=ana)
    assert offer.status == Offer.Status.EXPIRED
    call.refresh_from_db()
    assert call.status == Message.Status.UNDELIVERED
    assert call.error_code == "machine"
    assert Message.objects.get(kind="voicemail").body == text
    assert [c["To"] for c in fake_twilio.calls] == [ana.phone, ben.phone]


def test_a_busy_line_ends_the_attempt(client, fake_twilio):
    ana, ben = voice_patient("Ana"), voice_patient("Ben")
    WaitlistEntryFactory(patient=ana, boost=20)
    WaitlistEntryFactory(patient=ben, boost=0)
    slot = open_slot(ProviderFactory())
    call = the_call(ana)

    call_status(client, call, "ringing")
    call_status(client, call, "busy")

    offer = Offer.objects.get(slot=slot, patient=ana)
    assert offer.status == Offer.Status.FAILED
    call.refresh_from_db()
    assert call.status == Message.Status.UNDELIVERED
    assert call.error_code == "busy"
    assert [e.status for e in call.status_events.all()][-2:] == ["sent", "undelivered"]
    assert Offer.objects.get(slot=slot, patient=ben).is_live
    # A repeated callback changes nothing more.
    call_status(client, call, "busy")
    assert Offer.objects.filter(slot=slot).count() == 2


def test_a_key_yes_after_another_patients_sms_yes_is_told_the_truth(client, fake_twilio,
                                                                    settings):
    settings.OFFER_BATCH_SIZE = 2
    ana = voice_patient("Ana")
    ben = PatientFactory(first_name="Ben")  # texted
    WaitlistEntryFactory(patient=ana, boost=20)
    ben_entry = WaitlistEntryFactory(patient=ben, boost=10)
    slot = open_slot(ProviderFactory())
    call = the_call(ana)
    root = answer(client, call)

    # Ben's SMS YES arrives while Ana listens to the offer.
    response = twilio_post(client, "/twilio/sms/", {
        "From": ben.phone, "To": FROM_NUMBER, "Body": "YES", "MessageSid": "SM" + "b" * 32})
    assert response.status_code == 200
    root = press(client, root, call, digits="1")

    assert "someone else just took that appointment" in said(root)
    slot.refresh_from_db()
    assert slot.filled_entry_id == ben_entry.pk
    assert Offer.objects.get(slot=slot, patient=ana).status == Offer.Status.SUPERSEDED


def test_the_same_call_sid_delivered_twice_is_acted_on_once(client, fake_twilio):
    ana = voice_patient("Ana")
    entry = WaitlistEntryFactory(patient=ana)
    slot = open_slot(ProviderFactory())
    call = the_call(ana)

    first = answer(client, call)
    hold_until = Offer.objects.get(slot=slot).hold_until
    again = answer(client, call)  # Twilio retried the answer webhook
    assert Offer.objects.get(slot=slot).hold_until == hold_until
    assert said(again) == said(first)

    booked = press(client, first, call, digits="1")
    repeat = press(client, first, call, digits="1")

    assert said(repeat) == said(booked)
    assert Message.objects.filter(direction="in", channel="voice").count() == 1
    assert WaitlistEntry.objects.get(pk=entry.pk).status == WaitlistEntry.Status.BOOKED
    assert Offer.objects.get(slot=slot).history.filter(status="accepted").count() == 1


def test_silence_repeats_the_offer_once_then_ends_politely(client, fake_twilio):
    ana = voice_patient("Ana")
    WaitlistEntryFactory(patient=ana)
    slot = open_slot(ProviderFactory(name="Dr. Maya Patel"))
    call = the_call(ana)

    root = answer(client, call)
    again = press(client, root, call)  # nothing heard
    assert "Dr. Maya Patel" in said(again)
    assert again.find("Gather") is not None
    end = press(client, again, call)
    assert "We did not hear an answer" in said(end)
    assert end.find("Hangup") is not None
    # Still held until its hold passes, as an unanswered text is.
    assert Offer.objects.get(slot=slot).status == Offer.Status.SENT
    assert list(Message.objects.filter(direction="in", channel="voice")
                .values_list("kind", flat=True)) == ["silence", "silence"]


def test_a_forged_signature_gets_403_and_changes_nothing(client, fake_twilio):
    ana = voice_patient("Ana")
    WaitlistEntryFactory(patient=ana)
    slot = open_slot(ProviderFactory())
    call = the_call(ana)
    params = {"CallSid": call.twilio_sid, "Digits": "1", "To": call.to_number}

    for path in (f"/twilio/voice/answer/?m={call.pk}", f"/twilio/voice/gather/?m={call.pk}",
                 f"/twilio/voice/status/?m={call.pk}"):
        assert twilio_post(client, path, params, token="not-the-token").status_code == 403
        assert twilio_post(client, path, params, signature="").status_code == 403

    assert Offer.objects.get(slot=slot).status == Offer.Status.PENDING
    assert not Message.objects.filter(direction="in").exists()


def test_calls_wait_for_texting_hours(client, fake_twilio, settings):
    settings.SMS_SEND_HOURS = (dt.time(3, 0), dt.time(3, 1))
    if dt.time(3, 0) <= timezone.localtime().time() < dt.time(3, 1):
        pytest.skip("the test's closed hours are now")
    ana = voice_patient("Ana")
    WaitlistEntryFactory(patient=ana)
    slot = open_slot(ProviderFactory())
    assert fake_twilio.calls == []
    slot.refresh_from_db()
    assert slot.waiting_for == Slot.WaitingFor.TEXTING_HOURS


def test_a_text_unanswered_is_followed_by_a_call(client, fake_twilio):
    ana = PatientFactory(first_name="Ana", offer_channel=Patient.OfferChannel.SMS_THEN_VOICE)
    WaitlistEntryFactory(patient=ana)
    slot = open_slot(ProviderFactory())
    assert len(fake_twilio.sent) == 1
    assert fake_twilio.calls == []
    offer = Offer.objects.get(slot=slot)
    Offer.objects.filter(pk=offer.pk).update(hold_until=timezone.now() - dt.timedelta(seconds=1))

    from offers.services import offer_expire
    assert offer_expire(offer_id=offer.pk) is False

    # Not expired: called instead, and the hold starts again when the call is answered.
    assert [c["To"] for c in fake_twilio.calls] == [ana.phone]
    call = the_call(ana)
    root = answer(client, call)
    offer.refresh_from_db()
    assert offer.is_live
    assert offer.hold_until > timezone.now() + dt.timedelta(minutes=6)
    press(client, root, call, digits="1")
    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED


def test_a_text_then_a_busy_call_expires_the_offer_and_is_called_once(client, fake_twilio):
    ana = PatientFactory(first_name="Ana", offer_channel=Patient.OfferChannel.SMS_THEN_VOICE)
    WaitlistEntryFactory(patient=ana)
    slot = open_slot(ProviderFactory())
    offer = Offer.objects.get(slot=slot)
    Offer.objects.filter(pk=offer.pk).update(hold_until=timezone.now() - dt.timedelta(seconds=1))
    from offers.services import offer_expire
    offer_expire(offer_id=offer.pk)

    call_status(client, the_call(ana), "busy")

    offer.refresh_from_db()
    # She had the text: its hold passed unanswered, and so did the call.
    assert offer.status == Offer.Status.EXPIRED
    assert len(fake_twilio.calls) == 1


def test_calls_and_keypresses_are_in_the_exported_log(client, fake_twilio, capsys):
    ana = voice_patient("Ana")
    WaitlistEntryFactory(patient=ana)
    open_slot(ProviderFactory())
    call = the_call(ana)
    press(client, answer(client, call), call, digits="1")

    call_command("dumpdata", "messaging.message", format="json")
    out = capsys.readouterr().out
    assert '"channel": "voice"' in out
    assert f'"twilio_sid": "{call.twilio_sid}:1"' in out
