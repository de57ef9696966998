"""Waitlist hygiene: a patient whose entry has waited WAITLIST_CHECK_IN_DAYS (since it was
added, or since they last confirmed) is texted "still want an earlier appointment? Reply
YES to stay on the list, NO to leave." YES keeps the entry and restarts its clock; NO, or
no answer within WAITLIST_CHECK_IN_REPLY_HOURS, takes it off the list, audited on the
entry like any removal (entry_remove). Beat runs checkins_sweep
(waitlist.tasks.waitlist_check_in_sweep, CELERY_BEAT_SCHEDULE).

The text names the clinic only: no provider, visit type or reason (it may be read by
anyone holding the phone). It goes out only in texting hours (SMS_SEND_HOURS), never to a
patient who opted out or whose number is flagged, and one text asks about all of a
patient's entries that are due. Who answers a YES or NO when the patient also has an
offer is the offer engine's decision (offers/replies.py; docs/how-offers-work.md,
"Check-ins and offers").

Claims: the entries due are locked with SKIP LOCKED and checked again once locked (a
fresh read sees a check-in another run committed meanwhile), and the database allows one
open check-in per entry; the unanswered ones are claimed the same way. Two beat runs or
workers at once never text a patient twice nor remove an entry twice.
"""

import datetime as dt
import logging
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from clinic.audit import SYSTEM, acting_as, save_with_reason
from clinic.models import Patient
from messaging.services import message_send
from waitlist.models import CheckIn, WaitlistEntry
from waitlist.services import entry_remove

log = logging.getLogger(__name__)

CHECK_IN_KIND = "waitlist_check_in"
TEMPLATES = (CHECK_IN_KIND, "check_in_kept", "check_in_left")
KEPT_REASON = "Check-in: patient still wants an earlier appointment"
LEFT_REASON = "Check-in: patient replied NO"


def lapsed_reason() -> str:
    return f"Check-in: no answer within {settings.WAITLIST_CHECK_IN_REPLY_HOURS} h"


def texting_hours_open(at: dt.datetime) -> bool:
    """SMS_SEND_HOURS in the clinic's time, as the offer engine reads it without a slot."""
    start, end = settings.SMS_SEND_HOURS
    local = timezone.localtime(at).time()
    return start <= local and (end is None or local < end)


def waiting_since() -> Coalesce:
    """When an entry's check-in clock started: the patient's last YES to a check-in (or
    to an offer while one was open), else when the entry was added."""
    kept = (CheckIn.objects.filter(entry_id=OuterRef("pk"), status=CheckIn.Status.KEPT)
            .order_by("-answered_at").values("answered_at")[:1])
    return Coalesce(Subquery(kept), F("added_at"))


def entries_due_check_in(*, now: dt.datetime) -> QuerySet:
    """Active entries whose clock passed WAITLIST_CHECK_IN_DAYS, with no open check-in,
    of patients we may text."""
    cutoff = now - dt.timedelta(days=settings.WAITLIST_CHECK_IN_DAYS)
    open_check_in = CheckIn.objects.filter(entry_id=OuterRef("pk"),
                                           status=CheckIn.Status.ASKED)
    unreachable = Patient.objects.filter(
        Q(sms_opted_out_at__isnull=False) | Q(phone_invalid_at__isnull=False)
        | Q(phone_wrong_at__isnull=False)).values("pk")
    return (WaitlistEntry.objects.filter(status=WaitlistEntry.Status.ACTIVE, added_at__lte=cutoff)
            .annotate(clock=waiting_since()).filter(clock__lte=cutoff)
            .exclude(Exists(open_check_in)).exclude(patient_id__in=unreachable))


def checkins_send_due(*, now: dt.datetime | None = None, limit: int | None = None) -> int:
    """Text the patients whose entries are due a check-in; returns how many texts."""
    now = now or timezone.now()
    if not settings.WAITLIST_CHECK_IN_DAYS or not texting_hours_open(now):
        return 0
    limit = limit or settings.WAITLIST_CHECK_IN_BATCH
    with transaction.atomic():
        due = list(entries_due_check_in(now=now).select_related("patient")
                   .select_for_update(skip_locked=True, of=("self",))
                   .order_by("added_at", "pk")[:limit])
        # Locked now: a check-in another run committed after our query began is seen by
        # this fresh read, and its entries are left to it.
        taken = set(CheckIn.objects.filter(entry__in=due, status=CheckIn.Status.ASKED)
                    .values_list("entry_id", flat=True))
        by_patient: dict[Patient, list[WaitlistEntry]] = defaultdict(list)
        for entry in due:
            if entry.pk not in taken:
                by_patient[entry.patient].append(entry)
        answer_by = now + dt.timedelta(hours=settings.WAITLIST_CHECK_IN_REPLY_HOURS)
        texts = 0
        for patient, entries in by_patient.items():
            # Recorded before the text is sent (the message is queued after commit).
            check_ins = [CheckIn.objects.create(entry=entry, patient=patient, asked_at=now,
                                                answer_by=answer_by) for entry in entries]
            message = message_send(patient=patient, template=CHECK_IN_KIND,
                                   context={"first_name": patient.first_name},
                                   subject=check_ins[0])
            if message is None:  # opted out a moment ago: nothing was asked
                CheckIn.objects.filter(pk__in=[c.pk for c in check_ins]).update(
                    status=CheckIn.Status.CLOSED)
                continue
            CheckIn.objects.filter(pk__in=[c.pk for c in check_ins]).update(message=message)
            texts += 1
    if texts:
        log.info("waitlist check-ins: %d patients texted", texts)
    return texts


