"""What the SMS channel hands the offer engine: a patient's reply (yes, no, a question,
thanks, ...), and the news that an offer's message left for the patient, failed, or that
a patient opted out or is not at their number. Connected in OffersConfig.ready().

Every answer fits the patient's actual state (templates/sms/<lang>/_state.txt): only a
patient holding an offer they can still take is asked to reply YES; one who is booked
hears their booking; one whose offer ended hears that it did, and "you stay on our
waitlist" only while they are on it. Only YES and NO (and a NO asking for another time)
change anything; every other reply is answered from a plain read, without locks.
"""

import datetime as dt
import logging
import math
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from messaging.hooks import ReplyAnswer
from offers import services, voice
from offers.messages import OFFER_KIND, offer_id_of
from offers.models import Offer, Slot
from offers.rules import local_start
from offers.selectors import patient_offer_to_answer
from offers.services import Outcome, ReplyResult
from waitlist import checkins
from waitlist.models import WaitlistEntry

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
    Outcome.AWAITING_APPROVAL: "booking_pending",
    Outcome.NEXT_IN_LINE: "next_in_line",
}
# Replies that change nothing, and their answer. THANKS is answered only while an offer
# is live (it may have meant yes: the answer asks); otherwise it needs no reply.
ANSWERS = {
    "conditional": "offer_confirm",
    "ask_when": "offer_details",
    "ask_who": "who_we_are",
    "ask_other": "call_us",
    "thanks": "thanks_reply",
    "other_language": "other_language",
    "unclear": "unclear_reply",
}
# Longer addresses are left out of "who is this?": the clinic's phone is in it anyway,
# and the answer must stay within two segments.
ADDRESS_MAX = 60


@dataclass(frozen=True)
class Standing:
    """Where a patient stands with us, for an answer: `state` is live (an offer they can
    still take), booked (an upcoming slot is theirs), closed (our last offer to them
    ended and its slot is still ahead) or none."""

    state: str  # or pending: their YES awaits the clinic's approval (offers/approval.py)
    offer: Offer | None = None
    on_waitlist: bool = False
    minutes_left: int = 0

    def context(self) -> dict:
        context = {"state": self.state, "on_waitlist": self.on_waitlist}
        if self.offer is not None and self.state != "none":
            context.update(start=local_start(self.offer.slot),
                           provider=self.offer.slot.provider.name,
                           minutes_left=self.minutes_left)
        return context


def _holds_slot(offer: Offer) -> bool:
    """Their YES took the slot, or staff booked their entry into it by phone."""
    slot = offer.slot
    return offer.status == Offer.Status.ACCEPTED or (
        slot.status == Slot.Status.FILLED and slot.filled_entry_id == offer.entry_id)


def _minutes_left(offer: Offer, now: dt.datetime) -> int:
    if offer.hold_until is None:  # the text is on its way: its hold has not started
        return math.ceil(settings.OFFER_HOLD_SECONDS / 60)
    return max(1, math.ceil((offer.hold_until - now).total_seconds() / 60))


def patient_standing(*, patient, offer: Offer | None, now: dt.datetime | None = None) -> Standing:
    """`offer` is the one the patient's reply is about (patient_offer_to_answer)."""
    now = now or timezone.now()
    if offer is None:
        on_waitlist = WaitlistEntry.objects.filter(
            patient_id=patient.pk, status=WaitlistEntry.Status.ACTIVE).exists()
        return Standing("none", on_waitlist=on_waitlist)
    on_waitlist = offer.entry.status == WaitlistEntry.Status.ACTIVE
    slot = offer.slot
    if slot.start <= now:
        return Standing("none", offer, on_waitlist)
    if (offer.is_live and slot.status == Slot.Status.OFFERING
            and (offer.hold_until is None or now < offer.hold_until)):
        return Standing("live", offer, on_waitlist, _minutes_left(offer, now))
    if offer.status == Offer.Status.RESERVED:
        return Standing("pending", offer, on_waitlist)
    if _holds_slot(offer):
        return Standing("booked", offer, on_waitlist)
    if offer.status == Offer.Status.FAILED:
        return Standing("none", offer, on_waitlist)  # the patient never had the text
    return Standing("closed", offer, on_waitlist)


