"""The SMS channel's public API: send, deliver, receive, record delivery status, opt-outs.

messaging knows nothing about slots: callers pass plain values in `context`, and yes/no
replies go to the reply handler registered in messaging.hooks.

Record before you send: message_send only writes a queued Message; the Celery task
(messaging.tasks.message_deliver) claims it (queued -> sending) before calling the
backend, so a re-delivered task never sends twice.
"""

import datetime as dt
import logging
from functools import partial

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connections, router, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from clinic.audit import save_with_reason
from clinic.lib.phones import InvalidPhoneNumber, mask_phone, phone_to_e164
from clinic.models import Patient
from clinic.services import patient_set_offer_channel
from messaging import hooks
from messaging.backends import (
    ERROR_UNSUBSCRIBED,
    ERRORS_INVALID_NUMBER,
    ERRORS_NOT_TEXTABLE,
    PermanentSendError,
    TemporarySendError,
    get_backend,
)
from messaging.intents import Intent, understand
from messaging.models import Message, MessageStatusEvent, OptedOutNumber
from messaging.rendering import sms_render
from messaging.voice import voice_render

logger = logging.getLogger(__name__)

Status = Message.Status

# The opt-out confirmation is the one message an opted-out patient still gets.
OPT_OUT_TEMPLATE = "opt_out"
WRONG_NUMBER_TEMPLATE = "wrong_number"

# Statuses only move forward: a late "sent" never overwrites "delivered".
STATUS_RANK = {
    Status.QUEUED: 0,
    Status.SENDING: 1,
    Status.ACCEPTED: 2,
    Status.SENT: 3,
    Status.DELIVERED: 4,
    Status.UNDELIVERED: 4,
    Status.FAILED: 4,
    Status.SUPPRESSED: 4,
    Status.RECEIVED: 4,
}
# Twilio's MessageStatus values, in our terms.
TWILIO_STATUSES = {
    "accepted": Status.ACCEPTED,
    "scheduled": Status.ACCEPTED,
    "queued": Status.ACCEPTED,
    "sending": Status.ACCEPTED,
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "read": Status.DELIVERED,
    "undelivered": Status.UNDELIVERED,
    "failed": Status.FAILED,
    "canceled": Status.FAILED,
}
# Errors that say the patient cannot be texted at all, whatever we retry.
PATIENT_ERRORS = {ERROR_UNSUBSCRIBED, *ERRORS_INVALID_NUMBER, *ERRORS_NOT_TEXTABLE}

# A message still "sending" after this long lost its worker mid-call: we cannot know
# whether Twilio got it, so it is never resent (see messages_reconcile_stuck).
STUCK_SENDING_AFTER = dt.timedelta(minutes=15)


# --- Sending ------------------------------------------------------------------------


def message_send(*, patient: Patient, template: str, context: dict | None = None,
                 subject=None, channel: str = Message.Channel.SMS) -> Message | None:
    """Render templates/sms/<patient's language>/<template>.txt with `context` (plus the
    clinic's name and phone), record an outbound Message (status queued, linked to the
    patient and to `subject`, whatever model instance the sender says it is about) and hand it to the SMS backend after commit (a Celery task with
    retries). Returns None, recording nothing sendable, when the patient has opted out (or
    their number did, before it was theirs) or their number is flagged invalid (except for
    the opt-out confirmation itself).

    `channel` "voice": a phone call that says templates/voice/<language>/<template>.txt
    (messaging/voice.py); STOP and a wrong number stop calls too, a number that cannot
    take texts does not.
    """
    # Read the flags fresh: a STOP may have arrived since the caller loaded the patient.
    opted_out_at, invalid_at, wrong_at, number_opted_out = Patient.objects.filter(
        pk=patient.pk).annotate(number_opted_out=_number_opted_out()).values_list(
        "sms_opted_out_at", "phone_invalid_at", "phone_wrong_at", "number_opted_out").get()
    if number_opted_out and opted_out_at is None:
        _patient_take_number_opt_out(patient)
        opted_out_at = patient.sms_opted_out_at
    voice_call = channel == Message.Channel.VOICE
    invalid = invalid_at and not voice_call
    if invalid or wrong_at or (opted_out_at and template != OPT_OUT_TEMPLATE):
        logger.info("%s %s to patient %s not sent: %s", "Call" if voice_call else "SMS",
                    template, patient.pk, "number flagged invalid" if invalid else
                    "wrong number" if wrong_at else "patient opted out")
        return None
    if voice_call:
        body = voice_render(template=template, language=patient.preferred_language,
                            context=context)
    else:
        body = sms_render(template=template, language=patient.preferred_language,
                          context=context)
    with transaction.atomic():
        message = Message.objects.create(
            direction=Message.Direction.OUT,
            from_number=clinic_sms_number(),
            to_number=patient.phone,
            body=body,
            kind=template,
            status=Status.QUEUED,
            patient=patient,
            subject=subject,
            channel=channel,
        )
        # No "queued" event: the row's own status and created_at record it (first_status).
        # robust: with the broker down the message stays queued (logged, no error for the
        # caller, whose data is committed); messages_requeue_lost picks it up later.
        transaction.on_commit(lambda pk=message.pk: _queue_delivery(pk), robust=True)
    logger.info("%s %s queued as message %s for patient %s",
                "Call" if voice_call else "SMS", template, message.pk,
                patient.pk)
    return message


