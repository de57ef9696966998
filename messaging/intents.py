"""What a patient's reply means, read the way a careful person at the front desk would.

Every reply is read as an answer to the last thing we texted (usually an offer: "an
earlier visit is open Tue 2:40 PM with Dr. Patel. Reply YES in 7 min to book, NO to
pass"). It is measured, not guessed: messaging/corpus/replies.csv holds well over 800
replies people really send, in English and Spanish, each labelled with what it means,
and the test suite fails below 99 % agreement or on a single false YES
(messaging/tests/test_corpus.py; `make corpus` prints the confusion table).

The principles, in order of how much a mistake costs:

1. A false YES is the worst error: it books someone who did not want the slot and turns
   away someone who did. A YES with a doubt or a condition ("yes but can it be later?",
   "maybe", "ok?") is CONDITIONAL and answered with a question, never a booking.
2. An opt-out is honoured whenever a reasonable person would mean one (the FCC: consent
   may be revoked "by any reasonable means"): STOP anywhere in a sentence, "please don't
   text me", "take me off your list", "no me manden mensajes", 🛑. Look-alikes are not:
   "I'm not going to stop", "I can stop by at 10", "the end", "I quit", "para mí está bien".
3. A wrong number ("wrong number", "número equivocado", "I'm not Ana", "I don't know any
   Ana") is never a yes or a no: texts to the number stop and staff are told.
4. A question gets an answer: "what time?", "¿a qué hora?", "with who?" (ASK_WHEN) hear the
   offer's day, time, provider and minutes left; "who is this?", "where?" (ASK_WHO) the
   clinic's name, phone and address; any other question (ASK_OTHER) the clinic's phone.
5. A NO ends the offer at once, so the slot moves on instead of waiting out its hold. A NO
   that asks for another time ("no, but next week yes") is RESCHEDULE: the offer ends and
   the patient keeps their place.
6. Anything else is UNCLEAR, answered with what the patient can do in their actual state.

How: the reply is normalised (case, accents with unicodedata, emoji by name with the
`emoji` package, letter repeats, typos of the words that matter by edit distance with
`rapidfuzz`, texting shorthand), split into clauses, and phrases are found in a fixed
order, each marked so that no word counts twice: "no problem" is a yes before "no" can be
a no, "can't make it" a no before "make it" can be a yes. What is left decides (see
_decide). Adding a phrase: add a row to the corpus, run the tests, and extend the lists
below until they pass (docs/replies.md).
"""

import enum
import functools
import re
import unicodedata

import emoji
from rapidfuzz.distance import OSA


