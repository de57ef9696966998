"""Reads about the SMS channel's health, for the portal's dashboard."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils import timezone

from messaging.models import Message
from messaging.services import PATIENT_ERRORS

RECENT = dt.timedelta(minutes=30)


@dataclass(frozen=True)
class SendTrouble:
    """Outbound messages that could not be sent lately, for reasons other than one
    patient's number (an opted-out or invalid number is not an outage)."""

    failed: int  # given up in the window
    retrying: int  # waiting for another try after a temporary error
    last_error: str
    last_error_at: dt.datetime | None

    @property
    def is_outage(self) -> bool:
        return bool(self.failed or self.retrying)


def send_trouble(*, window: dt.timedelta = RECENT) -> SendTrouble:
    since = timezone.now() - window
    is_failed = Q(status=Message.Status.FAILED) & ~Q(error_code__in=PATIENT_ERRORS)
    is_retrying = Q(status=Message.Status.QUEUED, attempts__gt=0)
    troubled = Message.objects.filter(
        Q(direction=Message.Direction.OUT, updated_at__gte=since) & (is_failed | is_retrying))
    counts = troubled.aggregate(failed=Count("pk", filter=is_failed),
                                retrying=Count("pk", filter=is_retrying))
    latest = None
    if counts["failed"] or counts["retrying"]:
        latest = (troubled.order_by("-updated_at")
                  .values("error_code", "error_message", "updated_at").first())
    last_error = ""
    if latest:
        last_error = " ".join(filter(None, [latest["error_code"], latest["error_message"]]))
    return SendTrouble(failed=counts["failed"], retrying=counts["retrying"],
                       last_error=last_error[:200],
                       last_error_at=latest["updated_at"] if latest else None)
