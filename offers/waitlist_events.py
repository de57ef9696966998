"""What the waitlist tells the offer engine (waitlist/signals.py): an entry left the
waitlist. Connected in OffersConfig.ready(), like the SMS channel's in offers/replies.py."""

from offers import services


def on_entry_removed(sender, *, entry, **kwargs) -> None:
    """A live offer of a removed entry ends now: the slot moves on to the next batch and
    the patient is told, instead of a YES finding it gone after the hold stalled."""
    services.entry_offers_end(entry_id=entry.pk)
