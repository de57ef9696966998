"""The beat container's health check: exits non-zero when the offer sweep has not run
lately, i.e. when no beat is scheduling it (docs/operations.md, "exactly one beat")."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

SWEEP_TASK = "offers.tasks.offers_sweep"


class Command(BaseCommand):
    help = "Exit non-zero unless Celery beat ran the offer sweep within --max-age seconds."

    def add_arguments(self, parser):
        # Beat writes last_run_at to the database every 3 minutes (django-celery-beat's
        # sync interval), so anything under that would report a healthy beat as stale.
        parser.add_argument("--max-age", type=int, default=600,
                            help="seconds since the sweep last ran (default 600)")

    def handle(self, *args, max_age, **options):
        sweep = PeriodicTask.objects.filter(task=SWEEP_TASK, enabled=True).first()
        if sweep is None:
            raise CommandError(f"No enabled periodic task runs {SWEEP_TASK}: run migrate.")
        if sweep.last_run_at is None:
            raise CommandError("Celery beat has never run the offer sweep.")
        age = timezone.now() - sweep.last_run_at
        if age > dt.timedelta(seconds=max_age):
            raise CommandError(f"Celery beat last ran the offer sweep {int(age.total_seconds())} s "
                               f"ago (more than {max_age} s): is beat running?")
        self.stdout.write(f"ok: the offer sweep ran {int(age.total_seconds())} s ago")
