"""What the waitlist tells the offer engine (waitlist/signals.py): an entry left the
waitlist, or started waiting or changed. Connected in OffersConfig.ready(), like the SMS
channel's in offers/replies.py."""

from offers import services
from offers.models import Offer


def on_entry_removed(sender, *, entry, **kwargs) -> None:
    """A live offer of a removed entry ends now: the slot moves on to the next batch and
    the patient is told, instead of a YES finding it gone after the hold stalled. A slot
    that waited for this patient may now have nobody left who fits."""
    services.entry_offers_end(entry_id=entry.pk)
    services.slots_offer_for_patients(patient_ids=[entry.patient_id])


def on_entry_waiting(sender, *, entry, created=False, **kwargs) -> None:
    """An entry joined or changed: the slots it may now fit are looked at (waiting ones,
    and unfilled ones, which offer again). A changed entry of a patient holding an offer
    may have been what some waiting slot waited for: then every waiting slot is looked
    at (bounded), since the entry no longer says which ones it used to fit."""
    busy = not created and Offer.objects.filter(
        patient_id=entry.patient_id, status__in=Offer.LIVE_STATUSES).exists()
    services.slots_offer_for_patients(patient_ids=[entry.patient_id], reopen=True,
                                      everyone=busy)
