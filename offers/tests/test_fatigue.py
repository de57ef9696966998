"""Fatigue caps (OFFER_TEXTS_PER_DAY, OFFER_TEXTS_PER_WEEK) and the gap between two offer
texts to one patient (OFFER_MIN_GAP_MINUTES): offers/selectors.py leaves such patients
out, and offers/locks.lock_patient_within_caps checks again under the patient's lock."""

import datetime as dt

import pytest
from django.utils import timezone

from offers import services
from offers.models import Offer, Slot
from offers.selectors import slot_candidates
from offers.tests.conftest import live, open_slot, slot_start, waitlist
from offers.tests.factories import OfferFactory

pytestmark = pytest.mark.django_db

S = Offer.Status


def texted(entry, *, ago: dt.timedelta, status=S.DECLINED):
    at = timezone.now() - ago
    OfferFactory(entry=entry, status=status, sent_at=at, created_at=at, responded_at=at)


@pytest.fixture
def caps(settings):
    settings.OFFER_TEXTS_PER_DAY = 2
    settings.OFFER_TEXTS_PER_WEEK = 5
    settings.OFFER_MIN_GAP_MINUTES = 0  # test_nobody_is_texted_twice_within_the_gap sets it
    settings.OFFER_BATCH_SIZE = 10
    settings.OFFER_POLICY = "fixed"
    return settings


def test_a_patient_with_two_offer_texts_today_is_not_texted_a_third(caps, provider, commit):
    capped, fresh = waitlist(2)
    texted(capped, ago=dt.timedelta(minutes=3))
    texted(capped, ago=dt.timedelta(minutes=2))
    with commit():
        slot = open_slot(provider)
    assert [o.entry_id for o in live(slot)] == [fresh.pk]


def test_a_patient_with_five_this_week_waits_for_next_week(caps, provider, commit):
    capped, fresh = waitlist(2)
    for days in (1, 2, 3, 4, 5):
        texted(capped, ago=dt.timedelta(days=days, hours=1))
    with commit():
        slot = open_slot(provider)
    assert [o.entry_id for o in live(slot)] == [fresh.pk]


def test_a_slot_days_ahead_waits_for_a_patient_capped_today_instead_of_closing(caps, provider,
                                                                               commit):
    (entry,) = waitlist(1)
    texted(entry, ago=dt.timedelta(minutes=3))
    texted(entry, ago=dt.timedelta(minutes=2))
    with commit():
        far = open_slot(provider, start=slot_start(days=3))
    far.refresh_from_db()
    assert far.status == Slot.Status.OFFERING
    assert far.waiting_for == Slot.WaitingFor.BUSY_PATIENTS
    tomorrow = timezone.now() + dt.timedelta(days=1)
    assert list(slot_candidates(slot=far, at=tomorrow).values_list("pk", flat=True)) == [entry.pk]


def test_a_slot_today_closes_when_everyone_who_fits_is_capped_for_today(caps, provider, commit):
    (entry,) = waitlist(1)
    texted(entry, ago=dt.timedelta(minutes=3))
    texted(entry, ago=dt.timedelta(minutes=2))
    soon = timezone.now() + dt.timedelta(hours=2)
    with commit():
        slot = open_slot(provider, start=soon)
    slot.refresh_from_db()
    # (Run within two hours of the clinic's midnight, the slot's offering ends tomorrow,
    # when the cap has cleared: then it waits for them.)
    ends_today = slot.start - dt.timedelta(minutes=caps.OFFER_MIN_LEAD_MINUTES) < locks_day_end()
    assert slot.status == (Slot.Status.UNFILLED if ends_today else Slot.Status.OFFERING)


def locks_day_end():
    from offers.locks import day_started

    return day_started(timezone.now()) + dt.timedelta(days=1)


def test_texts_older_than_the_window_do_not_count(caps, provider, commit):
    (entry,) = waitlist(1)
    for days in (8, 9, 10, 11, 12, 13):
        texted(entry, ago=dt.timedelta(days=days))
    with commit():
        slot = open_slot(provider)
    assert [o.entry_id for o in live(slot)] == [entry.pk]


