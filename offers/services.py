"""The offer engine's writes under one name, for callers that want all of them
(`from offers.services import slot_open`). The code lives in four modules, one job each:

- offers/engine.py: a freed slot, its batches, and the waiting and waking of the day's
  slots (slot_open, slot_offer_next_batch, slots_offer_for_patients, slot_offer_more,
  slot_withdraw, entry_offers_end, slots_resume).
- offers/claims.py: a patient's reply (offer_claim, offer_decline, patient_offers_release).
- offers/holds.py: an offer's text and its hold (offer_start_hold, offer_expire, the
  sweeps' offers_expire_due, offers_start_missed_holds, offers_give_up_unsent, offer_fail).
- offers/phone_fill.py: staff filled a slot by phone, its undo window and announcement.

All of them take the one lock order of offers/locks.py. The clinic's rules for a slot
(offers/rules.py, docs/rules.md) shape what they do; staff decide on bookings that need
approval in offers/approval.py and pick who is texted in offers/staff_picks.py.
"""

from offers.claims import (
    Outcome,
    ReplyResult,
    offer_claim,
    offer_decline,
    patient_offers_release,
)
from offers.engine import (
    batch_size_for,
    entry_offers_end,
    hold_seconds_for,
    offer_text_context,
    patient_overlapping_offers_end,
    slot_offer_more,
    slot_offer_next_batch,
    slot_open,
    slot_withdraw,
    slots_offer_for_patients,
    slots_resume,
    too_late_to_offer,
)
from offers.holds import (
    OFFER_UNSENT_GIVE_UP_AFTER,
    offer_expire,
    offer_fail,
    offer_give_up_unsent,
    offer_start_hold,
    offer_text_left_after_end,
    offer_text_may_leave,
    offers_expire_due,
    offers_give_up_unsent,
    offers_start_missed_holds,
)
from offers.phone_fill import (
    PHONE_FILL_REASON,
    phone_fill_undo_until,
    slot_mark_filled_by_phone,
    slot_phone_fill_announce,
    slot_phone_fill_undo,
    slots_phone_fill_announce_due,
)
from offers.selectors import slots_to_look_at_for, sms_hours_open

__all__ = [
    "OFFER_UNSENT_GIVE_UP_AFTER", "PHONE_FILL_REASON", "Outcome", "ReplyResult",
    "batch_size_for", "entry_offers_end", "hold_seconds_for", "offer_claim", "offer_decline",
    "offer_expire", "offer_fail", "offer_give_up_unsent", "offer_start_hold",
    "offer_text_context", "offer_text_left_after_end", "offer_text_may_leave",
    "offers_expire_due", "offers_give_up_unsent", "offers_start_missed_holds",
    "patient_offers_release", "patient_overlapping_offers_end", "phone_fill_undo_until",
    "slot_mark_filled_by_phone", "slot_offer_more", "slot_offer_next_batch", "slot_open",
    "slot_phone_fill_announce", "slot_phone_fill_undo", "slot_withdraw",
    "slots_offer_for_patients", "slots_phone_fill_announce_due", "slots_resume",
    "slots_to_look_at_for", "sms_hours_open", "too_late_to_offer",
]