class Intent(enum.StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    YES = "yes"
    NO = "no"
    RESCHEDULE = "reschedule"  # a NO that asks for another time
    CONDITIONAL = "conditional"  # a YES with a doubt or condition: asked again
    ASK_WHEN = "ask_when"  # when, what time, with whom, how long to answer
    ASK_WHO = "ask_who"  # who is this, where, what is this
    ASK_OTHER = "ask_other"  # any other question or request: call the clinic
    THANKS = "thanks"  # thanks, or an acknowledgement ("ok thanks", "got it")
    WRONG_NUMBER = "wrong_number"
    OTHER_LANGUAGE = "other_language"  # neither English nor Spanish
    UNCLEAR = "unclear"


# --- Normalising -------------------------------------------------------------------

# Emoji that answer by themselves, by their CLDR name (skin tones stripped).
EMOJI_WORDS = {
    "thumbs_up": "yes", "check_mark_button": "yes", "check_mark": "yes",
    "check_box_with_check": "yes", "OK_hand": "yes", "OK_button": "yes",
    "hundred_points": "yes",
    "thumbs_down": "no", "cross_mark": "no", "multiply": "no", "prohibited": "no",
    "person_gesturing_NO": "no", "woman_gesturing_NO": "no", "man_gesturing_NO": "no",
    "stop_sign": "stop", "thinking_face": "maybe", "folded_hands": "thanks",
    "red_heart": "thanks", "smiling_face_with_smiling_eyes": "thanks",
    "slightly_smiling_face": "thanks", "grinning_face": "thanks",
    "smiling_face_with_hearts": "thanks", "smiling_face": "thanks",
    "red_question_mark": "?", "white_question_mark": "?",
}
SKIN_TONE = re.compile(r"_(?:light|medium-light|medium|medium-dark|dark)_skin_tone")
# Latin letters that NFKD does not take apart.
PLAIN_LETTERS = str.maketrans({"ı": "i", "ł": "l", "ø": "o", "ß": "ss", "æ": "ae",
                               "đ": "d", "œ": "oe", "¿": " ", "¡": " "})
APOSTROPHES = re.compile("['\u2019\u2018`´]")
AM_PM = re.compile(r"\b\d{1,2}(?::\d{2})?\s*(?:a\.?m\b\.?|p\.?m\b\.?)")
CLOCK = re.compile(r"\b\d{1,2}:\d{2}\b")
CLAUSE_BREAK = re.compile(r"[.!?,;:()\[\]\"/]+|\s-+\s|\n")
WORD = re.compile(r"[a-z0-9]+")

# Texting shorthand, spelled out. A value may be several words.
SHORTHAND = {
    "u": "you", "r": "are", "ur": "your", "pls": "please", "plz": "please",
    "plis": "please", "thx": "thanks", "thnx": "thanks", "tx": "thanks", "ty": "thanks",
    "tysm": "thanks", "tmrw": "tomorrow", "tmr": "tomorrow", "2morrow": "tomorrow",
    "tomoro": "tomorrow", "wat": "what", "wht": "what", "whos": "who is",
    "whats": "what is", "thats": "that is", "its": "it is", "q": "que", "xfa": "por favor",
    "porfa": "por favor", "porfavor": "por favor", "grax": "gracias", "msj": "mensajes",
    "deacuerdo": "de acuerdo", "talvez": "tal vez", "ok": "ok", "okey": "ok",
    "okie": "ok", "oki": "ok", "okay": "ok", "kk": "k", "ofc": "of course",
    "sgtm": "sounds good", "omw": "on my way", "fs": "for sure", "nty": "no thanks",
    "idk": "dont know", "num": "number", "ys": "yes",
}


def _emoji_word(chars: str, data: dict) -> str:
    name = SKIN_TONE.sub("", data.get("en", "").strip(":"))
    return f" {EMOJI_WORDS.get(name, '')} "


def _plain(body: str) -> tuple[str, bool]:
    """Lower-case ASCII with punctuation kept; and whether the reply had letters of a
    script other than Latin (Chinese, Cyrillic, Arabic, ...)."""
    text = body or ""
    other_script = False
    if not text.isascii():
        text = emoji.replace_emoji(text, replace=_emoji_word).translate(PLAIN_LETTERS)
        kept = []
        for ch in unicodedata.normalize("NFKD", text):
            if ch.isascii():
                kept.append(ch)
            elif unicodedata.combining(ch):
                continue
            elif ch.isalpha():
                if unicodedata.name(ch, "").startswith("LATIN"):
                    kept.append(ch)
                else:
                    other_script = True
                    kept.append(" ")
            else:
                kept.append(" ")
        text = "".join(kept)
    text = APOSTROPHES.sub("", text.casefold()).replace("#", " number ")
    text = AM_PM.sub(" clockampm ", text)
    return CLOCK.sub(" clock ", text), other_script


# --- Vocabulary ----------------------------------------------------------------------

# Whole words that decide alone. Those in WEAK_YES only acknowledge: "ok thanks" is a
# thanks, "ok, no" a no.
YES_WORDS = {
    "yes", "yeah", "yea", "yah", "yeh", "ye", "yas", "yep", "yup", "yessir", "sure",
    "alright", "aight", "fine", "absolutely", "definitely", "confirm", "confirmed",
    "accept", "accepted", "perfect", "si", "sip", "claro", "vale", "dale", "listo", "lista",
    "perfecto", "seguro", "simon", "acepto", "confirmo", "orale", "coming", "ok", "k",
    "bueno",
}
WEAK_YES = {"ok", "k", "alright", "aight", "bueno"}
# Only as the whole reply (or nearly): "y", "1", "bet", "va" mean yes alone, not inside
# a sentence ("va a ir", "you bet it's early").
YES_ALONE = {"y", "1", "bet", "va", "sale", "voy", "ya"}
NO_WORDS = {"no", "nope", "nah", "naw", "nop", "nel", "pass", "skip", "decline",
            "imposible", "nunca", "busy"}
NO_ALONE = {"n", "2", "paso"}

OPT_OUT_ALONE = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke",
                 "optout", "parar", "para", "paren", "pare", "basta", "cancelar", "baja",
                 "alto"}
