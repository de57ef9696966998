"""`manage.py beat_health`, the beat container's health check."""

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

pytestmark = pytest.mark.django_db


def sweep_ran(ago: dt.timedelta | None) -> None:
    last_run_at = None if ago is None else timezone.now() - ago
    updated = PeriodicTask.objects.filter(task="offers.tasks.offers_sweep").update(
        last_run_at=last_run_at)
    assert updated == 1  # installed by offers' migration


def test_beat_is_healthy_when_the_sweep_ran_recently(capsys):
    sweep_ran(dt.timedelta(minutes=3))
    call_command("beat_health")
    assert capsys.readouterr().out.startswith("ok: the offer sweep ran 180 s ago")


def test_beat_is_unhealthy_when_the_sweep_has_not_run_for_too_long():
    sweep_ran(dt.timedelta(minutes=11))
    with pytest.raises(CommandError, match="is beat running"):
        call_command("beat_health")


def test_beat_is_unhealthy_when_the_sweep_never_ran():
    sweep_ran(None)
    with pytest.raises(CommandError, match="never run"):
        call_command("beat_health")


def test_beat_is_unhealthy_when_the_sweep_is_disabled():
    PeriodicTask.objects.filter(task="offers.tasks.offers_sweep").update(enabled=False)
    with pytest.raises(CommandError, match="No enabled periodic task"):
        call_command("beat_health")
