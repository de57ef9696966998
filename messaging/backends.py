"""Where an outbound SMS goes: `console` (kept in the log, nothing leaves the machine) or
`twilio` (the Messages API). Chosen by settings.SMS_BACKEND.

A backend either returns a SendResult or raises TemporarySendError (try again later) or
PermanentSendError (this message will never go out as it is).
"""

import logging
from dataclasses import dataclass

import requests
from django.conf import settings
from django.urls import reverse
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from clinic.lib.phones import mask_phone
from messaging.models import Message

logger = logging.getLogger(__name__)

# Seconds to wait for Twilio's API; a Celery retry follows a timeout.
TWILIO_TIMEOUT = 10

# Twilio errors that are about the recipient, not about this attempt.
ERROR_UNSUBSCRIBED = "21610"
ERRORS_INVALID_NUMBER = {"21211", "21614"}


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
        try:
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