def _address(offer: Offer | None) -> str:
    if offer is None:
        return ""
    location = offer.slot.location or offer.slot.provider.location
    address = location.address if location is not None else ""
    return address if len(address) <= ADDRESS_MAX else ""


def handle_reply(*, patient, intent: str, message=None) -> ReplyAnswer | None:
    """messaging's reply handler: act on a YES or NO, answer everything else from the
    patient's state, and say which template answers, with what.

    Every reply is about the offer whose text the patient had when it arrived
    (patient_offer_to_answer at the inbound message's time): a YES, a NO and a question
    alike, so an offer still waiting to leave is never acted on nor described."""
    received_at = message.created_at if message is not None else None
    asked_at = None
    if intent in ("yes", "no", "reschedule"):
        # One indexed look: is a waitlist check-in waiting for this patient's answer?
        asked_at = checkins.latest_open_check_in_at(patient_id=patient.pk)
        if asked_at is not None:
            check_in_answer = _check_in_answer(patient=patient, intent=intent,
                                               at=received_at, asked_at=asked_at)
            if check_in_answer is not None:
                return check_in_answer
    if intent == "yes":
        result = services.offer_claim(patient=patient, at=received_at)
        _offer_reply_answers_check_in(patient=patient, result=result, at=received_at,
                                      asked_at=asked_at)
        return _outcome_answer(result, patient=patient)
    if intent in ("no", "reschedule"):
        result = services.offer_decline(patient=patient, at=received_at)
        _offer_reply_answers_check_in(patient=patient, result=result, at=received_at,
                                      asked_at=asked_at)
        later = intent == "reschedule" and result.outcome == Outcome.DECLINED
        return _outcome_answer(result, patient=patient,
                               template="declined_later" if later else None)
    offer = patient_offer_to_answer(patient_id=patient.pk, at=received_at)
    standing = patient_standing(patient=patient, offer=offer)
    if intent == "thanks" and standing.state != "live":
        return None
    context = standing.context()
    if intent == "ask_who":
        context["address"] = _address(offer)
    return ReplyAnswer(template=ANSWERS.get(intent, "unclear_reply"), context=context,
                       subject=offer)


def _check_in_answer(*, patient, intent: str, at, asked_at) -> ReplyAnswer | None:
    """A YES or NO is about the waitlist check-in (waitlist/checkins.py) only when the
    patient holds no offer they could still take (live, or their YES awaiting approval)
    and the check-in is the newer of the two texts they had: a live offer always wins,
    and a late NO to an offer that just ended never takes anyone off the list
    (docs/how-offers-work.md, "Check-ins and offers"). YES (and "no, another time") keeps
    them; NO takes them off. `asked_at`: when the open check-in was texted."""
    offer = patient_offer_to_answer(patient_id=patient.pk, at=at)
    if offer is not None:
        if offer.is_live or offer.status == Offer.Status.RESERVED:
            return None
        if (offer.sent_at or offer.created_at) >= asked_at:
            return None
    stay = intent != "no"
    settled = checkins.checkins_answer(patient_id=patient.pk, stay=stay, at=at)
    if not settled:  # another reply settled it a moment ago: answer as the offers would
        return None
    return ReplyAnswer(template="check_in_kept" if stay else "check_in_left",
                       subject=settled[0])


def _offer_reply_answers_check_in(*, patient, result: ReplyResult, at, asked_at) -> None:
    """A patient who answered an offer while a check-in was open has shown they still
    want one: a booked entry's check-in closes; the others stay, their clock restarted
    (a NO to an offer is answered "you stay on our waitlist", and so they do)."""
    if asked_at is not None and result.outcome != Outcome.NOTHING:
        checkins.checkins_answer(patient_id=patient.pk, stay=True, at=at)


