"""How replies are read, beyond the corpus (test_corpus.py): the rules that must hold for
any text, whatever is added to the lists."""

import pytest

from messaging.intents import Intent, understand


@pytest.mark.parametrize("body", ["yesterday", "nobody", "okra", "backend", "stopwatch",
                                  "sinfonia", "notebook"])
def test_words_inside_other_words_do_not_count(body):
    assert understand(body) == Intent.UNCLEAR


@pytest.mark.parametrize("body", ["yes stop", "YES. STOP", "ok stop texting me", "si, PARAR",
                                  "👍 STOP", "book me... actually unsubscribe"])
def test_an_opt_out_anywhere_wins_over_a_yes(body):
    assert understand(body) == Intent.OPT_OUT


@pytest.mark.parametrize("body", ["yes but not on Tuesday", "yes if it is before noon",
                                  "yes?", "ok?", "yes maybe", "sí pero más tarde",
                                  "sí, ¿con quién?"])
def test_a_yes_with_a_doubt_is_a_question_never_a_booking(body):
    assert understand(body) == Intent.CONDITIONAL


@pytest.mark.parametrize("body", ["not gonna make it", "I don't think I can make it",
                                  "never take it", "I won't be there"])
def test_a_yes_phrase_under_a_negation_is_a_no(body):
    assert understand(body) == Intent.NO


def test_the_patients_name_makes_im_not_a_wrong_number():
    assert understand("I'm not Ana", first_name="Ana") == Intent.WRONG_NUMBER
    assert understand("I'm not Ana", first_name="María") != Intent.WRONG_NUMBER
    assert understand("no soy María", first_name="María") == Intent.WRONG_NUMBER
    assert understand("I'm not sure", first_name="Ana") == Intent.CONDITIONAL


@pytest.mark.parametrize("name", ["Brooke", "Matt", "Anna", "Jeff", "Lee"])
def test_a_name_with_a_double_letter_makes_im_not_a_wrong_number_too(name):
    # Found by the busy-day state machine: letter repeats are collapsed in the message
    # ("Brooke" read "broke"), and the name was not.
    assert understand(f"I'm not {name}", first_name=name) == Intent.WRONG_NUMBER
    assert understand(f"who is {name.lower()}?", first_name=name) == Intent.WRONG_NUMBER


def test_typos_are_corrected_only_one_letter_away():
    assert understand("unavailable") != Intent.YES  # "available" is two letters off
    assert understand("I'm unavailable") != Intent.YES
    assert understand("thnks") == Intent.THANKS
    assert understand("sotp") == Intent.OPT_OUT
    assert understand("spot") == Intent.UNCLEAR  # letters swapped far apart: a word


@pytest.mark.parametrize("body", ["", "   ", None, "\n\n", "x" * 20_000, "🙂" * 500,
                                  "\x00\x01", "؟", "ŧĸ"])
def test_any_body_gets_an_intent_and_never_an_error(body):
    assert isinstance(understand(body), Intent)


def test_text_in_another_script_is_another_language():
    assert understand("好的") == Intent.OTHER_LANGUAGE
    assert understand("Да") == Intent.OTHER_LANGUAGE
