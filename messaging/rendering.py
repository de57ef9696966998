"""SMS text: rendering templates/sms/<language>/<name>.txt and measuring segments."""

import unicodedata

from django.conf import settings
from django.template import Context, Engine
from django.utils import translation

LANGUAGES = ("en", "es")
# The channel's own templates (opt-out, help, unknown numbers, the answers when nobody
# is registered to answer); the apps that use the channel add theirs at start-up
# (templates_register: the offer engine's are listed in offers/messages.py).
TEMPLATE_NAMES = [
    "nothing_to_answer", "unclear_reply", "opt_out", "opt_in", "help", "unknown_number",
    "help_opted_out", "wrong_number",
]
# Templates that say where the patient stands (templates/sms/<lang>/_state.txt), from the
# context's `state`: live (an offer they can still take), pending (their YES awaits the
# clinic's approval), booked, closed (our last offer ended) or none; with start, provider,
# minutes_left and on_waitlist.
STATES = ("live", "pending", "booked", "closed", "none")

_engine: Engine | None = None


def _sms_engine() -> Engine:
    # Its own engine: SMS is plain text, so no HTML autoescaping ("&" must stay "&").
    global _engine
    if _engine is None:
        _engine = Engine(
            dirs=[settings.BASE_DIR / "templates"],
            autoescape=False,
            builtins=["messaging.templatetags.sms"],
        )
    return _engine


# How many segments a text may cost: DEFAULT_SEGMENT_BUDGET, unless the template's owner
# asks for fewer (the offer engine: its offer text in one, offers/messages.py).
SEGMENT_BUDGET: dict[str, int] = {}
DEFAULT_SEGMENT_BUDGET = 2
# What gives way when a text would cost more than its budget: the patient's name, which
# is shortened to its first word or left out ("Hi, an earlier visit..."); never the
# facts (clinic, time, provider, hold, how to answer). A name in another script (李小龙)
# would switch the whole text to UCS-2, 70 characters a segment.
GIVES_WAY = "first_name"


def templates_register(names, *, segment_budget: dict[str, int] | None = None) -> None:
    """A user of the channel adds its templates (templates/sms/<lang>/<name>.txt), and the
    segments any of them may cost when not DEFAULT_SEGMENT_BUDGET. Safe to call twice."""
    TEMPLATE_NAMES.extend(name for name in names if name not in TEMPLATE_NAMES)
    SEGMENT_BUDGET.update(segment_budget or {})


def sms_render(*, template: str, language: str, context: dict | None = None) -> str:
    """The text of one SMS. Unknown languages fall back to English."""
    if template not in TEMPLATE_NAMES:
        raise ValueError(f"No SMS template named {template!r}.")
    language = language if language in LANGUAGES else "en"
    full_context = {
        **(context or {}),
        "clinic_name": settings.CLINIC_NAME,
        "clinic_phone": settings.CLINIC_PHONE,
    }
    full_context = {key: sms_plain(value) if isinstance(value, str) else value
                    for key, value in full_context.items()}
    text = _render(template, language, full_context)
    budget = SEGMENT_BUDGET.get(template, DEFAULT_SEGMENT_BUDGET)
    name = full_context.get(GIVES_WAY)
    if sms_segments(text) > budget and isinstance(name, str) and name:
        for shorter in _shorter_names(name):
            text = _render(template, language, {**full_context, GIVES_WAY: shorter})
            if sms_segments(text) <= budget:
                break
    return text


def _render(template: str, language: str, context: dict) -> str:
    with translation.override(language):
        text = _sms_engine().get_template(f"sms/{language}/{template}.txt").render(
            Context(context, autoescape=False)
        )
    # Templates may wrap lines for readability; an SMS is one paragraph.
    return " ".join(text.split())


def _shorter_names(name: str) -> list[str]:
    """"Mary Ann" -> ["Mary", ""]; a name outside GSM-7 -> [""] (left out)."""
    first_word = name.split()[0] if name.split() else ""
    shorter = [first_word] if first_word != name and sms_is_gsm7(first_word) else []
    return [*shorter, ""]


# GSM 03.38: the basic alphabet, and the extension table whose characters cost two septets.
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")


# Typographic punctuation that EHRs and word processors put into names ("O’Neil").
PLAIN_PUNCTUATION = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"',
                                   "\u201d": '"', "\u2013": "-", "\u2014": "-"})


def sms_plain(text: str) -> str:
    """`text` spelled in the GSM-7 alphabet where it can be: María -> Maria, Núñez ->
    Nuñez (ñ, é and ü are GSM-7 and stay). One letter outside GSM-7 would turn the whole
    SMS into UCS-2, 70 characters a segment instead of 160, so an offer to María would
    cost three segments. Letters with no plain spelling (another script) stay as they are.
    """
    text = text.translate(PLAIN_PUNCTUATION)
    if sms_is_gsm7(text):
        return text
    plain = []
    for ch in text:
        if not sms_is_gsm7(ch):
            bare = "".join(part for part in unicodedata.normalize("NFKD", ch)
                           if not unicodedata.combining(part))
            ch = bare if bare and sms_is_gsm7(bare) else ch
        plain.append(ch)
    return "".join(plain)


def sms_is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def sms_segments(text: str) -> int:
    """How many SMS segments the carrier bills for `text` (GSM-7 if it fits, else UCS-2)."""
    if sms_is_gsm7(text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        single, multi = 160, 153
    else:
        # UCS-2 counts UTF-16 code units: an emoji takes two.
        units = len(text.encode("utf-16-le")) // 2
        single, multi = 70, 67
    if units <= single:
        return 1
    return -(-units // multi)