def test_a_failed_text_does_not_count_against_the_caps(caps, provider, commit):
    (entry,) = waitlist(1)
    texted(entry, ago=dt.timedelta(minutes=3), status=S.FAILED)
    texted(entry, ago=dt.timedelta(minutes=2), status=S.FAILED)
    with commit():
        slot = open_slot(provider)
    assert len(live(slot)) == 1


def test_nobody_is_texted_twice_within_the_gap_and_the_slot_waits_for_them(caps, provider,
                                                                           commit):
    caps.OFFER_MIN_GAP_MINUTES = 30
    (entry,) = waitlist(1)
    texted(entry, ago=dt.timedelta(minutes=10))
    with commit():
        slot = open_slot(provider)
    slot.refresh_from_db()
    assert live(slot) == []
    # Not closed as if nobody fitted: they are free again in twenty minutes.
    assert slot.status == Slot.Status.OFFERING
    assert slot.waiting_for == Slot.WaitingFor.BUSY_PATIENTS
    later = timezone.now() + dt.timedelta(minutes=21)
    assert list(slot_candidates(slot=slot, at=later).values_list("pk", flat=True)) == [entry.pk]


def test_the_caps_are_settings(caps, provider, commit):
    caps.OFFER_TEXTS_PER_DAY = 1  # the FCC healthcare exemption's limit
    (entry,) = waitlist(1)
    texted(entry, ago=dt.timedelta(minutes=5))
    slot = open_slot(provider)
    assert not slot_candidates(slot=slot).exists()
    caps.OFFER_TEXTS_PER_DAY = 2
    assert slot_candidates(slot=slot).exists()


def test_the_lock_refuses_an_offer_the_candidates_query_would_have_allowed(caps, provider):
    """The candidates were chosen before another slot's batch texted the patient: the
    offer is still refused once the patient's row is locked and their texts counted."""
    from offers import locks

    (entry,) = waitlist(1)
    texted(entry, ago=dt.timedelta(minutes=3))
    now = timezone.now()
    assert locks.lock_patient_within_caps(entry.patient_id, at=now)
    texted(entry, ago=dt.timedelta(minutes=1))
    assert not locks.lock_patient_within_caps(entry.patient_id, at=now)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_many_slots_opened_at_once_over_shared_patients_never_break_the_caps(settings, provider):
    """Twelve slots open at the same instant, each in its own connection, over six
    patients; then, round after round, everyone holding an offer says NO at once, which
    frees them for the other slots' batches, all at once. However the batches race, no
    patient gets more offer texts than the day's cap."""
    from clinic.tests.concurrency import run_together
    from messaging.services import inbound_handle

    settings.SMS_BACKEND = "console"
    settings.OFFER_TEXTS_PER_DAY = 3
    settings.OFFER_TEXTS_PER_WEEK = 5
    settings.OFFER_MIN_GAP_MINUTES = 0
    settings.OFFER_BATCH_SIZE = 3
    waitlist(6)
    starts = [slot_start(hour=8) + dt.timedelta(minutes=20 * i) for i in range(12)]
    run_together([lambda s=s: services.slot_open(provider=provider, start=s,
                                                 end=s + dt.timedelta(minutes=20))
                  for s in starts])
    sids = iter(range(100_000))
    for _ in range(30):
        holding = list(Offer.objects.filter(status__in=Offer.LIVE_STATUSES)
                       .select_related("patient"))
        if not holding:
            break
        run_together([lambda p=o.patient, sid=f"SM{next(sids):032d}": inbound_handle(
            from_number=p.phone, to_number="+13125550100", body="NO", sid=sid)
            for o in holding])

    per_patient = {}
    for patient_id in Offer.objects.exclude(status=S.FAILED).values_list("patient_id", flat=True):
        per_patient[patient_id] = per_patient.get(patient_id, 0) + 1
    assert len(per_patient) == 6
    assert max(per_patient.values()) == 3  # reached, never passed
    assert not Offer.objects.filter(status__in=Offer.LIVE_STATUSES).exists()
