"""Reads about the SMS channel: its health, for the portal's dashboard, and where given
messages stand, for the apps that send them (the offer engine asks "has this text left?")."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
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


def messages_in_flight(messages: QuerySet) -> QuerySet:
    """Those being handed to the SMS provider this moment: too late to withdraw, not yet
    out."""
    return messages.filter(status=Message.Status.SENDING)


def messages_handed_over(messages: QuerySet, *, by: dt.datetime | None = None) -> QuerySet:
    """Those the SMS provider has taken (by `by`, if given): they have left."""
    handed_over = messages.filter(sent_at__isnull=False)
    return handed_over if by is None else handed_over.filter(sent_at__lte=by)


def messages_leaving(messages: QuerySet) -> QuerySet:
    """Those being handed over or already handed over: they may reach the patient."""
    return messages.filter(Q(status=Message.Status.SENDING) | Q(sent_at__isnull=False))


def messages_reached_or_may(messages: QuerySet) -> QuerySet:
    """Those not withdrawn before they left (status other than suppressed)."""
    return messages.exclude(status=Message.Status.SUPPRESSED)
