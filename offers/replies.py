"""What the SMS channel hands the offer engine: a patient's YES or NO, and the news that
an offer's message left for the patient, failed, or a patient opted out. Connected in
OffersConfig.ready()."""

import logging

from messaging.hooks import ReplyAnswer
from offers import services
from offers.services import Outcome

log = logging.getLogger(__name__)

TEMPLATES = {
    Outcome.BOOKED: "confirmation",
    Outcome.ALREADY_BOOKED: "confirmation",
    Outcome.FILLED: "already_filled",
    Outcome.GONE: "offer_closed",
    Outcome.OFF_WAITLIST: "offer_closed_off_waitlist",
    Outcome.EXPIRED: "offer_expired",
    Outcome.DECLINED: "declined",
    Outcome.NOTHING: "nothing_to_answer",
}


def handle_reply(*, patient, intent: str, message=None) -> ReplyAnswer:
    """messaging's reply handler: act on a YES/NO and say which template answers it."""
    # The reply is about the offer whose text the patient had when it arrived.
    received_at = message.created_at if message is not None else None
    if intent == "yes":
        result = services.offer_claim(patient=patient, at=received_at)
    elif intent == "no":
        result = services.offer_decline(patient=patient, at=received_at)
    else:
        return ReplyAnswer(template="unclear_reply")
    offer = result.offer
    context = {}
    if result.outcome in (Outcome.BOOKED, Outcome.ALREADY_BOOKED):
        # The slot this offer booked: the day, time and provider the patient was offered.
        context = services.offer_text_context(entry=offer.entry, slot=offer.slot)
    elif result.outcome in (Outcome.GONE, Outcome.OFF_WAITLIST, Outcome.EXPIRED):
        context = {"start": offer.slot.start}
    return ReplyAnswer(template=TEMPLATES[result.outcome], context=context,
                       offer_id=offer.pk if offer is not None else None)


def on_message_handed_over(sender, *, message, at=None, **kwargs) -> None:
    """An offer's text left for the patient: its hold starts now, not when it was made.
    If the offer ended while the text was in flight, the patient is told now."""
    if message.offer_id and message.kind == "offer":
        if not services.offer_start_hold(offer_id=message.offer_id, at=at):
            services.offer_text_left_after_end(offer_id=message.offer_id)


def may_send(*, message) -> bool:
    """messaging's send check: an offer's text leaves (first try or retry) only while its
    offer is live and texting hours are open; other messages always may."""
    if message.offer_id and message.kind == "offer":
        return services.offer_text_may_leave(offer_id=message.offer_id)
    return True


def on_message_failed(sender, *, message, permanent=True, error_code="", **kwargs) -> None:
    """An offer whose SMS will never arrive fails, so its slot moves on at once."""
    if message.offer_id and message.kind == "offer":
        if message.status == "suppressed":
            reason = ("Offer text not sent: texting hours had ended, or the slot was too "
                      "close to its start, when its turn came")
        else:
            reason = f"Offer SMS not delivered ({error_code or 'no code'})"
        services.offer_fail(offer_id=message.offer_id, reason=reason)


def on_patient_opted_out(sender, *, patient, **kwargs) -> None:
    services.patient_offers_release(patient_id=patient.pk, reason="Patient opted out of SMS")


def on_patient_opted_in(sender, *, patient, **kwargs) -> None:
    """Texts again (START): the slots waiting for, or closed for want of, a patient who
    fits are looked at for them."""
    services.slots_offer_for_patients(patient_ids=[patient.pk], reopen=True)
