"""The voice channel: a message whose channel is "voice" is a phone call (Twilio Voice,
through the official SDK), spoken with TwiML <Say> in the patient's language, answered
with a key or a word (<Gather>: 1 or "yes", 2 or "no"). Like SMS it knows nothing about
slots: what a call says, and what a key does, come from the call handler registered in
messaging.hooks (the offer engine's offers/voice.py).

A call's life in the message log (dumpdata messaging): the outbound call (kind "offer",
body: what it said first, twilio_sid: the CallSid) moves queued -> sending -> accepted
(placed, ringing) -> delivered (a person answered: sent_at is when, and the offer's hold
runs from then) or undelivered/failed (busy, no-answer, failed, an answering machine:
error_code says which). Each key or word is an inbound row (body: the digits or what was
heard, kind: yes/no/silence/unclear, twilio_sid "<CallSid>:<step>") and each thing said
back an outbound row, so every turn is evidence. The same CallSid and step delivered
twice is acted on once: the repeat hears what the first was told.
"""

import datetime as dt
import logging
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from twilio.twiml.voice_response import Gather, VoiceResponse

from messaging import hooks
from messaging.intents import Intent, understand
from messaging.models import Message, MessageStatusEvent
from messaging.rendering import LANGUAGES, _sms_engine, sms_plain

logger = logging.getLogger(__name__)

Status = Message.Status

# Twilio's <Say> and <Gather> language per patient language.
SPEECH_LANGUAGES = {"en": "en-US", "es": "es-MX"}
# How long <Gather> waits for a key or a word, in seconds.
GATHER_TIMEOUT = 6
# How many times the offer is said when nothing is heard: once, then once again.
SAYS_AT_MOST = 2
# AnsweredBy values of Twilio's machine detection that are not a person.
MACHINE = ("machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other",
           "fax")
# Twilio's CallStatus, in the message log's words. busy, no-answer and failed end the
# call's attempt (error_code says which); the status callback announces it.
CALL_STATUSES = {
    "queued": Status.ACCEPTED, "initiated": Status.ACCEPTED, "ringing": Status.SENT,
    "in-progress": Status.DELIVERED, "completed": Status.DELIVERED,
    "busy": Status.UNDELIVERED, "no-answer": Status.UNDELIVERED,
    "failed": Status.FAILED, "canceled": Status.FAILED,
}
NOT_ANSWERED = ("busy", "no-answer", "failed", "canceled")
# A placed call that has not ended this long after it was placed is no longer "on the
# phone" for the one-call-at-a-time rule (its status callback was lost).
CALL_AT_MOST = dt.timedelta(minutes=15)
MACHINE_ERROR = "machine"
VOICEMAIL_TEMPLATE = "voicemail"
GOODBYE_TEMPLATE = "goodbye"


@dataclass(frozen=True)
class CallTurn:
    """One turn of a call: what is said, in which language, whether a key is awaited
    (and at which step), or the call ends after it."""

    text: str
    language: str
    listen: bool = False
    step: int = 1
    call_id: int | None = None  # the call's message, for the next step's URL


def voice_render(*, template: str, language: str, context: dict | None = None) -> str:
    """What a call says: templates/voice/<language>/<template>.txt (same filters as SMS)."""
    language = language if language in LANGUAGES else "en"
    full = {**(context or {}), "clinic_name": settings.CLINIC_NAME,
            "clinic_phone": settings.CLINIC_PHONE}
    full = {key: sms_plain(value) if isinstance(value, str) else value
            for key, value in full.items()}
    from django.template import Context
    from django.utils import translation

    with translation.override(language):
        text = _sms_engine().get_template(f"voice/{language}/{template}.txt").render(
            Context(full, autoescape=False))
    return " ".join(text.split())


# --- URLs Twilio calls back ------------------------------------------------------------


def answer_url(message: Message) -> str:
    return f"{settings.PUBLIC_BASE_URL}{reverse('messaging:voice_answer')}?m={message.pk}"


def gather_url(message: Message, step: int) -> str:
    return (f"{settings.PUBLIC_BASE_URL}{reverse('messaging:voice_gather')}"
            f"?m={message.pk}&step={step}")


def call_status_url(message: Message) -> str:
    return f"{settings.PUBLIC_BASE_URL}{reverse('messaging:voice_status')}?m={message.pk}"


def call_place(client, message: Message):
    """Place the call through the SDK's REST client (Calls API), with machine detection
    that waits for the greeting's end, so a voicemail is left after the beep."""
    return client.calls.create(
        to=message.to_number, from_=settings.TWILIO_FROM_NUMBER,
        url=answer_url(message), method="POST",
        status_callback=call_status_url(message), status_callback_method="POST",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
        machine_detection="DetectMessageEnd", timeout=25,
    )


