"""Reads for the offer engine: who can be offered a slot, and in what order."""

import datetime as dt

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from messaging.selectors import messages_handed_over
from offers import rules
from offers.locks import day_started, offer_texts_since
from offers.messages import offer_texts
from offers.models import Offer, Slot
from offers.policy import policy_for
from waitlist.models import WaitlistEntry
from waitlist.ranking import ranked
from waitlist.selectors import entries_matching


def _matching(slot: Slot, **kwargs) -> QuerySet:
    return entries_matching(provider=slot.provider, start=slot.start, end=slot.end,
                            location=slot.location, appointment_type=slot.appointment_type,
                            **kwargs)


def patients_booked_overlapping(*, slot: Slot) -> QuerySet:
    """Patient ids booked through this system into a slot whose time overlaps `slot`'s
    (for a NOT IN: rows without a booked entry are left out, as a NULL would empty it)."""
    return (Slot.objects.filter(status=Slot.Status.FILLED, start__lt=slot.end, end__gt=slot.start,
                                filled_entry__isnull=False)
            .exclude(pk=slot.pk).values("filled_entry__patient_id"))


def slot_fitting_entries(*, slot: Slot) -> QuerySet:
    """Waitlist entries that fit `slot`, whether or not their patient is free right now:
    the waitlist's matching, minus patients already offered this slot (through any of
    their entries: a patient waiting twice is not asked again after a NO) and patients
    booked into a slot at an overlapping time. "Nobody fits" (the slot is unfilled) means
    this is empty."""
    offered_this_slot = Offer.objects.filter(slot_id=slot.pk).values("patient_id")
    # NOT IN over these few patients: hashed once, where a NOT EXISTS probed an index for
    # every matching entry (bench/README.md). None of the lists holds a NULL.
    return (_matching(slot).exclude(patient_id__in=offered_this_slot)
            .exclude(patient_id__in=patients_booked_overlapping(slot=slot)))


def _holding_an_offer() -> QuerySet:
    # A patient whose YES awaits staff approval (offers/approval.py) is busy too.
    return Offer.objects.filter(status__in=(*Offer.LIVE_STATUSES, Offer.Status.RESERVED)
                                ).values("patient_id")


def patients_capped(*, at: dt.datetime, day: bool = True, week: bool = True) -> Q:
    """Entries whose patient had their OFFER_TEXTS_PER_DAY offer texts today (the clinic's
    calendar day) or their OFFER_TEXTS_PER_WEEK in the last 7 days (the fatigue caps)."""
    def over(since: dt.datetime, cap: int) -> Q:
        return Q(patient_id__in=offer_texts_since(since).order_by().values("patient_id")
                 .annotate(n=Count("pk")).filter(n__gte=cap).values("patient_id"))
    capped = Q(pk__in=[])
    if day:
        capped |= over(day_started(at), settings.OFFER_TEXTS_PER_DAY)
    if week:
        capped |= over(at - dt.timedelta(days=7), settings.OFFER_TEXTS_PER_WEEK)
    return capped


def _resting(at: dt.datetime) -> QuerySet:
    # Texted within OFFER_MIN_GAP_MINUTES: free again in a few minutes, so a slot waits
    # for them as for a patient holding an offer (the sweep looks again).
    return offer_texts_since(at - dt.timedelta(minutes=settings.OFFER_MIN_GAP_MINUTES)
                         ).values("patient_id")


def slot_candidates(*, slot: Slot, at: dt.datetime | None = None) -> QuerySet:
    """Entries that may be offered `slot` now, best first (annotated `score`): the fitting
    ones whose patient holds no live offer (one live offer per patient), was not texted
    an offer in the last OFFER_MIN_GAP_MINUTES and is within the fatigue caps."""
    at = at or timezone.now()
    entries = slot_fitting_entries(slot=slot).exclude(patient_id__in=_holding_an_offer())
    if policy_for(slot=slot, at=at).fatigue_caps:
        entries = entries.exclude(patient_id__in=_resting(at)).exclude(patients_capped(at=at))
    return ranked(entries, at=at, parts=False).prefetch_related("patient")


def slot_busy_fitting_entries(*, slot: Slot, at: dt.datetime | None = None) -> QuerySet:
    """Fitting entries whose patient holds a live offer of another slot, was texted one
    moments ago (OFFER_MIN_GAP_MINUTES), or reached a fatigue cap that clears before
    the slot's offering must stop: the people a waiting slot waits for."""
    at = at or timezone.now()
    if not policy_for(slot=slot, at=at).fatigue_caps:
        return slot_fitting_entries(slot=slot).filter(patient_id__in=_holding_an_offer())
    # A cap that clears before offering must stop (a new day, an old text leaving the
    # week) is waited for too; one that does not leaves the patient out.
    stop = slot.start - rules.rule_for(slot=slot).min_lead
    clears_day = stop >= day_started(at) + dt.timedelta(days=1)
    clears_week = stop - at >= dt.timedelta(days=7)
    waited_for = Q(patient_id__in=_holding_an_offer()) | Q(patient_id__in=_resting(at))
    if clears_day:
        waited_for |= patients_capped(at=at, week=False)
    if clears_week:
        waited_for |= patients_capped(at=at, day=False)
    return (slot_fitting_entries(slot=slot).filter(waited_for)
            .exclude(patients_capped(at=at, day=not clears_day, week=not clears_week)))