# Twilio's documented always-valid test sender: E.164 for the log when neither
# TWILIO_FROM_NUMBER nor CLINIC_PHONE is a usable number (a console-only setup).
FALLBACK_FROM_NUMBER = "+15005550006"


def clinic_sms_number() -> str:
    """The number our texts come from, in E.164 for the message log (CONTRACT.md):
    TWILIO_FROM_NUMBER, else (console backend) the clinic's own phone."""
    if settings.TWILIO_FROM_NUMBER:
        return settings.TWILIO_FROM_NUMBER
    try:
        return phone_to_e164(settings.CLINIC_PHONE)
    except InvalidPhoneNumber:
        return FALLBACK_FROM_NUMBER


def _queue_delivery(message_id: int) -> None:
    from messaging.tasks import message_deliver  # tasks import this module

    message_deliver.delay(message_id)


def message_deliver(*, message_id: int, final_attempt: bool = False) -> str:
    """Hand one queued message to the backend. Returns the message's new status.

    Raises TemporarySendError when the caller should retry later (the message is queued
    again), unless this is the final attempt: then the message fails for good.
    """
    now = timezone.now()
    claimed, allowed = _message_claim(message_id, now)
    if not claimed:
        # Another worker has it, or it is done: a re-delivered task must not send twice.
        logger.info("Message %s is no longer queued; not sending it again", message_id)
        return Message.objects.filter(pk=message_id).values_list("status", flat=True).first()
    if not allowed:
        logger.info("Message %s withdrawn by its sender's check; not sent", message_id)
        return Status.SUPPRESSED
    message = Message.objects.select_related("patient").get(pk=message_id)
    MessageStatusEvent.objects.create(message=message, status=Status.SENDING, at=now)

    patient = message.patient
    if patient is not None and (
        (patient.phone_invalid_at and message.channel != Message.Channel.VOICE)
        or patient.phone_wrong_at
        or (patient.sms_opted_out_at and message.kind != OPT_OUT_TEMPLATE)
    ):
        _message_fail(message, status=Status.SUPPRESSED, permanent=True,
                      error_code="", error_message="Patient opted out or number invalid or wrong")
        return Status.SUPPRESSED
    try:
        result = get_backend().send(message)
    except TemporarySendError as exc:
        return _message_send_failed_for_now(message, exc, final_attempt=final_attempt)
    except PermanentSendError as exc:
        logger.warning("Twilio refused message %s for patient %s: error %s", message.pk,
                       patient.pk if patient else None, exc.code)
        with transaction.atomic():
            _message_fail(message, status=Status.FAILED, error_code=exc.code,
                          error_message=str(exc), permanent=exc.code in PATIENT_ERRORS)
            _patient_apply_error(patient, exc.code)
        return Status.FAILED
    _message_handed_over(message, status=result.status, sid=result.sid)
    return result.status


