"""The SMS channel's public API. Implemented by the SMS channel issue (#4).

messaging knows nothing about slots: callers pass plain values in `context`.
"""

from clinic.models import Patient
from messaging.models import Message


def message_send(*, patient: Patient, template: str, context: dict | None = None,
                 offer=None) -> Message | None:
    """Render templates/sms/<patient's language>/<template>.txt with `context` (plus the
    clinic's name and phone), record an outbound Message (status queued, linked to the
    patient and offer) and hand it to the SMS backend after commit (a Celery task with
    retries). Returns None, recording nothing sendable, when the patient has opted out or
    their number is flagged invalid (except for the opt-out confirmation itself).
    """
    raise NotImplementedError


def inbound_handle(*, from_number: str, to_number: str, body: str, sid: str) -> str | None:
    """Everything an inbound SMS causes: log it (once per sid), understand it, act (opt
    out/in, help, or hand yes/no to the registered reply handler), and log the answer.
    Returns the reply text to send back (TwiML), or None for a duplicate sid. Used by the
    Twilio webhook and by the portal's SMS simulator alike.
    """
    raise NotImplementedError