OPT_OUT_ALONE_EXTRA = {"please", "now", "all", "por", "favor", "ya", "it", "me"}
OPT_OUT_ANYWHERE = {"stopall", "unsubscribe", "optout", "revoke"}
OPT_IN_WORDS = {"start", "unstop", "optin", "subscribe", "resubscribe", "comenzar", "iniciar"}
OPT_IN_EXTRA = {"again", "please", "texting", "me", "opt", "in", "por", "favor"}
HELP_WORDS = {"help", "info", "information", "ayuda", "informacion"}
HELP_EXTRA = {"me", "please", "i", "need", "por", "favor", "necesito"}

# Words that say "no" or "yes" in languages the clinic does not text in. Those that are
# also English or Spanish words ("da", "non") count only as (nearly) the whole reply.
FOREIGN_WORDS = {"merci", "obrigado", "obrigada", "danke", "grazie", "nein", "salamat",
                 "asante", "shukriya", "khong", "nahi", "haan", "evet", "hayir", "daccord",
                 "mesi", "vang", "nao", "ndiyo", "oui", "sim"}
FOREIGN_ALONE = {"da", "ja", "tak", "nie", "wi", "oo", "co", "non", "cam", "on"}

WEEKDAYS = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
            "tues", "thurs", "lunes", "martes", "miercoles", "jueves", "viernes", "sabado",
            "domingo"}
# Not content for "is this a question about something?": greetings and fillers.
FILLERS = {"hello", "hi", "hey", "hola", "buenas", "what", "que", "huh", "eh", "why", "um",
           "uh", "so", "and", "oh", "ok"}

STOP_WORDS = {"stop", "parar", "pare", "paren", "pares"}
STOP_NEGATORS = {"dont", "not", "never", "wont", "cant", "nunca"}
STOP_VISIT = {"by", "in", "over", "around", "round"}


def _alt(*phrases: str) -> str:
    return "|".join(phrases)


# Phrases, each a regular expression over the normalised words (single spaces between
# words, " , " between clauses). Applied in this order; each match is replaced by a
# marker so that later lists cannot use its words again.
NEUTRAL = [  # neither yes nor no, though they contain one
    r"no worries", r"no me digas", r"not (?:yes|si)", r"good (?:morning|afternoon|evening)",
    r"buenos dias", r"buenas (?:tardes|noches)", r"who knows", r"quien sabe",
    r"no (?:voy a |vamos a )?par(?:ar|es|en)",
]
DOUBT_WITH_NEGATION = [
    r"(?:im |i am )?not sure(?: yet)?", r"(?:i )?dont know(?! (?:any|an?|who|what|how|where|why)\b)",
    r"no se(?! (?:quien|que|como|donde)\b)", r"no estoy segur[oa]", r"not certain",
]
YES_IDIOMS = [r"no problem", r"cant wait", r"why not", r"of course", r"para mi esta bien",
              r"claro que (?:si|puedo)"]
