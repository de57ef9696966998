"""An offer's text and its hold: the hold starts when the text is handed to the SMS
provider (offer_start_hold) and ends by expiry (offer_expire, at the hold's end or by the
beat sweep); an offer whose text never leaves is given up (offers_give_up_unsent) or
fails (offer_fail), so its slot moves on to the next batch. Slot lock first, as
everywhere (offers/locks.py).
"""

import datetime as dt
import math

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from clinic.audit import save_with_reason
from messaging.models import Message
from messaging.selectors import messages_handed_over, messages_leaving
from messaging.services import message_send
from offers import locks
from offers.engine import (
    _ended_template,
    _queue_next_batch,
    _resolve,
    _tasks,
    _too_late_to_offer,
    hold_seconds_for,
)
from offers.messages import OFFER_ENDED_KINDS, messages_about, offer_texts
from offers.models import Offer
from offers.selectors import slot_booking_pending, sms_hours_open

# An offer whose text has not been handed to the SMS provider this long after it was
# made is given up: messaging's retries (30 s doubling to 8 min, 15.5 min in all) are
# over by then, and messaging treats a message untouched for as long as lost
# (messaging.services.LOST_RETRY_AFTER, also 20 minutes).
OFFER_UNSENT_GIVE_UP_AFTER = dt.timedelta(minutes=20)


def offer_fail(*, offer_id: int, reason: str) -> bool:
    """The offer's SMS will never arrive: the offer fails and the slot moves on."""
    with transaction.atomic():
        locked = locks.lock_offer(offer_id)
        if locked is None:
            return False
        slot, offer = locked
        if not offer.is_live:
            return False
        _resolve(offer, Offer.Status.FAILED, reason)
        _queue_next_batch(slot)
        return True


def offer_text_may_leave(*, offer_id: int) -> bool:
    """messaging asks this (a registered send check) in the transaction that claims an
    offer's text for sending, first attempt or retry: only while the offer is live,
    within texting hours, and the slot far enough ahead. The offer's row lock makes an
    offer ending at this moment wait for the claim, or the claim for the ending: a text
    never starts out after its offer ended."""
    # The slot with what its clinic rule is looked up by (offers/rules.py rule_for):
    # joined here, not read one query each. Only the offer's row is locked.
    offer = (Offer.objects.select_for_update(of=("self",))
             .select_related("slot__provider__location", "slot__appointment_type",
                             "slot__location")
             .filter(pk=offer_id).first())
    now = timezone.now()
    return (offer is not None and offer.is_live and sms_hours_open(now, slot=offer.slot)
            and not _too_late_to_offer(offer.slot, now))


def offer_text_left_after_end(*, offer_id: int) -> bool:
    """The offer's text was handed over after the offer ended (it was in flight, past
    withdrawing, when the slot closed): the patient now has an offer that is gone, so
    they are told, after it, that it is no longer available. True if told."""
    with transaction.atomic():
        locked = locks.lock_offer(offer_id)
        if locked is None:
            return False
        slot, offer = locked
        if offer.status != Offer.Status.SUPERSEDED:
            return False
        told = messages_about(offer.pk).filter(
            direction=Message.Direction.OUT, kind__in=OFFER_ENDED_KINDS).exists()
        if told:
            return False
        offer = Offer.objects.select_related("entry", "patient").get(pk=offer.pk)
        message_send(patient=offer.patient, template=_ended_template(offer, slot),
                     context={"start": slot.start}, subject=offer)
        return True


def offer_start_hold(*, offer_id: int, at: dt.datetime | None = None) -> bool:
    """The offer's text was handed to the SMS provider at `at` (default now): the offer
    is sent, its hold runs from then (hold_seconds_for), and its expiry is scheduled.

    True if this call started the hold. An offer no longer waiting to send (it ended
    meanwhile, or its hold already started) is left as it is: a late or repeated
    hand-over never revives an offer."""
    with transaction.atomic():
        locked = locks.lock_offer(offer_id)
        if locked is None:
            return False
        slot, offer = locked
        if offer.status != Offer.Status.PENDING:
            return False
        at = at or timezone.now()
        offer.status = Offer.Status.SENT
        offer.sent_at = at
        offer.hold_until = at + dt.timedelta(seconds=hold_seconds_for(slot=slot, at=at))
        save_with_reason(offer, "Offer text handed to the SMS provider; hold started")
        schedule_hold_expiry(offer)
        return True


def schedule_hold_expiry(offer: Offer) -> None:
    """The hold's own expiry, queued for when the transaction commits; the beat sweep
    catches it if this task is lost. Used by every start of a hold (a text handed over
    here, a call answered in offers/voice.py)."""
    countdown = math.ceil(max((offer.hold_until - timezone.now()).total_seconds(), 0))
    _tasks().offer_expire_at_hold_end.apply_async_on_commit((offer.pk,), countdown=countdown)