def _message_claim(message_id: int, now: dt.datetime) -> tuple[bool, bool]:
    """queued -> sending, if the senders' checks allow it (else queued -> suppressed,
    announced as a failure). Returns (claimed, allowed); not claimed: no longer queued."""
    queued = Message.objects.filter(pk=message_id, direction=Message.Direction.OUT,
                                    status=Status.QUEUED)
    with transaction.atomic():
        message = queued.first()
        if message is None:
            return False, False
        # Asked on every attempt, retries included, before the claim: the check may lock
        # what it guards (an offer), so that cannot end between the check and the claim
        # (hooks.register_send_check).
        if hooks.message_may_be_sent(message):
            claimed = queued.update(status=Status.SENDING, attempts=F("attempts") + 1,
                                    updated_at=now)
            return bool(claimed), True
        claimed = queued.update(status=Status.SUPPRESSED, updated_at=now,
                                error_message="Not sent: no longer wanted when its turn came.")
        if claimed:
            MessageStatusEvent.objects.create(message=message, status=Status.SUPPRESSED, at=now)
            message.status = Status.SUPPRESSED
            _announce_failure(message, permanent=False, error_code="")
        return bool(claimed), False


def _message_send_failed_for_now(message: Message, exc: TemporarySendError, *,
                                 final_attempt: bool) -> str:
    """A temporary error: queued again for the caller's retry (the error is raised on),
    or, on the final attempt, failed for good."""
    if final_attempt:
        logger.warning("Message %s failed after %s attempts: %s", message.pk,
                       message.attempts, exc)
        _message_fail(message, status=Status.FAILED, permanent=False,
                      error_code=exc.code, error_message=f"Gave up: {exc}")
        return Status.FAILED
    with transaction.atomic():
        _move_from_sending(message, status=Status.QUEUED, error_code=exc.code,
                           error_message=str(exc))
    logger.info("Message %s will be retried: %s", message.pk, exc)
    raise exc


def _message_handed_over(message: Message, *, status: str, sid: str) -> None:
    """The backend accepted the message: record it and tell the channel's users."""
    handed_over_at = timezone.now()
    if message.channel == Message.Channel.VOICE:
        # A call placed is ringing, not heard: it is handed over (sent_at, the signal)
        # when a person answers it (messaging/voice.py voice_call_answered).
        with transaction.atomic():
            if _move_from_sending(message, status=status, twilio_sid=sid):
                message.twilio_sid = sid
                transaction.on_commit(partial(hooks.call_placed.send, sender=Message,
                                              message=message), robust=True)
        logger.info("Call %s placed (%s)", message.pk, status)
        return
    with transaction.atomic():
        # Not when a status callback got here first (it found the message by the id in
        # its URL and moved it on): its history must not go back to "accepted".
        _move_from_sending(message, status=status, twilio_sid=sid, sent_at=handed_over_at)
        # Users of the channel time things from here (an offer's hold starts now, not when
        # the offer was made: the text may have waited out a Twilio outage). Robust: the
        # text is out whatever a listener does, and the offer sweep catches a missed one.
        transaction.on_commit(partial(hooks.message_handed_over.send, sender=Message,
                                      message=message, at=handed_over_at), robust=True)
    logger.info("Message %s handed over (%s)", message.pk, status)


def _move_from_sending(message: Message, *, status: str, error_code: str = "",
                       error_message: str = "", still=None, **fields) -> bool:
    """The one way out of "sending": a conditional update (only while the row is still
    sending, and matches `still`), and the status event when it moved. Two workers, or a
    worker and a status callback, can never both move it. True if this call moved it."""
    changed = Message.objects.filter(pk=message.pk, status=Status.SENDING, **(still or {})
                                     ).update(status=status, error_code=error_code[:10],
                                              error_message=error_message[:255],
                                              updated_at=timezone.now(), **fields)
    if changed:
        MessageStatusEvent.objects.create(message=message, status=status,
                                          error_code=error_code[:10])
    return bool(changed)


def _message_fail(message: Message, *, status: str, permanent: bool, error_code: str,
                  error_message: str) -> None:
    """sending -> failed/suppressed, and tell the engine after commit."""
    with transaction.atomic():
        if not _move_from_sending(message, status=status, error_code=error_code,
                                  error_message=error_message):
            return
        message.status, message.error_code = status, error_code[:10]
        _announce_failure(message, permanent=permanent, error_code=error_code)


def _announce_failure(message: Message, *, permanent: bool, error_code: str) -> None:
    transaction.on_commit(partial(
        hooks.message_failed.send, sender=Message, message=message, permanent=permanent,
        error_code=error_code,
    ))


