"""Replies are understood by the meaning of the whole message, in English and Spanish."""

import pytest

from messaging.intents import Intent, understand

OPT_OUT = [
    "STOP", "stop", "Stop.", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
    "OPTOUT", "opt out", "Opt-Out", "PARAR", "parar", "  Stop!!  ", "stop please",
    "please stop texting me", "Please STOP sending me these", "unsubscribe me",
    "I want to opt out", "no more texts please", "remove me from this list",
    "dejen de enviarme mensajes", "no me manden mensajes", "Para", "Cancelar",
    "yes stop",  # an opt-out anywhere wins: nobody gets booked by a STOP
    "stop messaging me", "STOP ALL", "Stop all", "Don't. Stop!", "stop it now",
    "No me envíen más mensajes", "no me envien mas mensajes", "No me manden nada",
    "Paren", "paren por favor", "Basta", "BASTA!", "basta ya", "Ya basta",
    "Paren de enviarme mensajes", "Pare",
]
# "stop" as a visit, or negated, is not a revocation: opting these patients out would
# cost them the slot and every later text.
NOT_AN_OPT_OUT = [
    "Yes! I can stop by at 10", "No, I will stop by next week", "Don't stop",
    "dont stop", "Do not stop", "I'll stop in tomorrow", "I can stop in", "Stop by?",
    "I could stop over after work", "can I stop by at 3?",
]
OPT_IN = ["START", "start", "Unstop", "UNSTOP", "Start.", "opt in", "comenzar"]
HELP = ["HELP", "help", "Help?", "INFO", "info", "AYUDA", "ayuda", "Ayuda!", "información"]
YES = [
    "YES", "yes", "Yes!", "y", "Y", "YEP", "ok", "OK", "Okay", "SURE", "sure", "yes please",
    "Yes please!", "1", " 1 ", "\U0001f44d", "\U0001f44d\U0001f3fd", "SI", "si", "Sí", "SÍ",
    "sí, por favor", "Si gracias", "yes thank you", "Yes I will take it", "YES!!!",
    "Yes, thanks so much", "claro que si", "si porfavor", "Sí porfavor", "si porfa",
    "YEP", "yes please", "SÍ",
]
NO = [
    "NO", "no", "No.", "N", "n", "no thanks", "No thank you", "Sorry, no", "2", "nope",
    "no gracias", "No, gracias", "\U0001f44e", "I'm not interested", "No, I can't",
    "not today",
]
UNCLEAR = [
    "", "   ", "?", "Not sure", "not sure", "Thank you", "thanks", "Gracias", "maybe",
    "What time?", "yes no", "Not yes", "¿Qué?", "Can I cancel my appointment?",
    "Thanks, see you at the end of the day", "Hello", "I think so", "yes but not at 10",
    "Who is this?", "x" * 5000, "\U0001f600", "stopwatch",
]


@pytest.mark.parametrize("body", OPT_OUT)
def test_opt_out_words_and_sentences(body):
    assert understand(body) == Intent.OPT_OUT


@pytest.mark.parametrize("body", NOT_AN_OPT_OUT)
def test_stopping_by_or_dont_stop_never_opts_the_patient_out(body):
    assert understand(body) != Intent.OPT_OUT


@pytest.mark.parametrize("body", OPT_IN)
def test_opt_in_words(body):
    assert understand(body) == Intent.OPT_IN


@pytest.mark.parametrize("body", HELP)
def test_help_words(body):
    assert understand(body) == Intent.HELP


@pytest.mark.parametrize("body", YES)
def test_yes_in_its_many_forms(body):
    assert understand(body) == Intent.YES


@pytest.mark.parametrize("body", NO)
def test_no_in_its_many_forms(body):
    assert understand(body) == Intent.NO


@pytest.mark.parametrize("body", UNCLEAR)
def test_anything_else_is_unclear_never_a_yes(body):
    assert understand(body) == Intent.UNCLEAR


def test_words_inside_other_words_do_not_count():
    assert understand("yesterday") == Intent.UNCLEAR
    assert understand("nobody") == Intent.UNCLEAR
    assert understand("okra") == Intent.UNCLEAR
    assert understand("backend") == Intent.UNCLEAR