def checkins_lapse_due(*, now: dt.datetime | None = None,
                       limit: int | None = None) -> int:
    """Take off the list the entries whose check-in went unanswered past its answer_by;
    returns how many lapsed."""
    now = now or timezone.now()
    limit = limit or settings.WAITLIST_CHECK_IN_BATCH
    lapsed = 0
    with transaction.atomic(), acting_as(SYSTEM):
        due = list(CheckIn.objects.filter(status=CheckIn.Status.ASKED, answer_by__lte=now)
                   .select_for_update(skip_locked=True).order_by("answer_by", "pk")[:limit])
        for check_in in due:
            # SKIP LOCKED here too: a reply or staff changing this entry right now holds
            # it (and may want this check-in next); it lapses at the next run if still due.
            entry = (WaitlistEntry.objects.select_for_update(skip_locked=True)
                     .filter(pk=check_in.entry_id).first())
            if entry is None:
                continue
            if entry.status == WaitlistEntry.Status.ACTIVE:
                entry_remove(entry=entry, by=None, reason=lapsed_reason())
                check_in.status = CheckIn.Status.LAPSED
                lapsed += 1
            else:
                check_in.status = CheckIn.Status.CLOSED
            check_in.save(update_fields=["status"])
    if lapsed:
        log.info("waitlist check-ins: %d entries lapsed", lapsed)
    return lapsed


def checkins_sweep(*, now: dt.datetime | None = None) -> dict:
    """What beat runs: lapse the unanswered, then ask whoever is due."""
    return {"lapsed": checkins_lapse_due(now=now), "asked": checkins_send_due(now=now)}


def open_check_ins(*, patient_id: int) -> QuerySet:
    return CheckIn.objects.filter(patient_id=patient_id, status=CheckIn.Status.ASKED)


def latest_open_check_in_at(*, patient_id: int) -> dt.datetime | None:
    return (open_check_ins(patient_id=patient_id).order_by("-asked_at")
            .values_list("asked_at", flat=True).first())


@transaction.atomic
def checkins_answer(*, patient_id: int, stay: bool,
                    at: dt.datetime | None = None) -> list[CheckIn]:
    """The patient answered their open check-ins: stay (YES, or a reply to an offer) keeps
    every entry asked about and restarts its clock; leave (NO) takes them off the list.
    Returns the check-ins it settled (none was open: empty, e.g. a repeated reply)."""
    at = at or timezone.now()
    check_ins = list(open_check_ins(patient_id=patient_id).select_for_update()
                     .select_related("entry").order_by("pk"))
    for check_in in check_ins:
        entry = WaitlistEntry.objects.select_for_update().get(pk=check_in.entry_id)
        if entry.status != WaitlistEntry.Status.ACTIVE:
            check_in.status = CheckIn.Status.CLOSED
        elif stay:
            check_in.status = CheckIn.Status.KEPT
            # No field changes: the entry's history records the patient's confirmation.
            save_with_reason(entry, KEPT_REASON, update_fields=["updated_at"])
        else:
            entry_remove(entry=entry, by=None, reason=LEFT_REASON)
            check_in.status = CheckIn.Status.LEFT
        check_in.answered_at = at
        check_in.save(update_fields=["status", "answered_at"])
    return check_ins


def checkins_close(*, patient_id: int | None = None, message_id: int | None = None) -> int:
    """Close open check-ins without a decision: the patient opted out or is not at their
    number (patient_id), or the text never left (message_id). Asked again later."""
    open_ = CheckIn.objects.filter(status=CheckIn.Status.ASKED)
    if patient_id is not None:
        open_ = open_.filter(patient_id=patient_id)
    if message_id is not None:
        open_ = open_.filter(message_id=message_id)
    return open_.update(status=CheckIn.Status.CLOSED)


def entries_lapsed() -> QuerySet:
    """Entries taken off the list by an unanswered check-in, the latest first (staff call
    them, or put them back)."""
    last = CheckIn.objects.filter(entry_id=OuterRef("pk")).order_by("-asked_at", "-pk")
    return (WaitlistEntry.objects.filter(status=WaitlistEntry.Status.REMOVED)
            .annotate(last_check_in=Subquery(last.values("status")[:1]),
                      lapsed_at=Subquery(last.values("answer_by")[:1]))
            .filter(last_check_in=CheckIn.Status.LAPSED)
            .select_related("patient", "appointment_type").order_by("-lapsed_at", "-pk"))


# --- the SMS channel's hooks (connected in WaitlistConfig.ready) ------------------------

def may_send(*, message) -> bool:
    """A check-in text leaves (first try or retry) only in texting hours and while it
    still asks something."""
    if message.kind != CHECK_IN_KIND:
        return True
    return texting_hours_open(timezone.now()) and CheckIn.objects.filter(
        message_id=message.pk, status=CheckIn.Status.ASKED).exists()


def on_message_failed(sender, *, message, **kwargs) -> None:
    if message.kind == CHECK_IN_KIND:
        checkins_close(message_id=message.pk)


def on_patient_unreachable(sender, *, patient, **kwargs) -> None:
    """Opted out, or not at this number: nobody is taken off for not answering."""
    checkins_close(patient_id=patient.pk)
