"""Thin Celery tasks: they take ids, call one service, and are safe to run twice.

acks_late (with the settings' reject-on-worker-lost) means a worker that dies mid-task
leaves the message to be delivered again; each service runs in one transaction, so a
half-done run left nothing behind and a repeated run finds the work done.
The beat schedule (the sweep every OFFER_SWEEP_SECONDS) is declared in settings
(CELERY_BEAT_SCHEDULE) with every other periodic job.
"""

import logging

from celery import shared_task
from django.db import OperationalError

from offers import services

log = logging.getLogger(__name__)

# A deadlock or a busy SQLite database is worth another try; anything else is a bug.
RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": 1, "max_retries": 5}


@shared_task(acks_late=True, **RETRY)
def offer_next_batch(slot_id: int) -> int:
    return len(services.slot_offer_next_batch(slot_id=slot_id))


@shared_task(acks_late=True, **RETRY)
def offers_for_freed_patients(patient_ids: list[int], everyone: bool = False,
                              reopen: bool = False) -> int:
    return services.slots_offer_for_patients(patient_ids=patient_ids, everyone=everyone,
                                             reopen=reopen)


@shared_task(acks_late=True, **RETRY)
def offer_expire_at_hold_end(offer_id: int) -> bool:
    return services.offer_expire(offer_id=offer_id)


@shared_task(acks_late=True, **RETRY)
def slot_phone_fill_announce(slot_id: int) -> int:
    return services.slot_phone_fill_announce(slot_id=slot_id)


@shared_task(acks_late=True)
def offers_sweep() -> dict:
    """Every OFFER_SWEEP_SECONDS: expire holds a countdown task missed, start holds
    whose hand-over was missed, give up offers whose text never left (so their slots do
    not stall), and resume slots waiting for a batch (after SMS hours reopen, or a lost
    task: this is also how a slot recorded while the broker was down starts offering
    once it is back)."""
    result = {
        "expired": services.offers_expire_due(),
        "holds_started": services.offers_start_missed_holds(),
        "unsent_failed": services.offers_give_up_unsent(),
        "batches": services.slots_resume(),
        "phone_fills_announced": services.slots_phone_fill_announce_due(),
    }
    if any(result.values()):
        log.info("offer sweep: %s", result)
    return result
