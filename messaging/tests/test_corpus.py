"""The classifier against the corpus of replies people send (messaging/corpus/replies.csv):
at least 99 % agreement, never a false YES, and every reply named in issue 12 read right.
`make corpus` prints the confusion tables."""

from collections import Counter

import pytest

from messaging.corpus import corpus_evaluate, corpus_rows, report
from messaging.intents import Intent, understand

ROWS = corpus_rows()


@pytest.fixture(scope="module")
def evaluation():
    return corpus_evaluate(ROWS)


def test_corpus_is_large_and_covers_both_languages_and_every_intent():
    assert len(ROWS) >= 800
    languages = Counter(row.language for row in ROWS)
    assert languages["en"] >= 300
    assert languages["es"] >= 300
    assert {row.intent for row in ROWS} == set(Intent)


def test_corpus_rows_are_unique():
    seen = Counter((row.text, row.language) for row in ROWS)
    assert [key for key, count in seen.items() if count > 1] == []


def test_classifier_agrees_with_the_corpus_at_least_99_percent(evaluation):
    assert evaluation.agreement >= 0.99, report(evaluation)


def test_no_reply_in_the_corpus_is_read_as_a_false_yes(evaluation):
    assert evaluation.false_yes == [], report(evaluation)


# Issue 12: every reply it names, and what it means.
ISSUE_EXAMPLES = {
    Intent.YES: ["I'll take it", "book me", "that works", "sounds good", "I'll be there",
                 "yse", "yess", "okey", "kk", "✅", "Acepto", "De acuerdo", "Está bien",
                 "Listo", "sii"],
    Intent.NO: ["no puedo", "Hoy no puedo", "no me interesa", "Thanks but no",
                "definitely not", "nooo", "❌", "I'm busy", "Yeah, I'm good"],
    Intent.UNCLEAR: ["I'm not going to stop", "the end", "I quit"],
    Intent.WRONG_NUMBER: ["wrong number", "número equivocado", "I don't know any Ana"],
    Intent.CONDITIONAL: ["yes but can it be later?"],
    Intent.RESCHEDULE: ["no, but next week yes"],
    Intent.ASK_WHEN: ["what time?", "when?", "¿a qué hora?"],
    Intent.ASK_WHO: ["who is this?", "where?"],
}


@pytest.mark.parametrize(("body", "intent"), [
    (body, intent) for intent, bodies in ISSUE_EXAMPLES.items() for body in bodies])
def test_every_reply_named_in_the_issue_is_in_the_corpus_and_read_right(body, intent):
    labelled = {row.intent for row in ROWS if row.text == body}
    assert labelled == {intent}, f"{body!r} is labelled {labelled or 'nowhere'}"
    assert understand(body, first_name="Ana") == intent
