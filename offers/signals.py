"""What the offer engine announces to the apps above it (the EHR integration).

slot_booked: sent after commit when a patient's YES booked a slot (directly, or when staff
approved the reserved booking; never while approval is pending): kwargs slot_id, entry_id.
The EHR integration frees the later appointment that patient held (a chain fill,
ehr/chain.py). Fills by phone are not announced: staff book those in the EHR themselves,
and the EHR's own cancellation of the old appointment comes back as a freed slot.
"""

from django.dispatch import Signal

slot_booked = Signal()
