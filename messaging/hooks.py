"""The one hand-off between the SMS channel and whoever uses it (the offer engine).

messaging knows nothing about slots. It understands what a patient's reply means
(messaging.intents), acts itself on what concerns the channel (STOP, START, HELP, a wrong
number), and hands every other reply (yes, no, a question, thanks, ...: the intents in
HANDED_OVER) to one registered reply handler. Only the handler knows the patient's
state (a live offer, a booking, nothing), so it decides what happens and which template
answers, with what context; None means "answer nothing". Hand-overs to the SMS provider,
delivery failures and opt-outs are announced with signals, so users of the channel can
react. Calls (messaging/voice.py) are the same: one registered call handler says what a
call says and acts on its keys (register_call_handler).

    # offers/apps.py
    def ready(self):
        from messaging.hooks import register_reply_handler
        from offers.replies import handle_reply
        register_reply_handler(handle_reply)
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.dispatch import Signal


@dataclass(frozen=True)
class ReplyAnswer:
    """What to text back: a template under templates/sms/<lang>/<template>.txt and its context."""

    template: str
    context: dict = field(default_factory=dict)
    # What the reply was about (the handler's own model instance, e.g. an offer): the
    # inbound message and the answer are logged with it as their subject.
    subject: object | None = None


# The replies the handler answers: everything but what the channel settles itself.
HANDED_OVER = frozenset({
    "yes", "no", "reschedule", "conditional", "ask_when", "ask_who", "ask_other", "thanks",
    "other_language", "unclear",
})

# handler(*, patient, intent: one of HANDED_OVER, message) -> ReplyAnswer | None
ReplyHandler = Callable[..., ReplyAnswer | None]

_reply_handler: ReplyHandler | None = None


def register_reply_handler(handler: ReplyHandler) -> None:
    global _reply_handler
    _reply_handler = handler


def get_reply_handler() -> ReplyHandler | None:
    return _reply_handler


# check(*, message) -> bool: may this queued outbound message still be sent? Asked by
# message_deliver inside the transaction that claims the message for sending, on the
# first attempt and on every retry, before the claim; a False suppresses the message
# (announced as message_failed) instead of sending it. A check may lock rows of its own
# (the offer engine locks the offer), so whatever it guards cannot change mid-claim.
SendCheck = Callable[..., bool]

_send_checks: list[SendCheck] = []


def register_send_check(check: SendCheck) -> None:
    if check not in _send_checks:
        _send_checks.append(check)


def message_may_be_sent(message) -> bool:
    return all(check(message=message) for check in _send_checks)


# Sent after commit when the SMS backend accepted an outbound message (it has left our
# hands; Twilio gave it a SID; for a call: when a person answered it, messaging/voice.py):
# kwargs message (messaging.Message), at (when it was handed over). The offer engine
# starts an offer's hold from this moment.
message_handed_over = Signal()

# Sent after commit when a call was placed (it rings; Twilio gave it a CallSid): kwargs
# message. Nothing in the product needs it; the fill simulator answers its calls from it.
call_placed = Signal()

# Sent after commit when an outbound message will never reach the patient:
# kwargs message (messaging.Message), permanent (bool), error_code (str).
message_failed = Signal()

# Sent after commit when a patient opts out (STOP, or Twilio error 21610): kwargs patient.
patient_opted_out = Signal()

# Sent after commit when a patient opts back in (START/UNSTOP): kwargs patient.
patient_opted_in = Signal()

# Sent after commit when someone at a patient's number replied that it is not theirs
# ("wrong number"): kwargs patient. Nothing more is texted to the number; users of the
# channel end what they had going with the patient (the offer engine its live offer).
patient_wrong_number = Signal()


# --- Calls (messaging/voice.py) -------------------------------------------------------


@dataclass(frozen=True)
class CallScript:
    """What to say on a call: templates/voice/<lang>/<template>.txt with its context, and
    whether to listen for a key (1 or 2) or a spoken yes/no after it (else: hang up)."""

    template: str
    context: dict = field(default_factory=dict)
    listen: bool = False
    subject: object | None = None


# handler(*, call: the outbound call's Message, intent: None when the call was just
# answered (say what it is about), "yes" or "no" for a key or word, message: the inbound
# keypress's Message or None) -> CallScript. Registered by the user of the channel, as
# the reply handler is; messaging only speaks what it answers.
CallHandler = Callable[..., CallScript]

_call_handler: CallHandler | None = None


def register_call_handler(handler: CallHandler) -> None:
    global _call_handler
    _call_handler = handler


def get_call_handler() -> CallHandler | None:
    return _call_handler