NO_PHRASES = [
    r"(?:(?:yeah|yea|ya|yep|yes|nah|no|ok) (?:, )?)?(?:im|i am|were|we are) (?:good|ok|fine|all set)(?: thanks)?",
    r"no thanks?(?: you)?", r"no gracias", r"(?:i )?(?:cant|cannot|can not|couldnt)(?: (?:make it|come|go|do it|do that|be there))?",
    r"(?:(?:i )?(?:will|wont|won't) )?not be able to(?: make it| come)?", r"wont be able to(?: make it| come)?",
    r"(?:im )?not able to(?: make it| come)?", r"unable to(?: make it| come)?",
    r"not interested", r"(?:at|have|have to|got) work", r"im working", r"i work (?:then|that day|at that time)",
    r"not (?:today|now|this (?:time|one|week)|at that time|that time|for me|then)",
    r"not (?:" + "|".join(sorted(WEEKDAYS)) + r")",
    r"(?:that |it )?(?:doesnt|does not|wont|will not|isnt going to|is not going to) work(?: for me)?",
    r"not (?:gonna|going to) work", r"bad time", r"too (?:early|late|soon|short)",
    r"out of town", r"already (?:have|got) (?:an? )?(?:appointment|one)", r"already got seen",
    r"dont need", r"no way", r"dont think so", r"(?:probably|maybe|definitely|absolutely) not",
    r"dont want", r"no can do", r"someone else", r"maybe next time", r"have school",
    r"pick up my kids", r"not (?:ok|good|fine)", r"ill pass", r"(?:im )?going to pass",
    r"gonna pass", r"broke down", r"not (?:coming|going)(?! to)", r"(?:wont|will not|cant|cannot) be there", r"not (?:available|free)",
    r"(?:i )?have (?:other )?plans", r"(?:have|got) a meeting", r"at (?:my )?(?:other )?job",
    r"no (?:voy|vamos)(?! a (?:ir|estar))", r"no (?:puedo|podre|podria|voy a poder|alcanzo|llego|me interesa|me sirve|me queda|estoy disponible|quiero|la quiero|la necesito|creo)",
    r"creo que no", r"claro que no", r"para nada", r"(?:ahorita|ahora|hoy|esta vez|mejor|tampoco) no",
    r"no esta vez", r"estoy (?:ocupad[oa]|trabajando|fuera|enferm[oa])", r"tengo (?:que )?trabaj(?:o|ar)",
    r"trabajo a esa hora", r"ya tengo (?:una )?cita", r"otra persona", r"estoy bien",
    r"no tengo (?:quien|como)", r"a esa hora no", r"no me es posible", r"no me da tiempo",
]
YES_PHRASES = [
    r"(?:ill|i will|i ll) (?:take|come|be there|stop)", r"take (?:it|that|the)", r"book (?:me|it)",
    r"sign me up", r"put me down", r"count me in", r"im in", r"(?:that |it )?works",
    r"sounds (?:good|great|perfect)", r"(?:ill|i will|we will|well|we ll) be there",
    r"see (?:you|ya)", r"(?:i|she|he|we) (?:can|will) (?:make it|come|do|be there|stop)",
    r"make it", r"id (?:love|like)", r"i would (?:love|like)", r"would love", r"i want (?:it|that)",
    r"im (?:available|free|coming)", r"i am (?:available|free)", r"on my way", r"for sure",
    r"say less", r"all right", r"sounds like a plan", r"(?:that |it )?would be (?:great|perfect|good|nice)", r"that is (?:fine|perfect|great|good)",
    r"fine by me", r"schedule me", r"reserve it", r"hold it", r"(?:ill|i will) come",
    r"de acuerdo", r"esta bien", r"ta bien", r"(?:la|lo) tomo", r"(?:la|lo) quiero",
    r"quiero la cita", r"por supuesto", r"(?:ahi|alli) estar\w*", r"nos vemos",
    r"(?:puedo|puede|podemos) ir", r"voy a (?:ir|estar)", r"me (?:sirve|queda bien|funciona)",
    r"reserv\w*", r"apunt\w+", r"agend\w+", r"con gusto", r"ya voy", r"de una",
]
WHEN_QUESTIONS = [
    r"what time", r"the time", r"^time$", r"when", r"cuando", r"what (?:day|date)", r"which day",
    r"(?:is it|is that|it is) (?:today|tomorrow|in the (?:morning|afternoon|evening))",
    r"morning or afternoon", r"(?:who is|with) (?:the )?(?:doctor|provider|dr)\b",
    r"with (?:who|whom)", r"(?:which|what) (?:doctor|provider|dr)", r"is it with",
    r"how (?:long|much time) do i have", r"remind me", r"tell me the time",
    r"a que hora", r"que hora", r"que dia", r"(?:es|sera) (?:hoy|manana|en la (?:manana|tarde))",
    r"con (?:quien|que doctor\w*|cual doctor\w*|que medico)", r"cuanto tiempo", r"la hora",
    r"para (?:cuando|que hora|manana)",
]
WHO_QUESTIONS = [
    r"who (?:is|are) (?:this|you|texting)", r"who (?:dis|this|sent)", r"what is this",
    r"(?:what|which) (?:clinic|office|location)", r"where", r"address",
    r"how did you get my number", r"^is this", r"dont know who this is",
    r"(?:got|get|received) a text from this number", r"quien (?:es|habla|me escribe)",
    r"de parte de quien", r"de donde me (?:escriben|llaman)", r"que es esto",
    r"(?:que|cual) (?:clinica|oficina)", r"donde", r"direccion", r"consiguieron mi numero",
    r"no se quien", r"para que es", r"^es real",
]
REQUESTS = [r"call me", r"llamen?me", r"cancel my appointment", r"cancelar mi cita",
            r"can (?:you|i) call"]
