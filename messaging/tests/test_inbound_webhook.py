"""POST /twilio/sms/: signed, idempotent per MessageSid, logged, answered in TwiML."""

import logging
import xml.etree.ElementTree as ET

import pytest

from clinic.tests.factories import PatientFactory
from messaging import hooks
from messaging.models import Message
from messaging.services import message_send
from messaging.tests.twilio_fakes import FROM_NUMBER, twilio_post

pytestmark = pytest.mark.django_db

PATH = "/twilio/sms/"
_sid = iter(range(1, 10_000))


def sms(patient_or_number, body, *, sid=None):
    number = getattr(patient_or_number, "phone", patient_or_number)
    return {"From": number, "To": FROM_NUMBER, "Body": body,
            "MessageSid": sid or f"SM{next(_sid):032d}", "AccountSid": "AC" + "0" * 32,
            "NumMedia": "0"}


def reply_text(response) -> str:
    """The one <Message> of a TwiML answer, or "" for an empty <Response/>."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "Response"
    messages = root.findall("Message")
    assert len(messages) <= 1
    return messages[0].text if messages else ""


@pytest.fixture
def replies(fake_twilio):
    """Stands in for the offer engine's reply handler (the end-to-end test in
    offers/tests uses the real one); records what it was handed."""
    calls = []

    def handler(*, patient, intent, message):
        calls.append({"patient": patient, "intent": intent, "message": message})
        context = {"first_name": patient.first_name, "start": message.created_at,
                   "provider": "Dr. Maya Patel", "state": "live", "minutes_left": 5}
        if intent in ("yes", "no"):
            return hooks.ReplyAnswer("declined" if intent == "no" else "confirmation", context)
        return hooks.ReplyAnswer("unclear_reply", context)  # as if an offer were live

    previous = hooks.get_reply_handler()
    hooks.register_reply_handler(handler)
    yield calls
    hooks.register_reply_handler(previous)


# --- Signatures ---------------------------------------------------------------------


def test_signed_yes_is_handed_to_the_engine_and_answered_in_twiml(client, replies):
    patient = PatientFactory(first_name="Ben")

    response = twilio_post(client, PATH, sms(patient, "Yes please"))

    assert reply_text(response).startswith("Riverside Family Clinic: You're booked, Ben!")
    [call] = replies
    assert call["patient"] == patient
    assert call["intent"] == "yes"
    inbound, reply = Message.objects.order_by("pk")
    assert inbound.direction == "in"
    assert inbound.body == "Yes please"
    assert inbound.kind == "yes"
    assert inbound.from_number == patient.phone
    assert inbound.status == Message.Status.RECEIVED
    assert reply.direction == "out"
    assert reply.kind == "confirmation"
    assert reply.to_number == patient.phone
    assert reply.body == reply_text(response)


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl"], ids=["missing", "wrong"])
def test_bad_or_missing_signature_is_refused_and_changes_nothing(client, replies, signature):
    patient = PatientFactory()

    response = twilio_post(client, PATH, sms(patient, "STOP"), signature=signature)

    assert response.status_code == 403
    assert not Message.objects.exists()
    patient.refresh_from_db()
    assert not patient.sms_opted_out
    assert replies == []


def test_signature_made_with_another_token_is_refused(client, replies):
    response = twilio_post(client, PATH, sms(PatientFactory(), "YES"), token="someone-else")

    assert response.status_code == 403
    assert replies == []


def test_signature_of_other_fields_is_refused(client, replies):
    from twilio.request_validator import RequestValidator

    from messaging.tests.twilio_fakes import AUTH_TOKEN, PUBLIC_BASE_URL

    patient = PatientFactory()
    signed = sms(patient, "NO")
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE_URL + PATH, signed)

    response = twilio_post(client, PATH, {**signed, "Body": "YES"}, signature=signature)

    assert response.status_code == 403
    assert replies == []


def test_signature_is_checked_against_the_public_url_not_the_host_django_sees(
        client, replies, settings):
    """Behind a proxy Django sees http://testserver; Twilio signed https://<public host>."""
    from twilio.request_validator import RequestValidator

    from messaging.tests.twilio_fakes import AUTH_TOKEN

    params = sms(PatientFactory(), "YES")
    as_django_sees_it = RequestValidator(AUTH_TOKEN).compute_signature(
        "http://testserver" + PATH, params)

    assert twilio_post(client, PATH, params, signature=as_django_sees_it).status_code == 403
    assert twilio_post(client, PATH, params).status_code == 200