def patient_on_a_call(message: Message) -> bool:
    """Another call to this patient (or number) was placed and has not ended: one call
    at a time per patient."""
    return Message.objects.filter(
        channel=Message.Channel.VOICE, direction=Message.Direction.OUT,
        to_number=message.to_number, status__in=(Status.SENDING, Status.ACCEPTED, Status.SENT),
        created_at__gte=timezone.now() - CALL_AT_MOST,
    ).exclude(pk=message.pk).exists()


def twiml(turn: CallTurn, *, message: Message) -> str:
    """The TwiML of one turn. Listening: <Gather> around the <Say>; if nothing is heard
    Twilio goes on to the <Redirect>, which posts the same step with no key."""
    response = VoiceResponse()
    language = SPEECH_LANGUAGES.get(turn.language, "en-US")
    if turn.listen:
        url = gather_url(message, turn.step)
        gather = Gather(input="dtmf speech", num_digits=1, action=url, method="POST",
                        timeout=GATHER_TIMEOUT, speech_timeout="auto", language=language,
                        hints="yes, no, sí")
        gather.say(turn.text, language=language)
        response.append(gather)
        response.redirect(url, method="POST")
    else:
        response.say(turn.text, language=language)
        response.hangup()
    return str(response)


# --- The call's turns ----------------------------------------------------------------


def _call(message_id: int | None, call_sid: str) -> Message | None:
    calls = Message.objects.select_related("patient").filter(
        channel=Message.Channel.VOICE, direction=Message.Direction.OUT)
    call = calls.filter(twilio_sid=call_sid).first() if call_sid else None
    if call is None and message_id is not None:
        call = calls.filter(pk=message_id).first()
        if call is not None and call.twilio_sid not in (None, "", call_sid):
            return None  # another call of the same message: not this one
    return call


def _language(call: Message) -> str:
    return call.patient.preferred_language if call.patient else "en"


def _say(call: Message, script: hooks.CallScript, *, sid: str, step: int) -> CallTurn:
    """Log what is said back (once per sid) and make the turn."""
    language = _language(call)
    text = voice_render(template=script.template, language=language, context=script.context)
    Message.objects.get_or_create(twilio_sid=sid, defaults=dict(
        direction=Message.Direction.OUT, channel=Message.Channel.VOICE,
        from_number=call.from_number, to_number=call.to_number, body=text,
        kind=script.template, status=Status.DELIVERED, patient=call.patient,
        subject_type_id=call.subject_type_id, subject_id=call.subject_id,
        sent_at=timezone.now()))
    return CallTurn(text=text, language=language, listen=script.listen, step=step,
                    call_id=call.pk)


def _ask(call: Message, *, intent: str | None, inbound: Message | None) -> hooks.CallScript:
    handler = hooks.get_call_handler()
    if handler is None:
        return hooks.CallScript(GOODBYE_TEMPLATE)
    return handler(call=call, intent=intent, message=inbound)


def voice_call_answered(*, message_id: int | None, call_sid: str,
                        answered_by: str = "") -> CallTurn | None:
    """Twilio fetched the call's TwiML: someone (or a machine) answered.

    A person: the call is delivered, its hold starts now (message_handed_over, after
    commit), and the handler says what the call is about. A machine: a short voicemail
    without any detail of the offer asks them to call the clinic, and the call counts as
    not answered (announced as a failure with error "machine"). A repeat of the same
    CallSid changes nothing again. None: not one of our calls."""
    call = _call(message_id, call_sid)
    if call is None:
        return None
    now = timezone.now()
    machine = answered_by in MACHINE
    with transaction.atomic():
        fields = {"twilio_sid": call_sid} if call_sid and not call.twilio_sid else {}
        if machine:
            moved = Message.objects.filter(pk=call.pk, sent_at__isnull=True).exclude(
                error_code=MACHINE_ERROR).exclude(status__in=(Status.UNDELIVERED, Status.FAILED)
            ).update(status=Status.UNDELIVERED, error_code=MACHINE_ERROR,
                     error_message="Answering machine: voicemail left, offer not heard",
                     updated_at=now, **fields)
            if moved:
                MessageStatusEvent.objects.create(message=call, status=Status.UNDELIVERED,
                                                  error_code=MACHINE_ERROR, at=now)
                call.status, call.error_code = Status.UNDELIVERED, MACHINE_ERROR
                transaction.on_commit(partial(
                    hooks.message_failed.send, sender=Message, message=call, permanent=False,
                    error_code=MACHINE_ERROR))
            logger.info("Call %s reached an answering machine", call.pk)
        else:
            moved = Message.objects.filter(pk=call.pk, sent_at__isnull=True).update(
                status=Status.DELIVERED, sent_at=now, updated_at=now, **fields)
            if moved:
                MessageStatusEvent.objects.create(message=call, status=Status.DELIVERED, at=now)
                call.sent_at = now
                transaction.on_commit(partial(hooks.message_handed_over.send, sender=Message,
                                              message=call, at=now), robust=True)
            logger.info("Call %s answered", call.pk)
    if machine:
        script = hooks.CallScript(VOICEMAIL_TEMPLATE)
        return _say(call, script, sid=f"{call_sid or call.pk}:voicemail", step=0)
    # After commit: the hold has started, so the handler says the minutes it has left.
    script = _ask(call, intent=None, inbound=None)
    turn = _say(call, script, sid=f"{call_sid or call.pk}:0:said", step=1)
    return turn