def _patient_apply_error(patient: Patient | None, error_code: str) -> None:
    if patient is None:
        return
    if error_code == ERROR_UNSUBSCRIBED:
        # Twilio already told the patient they are unsubscribed: no confirmation from us.
        patient_opt_out(patient=patient, reason="Twilio error 21610: recipient unsubscribed")
    elif error_code in ERRORS_INVALID_NUMBER:
        patient_flag_invalid_phone(patient=patient,
                                   reason=f"Twilio error {error_code}: invalid or not a mobile")
    elif error_code in ERRORS_NOT_TEXTABLE:
        # A landline (or a number no text reaches): it cannot be texted, but it can be
        # called. Staff see both on the patient page and in its audit trail.
        patient_flag_invalid_phone(
            patient=patient, reason=f"Twilio error {error_code}: the number cannot receive "
                                    "SMS (not a mobile number)")
        patient_set_offer_channel(
            patient=patient, offer_channel=Patient.OfferChannel.VOICE,
            reason=f"Offers by phone call: Twilio error {error_code}, the number cannot "
                   "receive SMS")


def messages_reconcile_stuck(*, older_than: dt.timedelta = STUCK_SENDING_AFTER) -> int:
    """Fail messages whose worker died mid-call (still "sending" after `older_than`).

    Twilio may or may not have them, so they are never resent: marked failed with error
    "unknown" and announced with message_failed, so the engine moves on. For the beat sweep.
    Returns how many were marked.
    """
    cutoff = timezone.now() - older_than
    marked = 0
    stuck_ids = list(Message.objects.filter(
        direction=Message.Direction.OUT, status=Status.SENDING, updated_at__lt=cutoff
    ).values_list("pk", flat=True))
    for message in Message.objects.filter(pk__in=stuck_ids):
        with transaction.atomic():
            if _move_from_sending(message, status=Status.FAILED, error_code="unknown",
                                  error_message="The sender stopped mid-call; not resent.",
                                  still={"updated_at__lt": cutoff}):
                message.status = Status.FAILED
                _announce_failure(message, permanent=False, error_code="unknown")
                marked += 1
    if marked:
        logger.warning("Marked %s message(s) stuck in sending as failed", marked)
    return marked


def messages_withdraw_unsent(*, subject, kind: str, reason: str) -> int:
    """Never send the still-queued messages of this kind about `subject` (an offer that has
    ended, e.g. its hold passed while Twilio was down: the patient would be offered
    something that is gone). Status "suppressed", with `reason`; returns how many."""
    unsent = Message.objects.filter(subject_type=ContentType.objects.get_for_model(subject),
                                    subject_id=subject.pk, kind=kind,
                                    direction=Message.Direction.OUT, status=Status.QUEUED)
    # Nearly always there are none (the text went out long ago): one plain read, no
    # savepoint. A message that turns queued after this read was being sent at the time,
    # which the locked read below could not have stopped either.
    if not unsent.exists():
        return 0
    with transaction.atomic():
        ids = list(unsent.select_for_update().values_list("pk", flat=True))
        Message.objects.filter(pk__in=ids).update(
            status=Status.SUPPRESSED, error_message=reason[:255],
            updated_at=timezone.now())
        MessageStatusEvent.objects.bulk_create(
            MessageStatusEvent(message_id=pk, status=Status.SUPPRESSED) for pk in ids)
    return len(ids)


# A queued message whose delivery task was never queued (broker down) or whose retry chain
# broke: older than the longest retry wait plus a margin, or never tried for a minute.
LOST_NEVER_TRIED_AFTER = dt.timedelta(minutes=1)
LOST_RETRY_AFTER = dt.timedelta(minutes=20)


def messages_requeue_lost() -> int:
    """Queue delivery again for outbound messages that sit in "queued" with no task to
    deliver them. Harmless if a task does exist: delivery claims the message first, so
    it is sent once. For the beat sweep; returns how many were queued again."""
    now = timezone.now()
    lost = Message.objects.filter(direction=Message.Direction.OUT, status=Status.QUEUED).filter(
        Q(attempts=0, updated_at__lt=now - LOST_NEVER_TRIED_AFTER)
        | Q(updated_at__lt=now - LOST_RETRY_AFTER)
    )
    ids = list(lost.values_list("pk", flat=True)[:1000])
    for message_id in ids:
        _queue_delivery(message_id)
    if ids:
        logger.warning("Queued %s lost message(s) for delivery again", len(ids))
    return len(ids)


# --- Delivery status ----------------------------------------------------------------


