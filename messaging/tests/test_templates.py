"""Every template, both languages: fits in few segments, carries the clinic's details,
never anything medical."""

import datetime as dt

import pytest
from django.test import override_settings

from messaging.rendering import (
    LANGUAGES,
    STATES,
    TEMPLATE_NAMES,
    sms_is_gsm7,
    sms_plain,
    sms_render,
    sms_segments,
)

START = dt.datetime(2026, 3, 7, 16, 20, tzinfo=dt.UTC)  # Saturday 10:20 AM in Chicago
CONTEXT = {"first_name": "Lucia", "start": START, "provider": "Dr. Luis Ortega",
           "hold_minutes": 7}
MEDICAL_WORDS = ["diagnos", "cardio", "derma", "follow-up", "physical", "reason",
                 "specialty", "seguimiento", "especialidad"]


@pytest.fixture(autouse=True)
def demo_clinic():
    with override_settings(CLINIC_NAME="Riverside Family Clinic",
                           CLINIC_PHONE="(312) 555-0100", CLINIC_TIME_ZONE="America/Chicago"):
        yield


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", TEMPLATE_NAMES)
def test_every_template_renders_short_and_names_the_clinic(template, language):
    text = sms_render(template=template, language=language, context=CONTEXT)

    assert text.startswith("Riverside Family Clinic: ")
    assert "{" not in text
    assert "}" not in text
    assert sms_is_gsm7(text), f"{language}/{template} needs UCS-2: {text}"
    assert sms_segments(text) <= 2
    assert not any(word in text.lower() for word in MEDICAL_WORDS)


@pytest.mark.parametrize("language", LANGUAGES)
def test_offer_fits_one_segment_and_says_when_who_how_long_and_the_choices(language):
    text = sms_render(template="offer", language=language, context=CONTEXT)

    assert sms_segments(text) == 1, f"{len(text)} characters: {text}"
    assert "10:20" in text
    assert "Dr. Luis Ortega" in text
    assert "7 min" in text
    assert "YES" in text or "SI" in text
    assert "NO" in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_offer_fits_one_segment_on_every_day_of_the_week(language):
    for day in range(7):
        start = START + dt.timedelta(days=day, hours=2)  # 12:20 PM each day
        text = sms_render(template="offer", language=language,
                          context={**CONTEXT, "start": start, "hold_minutes": 10})
        assert sms_segments(text) == 1, text


@pytest.mark.parametrize(("language", "expected"), [
    ("en", "Sat Mar 7, 10:20 AM"), ("es", "7 de marzo, 10:20 a.m.")])
def test_time_is_shown_in_clinic_time_zone(language, expected):
    text = sms_render(template="offer_closed", language=language, context={"start": START})
    assert expected in text


def test_time_follows_clinic_time_zone_setting():
    with override_settings(CLINIC_TIME_ZONE="America/New_York"):
        text = sms_render(template="offer_closed", language="en", context={"start": START})
    assert "11:20 AM" in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_help_and_opt_out_give_the_clinic_phone(language):
    for template in ("help", "opt_out", "unknown_number"):
        assert "(312) 555-0100" in sms_render(template=template, language=language)


# The offer has no room for the phone: one segment matters more there, and HELP gives it.
WITHOUT_PHONE = {"offer", "offer_closed_off_waitlist"}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", sorted(set(TEMPLATE_NAMES) - WITHOUT_PHONE))
def test_every_answer_but_the_offer_gives_the_clinic_phone(template, language):
    assert "(312) 555-0100" in sms_render(template=template, language=language,
                                          context=CONTEXT)


# The longest date the templates show: "Wed Sep 30, 12:20 PM", "30 de septiembre, ...".
LONGEST_START = dt.datetime(2026, 9, 30, 17, 20, tzinfo=dt.UTC)