LATER = [
    r"tomorrow", r"later(?! than)", r"earlier(?! than)", r"another (?:day|time|week)", r"other day",
    r"next (?:week|month)", r"afternoon", r"morning", r"evening", r"tonight",
    r"end of the day", r"weekend", r"reschedule", r"(?:at|by|after|before|around|do) (?:clock|\d+)",
    r"clockampm", r"manana", r"mas (?:tarde|temprano)", r"en la (?:tarde|noche)", r"otro dia",
    r"proxima semana", r"semana que viene", r"la otra", r"(?:despues de )?las (?:clock|\d+)",
    r"fin de semana", r"reprogram\w*",
]
DOUBT = [
    r"maybe", r"probably", r"possibly", r"perhaps", r"i think", r"i guess", r"let me",
    r"let you know", r"(?:ill|i will) (?:try|see)", r"try to", r"depend[es]?", r"might",
    r"could", r"should", r"see if", r"tal vez", r"quizas?", r"a lo mejor", r"puede ser", r"creo",
    r"probablemente", r"dejeme", r"voy a (?:ver|intentar)", r"(?:le|te) aviso", r"intentare",
]
# A condition on a yes ("yes but...", "yes if...") makes it CONDITIONAL; alone it is not
# a doubt ("Thanks but no").
CONDITIONS = [r"but", r"if", r"unless", r"as long as", r"pero", r"si (?:salgo|es con|me da)",
              r"siempre (?:que|y cuando)"]
THANKS_PHRASES = [
    r"thanks?", r"appreciat\w*", r"got it", r"noted", r"understood", r"cool", r"great",
    r"awesome", r"nice", r"wow", r"you too", r"god bless", r"have a (?:good|nice|great) day",
    r"gracias", r"entendido", r"enterad[oa]", r"muy amable", r"amables", r"dios (?:le|te) bendiga",
    r"igualmente", r"genial", r"que bien", r"buenisimo", r"buen dia",
]
OPT_OUT_PHRASES = [
    r"opt (?:me )?out", r"(?:dont|do not) (?:text|contact|message)", r"no more (?:texts?|messages|msgs)",
    r"remove (?:me|my number)", r"take (?:me|my number) off", r"leave me alone",
    r"(?:dont|do not) want (?:to receive |(?:these|this|your|any more|anymore|any) )?(?:texts?|messages)",
    r"quit (?:texting|messaging)", r"cancel (?:these |the |your )?(?:texts|messages)",
    r"no me (?:manden|mande|mandes|envien|envie|envies|escriban|escriba|escribas|molesten|contacten)",
    r"ya no me (?:escriban|manden|envien)", r"no quiero que me (?:escriban|manden|envien|contacten|molesten)", r"no (?:envien|manden) mas", r"no quiero (?:recibir|mas mensajes|mensajes)",
    r"no mas mensajes", r"(?:dejen|deja|paren|pare) de (?:enviar|mandar|escribir|molestar)\w*",
    r"basta de", r"ya basta", r"basta ya", r"(?:darme|dar|denme|deme) de baja",
    r"(?:borrenme|saquenme|quitenme|borrame|sacame|quitame)",
]
OPT_IN_PHRASES = [r"opt in", r"text me again", r"texting me again", r"volver a recibir"]
HELP_PHRASES = [r"how does this work", r"what do i (?:do|reply|answer|say)",
                r"how do i (?:answer|reply|respond)", r"como funciona",
                r"que (?:tengo que|debo) (?:contestar|responder)", r"que hago"]
