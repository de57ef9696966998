"""Staff picks (a clinic rule's "staff picks" mode, docs/rules.md): the engine does not
text a batch on its own; the slot waits (Slot.WaitingFor.STAFF_PICKS) and Today shows
the ranked list of patients who may be offered it; staff tick who is texted. Their
offers then run like any other (holds, replies, expiry); when they have all ended and
nobody took the slot, it waits for staff again."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinic.audit import save_with_reason
from offers import locks
from offers.engine import _offer_to, _too_late_to_offer, refuse_while_pending
from offers.models import Offer, Slot
from offers.selectors import slot_candidates, sms_hours_open

# How many of the ranked candidates Today shows for a slot waiting for staff picks.
RANKED_LIST_LENGTH = 10


def slot_ranked_candidates(*, slot: Slot, limit: int = RANKED_LIST_LENGTH) -> list:
    """The waitlist entries who may be offered `slot` now, best first (with `score`)."""
    return list(slot_candidates(slot=slot, at=timezone.now())
                .select_related("patient")[:limit])


@transaction.atomic
def slot_offer_picked(*, slot: Slot, entry_ids: list[int], by) -> list[Offer]:
    """Staff chose these entries: each is texted an offer now, in one batch (those no
    longer free or fitting are skipped). Audited as the staff member's."""
    slot = locks.lock_slot(slot.pk)
    if slot.status != Slot.Status.OFFERING:
        raise ValidationError(f"This slot is {slot.get_status_display().lower()}.")
    refuse_while_pending(slot=slot)
    if not entry_ids:
        raise ValidationError("Tick at least one patient to text.")
    now = timezone.now()
    if _too_late_to_offer(slot, now):
        raise ValidationError("The slot starts too soon to offer it by SMS; call instead.")
    if not sms_hours_open(now, slot=slot):
        raise ValidationError("Offers are only texted during texting hours.")
    chosen = list(slot_candidates(slot=slot, at=now).filter(pk__in=entry_ids))
    batch = slot.current_batch + 1
    offers = [offer for entry in chosen
              if (offer := _offer_to(slot, entry, batch=batch, at=now)) is not None]
    if not offers:
        raise ValidationError("None of those patients can be offered this slot now "
                              "(they hold another offer, or no longer fit).")
    slot.current_batch = batch
    slot.waiting_for = Slot.WaitingFor.NOTHING
    save_with_reason(slot, f"Staff picked {len(offers)} patients for batch {batch}", by)
    return offers
