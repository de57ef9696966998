"""What a patient's reply means, judged on the whole message, never on substrings.

"Sorry, no" is a no; "Not sure" and "Thank you" are not a yes; "please stop texting me"
is an opt-out. Matching ignores case, spacing, punctuation and accents, in English and
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
# of these, alone or with polite words around it, opts the patient out.
OPT_OUT_WORDS = {
    "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout",
    "parar", "para", "cancelar", "baja",
}
# Words that mean "stop texting me" wherever they stand in a sentence. CANCEL, END and
# QUIT are left out here: "can I cancel my visit" or "at the end of the day" are not
# opt-outs, while "please stop texting me" is (the FCC accepts any reasonable means).
OPT_OUT_ANYWHERE = {"stop", "stopall", "unsubscribe", "optout", "revoke", "parar"}
OPT_OUT_PHRASES = [
    "opt out", "stop all", "stop texting", "stop messaging", "quit texting", "quit messaging",
    "dont text", "do not text", "no more texts", "no more messages", "remove me",
    "take me off", "leave me alone", "no mas mensajes", "no me escriban", "no me manden",
    "dejen de", "deja de", "darme de baja", "dar de baja",
]
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
    "que",
}
# "i can't" / "cannot make it" after a no only strengthens it.
NO_EXTRA = NEGATIONS | {"interested", "available", "busy", "work", "today", "tomorrow"}

THUMBS_UP = "\U0001f44d"
THUMBS_DOWN = "\U0001f44e"
SKIN_TONES_AND_SELECTORS = re.compile("[\U0001f3fb-\U0001f3ff\ufe0f]")
APOSTROPHES = re.compile("['\u2019\u2018`´]")
NOT_WORD = re.compile(r"[^0-9a-z]+")


def words_of(body: str) -> list[str]:
    """Lower-case ASCII words: accents dropped, apostrophes joined ("don't" -> "dont")."""
    text = SKIN_TONES_AND_SELECTORS.sub("", body or "")
    text = text.replace(THUMBS_UP, " yes ").replace(THUMBS_DOWN, " no ")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = APOSTROPHES.sub("", text)
    return NOT_WORD.sub(" ", text).split()


def _has_phrase(joined: str, phrases: list[str]) -> bool:
    return any(re.search(rf"\b{re.escape(phrase)}\b", joined) for phrase in phrases)


def understand(body: str) -> Intent:
    words = words_of(body)
    if not words:
        return Intent.UNCLEAR
    joined = " ".join(words)
    meaningful = [word for word in words if word not in COURTESY]

    # Opt-out wins over everything: a "yes, stop" must never book anyone.
    if OPT_OUT_ANYWHERE & set(words) or _has_phrase(joined, OPT_OUT_PHRASES):
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