def message_status_record(*, sid: str, status: str, error_code: str = "",
                          message_id: int | None = None) -> Message | None:
    """A Twilio status callback: keep it in the history, move the status only forward.

    `message_id` comes from the callback URL: Twilio may call back before the worker has
    saved the SID (a fast "failed"), and then the message is found by its id and the SID
    is saved here. Returns the message, or None when it is not one of ours.
    """
    status = (status or "").strip().lower()
    error_code = (error_code or "").strip()[:10]
    new_status = TWILIO_STATUSES.get(status)
    with transaction.atomic():
        outbound = (Message.objects.select_for_update(of=("self",)).select_related("patient")
                    .filter(direction=Message.Direction.OUT))
        message = outbound.filter(twilio_sid=sid).first()
        if message is None and message_id is not None:
            # Only a message still without a SID: one with another SID is another send.
            message = outbound.filter(pk=message_id, twilio_sid__isnull=True).first()
            if message is not None:
                message.twilio_sid = sid
                fields = ["twilio_sid", "updated_at"]
                if message.status == Status.SENDING:
                    # Twilio has it, so it was handed over; the worker's own record of
                    # that (conditional on "sending") will find the status moved on.
                    message.sent_at = message.sent_at or timezone.now()
                    message.error_code = message.error_message = ""
                    fields += ["sent_at", "error_code", "error_message"]
                message.save(update_fields=fields)
        if message is None:
            logger.info("Status %r for an unknown message SID", status)
            return None
        MessageStatusEvent.objects.create(message=message, status=status[:12],
                                          error_code=error_code)
        if new_status is None or STATUS_RANK[new_status] <= STATUS_RANK[message.status]:
            return message
        message.status = new_status
        if error_code:
            message.error_code = error_code
        message.save(update_fields=["status", "error_code", "updated_at"])
        if new_status in (Status.UNDELIVERED, Status.FAILED):
            logger.info("Message %s %s (error %s)", message.pk, new_status, error_code or "-")
            _patient_apply_error(message.patient, error_code)
            _announce_failure(message, permanent=error_code in PATIENT_ERRORS,
                              error_code=error_code)
    return message


# --- Opt-out, opt-in, invalid numbers -------------------------------------------------


def patient_opt_out(*, patient: Patient, reason: str) -> bool:
    """Stop every SMS to the patient. True if this call opted them out (not already)."""
    with transaction.atomic():
        locked = Patient.objects.select_for_update().get(pk=patient.pk)
        if locked.sms_opted_out_at is not None:
            patient.sms_opted_out_at = locked.sms_opted_out_at
            return False
        locked.sms_opted_out_at = timezone.now()
        save_with_reason(locked, reason, update_fields=["sms_opted_out_at", "updated_at"])
        patient.sms_opted_out_at = locked.sms_opted_out_at
        transaction.on_commit(partial(hooks.patient_opted_out.send, sender=Patient,
                                      patient=locked))
    logger.info("Patient %s opted out of SMS", patient.pk)
    return True


def patient_opt_in(*, patient: Patient, reason: str) -> bool:
    """Texts again (START/UNSTOP). True if this call opted them back in."""
    with transaction.atomic():
        locked = Patient.objects.select_for_update().get(pk=patient.pk)
        if locked.sms_opted_out_at is None:
            return False
        locked.sms_opted_out_at = None
        save_with_reason(locked, reason, update_fields=["sms_opted_out_at", "updated_at"])
        patient.sms_opted_out_at = None
        transaction.on_commit(partial(hooks.patient_opted_in.send, sender=Patient,
                                      patient=locked), robust=True)
    logger.info("Patient %s opted back in to SMS", patient.pk)
    return True


def number_opt_out(*, phone: str) -> bool:
    """A STOP from a number that belongs to no patient: remember it (see OptedOutNumber).
    True if this call stored it (not already)."""
    _, created = OptedOutNumber.objects.get_or_create(phone=phone)
    if created:
        logger.info("Number %s, no patient's, opted out of SMS", mask_phone(phone))
    return created


def number_opt_in(*, phone: str) -> bool:
    """START/UNSTOP from a number that opted out while it belonged to no patient."""
    deleted, _ = OptedOutNumber.objects.filter(phone=phone).delete()
    if deleted:
        logger.info("Number %s opted back in to SMS", mask_phone(phone))
    return bool(deleted)


def _number_opted_out() -> Exists:
    """For annotating a Patient query: did their number text STOP before it was theirs?
    Read with the patient, so the busy paths pay no extra statement."""
    return Exists(OptedOutNumber.objects.filter(phone=OuterRef("phone")))


