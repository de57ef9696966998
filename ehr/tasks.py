"""Thin Celery tasks of the EHR integration; the schedule is in settings
(CELERY_BEAT_SCHEDULE)."""

from celery import shared_task
from django.db import IntegrityError, OperationalError

from ehr import chain


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=1, max_retries=5)
def slot_chain_fill(slot_id: int) -> int | None:
    """A YES booked `slot_id`: free and offer the later appointment its patient held."""
    try:
        chained = chain.slot_chain_fill(slot_id=slot_id)
    except IntegrityError:
        # The EHR posted the same appointment's cancellation at this instant: the second
        # try finds that slot and links nothing twice.
        chained = chain.slot_chain_fill(slot_id=slot_id)
    return chained.pk if chained is not None else None


@shared_task(acks_late=True)
def chain_fills_sweep() -> int:
    """Every CHAIN_FILL_SWEEP_SECONDS: chain the bookings whose task was lost."""
    return chain.chain_fills_missed()