# {name} is the patient's first name, when known ("I'm not Ana").
WRONG_NUMBER_PHRASES = [
    r"wrong (?:number|phone|person)", r"numero (?:equivocado|incorrecto|errado)",
    r"^(?:se |esta |estan )?equivoc(?:ado|ada|ados|aron|o)$", r"equivoc\w* de (?:numero|persona)",
    r"(?:esta|estan|tiene el numero) equivocad[oa]",
    r"dont know (?:any|an?|anyone|anybody)\b", r"no one (?:here )?by that name",
    r"nobody (?:here )?(?:named|by that name)", r"never been to (?:your|this|the) (?:clinic|office)",
    r"no conozco a (?:ninguna?|nadie)", r"este numero no es de",
]
WRONG_NUMBER_NAMED = [
    r"(?:im not|i am not|this isnt|this is not) {name}\b",
    r"^not {name}\b", r"no {name} here", r"(?:there is|theres) no {name}\b",
    r"dont know who {name}", r"who is {name}\b", r"{name} (?:doesnt|does not) (?:live|have)",
    r"not {name}s (?:phone|number)", r"isnt {name}s (?:phone|number)",
    r"(?:yo )?no soy {name}\b", r"aqui no (?:hay|vive) (?:ninguna? )?{name}\b", r"quien es {name}\b",
    r"{name} ya no tiene",
]

# Words worth correcting typos of, and only these: each is far from every ordinary word
# ("claro" is not here: Clara is a name; "stop" neither: step, shop).
TYPO_TARGETS = (
    "thanks", "number", "wrong", "unsubscribe", "equivocado", "interested", "gracias",
    "acepto", "perfect", "perfecto", "tomorrow", "appointment", "available", "definitely",
    "absolutely", "confirm", "please", "sounds", "disponible", "ocupado", "ocupada",
    "where", "direccion", "manana",
)
# Short words only get letters swapped back ("yse", "sotp"), never replaced.
SWAP_TARGETS = ("yes", "yeah", "yep", "yup", "sure", "stop", "nope", "okay", "what",
                "when", "time", "thanks")


def _compile(phrases: list[str]) -> re.Pattern:
    return re.compile(rf"(?<![a-z0-9])(?:{_alt(*phrases)})(?![a-z0-9])")


def _vocabulary() -> frozenset[str]:
    words = set()
    lists = (NEUTRAL, DOUBT_WITH_NEGATION, YES_IDIOMS, NO_PHRASES, YES_PHRASES,
             WHEN_QUESTIONS, WHO_QUESTIONS, REQUESTS, LATER, DOUBT, CONDITIONS,
             THANKS_PHRASES, OPT_OUT_PHRASES, OPT_IN_PHRASES, HELP_PHRASES,
             WRONG_NUMBER_PHRASES, WRONG_NUMBER_NAMED)
    for phrases in lists:
        for phrase in phrases:
            words.update(re.findall(r"[a-z]{2,}", phrase))
    for group in (YES_WORDS, YES_ALONE, NO_WORDS, NO_ALONE, OPT_OUT_ALONE, OPT_IN_WORDS,
                  OPT_IN_EXTRA, HELP_WORDS, HELP_EXTRA, FOREIGN_WORDS, FOREIGN_ALONE,
                  WEEKDAYS, FILLERS, STOP_WORDS, STOP_VISIT, OPT_OUT_ALONE_EXTRA):
        words.update(group)
    words.update(SHORTHAND)
    # Ordinary words that sit one letter away from a typo target.
    words.update({"there", "here", "were", "thank", "numbers", "clara", "too", "good",
                  "see", "all", "will", "tell", "cool", "week", "soon", "book", "free",
                  "llego", "calle", "mass", "inn", "off", "tanks", "lol", "hmm", "mmm",
                  "jaja", "jajaja", "haha", "asdf", "llamen", "puedo", "puede"})
    return frozenset(words)


VOCABULARY = _vocabulary()
REPEATS_3 = re.compile(r"(.)\1{2,}")
REPEATS_2 = re.compile(r"(.)\1+")


@functools.lru_cache(maxsize=8192)
def _spelled(word: str) -> str:
    """The word as meant: "yesss" -> "yes", "thnks" -> "thanks", "sotp" -> "stop", "thx"
    -> "thanks". Unknown words stay as they are."""
    if word in VOCABULARY or word.isdigit():
        return SHORTHAND.get(word, word)
    for fewer in (REPEATS_3.sub(r"\1\1", word), REPEATS_2.sub(r"\1", word)):
        if fewer in VOCABULARY:
            return SHORTHAND.get(fewer, fewer)
    if len(word) >= 3:
        for target in SWAP_TARGETS:
            if (len(target) == len(word) and sorted(target) == sorted(word)
                    and OSA.distance(word, target) == 1):
                return target
    if len(word) >= 5 and word.isalpha():
        # One letter: two would turn "unavailable" into "available".
        limit = 1
        best, best_distance = None, limit + 1
        for target in TYPO_TARGETS:
            if abs(len(target) - len(word)) > limit:
                continue
            distance = OSA.distance(word, target, score_cutoff=limit)
            if distance < best_distance:
                best, best_distance = target, distance
        if best is not None:
            return best
    return word