def test_without_twilio_credentials_every_webhook_is_refused(client, replies, settings):
    settings.TWILIO_AUTH_TOKEN = ""

    response = twilio_post(client, PATH, sms(PatientFactory(), "YES"))

    assert response.status_code == 403


def test_get_is_not_allowed(client, fake_twilio):
    assert client.get(PATH).status_code == 405


# --- Idempotency and bad input --------------------------------------------------------


def test_same_message_sid_twice_is_acted_on_once(client, replies):
    patient = PatientFactory()
    params = sms(patient, "YES", sid="SM" + "d" * 32)

    first = twilio_post(client, PATH, params)
    second = twilio_post(client, PATH, params)

    assert reply_text(first) != ""
    assert reply_text(second) == ""
    assert len(replies) == 1
    assert Message.objects.filter(direction="in").count() == 1
    assert Message.objects.filter(direction="out").count() == 1


@pytest.mark.parametrize("missing", ["From", "To", "MessageSid"])
def test_missing_field_gets_a_400_that_names_it(client, replies, missing):
    params = sms(PatientFactory(), "YES")
    del params[missing]

    response = twilio_post(client, PATH, params)

    assert response.status_code == 400
    assert missing in response.content.decode()
    assert not Message.objects.exists()
    assert replies == []


def test_nul_character_is_a_400_not_a_500(client, replies):
    response = twilio_post(client, PATH, sms(PatientFactory(), "YES\x00"))

    assert response.status_code == 400
    assert not Message.objects.exists()


@pytest.mark.parametrize("body", ["", "x" * 5000, "¿Qué pasa? ñandú", "\U0001f600\U0001f600"])
def test_empty_long_accented_and_emoji_bodies_are_logged_and_explained(client, replies, body):
    patient = PatientFactory()

    response = twilio_post(client, PATH, sms(patient, body))

    assert "reply YES within 5 min" in reply_text(response)
    assert Message.objects.get(direction="in").body == body
    [call] = replies
    assert call["intent"] in hooks.HANDED_OVER
    assert call["intent"] not in ("yes", "no")


@pytest.mark.parametrize(("body", "intent"), [
    ("\U0001f44d", "yes"), ("Sí", "yes"), ("SÍ!", "yes"), ("1", "yes"), ("Sorry, no", "no"),
    ("2", "no"), ("no gracias", "no")])
def test_emoji_accents_and_digits_reach_the_engine_as_yes_or_no(client, replies, body, intent):
    twilio_post(client, PATH, sms(PatientFactory(), body))

    assert [call["intent"] for call in replies] == [intent]


@pytest.mark.parametrize(("body", "intent"), [
    ("Not sure", "conditional"), ("Thank you", "thanks"), ("maybe later?", "conditional"),
    ("what time?", "ask_when"), ("¿quién es?", "ask_who"), ("hm", "unclear"),
    ("no, but next week yes", "reschedule"), ("Can I bring my son?", "ask_other"),
    ("Oui", "other_language")])
def test_replies_other_than_yes_or_no_are_handed_to_the_engine_with_their_meaning(
        client, replies, body, intent):
    """Only the engine knows whether an offer is live, so it answers them (offers/tests/
    test_reply_answers.py); the channel never assumes one."""
    text = reply_text(twilio_post(client, PATH, sms(PatientFactory(), body)))

    assert [call["intent"] for call in replies] == [intent]
    assert "invalid" not in text.lower()
    assert Message.objects.get(direction="in").kind == intent


