"""Where an outbound SMS (or call, messaging/voice.py) goes: `console` (kept in the log, nothing leaves the machine) or
`twilio` (the Messages API). Chosen by settings.SMS_BACKEND.

A backend either returns a SendResult or raises TemporarySendError (try again later) or
PermanentSendError (this message will never go out as it is).
"""

import logging
import uuid
from dataclasses import dataclass

import requests
from django.conf import settings
from django.urls import reverse
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from clinic.lib.phones import mask_phone
from messaging import voice
from messaging.models import Message

logger = logging.getLogger(__name__)

# Seconds to wait for Twilio's API; a Celery retry follows a timeout.
TWILIO_TIMEOUT = 10

# Twilio errors that are about the recipient, not about this attempt.
ERROR_UNSUBSCRIBED = "21610"  # the patient texted STOP to our number: an opt-out
ERRORS_INVALID_NUMBER = {"21211"}  # not a phone number at all
# The number is a phone but cannot take texts (21614 "not a mobile number", 30006
# landline or unreachable carrier; not 21408, a region our account may not text): offers to the
# patient become calls (messaging.services._patient_apply_error).
ERRORS_NOT_TEXTABLE = {"21614", "30006"}


@dataclass(frozen=True)
class SendResult:
    status: str  # a Message.Status
    sid: str | None = None


class SendError(Exception):
    def __init__(self, message: str, *, code: str = ""):
        super().__init__(message)
        self.code = code


class TemporarySendError(SendError):
    """Network trouble, Twilio 5xx, rate limit (429): worth another try later."""


class PermanentSendError(SendError):
    """Twilio refused this message for good (unsubscribed, invalid number, ...)."""


class ConsoleBackend:
    def send(self, message: Message) -> SendResult:
        if message.channel == Message.Channel.VOICE:
            # A simulated call: it "rings" until the portal's simulator answers it.
            if voice.patient_on_a_call(message):
                raise TemporarySendError("The patient is on another call", code="busy-us")
            logger.info("Call (console backend) message %s to %s, %s", message.pk,
                        mask_phone(message.to_number), message.kind or "call")
            return SendResult(status=Message.Status.ACCEPTED, sid=f"CASIM{uuid.uuid4().hex}")
        # Masked here as well as by the logging filter: a handler that some other
        # configuration installs may not carry the filter. The body is never logged
        # (privacy); it is in the message log.
        logger.info("SMS (console backend) message %s to %s, %s", message.pk,
                    mask_phone(message.to_number), message.kind or "reply")
        return SendResult(status=Message.Status.SENT)


def twilio_http_client() -> TwilioHttpClient:
    """The SDK's HTTP client; tests replace this to fake Twilio at the HTTP layer."""
    return TwilioHttpClient(timeout=TWILIO_TIMEOUT)


def status_callback_url(message: Message) -> str:
    """Names the message as well: a fast "failed" can arrive before the worker has saved
    the SID that Twilio's answer carries. Twilio signs the whole URL, query included."""
    return f"{settings.PUBLIC_BASE_URL}{reverse('messaging:status')}?m={message.pk}"


class TwilioBackend:
    def send(self, message: Message) -> SendResult:
        client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN,
                        http_client=twilio_http_client())
        if message.channel == Message.Channel.VOICE and voice.patient_on_a_call(message):
            raise TemporarySendError("The patient is on another call", code="busy-us")
        try:
            if message.channel == Message.Channel.VOICE:
                created = voice.call_place(client, message)
                return SendResult(status=Message.Status.ACCEPTED, sid=created.sid)
            created = client.messages.create(
                to=message.to_number,
                from_=settings.TWILIO_FROM_NUMBER,
                body=message.body,
                status_callback=status_callback_url(message),
            )
        except TwilioRestException as exc:
            code = str(exc.code or "")
            if exc.status == 429 or exc.status >= 500:
                raise TemporarySendError(f"Twilio answered {exc.status}", code=code) from exc
            raise PermanentSendError(exc.msg or f"Twilio answered {exc.status}",
                                     code=code or str(exc.status)) from exc
        except requests.RequestException as exc:
            raise TemporarySendError(f"Could not reach Twilio: {type(exc).__name__}",
                                     code="network") from exc
        return SendResult(status=Message.Status.ACCEPTED, sid=created.sid)


def get_backend():
    return TwilioBackend() if settings.SMS_BACKEND == "twilio" else ConsoleBackend()
