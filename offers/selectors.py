"""Reads for the offer engine: who can be offered a slot, and in what order."""

import datetime as dt

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from offers.models import Offer, Slot
from waitlist.ranking import ranked
from waitlist.selectors import entries_matching


def slot_candidates(*, slot: Slot, at: dt.datetime | None = None) -> QuerySet:
    """Waitlist entries that may be offered `slot` now, best first (annotated `score`).

    On top of the waitlist's matching: the patient holds no other live offer, and the
    patient was never offered this slot (through any of their entries: a patient waiting
    twice must not be asked again after saying NO).
    """
    # NOT IN over the few patients holding a live offer (a batch per open slot) and those
    # already offered this slot: hashed once, where a NOT EXISTS probed an index for every
    # matching entry (bench/README.md). Offer.patient is never NULL, so NOT IN is safe.
    holding_an_offer = Offer.objects.filter(status__in=Offer.LIVE_STATUSES).values("patient_id")
    offered_this_slot = Offer.objects.filter(slot_id=slot.pk).values("patient_id")
    entries = entries_matching(
        provider=slot.provider,
        start=slot.start,
        end=slot.end,
        location=slot.location,
        appointment_type=slot.appointment_type,
    ).exclude(patient_id__in=holding_an_offer).exclude(patient_id__in=offered_this_slot)
    return ranked(entries, at=at or timezone.now(), parts=False).prefetch_related("patient")


def slot_live_offers(*, slot: Slot) -> QuerySet:
    return slot.offers.filter(status__in=Offer.LIVE_STATUSES)


def slots_waiting_for_a_batch() -> QuerySet:
    """Slots still being offered with no offer out: between batches, or paused by quiet
    hours. The sweep nudges them."""
    live = Offer.objects.filter(slot_id=OuterRef("pk"), status__in=Offer.LIVE_STATUSES)
    return Slot.objects.filter(status=Slot.Status.OFFERING).filter(~Exists(live))


def patient_offer_to_answer(*, patient_id: int) -> Offer | None:
    """The offer a bare YES/NO from this patient is about: their live offer, else the one
    most recently sent to them (so a late YES can be told what became of it). One query
    (a patient has few offers), with the slot and its provider for the answer.

    "Live first, then the latest sent" is simply the newest: offers are created live
    (waiting to send, then sent), a patient holds at most one live offer (a database
    constraint), and an offer never becomes live again, so no offer can be newer than a
    patient's live one. Ordering by id alone, instead of a CASE over the status, takes a
    third off the inbound webhook's time (see README, Performance)."""
    return (
        Offer.objects.filter(Q(status__in=Offer.LIVE_STATUSES) | Q(sent_at__isnull=False),
                             patient_id=patient_id)
        .select_related("slot__provider", "entry")
        .order_by("-id")
        .first()
    )