# --- Reading a reply -----------------------------------------------------------------

NEUTRAL_RE = _compile(NEUTRAL)
DOUBT_WITH_NEGATION_RE = _compile(DOUBT_WITH_NEGATION)
YES_IDIOMS_RE = _compile(YES_IDIOMS)
NO_PHRASES_RE = _compile(NO_PHRASES)
YES_PHRASES_RE = _compile(YES_PHRASES)
WHEN_RE = _compile(WHEN_QUESTIONS)
WHO_RE = _compile(WHO_QUESTIONS)
REQUESTS_RE = _compile(REQUESTS)
LATER_RE = _compile(LATER)
DOUBT_RE = _compile(DOUBT)
CONDITIONS_RE = _compile(CONDITIONS)
THANKS_RE = _compile(THANKS_PHRASES)
OPT_OUT_RE = _compile(OPT_OUT_PHRASES)
OPT_IN_RE = _compile(OPT_IN_PHRASES)
HELP_RE = _compile(HELP_PHRASES)
WRONG_NUMBER_RE = _compile(WRONG_NUMBER_PHRASES)

# Markers left where a phrase was found: upper case, which normalised words never are.
# Y yes, W weak yes, N no, D doubt, C condition, L another time, V another weekday,
# A when-question, B who-question, R request, T thanks, X neutral.
MARKERS = re.compile(r"[A-Z]")
NEGATED_YES = re.compile(r"(?<![a-z0-9])(?:not|never|dont|wont|cant|cannot|nunca)(?:\s+[a-z0-9]+){0,2}\s+Y(?![A-Za-z0-9])")


@functools.lru_cache(maxsize=512)
def _wrong_number_named(name: str) -> re.Pattern | None:
    words = WORD.findall(_plain(name)[0])
    if not words:
        return None
    # The name as typed and as the message's words are read (_spelled collapses letter
    # repeats: "Brooke" reads "broke", "Matt" "mat"), so "I'm not Brooke" is found.
    names = sorted({words[0], _spelled(words[0])})
    return _compile([p.replace("{name}", "(?:" + "|".join(map(re.escape, names)) + ")")
                     for p in WRONG_NUMBER_NAMED])


def _clauses(text: str) -> list[list[str]]:
    clauses = []
    for part in CLAUSE_BREAK.split(text):
        words = " ".join(_spelled(word) for word in WORD.findall(part)).split()
        if words:
            clauses.append(words)
    return clauses


def _says_stop(clauses: list[list[str]]) -> bool:
    """STOP wherever it stands, unless it is a visit ("stop by at 10", "stop in") or
    negated ("don't stop", "I'm not going to stop", "no voy a parar")."""
    for words in clauses:
        for i, word in enumerate(words):
            if word not in STOP_WORDS:
                continue
            following = words[i + 1] if i + 1 < len(words) else ""
            if word == "stop" and following in STOP_VISIT:
                continue
            before = set(words[max(0, i - 3):i])
            if before & STOP_NEGATORS or (word != "stop" and "no" in before):
                continue
            if word == "stop" or word == "parar" or i == 0:
                return True
    return False


def _mark(text: str, pattern: re.Pattern, marker: str) -> str:
    return pattern.sub(f" {marker} ", text)


def understand(body: str, *, first_name: str = "") -> Intent:
    """What `body` means as a reply to our last text; `first_name` is the name we texted
    (a stranger says "I'm not Ana")."""
    text, other_script = _plain(body)
    question = "?" in text
    clauses = _clauses(text)
    words = [word for clause in clauses for word in clause]
    if not words:
        return Intent.OTHER_LANGUAGE if other_script else Intent.UNCLEAR
    joined = " , ".join(" ".join(clause) for clause in clauses)
    word_set = set(words)

    named = _wrong_number_named(first_name) if first_name else None
    if WRONG_NUMBER_RE.search(joined) or (named is not None and named.search(joined)):
        return Intent.WRONG_NUMBER
    if (word_set & OPT_OUT_ANYWHERE or _says_stop(clauses) or OPT_OUT_RE.search(joined)
            or (word_set & OPT_OUT_ALONE and word_set <= OPT_OUT_ALONE | OPT_OUT_ALONE_EXTRA)):
        return Intent.OPT_OUT
    if (word_set & OPT_IN_WORDS and word_set <= OPT_IN_WORDS | OPT_IN_EXTRA) or (
            len(words) <= 6 and OPT_IN_RE.search(joined)):
        return Intent.OPT_IN
    if (word_set & HELP_WORDS and word_set <= HELP_WORDS | HELP_EXTRA) or HELP_RE.search(joined):
        return Intent.HELP
    if other_script or word_set & FOREIGN_WORDS or (
            word_set & FOREIGN_ALONE and len(words) <= 2
            and word_set <= FOREIGN_ALONE | {"ok", "thanks"}):
        return Intent.OTHER_LANGUAGE
    return _decide(joined, words, question)


