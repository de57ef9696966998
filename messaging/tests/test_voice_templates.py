"""What calls say (templates/voice/<lang>/): every template renders in English and
Spanish; the offer says the same facts as the offer text and nothing private; the
voicemail says nothing about the offer at all; TwiML speaks the patient's language."""

import datetime as dt
import xml.etree.ElementTree as ET
import zoneinfo
from pathlib import Path

import pytest
from django.conf import settings

from messaging.models import Message
from messaging.voice import CallTurn, twiml, voice_render

NAMES = sorted(p.stem for p in (Path(settings.BASE_DIR) / "templates/voice/en").glob("*.txt"))
START = dt.datetime(2030, 3, 4, 10, 20, tzinfo=zoneinfo.ZoneInfo("America/Chicago"))
CONTEXT = {"first_name": "Rosa", "start": START, "provider": "Dr. Maya Patel",
           "hold_minutes": 7, "state": "none", "on_waitlist": True}


def test_both_languages_have_the_same_templates():
    spanish = sorted(p.stem for p in (Path(settings.BASE_DIR) / "templates/voice/es").glob("*.txt"))
    assert NAMES == spanish
    assert {"offer", "voicemail", "goodbye", "confirmation", "already_filled"} <= set(NAMES)


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("name", NAMES)
def test_every_template_renders(name, language):
    text = voice_render(template=name, language=language, context=CONTEXT)
    assert text
    assert "{" not in text


@pytest.mark.parametrize(("language", "keys"), [("en", "press 1"), ("es", "marque 1")])
def test_the_offer_says_the_texts_facts_and_how_to_answer(language, keys):
    text = voice_render(template="offer", language=language, context=CONTEXT)
    assert "Rosa" in text
    assert "Dr. Maya Patel" in text
    assert "10:20" in text
    assert "7 min" in text
    assert keys in text


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_voicemail_says_nothing_about_the_offer(language, settings):
    settings.CLINIC_PHONE = "(312) 555-0100"
    text = voice_render(template="voicemail", language=language, context=CONTEXT)
    for private in ("Rosa", "Maya", "Patel", "10:20", "marzo", "Mar"):
        assert private not in text
    assert "(312) 555-0100" in text


def test_twiml_listens_for_a_key_or_a_word_in_the_patients_language(settings):
    settings.PUBLIC_BASE_URL = "https://clinic.example.org"
    root = ET.fromstring(twiml(CallTurn(text="Hola", language="es", listen=True, step=2),
                               message=Message(pk=7)))
    gather = root.find("Gather")
    assert gather.get("action") == "https://clinic.example.org/twilio/voice/gather/?m=7&step=2"
    assert gather.get("input") == "dtmf speech"
    assert gather.get("language") == "es-MX"
    assert gather.find("Say").get("language") == "es-MX"
    assert root.find("Redirect").text == gather.get("action")


def test_twiml_of_a_last_turn_hangs_up():
    root = ET.fromstring(twiml(CallTurn(text="Goodbye", language="en"), message=Message(pk=1)))
    assert root.find("Say").text == "Goodbye"
    assert root.find("Hangup") is not None
    assert root.find("Gather") is None
