"""The figures of one run, read from its database afterwards: slots, offers and the
message log, the rows the product itself keeps (never the simulator's bookkeeping).

Rates are fractions (0-1); a figure with nothing to measure is None (JSON null).
"""

import datetime as dt
import statistics
from collections import Counter, defaultdict

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count
from django.utils import timezone

from messaging.models import Message
from offers.messages import OFFER_KIND
from offers.models import Offer, Slot
from offers.policy import OfferPolicy

LEAD_BUCKETS = (("<4h", 4), ("4-24h", 24), ("1-3d", 72), (">3d", None))


def lead_bucket(lead: dt.timedelta) -> str:
    hours = lead.total_seconds() / 3600
    for name, below in LEAD_BUCKETS:
        if below is None or hours < below:
            return name
    raise AssertionError("unreachable")


def _ratio(part, whole):
    return round(part / whole, 4) if whole else None


def _median(values):
    return round(statistics.median(values), 2) if values else None


def percentile(values, share: float):
    """Nearest-rank percentile (p90 of 10 values is the 9th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return round(ordered[int(rank) - 1], 2)


def figures(*, start: dt.datetime, policy: OfferPolicy) -> dict:
    """The slot figures (slots, filled, fill rates, minutes, batches) are of the workload's
    cancellations, the same in every policy's run; the slots chain fills freed
    (ehr/chain.py), as many as a policy's bookings freed, are counted apart (chain_*).
    Texts, offers and the per-patient maxima count everything sent, and texts_per_fill
    and offers_per_fill divide by every fill, chain fills included (docs/simulator.md)."""
    every_slot = list(Slot.objects.values(
        "id", "start", "end", "created_at", "closed_at", "status", "current_batch",
        "filled_via", "unfilled_reason", "filled_entry__patient_id",
        "filled_entry__current_appointment_at", "chained_from_id"))
    slots = [s for s in every_slot if s["chained_from_id"] is None]
    chained = [s for s in every_slot if s["chained_from_id"] is not None]
    filled = [s for s in slots if s["status"] == Slot.Status.FILLED]
    chain_fills = sum(s["status"] == Slot.Status.FILLED for s in chained)
    fills = len(filled) + chain_fills
    workload_ids = {s["id"] for s in slots}
    offered_ids = set(Offer.objects.values_list("slot_id", flat=True).distinct()) & workload_ids

    by_lead: dict[str, list[bool]] = defaultdict(list)
    for slot in slots:
        by_lead[lead_bucket(slot["start"] - slot["created_at"])].append(
            slot["status"] == Slot.Status.FILLED)
    minutes_to_fill = [(s["closed_at"] - s["created_at"]).total_seconds() / 60 for s in filled]
    days_sooner = [(s["filled_entry__current_appointment_at"] - s["start"]).total_seconds() / 86400
                   for s in filled if s["filled_entry__current_appointment_at"]]

    # Texts are SMS; offer calls (and what was said on them) are counted apart.
    texts = Message.objects.filter(direction=Message.Direction.OUT, channel=Message.Channel.SMS)
    per_day, per_week = Counter(), Counter()
    # Offer texts alone: what the fatigue caps (OFFER_TEXTS_PER_DAY/_WEEK) count.
    offers_day, offers_week = Counter(), Counter()
    for patient_id, at, kind in texts.exclude(patient=None).values_list(
            "patient_id", "created_at", "kind"):
        local_day = timezone.localtime(at).date()
        week = (local_day - start.date()).days // 7
        per_day[patient_id, local_day] += 1
        per_week[patient_id, week] += 1
        if kind == OFFER_KIND:
            offers_day[patient_id, local_day] += 1
            offers_week[patient_id, week] += 1
    # Texts per filled slot by how far ahead the slot was freed (a slot's own texts: its
    # offers' texts and what they led to, the confirmations and "no longer available").
    texts_by_slot = Counter(texts.filter(offer__isnull=False).values_list("offer__slot_id",
                                                                          flat=True))
    by_lead_texts: dict[str, list[int]] = defaultdict(list)
    by_lead_fills: Counter = Counter()
    for slot in slots:
        band = lead_bucket(slot["start"] - slot["created_at"])
        by_lead_texts[band].append(texts_by_slot.get(slot["id"], 0))
        by_lead_fills[band] += slot["status"] == Slot.Status.FILLED
    offers = Offer.objects.count()
    text_count = texts.count()
    offer_texts = texts.filter(kind=OFFER_KIND).count()

    replies = Message.objects.filter(direction=Message.Direction.IN, channel=Message.Channel.SMS)
    offer_type = ContentType.objects.get_for_model(Offer)
    reply_minutes = [
        (at - sent).total_seconds() / 60
        for at, sent in replies.filter(offer__isnull=False, offer__sent_at__isnull=False)
        .values_list("created_at", "offer__sent_at")]
    return {
        "policy": {"name": policy.name, "batch_size": policy.batch_size,
                   "hold_seconds": policy.hold_seconds, "sweep_seconds": policy.sweep_seconds},
        "slots": len(slots),
        "filled": len(filled),
        "fill_rate": _ratio(len(filled), len(slots)),
        "fill_rate_by_lead": {name: _ratio(sum(by_lead[name]), len(by_lead[name]))
                              for name, _ in LEAD_BUCKETS},
        "slots_by_lead": {name: len(by_lead[name]) for name, _ in LEAD_BUCKETS},
        "offered_slots": len(offered_ids),
        "fill_rate_of_offered": _ratio(len(filled), len(offered_ids)),
        "median_minutes_to_fill": _median(minutes_to_fill),
        "p90_minutes_to_fill": percentile(minutes_to_fill, 0.9),
        "minutes_to_fill": sorted(round(m, 2) for m in minutes_to_fill),
        "texts": text_count,
        "offer_texts": offer_texts,
        "offers": offers,
        "texts_per_fill": _ratio(text_count, fills),
        "offers_per_fill": _ratio(offers, fills),
        "offers_accepted": _ratio(Offer.objects.filter(status=Offer.Status.ACCEPTED).count(),
                                  offers),
        "reply_rate": _ratio(replies.filter(subject_type=offer_type).values("subject_id").distinct().count(),
                             offer_texts),
        "yes_per_offer_text": _ratio(
            replies.filter(subject_type=offer_type, kind="yes").values("subject_id")
            .distinct().count(), offer_texts),
        "offered_slots_filled_by_first_3": _ratio(filled_by_first(3, workload_ids), len(offered_ids)),
        "median_reply_minutes": _median(reply_minutes),
        "replies_within_hour": _ratio(sum(m <= 60 for m in reply_minutes), len(reply_minutes)),
        "max_texts_patient_day": max(per_day.values(), default=0),
        "max_texts_patient_week": max(per_week.values(), default=0),
        "max_offer_texts_patient_day": max(offers_day.values(), default=0),
        "max_offer_texts_patient_week": max(offers_week.values(), default=0),
        "texts_per_fill_by_lead": {name: _ratio(sum(by_lead_texts[name]), by_lead_fills[name])
                                   for name, _ in LEAD_BUCKETS},
        "median_days_sooner": _median(days_sooner),
        "batches": dict(sorted(Counter(s["current_batch"] for s in slots).items())),
        "unfilled_reasons": dict(Counter(s["unfilled_reason"] or "-" for s in slots
                                         if s["status"] == Slot.Status.UNFILLED)),
        "slot_outcomes": slot_outcomes(slots),
        "still_offering": sum(s["status"] == Slot.Status.OFFERING for s in slots),
        "chain_slots": len(chained),
        "chain_fills": chain_fills,
        "chain_fill_rate": _ratio(chain_fills, len(chained)),
        "double_bookings": double_bookings(every_slot),
        "calls": Message.objects.filter(direction=Message.Direction.OUT, kind=OFFER_KIND,
                                        channel=Message.Channel.VOICE).count(),
        "fills_by_channel": fills_by_channel(),
        "unanswered_yes": unanswered_yes(),
    }


def slot_outcomes(slots: list[dict]) -> list[dict]:
    """Each slot's fate, in the order recorded: lead hours, status, why unfilled, batches
    sent, offers made, minutes to fill."""
    offers = dict(Offer.objects.values("slot_id").annotate(n=Count("id"))
                  .values_list("slot_id", "n"))
    return [{
        "lead_hours": round((s["start"] - s["created_at"]).total_seconds() / 3600, 2),
        "status": s["status"],
        "unfilled_reason": s["unfilled_reason"],
        "batches": s["current_batch"],
        "offers": offers.get(s["id"], 0),
        "minutes_to_fill": round((s["closed_at"] - s["created_at"]).total_seconds() / 60, 2)
        if s["status"] == Slot.Status.FILLED else None,
    } for s in sorted(slots, key=lambda s: (s["created_at"], s["id"]))]


def fills_by_channel() -> dict:
    """Slots booked by a YES (chain fills among them), by how the YES came: a key or word
    on a call, or a text."""
    accepted = list(Offer.objects.filter(status=Offer.Status.ACCEPTED).values_list("pk", flat=True))
    by_call = set(Message.objects.filter(
        direction=Message.Direction.IN, channel=Message.Channel.VOICE, kind="yes",
        subject_type=ContentType.objects.get_for_model(Offer), subject_id__in=accepted,
    ).values_list("subject_id", flat=True))
    return {"sms": len(accepted) - len(by_call), "voice": len(by_call)}


def double_bookings(slots: list[dict]) -> int:
    """Bookings that should not exist: a slot with more than one accepted offer, a slot
    filled by text whose accepted offer is not its booked patient's, and two booked
    slots of one patient that overlap in time."""
    several = (Offer.objects.filter(status=Offer.Status.ACCEPTED).values("slot_id")
               .annotate(n=Count("id")).filter(n__gt=1).count())
    accepted = dict(Offer.objects.filter(status=Offer.Status.ACCEPTED)
                    .values_list("slot_id", "patient_id"))
    wrong_patient = sum(1 for s in slots if s["status"] == Slot.Status.FILLED
                        and s["filled_via"] == Slot.FilledVia.SMS
                        and accepted.get(s["id"]) != s["filled_entry__patient_id"])
    booked: dict[int, list[dict]] = defaultdict(list)
    for slot in slots:
        if slot["status"] == Slot.Status.FILLED and slot["filled_entry__patient_id"]:
            booked[slot["filled_entry__patient_id"]].append(slot)
    overlapping = 0
    for theirs in booked.values():
        theirs.sort(key=lambda s: s["start"])
        overlapping += sum(1 for a, b in zip(theirs, theirs[1:], strict=False)
                           if b["start"] < a["end"])
    return several + wrong_patient + overlapping


def unanswered_yes() -> int:
    """YES replies the product answered nothing: an inbound YES with no outbound text to
    that number recorded in the same instant after it (the webhook's answer is logged
    in the transaction that handles the reply)."""
    answers = defaultdict(list)
    for pk, to_number, at in Message.objects.filter(direction=Message.Direction.OUT).values_list(
            "id", "to_number", "created_at"):
        answers[to_number, at].append(pk)
    missing = 0
    for pk, from_number, at in Message.objects.filter(
            direction=Message.Direction.IN, kind="yes").values_list("id", "from_number",
                                                                     "created_at"):
        if not any(answer > pk for answer in answers.get((from_number, at), ())):
            missing += 1
    return missing


def filled_by_first(n: int, slot_ids: set[int] | None = None) -> int:
    """Slots booked through one of their first `n` offers (Fast Pass sent about 2.8 offers
    a slot, one round: docs/simulator.md)."""
    ranks: dict[int, list[int]] = defaultdict(list)
    for slot_id, offer_id in Offer.objects.order_by("id").values_list("slot_id", "id"):
        ranks[slot_id].append(offer_id)
    return sum(1 for slot_id, offer_id in Offer.objects.filter(status=Offer.Status.ACCEPTED)
               .values_list("slot_id", "id") if offer_id in ranks[slot_id][:n]
               and (slot_ids is None or slot_id in slot_ids))
