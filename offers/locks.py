"""The one lock order of the offer engine: a slot's row first, then its offers, then
their messages. Every write that changes a slot starts here (offers/engine.py,
claims.py, holds.py, phone_fill.py), so events on one slot happen one after another and
never deadlock, while another slot of the same provider goes on at the same time.

Callers use `locks.lock_slot(...)` through the module, so a benchmark may swap the lock
for a comparison (bench/lib.py slot_lock_apply_setting).
"""

from offers.models import Offer, Slot


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