def _intent_of(*, digits: str, speech: str, first_name: str) -> str:
    if digits:
        return {"1": "yes", "2": "no"}.get(digits[:1], "unclear")
    if speech.strip():
        intent = understand(speech, first_name=first_name)
        return {Intent.YES: "yes", Intent.NO: "no"}.get(intent, "unclear")
    return "silence"


def voice_keypress(*, message_id: int | None, call_sid: str, step: int, digits: str = "",
                   speech: str = "") -> CallTurn | None:
    """A key pressed or a word said on the call (or nothing, at <Gather>'s timeout), at
    `step` (1, then 2 when the offer was said again). Logged once per CallSid and step;
    1/yes and 2/no go to the call handler, which acts (the same claim and decline as an
    SMS YES or NO) and says what is true; nothing heard says the offer once more, then
    ends politely. A repeat of the same step hears what the first was told."""
    call = _call(message_id, call_sid)
    if call is None:
        return None
    sid_base = f"{call_sid or call.pk}:{step}"
    first_name = call.patient.first_name if call.patient else ""
    intent = _intent_of(digits=digits, speech=speech, first_name=first_name)
    from messaging.services import _insert_unless_known  # services imports backends

    # One transaction, as an inbound SMS's: a repeat racing the first waits on the unique
    # sid until the first has committed, then repeats what the first was told.
    with transaction.atomic():
        inbound = Message(direction=Message.Direction.IN, channel=Message.Channel.VOICE,
                          from_number=call.to_number, to_number=call.from_number,
                          body=digits or speech or "", kind=intent, twilio_sid=sid_base,
                          status=Status.RECEIVED, patient=call.patient,
                          subject_type_id=call.subject_type_id, subject_id=call.subject_id)
        if not _insert_unless_known(inbound):
            said = Message.objects.filter(twilio_sid=f"{sid_base}:said").first()
            logger.info("Call %s step %s already handled; repeating its answer", call.pk, step)
            return CallTurn(text=said.body if said else "", language=_language(call),
                            call_id=call.pk)
        logger.info("Call %s step %s: %s", call.pk, step, intent)
        if intent in ("yes", "no"):
            script = _ask(call, intent=intent, inbound=inbound)
            return _say(call, hooks.CallScript(script.template, script.context),
                        sid=f"{sid_base}:said", step=step)
        if step < SAYS_AT_MOST:
            script = _ask(call, intent=None, inbound=inbound)
            return _say(call, script, sid=f"{sid_base}:said", step=step + 1)
        return _say(call, hooks.CallScript(GOODBYE_TEMPLATE), sid=f"{sid_base}:said",
                    step=step)


def voice_status_record(*, message_id: int | None, call_sid: str, call_status: str,
                        error_code: str = "") -> Message | None:
    """A call status callback, recorded as SMS delivery statuses are (only forward, every
    one in the history). busy, no-answer and failed end the call's attempt: the users of
    the channel hear it as a failed message, error_code the call status."""
    from messaging.services import message_status_record  # services imports backends

    call_status = (call_status or "").strip().lower()
    call = _call(message_id, call_sid)
    if call is None:
        return None
    status = CALL_STATUSES.get(call_status)
    if status is None:
        return call
    if call_status in NOT_ANSWERED:
        error_code = (error_code or call_status)[:10]
    return message_status_record(sid=call_sid, status=_STATUS_WORDS[status],
                                 error_code=error_code, message_id=call.pk)


# message_status_record speaks Twilio's MessageStatus words.
_STATUS_WORDS = {Status.ACCEPTED: "queued", Status.SENT: "sent", Status.DELIVERED: "delivered",
                 Status.UNDELIVERED: "undelivered", Status.FAILED: "failed"}