def _outcome_answer(result: ReplyResult, *, patient, template: str | None = None) -> ReplyAnswer:
    offer = result.offer
    context = {}
    if result.outcome in (Outcome.BOOKED, Outcome.ALREADY_BOOKED):
        # The slot this offer booked: the day, time and provider the patient was offered.
        context = services.offer_text_context(entry=offer.entry, slot=offer.slot)
    elif result.outcome in (Outcome.GONE, Outcome.OFF_WAITLIST, Outcome.EXPIRED,
                            Outcome.AWAITING_APPROVAL, Outcome.NEXT_IN_LINE):
        context = {"start": local_start(offer.slot)}
    elif result.outcome == Outcome.NOTHING:
        # No offer this reply could change: say what is true instead (booked, ended, or
        # nothing open; "you stay on our waitlist" only while they are on it).
        context = patient_standing(patient=patient, offer=offer).context()
    return ReplyAnswer(template=template or TEMPLATES[result.outcome], context=context,
                       subject=offer)


def on_message_handed_over(sender, *, message, at=None, **kwargs) -> None:
    """An offer's text left for the patient: its hold starts now, not when it was made.
    If the offer ended while the text was in flight, the patient is told now."""
    offer_id = offer_id_of(message)
    if offer_id and message.kind == OFFER_KIND and message.channel == "voice":
        # A person answered the offer's call: its hold runs from now (offers/voice.py).
        voice.offer_call_answered(offer_id=offer_id, at=at or timezone.now())
    elif offer_id and message.kind == OFFER_KIND:
        if not services.offer_start_hold(offer_id=offer_id, at=at):
            services.offer_text_left_after_end(offer_id=offer_id)


def may_send(*, message) -> bool:
    """messaging's send check: an offer's text leaves (first try or retry) only while its
    offer is live and texting hours are open; other messages always may."""
    offer_id = offer_id_of(message)
    if offer_id and message.kind == OFFER_KIND:
        return services.offer_text_may_leave(offer_id=offer_id)
    return True


def on_message_failed(sender, *, message, permanent=True, error_code="", **kwargs) -> None:
    """An offer whose SMS will never arrive fails, so its slot moves on at once."""
    offer_id = offer_id_of(message)
    if offer_id and message.kind == OFFER_KIND and message.channel == "voice" and (
            message.status != "suppressed"):
        # The call was not answered by the patient (busy, no answer, failed, a machine).
        voice.offer_call_unanswered(offer_id=offer_id,
                                    reason=voice.call_ended_reason(error_code=error_code),
                                    heard=error_code == "machine")
        return
    if offer_id and message.kind == OFFER_KIND:
        if message.status == "suppressed" and not permanent:
            # Withdrawn by our send check (may_send) when its turn came.
            reason = ("Offer text not sent: texting hours had ended, or the slot was too "
                      "close to its start, when its turn came")
        elif message.status == "suppressed":
            reason = f"Offer text not sent: {message.error_message or 'patient not textable'}"
        else:
            reason = f"Offer SMS not delivered ({error_code or 'no code'})"
        services.offer_fail(offer_id=offer_id, reason=reason)


def on_patient_opted_out(sender, *, patient, **kwargs) -> None:
    services.patient_offers_release(patient_id=patient.pk, reason="Patient opted out of SMS")


def on_patient_opted_in(sender, *, patient, **kwargs) -> None:
    """Texts again (START, or staff corrected a number reported wrong or invalid): the
    slots waiting for, or closed for want of, a patient who fits are looked at for them."""
    services.slots_offer_for_patients(patient_ids=[patient.pk], reopen=True)


def on_patient_wrong_number(sender, *, patient, **kwargs) -> None:
    """The offer reached someone else: it fails (never a booking), and its slot moves on
    to the next patients at once instead of waiting out the hold."""
    live = Offer.objects.filter(patient_id=patient.pk, status__in=Offer.LIVE_STATUSES)
    for offer_id in list(live.values_list("pk", flat=True)):
        services.offer_fail(offer_id=offer_id, reason="Wrong number: the text reached someone else")