def _patient_take_number_opt_out(patient: Patient) -> None:
    """The patient's number texted STOP before it was theirs (the patient was created
    later, through the FHIR API or the portal): the opt-out becomes the patient's, so the
    front desk sees it and START works as for anyone."""
    with transaction.atomic():
        # Both steps are harmless to repeat, so two of these at once need no lock.
        patient_opt_out(patient=patient,
                        reason="Texted STOP from this number before being a patient")
        OptedOutNumber.objects.filter(phone=patient.phone).delete()


def patient_flag_invalid_phone(*, patient: Patient, reason: str) -> bool:
    with transaction.atomic():
        locked = Patient.objects.select_for_update().get(pk=patient.pk)
        if locked.phone_invalid_at is not None:
            return False
        locked.phone_invalid_at = timezone.now()
        save_with_reason(locked, reason, update_fields=["phone_invalid_at", "updated_at"])
        patient.phone_invalid_at = locked.phone_invalid_at
    logger.info("Patient %s: phone number flagged invalid", patient.pk)
    return True


def patient_flag_wrong_number(*, patient: Patient, reason: str) -> bool:
    """Someone at the patient's number says it is not the patient's: no more texts to it
    (message_send refuses, queued ones are suppressed), staff see it on the patient, and
    users of the channel hear it after commit (patient_wrong_number), so the offer engine
    ends the patient's live offer. Audited with `reason`. True if this call flagged it."""
    with transaction.atomic():
        locked = Patient.objects.select_for_update().get(pk=patient.pk)
        if locked.phone_wrong_at is not None:
            patient.phone_wrong_at = locked.phone_wrong_at
            return False
        locked.phone_wrong_at = timezone.now()
        save_with_reason(locked, reason, update_fields=["phone_wrong_at", "updated_at"])
        patient.phone_wrong_at = locked.phone_wrong_at
        transaction.on_commit(partial(hooks.patient_wrong_number.send, sender=Patient,
                                      patient=locked))
    logger.info("Patient %s: someone at their number says it is a wrong number", patient.pk)
    return True


# --- Inbound ----------------------------------------------------------------------


def inbound_handle(*, from_number: str, to_number: str, body: str, sid: str) -> str | None:
    """Everything an inbound SMS causes: log it (once per sid), understand it, act (opt
    out/in, help, a wrong number; every other reply goes to the registered reply handler,
    which knows the patient's state), and log the answer.
    Returns the reply text to send back (TwiML), or None for a duplicate sid. An empty
    string means "answer nothing" (an opted-out patient, a repeated STOP). Used by the
    Twilio webhook and by the portal's SMS simulator alike.
    """
    sender = _as_e164(from_number)
    with transaction.atomic():
        patient = (Patient.objects.filter(phone=sender)
                   .annotate(number_opted_out=_number_opted_out()).first())
        # The name we text them by: "I'm not Ana" is a wrong number.
        intent = understand(body, first_name=patient.first_name if patient else "")
        ours = _as_e164(to_number) if to_number else clinic_sms_number()
        inbound = Message(
            direction=Message.Direction.IN, from_number=sender[:20],
            to_number=ours[:20], body=body or "", kind=str(intent),
            twilio_sid=sid or None, status=Status.RECEIVED, patient=patient,
        )
        if not _insert_unless_known(inbound):
            logger.info("Inbound SMS %s already handled; ignoring the repeat", sid)
            return None
        logger.info("Inbound SMS %s from %s understood as %s", inbound.pk,
                    mask_phone(sender), intent)

        answer = _inbound_answer(patient=patient, intent=intent, inbound=inbound)
        if answer is None:
            return ""
        if answer.subject is not None and inbound.subject_id is None:
            inbound.subject = answer.subject
            inbound.save(update_fields=["subject_type", "subject_id", "updated_at"])
        language = patient.preferred_language if patient else "en"
        text = sms_render(template=answer.template, language=language,
                          context=answer.context)
        # The reply leaves in the webhook's TwiML answer; Twilio takes it from there.
        reply_status = Status.ACCEPTED if settings.SMS_BACKEND == "twilio" else Status.SENT
        Message.objects.create(
            direction=Message.Direction.OUT, from_number=ours[:20],
            to_number=sender[:20], body=text, kind=answer.template, status=reply_status,
            patient=patient, subject=answer.subject, sent_at=timezone.now(),
        )
    return text


