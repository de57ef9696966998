"""python manage.py purge_messages --older-than DAYS

Message bodies are the one place patient conversations live; the clinic keeps them only as
long as it needs to. This blanks the body of every message older than DAYS and stamps
body_purged_at, keeping the audit facts: direction, numbers, patient, subject, Twilio sid,
status and its history, and every timestamp. Run it daily (cron, or a periodic task).
"""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from messaging.models import Message

# Not yet settled with Twilio: their body may still be needed to send or to retry.
IN_FLIGHT = (Message.Status.QUEUED, Message.Status.SENDING)


def messages_purge(*, older_than_days: int, now: dt.datetime | None = None) -> int:
    """Blank old message bodies; returns how many were purged. Safe to run twice."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=older_than_days)
    with transaction.atomic():
        return (
            Message.objects.filter(created_at__lt=cutoff, body_purged_at__isnull=True)
            .exclude(status__in=IN_FLIGHT)
            .update(body="", body_purged_at=now)
        )


class Command(BaseCommand):
    help = "Blank the bodies of messages older than DAYS days, keeping who, when and status."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", dest="days", type=int, required=True,
                            metavar="DAYS", help="purge bodies of messages older than this")

    def handle(self, *args, days: int, **options):
        if days < 1:
            raise CommandError("--older-than must be at least 1 day.")
        purged = messages_purge(older_than_days=days)
        self.stdout.write(f"Purged the bodies of {purged} message(s) older than {days} days.")
