import datetime as dt

import pytest
from django.utils import timezone

from clinic.tests.factories import ProviderFactory
from offers import services
from offers.models import Offer, Slot
from waitlist.tests.factories import WaitlistEntryFactory


@pytest.fixture(autouse=True)
def console_sms(settings):
    """Offers go to the console backend (texting hours are always open: the root
    conftest.py) unless a test says otherwise."""
    settings.SMS_BACKEND = "console"
    settings.TWILIO_FROM_NUMBER = "+13125550100"


@pytest.fixture
def fatigue_caps_off(settings):
    """For tests of the day's offer flow that text one patient several slots in a row
    within minutes (a patient freed by a NO is offered the next waiting slot at once):
    the fatigue caps and the gap between texts (test_fatigue.py) would only delay that."""
    settings.OFFER_MIN_GAP_MINUTES = 0
    settings.OFFER_TEXTS_PER_DAY = 50
    settings.OFFER_TEXTS_PER_WEEK = 200


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """`with commit(): ...` runs what the block queued for after commit (tasks, SMS), as
    a real commit would, inside a test that otherwise rolls back."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def provider(db):
    return ProviderFactory(name="Dr. Maya Patel")


def slot_start(days: int = 2, hour: int = 10) -> dt.datetime:
    return (timezone.localtime() + dt.timedelta(days=days)).replace(
        hour=hour, minute=0, second=0, microsecond=0
    )


def open_slot(provider, *, start=None, minutes=20, **kwargs) -> Slot:
    start = start or slot_start()
    return services.slot_open(provider=provider, start=start,
                              end=start + dt.timedelta(minutes=minutes), **kwargs)


def waitlist(count: int, **kwargs):
    """`count` entries, best first: each has more boost than the next."""
    return [WaitlistEntryFactory(boost=min(40, (count - i) * 2), **kwargs) for i in range(count)]


def live(slot) -> list[Offer]:
    return list(slot.offers.filter(status__in=Offer.LIVE_STATUSES).order_by("-score"))


def pass_hold(offers) -> None:
    """The clock passes the hold of these offers (as time would)."""
    Offer.objects.filter(pk__in=[o.pk for o in offers]).update(
        hold_until=timezone.now() - dt.timedelta(seconds=1)
    )
