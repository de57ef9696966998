"""The one lock order of the offer engine: a slot's row first, then its offers, then
their messages (and, for a new offer, its patient's row: lock_patient_within_caps).
Every write that changes a slot starts here (offers/engine.py,
claims.py, holds.py, phone_fill.py), so events on one slot happen one after another and
never deadlock, while another slot of the same provider goes on at the same time.

Callers use `locks.lock_slot(...)` through the module, so a benchmark may swap the lock
for a comparison (bench/lib.py slot_lock_apply_setting).
"""

import datetime as dt

from django.conf import settings
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from clinic.models import Patient
from offers.models import Offer, Slot


def day_started(at: dt.datetime) -> dt.datetime:
    """The clinic's local midnight before `at`: the day cap counts texts since then."""
    return timezone.localtime(at).replace(hour=0, minute=0, second=0, microsecond=0)


def offer_texts_since(since: dt.datetime) -> QuerySet:
    """Offers made after `since` that count against the fatigue caps: every one whose
    text was (or is being) sent, so all but those that failed. The caps' one definition,
    counted here under the patient's lock and filtered on in offers/selectors.py."""
    return Offer.objects.filter(created_at__gt=since).exclude(status=Offer.Status.FAILED)


def lock_slot(slot_id: int, *, skip_locked: bool = False) -> Slot | None:
    # Only the slot's row (`of=("self",)`): the provider comes along for the texts, but a
    # plain FOR UPDATE would lock its row too, and then every reply, expiry and staff
    # action on any of that provider's slots would queue behind this one, and the
    # sweep's skip_locked would skip all of them (bench/README.md, "Eight slots").
    return (
        Slot.objects.select_for_update(skip_locked=skip_locked, of=("self",))
        # What the slot's clinic rule is looked up by (offers/rules.py), in the same
        # query; of=("self",) keeps the lock on the slot's row alone.
        .select_related("provider__location", "appointment_type", "location")
        .filter(pk=slot_id)
        .first()
    )


def lock_offer(offer_id: int, *, skip_locked: bool = False) -> tuple[Slot, Offer] | None:
    """Lock an offer's slot, then the offer: the one lock order. Call inside a
    transaction. None if there is no such offer, or (with `skip_locked`) another
    transaction holds its slot."""
    slot_id = Offer.objects.filter(pk=offer_id).values_list("slot_id", flat=True).first()
    if slot_id is None:
        return None
    slot = lock_slot(slot_id, skip_locked=skip_locked)
    if slot is None:
        return None
    return slot, Offer.objects.select_for_update().get(pk=offer_id)


def lock_patient_within_caps(patient_id: int, *, at: dt.datetime) -> bool:
    """Lock the patient's row, then count their offer texts (today's, the clinic's
    calendar day; the last 7 days'): whether one more at `at`
    stays within the fatigue caps (OFFER_TEXTS_PER_DAY, OFFER_TEXTS_PER_WEEK) and
    OFFER_MIN_GAP_MINUTES after their last. Two batches of different slots choosing the
    same patient at once both saw them under the cap; the lock makes the second wait for
    the first to commit and then count its offer too (the count is a later statement, so
    it sees what committed meanwhile). Call inside the offer's transaction, after the
    slot's lock."""
    # FOR NO KEY UPDATE: two of these queue behind each other, but the foreign-key checks
    # of rows that point at the patient (their messages, offers: FOR KEY SHARE) do not
    # wait for it, so a reply being logged never deadlocks with a batch being sent.
    if Patient.objects.select_for_update(of=("self",), no_key=True).filter(pk=patient_id).values_list(
            "pk", flat=True).first() is None:
        return False
    texted = (offer_texts_since(at - dt.timedelta(days=7)).filter(patient_id=patient_id)
              .aggregate(week=Count("pk"),
                         day=Count("pk", filter=Q(created_at__gt=day_started(at))),
                         last=Max("created_at")))
    gap = dt.timedelta(minutes=settings.OFFER_MIN_GAP_MINUTES)
    return (texted["week"] < settings.OFFER_TEXTS_PER_WEEK
            and texted["day"] < settings.OFFER_TEXTS_PER_DAY
            and (texted["last"] is None or texted["last"] <= at - gap))
