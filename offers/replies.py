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
    if intent == "yes":
        result = services.offer_claim(patient=patient)
    elif intent == "no":
        result = services.offer_decline(patient=patient)
    else:
        return ReplyAnswer(template="unclear_reply")
    offer = result.offer
    context = {}
    if result.outcome in (Outcome.BOOKED, Outcome.ALREADY_BOOKED):
        context = {"first_name": patient.first_name, "start": offer.slot.start,
                   "provider": offer.slot.provider.name}
    elif result.outcome in (Outcome.GONE, Outcome.OFF_WAITLIST):
        context = {"start": offer.slot.start}
    return ReplyAnswer(template=TEMPLATES[result.outcome], context=context,
                       offer_id=offer.pk if offer is not None else None)


def on_message_handed_over(sender, *, message, at=None, **kwargs) -> None:
    """An offer's text left for the patient: its hold starts now, not when it was made."""
    if message.offer_id and message.kind == "offer":
        services.offer_start_hold(offer_id=message.offer_id, at=at)


def on_message_failed(sender, *, message, permanent=True, error_code="", **kwargs) -> None:
    """An offer whose SMS will never arrive fails, so its slot moves on at once."""
    if message.offer_id and message.kind == "offer":
        services.offer_fail(offer_id=message.offer_id,
                            reason=f"Offer SMS not delivered ({error_code or 'no code'})")


def on_patient_opted_out(sender, *, patient, **kwargs) -> None:
    services.patient_offers_release(patient_id=patient.pk, reason="Patient opted out of SMS")
