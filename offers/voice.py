"""Offers by phone call: what the offer engine says on messaging's voice channel
(messaging/voice.py), and what a call's answer, key or failure does to the offer.

The call says what the offer text says, no more (no diagnosis, specialty or reason for
the visit): the first name, the day and time, the provider, the minutes held. 1 or "yes"
claims through the same offer_claim as an SMS YES, 2 or "no" declines through the same
offer_decline, so the race-free claim and its truthful answers are the texts' own. The
hold runs from when a person answers (offer_call_answered). An answering machine gets a
voicemail without the offer's details and the offer counts as not answered; a busy line,
no answer or a failed call end the offer's attempt (offer_call_unanswered).

Patients whose channel is "sms, then voice" get the text first; when its hold passes
unanswered and there is still time, offer_expire calls instead of expiring
(offer_call_after_text), and the hold starts again when the call is answered.
"""

import datetime as dt
import logging

from django.db import transaction

from clinic.audit import save_with_reason
from clinic.models import Patient
from messaging.hooks import CallScript
from messaging.models import Message
from messaging.services import message_send
from offers import locks
from offers.engine import (
    _queue_next_batch,
    _resolve,
    _too_late_to_offer,
    hold_seconds_for,
    offer_text_context,
)
from offers.holds import schedule_hold_expiry
from offers.messages import OFFER_KIND, messages_about, offer_id_of
from offers.models import Offer, Slot
from offers.selectors import slot_booking_pending, sms_hours_open

log = logging.getLogger(__name__)


def handle_call(*, call: Message, intent: str | None, message: Message | None = None
                ) -> CallScript:
    """messaging's call handler. `intent` None: the call was answered (or nothing was
    heard, and it is said once more): say the offer while the patient can still take it,
    else the truth about it. "yes"/"no": claim or decline, and say what that came to."""
    from offers import replies  # replies imports the engine's services, as this does
    from offers.services import offer_claim, offer_decline

    patient = call.patient
    if intent == "yes":
        return _script(replies._outcome_answer(
            offer_claim(patient=patient, at=message.created_at if message else None),
            patient=patient))
    if intent == "no":
        return _script(replies._outcome_answer(
            offer_decline(patient=patient, at=message.created_at if message else None),
            patient=patient))
    offer_id = offer_id_of(call)
    offer = (Offer.objects.select_related("slot__provider", "entry", "patient")
             .filter(pk=offer_id).first() if offer_id else None)
    standing = replies.patient_standing(patient=patient, offer=offer)
    if standing.state == "live":
        return CallScript(OFFER_KIND, {**offer_text_context(entry=offer.entry, slot=offer.slot),
                                       "hold_minutes": standing.minutes_left},
                          listen=True, subject=offer)
    if standing.state == "closed":
        filled = offer.slot.status == Slot.Status.FILLED
        template = ("offer_expired" if offer.status == Offer.Status.EXPIRED
                    else "already_filled" if filled else "offer_closed")
        return CallScript(template, {"start": offer.slot.start}, subject=offer)
    return CallScript("nothing_to_answer", standing.context(), subject=offer)


def _script(answer) -> CallScript:
    return CallScript(answer.template, answer.context, subject=answer.subject)


def offer_call_answered(*, offer_id: int, at: dt.datetime) -> bool:
    """A person answered the offer's call at `at`: the hold runs from now (an offer
    waiting for its call starts it; one whose text went unanswered starts it again).
    True if the hold (re)started; an offer that ended meanwhile is left as it is, and the
    call says so."""
    with transaction.atomic():
        locked = locks.lock_offer(offer_id)
        if locked is None:
            return False
        slot, offer = locked
        if not offer.is_live:
            return False
        first = offer.status == Offer.Status.PENDING
        offer.status = Offer.Status.SENT
        offer.sent_at = offer.sent_at or at
        offer.hold_until = at + dt.timedelta(seconds=hold_seconds_for(slot=slot, at=at))
        save_with_reason(offer, "Offer call answered; hold started" if first
                         else "Offer call answered after the text; hold started again")
        schedule_hold_expiry(offer)
        return True


def offer_call_unanswered(*, offer_id: int, reason: str, heard: bool = False) -> bool:
    """The offer's call ended without an answer from the patient (busy, no answer,
    failed, an answering machine): the offer ends and its slot moves on. Expired when
    the patient may have had it (a voicemail, or the text before the call), else failed
    (they never heard it). True if this call ended it."""
    with transaction.atomic():
        locked = locks.lock_offer(offer_id)
        if locked is None:
            return False
        slot, offer = locked
        if not offer.is_live:
            return False
        if offer.status == Offer.Status.SENT and not _text_reached(offer):
            # A call the patient answered (the hold runs): its hang-up ends nothing.
            return False
        texted = _text_reached(offer)
        status = Offer.Status.EXPIRED if heard or texted else Offer.Status.FAILED
        _resolve(offer, status, reason)
        _queue_next_batch(slot)
        return True


def _text_reached(offer: Offer) -> bool:
    return messages_about(offer.pk).filter(
        direction=Message.Direction.OUT, kind=OFFER_KIND, channel=Message.Channel.SMS,
        sent_at__isnull=False).exists()


def offer_call_after_text(*, slot: Slot, offer: Offer, now: dt.datetime) -> bool:
    """offer_expire's question, under the locks, for a patient whose channel is "sms,
    then voice": the text's hold passed unanswered; call them now instead, if texting
    hours are open, the slot is far enough ahead and no call was made for this offer.
    The offer stays live (held while the call rings) and its hold restarts when the call
    is answered. True if the call was placed."""
    patient = Patient.objects.get(pk=offer.patient_id)
    if (patient.offer_channel != Patient.OfferChannel.SMS_THEN_VOICE
            or not sms_hours_open(now, slot=slot) or _too_late_to_offer(slot, now)
            or slot_booking_pending(slot=slot)):
        return False
    called = messages_about(offer.pk).filter(direction=Message.Direction.OUT, kind=OFFER_KIND,
                                            channel=Message.Channel.VOICE).exists()
    if called:
        return False
    hold = hold_seconds_for(slot=slot, at=now)
    entry = offer.entry
    message = message_send(patient=patient, template=OFFER_KIND,
                           context={**offer_text_context(entry=entry, slot=slot),
                                    "hold_minutes": max(1, hold // 60)},
                           subject=offer, channel=Message.Channel.VOICE)
    if message is None:
        return False
    # Held while the call rings; answered, the hold starts again from then.
    offer.hold_until = now + dt.timedelta(seconds=hold)
    save_with_reason(offer, "Text unanswered: calling the patient")
    schedule_hold_expiry(offer)
    log.info("offer %s: text unanswered, calling", offer.pk)
    return True


def call_ended_reason(*, error_code: str) -> str:
    return {"machine": "Offer call reached an answering machine: voicemail left, not answered",
            "busy": "Offer call: the line was busy",
            "no-answer": "Offer call: nobody answered"}.get(
        error_code, f"Offer call failed ({error_code or 'no code'})")
