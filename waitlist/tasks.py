"""Thin Celery tasks of the waitlist; the schedule is in settings (CELERY_BEAT_SCHEDULE)."""

from celery import shared_task
from django.db import OperationalError

from waitlist import checkins


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=1, max_retries=5)
def waitlist_check_in_sweep() -> dict:
    """Every WAITLIST_CHECK_IN_SWEEP_SECONDS: lapse unanswered check-ins, text the due."""
    return checkins.checkins_sweep()