@pytest.mark.parametrize("language", LANGUAGES)
def test_offer_to_a_patient_with_an_accented_name_stays_one_segment(language):
    text = sms_render(template="offer", language=language, context={
        **CONTEXT, "first_name": "María", "provider": "Dr. Sofía Núñez",
        "start": LONGEST_START, "hold_minutes": 10})

    assert sms_is_gsm7(text), text
    assert sms_segments(text) == 1, f"{len(text)} characters: {text}"
    assert "Maria" in text
    assert "Dr. Sofia Nuñez" in text  # ñ is in GSM-7: it stays


@pytest.mark.parametrize("language", LANGUAGES)
def test_confirmation_with_accented_names_and_clinic_stays_in_gsm7(language):
    with override_settings(CLINIC_NAME="Clínica San José"):
        text = sms_render(template="confirmation", language=language, context={
            **CONTEXT, "first_name": "José", "provider": "Dr. Núñez"})

    assert sms_is_gsm7(text), text
    assert text.startswith("Clinica San José: ")  # é is in GSM-7
    assert sms_segments(text) == 1


@pytest.mark.parametrize(("name", "expected"), [
    ("María", "Maria"), ("Sofía", "Sofia"), ("José", "José"), ("Núñez", "Nuñez"),
    ("Inés Ibáñez", "Inés Ibañez"), ("Zoë", "Zoe"), ("François", "Francois"),
    ("O\u2019Neil", "O'Neil"), ("Müller", "Müller"), ("Łukasz", "Łukasz"), ("李", "李"),
])
def test_names_are_spelled_in_gsm7_where_they_can_be(name, expected):
    assert sms_plain(name) == expected


def test_opt_out_words_are_offered_in_each_language():
    assert "STOP" in sms_render(template="help", language="en")
    assert "PARAR" in sms_render(template="help", language="es")


def test_unknown_language_falls_back_to_english():
    assert "Thanks for letting us know" in sms_render(template="declined", language="fr")


def test_text_is_not_html_escaped():
    text = sms_render(template="offer", language="en",
                      context={**CONTEXT, "provider": "Drs. O'Neil & Park"})
    assert "Drs. O'Neil & Park" in text


@pytest.mark.parametrize(("text", "segments"), [
    ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
    ("€" * 80, 1), ("€" * 81, 2),  # extension characters count twice
    ("á" * 70, 1), ("á" * 71, 2), ("á" * 134, 2), ("á" * 135, 3),
    ("\U0001f44d" * 35, 1), ("\U0001f44d" * 36, 2),  # an emoji is two UTF-16 units
])
def test_segments_are_counted_like_the_carrier_does(text, segments):
    assert sms_segments(text) == segments


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", ["李小龙", "Łukasz", "Ζωή", "Dana \U0001f33c", "Анна",
                                  "Maximiliana Alexandrina Wilhelmina", "Mary Ann Elizabeth"])
def test_the_offer_stays_one_segment_whatever_the_name_and_keeps_every_fact(language, name):
    for day in range(7):
        start = LONGEST_START + dt.timedelta(days=day)
        context = {**CONTEXT, "first_name": name, "start": start, "hold_minutes": 10,
                   "provider": "Dr. Luis Ortega"}
        text = sms_render(template="offer", language=language, context=context)
        assert sms_segments(text) == 1, f"{len(text)} characters: {text}"
        # The facts are all there: who sends it, when, with whom, for how long, how to answer.
        full = sms_render(template="offer", language=language,
                          context={**context, "first_name": "Al"})
        for fact in ("Riverside Family Clinic:", "Dr. Luis Ortega", "10 min", "NO",
                     full.split(" el ")[-1].split(" con ")[0] if language == "es"
                     else full.split(" open ")[1].split(" with ")[0]):
            assert fact in text, (fact, text)


@pytest.mark.parametrize(("language", "name", "greeting"), [
    ("en", "李小龙", "Riverside Family Clinic: Hi, an earlier visit is open"),
    ("es", "李小龙", "Riverside Family Clinic: Hay una cita libre el"),
    ("en", "Mary Ann Elizabeth Montgomery-Wellington", "Hi Mary, an earlier visit"),
])
def test_a_name_that_does_not_fit_is_shortened_or_left_out_of_the_offer(language, name,
                                                                         greeting):
    text = sms_render(template="offer", language=language, context={
        **CONTEXT, "first_name": name, "start": LONGEST_START, "hold_minutes": 10})
    assert greeting in text
    assert sms_is_gsm7(text), text