def slot_live_offers(*, slot: Slot) -> QuerySet:
    return slot.offers.filter(status__in=Offer.LIVE_STATUSES)


def slots_waiting_for_a_batch() -> QuerySet:
    """Slots still being offered with no offer out: waiting for busy patients or texting
    hours, or between batches when a task was lost. The sweep looks at them again."""
    live = Offer.objects.filter(slot_id=OuterRef("pk"), status__in=Offer.LIVE_STATUSES)
    return Slot.objects.filter(status=Slot.Status.OFFERING).filter(~Exists(live))


def _concerns(slot: Slot, patient_ids: list[int], *, active_only: bool) -> bool:
    """Whether one of these patients' entries matches the slot. With active_only=False,
    any entry that would have matched, whatever its state now (booked, removed, the
    patient opted out): those are the patients a waiting slot may have waited for."""
    if active_only:
        entries = _matching(slot)
    else:
        entries = _matching(slot, statuses=tuple(WaitlistEntry.Status.values),
                            reachable_only=False)
    return entries.filter(patient_id__in=patient_ids).exists()


def slots_to_look_at_for(*, patient_ids: list[int], reopen: bool = False,
                         everyone: bool = False, at: dt.datetime | None = None) -> list[int]:
    """The slots an event about these patients may concern, soonest first, at most
    OFFER_WAITING_SLOTS_LOOKED_AT: slots waiting for busy patients that one of them
    matches (or all waiting slots, with `everyone`) and, with `reopen` (the patient
    joined, changed their wishes or can be texted again), unfilled slots still far
    enough ahead that one of their entries fits.

    Bounded and cheap: a short list of slots, and per slot one EXISTS on these patients'
    own entries, without any lock. The caller locks each slot and decides again."""
    at = at or timezone.now()
    limit = settings.OFFER_WAITING_SLOTS_LOOKED_AT
    lead = dt.timedelta(minutes=settings.OFFER_MIN_LEAD_MINUTES)
    waiting = Q(status=Slot.Status.OFFERING, waiting_for=Slot.WaitingFor.BUSY_PATIENTS)
    reopenable = Q(status=Slot.Status.UNFILLED, start__gte=at + lead) & ~Q(
        unfilled_reason=Slot.UnfilledReason.TOO_SOON)
    slots = (Slot.objects.filter(waiting | reopenable if reopen else waiting)
             .filter(start__gt=at).select_related("provider", "location", "appointment_type")
             .order_by("start", "pk")[:limit])
    chosen = []
    for slot in slots:
        if slot.status == Slot.Status.UNFILLED:
            if _concerns(slot, patient_ids, active_only=True):
                chosen.append(slot.pk)
        elif everyone or _concerns(slot, patient_ids, active_only=False):
            chosen.append(slot.pk)
    return chosen


def _handed_over_texts(at: dt.datetime) -> QuerySet:
    return messages_handed_over(offer_texts(OuterRef("pk")), by=at)


def patient_offer_to_answer(*, patient_id: int, at: dt.datetime | None = None) -> Offer | None:
    """The offer a bare YES/NO from this patient, arriving at `at`, is about: the newest
    offer whose text had been handed to the SMS provider by then. An offer whose text
    still waits to leave is not one the patient has seen, so a reply never acts on it
    (docs/how-offers-work.md, "Replies act on the offer the patient saw"). One query (a
    patient has few offers), with the slot, its provider and the entry for the answer.

    The newest by id: a patient holds at most one live offer (a database constraint) and
    the next one is made only after it ended, so a later offer is a newer text. (An undone
    fill by phone gives an offer back only while it is still its patient's newest:
    slot_phone_fill_undo.)"""
    at = at or timezone.now()
    return (
        Offer.objects.filter(patient_id=patient_id)
        .filter(Q(sent_at__lte=at) | Exists(_handed_over_texts(at)))
        .select_related("slot__provider", "entry")
        .order_by("-id")
        .first()
    )


def sms_hours_open(at: dt.datetime | None = None, *, slot: Slot | None = None) -> bool:
    """Whether offers may be texted at `at` (SMS_SEND_HOURS, clinic local time). For a
    slot: its clinic rule's texting hours, in its location's time zone (offers/rules.py)."""
    if slot is not None:
        return rules.texting_hours_open(slot=slot, at=at or timezone.now())
    start, end = settings.SMS_SEND_HOURS
    local = timezone.localtime(at or timezone.now()).time()
    return start <= local and (end is None or local < end)


def slot_booking_pending(*, slot: Slot) -> bool:
    """A booking of this slot awaits staff approval (offers/approval.py)."""
    return slot.offers.filter(status=Offer.Status.RESERVED).exists()
