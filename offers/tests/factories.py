import datetime as dt

import factory
from django.conf import settings
from django.utils import timezone

from clinic.tests.factories import ProviderFactory
from offers.models import Offer, Slot
from waitlist.tests.factories import WaitlistEntryFactory


class SlotFactory(factory.django.DjangoModelFactory):
    """A slot tomorrow at a time of day well inside quiet hours."""

    class Meta:
        model = Slot

    provider = factory.SubFactory(ProviderFactory)
    start = factory.LazyFunction(
        lambda: (timezone.localtime() + dt.timedelta(days=2)).replace(
            hour=10, minute=0, second=0, microsecond=0
        )
    )
    end = factory.LazyAttribute(lambda slot: slot.start + dt.timedelta(minutes=20))


class OfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Offer

    slot = factory.SubFactory(SlotFactory)
    entry = factory.SubFactory(WaitlistEntryFactory)
    patient = factory.LazyAttribute(lambda offer: offer.entry.patient)
    batch = 1
    status = Offer.Status.PENDING
    hold_until = None
    # An offer on hold was handed over when its hold began (offer_start_hold), as the
    # engine records it: a reply counts only for an offer the patient was sent.
    sent_at = factory.LazyAttribute(
        lambda offer: offer.hold_until - dt.timedelta(seconds=settings.OFFER_HOLD_SECONDS)
        if offer.status == Offer.Status.SENT and offer.hold_until else None)