def _decide(joined: str, words: list[str], question: bool) -> Intent:
    short = len(words) <= 2
    text = _mark(joined, NEUTRAL_RE, "X")
    text = _mark(text, DOUBT_WITH_NEGATION_RE, "D")
    text = _mark(text, YES_IDIOMS_RE, "Y")
    text = _mark(text, NO_PHRASES_RE, "N")
    text = _mark(text, YES_PHRASES_RE, "Y")
    # A yes under a negation is a no: "not gonna make it", "never take it".
    text = NEGATED_YES.sub(" N ", text)
    text = _mark(text, WHEN_RE, "A")
    text = _mark(text, WHO_RE, "B")
    text = _mark(text, REQUESTS_RE, "R")
    text = _mark(text, LATER_RE, "L")
    text = _mark(text, DOUBT_RE, "D")
    text = _mark(text, CONDITIONS_RE, "C")
    text = _mark(text, THANKS_RE, "T")

    signs: list[str] = []
    for clause in text.split(","):
        tokens = clause.split()
        for i, token in enumerate(tokens):
            if MARKERS.fullmatch(token):
                signs.append(token)
            elif token in WEAK_YES:
                signs.append("W")
            elif token in YES_WORDS or (short and token in YES_ALONE):
                signs.append("Y")
            elif token in WEEKDAYS:
                signs.append("V")
            elif token == "no":
                # "no" answers at a clause's edge ("no, thanks", "gracias pero no"); inside
                # a Spanish sentence it is only the verb's negation ("no tenían mi medicina").
                if i == 0 or i == len(tokens) - 1:
                    signs.append("N")
            elif token in NO_WORDS or (short and token in NO_ALONE):
                signs.append("N")
    content = [w for w in words if w not in FILLERS]
    return _weigh(signs, question=question, content=len(content))


def _weigh(signs: list[str], *, question: bool, content: int) -> Intent:
    yes = [i for i, s in enumerate(signs) if s in "YW"]
    no = [i for i, s in enumerate(signs) if s == "N"]
    strong_yes = "Y" in signs
    doubt = "D" in signs
    condition = "C" in signs
    later = "L" in signs
    asked = "A" in signs or "B" in signs
    if yes and no:
        if not strong_yes:
            return Intent.NO  # "ok, no thanks": ok only acknowledges
        if yes[0] < no[0]:  # "yes but not Tuesday"
            return Intent.CONDITIONAL if condition or later or "V" in signs else Intent.UNCLEAR
        # "no, but next week yes"; "no wait, yes" is unclear
        return Intent.RESCHEDULE if later or "V" in signs else Intent.UNCLEAR
    if yes:
        if doubt or condition or later or question or asked or "R" in signs:
            return Intent.CONDITIONAL
        if not strong_yes and "T" in signs:
            return Intent.THANKS  # "ok thanks"
        return Intent.YES
    if no:
        # "no, is there one tomorrow?": asking about times after a no asks for another.
        return Intent.RESCHEDULE if later or "A" in signs or (
            question and "V" in signs) else Intent.NO
    if doubt:
        return Intent.CONDITIONAL
    if asked:
        first = next(s for s in signs if s in "AB")
        return Intent.ASK_WHEN if first == "A" else Intent.ASK_WHO
    if later and (question or "R" in signs):
        return Intent.CONDITIONAL  # "can it be later?"
    if "T" in signs:
        return Intent.THANKS
    if "R" in signs or (question and content >= 2):
        return Intent.ASK_OTHER
    return Intent.UNCLEAR