def offer_give_up_unsent(*, offer_id: int, at: dt.datetime | None = None,
                         skip_locked: bool = False) -> bool:
    """Fail an offer whose text never left (see _offers_unsent_due), so its slot moves on
    to the next batch; True if this call failed it. Checked again under the locks: a
    text handed over meanwhile keeps its offer."""
    at = at or timezone.now()
    with transaction.atomic():
        locked = locks.lock_offer(offer_id, skip_locked=skip_locked)
        if locked is None:
            return False
        slot, offer = locked
        if offer.status != Offer.Status.PENDING:
            return False
        if not _offers_unsent_due(at).filter(pk=offer_id).exists():
            return False
        if _too_late_to_offer(slot, at):
            reason = "The offer text had not gone out when the slot came too close to start"
        else:
            minutes = int(OFFER_UNSENT_GIVE_UP_AFTER.total_seconds() // 60)
            reason = f"The offer text had not gone out {minutes} minutes after the offer"
        _resolve(offer, Offer.Status.FAILED, reason)
        _queue_next_batch(slot)
        return True


def _offer_texts() -> QuerySet:
    """The offer text(s) of the offer in the outer query."""
    return offer_texts(OuterRef("pk"))


def _offers_unsent_due(at: dt.datetime) -> QuerySet:
    """Offers still waiting to send that should be given up at `at`: their slot is too
    close to start to be offered by SMS, or their text has been stuck too long. Not while
    the text is being handed over (it may yet arrive; a worker that died mid-call is
    settled by messaging's messages_reconcile_stuck, which fails the message and so the
    offer), nor once it was (offers_start_missed_holds starts that hold)."""
    lead = dt.timedelta(minutes=settings.OFFER_MIN_LEAD_MINUTES)
    leaving = messages_leaving(_offer_texts())
    return Offer.objects.filter(
        Q(slot__start__lt=at + lead) | Q(created_at__lte=at - OFFER_UNSENT_GIVE_UP_AFTER),
        status=Offer.Status.PENDING,
    ).filter(~Exists(leaving))


def offers_start_missed_holds() -> int:
    """The beat sweep: offers whose text was handed over but still wait to send (the
    hand-over's handler failed, e.g. on a busy database) start their hold from the
    hand-over, so the patient gets exactly the hold the text promised. Returns how many."""
    handed_over_at = messages_handed_over(_offer_texts()).order_by("sent_at")
    due = (Offer.objects.filter(status=Offer.Status.PENDING)
           .annotate(handed_over_at=Subquery(handed_over_at.values("sent_at")[:1]))
           .filter(handed_over_at__isnull=False)
           .values_list("pk", "handed_over_at")[:1000])
    return sum(offer_start_hold(offer_id=offer_id, at=at) for offer_id, at in list(due))


def offers_give_up_unsent() -> int:
    """The beat sweep: fail the offers whose text never left (_offers_unsent_due); returns
    how many. Like offers_expire_due, it skips slots another worker is busy with."""
    now = timezone.now()
    due = _offers_unsent_due(now).order_by("created_at").values_list("pk", flat=True)[:1000]
    return sum(offer_give_up_unsent(offer_id=offer_id, at=now, skip_locked=True)
               for offer_id in list(due))


def offer_expire(*, offer_id: int, skip_locked: bool = False) -> bool:
    """Expire one offer if its hold has passed; True if this call expired it.

    Safe to run any number of times, early (an eager or early countdown task finds the
    hold still running and does nothing), or alongside a claim (it waits for, or with
    `skip_locked` leaves, a slot another transaction holds)."""
    with transaction.atomic():
        locked = locks.lock_offer(offer_id, skip_locked=skip_locked)
        if locked is None:
            return False
        slot, offer = locked
        if not offer.is_live or offer.hold_until is None or offer.hold_until > timezone.now():
            return False
        if slot_booking_pending(slot=slot):
            # Held, not expired, until staff decide on the booking (offers/approval.py).
            return False
        from offers.voice import offer_call_after_text  # offers/voice.py imports the engine

        if offer_call_after_text(slot=slot, offer=offer, now=timezone.now()):
            return False  # "sms, then voice": the text went unanswered, so we call
        _resolve(offer, Offer.Status.EXPIRED, "Hold passed without a reply")
        _queue_next_batch(slot)
        return True


def offers_expire_due() -> int:
    """The beat sweep: expire every offer whose hold has passed; returns how many.

    Slots another worker is busy with are skipped (`skip_locked` on PostgreSQL), so
    parallel sweeps never wait on each other; the next sweep picks up what was left."""
    due = (Offer.objects.filter(status__in=Offer.LIVE_STATUSES, hold_until__lte=timezone.now())
           .order_by("hold_until").values_list("pk", flat=True)[:1000])
    return sum(offer_expire(offer_id=offer_id, skip_locked=True) for offer_id in list(due))
