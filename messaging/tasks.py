"""Celery tasks of the SMS channel: thin, they take ids and own their retries."""

import logging

from celery import shared_task

from messaging import services
from messaging.backends import TemporarySendError

logger = logging.getLogger(__name__)

MAX_SEND_RETRIES = 5
RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 15 * 60


def retry_countdown(retries: int) -> int:
    """Exponential backoff: 30 s, 60 s, 2 min, 4 min, 8 min, capped at 15 min."""
    return min(RETRY_BASE_SECONDS * 2**retries, RETRY_MAX_SECONDS)


@shared_task(bind=True, max_retries=MAX_SEND_RETRIES, acks_late=True)
def message_deliver(self, message_id: int) -> str:
    final_attempt = self.request.retries >= self.max_retries
    try:
        return services.message_deliver(message_id=message_id, final_attempt=final_attempt)
    except TemporarySendError as exc:
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc


@shared_task(acks_late=True)
def messages_housekeeping() -> dict:
    """Every MESSAGES_HOUSEKEEPING_SECONDS (settings.CELERY_BEAT_SCHEDULE): messages whose
    worker died mid-send fail (never resent; users of the channel hear it and move on),
    and messages whose delivery task was never queued (broker down) are queued again."""
    result = {"messages_stuck": services.messages_reconcile_stuck(),
              "messages_requeued": services.messages_requeue_lost()}
    if any(result.values()):
        logger.info("message housekeeping: %s", result)
    return result
