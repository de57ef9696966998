import datetime as dt

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from offers import services
from offers.models import Offer, Slot
from offers.tasks import offers_sweep
from offers.tests.conftest import live, open_slot, pass_hold, waitlist

pytestmark = pytest.mark.django_db


def test_the_expiry_task_does_nothing_before_the_hold_ends(provider, commit):
    # Tests run Celery eagerly, so each offer's countdown task already ran at commit.
    waitlist(3)
    with commit():
        slot = open_slot(provider)
    offers = live(slot)
    assert len(offers) == 3
    assert all(o.hold_until > timezone.now() for o in offers)
    assert services.offer_expire(offer_id=offers[0].pk) is False


def test_expiring_every_hold_sends_the_next_batch(provider, commit):
    entries = waitlist(5)
    with commit():
        slot = open_slot(provider)
    first = live(slot)
    pass_hold(first)
    with commit():
        assert [services.offer_expire(offer_id=o.pk) for o in first] == [True, True, True]
    assert set(Offer.objects.filter(pk__in=[o.pk for o in first])
               .values_list("status", flat=True)) == {"expired"}
    assert [o.entry_id for o in live(slot)] == [e.pk for e in entries[3:5]]
    # Expiring again changes nothing.
    assert services.offer_expire(offer_id=first[0].pk) is False


def test_the_sweep_expires_only_due_holds_and_is_idempotent(provider, commit):
    waitlist(3)
    with commit():
        slot = open_slot(provider)
    offers = live(slot)
    pass_hold(offers[:2])
    with commit():
        first = offers_sweep.delay().get()
    again = offers_sweep.delay().get()
    assert (first["expired"], first["batches"]) == (2, 0)
    assert (again["expired"], again["batches"]) == (0, 0)
    assert Offer.objects.get(pk=offers[2].pk).status == Offer.Status.SENT


def test_the_sweep_closes_a_slot_whose_start_came_too_close(provider, commit, settings):
    waitlist(3)
    with commit():
        slot = open_slot(provider)
    pass_hold(live(slot))
    Slot.objects.filter(pk=slot.pk).update(start=timezone.now() + dt.timedelta(minutes=5),
                                           end=timezone.now() + dt.timedelta(minutes=25))
    with commit():
        offers_sweep.delay().get()
    slot.refresh_from_db()
    assert slot.status == Slot.Status.UNFILLED


def test_the_migration_installs_one_30_second_sweep():
    tasks = PeriodicTask.objects.filter(task="offers.tasks.offers_sweep")
    assert tasks.count() == 1
    sweep = tasks.get()
    assert sweep.enabled
    assert (sweep.interval.every, sweep.interval.period) == (30, "seconds")


def test_installing_the_sweep_again_keeps_exactly_one():
    from clinic.lib.beat import beat_schedule_install

    beat_schedule_install()
    beat_schedule_install()
    assert PeriodicTask.objects.filter(task="offers.tasks.offers_sweep").count() == 1