def test_a_short_name_that_fits_stays_whole_in_the_offer():
    text = sms_render(template="offer", language="en", context={**CONTEXT,
                                                                "first_name": "Mary Ann"})
    assert "Hi Mary Ann, an earlier visit" in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_confirmation_to_a_name_in_another_script_stays_within_two_segments(language):
    text = sms_render(template="confirmation", language=language, context={
        **CONTEXT, "first_name": "李小龙", "start": LONGEST_START})
    assert sms_segments(text) <= 2, text
    assert "Dr. Luis Ortega" in text
    assert "(312) 555-0100" in text


# --- Answers that say where the patient stands (templates/sms/<lang>/_state.txt) ------

STATE_TEMPLATES = ["unclear_reply", "offer_details", "offer_confirm", "thanks_reply",
                   "other_language", "who_we_are", "call_us", "nothing_to_answer"]
YES_WORDS = {"en": "YES", "es": "SI"}


def state_context(state, *, on_waitlist=True, address="1200 W Harrison St, Chicago IL"):
    """The longest realistic context: the longest date, a long provider name."""
    return {"state": state, "on_waitlist": on_waitlist, "start": LONGEST_START,
            "provider": "Dr. Alexandra Montgomery-Ruiz", "minutes_left": 10,
            "address": address, "first_name": "Maximiliano"}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("template", STATE_TEMPLATES)
def test_state_answers_fit_two_segments_in_gsm7_in_every_state(template, state, language):
    text = sms_render(template=template, language=language, context=state_context(state))

    assert text.startswith("Riverside Family Clinic: ")
    assert "{" not in text
    assert sms_is_gsm7(text), f"{language}/{template}/{state}: {text}"
    assert sms_segments(text) <= 2, f"{len(text)} characters: {text}"
    assert "(312) 555-0100" in text
    assert not any(word in text.lower() for word in MEDICAL_WORDS)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("state", ["booked", "closed", "none"])
@pytest.mark.parametrize("template", STATE_TEMPLATES)
def test_only_a_live_offer_is_answered_with_reply_yes(template, state, language):
    """Issue 13: a patient whose slot closed must never be told to reply YES."""
    text = sms_render(template=template, language=language, context=state_context(state))

    assert YES_WORDS[language] not in text, text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", sorted(set(STATE_TEMPLATES) - {"nothing_to_answer"}))
def test_a_live_offer_is_repeated_with_day_time_provider_and_minutes_left(template, language):
    text = sms_render(template=template, language=language, context=state_context("live"))

    assert YES_WORDS[language] in text
    assert "12:20" in text
    assert "Dr. Alexandra Montgomery-Ruiz" in text
    assert "10 min" in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_you_stay_on_our_waitlist_is_said_only_to_patients_on_it(language):
    stays = {"en": "waitlist", "es": "lista de espera"}[language]
    for template in ("unclear_reply", "offer_details", "nothing_to_answer"):
        for state in ("closed", "none"):
            on = sms_render(template=template, language=language,
                            context=state_context(state, on_waitlist=True))
            off = sms_render(template=template, language=language,
                             context=state_context(state, on_waitlist=False))
            assert stays in on
            assert stays not in off


@pytest.mark.parametrize("language", LANGUAGES)
def test_who_we_are_gives_name_phone_and_address_when_known(language):
    text = sms_render(template="who_we_are", language=language,
                      context=state_context("none", address="1200 W Harrison St"))
    assert "Riverside Family Clinic" in text.removeprefix("Riverside Family Clinic: ")
    assert "(312) 555-0100" in text
    assert "1200 W Harrison St" in text
    bare = sms_render(template="who_we_are", language=language,
                      context=state_context("none", address=""))
    assert ", ," not in bare
