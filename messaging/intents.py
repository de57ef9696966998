"""What a patient's reply means, judged on the whole message, never on substrings.

"Sorry, no" is a no; "Not sure" and "Thank you" are not a yes; "please stop texting me"
is an opt-out, "I can stop by at 10" and "Don't stop" are not. Matching ignores case, spacing, punctuation and accents, in English and
Spanish. When in doubt the answer is UNCLEAR, which gets a friendly explanation back.
"""

import enum
import re
import unicodedata


class Intent(enum.StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    YES = "yes"
    NO = "no"
    UNCLEAR = "unclear"


# Carrier opt-out keywords (CTIA and Twilio's defaults) and PARAR; a whole reply of any
# of these, alone or with polite words around it, opts the patient out. STOP is not
# here: it is judged wherever it stands, by _says_stop ("I'll stop in" is a visit).
OPT_OUT_WORDS = {
    "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout",
    "parar", "para", "paren", "pare", "basta", "cancelar", "baja",
}
# Words that mean "stop texting me" wherever they stand in a sentence. CANCEL, END and
# QUIT are left out here: "can I cancel my visit" or "at the end of the day" are not
# opt-outs, while "please stop texting me" is (the FCC accepts any reasonable means).
# STOP itself is judged by its neighbours (see _says_stop).
OPT_OUT_ANYWHERE = {"stopall", "unsubscribe", "optout", "revoke", "parar"}
OPT_OUT_PHRASES = [
    "opt out", "quit texting", "quit messaging",
    "dont text", "do not text", "no more texts", "no more messages", "remove me",
    "take me off", "leave me alone", "no mas mensajes", "no me escriban", "no me escriba",
    "no me manden", "no me mande", "no me envien", "no me envie", "no me envies",
    "no me mandes", "no me escribas", "no envien", "no manden", "no quiero mensajes",
    "no quiero recibir", "dejen de", "deja de", "paren de", "basta de", "ya basta", "basta ya",
    "darme de baja", "dar de baja",
]
# "stop" is an opt-out anywhere ("stop please", "please stop texting me", "STOP ALL"),
# except as a visit ("I can stop by at 10", "I'll stop in") or negated ("don't stop").
# Only words joined by spaces count: "Don't. Stop!" is still an opt-out.
STOP = re.compile(r"\bstop\b")
STOP_NEGATED_BEFORE = re.compile(r"\b(?:dont|not|never)\s+$")
STOP_AS_A_VISIT_AFTER = re.compile(r"^\s+(?:by|in|over|around|round)\b")
OPT_IN_WORDS = {"start", "unstop", "optin", "subscribe", "resubscribe", "comenzar", "iniciar"}
OPT_IN_PHRASES = ["opt in"]
HELP_WORDS = {"help", "info", "ayuda", "informacion"}

YES_WORDS = {
    "yes", "y", "yep", "yeah", "yea", "ya", "yup", "ok", "okay", "k", "sure", "1",
    "si", "claro", "vale", "dale", "absolutely", "definitely", "confirm", "accept",
}
NO_WORDS = {"no", "n", "nope", "nah", "2", "pass"}
# Would turn a yes into something else ("not yes", "I can't").
NEGATIONS = {"not", "dont", "cant", "cannot", "wont", "never", "nunca", "tampoco"}
# Polite words that may surround a yes or a no without changing it.
COURTESY = {
    "please", "pls", "plz", "thanks", "thank", "you", "thx", "ty", "sorry", "i", "ill",
    "will", "take", "it", "that", "one", "me", "for", "and", "a", "the", "great", "good",
    "sounds", "perfect", "hi", "hello", "dear", "im", "am", "in", "book", "want",
    "gracias", "por", "favor", "lo", "la", "tomo", "quiero", "perdon", "siento", "muchas",
    "hola", "de", "acuerdo", "bueno", "esta", "bien", "thing", "can", "make", "interested",
    "now", "right", "time", "this", "here", "there", "just", "so", "much", "very", "oh",
    "que", "porfavor", "porfa", "xfa",
}
# "i can't" / "cannot make it" after a no only strengthens it.
NO_EXTRA = NEGATIONS | {"interested", "available", "busy", "work", "today", "tomorrow"}

THUMBS_UP = "\U0001f44d"
THUMBS_DOWN = "\U0001f44e"
SKIN_TONES_AND_SELECTORS = re.compile("[\U0001f3fb-\U0001f3ff\ufe0f]")
APOSTROPHES = re.compile("['\u2019\u2018`´]")
NOT_WORD = re.compile(r"[^0-9a-z]+")


def _plain(body: str) -> str:
    """Lower case, accents dropped, apostrophes joined ("don't" -> "dont"); punctuation
    kept, so that sentences can still be told apart."""
    text = SKIN_TONES_AND_SELECTORS.sub("", body or "")
    text = text.replace(THUMBS_UP, " yes ").replace(THUMBS_DOWN, " no ")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return APOSTROPHES.sub("", text)


def words_of(body: str) -> list[str]:
    """Lower-case ASCII words: accents dropped, apostrophes joined ("don't" -> "dont")."""
    return NOT_WORD.sub(" ", _plain(body)).split()


def _says_stop(body: str) -> bool:
    text = _plain(body)
    return any(
        not STOP_NEGATED_BEFORE.search(text[:match.start()])
        and not STOP_AS_A_VISIT_AFTER.search(text[match.end():])
        for match in STOP.finditer(text)
    )


def _has_phrase(joined: str, phrases: list[str]) -> bool:
    return any(re.search(rf"\b{re.escape(phrase)}\b", joined) for phrase in phrases)


def understand(body: str) -> Intent:
    words = words_of(body)
    if not words:
        return Intent.UNCLEAR
    joined = " ".join(words)
    meaningful = [word for word in words if word not in COURTESY]

    # Opt-out wins over everything: a "yes, stop" must never book anyone.
    if (OPT_OUT_ANYWHERE & set(words) or _says_stop(body)
            or _has_phrase(joined, OPT_OUT_PHRASES)):
        return Intent.OPT_OUT
    if meaningful and all(word in OPT_OUT_WORDS for word in meaningful):
        return Intent.OPT_OUT
    if (meaningful and all(word in OPT_IN_WORDS for word in meaningful)) or (
        _has_phrase(joined, OPT_IN_PHRASES) and len(words) <= 3
    ):
        return Intent.OPT_IN
    if meaningful and all(word in HELP_WORDS for word in meaningful):
        return Intent.HELP

    yes = [word for word in meaningful if word in YES_WORDS]
    no = [word for word in meaningful if word in NO_WORDS]
    if yes and not no:
        if any(word not in YES_WORDS for word in meaningful):
            return Intent.UNCLEAR  # "yes but not Tuesday", "not sure", "yes maybe"
        return Intent.YES
    if no and not yes:
        if any(word not in NO_WORDS and word not in NO_EXTRA for word in meaningful):
            return Intent.UNCLEAR
        return Intent.NO
    if not yes and meaningful and NEGATIONS & set(meaningful) and all(
        word in NO_EXTRA for word in meaningful
    ):
        return Intent.NO  # "I'm not interested", "can't make it"
    return Intent.UNCLEAR