def _insert_unless_known(message: Message) -> bool:
    """Insert `message` unless its twilio_sid is already logged; True if inserted.

    The unique SID decides: of two deliveries racing each other, one insert wins and the
    other waits for it, then inserts nothing. One statement, `INSERT ... ON CONFLICT DO
    NOTHING RETURNING id` (PostgreSQL, and SQLite since 3.35), instead of a savepoint
    around a plain insert (three round trips). Each field's own pre_save and database
    conversion give the values, so defaults and auto_now behave as in save();
    bulk_create(ignore_conflicts=True) would not return the new id.
    """
    using = router.db_for_write(Message)
    connection = connections[using]
    fields = [f for f in Message._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(message, add=True), connection) for f in fields]
    quote = connection.ops.quote_name
    # Only the model's own table and column names go into the text; values are parameters.
    sql = "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING RETURNING {}".format(  # noqa: S608
        quote(Message._meta.db_table), ", ".join(quote(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)), quote(Message._meta.pk.column))
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    message.pk = row[0]
    message._state.adding = False
    message._state.db = using
    return True


def _inbound_answer(*, patient: Patient | None, intent: Intent,
                    inbound: Message) -> hooks.ReplyAnswer | None:
    if patient is None:
        return _unknown_number_answer(phone=inbound.from_number, intent=intent)
    if patient.number_opted_out and patient.sms_opted_out_at is None:
        _patient_take_number_opt_out(patient)
    if intent == Intent.OPT_OUT:
        # One confirmation; a repeated STOP gets silence.
        opted_out = patient_opt_out(patient=patient, reason="Patient texted STOP")
        return hooks.ReplyAnswer(OPT_OUT_TEMPLATE) if opted_out else None
    if intent == Intent.OPT_IN:
        opted_in = patient_opt_in(patient=patient, reason="Patient texted START")
        return hooks.ReplyAnswer("opt_in" if opted_in else "help")
    if intent == Intent.WRONG_NUMBER:
        # Never a yes or a no: the person at this number is not the patient. Told once.
        flagged = patient_flag_wrong_number(
            patient=patient, reason="Wrong number: the person at this phone says it is not "
                                    "the patient's")
        return hooks.ReplyAnswer(WRONG_NUMBER_TEMPLATE) if flagged and not (
            patient.sms_opted_out_at) else None
    if intent == Intent.HELP and patient.sms_opted_out_at is not None:
        # Carriers expect HELP answered always, opted out or not.
        return hooks.ReplyAnswer("help_opted_out")
    if patient.sms_opted_out_at is not None:
        return None  # nothing else of any kind until START
    if patient.phone_wrong_at is not None:
        # Whoever texts from a number reported wrong is not known to be the patient.
        return hooks.ReplyAnswer("unknown_number")
    if intent == Intent.HELP:
        return hooks.ReplyAnswer("help")
    handler = hooks.get_reply_handler()
    if handler is None or intent not in hooks.HANDED_OVER:
        # Nobody to ask about the patient's state: assume no offer, never a live one.
        template = "nothing_to_answer" if intent in (Intent.YES, Intent.NO) else "unclear_reply"
        return hooks.ReplyAnswer(template, {"state": "none"})
    return handler(patient=patient, intent=str(intent), message=inbound)


def _unknown_number_answer(*, phone: str, intent: Intent) -> hooks.ReplyAnswer | None:
    """A number that belongs to no patient: its STOP is stored for whoever gets the
    number later and confirmed once; after it, silence until START."""
    if intent == Intent.OPT_OUT:
        return hooks.ReplyAnswer(OPT_OUT_TEMPLATE) if number_opt_out(phone=phone) else None
    if intent == Intent.OPT_IN:
        return hooks.ReplyAnswer("opt_in" if number_opt_in(phone=phone) else "unknown_number")
    if OptedOutNumber.objects.filter(phone=phone).exists():
        return None
    if intent == Intent.WRONG_NUMBER:
        return hooks.ReplyAnswer(WRONG_NUMBER_TEMPLATE)  # and it is no patient's: nothing to stop
    return hooks.ReplyAnswer("unknown_number")


def _as_e164(number: str) -> str:
    try:
        return phone_to_e164(number)
    except InvalidPhoneNumber:
        return (number or "").strip()
