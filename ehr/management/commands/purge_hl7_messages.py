"""python manage.py purge_hl7_messages --older-than DAYS

HL7 messages carry patients' names, birth dates and numbers. The log keeps them only as long
as the clinic needs them: this blanks the message text of every entry older than DAYS and
stamps raw_purged_at, keeping the audit facts (sender, control id, type, ACK, outcome,
repeats, when). "Applied once per control id" keeps working: it needs only those facts.
Run it daily, beside purge_messages.
"""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ehr.models import Hl7Message


def hl7_messages_purge(*, older_than_days: int, now: dt.datetime | None = None) -> int:
    """Blank old messages' text; returns how many. Safe to run twice."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=older_than_days)
    return (Hl7Message.objects.filter(received_at__lt=cutoff, raw_purged_at__isnull=True)
            .update(raw="", raw_purged_at=now))


class Command(BaseCommand):
    help = "Blank the text of HL7 messages older than DAYS days, keeping what happened to them."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", dest="days", type=int, required=True,
                            metavar="DAYS", help="purge messages older than this")

    def handle(self, *args, days: int, **options):
        if days < 1:
            raise CommandError("--older-than must be at least 1 day.")
        purged = hl7_messages_purge(older_than_days=days)
        self.stdout.write(f"Purged the text of {purged} HL7 message(s) older than {days} days.")