def test_without_an_engine_an_unclear_reply_never_assumes_a_live_offer(client, fake_twilio):
    previous = hooks.get_reply_handler()
    hooks.register_reply_handler(None)
    try:
        text = reply_text(twilio_post(client, PATH, sms(PatientFactory(), "hm")))
    finally:
        hooks.register_reply_handler(previous)

    assert "did not understand" in text
    assert "YES" not in text


# --- Keywords -------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "body", "expected"), [
    ("en", "HELP", "(312) 555-0100"), ("en", "info", "STOP"),
    ("es", "AYUDA", "PARAR"), ("es", "ayuda", "(312) 555-0100")])
def test_help_gives_clinic_name_phone_and_how_to_opt_out(client, replies, language, body,
                                                          expected):
    patient = PatientFactory(preferred_language=language)

    text = reply_text(twilio_post(client, PATH, sms(patient, body)))

    assert text.startswith("Riverside Family Clinic:")
    assert expected in text


def test_a_yes_with_no_registered_handler_says_there_is_nothing_to_answer(client,
                                                                          fake_twilio):
    previous = hooks.get_reply_handler()
    hooks.register_reply_handler(None)
    try:
        text = reply_text(twilio_post(client, PATH, sms(PatientFactory(), "YES")))
    finally:
        hooks.register_reply_handler(previous)

    assert "no offer to answer" in text


def test_unknown_number_gets_short_generic_help(client, replies):
    text = reply_text(twilio_post(client, PATH, sms("+13125559999", "YES")))

    assert "don't recognize this number" in text
    assert replies == []
    inbound = Message.objects.get(direction="in")
    assert inbound.patient is None
    assert inbound.from_number == "+13125559999"


def test_opt_out_is_confirmed_once_then_silence_until_start(
        client, replies, signals_received, django_capture_on_commit_callbacks):
    patient = PatientFactory(preferred_language="es")

    with django_capture_on_commit_callbacks(execute=True):
        stop = reply_text(twilio_post(client, PATH, sms(patient, "por favor dejen de escribirme")))

    assert stop.startswith("Riverside Family Clinic: Ya no le enviaremos mensajes")
    patient.refresh_from_db()
    assert patient.sms_opted_out
    assert [o["patient"].pk for o in signals_received["opted_out"]] == [patient.pk]

    for body in ("STOP", "SI", "NO", "hola?"):
        assert reply_text(twilio_post(client, PATH, sms(patient, body))) == ""
    # HELP is the exception: carriers expect it answered, opted out or not.
    help_text = reply_text(twilio_post(client, PATH, sms(patient, "AYUDA")))
    assert "START" in help_text
    assert replies == []
    assert message_send(patient=patient, template="declined") is None
    assert len(signals_received["opted_out"]) == 1

    start = reply_text(twilio_post(client, PATH, sms(patient, "START")))
    assert "de nuevo le escribiremos" in start
    patient.refresh_from_db()
    assert not patient.sms_opted_out
    reply_text(twilio_post(client, PATH, sms(patient, "SI")))
    assert [call["intent"] for call in replies] == ["yes"]
    # Every message, answered or not, is in the log.
    assert Message.objects.filter(direction="in").count() == 8


def test_opt_out_and_opt_in_are_in_the_patients_history(client, replies):
    patient = PatientFactory()

    twilio_post(client, PATH, sms(patient, "STOP"))
    twilio_post(client, PATH, sms(patient, "UNSTOP"))

    reasons = [h.history_change_reason or "" for h in patient.history.order_by("history_id")]
    assert any("STOP" in reason for reason in reasons)
    assert any("START" in reason for reason in reasons)


def test_logs_mask_numbers_and_never_carry_bodies_at_info(client, replies, caplog):
    patient = PatientFactory(phone="+13125550142")
    secret = "my secret words"

    with caplog.at_level(logging.INFO):
        twilio_post(client, PATH, sms(patient, f"yes {secret}"))
        twilio_post(client, PATH, sms(patient, "YES"))

    info = [record.getMessage() for record in caplog.records if record.levelno >= logging.INFO]
    assert info, "expected the inbound messages to be logged"
    assert not any(secret in line for line in info)
    assert not any("+13125550142" in line for line in info)
    assert any("+1******0142" in line for line in info)
